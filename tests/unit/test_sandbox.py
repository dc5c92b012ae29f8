"""The sandbox's decisions without running apps: detection and the command line it builds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from slipway import sandbox
from slipway.sandbox import AppUser, Isolation, Sandbox, build_argv, detect, user_name

HOME = "/srv/slipway"
RELEASE = f"{HOME}/artifacts/web/build-7"


def argv_for(user: AppUser | None, *, namespaces: bool = False, die: bool = True) -> list[str]:
    return build_argv(["/bin/sh", "-c", "exec app"], bwrap="/usr/bin/bwrap", setpriv="/usr/bin/setpriv",
                      home=Path(HOME), cwd=RELEASE, hidden=["/tmp", "/run", "/root", "/var/run"],
                      ro=["/"], rw=["/tmp"], user=user, user_namespace=namespaces, die_with_parent=die)


def pairs(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_users_mode_runs_the_command_as_the_apps_user_without_privileges() -> None:
    argv = argv_for(AppUser("slw-x", 991, 987))
    sep = argv.index("--")
    bwrap, rest = argv[:sep], argv[sep + 1:]
    assert bwrap[0] == "/usr/bin/bwrap"
    for flag in ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"):
        assert flag in bwrap
    assert "--unshare-user" not in bwrap  # root: real per-app users instead
    assert rest[:8] == ["/usr/bin/setpriv", "--reuid=991", "--regid=987", "--clear-groups", "--inh-caps=-all",
                        "--bounding-set=-all", "--no-new-privs", "--"]
    assert rest[8:] == ["/bin/sh", "-c", "exec app"]


def test_namespaces_mode_has_no_setpriv_and_its_own_user_namespace() -> None:
    argv = argv_for(None, namespaces=True, die=False)
    assert "--unshare-user" in argv and "--die-with-parent" not in argv
    assert "/usr/bin/setpriv" not in argv
    assert argv[argv.index("--") + 1:] == ["/bin/sh", "-c", "exec app"]


def test_the_home_and_socket_dirs_are_covered_and_proc_is_fresh(tmp_path: Path) -> None:
    argv = argv_for(None)
    tmpfs = pairs(argv, "--tmpfs")
    assert HOME in tmpfs and "/tmp" in tmpfs and "/run" in tmpfs and "/dev/shm" in tmpfs
    assert "/var/run" not in tmpfs  # a symlink to /run here: covered through /run
    assert pairs(argv, "--proc") == ["/proc"] and pairs(argv, "--dev") == ["/dev"]
    assert argv[argv.index("--ro-bind") + 1:argv.index("--ro-bind") + 3] == ["/", "/"]  # the host, read-only
    # read-only host first, then the tmpfs covers, then the app's own paths on top
    assert argv.index("--tmpfs") > argv.index("--ro-bind")


def test_own_paths_are_bound_after_the_cover_with_reachable_parents(tmp_path: Path) -> None:
    home = tmp_path / "home"
    release = home / "artifacts" / "web" / "build-1"
    app_home = home / "homes" / "web"
    for path in (release, app_home):
        path.mkdir(parents=True)
    argv = build_argv(["true"], bwrap="bwrap", setpriv="setpriv", home=home, cwd=str(release),
                      hidden=[str(tmp_path.parent)], ro=[str(release), str(home / "missing")],
                      rw=[str(app_home)], user=None, user_namespace=False, die_with_parent=True)
    tmpfs = pairs(argv, "--tmpfs")
    assert tmpfs.index(str(tmp_path.parent)) < tmpfs.index(str(home))  # parents first
    ro = argv.index("--ro-bind", argv.index("--ro-bind") + 1)
    assert argv[ro + 1:ro + 3] == [str(release), str(release)]
    assert ro > argv.index(str(home))
    assert pairs(argv, "--bind") == [str(app_home)]
    assert str(home / "missing") not in argv  # what does not exist is not bound
    # the parents between the cover and the bound dir are made 0755 (the host's are 0700)
    made = pairs(argv, "--dir")
    assert str(home / "artifacts") in made and str(home / "artifacts" / "web") in made
    assert str(tmp_path) in made


def test_unisolated_leaves_the_command_alone(tmp_path: Path) -> None:
    box = Sandbox(Isolation("unisolated", "test"), tmp_path)
    assert box.wrap(["python", "app.py"], app="web", cwd=tmp_path) == ["python", "app.py"]
    assert box.user("web") is None


def test_user_names_are_short_stable_and_per_install() -> None:
    a = user_name(Path("/srv/a"), "web")
    assert a == user_name(Path("/srv/a"), "web")
    assert a != user_name(Path("/srv/b"), "web") and a != user_name(Path("/srv/a"), "api")
    assert a.startswith("slw-") and len(a) <= 32


def test_off_is_unisolated_and_says_why() -> None:
    iso = detect("off")
    assert (iso.mode, iso.isolated) == ("unisolated", False) and "SLIPWAY_SANDBOX=off" in iso.reason


def test_no_bubblewrap_is_unisolated(monkeypatch: pytest.MonkeyPatch) -> None:
    detect.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    try:
        iso = detect("auto")
    finally:
        detect.cache_clear()
    assert iso.mode == "unisolated" and "bubblewrap" in iso.reason


def test_namespaces_refused_by_the_kernel_is_unisolated(monkeypatch: pytest.MonkeyPatch) -> None:
    detect.cache_clear()
    monkeypatch.setattr(sandbox, "_probe", lambda bwrap, extra: "bwrap: No permissions to create new namespace")
    try:
        iso = detect("auto")
    finally:
        detect.cache_clear()
    assert iso.mode == "unisolated" and "No permissions" in iso.reason


@pytest.mark.skipif(not sandbox.shutil.which("bwrap"), reason="bubblewrap is not installed")
def test_this_host_is_detected_for_real() -> None:
    detect.cache_clear()
    iso = detect("auto")
    assert iso.mode == ("users" if os.geteuid() == 0 else "namespaces"), iso.reason
    assert detect("namespaces").mode == "namespaces"


def test_interpreter_folders_are_bound_back_only_when_hidden_and_never_over_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    hidden_install = tmp_path / "pyenv" / "versions" / "3.12.1"  # under the tmp dir the sandbox hides
    for path in (home, hidden_install):
        path.mkdir(parents=True)
    box = Sandbox(Isolation("namespaces", "test"), home, hidden=(str(tmp_path),),
                  tool_roots=(str(hidden_install), "/usr/lib", str(home / "tools"), str(tmp_path)))
    # a root inside the home would show the app the control plane's files; one around it, the home itself
    assert box.tool_roots == (str(hidden_install), "/usr/lib")
    argv = box.wrap(["python3.12", "app.py"], app="web", cwd=tmp_path)
    assert str(hidden_install) in pairs(argv, "--ro-bind")  # hidden: bound back, read-only
    assert "/usr/lib" not in pairs(argv, "--ro-bind")  # visible anyway: nothing to bind
    assert str(hidden_install) not in pairs(argv, "--bind")
