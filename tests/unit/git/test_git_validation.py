"""URL and branch validation: what is accepted, what is refused and why (injection attempts included)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from slipway import errors
from slipway.git import service as git

GOOD_URLS = [
    "https://github.com/acme/app.git",
    "http://git.example.com:8080/acme/app",
    "https://user:token@github.com/acme/app.git",
    "ssh://git@github.com/acme/app.git",
    "ssh://git@example.com:2222/srv/app.git",
    "git://example.com/app.git",
    "file:///srv/git/app.git",
    "file://localhost/srv/git/app.git",
    "git@github.com:acme/app.git",
    "deploy@10.0.0.5:repos/app.git",
    "example.com:app.git",
    "/srv/git/app.git",
    "/home/me/app",
]


@pytest.mark.parametrize("url", GOOD_URLS)
def test_accepts_and_returns_url_unchanged(url: str) -> None:
    assert git.validate_url(url) == url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "empty"),
        ("--upload-pack=touch /tmp/x", "must not start with '-'"),
        ("-oProxyCommand=id", "must not start with '-'"),
        ("ext::sh -c touch% /tmp/pwned", "whitespace"),
        ("ext::sh", "remote helper transport 'ext::'"),
        ("fd::17", "remote helper transport 'fd::'"),
        ("transport::https://example.com/x", "remote helper transport"),
        ("https://example.com/a b", "whitespace"),
        ("https://example.com/a\nb", "whitespace"),
        ("https://example.com/a\x00b", "control characters"),
        ("https://example.com/a\x1bb", "control characters"),
        ("https://example.com/a\u200bb", "control characters"),
        ("ftp://example.com/app.git", "scheme 'ftp://' is not supported"),
        ("javascript://x/y", "not supported"),
        ("ssh://-oProxyCommand=touch%20x/app", "must not start with '-'"),
        ("ssh://git@-oProxyCommand=x/app", "must not start with '-'"),
        ("https://", "no host"),
        ("https://example.com", "no repository path"),
        ("https://example.com:99999/x", "invalid port"),
        ("file://otherhost/srv/app", "local absolute path"),
        ("relative/path/app", "relative path"),
        ("app.git", "relative path"),
        ("./app", "relative path"),
        ("git@-oProxyCommand=x:app", "invalid host"),
        ("git@host:-upload-pack=x", "invalid repository path"),
        ("git@host:", "invalid repository path"),
    ],
)
def test_rejects_with_precise_message(url: str, fragment: str) -> None:
    with pytest.raises(errors.Invalid) as info:
        git.validate_url(url)
    assert fragment in info.value.message


GOOD_BRANCHES = ["main", "feature/x", "release-1.2", "fix_#12", "a.b", "user/name/topic", "ünïcode", "v1@2"]
BAD_BRANCHES = [
    "", "-f", "--upload-pack=touch /tmp/x", "@", "HEAD", "a..b", "a b", "a\tb", "a\nb", "a~1", "a^", "a:b",
    "a?", "a*", "a[x", "a\\b", "/a", "a/", "a//b", "a.", ".a", "a/.b", "a.lock", "a/b.lock/c", "a@{1}",
    "a\x7f", "a\x01",
]


@pytest.mark.parametrize("name", GOOD_BRANCHES)
def test_valid_branch(name: str) -> None:
    assert git.validate_branch(name) == name


@pytest.mark.parametrize("name", BAD_BRANCHES)
def test_invalid_branch(name: str) -> None:
    with pytest.raises(errors.Invalid):
        git.validate_branch(name)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("name", [n for n in GOOD_BRANCHES + BAD_BRANCHES if n and "\x00" not in n])
def test_agrees_with_git_check_ref_format(name: str) -> None:
    """Our rules are at least as strict as `git check-ref-format --branch`."""
    completed = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True,
                               check=False)
    ours = True
    try:
        git.validate_branch(name)
    except errors.Invalid:
        ours = False
    if ours:
        assert completed.returncode == 0, f"we accept {name!r} but git refuses it"
    if completed.returncode != 0:
        assert not ours


def test_branch_error_message_names_the_rule() -> None:
    with pytest.raises(errors.Invalid, match="must not start with '-'"):
        git.validate_branch("--upload-pack=touch /tmp/x")


@pytest.mark.parametrize("commit", ["", "abc123", "g" * 40, "A" * 40, "--upload-pack=x", "a" * 41])
def test_fetch_rejects_bad_commit_before_running_git(commit: str, tmp_path) -> None:
    with pytest.raises(errors.Invalid):
        git.fetch(url=str(tmp_path), commit=commit, dest=tmp_path / "d", log=lambda _: None)
    assert not (tmp_path / "d").exists()


def test_operations_validate_before_running_git(tmp_path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(errors.Invalid):
        git.resolve_commit(url=f"--upload-pack=touch {marker}", branch="main")
    with pytest.raises(errors.Invalid):
        git.resolve_commit(url="ext::sh -c touch% " + str(marker), branch="main")
    with pytest.raises(errors.Invalid):
        git.resolve_commit(url=str(tmp_path), branch=f"--upload-pack=touch {marker}")
    assert not marker.exists()


def test_redact_hides_credentials() -> None:
    assert git.redact("https://user:s3cret@example.com/x.git") == "https://user:***@example.com/x.git"
    assert git.redact("https://tok3n@example.com/x.git") == "https://***@example.com/x.git"
    assert git.redact("git@github.com:acme/app.git") == "git@github.com:acme/app.git"
    assert git.redact("/srv/app") == "/srv/app"


def test_git_env_is_locked_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/somewhere/else")
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.sshCommand'='touch /tmp/x'")
    env = git.git_env()
    assert "GIT_DIR" not in env and "GIT_CONFIG_PARAMETERS" not in env
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null"
    assert env["GIT_ASKPASS"]


# a bracketed "host" that is an ssh option: urlsplit used to raise ValueError on it (an HTTP 500)
OPTION_URLS = [
    "ssh://git@[-oProxyCommand=touch]/x",
    "ssh://[-oProxyCommand=touch]/x",
    "ssh://git@[-oProxyCommand=sh]:22/x",
    "git://[-oProxyCommand=x]/x",
    "ssh://git@[::1]:99999/x",
    "ssh://%2DoProxyCommand=touch/x",
    "ssh://git@%2doProxyCommand=touch/x",
    "https://example.com:-1/x",
]


@pytest.mark.parametrize("url", OPTION_URLS)
def test_option_hosts_are_invalid_not_errors(url: str) -> None:
    with pytest.raises(errors.Invalid):
        git.validate_url(url)


def test_transports_are_an_allow_list(tmp_path) -> None:
    """Even a URL that got past validation cannot use a transport outside the list (fd:: is allowed by
    git's own defaults, ext:: runs a command)."""
    marker = tmp_path / "pwned"
    for url in ("fd::0", f"ext::sh -c touch% {marker}"):
        result = git._git(["ls-remote", "--", url], timeout=20)
        assert not result.ok
        assert any("not allowed" in line for line in result.tail), result.tail
    assert not marker.exists()
