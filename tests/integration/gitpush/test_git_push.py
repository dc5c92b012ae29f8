"""`git push slipway main` for real: a real sshd with the authorized_keys Slipway writes, the real gateway
(`slipway git-serve` as sshd's forced command), git's proc-receive hook, a real `slipway server` with workers
and Caddy. The pushing terminal sees the deploy log; a failed deploy fails the push."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.config import Settings
from slipway.db import transaction, utcnow
from slipway.gitpush import keys
from slipway.gitpush.models import SshKey
from slipway.platform import build_platform
from slipway.routing.base import MemoryRouter
from tests.conftest import Repo, free_port
from tests.integration.hosts import Host

pytestmark = pytest.mark.integration

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


class Sshd:
    def __init__(self, root: Path, authorized_keys: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        host_key = root / "host_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
        config = root / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
            f"AuthorizedKeysFile {authorized_keys}", f"PidFile {root / 'sshd.pid'}",
            "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "LogLevel VERBOSE", "",
        ]))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        self.log = root / "sshd.log"
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=open(self.log, "wb"),  # noqa: SIM115
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while "Server listening" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not start: {self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Pusher:
    """A developer's machine: a key pair and git with that key."""

    def __init__(self, root: Path, port: int, name: str = "id_ed25519") -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.key = root / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"dev@{name}", "-f", str(self.key)],
                       check=True)
        self.ssh = (f"ssh -i {self.key} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no "
                    f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p {port}")
        self.port = port

    @property
    def public(self) -> Path:
        return self.key.with_suffix(".pub")

    def git(self, repo: Repo, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "GIT_SSH_COMMAND": self.ssh}
        return subprocess.run(["git", *args], cwd=repo.path, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def shell(self, command: str | None) -> subprocess.CompletedProcess[str]:
        argv = [*self.ssh.split(), "root@127.0.0.1", *([command] if command else [])]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> Iterator[tuple[Host, Sshd]]:
    if not Path(SSHD).exists():
        pytest.skip("sshd is not installed (apt-get install openssh-server)")
    if os.geteuid() != 0:
        pytest.skip("the test sshd runs as root")
    settings.router = "caddy"
    sshd = Sshd(tmp_path / "sshd", settings.git_authorized_keys)
    settings.git_ssh_user, settings.git_ssh_host, settings.git_ssh_port = "root", "127.0.0.1", sshd.port
    logs = tmp_path / "logs"
    logs.mkdir()
    host = Host(settings, logs)
    try:
        host.server()
        host.login()
        host.as_user("dev")  # SSH keys belong to users: a host token cannot add one
        yield host, sshd
    finally:
        host.close()
        sshd.close()


def wait_for_version(host: Host, app: str, version: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if host.through_router(app).json().get("version") == version:
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{app} does not serve version {version}")
        time.sleep(0.2)


def test_push_deploys_the_pushed_commit_and_streams_the_log(world, make_repo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    host, sshd = world
    created = host.cli("apps", "create", "hello")  # no --git: fed by git push
    remote = host.cli_json("apps", "show", "hello")["git_remote"]
    assert remote == f"ssh://root@127.0.0.1:{sshd.port}/hello"
    assert f"git remote add slipway {remote}" in created.stdout

    dev = Pusher(tmp_path / "dev", sshd.port)
    host.cli("ssh-keys", "add", "laptop", str(dev.public))
    listed = host.cli_json("ssh-keys", "list")
    assert [k["name"] for k in listed] == ["laptop"] and listed[0]["fingerprint"].startswith("SHA256:")
    block = Path(host.settings.git_authorized_keys).read_text()
    assert "git-serve --key" in block and dev.public.read_text().split()[1] in block and "restrict" in block

    repo = make_repo()
    first = repo.head()
    repo.git("remote", "add", "slipway", remote)
    pushed = dev.git(repo, "push", "slipway", "main")
    assert pushed.returncode == 0, pushed.stderr
    assert "remote: -----> deploying " + first[:12] in pushed.stderr
    assert "Building" in pushed.stderr and "is live" in pushed.stderr
    wait_for_version(host, "hello", "1")
    deploys = host.cli_json("deploys", "hello")
    assert deploys[0]["commit"] == first and deploys[0]["source"] == "push" and deploys[0]["status"] == "succeeded"
    assert listed[0]["last_used_at"] is None and host.cli_json("ssh-keys", "list")[0]["last_used_at"] is not None

    # the next push deploys exactly the pushed commit; the remote branch names what is live
    second = repo.commit({"version.txt": "2\n"}, "v2")
    pushed = dev.git(repo, "push", "slipway", "main")
    assert pushed.returncode == 0, pushed.stderr
    wait_for_version(host, "hello", "2")
    assert dev.git(repo, "ls-remote", "slipway", "main").stdout.split()[0] == second
    # `slipway deploy` of a push-fed app rebuilds the pushed branch's head
    redeploy = host.cli("deploy", "hello")
    assert "Fetching the pushed main branch" in redeploy.stdout and "succeeded" in redeploy.stdout


def test_failed_deploy_fails_the_push_and_keeps_the_branch(world, make_repo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    host, sshd = world
    host.cli("apps", "create", "hello")
    dev = Pusher(tmp_path / "dev", sshd.port)
    host.cli("ssh-keys", "add", "laptop", str(dev.public))
    repo = make_repo()
    good = repo.head()
    repo.git("remote", "add", "slipway", host.cli_json("apps", "show", "hello")["git_remote"])
    assert dev.git(repo, "push", "slipway", "main").returncode == 0
    wait_for_version(host, "hello", "1")

    repo.commit({"Procfile": "web: python -c 'import sys; sys.exit(3)'\n", "version.txt": "2\n"}, "broken")
    pushed = dev.git(repo, "push", "slipway", "main")
    assert pushed.returncode != 0
    assert "[remote rejected] main -> main (deploy failed" in pushed.stderr, pushed.stderr
    assert dev.git(repo, "ls-remote", "slipway", "main").stdout.split()[0] == good  # the branch did not move
    wait_for_version(host, "hello", "1")  # still serving the good release

    # other branches are kept without a deploy; the deploy branch cannot be deleted
    other = dev.git(repo, "push", "slipway", "HEAD:refs/heads/experiment")
    assert other.returncode == 0 and "only main deploys hello" in other.stderr
    deleted = dev.git(repo, "push", "slipway", ":main")
    assert deleted.returncode != 0 and "cannot be deleted" in deleted.stderr
    assert len(host.cli_json("deploys", "hello")) == 2


def test_keys_decide_who_may_push(world, make_repo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    host, sshd = world
    host.cli("apps", "create", "hello")
    dev, stranger = Pusher(tmp_path / "dev", sshd.port), Pusher(tmp_path / "stranger", sshd.port)
    key = host.cli_json("ssh-keys", "add", "laptop", str(dev.public))
    repo = make_repo()
    repo.git("remote", "add", "slipway", host.cli_json("apps", "show", "hello")["git_remote"])

    refused = stranger.git(repo, "push", "slipway", "main")  # an unregistered key: sshd says no
    assert refused.returncode != 0 and "Permission denied" in refused.stderr
    # a registered key is no shell: only git, only to apps
    assert "may only `git push`" in dev.shell(None).stderr
    shell = dev.shell("cat /etc/passwd")
    assert shell.returncode != 0 and "may only `git push`" in shell.stderr and "root:" not in shell.stdout
    missing = dev.git(repo, "push", "slipway", "main:main", "--dry-run")
    assert missing.returncode == 0  # dry run: the gateway answered, nothing deployed
    nope = dev.git(repo, "push", f"ssh://root@127.0.0.1:{sshd.port}/nope", "main")
    assert nope.returncode != 0 and "no app named 'nope'" in nope.stderr

    # a key that a host token added (before keys belonged to users) is disabled, and the push says why
    old = Pusher(tmp_path / "old", sshd.port)
    plat = build_platform(host.settings, router=MemoryRouter())
    try:
        with transaction(plat.sessions) as session:
            _, _, fingerprint = keys.parse(old.public.read_text())
            session.add(SshKey(name="old", user_id=None, public_key=" ".join(old.public.read_text().split()[:2]),
                               fingerprint=fingerprint, created_by="token:tests", disabled_at=utcnow()))
        keys.sync_authorized_keys(plat.sessions, plat.settings)
    finally:
        plat.close()
    disabled = old.git(repo, "push", "slipway", "main")
    assert disabled.returncode != 0 and keys.DISABLED_HOST_KEY in disabled.stderr, disabled.stderr

    host.cli("ssh-keys", "remove", str(key["id"]))  # removed: sshd no longer knows it
    gone = dev.git(repo, "push", "slipway", "main")
    assert gone.returncode != 0 and "Permission denied" in gone.stderr
    assert host.cli_json("deploys", "hello") == []
    assert Path(host.settings.git_authorized_keys).read_text().count("slipway-key-") == 1  # the disabled one
