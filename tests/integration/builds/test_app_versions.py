"""Real deploys of apps that ask for an interpreter version, Django apps, and lockfile tools.

Through the real pipeline and sandbox: an interpreter from a SLIPWAY_PYTHONS folder under a path the
sandbox hides (pyenv under /root) must still run the build and the app."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import APP_PY
from tests.integration.builds.test_language_builds import Builder
from tests.integration.conftest import Api

from slipway import errors
from slipway.builds import versions
from slipway.builds.python import base_python
from slipway.config import Settings
from slipway.platform import Platform

pytestmark = pytest.mark.integration

VERSION_APP = APP_PY.replace('"version": VERSION',
                             '"version": VERSION, "python": "%d.%d.%d" % __import__("sys").version_info[:3]')


def other_python() -> str | None:
    """The bin/ folder of an installed CPython of another release line than the default, if any."""
    default = versions.probe(base_python(), "Python")
    assert default is not None
    for exe in sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python3.*") + glob.glob("/opt/python*/bin/python3.*")):
        if not versions._PATH_PYTHON_RE.match(os.path.basename(exe)):
            continue
        found = versions.probe(exe, "Python")
        if found is not None and found.short != default.short and found.version >= (3, 9, 0):
            return os.path.dirname(exe)
    return None


def web_answer(api: Api, app: str) -> dict[str, str]:
    from tests.integration.test_deploy_pipeline import serve

    return serve(api, app)


@pytest.fixture
def extra_python(settings: Settings) -> str:
    folder = other_python()
    if folder is None:
        pytest.skip("no CPython of another release line is installed (e.g. pyenv install 3.12)")
    settings.pythons = folder
    return folder


def test_an_app_gets_the_python_it_asks_for_from_a_hidden_folder(extra_python: str, api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    candidates = [versions.probe(os.path.join(extra_python, n), "Python") for n in os.listdir(extra_python)
                  if versions._PATH_PYTHON_RE.match(n)]
    wanted = next(c for c in candidates if c is not None)
    repo = make_repo(files={"app.py": VERSION_APP, "version.txt": "1\n", "requirements.txt": "",
                            ".python-version": f"{wanted.short}\n", "Procfile": "Web: python app.py\n"})
    api.call("POST", "/apps", 201, json={"name": "pinned", "git_url": repo.url})
    deploy = api.deploy("pinned")
    log = api.log("pinned", deploy["id"])
    assert deploy["status"] == "succeeded", log
    # it ran inside the sandbox, where the interpreter's folder is bound back read-only
    assert web_answer(api, "pinned")["python"] == wanted.full
    assert f"python: {wanted.full} ({wanted.executable}) — asked {wanted.short} by .python-version" in log
    assert "process type 'Web' is read as 'web'" in log


def test_a_python_the_server_lacks_fails_at_once_with_the_fix(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files={"app.py": APP_PY, "version.txt": "1\n", "requirements.txt": "flask\n",
                            "runtime.txt": "python-3.99.1\n", "Procfile": "web: python app.py\n"})
    api.call("POST", "/apps", 201, json={"name": "future", "git_url": repo.url})
    deploy = api.deploy("future")
    has = ", ".join(sorted({i.short for i in versions.pythons([], default=base_python())},
                           key=lambda s: tuple(map(int, s.split(".")))))
    assert deploy["status"] == "failed"
    assert deploy["reason"].startswith(
        f"app asks for Python 3.99.1 (runtime.txt); this server has {has} — install it, add its folder to "
        "SLIPWAY_PYTHONS, or change runtime.txt")
    assert "pip install" not in api.log("future", deploy["id"])  # nothing was installed first


DJANGO_SETTINGS = '''\
import os
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.staticfiles"]
ROOT_URLCONF = "site_urls"
DATABASES = {}
STATIC_URL = "static/"
STATICFILES_DIRS = ["static"]
'''
DJANGO_FILES = {
    "requirements.txt": "Django>=5.1,<5.3\n",
    "manage.py": "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site_settings')\n"
                 "from django.core.management import execute_from_command_line\nexecute_from_command_line(sys.argv)\n",
    "site_settings.py": DJANGO_SETTINGS,  # no STATIC_ROOT: collectstatic refuses to run
    "site_urls.py": "urlpatterns = []\n",
    "static/site.css": "body { margin: 0 }\n",
    "app.py": APP_PY, "version.txt": "1\n",
    "Procfile": "web: python app.py\n",
}


def test_collectstatic_runs_with_the_app_env_and_its_failure_is_one_line(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files=DJANGO_FILES)
    api.call("POST", "/apps", 201, json={"name": "dj", "git_url": repo.url})
    api.call("PATCH", "/apps/dj/env", 200, json={"set": {"DJANGO_SECRET_KEY": "s3cret-value-for-the-build"},
                                                  "deploy": False})
    failed = api.deploy("dj")
    assert failed["status"] == "failed"
    reason = failed["reason"].splitlines()[0]
    # settings.py read DJANGO_SECRET_KEY from the app's env: the failure is the missing STATIC_ROOT
    assert reason.startswith("manage.py collectstatic failed: ImproperlyConfigured: ")
    assert "STATIC_ROOT" in reason and reason.endswith("set DISABLE_COLLECTSTATIC=1 to skip it")
    assert len(reason) <= 200
    log = api.log("dj", failed["id"])
    assert "running python manage.py collectstatic --noinput" in log
    assert "s3cret-value-for-the-build" not in log

    repo.commit({"site_settings.py": DJANGO_SETTINGS + "STATIC_ROOT = 'staticfiles'\n"}, "static root")
    fixed = api.deploy("dj")
    assert fixed["status"] == "succeeded", api.log("dj", fixed["id"])
    assert "1 static file copied" in api.log("dj", fixed["id"])

    repo.commit({"site_settings.py": DJANGO_SETTINGS}, "no static root again")
    api.call("PATCH", "/apps/dj/env", 200, json={"set": {"DISABLE_COLLECTSTATIC": "1"}, "deploy": False})
    skipped = api.deploy("dj")
    assert skipped["status"] == "succeeded", api.log("dj", skipped["id"])
    assert "DISABLE_COLLECTSTATIC is set: manage.py collectstatic skipped" in api.log("dj", skipped["id"])


# ---- lockfile tools -----------------------------------------------------------------------------

needs_node = pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                                reason="node and npm are not installed")
PACKAGE = {"name": "demo", "version": "1.0.0", "scripts": {"start": "node server.js"}}


def only_node_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> Path:
    """A PATH with node (and `extra` tools) and nothing else of Node's: no yarn, pnpm or corepack."""
    folder = tmp_path / "nodebin"
    folder.mkdir()
    for name in ("node", *extra):
        (folder / name).symlink_to(os.path.realpath(shutil.which(name) or name))
    monkeypatch.setenv("PATH", str(folder))  # /usr/bin holds corepack: left out
    return folder


@needs_node
def test_a_lockfile_tool_the_server_lacks_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    only_node_on_path(tmp_path, monkeypatch)
    builder = Builder(tmp_path)
    with pytest.raises(errors.BuildError) as info:
        builder.build({"package.json": json.dumps(PACKAGE), "yarn.lock": "# yarn lockfile v1\n"})
    assert info.value.message == (
        "yarn.lock asks for yarn, which this server lacks: install it (npm install --global yarn) or enable "
        "corepack (corepack enable), or commit a package-lock.json instead")


@needs_node
def test_pnpm_lockfile_installs_with_pnpm_and_runs_the_build_script(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "tools"
    done = subprocess.run(["npm", "install", "--prefix", str(tools), "--no-audit", "--no-fund", "pnpm@9"],
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        pytest.skip(f"pnpm could not be installed from the npm registry: {done.stderr[-300:]}")
    pnpm = tools / "node_modules" / ".bin"
    monkeypatch.setenv("PATH", f"{pnpm}:{os.environ['PATH']}")
    build = "node -e \"require('fs').writeFileSync('built.txt', 'ok')\""
    package = {**PACKAGE, "dependencies": {}, "scripts": {"start": "node server.js", "build": build}}
    source = tmp_path / "lock"
    source.mkdir()
    (source / "package.json").write_text(json.dumps(package))
    subprocess.run([str(pnpm / "pnpm"), "install", "--lockfile-only"], cwd=source, check=True, capture_output=True,
                   timeout=120)
    builder = Builder(tmp_path)
    result = builder.build({"package.json": json.dumps(package),
                            "pnpm-lock.yaml": (source / "pnpm-lock.yaml").read_text(),
                            "server.js": "// unused\n"})
    assert any(line.startswith("installing Node dependencies: pnpm install --frozen-lockfile")
               for line in builder.lines)
    assert any("running the build script: pnpm run build" in line for line in builder.lines)
    assert (result.artifact_dir / "built.txt").read_text() == "ok"


def test_platform_binds_configured_interpreter_folders(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "pys" / "bin"
    folder.mkdir(parents=True)
    (folder / "python3.11").symlink_to(os.path.realpath(sys.executable))
    settings.pythons = str(folder)
    from slipway.platform import build_platform

    plat: Platform = build_platform(settings)
    try:
        assert plat.sandbox is not None and str(folder) in plat.sandbox.tool_roots
        if plat.sandbox.isolation.isolated:
            argv = plat.sandbox.wrap(["true"], app="x", cwd="/")
            assert ["--ro-bind", str(folder), str(folder)] == argv[argv.index(str(folder)) - 1:][:3]
    finally:
        plat.close()
