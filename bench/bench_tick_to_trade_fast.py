"""Tick-to-trade of the fast strategy path, both modes, against the Python strategy host, at a fixed rate.

Method: for each mode the same strategy decisions (``strategy.examples.taker`` rules: an IOC when the
spread is at least 2 ticks, at most one order per 200 us of feed time) run on this machine's whole
appliance (`tickwire run`: media driver, feed service on loopback multicast, gateway with the demo's risk
limits), every duty loop on the demo's backoff idle strategy (2 shared cores), while `tickwire send`
replays the sample day at R messages/s with TWTS stamps of each packet's intended send time:

- python: ``strategy.examples.taker:Taker`` in ``services.strategy_host`` (MarketDataClient, Python);
- fast-process: ``strategy.examples.fast_taker:FastTaker`` in ``services.strategy_host`` (nogil fragment
  handler, NewOrder encoded in a claimed buffer);
- fast-in-feed: the same FastTaker as ``[feed] strategy``, called in the feed's thread (no md_pub /
  strat_rx stamps: that hop does not exist).

Every order carries the stamps of the BBO it answers; its first execution report closes one row.
Percentiles per hop (HdrHistogram, analytics/latency.py) over all rows of the run.

    .venv/bin/python bench/bench_tick_to_trade_fast.py [--rate 100000] [--seconds 15] [--modes python,fast-process,fast-in-feed]
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._util import Results  # noqa: E402

PARAMS = "[params]\nqty = 100\nmin_spread_ticks = 2\nmax_position = 1000000\nmin_interval_us = 200\n"
CLASSES = {"python": "strategy.examples.taker:Taker", "fast-process": "strategy.examples.fast_taker:FastTaker",
           "fast-in-feed": "strategy.examples.fast_taker:FastTaker"}
SHOWN = ("book update", "md encode + publish", "md over Aeron", "strategy", "book -> order sent (either strategy mode)",
         "tick-to-trade (send -> order sent)", "tick-to-trade (rx -> order sent)", "order over Aeron",
         "order round trip (order sent -> report)")


def write_config(run: Path, mode: str, syms: list[str], aeron_dir: str, cred: str) -> Path:
    from access.credentials import hash_credential
    from tickwire.demo import appliance_text

    (run / "risk.toml").write_text(
        "[sizes]\nmax_accounts = 16\nmax_firms = 4\nmax_symbols = 64\nmax_orders = 1_000_000\n\n"
        "[defaults.account]\nmax_order_qty = 5_000\nmax_order_notional = 2_000_000.00\nmax_open_orders = 1_000\n"
        "max_net_position = 2_000_000\n\n[defaults.symbol]\ncollar_pct = 10\n")
    (run / "taker.toml").write_text(f"symbols = {json.dumps(syms)}\n\n{PARAMS}")
    in_feed = mode == "fast-in-feed"
    feed_extra = (f'strategy = "{CLASSES[mode]}"\nstrategy_config = "taker.toml"\nstrategy_user = "taker"\n'
                  'strategy_credential_env = "TW_BENCH_TAKER"\n') if in_feed else ""
    strategies = [] if in_feed else [{"name": "taker", "class": CLASSES[mode], "config": "taker.toml", "user": "taker",
                                      "credential_env": "TW_BENCH_TAKER", "core": 1}]
    path = run / "appliance.toml"
    path.write_text(appliance_text(f"bench-{mode}", aeron_dir, syms, [("taker", "TK-1", "TAKERS", hash_credential(cred))],
                                   strategies, feed_extra))
    return path


def run_mode(mode, day, syms, rate, seconds, run: Path, env) -> dict:
    from analytics import latency as L
    from tickwire.demo import replay_through

    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    cred = secrets.token_urlsafe(16)
    cfg = write_config(run, mode, syms, f"/dev/shm/tw-bench-ttf-{os.getpid()}", cred)
    rc = replay_through(cfg, day, rate, seconds, dict(env, TW_BENCH_TAKER=cred),
                        tell=lambda text: print(f"{mode}: {text}", file=sys.stderr, flush=True))
    if rc == 3:
        raise RuntimeError(f"{mode}: the appliance did not start (see {run / 'appliance.log'})")
    files = sorted(run.glob("*.latency.npy"))
    if not files:
        return {"rows": 0}
    s = L.summarize(L.load(files))
    return {"rows": s["rows"], "hops": {h["hop"]: {k: h.get(k) for k in ("count", "p50", "p90", "p99", "p99.9", "max")}
                                        for h in s["hops"]}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--modes", default="python,fast-process,fast-in-feed")
    ap.add_argument("--symbols", type=int, default=4)
    args = ap.parse_args()
    from tickwire.demo import most_active

    res = Results("tick_to_trade_fast", __doc__.split("\n\n")[1].replace("\n", " "))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    day = ROOT / "var" / "sample.itch"
    if not day.exists():
        subprocess.run([sys.executable, "-m", "tickwire", "generate", str(day), "--messages", "2000000",
                        "--symbols", "1000", "--seed", "1"], check=True, env=env)
    syms = most_active(str(day), args.symbols)
    res.figures["params"] = {"rate": args.rate, "seconds": args.seconds, "symbols": syms}
    for mode in args.modes.split(","):
        r = run_mode(mode, str(day), syms, args.rate, args.seconds, ROOT / "var" / "bench" / f"ttt-fast-{mode}", env)
        res.figures[mode] = r
        print(f"\n## {mode}: {args.rate:,} messages/s, {args.seconds:g} s ({r['rows']} orders)")
        if not r["rows"]:
            continue
        print(f"{'hop':<44} {'count':>7} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8} {'p99.9 us':>9} {'max us':>9}")
        for hop in SHOWN:
            h = r["hops"].get(hop)
            if h and h["count"]:
                print(f"{hop:<44} {h['count']:>7} " + " ".join(
                    f"{h[k] / 1000:>8.1f}" for k in ("p50", "p90", "p99")) + f" {h['p99.9'] / 1000:>9.1f} {h['max'] / 1000:>9.1f}")
    res.save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
