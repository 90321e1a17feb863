"""Speed of `tickwire generate`: a 10 M message ITCH day as binaryFILE and as MoldUDP64 pcap.

Method: each configuration runs ``generate_day`` in this process once as warm-up and ``--runs``
times timed (wall and CPU of the process), writing to /dev/null (generation + framing only) and
once to a real file under var/bench (adds the page-cache write). Reports the best and median wall
time, messages/s, ns/message, output MB/s and peak RSS.

    .venv/bin/python bench/bench_generate.py [--messages 10000000] [--symbols 2000] [--runs 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import ROOT, VAR, Results, machine, peak_rss_mib  # noqa: E402

sys.path.insert(0, str(ROOT))


def timed(path, messages, symbols, pcap):
    from lab.daygen import generate_day

    c0, t0 = time.process_time(), time.perf_counter()
    r = generate_day(path, messages, symbols, 7, pcap=pcap)
    return time.perf_counter() - t0, time.process_time() - c0, r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000_000)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    res = Results("generate", f"in process: a warm-up of 1 M messages, then best and median wall of {args.runs} "
                              "runs to /dev/null; one run to a file under var/bench")
    print(f"# {machine()}")
    print(f"# tickwire generate: {args.messages:,} messages, {args.symbols} symbols, seed 7")
    print(f"{'output':<22} {'best s':>8} {'median s':>9} {'cpu s':>7} {'M msg/s':>8} {'ns/msg':>7} {'MB/s':>7}"
          f" {'bytes':>13}")
    VAR.mkdir(parents=True, exist_ok=True)
    for pcap in (False, True):
        kind = "pcap" if pcap else "binaryFILE"
        timed(os.devnull, min(args.messages, 1_000_000), args.symbols, pcap)       # warm-up
        runs = [timed(os.devnull, args.messages, args.symbols, pcap) for _ in range(args.runs)]
        walls = [w for w, _, _ in runs]
        best = min(walls)
        cpu = min(c for _, c, _ in runs)
        raw = runs[0][2]["raw_bytes"]
        print(f"{kind + ' -> /dev/null':<22} {best:8.2f} {statistics.median(walls):9.2f} {cpu:7.2f} "
              f"{args.messages / best / 1e6:8.2f} {best / args.messages * 1e9:7.0f} {raw / best / 1e6:7.0f} {raw:13,}")
        res.figures[f"{kind}/devnull"] = {"best_s": best, "median_s": statistics.median(walls), "cpu_s": cpu,
                                          "msgs_per_s": args.messages / best, "bytes": raw}
        out = VAR / f"bench_generate.{'pcap' if pcap else 'itch'}"
        wall, cpu, r = timed(out, args.messages, args.symbols, pcap)
        print(f"{kind + ' -> file':<22} {wall:8.2f} {wall:9.2f} {cpu:7.2f} {args.messages / wall / 1e6:8.2f} "
              f"{wall / args.messages * 1e9:7.0f} {r['bytes'] / wall / 1e6:7.0f} {r['bytes']:13,}")
        res.figures[f"{kind}/file"] = {"wall_s": wall, "cpu_s": cpu, "msgs_per_s": args.messages / wall,
                                       "bytes": r["bytes"]}
        out.unlink()
    print(f"# peak RSS {peak_rss_mib():.0f} MiB")
    res.figures["messages"] = args.messages
    res.figures["peak_rss_mib"] = peak_rss_mib()
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
