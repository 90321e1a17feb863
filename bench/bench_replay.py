"""Parse + book (+ BBO-change detection) over a generated ITCH day, tickwire beside itch-book.

Method: the day (binaryFILE, >= 10 M messages, `tickwire generate`) is read into memory once per
process; each configuration runs in its own subprocess (so peak RSS is its own), does one warm-up
pass on a fresh book set, then N timed passes, each on a fresh book set, and reports the best and
the median. Timed: framing + decode + book apply (+ BBO tracking), no file I/O. The peer is the
fastest pip-installable one, `itch-book` (C++23 core), fed the same bytes through its documented
Session API: tables=["bbo"] with BBO tracking, tables=[] book-only.

    .venv/bin/python bench/bench_replay.py [--messages 10000000] [--symbols 2000] [--runs 3] [FILE]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import ROOT, Results, generated_day, machine, peak_rss_mib  # noqa: E402

sys.path.insert(0, str(ROOT))       # this tree's build, not whatever `book` the environment has

CONFIGS = [("tickwire", True), ("itch-book", True), ("tickwire", False), ("itch-book", False)]


def run_tickwire(buf: bytes, bbo: bool) -> tuple[int, dict]:
    from book.builder import BookBuilder
    from feedhandlers.itch import ItchFramer

    books = BookBuilder()
    books.track_bbo = bbo
    framer = ItchFramer(books)
    framer.feed(buf)
    framer.finish()
    stats = framer.stats()
    counters = books.counters()
    return stats["messages"], {"live_orders": books.live_orders, "crossed_books": books.crossed_books(),
                               "unknown_refs": counters["unknown_refs"], "bbo_changes": counters["bbo_changes"]}


def run_peer(buf: bytes, bbo: bool) -> tuple[int, dict]:
    from itch_book._core import Session

    session = Session(tables=["bbo"] if bbo else [], depth=0, symbols=[])
    if bbo:
        session.reserve(len(buf) // 20)
    session.feed(buf)
    stats = session.stats()
    extra = {k: stats[k] for k in ("live_orders", "crossed_books") if k in stats}
    if bbo:
        extra["bbo_changes"] = int(session.rows())
    return int(stats["messages"]), extra


def worker(path: str, impl: str, bbo: bool, runs: int) -> dict:
    buf = Path(path).read_bytes()
    fn = run_tickwire if impl == "tickwire" else run_peer
    fn(buf, bbo)  # warm-up: page in, JIT-free but caches and allocator warmed
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        messages, extra = fn(buf, bbo)
        times.append(time.perf_counter() - t0)
    best, median = min(times), statistics.median(times)
    return {"impl": impl, "bbo": bbo, "messages": messages, "best_s": best, "median_s": median,
            "msgs_per_s": messages / best, "ns_per_msg": best * 1e9 / messages,
            "median_msgs_per_s": messages / median, "peak_rss_mib": peak_rss_mib(),
            "input_mib": len(buf) / 2**20, **extra}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", help="binaryFILE to replay (default: a generated day)")
    ap.add_argument("--messages", type=int, default=10_000_000)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--worker", nargs=3, metavar=("PATH", "IMPL", "BBO"), help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print results as JSON lines")
    args = ap.parse_args()
    if args.worker:
        path, impl, bbo = args.worker
        print(json.dumps(worker(path, impl, bbo == "1", args.runs)))
        return 0

    res = Results("replay", f"each configuration in its own process: one warm-up pass, then best and median of "
                            f"{args.runs} timed passes, each on a fresh book set; no file I/O timed")
    path = Path(args.file) if args.file else generated_day(args.messages, args.symbols, args.seed)
    res.figures["input"] = {"file": path.name, "mib": round(path.stat().st_size / 2**20, 1), "runs": args.runs}
    print(f"# bench_replay: {path.name}, {path.stat().st_size / 2**20:.0f} MiB, best of {args.runs} after a warm-up")
    print(f"# {machine()}")
    results = []
    for impl, bbo in CONFIGS:
        try:
            import importlib
            importlib.import_module("itch_book" if impl == "itch-book" else "book.builder")
        except ImportError as e:
            print(f"# {impl}: not available ({e})")
            continue
        out = subprocess.run([sys.executable, __file__, "--runs", str(args.runs), "--worker", str(path), impl,
                              "1" if bbo else "0"], cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"# {impl} failed:\n{out.stderr}")
            continue
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        res.figures[f"{r['impl']}/{'bbo' if r['bbo'] else 'book-only'}"] = r
    if args.json:
        for r in results:
            print(json.dumps(r))
        res.save()
        return 0
    print(f"{'implementation':<12} {'mode':<10} {'messages':>12} {'M msgs/s':>9} {'ns/msg':>7} "
          f"{'median M/s':>10} {'peak RSS MiB':>12} {'live orders':>11} {'crossed':>7}")
    for r in results:
        print(f"{r['impl']:<12} {'book+BBO' if r['bbo'] else 'book-only':<10} {r['messages']:>12,} "
              f"{r['msgs_per_s'] / 1e6:>9.2f} {r['ns_per_msg']:>7.1f} {r['median_msgs_per_s'] / 1e6:>10.2f} "
              f"{r['peak_rss_mib']:>12.0f} {r.get('live_orders', '-'):>11} {r.get('crossed_books', '-'):>7}")
    by = {(r["impl"], r["bbo"]): r for r in results}
    for bbo in (True, False):
        ours, peer = by.get(("tickwire", bbo)), by.get(("itch-book", bbo))
        if ours and peer:
            print(f"# {'book+BBO' if bbo else 'book-only'}: tickwire / itch-book = "
                  f"{ours['msgs_per_s'] / peer['msgs_per_s']:.2f}x")
            res.figures[f"ratio/{'bbo' if bbo else 'book-only'}"] = ours["msgs_per_s"] / peer["msgs_per_s"]
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
