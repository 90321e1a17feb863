"""`make bench`: run every bench/bench_*.py in turn and print their figures.

Each run also writes var/bench/<name>.json (``bench/_util.Results``); `make figures` copies them to
docs/figures/ and renders the tables of README.md and docs/ from them (bench/figures.py).
Set BENCH=name1,name2 to run some (e.g. BENCH=replay,engine). A benchmark that fails is reported
and the others still run; the exit code is non-zero if any failed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Runs beyond each bench's default one whose figures the pages show (their JSON is <name>-<variant>.json).
EXTRA_RUNS = {"datapath": [["--decode", "walk"], ["--sources", "afxdp", "--coalesce-us", "100"],
                           ["--sources", "afxdp", "--coalesce-us", "500"], ["--sources", "afxdp", "--coalesce-us", "1000"]]}


def main() -> int:
    wanted = [w for w in os.environ.get("BENCH", "").split(",") if w]
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        for extra in [[]] + EXTRA_RUNS.get(name, []):
            label = " ".join([script.name, *extra])
            print(f"\n=== {label} ===", flush=True)
            t0 = time.perf_counter()
            rc = subprocess.run([sys.executable, str(script), *extra], cwd=HERE.parent).returncode
            print(f"=== {label}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.perf_counter() - t0:.0f} s",
                  flush=True)
            if rc:
                failed.append(label)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
