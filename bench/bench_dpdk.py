"""DPDK receive path: DpdkSource (+ MoldUDP64 framer) versus the raw rx_burst + free loop.

Two virtual devices in one EAL (no NIC, no hugepages):

- ``net_pcap0,rx_pcap=DAY.pcap,infinite_rx=1``: a generated MoldUDP64 day (``tickwire generate
  --pcap``) replayed from memory in a loop. Paths: the raw loop (``bench.rxloop.raw_rx``:
  ``rte_eth_rx_burst`` + ``rte_pktmbuf_free_bulk``), DpdkSource into the MoldUDP64 framer
  (``feedhandlers.moldudp64.MoldFramer``: sequencing and every message validated), and DpdkSource
  into the nogil drain loop (MoldUDP64 header walk).
- ``net_null0``: an endless stream of 64-byte zeroed frames, as fast as the PMD allocates them.
  DpdkSource parses each and drops it (not IPv4): the per-frame parse + free cost.

Figures: Mpps (wall clock) and receiver CPU ns/packet (the polling thread's CPU time / packets),
best of ``--reps``; the ratio of our path to the raw loop (goal: within 2x). The framer runs get
exactly one pass of the capture each (fresh framer, so no sequence number repeats).

Run: ``.venv/bin/python bench/bench_dpdk.py [--seconds 1] [--reps 3] [--messages 25000]``.
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _util import Results, generated_day, machine  # noqa: E402

GROUP, PORT = "233.54.12.111", 26477      # tickwire generate --pcap defaults


def pcap_packets(path: Path) -> int:
    """Records in a pcap file (walks the 16-byte record headers)."""
    n = 0
    with open(path, "rb") as f:
        head = f.read(24)
        endian = "<" if head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return n
            incl = struct.unpack(endian + "IIII", rec)[2]
            f.seek(incl, 1)
            n += 1


def pool_size(n: int) -> int:
    """Smallest 2^q - 1 holding the capture (infinite_rx keeps it all in mbufs) plus the Rx ring."""
    q = 1
    while (1 << q) - 1 < n + 4096:
        q += 1
    return (1 << q) - 1


def measure(fn, seconds: float, reps: int):
    """Best-of-``reps`` (packets, wall s, cpu s) of ``fn(seconds)`` -> (packets, ...)."""
    best = None
    for _ in range(reps):
        c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        pkts = fn(seconds)
        c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
        r = (pkts, (w1 - w0) / 1e9, (c1 - c0) / 1e9)
        if best is None or r[0] / r[1] > best[0] / best[1]:
            best = r
    return best


def fmt(name: str, r, base=None) -> dict:
    pkts, wall, cpu = r
    mpps = pkts / wall / 1e6
    ns = cpu * 1e9 / max(pkts, 1)
    line = f"{name:<44} {mpps:7.2f} Mpps  {ns:7.1f} ns/pkt CPU  ({pkts} pkts in {wall:.2f} s)"
    out = {"name": name, "mpps": round(mpps, 3), "cpu_ns_per_pkt": round(ns, 1), "packets": pkts}
    if base is not None:
        ratio = ns / base["cpu_ns_per_pkt"]
        line += f"  x{ratio:.2f} of raw"
        out["ratio_vs_raw"] = round(ratio, 2)
    print(line, flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="length of one measurement (default 1 s)")
    ap.add_argument("--reps", type=int, default=3, help="measurements per path, best kept (default 3)")
    ap.add_argument("--messages", type=int, default=25000, help="ITCH messages in the generated capture")
    ap.add_argument("--cpu", type=int, default=None, help="pin the polling thread to this CPU")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = ap.parse_args()

    from bench import rxloop
    from dpdk_bindings import eal, ethdev
    from datapath import dpdk_source
    try:
        from feedhandlers.moldudp64 import MoldFramer
    except ImportError:                       # the framer is built by another module; count instead
        MoldFramer = None

    res = Results("dpdk", f"per path: best of {args.reps} measurements of about {args.seconds:g} s after a warm-up "
                          "pass; CPU = the polling thread's CPU time / packets")
    day = generated_day(args.messages, 100, 1, pcap=True)
    npkts = pcap_packets(day)
    mbufs = pool_size(npkts)
    eal.init(["-l", "0", "--no-huge", "-m", "1024", "--no-shconf", "--no-pci", "--no-telemetry",
              "--vdev", f"net_pcap0,rx_pcap={day},infinite_rx=1", "--vdev", "net_null0"], quiet=True)
    print(f"# {machine()}; DPDK 22.11 virtual devices; capture {day.name}: {npkts} packets; "
          f"{args.reps} x {args.seconds:.1f} s per path, best kept", flush=True)
    if args.cpu is not None:
        dpdk_source.pin_to_cpu(args.cpu)

    results = []
    # ------------------------------------------------------------ net_pcap ----
    pcap = ethdev.Port.open("net_pcap0", mbufs=mbufs, rx_desc=1024)
    src = dpdk_source.DpdkSource(pcap, 0, GROUP, PORT)
    # Warm-up: the PMD's first pass, caches, page faults.
    rxloop.raw_rx(pcap.port_id, 0, npkts * 2)

    # Passes of the capture per measurement: about --seconds of the raw loop.
    t0 = time.perf_counter()
    rxloop.raw_rx(pcap.port_id, 0, npkts * 20)
    per_pass = (time.perf_counter() - t0) / 20
    passes = max(1, int(args.seconds / per_pass))

    def raw_pcap(seconds):
        return rxloop.raw_rx(pcap.port_id, 0, npkts * passes)[0]

    def framer_pcap(seconds):
        done = 0
        for _ in range(passes):               # exactly one capture pass per fresh framer
            framer = MoldFramer()
            done += framer.run_source(src, npkts)
        return done

    def drain_pcap(seconds):
        r = dpdk_source.poll(src, None, max_packets=npkts * passes, signals=False)
        extra = (r["packets"] - npkts * passes) % npkts
        if extra:                              # re-align on the capture's first packet
            rxloop.raw_rx(pcap.port_id, 0, npkts - extra)
        return r["packets"]

    base = fmt("net_pcap  raw rx_burst + free_bulk", measure(raw_pcap, args.seconds, args.reps))
    results.append(base)
    if MoldFramer is not None:
        framer_check = MoldFramer()
        framer_check.run_source(src, npkts)
        st = framer_check.stats()
        assert st["messages"] == args.messages and st["gaps"] == 0, st   # the whole day, in order
        results.append(fmt("net_pcap  DpdkSource -> MoldFramer", measure(framer_pcap, args.seconds, args.reps), base))
    results.append(fmt("net_pcap  DpdkSource -> drain (Mold header walk)", measure(drain_pcap, args.seconds, args.reps), base))
    c = src.counters()
    assert c["dropped_bad"] == 0 and c["dropped_filter"] == 0, c
    src.close()
    pcap.close()

    # ------------------------------------------------------------ net_null ----
    null = ethdev.Port.open("net_null0", mbufs=16383, rx_desc=1024)
    nsrc = dpdk_source.DpdkSource(null, 0, GROUP, PORT)
    rxloop.raw_rx(null.port_id, 0, 0, 0.2)

    def raw_null(seconds):
        return rxloop.raw_rx(null.port_id, 0, 0, seconds)[0]

    def ours_null(seconds):
        before = nsrc.rx_frames
        dpdk_source.poll(nsrc, None, max_seconds=seconds, signals=False)
        return nsrc.rx_frames - before

    base = fmt("net_null  raw rx_burst + free_bulk", measure(raw_null, args.seconds, args.reps))
    results.append(base)
    results.append(fmt("net_null  DpdkSource (parse, drop, free)", measure(ours_null, args.seconds, args.reps), base))
    nsrc.close()
    null.close()
    eal.cleanup()
    if args.json:
        print(json.dumps({"bench": "dpdk", "results": results}))
    res.figures.update({" ".join(r["name"].split()): r for r in results})
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
