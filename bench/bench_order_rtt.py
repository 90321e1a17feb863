"""Order round trip: strategy -> gateway -> risk -> match -> execution report -> strategy.

A media driver (child process), the gateway as its own process (``python -m services.gateway``, journal
on /dev/shm, fsync per batch), and here one ``strategy.oe_client.OrderEntryClient`` (the Python client the
strategy host uses). Orders are scheduled at a fixed rate (10 k and 100 k orders/s); each one's latency is
taken from its SCHEDULED send time to the arrival of its first execution report (the Ack), so a client or
gateway that falls behind shows up as latency (no coordinated omission). HdrHistogram, 3 digits.
Orders: limit buys on one symbol below the market that rest (a cancel every 64 orders keeps the book
small), all accepted by the engine.

    .venv/bin/python bench/bench_order_rtt.py [--rates 10000,100000] [--seconds 2] [--idle backoff] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._util import Results, machine  # noqa: E402


def run_rate(a, driver_dir, rate):
    from hdrh.histogram import HdrHistogram
    from access.credentials import hash_credential
    from messaging.channels import DEFAULT_STREAMS
    from messaging.transport import AeronClient
    from strategy.oe_client import OrderEntryClient
    from strategy.ports import OrdType, Side, Tif
    tmp = Path(tempfile.mkdtemp(prefix="tw-bench-rtt-", dir="/dev/shm"))
    try:
        cfg = tmp / "appliance.toml"
        cfg.write_text(
            f'[appliance]\naeron_dir = "{driver_dir}"\nrun_dir = "{tmp}/run"\n'
            f'[gateway]\nidle = "{a.idle}"\nsymbols = ["AAPL"]\njournal = "{tmp}/journal"\nsnapshot_every = 0\n'
            f'heartbeat_timeout_ms = 5000\nmax_orders = 1048576\n'
            f'[[gateway.user]]\nname = "bench"\naccount = "B1"\nfirm = "F1"\n'
            f'credential = "{hash_credential("bench-pw", n=1024)}"\n')
        gw = subprocess.Popen([sys.executable, "-m", "services.gateway", "--config", str(cfg)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=open(tmp / "gateway.log", "wb"))
        try:
            with AeronClient(driver_dir, idle="busy-spin") as c:
                oe = OrderEntryClient(c, "bench", "bench-pw", DEFAULT_STREAMS, heartbeat_ms=1000, symbols=["AAPL"])
                deadline = time.monotonic() + 60
                while not oe.login(1.0):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"bench_order_rtt: no login: {oe.login_reason}")
                n = int(rate * a.seconds)
                warm = min(2000, n // 10)
                sched = [0] * (n + 1)
                hist = HdrHistogram(1, 60_000_000_000, 3)
                got = [0]
                late = [0]

                def on_exec(ex):
                    k = ex.cl_ord_id
                    if ex.kind == 1 and 0 < k <= n:
                        got[0] += 1
                        if k > warm:
                            hist.record_value(max(time.time_ns() - sched[k], 1))
                oe.on_execution = on_exec
                period = 1e9 / rate
                t0 = time.time_ns() + 1_000_000
                k = 1
                while got[0] < n:
                    now = time.time_ns()
                    while k <= n and t0 + (k - 1) * period <= now:
                        sched[k] = int(t0 + (k - 1) * period)
                        if not oe.send_new(k, "AAPL", Side.BUY, 1, 900_000 - (k % 64) * 100, OrdType.LIMIT,
                                           Tif.DAY, 0):
                            late[0] += 1
                        if k % 64 == 0:
                            for j in range(k - 63, k + 1):
                                oe.send_cancel(j)
                        k += 1
                    oe.poll(256)
                    if time.time_ns() - t0 > (a.seconds + 30) * 1e9:
                        break
                st = {}
                oe.logout()
        finally:
            gw.terminate()
            gw.wait(30)
            try:
                st = json.loads((tmp / "run" / "gateway.status.json").read_text())
            except OSError:
                st = {}
        return {"rate": rate, "orders": n, "measured": hist.get_total_count(), "acked": got[0],
                "send_failed": late[0], "p50_us": hist.get_value_at_percentile(50) / 1e3,
                "p99_us": hist.get_value_at_percentile(99) / 1e3,
                "p99.9_us": hist.get_value_at_percentile(99.9) / 1e3, "max_us": hist.get_max_value() / 1e3,
                "gateway": {k: st.get(k) for k in ("orders", "cancels", "reports", "engine_rejects", "er_failed")}}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench_order_rtt")
    p.add_argument("--rates", default="10000,100000")
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--idle", default="backoff", help="the gateway's idle strategy (backoff: on 2 shared cores a "
                                                      "busy-spinning gateway starves the client and the driver)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    from messaging.driver import ensure_driver
    res = Results("order_rtt", "gateway process (idle %s, journal on /dev/shm, fsync per batch) and one Python "
                               "OrderEntryClient on Aeron IPC, media driver in a child process; orders scheduled "
                               "at a fixed rate, latency from the scheduled send time to the Ack's arrival "
                               "(HdrHistogram, first 10%% / 2000 orders not recorded)" % a.idle)
    d = f"/dev/shm/tw-bench-rtt-{os.getpid()}"
    drv = ensure_driver(d, "shared")
    try:
        if not a.json:
            print(f"# {machine()}")
        for rate in (int(r) for r in a.rates.split(",")):
            f = run_rate(a, d, rate)
            res.figures[f"rate_{rate}"] = f
            if not a.json:
                print(f"{rate:>7} orders/s: p50 {f['p50_us']:8.1f} µs  p99 {f['p99_us']:9.1f}  p99.9 "
                      f"{f['p99.9_us']:9.1f}  max {f['max_us']:9.1f}  ({f['measured']:,} measured, "
                      f"{f['acked']:,}/{f['orders']:,} acked)", flush=True)
    finally:
        if drv is not None:
            drv.stop()
    res.figures["goals"] = {"rtt_p99_max_us": 20}
    res.save()
    if a.json:
        print(json.dumps(res.figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
