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
import signal
import subprocess
import sys
import time
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
    from tickwire.demo import GROUP, IDLE

    s = json.dumps(syms)
    (run / "risk.toml").write_text(
        "[sizes]\nmax_accounts = 16\nmax_firms = 4\nmax_symbols = 64\nmax_orders = 1_000_000\n\n"
        "[defaults.account]\nmax_order_qty = 5_000\nmax_order_notional = 2_000_000.00\nmax_open_orders = 1_000\n"
        "max_net_position = 2_000_000\n\n[defaults.symbol]\ncollar_pct = 10\n")
    (run / "taker.toml").write_text(f"symbols = {s}\n\n{PARAMS}")
    ncpu = len(os.sched_getaffinity(0))
    core = (lambda i: i % ncpu) if ncpu > 1 else (lambda i: 0)
    feed_strategy = (f'strategy = "{CLASSES[mode]}"\nstrategy_config = "taker.toml"\nstrategy_user = "taker"\n'
                     'strategy_credential_env = "TW_BENCH_TAKER"\n') if mode == "fast-in-feed" else ""
    host = (f'[[strategy]]\nname = "taker"\nclass = "{CLASSES[mode]}"\nconfig = "taker.toml"\nuser = "taker"\n'
            f'credential_env = "TW_BENCH_TAKER"\ncore = {core(1)}\nidle = "{IDLE}"\n') if mode != "fast-in-feed" else ""
    path = run / "appliance.toml"
    path.write_text(f"""[appliance]
name = "bench-{mode}"
aeron_dir = "{aeron_dir}"
driver = "auto"
run_dir = "."
stop_timeout_s = 5.0

[feed]
core = {core(1)}
idle = "{IDLE}"
source = "udp"
line_a = "{GROUP}"
interface = "lo"
symbols = {s}
{feed_strategy}
[gateway]
core = {core(0)}
idle = "{IDLE}"
symbols = {s}
risk = "risk.toml"
journal = "journal"
heartbeat_timeout_ms = 2000

[[gateway.user]]
name = "taker"
account = "TK-1"
firm = "TAKERS"
credential = "{hash_credential(cred)}"

{host}""")
    return path


def run_mode(mode, day, syms, rate, seconds, run: Path, env) -> dict:
    from analytics import latency as L
    from tickwire.demo import GROUP

    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    cred = secrets.token_urlsafe(16)
    cfg = write_config(run, mode, syms, f"/dev/shm/tw-bench-ttf-{os.getpid()}", cred)
    env = dict(env, TW_BENCH_TAKER=cred)
    log = run / "appliance.log"
    with open(log, "wb") as lf:
        app = subprocess.Popen([sys.executable, "-m", "tickwire", "run", str(cfg)], stdout=lf, stderr=subprocess.STDOUT,
                               env=env, cwd=run)
    try:
        deadline = time.monotonic() + 60
        while b"running:" not in log.read_bytes():
            if app.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{mode}: the appliance did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        sender = subprocess.Popen([sys.executable, "-m", "tickwire", "send", day, "--to", GROUP, "--rate", str(rate)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds and sender.poll() is None:
            time.sleep(0.5)
        if sender.poll() is None:
            sender.send_signal(signal.SIGINT)
        try:
            sender.wait(10)
        except subprocess.TimeoutExpired:
            sender.kill()
            sender.wait()
        time.sleep(0.5)
    finally:
        if app.poll() is None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(30)
            except subprocess.TimeoutExpired:
                app.kill()
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
