"""SSH public keys: what is accepted, the fingerprint, and the authorized_keys block Slipway owns."""

from __future__ import annotations

import base64
import io
import subprocess
from pathlib import Path

import pytest

from slipway.cli.gitgateway import hook, parse_request, read_pkt, write_pkt
from slipway.errors import Invalid
from slipway.gitpush import keys


def keygen(tmp_path: Path, kind: str = "ed25519", bits: int | None = None) -> Path:
    path = tmp_path / f"id_{kind}_{bits or ''}"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *(["-b", str(bits)] if bits else []), "-N", "", "-C",
                    "me@laptop", "-f", str(path)], check=True)
    return path


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_real_keys_parse_with_ssh_keygens_fingerprint(tmp_path: Path, kind: str) -> None:
    path = keygen(tmp_path, kind)
    line = path.with_suffix(".pub").read_text()
    parsed_kind, data, fingerprint = keys.parse(line)
    expected = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(path.with_suffix(".pub"))],
                              check=True, capture_output=True, text=True).stdout.split()[1]
    assert fingerprint == expected
    assert f"{parsed_kind} {data}" == " ".join(line.split()[:2])  # the comment is dropped


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("   \n", "empty"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n-----END OPENSSH PRIVATE KEY-----\n", "private key"),
    ('command="sh" ssh-ed25519 AAAA', "unsupported key type"),
    ("no-pty ssh-ed25519 AAAA", "unsupported key type"),
    ("ssh-dss AAAAB3NzaC1kc3M=", "unsupported key type"),
    ("ssh-ed25519", "no key data"),
    ("ssh-ed25519 not*base64", "not base64"),
    ("ssh-ed25519 AAAAB3NzaC1yc2E=", "does not hold a ssh-ed25519 key"),  # an ssh-rsa header
    ("ssh-ed25519 AAAAC3NzaC1lZDI1", "truncated"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "not a valid ssh-ed25519 key"),
])
def test_bad_keys_get_a_precise_reason(text: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        keys.parse(text)


def test_two_keys_at_once_and_weak_rsa_are_refused(tmp_path: Path) -> None:
    first = keygen(tmp_path, "ed25519").with_suffix(".pub").read_text()
    with pytest.raises(Invalid, match="one line"):
        keys.parse(first + first)
    weak = keygen(tmp_path, "rsa", 1024).with_suffix(".pub").read_text()
    with pytest.raises(Invalid, match="at least 2048 bits"):
        keys.parse(weak)


def test_a_blob_that_claims_ed25519_but_is_garbage_is_refused() -> None:
    blob = b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x03abc"
    with pytest.raises(Invalid, match="not a valid ssh-ed25519 key"):
        keys.parse("ssh-ed25519 " + base64.b64encode(blob).decode())


def test_the_block_is_replaced_and_everything_else_kept() -> None:
    mine = "ssh-ed25519 AAAAmine admin@desk\n# a comment\n"
    first = keys.merge(mine, [keys.BEGIN, "line one", keys.END])
    assert first.startswith(mine) and "line one" in first
    second = keys.merge(first + "ssh-rsa AAAAlater other@box\n", [keys.BEGIN, "line two", keys.END])
    assert "line one" not in second and "line two" in second
    assert second.startswith(mine) and second.endswith("ssh-rsa AAAAlater other@box\n")
    assert second.count(keys.BEGIN) == 1


def test_key_tokens_are_bound_to_the_key_and_the_secret() -> None:
    a = keys.key_token(b"secret-a", 7)
    assert a.startswith("sshkey.7.") and a != keys.key_token(b"secret-b", 7) and a != keys.key_token(b"secret-a", 8)


@pytest.mark.parametrize("original, expected", [
    ("git-receive-pack 'hello'", ("receive-pack", "hello")),
    ("git-receive-pack '/hello'", ("receive-pack", "hello")),
    ("git-receive-pack '/hello.git'", ("receive-pack", "hello")),
    ("git-receive-pack '~/my-app.git/'", ("receive-pack", "my-app")),
    ("git-upload-pack 'hello'", ("upload-pack", "hello")),
    ("git receive-pack 'hello'", ("receive-pack", "hello")),
])
def test_git_requests(original: str, expected: tuple[str, str]) -> None:
    assert parse_request(original) == expected


@pytest.mark.parametrize("original, message", [
    ("ls /", "may only"),
    ("bash", "may only"),
    ("git-upload-archive 'hello'", "may only"),
    ("git-receive-pack 'hello' extra", "may only"),
    ("git-receive-pack '../../etc'", "not an app"),
    ("git-receive-pack 'Hello'", "not an app"),
    ("git-receive-pack 'a/b'", "not an app"),
    ("git-receive-pack 'hello; rm -rf /'", "not an app"),
    ("git-receive-pack 'unclosed", "cannot read"),
])
def test_anything_else_is_refused(original: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_request(original)


def test_the_hook_speaks_proc_receive_and_refuses_pushes_outside_the_gateway(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for key in ("SLIPWAY_URL", "SLIPWAY_TOKEN", "SLIPWAY_GIT_APP"):
        monkeypatch.delenv(key, raising=False)
    stdin = io.BytesIO()
    write_pkt(stdin, "version=1\0atomic")
    write_pkt(stdin, None)
    write_pkt(stdin, f"{'0' * 40} {'a' * 40} refs/heads/main")
    write_pkt(stdin, None)
    stdin.seek(0)
    stdout = io.BytesIO()
    assert hook(stdin, stdout) == 0
    stdout.seek(0)
    assert read_pkt(stdout) == b"version=1\0"
    assert read_pkt(stdout) is None
    answer = read_pkt(stdout)
    assert answer is not None and answer.startswith(b"ng refs/heads/main push through the Slipway git remote")
    assert read_pkt(stdout) is None


def test_a_push_over_the_size_limit_is_refused(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import os

    from slipway.gitpush import repos

    settings.git_max_push_mb = 1
    bare = repos.ensure(settings, "hello", "main")
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # random: git cannot compress it below 1 MB
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "big"], check=True)
    # a tag: the proc-receive hook only takes branches, so the size check alone decides
    pushed = subprocess.run(["git", "-C", str(work), "push", str(bare), "HEAD:refs/tags/big"],
                            capture_output=True, text=True)
    assert pushed.returncode != 0 and "maximum allowed size" in pushed.stderr, pushed.stderr
