"""The detector registry: detectors register with a tier; the first match in tier order wins.

Tiers:
- LANGUAGE: the source says which language it is (Python, Node): dependencies get installed.
- DECLARED: no language matched, but the app declares its processes (Procfile / slipway.toml).
- FALLBACK: nothing else matched and nothing is declared (a static site).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from slipway.builds.base import Detector

LANGUAGE, DECLARED, FALLBACK = 0, 1, 2


@dataclass
class Registry:
    _entries: list[tuple[int, int, Detector]] = field(default_factory=list)

    def register(self, detector: Detector, *, tier: int = LANGUAGE) -> Detector:
        if any(d.name == detector.name for _, _, d in self._entries):
            raise ValueError(f"a detector named {detector.name!r} is already registered")
        self._entries.append((tier, len(self._entries), detector))
        self._entries.sort(key=lambda e: (e[0], e[1]))
        return detector

    def unregister(self, name: str) -> None:
        self._entries = [e for e in self._entries if e[2].name != name]

    def detectors(self) -> list[Detector]:
        return [d for _, _, d in self._entries]

    def get(self, name: str) -> Detector:
        for _, _, d in self._entries:
            if d.name == name:
                return d
        raise KeyError(name)

    def select(self, source_dir: Path) -> Detector | None:
        for _, _, detector in self._entries:
            if detector.detect(source_dir):
                return detector
        return None

    def looked_for(self) -> str:
        """What the detectors look for, declarations first (they are what a user most often forgets)."""
        ordered = sorted(self._entries, key=lambda e: (e[0] != DECLARED, e[0], e[1]))
        return ", ".join(d.describes for _, _, d in ordered)


def default_registry() -> Registry:
    from slipway.builds.node import NodeDetector
    from slipway.builds.python import PythonDetector
    from slipway.builds.simple import ProcfileDetector, StaticDetector

    reg = Registry()
    reg.register(PythonDetector(), tier=LANGUAGE)
    reg.register(NodeDetector(), tier=LANGUAGE)
    reg.register(ProcfileDetector(), tier=DECLARED)
    reg.register(StaticDetector(), tier=FALLBACK)
    return reg


registry = default_registry()
