#!/usr/bin/env python3
"""`tickwire match` end to end: order CSV file -> parse -> engine -> events CSV written, in rows/s.

The order flow is bench_engine's mixed stream (prefill of deep books, then 42 % new limit, 33 %
cancel, 15 % modify, 10 % market IOC over 8 symbols, accounts as names ``acct<N>``), written once as a
CSV file (cached in var/bench). Each run feeds the file's bytes through ``engine.csvio.match_csv`` on a
fresh EngineLoop, as the command does, writing the events to /dev/null and to a file; the figure is
input rows per second (best and median of --runs after a warm-up run). Beside it: the engine alone
on the same commands (``run_discard``), and the Python reference parser (``--reference``) on a
slice, so the cost of the CSV layer is visible. Goal (issue 9): at least 2 M rows/s.

    .venv/bin/python bench/bench_match_cli.py            # ~1 min
    .venv/bin/python bench/bench_match_cli.py --quick
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._util import VAR, Results  # noqa: E402
from bench.bench_engine import fix_owners, make_stream  # noqa: E402

HEADER = "seq,action,order_id,account,symbol,side,type,tif,qty,price,stop_price,display_qty,expire_ns"


def order_csv(rows: int) -> Path:
    """The bench's order flow as a CSV file (prefill + ``rows`` mixed commands), made once."""
    VAR.mkdir(parents=True, exist_ok=True)
    path = VAR / f"orders_{rows}.csv"
    if path.exists() and path.stat().st_size:
        return path
    from engine.csvio import format_price
    pre, s = make_stream(rows)
    fix_owners(pre, s)
    act = {1: "new", 2: "cancel", 3: "modify"}
    side = {1: "buy", 2: "sell"}
    lines = [HEADER]
    for k, c in enumerate(list(pre) + list(s)):
        a = int(c["action"])
        new = a == 1
        lines.append(",".join((
            str(k + 1), act[a], str(int(c["order_id"])), f"acct{int(c['account_id'])}",
            f"SYM{int(c['symbol_id'])}" if a != 2 else "", side[int(c["side"])] if new else "",
            ("limit" if int(c["ord_type"]) == 1 else "market") if new else "",
            ("gtc" if int(c["tif"]) == 2 else "ioc" if int(c["tif"]) == 3 else "day") if new else "",
            str(int(c["qty"])) if a != 2 else "", format_price(int(c["price"])) if c["price"] and a != 2 else "",
            "", "", "")))
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.rename(path)
    return path


def one_run(data: bytes, out_path: str, fast: bool = True) -> tuple[float, int, int]:
    """Seconds, rows and events of one match_csv run writing to ``out_path``."""
    from engine.csvio import SymbolTable, match_csv
    from engine.loop import EngineLoop
    loop = EngineLoop(max_orders=1 << 19, max_symbols=64)
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        res = match_csv(data, out, loop, SymbolTable(), fast=fast)
        out.flush()
        dt = time.perf_counter() - t0
    return dt, res.rows, res.events


def engine_alone(data: bytes) -> float:
    """Commands/s of the engine on the same commands (parsed once, events discarded in place)."""
    from bench.engine_runs import run_discard
    from engine.csvio import SymbolTable, match_csv
    from engine.loop import EngineLoop
    loop = EngineLoop(max_orders=1 << 19, max_symbols=64)
    cmds = []
    match_csv(data, open(os.devnull, "wb"), loop, SymbolTable(), tap=lambda c, e: cmds.append(c.copy()))
    import numpy as np
    cmds = np.concatenate(cmds)
    loop = EngineLoop(max_orders=1 << 19, max_symbols=64)
    for sym in range(64):
        loop.engine.add_symbol(sym, 100)
    ns = run_discard(loop, cmds)
    return len(cmds) / (ns / 1e9)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=500_000, help="mixed commands after the prefill (500,000)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="50,000 rows, 2 runs")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.runs = 50_000, 2
    res = Results("match_cli", f"best and median of {args.runs} runs after one warm-up run, each on a fresh "
                               "EngineLoop; rows/s = input rows / wall time from the file's bytes in memory "
                               "to the last event row written")
    path = order_csv(args.rows)
    data = path.read_bytes()
    one_run(data, os.devnull)                                   # warm-up: page cache, allocator, imports
    figs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, dest in (("devnull", os.devnull), ("file", os.path.join(tmp, "events.csv"))):
            times = []
            for _ in range(args.runs):
                dt, rows, events = one_run(data, dest)
                times.append(dt)
            best, med = rows / min(times), rows / statistics.median(times)
            figs[label] = {"rows": rows, "events": events, "best_rows_per_s": best, "median_rows_per_s": med,
                           "bytes": len(data)}
            print(f"match {label:>7}: {rows:,} rows, {events:,} events: best {best / 1e6:.2f} M rows/s, "
                  f"median {med / 1e6:.2f} M rows/s ({1e9 / best:.0f} ns/row)")
        n_ref = min(len(data), 2_000_000)
        cut = data[:data.index(b"\n", n_ref) + 1]
        dt, rows, _ = one_run(cut, os.devnull, fast=False)
        figs["reference"] = {"rows": rows, "rows_per_s": rows / dt}
        print(f"reference parser: {rows:,} rows: {rows / dt / 1e3:.0f} k rows/s")
    eng = engine_alone(data)
    figs["engine_alone"] = {"commands_per_s": eng}
    print(f"engine alone (run_discard, same commands): {eng / 1e6:.2f} M commands/s")
    figs["goal_rows_per_s"] = 2_000_000
    res.figures.update(figs)
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
