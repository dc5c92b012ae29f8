"""Start-up of the CLI: wall time of `slipway --version`, `--help` and `apps list --json` (against a
running server and against a refused connection), in one run with two baselines:

- `python -c pass`: the interpreter alone, the floor of any Python CLI;
- `python -c "import typer"`: the floor of a Typer CLI (Typer is what parses our command line).

Target: <= 0.3 s (median) for `--version` and for `apps list --json`. Each command runs `--runs` times,
interleaved with the baselines (so a busy moment hits all of them alike), after one warm-up run each.
Python writes its bytecode cache on that first run as it does on a user's machine: PYTHONDONTWRITEBYTECODE
is removed from the children's environment (pass --no-bytecode-cache to keep it and measure compiling
the CLI's own modules on every run). Also printed: the slowest imports of `apps list --json`
(`python -X importtime`), the packages a client command loads.

Usage: .venv/bin/python bench/cli_startup.py [--runs 15] [--no-bytecode-cache]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request

from harness import SLIPWAY, free_port, median, platform, report, row

TARGET_S = 0.3


def wall(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                   check=False, timeout=60)
    return time.perf_counter() - t0


def api_answer(url: str, token: str) -> float:
    """One `GET /apps` from this (already started) process: the server's share of `apps list`."""
    request = urllib.request.Request(url + "/api/v1/apps", headers={"Authorization": f"Bearer {token}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return time.perf_counter() - t0


def top_imports(argv: list[str], env: dict[str, str], count: int = 8) -> list[tuple[str, float]]:
    """The top-level imports (not nested in another) of a command, slowest first, in ms."""
    result = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, check=False, timeout=60)
    found: dict[str, float] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith(" ") and not name.startswith("  "):  # depth 0: "| name", nested: "|   name"
            top = name.strip().split(".")[0]
            found[top] = found.get(top, 0.0) + int(cumulative) / 1000
    return sorted(found.items(), key=lambda kv: -kv[1])[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="Keep PYTHONDONTWRITEBYTECODE if set (compile our modules on every run).")
    args = parser.parse_args()

    with platform("cli-startup") as sw:
        sw.cli("apps", "create", "startup-demo")  # a non-empty list to render
        env = dict(sw.env)
        if not args.no_bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        refused = {**env, "SLIPWAY_URL": f"http://127.0.0.1:{free_port()}"}
        cases: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            "python -c 'import typer'": ([sys.executable, "-c", "import typer"], env),
            "slipway --version": ([SLIPWAY, "--version"], env),
            "slipway --help": ([SLIPWAY, "--help"], env),
            "slipway apps list --json": ([SLIPWAY, "apps", "list", "--json"], env),
            "slipway apps list (table)": ([SLIPWAY, "apps", "list"], env),
            "slipway apps list --json (refused)": ([SLIPWAY, "apps", "list", "--json"], refused),
        }
        samples: dict[str, list[float]] = {name: [] for name in [*cases, "GET /api/v1/apps (server answer)"]}
        for argv, case_env in cases.values():  # warm-up: disk cache, bytecode cache
            wall(argv, case_env)
        print(f"[cli_startup] {args.runs} runs of {len(cases)} commands, interleaved", flush=True)
        for _ in range(args.runs):
            for name, (argv, case_env) in cases.items():
                samples[name].append(wall(argv, case_env))
            samples["GET /api/v1/apps (server answer)"].append(api_answer(sw.api_url, env["SLIPWAY_TOKEN"]))
        imports = top_imports([SLIPWAY, "apps", "list", "--json"], env)

    medians = {name: median(values) for name, values in samples.items()}
    floor, typer_floor = medians["python -c pass"], medians["python -c 'import typer'"]
    rows = [row("python -c pass (baseline)", floor, "s"),
            row("python -c 'import typer' (baseline)", typer_floor, "s"),
            row("GET /api/v1/apps (server answer, in-process)", medians["GET /api/v1/apps (server answer)"], "s")]
    for name in list(cases)[2:]:  # the CLI's cases
        targeted = name in ("slipway --version", "slipway apps list --json")
        rows.append(row(name, medians[name], "s", baseline=typer_floor, ratio=medians[name] / typer_floor,
                        target=f"<= {TARGET_S} s" if targeted else "",
                        met=medians[name] <= TARGET_S if targeted else None))
    print("\nslowest top-level imports of `slipway apps list --json` (ms, -X importtime, cumulative):")
    for name, ms in imports:
        print(f"  {name:28} {ms:8.1f}")
    report("cli_startup", rows, {"samples_s": samples, "ratio_baseline": "python -c 'import typer'",
                                 "python_floor_s": floor, "top_imports_ms": dict(imports),
                                 "bytecode_cache": not args.no_bytecode_cache,
                                 "pythondontwritebytecode": os.environ.get("PYTHONDONTWRITEBYTECODE")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
