#!/usr/bin/env python3
"""Benchmark: wire-to-book latency of a live MoldUDP64 feed at a fixed send rate.

Usage::

    bench/bench_wire_latency.py [--messages N] [--symbols N] [--rate MSGS_PER_S] [--loss P]
                                [--lines 1|2] [--warmup-packets N] [--busy-poll] [--core N] [--json]

A generated day is served by ``tickwire mold serve`` (a separate process, sendmmsg bursts) in
network namespace A; this process listens in namespace B over a veth pair (``tests/netns_util``)
through UdpSource -> MoldSession (A/B, gap recovery) -> BookBuilder. Each data packet carries its
INTENDED send time (TWTS trailer) on the fixed-rate schedule, so a late sender shows up as latency
(no coordinated omission). Latency = time the book applied the packet's last message - intended
send time, into an HdrHistogram; the first ``--warmup-packets`` packets are excluded.
Needs root (network namespaces); without it, it says so and exits 0 (nothing measured).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench._util import Results, generated_day, machine  # noqa: E402

PORT = 32001
RETRANS = 32002


def session_throughput(args, fig: dict) -> None:
    """The session layer alone: a generated pcap day (PcapSource, zero-copy) through MoldSession.run_slice
    into the default no-op sink, and into the books; best of 3 after a warm-up run."""
    from book.builder import BookBuilder
    from datapath.registry import open_source
    from feedhandlers.mold_session import RUN_ENDED, MoldSession
    from feedhandlers.sink import MessageSink

    day = generated_day(args.messages, args.symbols, 1, pcap=True)
    if not args.json:
        print(f"# {machine()}")
    for label, make in (("session only", MessageSink), ("session + books", BookBuilder)):
        best = None
        for _ in range(4):
            src = open_source("pcap", path=str(day))
            s = MoldSession(make())
            t0 = time.perf_counter()
            while True:
                rc = s.run_slice(src, None, None, (), 1_000_000_000, 0, True)
                if rc < 0 or rc == RUN_ENDED:
                    break
                if rc == 2:
                    s.poll()
            dt = time.perf_counter() - t0
            best = dt if best is None or dt < best else best
        if not args.json:
            print(f"{label:>16}: {s.messages:,} messages in-order from a pcap, {best * 1e9 / max(s.messages, 1):.1f} "
                  f"ns/msg ({s.messages / best / 1e6:.2f} M msgs/s), best of 3")
        fig[label] = {"messages": s.messages, "ns_per_msg": best * 1e9 / max(s.messages, 1),
                      "msgs_per_s": s.messages / best}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--rate", type=float, default=200_000, help="messages per second (fixed schedule)")
    ap.add_argument("--loss", type=float, default=0.0, help="sender-side loss per line (recovered by request)")
    ap.add_argument("--lines", type=int, choices=(1, 2), default=1, help="2: A/B lines, arbitrated")
    ap.add_argument("--warmup-packets", type=int, default=500)
    ap.add_argument("--busy-poll", action="store_true", help="spin instead of sleeping in poll(2)")
    ap.add_argument("--core", type=int, help="pin the listener to this core")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    res = Results("wire_latency", "session layer: best of 3 passes after a warm-up pass over a generated pcap day; "
                                  "latency: one run on a fixed send schedule, from each packet's intended send time "
                                  f"to its last message applied to the book, first {args.warmup_packets} packets "
                                  "dropped, HdrHistogram", variant="" if args.lines == 1 and not args.loss else
                  f"lines{args.lines}-loss{args.loss:g}")
    session_throughput(args, res.figures)
    if os.geteuid() != 0:
        print("bench_wire_latency: needs root for network namespaces; latency not measured", file=sys.stderr)
        res.save()
        return 0
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})

    from book.builder import BookBuilder
    from datapath.registry import open_source
    from feedhandlers.mold_session import MoldContext, MoldSession, UdpRequester
    from testing.digest import DigestSink
    from netns_util import veth_pair
    from feedhandlers.live import Listener, line

    day = generated_day(args.messages, args.symbols, 1)
    groups = [f"239.78.0.{i + 1}" for i in range(args.lines)]
    with veth_pair() as net:
        with net.enter(net.ns_b):
            srcs = [open_source("udp", port=PORT, group=g, interface=net.if_b, timeout_ms=0,
                                busy_poll=args.busy_poll) for g in groups]
            req = UdpRequester((net.ip_a, RETRANS))
        books = BookBuilder()
        session = MoldSession(DigestSink(books), MoldContext(send_request=req), window_ns=1_000_000,
                              timeout_ns=20_000_000)
        listener = Listener(session, [line(s, i) for i, s in enumerate(srcs)], req, busy_poll=args.busy_poll,
                            warmup_packets=args.warmup_packets)
        cmd = ["env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "tickwire", "mold", "serve", str(day),
               "--iface", net.if_a, "--retrans-port", str(RETRANS), "--retrans-addr", net.ip_a,
               "--rate", str(args.rate), "--loss", str(args.loss), "--linger", "2", "--json"]
        for g in groups:
            cmd += ["--group", f"{g}:{PORT}"]
        server = net.popen(net.ns_a, *cmd, text=True)
        t0 = time.monotonic()
        reason = listener.run(until_eos=True, timeout_s=args.messages / args.rate + 60)
        wall = time.monotonic() - t0
        out, err = server.communicate(timeout=60)
        served = json.loads(out.strip().splitlines()[-1]) if server.returncode == 0 and out.strip() else {}
        for s in srcs:
            s.close()
        req.close()
    c = session.counters()
    lat = listener.latency()
    result = {
        "bench": "wire_latency", "machine": machine(), "messages": c["messages"], "rate": args.rate,
        "lines": args.lines, "loss": args.loss, "stop": reason, "wall_s": round(wall, 3),
        "latency_ns": lat, "gaps": c["gaps"], "recovered": c["recovered"], "unrecoverable": c["unrecoverable"],
        "late_packets": served.get("late_packets"), "kernel_drops": sum(s.kernel_drops for s in srcs),
    }
    res.figures["wire_to_book"] = {k: v for k, v in result.items() if k not in ("bench", "machine")}
    res.save()
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"wire-to-book latency, {args.lines} line(s), {args.rate:,.0f} msgs/s fixed schedule, loss {args.loss:g}, "
          f"{c['messages']:,} messages ({lat.get('count', 0):,} packets measured after "
          f"{args.warmup_packets:,} warm-up) -- stopped: {reason}")
    if lat.get("count"):
        print("  " + "  ".join(f"{k}={lat[k] / 1000:,.1f}us" for k in
                               ("p50", "p90", "p99", "p99.9", "p99.99", "max")))
    print(f"  gaps {c['gaps']:,}, recovered {c['recovered']:,}, unrecoverable {c['unrecoverable']:,}, "
          f"sender late packets {served.get('late_packets', '?')}, kernel drops {result['kernel_drops']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
