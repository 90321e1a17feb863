"""`tickwire mold serve DAY`: a recorded day as a live MoldUDP64 multicast session with a re-request server."""
from __future__ import annotations

import sys

from tickwire.cli_types import (INT64_MAX, existing_file, fraction, hostport, int_range, ipv4, nonempty,
                                 nonneg_float, nonneg_int, port, positive_float, session_name)


def register(sub) -> None:
    p = sub.add_parser("mold", help="MoldUDP64 tools (serve a recorded day as a live session)",
                       description=__doc__)
    msub = p.add_subparsers(dest="mold_command", metavar="ACTION")
    s = msub.add_parser("serve", help="serve a day (binaryFILE, .gz, pcap or pcapng) as MoldUDP64 multicast + retransmission",
                        description="Pack a day's ITCH messages into ~1400-byte MoldUDP64 packets, send them to the "
                                    "group(s), heartbeat when idle, End of Session at the end, and answer request "
                                    "packets from memory on --retrans-port.")
    s.add_argument("day", type=existing_file,
                   help="NASDAQ binaryFILE (plain or gzip) or pcap/pcapng of MoldUDP64 packets")
    s.add_argument("--group", type=hostport(30001), action="append", default=None, metavar="ADDR:PORT",
                   help="destination (multicast group or unicast address); twice for A/B lines "
                        "(default 239.192.0.1:30001)")
    s.add_argument("--iface", type=nonempty, default="lo",
                   help="outgoing interface for multicast (name or IPv4 address; default lo: labs stay on the host)")
    s.add_argument("--ttl", type=int_range(0, 255, "a TTL"), default=1, help="multicast TTL (default 1: never routed)")
    s.add_argument("--retrans-port", type=port(allow_zero=True), default=30002,
                   help="UDP port of the re-request server (default 30002)")
    s.add_argument("--retrans-addr", type=ipv4, default="0.0.0.0",
                   help="address the re-request server binds (default all)")
    s.add_argument("--session", type=session_name, default="TWSESSION1",
                   help="MoldUDP64 session name (10 chars, space padded)")
    pace = s.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=positive_float(), help="messages per second (fixed rate)")
    pace.add_argument("--speed", type=positive_float(), help="recorded pace (ITCH timestamps) times X")
    pace.add_argument("--max-rate", action="store_true", help="as fast as possible (default when no pace given)")
    s.add_argument("--loss", type=fraction, default=0.0, help="drop this fraction of data packets per line (seeded)")
    s.add_argument("--seed", type=int, default=1, help="loss PRNG seed")
    s.add_argument("--heartbeat-ms", type=nonneg_int(INT64_MAX // 1_000_000), default=1000,
                   help="heartbeat after this much idle time (0: never)")
    s.add_argument("--max-payload", type=int_range(64, 65507, "bytes in one UDP datagram"), default=1400,
                   help="MoldUDP64 packet size limit in bytes")
    s.add_argument("--no-trailer", action="store_true", help="no TWTS send-time trailer")
    s.add_argument("--linger", type=nonneg_float(), default=5.0,
                   help="keep answering requests (and heartbeating) this many seconds after End of Session")
    s.add_argument("--json", action="store_true", help="print the counters as JSON at the end")
    s.set_defaults(func=run_serve)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_serve(args) -> int:
    import json
    import time

    from core.codes import FeedError
    from lab.moldserve import MoldDay, MoldServer
    from tickwire.hostport import parse_hostport

    try:
        day = MoldDay.load(args.day)
    except (OSError, ValueError, FeedError) as e:
        print(f"tickwire mold serve: {args.day}: {e}", file=sys.stderr)
        return 1
    groups = [parse_hostport(g, 30001) for g in (args.group or ["239.192.0.1:30001"])]
    try:
        srv = MoldServer(day, groups, session=args.session.encode(), iface=args.iface, ttl=args.ttl,
                         retrans_bind=(args.retrans_addr, args.retrans_port), rate=args.rate, speed=args.speed,
                         loss=args.loss, seed=args.seed, heartbeat_ms=args.heartbeat_ms,
                         max_payload=args.max_payload, trailer=not args.no_trailer)
    except (OSError, ValueError) as e:
        print(f"tickwire mold serve: {e}", file=sys.stderr)
        return 1
    print(f"serving {args.day}: {day.messages:,} messages in {srv.packets:,} packets, session "
          f"{srv.session.decode()!r} -> {', '.join(f'{h}:{p}' for h, p in groups)}; re-requests on "
          f"{srv.retrans_address[0]}:{srv.retrans_address[1]}", file=sys.stderr)
    t0 = time.monotonic()
    srv.start()
    try:
        while not srv.wait(0.2):
            pass
        print(f"End of Session after {time.monotonic() - t0:.3f} s; lingering {args.linger:g} s for requests",
              file=sys.stderr)
        end = time.monotonic() + args.linger
        while time.monotonic() < end:
            time.sleep(min(max(args.heartbeat_ms, 100) / 1000, max(end - time.monotonic(), 0)))
            if args.heartbeat_ms > 0:
                srv.heartbeat()
    finally:
        srv.stop()
    c = srv.counters()
    if args.json:
        print(json.dumps(c))
    else:
        for k, v in c.items():
            print(f"{k:>24} {v:,}")
    return 0
