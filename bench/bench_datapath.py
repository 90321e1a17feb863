#!/usr/bin/env python3
"""Benchmark: receive rate and receiver CPU per packet of the kernel-path sources on a veth pair.

Usage::

    bench/bench_datapath.py [--sources udp,afpacket,afxdp] [--seconds S] [--messages-per-packet N]
                            [--busy-poll] [--decode framer|walk] [--core N] [--sender-core N] [--json]

A sender process in network namespace A (a small C program, ``sendmmsg`` bursts of 64, built with
cc into var/bench/) blasts MoldUDP64 packets (``--messages-per-packet`` ITCH Add Orders of 36 bytes
each: 20 + N x 38 bytes of UDP payload) to a multicast group over a veth; this process receives them
in namespace B through each source and feeds the MoldUDP64 framer (feedhandlers.moldudp64.MoldFramer
with the null sink; ``--decode walk`` = the sources' own header walk instead).

Figures per source: packets received, receive rate (Mpps, first to last packet), receiver CPU ns per
packet (this process's CPU time / packets: user + system time of the receiving thread, which includes
recvmmsg's copies for UdpSource; the veth transmit/softirq work runs in the SENDER's context on veth),
sender rate and the loss the sources' counters explain (kernel drops). Blocking mode (poll) by
default so CPU time is work, not spinning; ``--busy-poll`` measures the spinning loop instead (then
CPU ns/packet is bounded below by 1 / receive rate; ``--decode walk`` then also prints "work" ns/packet:
the time inside bursts that returned packets, i.e. the loop's cost without its idle spinning).
Needs root (namespaces, AF_PACKET, AF_XDP); without it, it says so and exits 0.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench._util import Results, machine  # noqa: E402

GROUP = "239.200.9.1"
PORT = 32100

BLASTER_C = r"""
/* tw_blast: send MoldUDP64 packets with sendmmsg as fast as possible for a while.
 * usage: tw_blast DST PORT MSGS_PER_PACKET SECONDS [MAX_PACKETS]; prints packets sent. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#define BATCH 64
static uint64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000ull + t.tv_nsec; }
static void be16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }
static void be64(uint8_t *p, uint64_t v) { for (int i = 7; i >= 0; i--) { p[i] = v; v >>= 8; } }
int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: tw_blast DST PORT MSGS SECONDS [MAX]\n"); return 2; }
    int msgs = atoi(argv[3]); double secs = atof(argv[4]);
    uint64_t max = argc > 5 ? strtoull(argv[5], 0, 10) : 0;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int ttl = 4, sb = 4 << 20;
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &dst.sin_addr);
    size_t len = 20 + (size_t)msgs * 38;
    static uint8_t buf[BATCH][9000];
    struct mmsghdr mm[BATCH]; struct iovec iov[BATCH];
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < BATCH; i++) {
        uint8_t *p = buf[i];
        memcpy(p, "TWBENCH001", 10);
        be16(p + 18, msgs);
        for (int m = 0; m < msgs; m++) {            /* ITCH 'A' Add Order, 36 bytes */
            uint8_t *q = p + 20 + m * 38;
            be16(q, 36); q[2] = 'A'; be16(q + 3, 1 + m); q[25] = 'B';
            memcpy(q + 30, "TWBENCH ", 8);
        }
        iov[i].iov_base = p; iov[i].iov_len = len;
        mm[i].msg_hdr.msg_iov = &iov[i]; mm[i].msg_hdr.msg_iovlen = 1;
        mm[i].msg_hdr.msg_name = &dst; mm[i].msg_hdr.msg_namelen = sizeof dst;
    }
    uint64_t seq = 1, sent = 0, end = now_ns() + (uint64_t)(secs * 1e9);
    while (now_ns() < end && (!max || sent < max)) {
        int n = BATCH;
        if (max && max - sent < (uint64_t)n) n = max - sent;
        for (int i = 0; i < n; i++) { be64(buf[i] + 10, seq); seq += msgs; }
        int k = sendmmsg(fd, mm, n, 0);
        if (k < 0) { seq -= (uint64_t)n * msgs; continue; }
        if (k < n) seq -= (uint64_t)(n - k) * msgs;
        sent += k;
    }
    printf("%llu\n", (unsigned long long)sent);
    return 0;
}
"""


def build_blaster() -> Path:
    out = ROOT / "var" / "bench" / "tw_blast"
    src = out.with_suffix(".c")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists() or not src.exists() or src.read_text() != BLASTER_C:
        src.write_text(BLASTER_C)
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise SystemExit("bench_datapath: needs a C compiler (build-essential) for the sender")
        subprocess.run([cc, "-O2", "-o", str(out), str(src)], check=True)
    return out


def open_receiver(name: str, net, busy_poll: bool, coalesce_us: int = 0):
    with net.enter(net.ns_b):
        if name == "udp":
            from datapath.udp_source import UdpSource
            return UdpSource(PORT, group=GROUP, interface=net.if_b, busy_poll=busy_poll, timeout_ms=50,
                             rcvbuf=32 << 20)
        if name == "afpacket":
            from datapath.afpacket_source import AfPacketSource
            return AfPacketSource(net.if_b, port=PORT, group=GROUP, busy_poll=busy_poll, timeout_ms=50,
                                  block_size=1 << 20, block_nr=64)
        if name == "afxdp":
            from datapath.afxdp_source import AfXdpSource
            return AfXdpSource(net.if_b, port=PORT, group=GROUP, busy_poll=busy_poll, timeout_ms=50,
                               num_frames=16384, rx_size=8192, coalesce_us=coalesce_us)
    raise SystemExit(f"unknown source {name!r}")


def run_one(name: str, net, blaster: Path, args) -> dict:
    src = open_receiver(name, net, args.busy_poll, args.coalesce_us)
    framer = None
    if args.decode == "framer":
        try:
            from feedhandlers.moldudp64 import MoldFramer
            framer = MoldFramer()
        except ImportError:
            framer = None
    try:
        cmd = [str(blaster), GROUP, str(PORT), str(args.messages_per_packet), str(args.seconds)]
        if args.sender_core is not None:
            cmd = ["taskset", "-c", str(args.sender_core)] + cmd
        sender = net.popen(net.ns_a, *cmd, text=True)
        cpu0, wall0 = time.process_time_ns(), time.monotonic_ns()
        if framer is not None:
            state = {"n": -1, "t": time.monotonic()}

            def idle_check():
                if src.rx_packets != state["n"]:
                    state["n"], state["t"] = src.rx_packets, time.monotonic()
                elif time.monotonic() - state["t"] > 0.5 and sender.poll() is not None:
                    framer.stop()
            packets = framer.run_source(src, callback=idle_check, bursts_per_call=256)
            st = {"packets": packets, "messages": framer.messages, "gaps": framer.gaps}
        else:
            st = src.drain(seconds=args.seconds + 5, idle_seconds=0.5)
            if args.busy_poll:               # blocking: bursts include poll() waits, not work
                st["work_ns_per_packet"] = st["work_ns"] / max(st["packets"], 1)
        cpu1, wall1 = time.process_time_ns(), time.monotonic_ns()
        out, err = sender.communicate(timeout=30)
        sent = int(out.strip() or 0)
        c = src.counters()
    finally:
        src.close()
    pk = max(st["packets"], 1)
    recv_s = args.seconds                   # the sender's run: the receiver keeps up with it or drops
    return {
        "source": name if not (name == "afxdp" and args.coalesce_us) else f"afxdp/{args.coalesce_us}us",
        "mode": "busy-poll" if args.busy_poll else "blocking",
        "decode": "MoldFramer" if framer is not None else "header walk",
        "sent": sent, "received": st["packets"], "messages": st.get("messages", 0),
        "kernel_drops": c.get("kernel_drops", 0), "dropped_filter": c.get("dropped_filter", 0),
        "sender_mpps": sent / args.seconds / 1e6,
        "rx_mpps": st["packets"] / max(recv_s, 1e-9) / 1e6,
        "cpu_ns_per_packet": (cpu1 - cpu0) / pk,
        "cpu_ns_per_message": (cpu1 - cpu0) / max(st.get("messages", 0), 1),
        "work_ns_per_packet": st.get("work_ns_per_packet"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", default="udp,afpacket,afxdp")
    ap.add_argument("--seconds", type=float, default=3.0, help="sender run time per source")
    ap.add_argument("--messages-per-packet", type=int, default=4)
    ap.add_argument("--busy-poll", action="store_true")
    ap.add_argument("--decode", choices=("framer", "walk"), default="framer")
    ap.add_argument("--core", type=int, help="pin the receiver to this core")
    ap.add_argument("--sender-core", type=int, help="pin the sender to this core (taskset)")
    ap.add_argument("--coalesce-us", type=int, default=0,
                    help="afxdp blocking mode: wait this long after a wake-up so one wake-up reads a batch")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_datapath: needs root for network namespaces, AF_PACKET and AF_XDP; nothing measured",
              file=sys.stderr)
        return 0
    if args.core is not None:
        os.sched_setaffinity(0, {args.core})
    from netns_util import veth_pair
    variant = "-".join(v for v in ("busy" if args.busy_poll else "", "walk" if args.decode == "walk" else "",
                                   f"coalesce{args.coalesce_us}" if args.coalesce_us else "") if v)
    res = Results("datapath", f"per source: one run of {args.seconds:g} s of a sendmmsg blaster in another network "
                              "namespace over a veth pair; receiver CPU = this process's CPU time / packets; "
                              f"{'busy-poll' if args.busy_poll else 'blocking'}, decode {args.decode}", variant=variant)
    blaster = build_blaster()
    results = []
    print(f"# bench_datapath: {machine()}; MoldUDP64 payload {20 + 38 * args.messages_per_packet} B "
          f"({args.messages_per_packet} msgs/packet), {args.seconds:g} s per source", flush=True)
    for name in [s for s in args.sources.split(",") if s]:
        with veth_pair() as net:
            try:
                r = run_one(name, net, blaster, args)
            except Exception as e:  # noqa: BLE001 - one source failing must not hide the others
                print(f"{name:9s} FAILED: {e}", flush=True)
                continue
        results.append(r)
        res.figures[r["source"]] = r
        if not args.json:
            print(f"{r['source']:9s} {r['mode']:9s} sent {r['sent']:>9,} ({r['sender_mpps']:.2f} Mpps)  "
                  f"received {r['received']:>9,}  rx {r['rx_mpps']:.2f} Mpps  "
                  f"CPU {r['cpu_ns_per_packet']:,.0f} ns/packet ({r['cpu_ns_per_message']:,.0f} ns/msg, "
                  f"{r['decode']})  kernel drops {r['kernel_drops']:,}"
                  + (f"  work {r['work_ns_per_packet']:,.0f} ns/packet" if r["work_ns_per_packet"] else ""),
                  flush=True)
    if args.json:
        print(json.dumps(results, indent=1))
    res.figures["messages_per_packet"] = args.messages_per_packet
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
