"""Git source fetching: URL and branch validation, resolving a branch head, fetching one commit.

Command injection through git URLs and branch names is the most common critical advisory against
self-hosted PaaS tools, so everything here is defensive:

- URLs and branch names are validated before git sees them (no leading '-', no whitespace or
  control characters, no `transport::` remote helpers such as `ext::`, only known schemes);
- git always runs from an argument list (never a shell), and the URL always comes after `--`;
- `-c protocol.ext.allow=never` (and `fd`), no terminal prompt, an askpass that answers nothing,
  no system or user-global git config, and no inherited GIT_* variables (GIT_DIR and friends).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from slipway import errors, proc

Log = Callable[[str], None]

SCHEMES = ("https", "http", "ssh", "git", "file")
_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")
_TRANSPORT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*::")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
# scp-like syntax: [user@]host:path, where no '/' comes before the first ':'
_SCP_RE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>.*)\Z")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])\Z")
_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
_REF_FORBIDDEN = set(" ~^:?*[\\")
_ASKPASS = "/bin/true" if os.path.exists("/bin/true") else (shutil.which("true") or "true")

# Options given to every git command (before the subcommand). Transports are an allow-list: the schemes
# validate_url accepts and nothing else (no `ext::`/`fd::` remote helpers, no helper git may learn later).
_GIT_SAFETY = (
    "-c", "protocol.allow=never",
    *[arg for scheme in ("https", "http", "ssh", "git", "file") for arg in ("-c", f"protocol.{scheme}.allow=always")],
    "-c", "protocol.ext.allow=never",
    "-c", "protocol.fd.allow=never",
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "credential.helper=",
    "-c", "init.defaultBranch=main",
    "-c", "advice.detachedHead=false",
)

# Protocol v2 serves any reachable commit; the fallback in fetch() covers servers that do not.
_DIRECT_FETCH_CONFIG = ["-c", "protocol.version=2"]


# --------------------------------------------------------------------------------------------- validation


def _has_bad_chars(value: str) -> str | None:
    for ch in value:
        if ch.isspace():
            return "whitespace"
        if ord(ch) < 0x20 or ord(ch) == 0x7F or unicodedata.category(ch) in ("Cc", "Cf"):
            return "control characters"
    return None


def validate_url(url: str) -> str:
    """Return `url` unchanged if it is a git source Slipway accepts, else raise errors.Invalid.

    Accepted: https://, http://, ssh://, git://, file:// URLs, scp-like `user@host:path`, and
    absolute local paths.
    """
    if not isinstance(url, str) or url == "":
        raise errors.Invalid("git URL is empty")
    if url.startswith("-"):
        raise errors.Invalid(f"git URL must not start with '-': {url!r}")
    bad = _has_bad_chars(url)
    if bad:
        raise errors.Invalid(f"git URL must not contain {bad}: {url!r}")
    if _TRANSPORT_RE.match(url):
        transport = url.split("::", 1)[0]
        raise errors.Invalid(
            f"git URL uses the remote helper transport '{transport}::', which is not allowed; "
            f"use one of {', '.join(s + '://' for s in SCHEMES)}, user@host:path or an absolute path")
    m = _SCHEME_RE.match(url)
    if m:
        scheme = m.group(1).lower()
        if scheme not in SCHEMES:
            raise errors.Invalid(
                f"git URL scheme '{m.group(1)}://' is not supported; "
                f"use one of {', '.join(s + '://' for s in SCHEMES)}")
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError as exc:  # a bracketed host that is no IPv6 address (`[-oProxyCommand=…]`)
            raise errors.Invalid(f"git URL has an invalid host: {url!r}") from exc
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise errors.Invalid(f"git URL has an invalid port: {url!r}") from exc
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise errors.Invalid(f"file:// URL must name a local absolute path: {url!r}")
            if not parts.path.startswith("/"):
                raise errors.Invalid(f"file:// URL has no absolute path: {url!r}")
            return url
        netloc_host = parts.netloc.rsplit("@", 1)[-1].lstrip("[")
        if not host:
            raise errors.Invalid(f"git URL has no host: {url!r}")
        if host.startswith("-") or netloc_host.startswith("-"):
            raise errors.Invalid(f"git URL host must not start with '-': {url!r}")
        if "%" in netloc_host:  # percent-encoding could hide a leading '-' from the check above
            raise errors.Invalid(f"git URL host must not be percent-encoded: {url!r}")
        if parts.username and parts.username.startswith("-"):
            raise errors.Invalid(f"git URL user must not start with '-': {url!r}")
        if not parts.path or parts.path == "/":
            raise errors.Invalid(f"git URL has no repository path: {url!r}")
        return url
    if "://" in url:
        raise errors.Invalid(f"git URL has an unsupported scheme: {url!r}")
    if url.startswith("/"):
        return url
    m = _SCP_RE.match(url)
    if m:
        user, host, path = m.group("user"), m.group("host"), m.group("path")
        if user is not None and not _USER_RE.match(user):
            raise errors.Invalid(f"git URL has an invalid user name {user!r}: {url!r}")
        if not _HOST_RE.match(host):
            raise errors.Invalid(f"git URL has an invalid host {host!r}: {url!r}")
        if not path or path.startswith("-"):
            raise errors.Invalid(f"git URL has an invalid repository path {path!r}: {url!r}")
        return url
    raise errors.Invalid(
        f"git URL {url!r} is a relative path or not a URL; use an absolute path, "
        f"{', '.join(s + '://' for s in SCHEMES)} or user@host:path")


def validate_branch(name: str) -> str:
    """Return `name` if it is a valid branch name (the rules of `git check-ref-format --branch`)."""
    if not isinstance(name, str) or name == "":
        raise errors.Invalid("branch name is empty")

    def bad(why: str) -> errors.Invalid:
        return errors.Invalid(f"invalid branch name {name!r}: {why}")

    if name.startswith("-"):
        raise bad("must not start with '-'")
    if name == "@":
        raise bad("must not be '@'")
    if name == "HEAD":
        raise bad("'HEAD' is not a valid branch name")
    for ch in name:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise bad("must not contain control characters")
        if ch in _REF_FORBIDDEN:
            raise bad(f"must not contain {ch!r}")
    if any(ch.isspace() for ch in name):
        raise bad("must not contain whitespace")
    if ".." in name:
        raise bad("must not contain '..'")
    if "@{" in name:
        raise bad("must not contain '@{'")
    if name.startswith("/") or name.endswith("/"):
        raise bad("must not start or end with '/'")
    if "//" in name:
        raise bad("must not contain '//'")
    if name.endswith("."):
        raise bad("must not end with '.'")
    for part in name.split("/"):
        if part.startswith("."):
            raise bad("no path component may start with '.'")
        if part.endswith(".lock"):
            raise bad("no path component may end with '.lock'")
    return name


def _validate_commit(commit: str) -> str:
    if not isinstance(commit, str) or not _SHA_RE.match(commit):
        raise errors.Invalid(f"commit must be a full hexadecimal object id, got {commit!r}")
    return commit


def redact(url: str) -> str:
    """The URL with any password/token in its user info replaced by '***' (for logs and errors)."""
    m = _SCHEME_RE.match(url)
    if not m:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, hostport = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    masked = f"{user}:***" if ":" in userinfo else "***"
    return url.replace(parts.netloc, f"{masked}@{hostport}", 1)


# --------------------------------------------------------------------------------------------- running git


def git_env() -> dict[str, str]:
    """The environment git runs with: no prompts, no user/system config, no inherited GIT_* state."""
    keep_git = {"GIT_SSH_COMMAND", "GIT_SSH", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in keep_git}
    env.update({
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": _ASKPASS,
        "SSH_ASKPASS": _ASKPASS,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
        "LANGUAGE": "C",
    })
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


def _git(args: list[str], *, cwd: Path | None = None, timeout: float,
         on_line: Callable[[str], None] | None = None) -> proc.Result:
    git = shutil.which("git")
    if git is None:
        raise errors.Unavailable("git is not installed on this server")
    return proc.run([git, *_GIT_SAFETY, *args], cwd=cwd, env=git_env(), timeout=max(timeout, 0.001),
                    on_line=on_line, tail_lines=200)


def _message(result: proc.Result, lines: int = 3) -> str:
    """git's own error message: the 'fatal:'/'error:' lines first, else the last lines of output."""
    if result.timed_out:
        return "timed out"
    tail = [line.strip() for line in result.tail if line.strip()]
    important = [line for line in tail if line.startswith(("fatal:", "error:", "ssh:"))]
    chosen = (important or tail)[:lines]
    return "; ".join(chosen) or f"git exited with status {result.returncode}"


# --------------------------------------------------------------------------------------------- operations


def resolve_commit(*, url: str, branch: str, timeout: float = 30) -> str:
    """The full sha of `branch`'s head in the repository at `url` (via `git ls-remote`)."""
    validate_url(url)
    validate_branch(branch)
    ref = f"refs/heads/{branch}"
    result = _git(["ls-remote", "--heads", "--", url, ref], timeout=timeout)
    if not result.ok:
        raise errors.GitError(f"cannot reach {redact(url)}: {_message(result)}")
    for line in result.tail:
        sha, _, name = line.partition("\t")
        if name.strip() == ref and _SHA_RE.match(sha):
            return sha
    raise errors.GitError(f"branch '{branch}' not found in {redact(url)}")


_PULL_REF_RE = re.compile(r"^refs/(?:pull|merge-requests)/[0-9]{1,12}/head\Z")


def validate_pull_ref(ref: str) -> str:
    """A forge's pull request head ref (refs/pull/N/head, refs/merge-requests/N/head) and nothing else."""
    if not isinstance(ref, str) or not _PULL_REF_RE.match(ref):
        raise errors.Invalid(f"not a pull request ref: {ref!r}")
    return ref


def fetch(*, url: str, commit: str, dest: Path | str, log: Log, timeout: float = 300, ref: str | None = None) -> None:
    """Fetch exactly `commit` from `url` (shallow) and check it out into `dest` (created, must be empty).

    With `ref` (a pull request's head ref), the ref is fetched instead and must point at `commit`: a fork's
    commit is reachable in the base repository only through it, and the check makes sure the code built is
    the commit the pull request event named (not whatever a same-named branch holds).

    Protocol v2 lets a client ask for any reachable commit, so `git fetch --depth 1 -- url <sha>`
    works against local repositories, GitHub, GitLab and recent git servers. Servers that refuse an
    unadvertised sha (protocol v0 without uploadpack.allowReachableSHA1InWant) get a fallback: fetch
    the branch heads at increasing depth until the commit is there.
    """
    validate_url(url)
    _validate_commit(commit)
    if ref is not None:
        validate_pull_ref(ref)
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise errors.GitError(f"fetch destination {dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    shown = redact(url)

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise errors.GitError(f"fetching {commit[:12]} from {shown} timed out after {timeout:g}s")
        return left

    def step(args: list[str]) -> proc.Result:
        result = _git(args, cwd=dest, timeout=remaining(), on_line=lambda line: log(f"  {line}"))
        if result.timed_out:
            remaining()  # raises the timeout error
        return result

    log(f"git: initialising repository in {dest}")
    result = step(["init", "-q", "."])
    if not result.ok:
        raise errors.GitError(f"git init failed in {dest}: {_message(result)}")

    if ref is not None:
        _fetch_pull_ref(step, url=url, ref=ref, commit=commit, log=log)
        result = step(["checkout", "-q", "--detach", commit])
        if not result.ok:
            raise errors.GitError(f"cannot check out {commit}: {_message(result)}")
        log(f"git: source at {commit} ({ref}) ready")
        return

    log(f"git: fetching commit {commit} from {shown} (depth 1)")
    result = step([*_DIRECT_FETCH_CONFIG, "fetch", "--no-tags", "--no-progress", "--depth", "1",
                   "--", url, commit])
    if not result.ok:
        first_error = _message(result)
        log(f"git: the server did not serve the commit directly ({first_error}); fetching branch heads")
        if not _fetch_by_branches(step, url=url, commit=commit, log=log):
            raise errors.GitError(f"cannot fetch commit {commit} from {shown}: {first_error}")

    log(f"git: checking out {commit}")
    result = step(["checkout", "-q", "--detach", commit])
    if not result.ok:
        raise errors.GitError(f"cannot check out {commit}: {_message(result)}")
    result = step(["rev-parse", "HEAD"])
    head = next((line.strip() for line in result.tail if _SHA_RE.match(line.strip())), "")
    if head != commit:
        raise errors.GitError(f"checked out {head or 'nothing'} instead of {commit}")
    log(f"git: source at {commit} ready")


def _fetch_pull_ref(step: Callable[[list[str]], proc.Result], *, url: str, ref: str, commit: str, log: Log) -> None:
    shown = redact(url)
    log(f"git: fetching {ref} from {shown} (depth 1)")
    result = step(["fetch", "--no-tags", "--no-progress", "--depth", "1", "--", url, f"+{ref}:refs/slipway/pull"])
    if not result.ok:
        raise errors.GitError(f"cannot fetch {ref} from {shown}: {_message(result)}")
    result = step(["rev-parse", "--verify", "refs/slipway/pull^{commit}"])
    head = next((line.strip() for line in result.tail if _SHA_RE.match(line.strip())), "")
    if head != commit:
        raise errors.GitError(
            f"{ref} is at {head[:12] or 'nothing'}, not at {commit[:12]} (the head commit the pull request "
            "event named): the pull request moved on; its next event deploys the new head")


def _has_commit(step: Callable[[list[str]], proc.Result], commit: str) -> bool:
    return step(["cat-file", "-e", f"{commit}^{{commit}}"]).ok


def _fetch_by_branches(step: Callable[[list[str]], proc.Result], *, url: str, commit: str, log: Log) -> bool:
    refspec = "+refs/heads/*:refs/remotes/origin/*"

    def fetch_heads(options: list[str]) -> None:
        result = step(["fetch", "--no-tags", "--no-progress", *options, "--", url, refspec])
        if not result.ok:
            raise errors.GitError(f"cannot fetch commit {commit} from {redact(url)}: {_message(result)}")

    for depth in (50, 500):
        log(f"git: fetching branch heads with depth {depth}")
        fetch_heads(["--depth", str(depth)])
        if _has_commit(step, commit):
            return True
    shallow = step(["rev-parse", "--is-shallow-repository"])
    if any(line.strip() == "true" for line in shallow.tail):
        log("git: fetching full history")
        fetch_heads(["--unshallow"])
    return _has_commit(step, commit)
