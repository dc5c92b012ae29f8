"""Run every benchmark one after the other (never in parallel: they would measure each other) and print
one table of all figures. Exit status: the worst of the benchmarks' own exit statuses.

Usage: .venv/bin/python bench/run_all.py [deploy_speed zero_downtime footprint router_overhead]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["deploy_speed", "zero_downtime", "footprint", "router_overhead", "sandbox_cost"]


def main() -> int:
    names = sys.argv[1:] or BENCHES
    results, worst = [], 0
    for name in names:
        print(f"=== {name}", flush=True)
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, str(HERE / f"{name}.py")], capture_output=True, text=True,
                              timeout=300)
        lines = proc.stdout.strip().splitlines()
        sys.stdout.write("\n".join(lines[:-1]) + "\n")  # the bench's own summary, without its JSON line
        if proc.returncode:
            sys.stdout.write(proc.stderr[-3000:])
        worst = max(worst, proc.returncode)
        try:
            result = json.loads(lines[-1])
        except (IndexError, ValueError):
            result = {"bench": name, "rows": [{"figure": "(no result)", "value": float("nan"), "unit": "",
                                               "baseline": None, "ratio": None, "target": "", "met": False}]}
        results.append(result)
        print(f"=== {name}: exit {proc.returncode} after {time.monotonic() - t0:.0f}s\n", flush=True)

    print(f"{'bench':16} {'figure':46} {'value':>16} {'baseline':>10} {'ratio':>7}  target")
    for result in results:
        for r in result["rows"]:
            value = f"{r['value']:.4g} {r['unit']}"
            base = "" if r["baseline"] is None else f"{r['baseline']:.4g}"
            ratio = "" if r["ratio"] is None else f"{r['ratio']:.3g}"
            met = "" if r["met"] is None else (" ok" if r["met"] else " MISSED")
            print(f"{result['bench']:16} {r['figure']:46} {value:>16} {base:>10} {ratio:>7}  {r['target']}{met}")
    print(json.dumps({"results": results}))
    return worst


if __name__ == "__main__":
    sys.exit(main())
