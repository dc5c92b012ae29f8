"""Cold deploy of each tests/apps corpus app, against the same app started by hand.

- slipway: from spawning `slipway deploy APP` (fresh $SLIPWAY_HOME: no cached venv, node_modules or pip /
  npm cache) to the first answer through Caddy that has the expected status and text; for an app that
  must fail, to the CLI printing the failure (and the reason is checked).
- by hand, in the same run, after Slipway (any warm-up of the network path goes to the baseline): a fresh
  folder with the app's files, `python3 -m venv` + `pip install -r requirements.txt` (+ `manage.py
  collectstatic` for Django) or `npm ci`/`npm install` (+ `npm run build`), then the Procfile's web
  command (or `npm start`) with PORT set, to its first answer — fresh pip/npm caches too. By hand nobody
  reads .python-version or engines.node, so an app that Slipway refuses does start by hand: the ratio then
  says how soon the refusal came compared to a start that ignores the request.

Usage: .venv/bin/python bench/app_deploy_time.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import free_port, platform, report, row, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.integration.apps.corpus import CorpusApp, apps  # noqa: E402

from slipway.builds.config import parse_procfile  # noqa: E402

HOST_PYTHON = shutil.which("python3") or sys.executable


def app_files(app: CorpusApp) -> dict[str, str]:
    return {str(p.relative_to(app.folder)): p.read_text() for p in sorted(app.folder.rglob("*"))
            if p.is_file() and p.name != "expect.toml"}


def answers(client: httpx.Client, url: str, app: CorpusApp, host: str) -> bool:
    assert app.ok is not None
    try:
        response = client.get(url + str(app.ok.get("path", "/")), headers={"Host": host})
    except httpx.HTTPError:
        return False
    return response.status_code == int(app.ok.get("status", 200)) and all(t in response.text for t in app.contains)


def with_slipway(sw, client: httpx.Client, app: CorpusApp) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    repo = app.repository(sw.tmp / "repos" / app.name)
    sw.cli_json("apps", "create", app.name, "--git", f"file://{repo}", "--branch", "main")
    if app.env:
        sw.cli("env", "set", app.name, *(f"{k}={v}" for k, v in app.env.items()), "--no-deploy")
    t0 = time.monotonic()
    cli = sw.cli_popen("deploy", app.name, "--json")
    try:
        if app.ok is not None:
            while not answers(client, sw.router_url, app, sw.host(app.name)):
                if cli.poll() is not None and cli.returncode != 0:  # the deploy failed: it will never serve
                    return time.monotonic() - t0, f"UNEXPECTED: {cli.communicate()[0][-200:]}"
                if time.monotonic() - t0 > 600:
                    return time.monotonic() - t0, "UNEXPECTED: not serving after 600 s"
                time.sleep(0.02)
            took = time.monotonic() - t0
            cli.communicate(timeout=120)
            return took, "serving"
        out, _ = cli.communicate(timeout=600)
        took = time.monotonic() - t0
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    reason = str(json.loads(out).get("reason") or "")
    assert app.failed is not None
    ok = str(app.failed["reason_contains"]) in reason
    return took, ("failed as expected" if ok else f"UNEXPECTED: {reason[:120]}")


def by_hand(app: CorpusApp, client: httpx.Client) -> float:
    """venv/npm install + start in a fresh folder, to the first expected answer (seconds)."""
    with tempfile.TemporaryDirectory(prefix=f"slipway-bench-hand-{app.name}-") as tmp:
        work = Path(tmp) / "app"
        for name, text in app_files(app).items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
        env.update({**app.env, "PIP_CACHE_DIR": f"{tmp}/pip", "npm_config_cache": f"{tmp}/npm",
                    "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        port = free_port()
        t0 = time.monotonic()
        procfile = parse_procfile((work / "Procfile").read_text()) if (work / "Procfile").is_file() else {}
        if (work / "requirements.txt").is_file():
            run([HOST_PYTHON, "-m", "venv", "venv"], work, env)
            env["PATH"] = f"{work}/venv/bin:{env['PATH']}"
            run(["venv/bin/pip", "install", "-q", "-r", "requirements.txt"], work, env)
            if (work / "manage.py").is_file():
                run(["venv/bin/python", "manage.py", "collectstatic", "--noinput"], work, env)
        else:
            lock = (work / "package-lock.json").is_file()
            run(["npm", "ci" if lock else "install", "--no-audit", "--no-fund"], work, env)
            if '"build"' in (work / "package.json").read_text():
                run(["npm", "run", "build"], work, env)
        command = procfile.get("web", "npm start")
        server = subprocess.Popen(["/bin/sh", "-c", f"exec {command}"], cwd=work, env={**env, "PORT": str(port)},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            probe = app if app.ok is not None else CorpusApp(app.name, app.folder, "local", ok={"status": 200})
            wait_until(lambda: answers(client, f"http://127.0.0.1:{port}", probe, f"{app.name}.localhost"),
                       timeout=300, every=0.02)
            return time.monotonic() - t0
        finally:
            os.killpg(server.pid, 15)
            server.wait(10)


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="corpus app names (default: every local one)")
    args = parser.parse_args()
    corpus = [a for a in apps() if a.runtime == "local" and (not args.only or a.name in args.only)]
    results: dict[str, tuple[float, str]] = {}
    with platform("app-deploy-time") as sw, httpx.Client(timeout=5) as client:
        for app in corpus:
            results[app.name] = with_slipway(sw, client, app)
            print(f"{app.name}: slipway {results[app.name][1]} after {results[app.name][0]:.2f}s", flush=True)
    rows, hand = [], {}
    with httpx.Client(timeout=5) as client:
        for app in corpus:
            hand[app.name] = by_hand(app, client)
            print(f"{app.name}: by hand serving after {hand[app.name]:.2f}s", flush=True)
            took, outcome = results[app.name]
            limit = float(app.failed.get("within_seconds", 10)) if app.failed else None  # type: ignore[arg-type]
            rows.append(row(f"{app.name}: {outcome}", took, "s", baseline=hand[app.name],
                            ratio=took / hand[app.name], target=f"<= {limit:g} s" if limit else "",
                            met=(took <= limit and outcome == "failed as expected") if limit else None))
    report("app_deploy_time", rows, {"slipway_s": results, "by_hand_s": hand})
    unexpected = [name for name, (_, outcome) in results.items() if outcome.startswith("UNEXPECTED")]
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
