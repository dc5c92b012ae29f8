"""The tests/apps corpus: small repositories shaped like real ones, each with an expect.toml.

expect.toml (not part of the deployed repository):

    runtime = "local"            # or "docker"
    [env]                        # optional: the app's env vars, set before the first deploy
    DJANGO_SECRET_KEY = "…"
    [ok]                         # the app deploys and answers …
    path = "/"
    status = 200
    contains = "Hello from flask"   # a string, or a list of strings
    [failed]                     # … or the deploy fails with this one-line reason, soon enough
    reason_contains = "…"
    within_seconds = 10
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "apps"
EXPECT = "expect.toml"


@dataclass
class CorpusApp:
    name: str
    folder: Path
    runtime: str
    env: dict[str, str] = field(default_factory=dict)
    ok: dict[str, object] | None = None
    failed: dict[str, object] | None = None

    @property
    def contains(self) -> list[str]:
        wanted = (self.ok or {}).get("contains", [])
        return [wanted] if isinstance(wanted, str) else list(wanted)  # type: ignore[arg-type]

    def repository(self, dest: Path) -> Path:
        """The app's files (expect.toml left out) as a git repository with one commit on main."""
        shutil.copytree(self.folder, dest, ignore=shutil.ignore_patterns(EXPECT, "node_modules", "__pycache__"))
        for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                     ["-c", "user.name=corpus", "-c", "user.email=corpus@example.invalid", "commit", "-qm", "app"]):
            subprocess.run(["git", *args], cwd=dest, check=True, capture_output=True)
        return dest


def load(folder: Path) -> CorpusApp:
    data = tomllib.loads((folder / EXPECT).read_text())
    ok, failed = data.get("ok"), data.get("failed")
    if (ok is None) == (failed is None):
        raise ValueError(f"{folder / EXPECT}: exactly one of [ok] or [failed]")
    env = {str(k): str(v) for k, v in data.get("env", {}).items()}
    return CorpusApp(folder.name, folder, str(data.get("runtime", "local")), env, ok, failed)


def apps() -> list[CorpusApp]:
    return [load(p.parent) for p in sorted(ROOT.glob(f"*/{EXPECT}"))]
