#!/usr/bin/env python3
"""Paired A/B throughput of two builds of the engine (for changes smaller than this VM's noise).

Two worker processes, one per source tree (each built: ``make build`` or
``TW_MODULES=engine .venv/bin/python setup.py build_ext --inplace``), each holding the bench_engine
stream; they take turns, one throughput run each per pair (order alternated), so both builds see the
same phase of the host. Reports each build's median and best and the median of the per-pair ratios.

    git worktree add /tmp/base HEAD~1 && (cd /tmp/base && make build)
    .venv/bin/python bench/ab_engine.py --base /tmp/base --pairs 12            # risk + match
    .venv/bin/python bench/ab_engine.py --base /tmp/base --pipeline match
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def worker(root: str, n: int, pipeline: str) -> None:
    sys.path[:0] = [root, os.path.join(root, "bench")]
    import bench_engine as be
    pre, s = be.make_stream(n)
    be.fix_owners(pre, s)
    print("ready", flush=True)
    for _ in sys.stdin:
        with contextlib.redirect_stdout(sys.stderr):     # stdout is the pipe to the parent
            rate = be.throughput(pre, s, risk=be.risk_hook() if pipeline == "risk" else None)
        print(f"{rate / 1e6:.4f}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="source tree of the base build")
    ap.add_argument("--cand", default=str(HERE.parent), help="source tree of the candidate (default: this one)")
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--commands", type=int, default=2_000_000)
    ap.add_argument("--pipeline", choices=("risk", "match"), default="risk", help="risk + match, or matching alone")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker, a.commands, a.pipeline)
        return 0
    procs = {}
    for name, root in (("base", a.base), ("cand", a.cand)):
        procs[name] = subprocess.Popen([sys.executable, __file__, "--base", a.base, "--worker", os.path.abspath(root),
                                        "--commands", str(a.commands), "--pipeline", a.pipeline],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                       text=True)
    for p in procs.values():
        if p.stdout.readline().strip() != "ready":
            raise SystemExit("a worker failed to start (is its tree built?)")
    got = {"base": [], "cand": []}
    for i in range(a.pairs):
        for name in (("base", "cand") if i % 2 == 0 else ("cand", "base")):
            procs[name].stdin.write("go\n")
            procs[name].stdin.flush()
            got[name].append(float(procs[name].stdout.readline()))
    for p in procs.values():
        p.stdin.close()
        p.wait()
    ratios = [c / b for b, c in zip(got["base"], got["cand"])]
    label = "risk+match" if a.pipeline == "risk" else "match"
    for name, v in got.items():
        print(f"{name} {label}: median {statistics.median(v):.2f} M commands/s, best {max(v):.2f}")
    print(f"cand/base: median ratio {statistics.median(ratios):.3f} over {a.pairs} pairs "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
