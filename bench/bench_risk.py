"""Cost of pre-trade risk and positions in the engine loop: commands/s, ns/command, paced latency.

Same seeded command stream (limit orders around a moving mid, IOC takers, cancels, modifies,
reference-price updates; 8 accounts x 16 symbols) through EngineLoop with: the matching engine
only; + RiskEngine with limits that are never hit (every check runs, nothing is refused);
+ Positions; + the journal (fsync never). Throughput from ``bench.engine_runs.run_discard`` (best of 3),
then latency at a fixed rate from the intended time (``run_paced``, HdrHistogram, warm-up excluded).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._util import ROOT, Results, machine  # noqa: E402
from bench.engine_runs import run_discard, run_paced  # noqa: E402

ACCOUNTS, SYMBOLS, TICK, MID = 8, 16, 100, 1_000_000

RISK_TOML = f"""
[sizes]
max_accounts = {ACCOUNTS + 1}
max_firms = 4
max_symbols = {SYMBOLS}
max_orders = {{max_orders}}
[defaults.account]
max_order_qty = 1_000_000
max_order_notional = 1_000_000_000
max_open_orders = 1_000_000
max_net_position = 1_000_000_000
max_gross_position = 1_000_000_000
buying_power = 1_000_000_000_000
concentration_pct = 100
order_rate = {{ per_second = 1_000_000_000, burst = 1000 }}
message_rate = {{ per_second = 1_000_000_000, burst = 1000 }}
[defaults.symbol]
margin_pct = 25
collar_pct = 50
"""


def make_stream(n: int, seed: int = 1) -> np.ndarray:
    from messaging.records import COMMAND_DTYPE
    rng = np.random.default_rng(seed)
    c = np.zeros(n, COMMAND_DTYPE)
    c["seq"] = np.arange(1, n + 1)
    c["ts_ns"] = 1_000_000_000 + np.cumsum(rng.integers(0, 2000, n))
    c["account_id"] = rng.integers(1, ACCOUNTS + 1, n)
    c["firm_id"] = 1 + c["account_id"] % 2
    c["session_id"] = c["account_id"]
    c["symbol_id"] = rng.integers(0, SYMBOLS, n)
    kind = rng.random(n)
    new = kind < 0.62
    c["action"] = np.where(new, 1, np.where(kind < 0.80, 2, np.where(kind < 0.92, 3, 8)))
    c["order_id"] = np.where(new, np.arange(1, n + 1), 0)
    # cancels / modifies target a recent order of any account; the engine answers unknown / not owner
    recent = np.maximum(1, np.arange(1, n + 1) - rng.integers(1, 400, n))
    c["order_id"] = np.where(new, c["order_id"], recent)
    c["side"] = rng.integers(1, 3, n)
    c["ord_type"] = 1
    c["tif"] = np.where(rng.random(n) < 0.85, 2, 3)
    c["qty"] = rng.choice([1, 10, 50, 100, 200, 500], n)
    drift = np.cumsum(rng.integers(-1, 2, n)) // 50
    c["price"] = MID + (drift + rng.integers(-10, 11, n)) * TICK
    return c


def build(kind: str, max_orders: int, jdir: Path):
    from engine.recovery import EngineSetup
    from engine.riskconfig import RiskConfig
    cfg = RiskConfig.from_toml_string(RISK_TOML.replace("{max_orders}", str(max_orders))) if kind != "engine" else None
    setup = EngineSetup(symbols={s: TICK for s in range(SYMBOLS)}, risk_config=cfg,
                        positions=kind in ("+positions", "+journal"), max_orders=1 << 18, max_symbols=SYMBOLS)
    eng, risk, pos = setup.fresh()
    journal = None
    if kind == "+journal":
        from engine.journal import Journal
        shutil.rmtree(jdir, ignore_errors=True)
        journal = Journal(jdir, fsync="never", prealloc_bytes=64 << 20)
    return setup.loop(eng, risk, pos, journal), risk


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", type=int, default=500_000)
    ap.add_argument("--rate", type=float, default=200_000, help="paced run: commands per second")
    ap.add_argument("--max-orders", type=int, default=1 << 19, help="risk order table size (ids per day)")
    args = ap.parse_args()
    from hdrh.histogram import HdrHistogram

    res = Results("risk", f"throughput: best of 3 runs of EngineLoop.run_discard per pipeline; latency: one run "
                          f"paced at {args.rate:,.0f}/s from the intended time, HdrHistogram, first "
                          f"{min(50_000, args.commands // 5):,} commands dropped as warm-up")
    cmds = make_stream(args.commands)
    jdir = ROOT / "var" / "bench" / "risk_journal"
    print(f"# bench_risk: {machine()}")
    print(f"# {args.commands} commands, {ACCOUNTS} accounts x {SYMBOLS} symbols, risk table {args.max_orders} ids; "
          f"paced at {args.rate:,.0f}/s")
    print(f"{'pipeline':<12} {'cmds/s':>12} {'ns/cmd':>8} {'rejects':>8} "
          f"{'p50 us':>8} {'p99 us':>8} {'p99.9 us':>9} {'max us':>8}")
    for kind in ("engine", "+risk", "+positions", "+journal"):
        best = None
        for _ in range(3):
            loop, risk = build(kind, args.max_orders, jdir)
            ns = run_discard(loop, cmds)
            best = ns if best is None else min(best, ns)
        rejects = loop.stats()["risk_rejects"]
        loop, _ = build(kind, args.max_orders, jdir)
        warm = min(50_000, len(cmds) // 5)
        lat = np.zeros(len(cmds), np.int64)
        run_paced(loop, cmds, args.rate, lat)
        h = HdrHistogram(1, 10_000_000_000, 3)
        for v in lat[warm:]:
            h.record_value(max(1, int(v)))
        print(f"{kind:<12} {len(cmds) / best * 1e9:12,.0f} {best / len(cmds):8.0f} {rejects:8d} "
              + " ".join(f"{h.get_value_at_percentile(p) / 1000:8.1f}" for p in (50, 99, 99.9))
              + f" {h.get_max_value() / 1000:8.1f}", flush=True)
        res.figures[kind] = {"per_s": len(cmds) / best * 1e9, "ns_per_command": best / len(cmds), "rejects": rejects,
                             **{f"p{p:g}_us": h.get_value_at_percentile(p) / 1000 for p in (50, 99, 99.9)},
                             "max_us": h.get_max_value() / 1000}
    shutil.rmtree(jdir, ignore_errors=True)
    res.figures.update(commands=args.commands, paced_per_s=args.rate)
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
