"""The attacker's world: a real `slipway server` (with Caddy) in a throw-away $SLIPWAY_HOME, a victim app with
planted secrets, and the attacker app's repository. Tests on both runtimes use it (tests/integration/security
and tests/integration/docker).

What is planted (canaries: random values that must never show up in what the attacker reports, prints or
serves): the victim's env value, a line the victim writes to its log, a file in the victim's release, the
attacker app's own production env value (a fork preview must never get it), a variable in the server's own
environment, the host's secret key, the token of the CLI that runs the deploy and of a `slipway logs -f`
left running (an operator at work), and the git gateway key.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import secrets
import subprocess
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from slipway.config import Settings
from tests.conftest import APP_PY, Repo
from tests.integration.hosts import SLIPWAY, Host

PROBE = (Path(__file__).parent / "probe.py").read_text()
PIDS_LIMIT = 512  # the default per-instance pids limit (issue #11)
DANGEROUS_CAPS = {12: "CAP_NET_ADMIN", 13: "CAP_NET_RAW", 16: "CAP_SYS_MODULE", 17: "CAP_SYS_RAWIO",
                  19: "CAP_SYS_PTRACE", 21: "CAP_SYS_ADMIN", 2: "CAP_DAC_READ_SEARCH", 25: "CAP_SYS_TIME",
                  27: "CAP_MKNOD", 38: "CAP_PERFMON", 39: "CAP_BPF", 22: "CAP_SYS_BOOT", 24: "CAP_SYS_RESOURCE"}


def attacker_files(hints: dict[str, Any], runtime: str, base_image: str = "") -> dict[str, str]:
    """The attacker's repository: the probe, where things are, and its build, release and web commands."""
    files = {"probe.py": PROBE, "hints.json": json.dumps(hints, indent=1) + "\n",
             "slipway.toml": '[release]\ncommand = "python3 probe.py release"\n'}
    if runtime == "docker":
        files["Dockerfile"] = (f"FROM {base_image}\nWORKDIR /app\nCOPY . /app\n"
                               "RUN python3 probe.py build\nCMD [\"python3\", \"-u\", \"probe.py\", \"web\"]\n")
    else:
        files["requirements.txt"] = ""
        files["Procfile"] = "web: python3 probe.py web\n"
        files["slipway.toml"] += '[build]\ncommand = "python3 probe.py build"\n'
    return files


def victim_files(runtime: str, canaries: dict[str, str], base_image: str = "") -> dict[str, str]:
    app = f'print("victim log line {canaries["victim_log"]}", flush=True)\n' + APP_PY
    files = {"app.py": app, "version.txt": "victim\n", "canary.txt": canaries["victim_file"] + "\n"}
    if runtime == "docker":
        app = app.replace('("127.0.0.1", int(os.environ["PORT"]))', '("0.0.0.0", int(os.environ["PORT"]))')
        files["app.py"] = app
        files["Dockerfile"] = (f"FROM {base_image}\nWORKDIR /app\nCOPY . /app\n"
                               "CMD [\"python3\", \"-u\", \"app.py\"]\n")
    else:
        files.update({"requirements.txt": "", "Procfile": "web: python3 app.py\n"})
    return files


def decode_reports(text: str) -> dict[str, dict[str, Any]]:
    """The reports printed as `ATTACKER-REPORT <context> i/n <base64>` lines, by context (the last of each)."""
    parts: dict[str, dict[int, str]] = {}
    counts: dict[str, int] = {}
    for line in text.splitlines():
        at = line.find("ATTACKER-REPORT ")
        if at < 0:
            continue
        fields = line[at:].split(" ")
        if len(fields) != 4:
            continue
        _, context, position, chunk = fields
        index, _, total = position.partition("/")
        if index == "1":
            parts[context] = {}
        parts.setdefault(context, {})[int(index)] = chunk
        counts[context] = int(total)
    reports = {}
    for context, chunks in parts.items():
        if len(chunks) == counts[context]:
            blob = "".join(chunks[i] for i in sorted(chunks))
            reports[context] = json.loads(zlib.decompress(base64.b64decode(blob)))
    return reports


@dataclass
class Scene:
    host: Host
    runtime: str
    tmp: Path
    make_repo: Any
    base_image: str = ""
    victim: str = "victim"
    attacker: str = "attacker"
    nonce: str = field(default_factory=lambda: secrets.token_hex(4))
    canaries: dict[str, str] = field(default_factory=dict)
    followers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # ---- set-up -----------------------------------------------------------------------------------

    def start(self) -> None:
        self.canaries = {name: f"{name.upper()}-{secrets.token_hex(8)}" for name in (
            "victim_env", "victim_log", "victim_file", "prod_secret", "server_env")}
        self.host.server(ATTACK_SERVER_CANARY=self.canaries["server_env"])
        self.host.login()
        self.canaries["cli_token"] = self.host.env["SLIPWAY_TOKEN"]
        home = self.host.settings.home
        self.canaries["secret_key"] = (home / "secret.key").read_text().strip()
        gateway = home / "git" / "gateway.key"
        if gateway.exists():
            self.canaries["gateway_key"] = gateway.read_text().strip()

    def deploy_victim(self) -> None:
        repo = self.make_repo(f"{self.victim}-src", victim_files(self.runtime, self.canaries, self.base_image))
        self.create(self.victim, repo)
        self.host.cli("env", "set", self.victim, f"VICTIM_SECRET={self.canaries['victim_env']}", "--no-deploy")
        deploy = self.host.cli_json("deploy", self.victim)
        assert deploy["status"] == "succeeded", self.log(self.victim, deploy["id"])
        assert self.through_router(self.victim).json()["version"] == "victim"
        # an operator tails the victim's logs meanwhile: a CLI process with a token in its environment
        token = self.host.cli_json("admin", "token", "--name", "operator")["token"]
        self.canaries["operator_token"] = token
        self.followers.append(subprocess.Popen([SLIPWAY, "logs", self.victim, "-f"], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, start_new_session=True,
                                               env={**self.host.env, "SLIPWAY_TOKEN": token}))

    def hints(self) -> dict[str, Any]:
        s = self.host.settings
        return {"nonce": self.nonce, "home": str(s.home), "api": s.api_url, "caddy_admin": str(s.caddy_admin_socket),
                "victim": self.victim, "scope": str(self.tmp), "authorized_keys": s.git_authorized_keys,
                "bind": "0.0.0.0" if self.runtime == "docker" else "127.0.0.1", "forks": 2000}

    def attacker_repo(self) -> Repo:
        return self.make_repo(f"{self.attacker}-src", attacker_files(self.hints(), self.runtime, self.base_image))

    def create(self, name: str, repo: Repo) -> None:
        args = ["apps", "create", name, "--git", repo.url, "--branch", "main"]
        if self.runtime == "docker":
            args += ["--runtime", "docker"]
        self.host.cli_json(*args)

    def open_fork_preview(self, repo: Repo, number: int) -> dict[str, Any]:
        """A pull request from a fork: its commit at refs/pull/N/head of the base repository (as GitHub serves
        it), announced by a signed webhook. Production's PROD_SECRET is shared with previews: a fork must
        still never get it."""
        from tests.unit.hooks.payloads import signed
        from tests.unit.previews.payloads import github_pull

        # fork previews are opt-in per app (`forks`); a build without that setting previews forks anyway
        body: dict[str, Any] = {"shared_keys": ["PROD_SECRET"], "forks": True}
        settings = self.api("PATCH", f"/apps/{self.attacker}/preview-settings", json=body)
        if settings.status_code == 422 and "forks" in settings.text:
            del body["forks"]
            settings = self.api("PATCH", f"/apps/{self.attacker}/preview-settings", json=body)
        assert settings.status_code == 200, settings.text
        hook = self.api("GET", f"/apps/{self.attacker}/hook", params={"reveal": "true"}).json()
        repo.git("checkout", "-q", "-b", "fork-work")
        head = repo.commit({"fork.txt": "from a fork\n"}, "the fork's change")
        repo.git("update-ref", f"refs/pull/{number}/head", head)
        repo.git("checkout", "-q", "main")
        repo.git("branch", "-D", "fork-work")
        body, headers = signed("github", hook["secret"], github_pull("opened", number, head, fork=True),
                               event="pull_request", delivery=f"fork-{self.nonce}")
        response = httpx.post(f"{self.host.settings.api_url}/hooks/github/{hook['hook_id']}", content=body,
                              headers=headers, timeout=30)
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer.get("fork") is True and answer.get("deploy_id"), answer
        return answer  # type: ignore[no-any-return]

    def deploy(self, app: str) -> dict[str, Any]:
        """`slipway deploy APP --json`, whatever its outcome (a failed deploy exits 1 with the same JSON)."""
        result = self.host.cli("deploy", app, "--json", check=False, timeout=600)
        try:
            return json.loads(result.stdout)  # type: ignore[no-any-return]
        except ValueError:
            raise AssertionError(f"slipway deploy {app}: {result.stdout}\n{result.stderr}") from None

    # ---- reading what the attacker got ------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.host.settings.api_url}/api/v1{path}", timeout=30,
                             headers={"Authorization": f"Bearer {self.host.env['SLIPWAY_TOKEN']}"}, **kwargs)

    def log(self, app: str, deploy_id: int) -> str:
        lines: list[str] = []
        after = 0
        while True:
            page = self.api("GET", f"/apps/{app}/deploys/{deploy_id}/log", params={"after": after}).json()
            if not page["lines"]:
                return "\n".join(lines)
            lines += [line["line"] for line in page["lines"]]
            after = page["lines"][-1]["id"]

    def wait_deploy(self, app: str, deploy_id: int, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.api("GET", f"/apps/{app}/deploys/{deploy_id}")
            if response.status_code == 200 and response.json()["status"] not in ("queued", "running"):
                return response.json()  # type: ignore[no-any-return]
            time.sleep(0.5)
        raise AssertionError(f"deploy {deploy_id} of {app} did not finish")

    def through_router(self, host: str, path: str = "/") -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.host.settings.http_port}{path}",
                         headers={"Host": f"{host}.{self.host.settings.base_domain}"}, timeout=10)

    def web_report(self, app: str, router_host: str, timeout: float = 180) -> dict[str, Any]:
        """The web process's report, through Caddy; straight from the instance if the router lost its routes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                response = self.through_router(router_host, "/report")
                if response.status_code == 200:
                    return response.json()  # type: ignore[no-any-return]
                if response.status_code != 202:
                    running = [i for i in self.host.cli_json("ps", app) if i["state"] == "running"]
                    if running and running[0].get("port"):
                        direct = httpx.get(f"http://127.0.0.1:{running[0]['port']}/report", timeout=10)
                        if direct.status_code == 200:
                            return direct.json()  # type: ignore[no-any-return]
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        raise AssertionError(f"the web process of {app} served no report")

    # ---- judging ------------------------------------------------------------------------------------

    def problems(self, report: dict[str, Any], *, where: str, canaries: tuple[str, ...] | None = None) -> list[str]:
        """Everything the attacker reached, as readable lines (empty: it reached nothing)."""
        container_own = {"system_dirs_writable"} if self.runtime == "docker" else set()  # the container's own /etc
        found = [f"{where}: {check}: {evidence}" for check, evidence in report["reached"].items()
                 if evidence and check not in container_own]
        found += self.leaks(json.dumps(report), where=f"{where} report", canaries=canaries)
        ident = report.get("identity", {})
        if report["context"] in ("web", "oneoff", "oneoff-tty"):
            spawned = report.get("fork_bomb", {}).get("spawned")
            if spawned is None or spawned > PIDS_LIMIT:
                found.append(f"{where}: fork bomb not capped at {PIDS_LIMIT}: {report.get('fork_bomb')}")
        # an image build (docker) runs as the image's user, root by default, with the engine's build defaults
        # (the compat API has no security options for builds): no_new_privs changes nothing for a process that
        # already is root in its container; its capability set and what it reaches are what count there
        if ident.get("no_new_privs") != "1" and not (self.runtime == "docker" and report["context"] == "build"):
            found.append(f"{where}: no_new_privs is not set: setuid binaries can raise privileges "
                         f"({len(ident.get('setuid_binaries', []))} found)")
        caps = int(ident.get("cap_eff") or "0", 16)
        if self.runtime == "local":
            if ident.get("euid") == 0 or caps:
                found.append(f"{where}: runs as uid {ident.get('euid')} with capabilities {ident.get('cap_eff')}")
        else:
            bad = [name for bit, name in sorted(DANGEROUS_CAPS.items()) if caps >> bit & 1]
            if bad:
                found.append(f"{where}: container keeps {', '.join(bad)}")
        for path, outcome in report.get("writes", {}).items():
            if outcome == "ok" and os.path.exists(path) and self.runtime == "local":
                found.append(f"{where}: wrote {path} (visible on the host)")
        return found

    def leaks(self, text: str, *, where: str, canaries: tuple[str, ...] | None = None) -> list[str]:
        names = canaries if canaries is not None else tuple(self.canaries)
        return [f"{where}: contains the {name} canary" for name in names
                if self.canaries.get(name) and self.canaries[name] in text]

    def host_side(self) -> list[str]:
        """What the attacker left on the host: files written outside its dirs, lines in authorized_keys."""
        found = []
        pattern = f"attacker-{self.nonce}-*"
        for top in ("/tmp", "/var/tmp", "/dev/shm"):
            found += [f"host: {p} written" for p in glob.glob(os.path.join(top, pattern))]
        home = self.host.settings.home
        for path in home.rglob(pattern):
            if f"{os.sep}artifacts{os.sep}{self.attacker}" in str(path) and path.name.endswith("-build"):
                continue  # the build writes its own artifact: that is its job
            found.append(f"host: {path} written")
        keys = Path(self.host.settings.git_authorized_keys)
        if keys.exists() and self.nonce in keys.read_text():
            found.append(f"host: {keys} changed")
        return found

    def router_intact(self) -> list[str]:
        try:
            answer = self.through_router(self.victim)
            ok = answer.status_code == 200 and answer.json().get("version") == "victim"
        except (httpx.HTTPError, ValueError):
            ok = False
        return [] if ok else ["router: the victim is no longer served (Caddy's config was changed)"]

    def close(self) -> None:
        for proc in self.followers:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        for top in ("/tmp", "/var/tmp", "/dev/shm"):
            for path in glob.glob(os.path.join(top, f"attacker-{self.nonce}-*")):
                try:
                    os.unlink(path)
                except OSError:
                    pass
        self.host.close()
        _sweep(self.tmp)


def _sweep(root: Path) -> None:
    """Kill whatever still runs from `root` (Caddy whose admin endpoint the attacker moved, a supervisor the
    runtime lost track of): only processes whose command line or cwd is under this test's directory."""
    import psutil

    doomed = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if proc.pid == os.getpid():
            continue
        if str(root) in " ".join(proc.info["cmdline"] or []) or str(proc.info["cwd"] or "").startswith(str(root)):
            doomed.append(proc)
    for proc in doomed:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(doomed, timeout=5)


@contextmanager
def scene(settings: Settings, tmp_path: Path, make_repo: Any, runtime: str, *, docker_host: str = "",
          base_image: str = "") -> Iterator[Scene]:
    """A Scene with its server started; everything it started is stopped, also when the test fails."""
    # production-like: the secret key in $SLIPWAY_HOME/secret.key (not in the server's environment) and the
    # SQLite database in $SLIPWAY_HOME
    settings.secret_key = ""
    settings.home.mkdir(parents=True, exist_ok=True)
    if settings.db_url.startswith("sqlite:///"):  # the migrated copy, moved to where the product keeps it
        os.replace(settings.db_url.removeprefix("sqlite:///"), settings.home / "slipway.db")
        settings.database_url = ""
    settings.router = "caddy"
    settings.health_timeout = 120
    logs = tmp_path / "logs"
    logs.mkdir()
    host = Host(settings, logs)
    if docker_host:
        host.env["SLIPWAY_DOCKER_HOST"] = docker_host
    suffix = secrets.token_hex(3)
    world = Scene(host, runtime, tmp_path, make_repo, base_image=base_image, victim=f"vic{suffix}",
                  attacker=f"atk{suffix}")
    try:
        world.start()
        yield world
    finally:
        world.close()


# ---- the scenarios (the same on both runtimes) ------------------------------------------------------------

def attack_deploy_and_one_off(world: Scene) -> list[str]:
    """Deploy the attacker (build, release command, web) and run it as a one-off; what it reached."""
    world.deploy_victim()
    repo = world.attacker_repo()
    world.create(world.attacker, repo)
    world.host.cli("env", "set", world.attacker, f"PROD_SECRET={world.canaries['prod_secret']}", "--no-deploy")
    deploy = world.deploy(world.attacker)
    log = world.log(world.attacker, deploy["id"])
    reports = decode_reports(log)
    assert set(reports) >= {"build", "release"}, log
    problems = [] if deploy["status"] == "succeeded" else [f"the attacker's deploy failed: {deploy['reason']}"]
    outputs = [("deploy log", log)]
    if deploy["status"] == "succeeded":
        reports["web"] = world.web_report(world.attacker, world.attacker)
        one_off = world.host.cli("run", world.attacker, "--", "python3", "probe.py", "oneoff", check=False,
                                 timeout=300)
        reports.update(decode_reports(one_off.stdout))
        assert "oneoff" in reports, one_off.stdout + one_off.stderr
        outputs.append(("one-off output", one_off.stdout))
        # `slipway run -t`: the same under a PTY, through the WebSocket
        tty = world.host.cli("run", "-t", world.attacker, "--", "python3", "probe.py", "oneoff-tty", check=False,
                             timeout=300)
        reports.update(decode_reports(tty.stdout))
        assert "oneoff-tty" in reports, tty.stdout + tty.stderr
        outputs.append(("one-off -t output", tty.stdout))
    (world.tmp / "reports.json").write_text(json.dumps(reports, indent=1))  # for a post-mortem
    problems += world.router_intact() + world.host_side()
    others = tuple(name for name in world.canaries if name != "prod_secret")  # its own value is no leak
    for context, report in sorted(reports.items()):
        problems += world.problems(report, where=context, canaries=others)
    for where, text in outputs:
        problems += world.leaks(text, where=where, canaries=others)
    return problems


def attack_fork_preview(world: Scene, number: int = 7) -> list[str]:
    """A fork's pull request carrying the attacker: its preview's build, release command and web; what it reached
    (production's PROD_SECRET included: a fork must never get it)."""
    world.deploy_victim()
    repo = world.attacker_repo()
    world.create(world.attacker, repo)
    world.host.cli("env", "set", world.attacker, f"PROD_SECRET={world.canaries['prod_secret']}", "--no-deploy")
    answer = world.open_fork_preview(repo, number=number)
    preview = f"{world.attacker}--pr-{number}"
    deploy = world.wait_deploy(preview, answer["deploy_id"])
    log = world.log(preview, deploy["id"])
    reports = decode_reports(log)
    assert set(reports) >= {"build", "release"}, log
    problems = [] if deploy["status"] == "succeeded" else [f"the fork preview's deploy failed: {deploy['reason']}"]
    outputs = [("fork preview deploy log", log)]
    if deploy["status"] == "succeeded":
        router_host = f"pr-{number}.{world.attacker}"
        reports["web"] = world.web_report(preview, router_host)
        pages = world.through_router(router_host, "/").text + world.through_router(router_host, "/report").text
        outputs.append(("fork preview pages", pages))
    (world.tmp / "reports.json").write_text(json.dumps(reports, indent=1))  # for a post-mortem
    problems += world.router_intact() + world.host_side()
    for context, report in sorted(reports.items()):
        problems += world.problems(report, where=f"fork preview {context}")
    for where, text in outputs:
        problems += world.leaks(text, where=where)
    return problems
