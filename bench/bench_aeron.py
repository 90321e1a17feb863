#!/usr/bin/env python3
"""Benchmark: the Aeron transport (messaging/transport) on a real media driver, IPC.

Usage::

    bench/bench_aeron.py [--round-trips N] [--warmup N] [--fanout-messages N] [--idle busy-spin] [--json]

* Round trip (ping / pong in two processes): a 32-byte message to the other process, which echoes
  it; the time from before the send to the echo's arrival, one message in flight, recorded in an
  HdrHistogram after ``--warmup`` round trips. Python<->Python uses pyaeron's own API (``offer`` of
  bytes, ``poll`` with a Python handler); Cython<->Cython uses tickwire's cdef API
  (``Publisher.offer`` / ``Subscriber.poll``, bench/aeron_runs.pyx), ping and pong pinned to the last
  two cores (``--no-pin``: not). Both loops idle with
  ``--idle`` (default busy-spin: two processes on two cores; the driver, threading shared, idles
  with its own backoff and does no work for IPC data).
* Fan-out: one publisher process claims and commits 64-byte messages (RETRY_BOUNDED, nothing lost)
  to 1 and to 4 subscriber processes (Cython, counting); messages/s per subscriber = messages /
  (last message at the slowest subscriber - first claim). Every loop yields (5 processes on 2 cores).

The driver is started in a child process on a fresh directory in /dev/shm and stopped at the end.
Goals (issue 8): fan-out >= 5 M msgs/s to one subscriber; round trip p99 < 20 µs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._util import Results, machine  # noqa: E402

PING, PONG, FAN = 9001, 9002, 9003
PIN = True


def spec(stream_id, policy="RETRY_BOUNDED", channel="aeron:ipc"):
    from messaging.channels import Policy, StreamSpec
    return StreamSpec(f"bench{stream_id}", channel, stream_id, Policy[policy], 60_000_000_000)


def wait_connected(pub):
    deadline = time.monotonic() + 30
    while not pub.is_connected:
        if time.monotonic() > deadline:
            raise SystemExit("bench_aeron: the other process never connected")
        time.sleep(0.001)


# ------------------------------------------------------------------------------------------ roles

def pin(a, which):
    """Round trips: ping on the last core, pong on the one before (``--no-pin``: wherever the OS likes)."""
    if a.pin and (os.cpu_count() or 1) >= 2:
        n = os.cpu_count()
        os.sched_setaffinity(0, {n - 1 if which == "ping" else n - 2})


def role_pong_cy(a):
    from bench.aeron_runs import pong
    pin(a, "pong")
    from messaging.transport import AeronClient, IdleStrategy
    with AeronClient(a.dir) as c:
        sub = c.subscription(spec(PING))
        pub = c.publication(spec(PONG), exclusive=True)
        print("ready", flush=True)
        wait_connected(pub)
        pong(pub, sub, a.total, IdleStrategy.parse(a.idle))


def role_pong_py(a):
    import pyaeron
    pin(a, "pong")
    c = pyaeron.Aeron(dir=a.dir)
    sub = c.add_subscription("aeron:ipc", PING)
    pub = c.add_publication("aeron:ipc", PONG)
    print("ready", flush=True)
    while not pub.is_connected:
        time.sleep(0.001)
    box = []
    h = lambda view, header: box.append(view.tobytes())  # noqa: E731
    spin = a.idle == "busy-spin"
    for _ in range(a.total):
        while not box:
            if not sub.poll(h, 1) and not spin:
                time.sleep(0)
        m = box.pop()
        while not pub.offer(m):
            pass
    c.close()


def role_consume(a):
    from bench.aeron_runs import consume
    from messaging.transport import AeronClient, IdleStrategy
    with AeronClient(a.dir) as c:
        sub = c.subscription(spec(FAN))
        print("ready", flush=True)
        n, first, last = consume(sub, a.total, IdleStrategy.parse(a.idle))
        print(json.dumps({"count": n, "first_ns": first, "last_ns": last}), flush=True)


# ------------------------------------------------------------------------------------------ measure

def child(role, dir, total, idle):
    p = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--role", role, "--dir", dir,
                          "--total", str(total), "--idle", idle] + ([] if PIN else ["--no-pin"]),
                         cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":
        raise SystemExit(f"bench_aeron: {role} did not start")
    return p


def percentiles(rtts) -> dict:
    from hdrh.histogram import HdrHistogram
    h = HdrHistogram(1, 60_000_000_000, 3)
    for v in rtts:
        h.record_value(max(1, int(v)))
    f = {f"p{p:g}_us": h.get_value_at_percentile(p) / 1000 for p in (50, 90, 99, 99.9)}
    f["max_us"] = h.get_max_value() / 1000
    f["count"] = int(h.get_total_count())
    return f


def rtt_cython(a):
    from bench.aeron_runs import ping
    from messaging.transport import AeronClient, IdleStrategy
    p = child("pong-cy", a.dir, a.round_trips + a.warmup, a.idle)
    old = os.sched_getaffinity(0)
    pin(a, "ping")
    with AeronClient(a.dir) as c:
        sub = c.subscription(spec(PONG))
        pub = c.publication(spec(PING), exclusive=True)
        wait_connected(pub)
        rtts = ping(pub, sub, a.round_trips, a.warmup, 32, IdleStrategy.parse(a.idle))
    os.sched_setaffinity(0, old)
    p.wait()
    return percentiles(rtts)


def rtt_python(a):
    import pyaeron
    p = child("pong-py", a.dir, a.round_trips + a.warmup, a.idle)
    old = os.sched_getaffinity(0)
    pin(a, "ping")
    c = pyaeron.Aeron(dir=a.dir)
    sub = c.add_subscription("aeron:ipc", PONG)
    pub = c.add_publication("aeron:ipc", PING)
    while not pub.is_connected:
        time.sleep(0.001)
    box = []
    h = lambda view, header: box.append(1)  # noqa: E731
    msg = bytes(32)
    rtts = []
    clock = time.perf_counter_ns
    spin = a.idle == "busy-spin"
    for i in range(a.round_trips + a.warmup):
        t0 = clock()
        while not pub.offer(msg):
            pass
        while not box:
            if not sub.poll(h, 1) and not spin:
                time.sleep(0)
        box.clear()
        if i >= a.warmup:
            rtts.append(clock() - t0)
    os.sched_setaffinity(0, old)
    p.wait()
    c.close()
    return percentiles(rtts)


def fanout(a, k):
    from bench.aeron_runs import publish
    from messaging.transport import AeronClient, IdleStrategy
    n = a.fanout_messages
    subs = [child("consume", a.dir, n, "yield") for _ in range(k)]
    with AeronClient(a.dir) as c:
        pub = c.publication(spec(FAN), exclusive=True)
        wait_connected(pub)
        time.sleep(0.2)                       # every subscriber's image linked (they subscribed first)
        t0, t1 = publish(pub, n, 64, IdleStrategy.parse("yield"))
        res = [json.loads(s.communicate()[0]) for s in subs]
    assert all(r["count"] == n for r in res), res
    last = max(r["last_ns"] for r in res)
    return {"subscribers": k, "messages": n, "msgs_per_s_per_subscriber": n / ((last - t0) / 1e9),
            "publisher_msgs_per_s": n / ((t1 - t0) / 1e9)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--round-trips", type=int, default=100_000)
    ap.add_argument("--warmup", type=int, default=20_000)
    ap.add_argument("--fanout-messages", type=int, default=10_000_000)
    ap.add_argument("--idle", default="busy-spin")
    ap.add_argument("--threading", default="shared")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="round trips: do not pin ping and pong to the last two cores")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--total", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    global PIN
    PIN = a.pin
    if a.role:
        {"pong-cy": role_pong_cy, "pong-py": role_pong_py, "consume": role_consume}[a.role](a)
        return 0

    from messaging.driver import ensure_driver
    res = Results("aeron", "IPC on a media driver in a child process (threading %s); round trip: 32-byte "
                           "ping/pong between two processes (%s), one in flight, idle %s, HdrHistogram after "
                           "%d warm-up round trips; fan-out: 64-byte claim/commit, RETRY_BOUNDED, subscribers "
                           "count, everything yields" % (a.threading, "pinned to the last two cores" if a.pin else "not pinned", a.idle, a.warmup))
    a.dir = f"/dev/shm/tw-bench-aeron-{os.getpid()}"
    drv = ensure_driver(a.dir, a.threading)
    try:
        if not a.json:
            print(f"# {machine()}")
        for name, fn in (("rtt_cython", rtt_cython), ("rtt_python_pyaeron", rtt_python)):
            f = fn(a)
            res.figures[name] = f
            if not a.json:
                print(f"round trip {name:20s} p50 {f['p50_us']:7.2f} µs  p90 {f['p90_us']:7.2f}  "
                      f"p99 {f['p99_us']:7.2f}  p99.9 {f['p99.9_us']:7.2f}  max {f['max_us']:8.1f}  "
                      f"({f['count']:,} round trips)", flush=True)
        for k in (1, 4):
            f = fanout(a, k)
            res.figures[f"fanout_{k}"] = f
            if not a.json:
                print(f"fan-out to {k} subscriber(s): {f['msgs_per_s_per_subscriber'] / 1e6:6.2f} M msgs/s each "
                      f"(publisher {f['publisher_msgs_per_s'] / 1e6:.2f} M/s, {f['messages']:,} messages of 64 B)",
                      flush=True)
    finally:
        if drv is not None:
            drv.stop()
    res.figures["goals"] = {"fanout_1_min_msgs_per_s": 5_000_000, "rtt_p99_max_us": 20}
    res.save()
    if a.json:
        print(json.dumps(res.figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
