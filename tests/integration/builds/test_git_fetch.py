"""Real git repositories in tmp_path: resolve a branch head, fetch an exact older commit."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from slipway import errors
from slipway.git import service as git

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "PATH": "/usr/local/bin:/usr/bin:/bin",
}


def sh(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True,
                          text=True).stdout.strip()


@dataclass
class Repo:
    work: Path  # non-bare repository
    bare: Path  # bare clone of it
    commits: list[str]  # oldest first, on main
    feature_head: str


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    work = tmp_path / "origin"
    work.mkdir()
    sh("init", "-q", "-b", "main", ".", cwd=work)
    commits = []
    for i in range(3):
        (work / "app.txt").write_text(f"version {i}\n")
        sh("add", "app.txt", cwd=work)
        sh("commit", "-q", "-m", f"v{i}", cwd=work)
        commits.append(sh("rev-parse", "HEAD", cwd=work))
    sh("checkout", "-q", "-b", "feature/x", cwd=work)
    (work / "feature.txt").write_text("f\n")
    sh("add", "feature.txt", cwd=work)
    sh("commit", "-q", "-m", "feature", cwd=work)
    feature_head = sh("rev-parse", "HEAD", cwd=work)
    sh("checkout", "-q", "main", cwd=work)
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], env=GIT_ENV, check=True)
    return Repo(work, bare, commits, feature_head)


def urls(repo: Repo) -> list[str]:
    return [str(repo.work), f"file://{repo.work}", str(repo.bare), f"file://{repo.bare}"]


def test_resolve_commit(repo: Repo) -> None:
    for url in urls(repo):
        assert git.resolve_commit(url=url, branch="main") == repo.commits[-1]
        assert git.resolve_commit(url=url, branch="feature/x") == repo.feature_head


def test_resolve_unknown_branch(repo: Repo) -> None:
    with pytest.raises(errors.GitError) as info:
        git.resolve_commit(url=str(repo.bare), branch="nope")
    assert info.value.message == f"branch 'nope' not found in {repo.bare}"


def test_resolve_does_not_match_a_suffix(repo: Repo) -> None:
    """ls-remote patterns match ref tails; we only accept refs/heads/<branch> exactly."""
    with pytest.raises(errors.GitError, match="not found"):
        git.resolve_commit(url=str(repo.bare), branch="x")


def test_resolve_unreachable(tmp_path: Path) -> None:
    missing = tmp_path / "missing.git"
    with pytest.raises(errors.GitError) as info:
        git.resolve_commit(url=str(missing), branch="main")
    message = info.value.message
    assert message.startswith(f"cannot reach {missing}: ")
    assert "does not appear to be a git repository" in message


def test_resolve_unreachable_host() -> None:
    with pytest.raises(errors.GitError, match=r"^cannot reach http://127\.0\.0\.1:9/x\.git: "):
        git.resolve_commit(url="http://127.0.0.1:9/x.git", branch="main", timeout=20)


@pytest.mark.parametrize("which", range(4), ids=["path", "file-url", "bare-path", "bare-file-url"])
def test_fetch_exact_older_commit(repo: Repo, tmp_path: Path, which: int) -> None:
    url = urls(repo)[which]
    older = repo.commits[0]
    dest = tmp_path / "checkout"
    lines: list[str] = []
    git.fetch(url=url, commit=older, dest=dest, log=lines.append)
    assert (dest / "app.txt").read_text() == "version 0\n"
    assert sh("rev-parse", "HEAD", cwd=dest) == older
    assert sh("rev-parse", "--is-shallow-repository", cwd=dest) == "true"
    assert any("fetching commit" in line for line in lines)
    assert any("checking out" in line for line in lines)


def test_fetch_falls_back_when_server_refuses_unadvertised_commit(
        repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # protocol v0 refuses a want for a commit that is not a ref tip: exercise the fallback path
    monkeypatch.setattr(git, "_DIRECT_FETCH_CONFIG", ["-c", "protocol.version=0"])
    dest = tmp_path / "checkout"
    lines: list[str] = []
    git.fetch(url=f"file://{repo.bare}", commit=repo.commits[1], dest=dest, log=lines.append)
    assert (dest / "app.txt").read_text() == "version 1\n"
    assert any("fetching branch heads" in line for line in lines)


def test_fetch_unknown_commit(repo: Repo, tmp_path: Path) -> None:
    with pytest.raises(errors.GitError, match="cannot fetch commit 0{40}"):
        git.fetch(url=str(repo.bare), commit="0" * 40, dest=tmp_path / "d", log=lambda _: None)


def test_fetch_unreachable(tmp_path: Path) -> None:
    with pytest.raises(errors.GitError, match="cannot"):
        git.fetch(url=str(tmp_path / "missing"), commit="a" * 40, dest=tmp_path / "d", log=lambda _: None)


def test_fetch_into_non_empty_dir_refused(repo: Repo, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "x").write_text("")
    with pytest.raises(errors.GitError, match="not empty"):
        git.fetch(url=str(repo.bare), commit=repo.commits[0], dest=dest, log=lambda _: None)


def test_ignores_hostile_git_environment(repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "pwned"
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.fsmonitor")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", f"touch {marker}; false")
    dest = tmp_path / "d"
    git.fetch(url=str(repo.bare), commit=repo.commits[2], dest=dest, log=lambda _: None)
    assert (dest / "app.txt").read_text() == "version 2\n"
    assert not marker.exists()


def test_fetch_through_a_pull_request_ref(repo: Repo, tmp_path: Path) -> None:
    """A fork's commit reachable only through refs/pull/N/head: fetched via the ref, and only if the ref
    holds exactly the commit asked for."""
    sh("update-ref", "refs/pull/3/head", repo.feature_head, cwd=repo.bare)
    sh("update-ref", "-d", "refs/heads/feature/x", cwd=repo.bare)
    url = f"file://{repo.bare}"
    git.fetch(url=url, commit=repo.feature_head, dest=tmp_path / "ok", log=lambda _: None, ref="refs/pull/3/head")
    assert (tmp_path / "ok" / "feature.txt").read_text() == "f\n"
    with pytest.raises(errors.GitError, match="refs/pull/3/head is at"):
        git.fetch(url=url, commit=repo.commits[-1], dest=tmp_path / "other", log=lambda _: None,
                  ref="refs/pull/3/head")
    for bad in ("refs/heads/main", "-upload-pack=x", "refs/pull/3/head:refs/heads/x", "refs/pull/x/head"):
        with pytest.raises(errors.Invalid):
            git.fetch(url=url, commit=repo.feature_head, dest=tmp_path / "bad", log=lambda _: None, ref=bad)
