"""Detector selection and the build layers that need no package manager."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway import errors
from slipway.builds import service
from slipway.builds.base import BuildContext, BuildResult
from slipway.builds.registry import DECLARED, FALLBACK, LANGUAGE, Registry, registry


def make(tmp_path: Path, files: dict[str, str]) -> BuildContext:
    source = tmp_path / "src"
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    source.mkdir(exist_ok=True)
    lines: list[str] = []
    ctx = BuildContext(source_dir=source, artifact_dir=tmp_path / "artifact", cache_dir=tmp_path / "cache",
                       log=lines.append, timeout=60)
    ctx.lines = lines  # type: ignore[attr-defined]
    return ctx


@pytest.mark.parametrize(
    ("files", "kind"),
    [
        ({"requirements.txt": ""}, "python"),
        ({"pyproject.toml": "[project]\nname='x'\n"}, "python"),
        ({"package.json": "{}"}, "node"),
        ({"requirements.txt": "", "package.json": "{}"}, "python"),
        ({"package.json": "{}", "index.html": ""}, "node"),
        ({"Procfile": "web: ./server"}, "procfile"),
        ({"slipway.toml": "[processes]\nweb = './server'\n"}, "procfile"),
        ({"Procfile": "web: ./server", "index.html": ""}, "procfile"),
        ({"Procfile": "release: ./migrate", "index.html": ""}, "static"),
        ({"index.html": ""}, "static"),
        ({"public/index.html": ""}, "static"),
        ({"dist/index.html": ""}, "static"),
        ({"README.md": ""}, None),
        ({"docs/index.html": ""}, None),
    ],
)
def test_selection(tmp_path: Path, files: dict[str, str], kind: str | None) -> None:
    ctx = make(tmp_path, files)
    detector = registry.select(ctx.source_dir)
    assert (detector.name if detector else None) == kind


def test_nothing_matched_message(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"README.md": "hi", "src/main.go": "package main"})
    with pytest.raises(errors.BuildError) as info:
        service.build(ctx)
    assert info.value.message == (
        "no app detected: looked for slipway.toml, Procfile, requirements.txt or pyproject.toml (Python), "
        "package.json (Node), index.html (static site)")


def test_static_site(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"public/index.html": "<h1>hi</h1>", "README.md": "", ".git/HEAD": "ref"})
    result = service.build(ctx)
    assert result.build_kind == "static"
    assert result.static_root == ctx.artifact_dir / "public"
    assert result.processes == {}
    assert (ctx.artifact_dir / "public" / "index.html").read_text() == "<h1>hi</h1>"
    assert not (ctx.artifact_dir / ".git").exists()
    assert result.to_config()["static_root"] == str(ctx.artifact_dir / "public")


def test_procfile_app_with_toml_layers(tmp_path: Path) -> None:
    ctx = make(tmp_path, {
        "Procfile": "web: ./serve\nworker: ./work\nrelease: ./migrate\n",
        "slipway.toml": "[processes]\nworker = './work --fast'\n[health]\npath = '/healthz'\n"
                        "[build]\ncommand = 'echo built > built.txt && echo from-build-command'\n",
    })
    result = service.build(ctx)
    assert result.build_kind == "procfile"
    assert result.processes == {"web": "./serve", "worker": "./work --fast"}
    assert result.release_command == "./migrate"
    assert result.health_path == "/healthz"
    assert (ctx.artifact_dir / "built.txt").read_text() == "built\n"
    assert "from-build-command" in ctx.lines  # type: ignore[attr-defined]


def test_toml_release_wins_over_procfile(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"Procfile": "web: ./serve\nrelease: a\n", "slipway.toml": "[release]\ncommand='b'\n"})
    assert service.build(ctx).release_command == "b"


def test_build_command_can_generate_a_static_site(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"slipway.toml": "[build]\ncommand = 'mkdir dist && echo hi > dist/index.html'\n"})
    result = service.build(ctx)
    assert result.build_kind == "static" and result.static_root == ctx.artifact_dir / "dist"


def test_build_command_failure_reports_tail(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"Procfile": "web: x", "slipway.toml": "[build]\ncommand = 'echo oops-42; exit 3'\n"})
    with pytest.raises(errors.BuildError) as info:
        service.build(ctx)
    assert "build command failed (exit status 3)" in info.value.message
    assert "\n" not in info.value.message  # one line: the output is the detail (the deploy's log tail)
    assert "oops-42" in info.value.detail["tail"]


def test_build_command_does_not_see_slipway_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPWAY_SECRET_KEY", "topsecret")
    ctx = make(tmp_path, {"Procfile": "web: x", "slipway.toml": "[build]\ncommand = 'env > env.txt'\n"})
    service.build(ctx)
    assert "topsecret" not in (ctx.artifact_dir / "env.txt").read_text()


def test_build_timeout(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"Procfile": "web: x", "slipway.toml": "[build]\ncommand = 'sleep 30'\n"})
    ctx.timeout = 0.5
    with pytest.raises(errors.BuildError, match="timed out"):
        service.build(ctx)


def test_invalid_procfile_fails_the_build(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"Procfile": "web: ok\nnonsense\n", "index.html": ""})
    with pytest.raises(errors.BuildError, match="Procfile line 2"):
        service.build(ctx)


def test_invalid_toml_fails_the_build(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"slipway.toml": "[processes]\nweb = \n", "index.html": ""})
    with pytest.raises(errors.BuildError, match="slipway.toml: invalid TOML at line 2"):
        service.build(ctx)


def test_artifact_dir_must_be_empty(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"index.html": ""})
    ctx.artifact_dir.mkdir()
    (ctx.artifact_dir / "leftover").write_text("")
    with pytest.raises(errors.BuildError, match="not empty"):
        service.build(ctx)


class FakeLanguage:
    """Stands in for a language detector (no installs) to test the web-process rule."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.describes = f"marker ({name})"

    def detect(self, source_dir: Path) -> bool:
        return (source_dir / "marker").exists()

    def build(self, ctx: BuildContext, result: BuildResult) -> None:
        result.env["FAKE"] = "1"


@pytest.mark.parametrize(("kind", "hint"), [("python", "web: gunicorn app:app"), ("node", '"start" script')])
def test_language_app_without_web_says_how_to_declare_one(tmp_path: Path, kind: str, hint: str) -> None:
    reg = Registry()
    reg.register(FakeLanguage(kind), tier=LANGUAGE)
    ctx = make(tmp_path, {"marker": "", "Procfile": "worker: ./w\n"})
    with pytest.raises(errors.BuildError) as info:
        service.build(ctx, detectors=reg)
    message = info.value.message
    assert "no web process declared" in message and hint in message and "[processes]" in message


def test_language_app_with_declared_web(tmp_path: Path) -> None:
    reg = Registry()
    reg.register(FakeLanguage("python"), tier=LANGUAGE)
    ctx = make(tmp_path, {"marker": "", "slipway.toml": "[processes]\nweb = 'gunicorn app:app'\n"})
    result = service.build(ctx, detectors=reg)
    assert result.processes == {"web": "gunicorn app:app"} and result.env == {"FAKE": "1"}


def test_registry_order_and_duplicates() -> None:
    reg = Registry()
    fallback, declared, language = FakeLanguage("c"), FakeLanguage("b"), FakeLanguage("a")
    reg.register(fallback, tier=FALLBACK)
    reg.register(declared, tier=DECLARED)
    reg.register(language, tier=LANGUAGE)
    assert [d.name for d in reg.detectors()] == ["a", "b", "c"]
    assert reg.looked_for() == "marker (b), marker (a), marker (c)"
    with pytest.raises(ValueError):
        reg.register(FakeLanguage("a"))
    reg.unregister("a")
    assert reg.get("b") is declared
