#!/usr/bin/env python3
"""Benchmark: SBE encode + decode of BboUpdate and NewOrder in a Cython loop (messaging/sbe_wire.pxd).

Usage::

    bench/bench_codec.py [--messages N] [--runs R]

The loop (``bench/codec_runs.pyx``) does, per message: ``put_*`` (header, zeroed block) and every
field set in place, a compiler barrier (the bytes go to memory and are read back, as by a reader in
another process), ``sbe_check`` and the fields read from the block struct into a checksum. Also the
encode half alone and the decode half alone (decoding a ring of 64 pre-encoded messages).
Method: one warm-up run of 1 M messages, then ``--runs`` runs of ``--messages`` (10 M) each; a
run's figure is its mean ns per message (CLOCK_MONOTONIC read once before and once after the loop,
no per-message timing, no histogram); the JSON keeps every run's mean, the best and the median.
Goal (issue 8): encode + decode under 50 ns per message.
"""
import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._util import Results, machine  # noqa: E402
from bench.codec_runs import run  # noqa: E402

GOAL_NS = 50.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args(argv)
    res = Results("codec", f"Cython loop over messaging/sbe_wire.pxd (bench/codec_runs.pyx): warm-up 1 M, then "
                           f"{a.runs} runs of {a.messages:,} messages; per run the mean ns/message from one "
                           "CLOCK_MONOTONIC read each side of the loop; compiler barrier between encode and decode")
    print(f"# {machine()}")
    ok = True
    for message in ("BboUpdate", "NewOrder"):
        for what in ("both", "encode", "decode"):
            run(message, what, 1_000_000)
            means = [run(message, what, a.messages)[0] for _ in range(a.runs)]
            best, med = min(means), statistics.median(means)
            res.figures[f"{message}/{what}"] = {"messages": a.messages, "runs_ns": means, "best_ns": best,
                                                "median_ns": med}
            line = f"{message:<10} {what:<7} best {best:6.2f} ns/msg  median {med:6.2f} ns/msg"
            if what == "both":
                ok &= med < GOAL_NS
                line += f"  (goal < {GOAL_NS:.0f} ns: {'met' if med < GOAL_NS else 'NOT met'})"
            print(line)
    res.figures["goal_ns"] = GOAL_NS
    res.figures["goal_met"] = ok
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
