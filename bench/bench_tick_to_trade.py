"""Tick-to-trade per hop and end to end, through the whole appliance (`tickwire demo`), at fixed rates.

Method: `tickwire demo --rate R --seconds S --json` runs the media driver, the feed service, the gateway
and both example strategies as separate processes on this machine (every duty loop with the backoff
idle strategy: 2 cores), and replays the sample day over loopback multicast at R messages/s with TWTS
stamps of each packet's INTENDED send time. Every order carries the stamps of the market data it
answers; the first execution report of each order closes one row. Percentiles per hop come from an
HdrHistogram (analytics/latency.py) over all rows of the run (no warm-up is dropped: the first second
of a strategy is part of what a user gets).

    .venv/bin/python bench/bench_tick_to_trade.py [--rates 10000,100000] [--seconds 15]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._util import Results  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="10000,100000")
    ap.add_argument("--seconds", type=float, default=15.0)
    args = ap.parse_args()
    res = Results("tick_to_trade", __doc__.split("\n\n")[1].replace("\n", " "))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    day = ROOT / "var" / "sample.itch"
    if not day.exists():
        subprocess.run([sys.executable, "-m", "tickwire", "generate", str(day), "--messages", "2000000",
                        "--symbols", "1000", "--seed", "1"], check=True, env=env)
    for rate in (int(r) for r in args.rates.split(",")):
        run_dir = ROOT / "var" / "bench" / f"tick_to_trade-{rate}"
        r = subprocess.run([sys.executable, "-m", "tickwire", "demo", "--rate", str(rate), "--seconds",
                            str(args.seconds), "--run-dir", str(run_dir), "--json"],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            print(r.stderr[-3000:], file=sys.stderr)
            return 1
        s = json.loads(r.stdout)
        lat = s.get("latency")
        if not lat:
            print(f"rate {rate}: no latency rows (no order reached the gateway)", file=sys.stderr)
            res.figures[str(rate)] = {"rows": 0}
            continue
        print(f"\n## {rate:,} messages/s, {args.seconds:g} s ({lat['rows']} orders)")
        print(f"{'hop':<42} {'count':>8} {'p50 us':>9} {'p90 us':>9} {'p99 us':>9} {'p99.9 us':>9} {'max us':>9}")
        for h in lat["hops"]:
            if h["count"]:
                print(f"{h['hop']:<42} {h['count']:>8} " + " ".join(
                    f"{h[k] / 1000:>9.1f}" for k in ("p50", "p90", "p99", "p99.9", "max")))
        res.figures[str(rate)] = {"rows": lat["rows"], "hops": {h["hop"]: {k: h.get(k) for k in (
            "count", "p50", "p90", "p99", "p99.9", "max")} for h in lat["hops"]}}
    res.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
