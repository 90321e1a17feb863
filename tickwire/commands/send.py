"""`tickwire send INPUT --to GROUP:PORT`: send MoldUDP64 packets (from a pcap/pcapng, or a binaryFILE day packed
into MoldUDP64) at the recorded pace x speed, a fixed rate or as fast as possible, with seeded loss and
TWTS send stamps (the listener reports wire-to-book latency from them)."""
from __future__ import annotations

import sys

from tickwire.cli_types import (INT64_MAX, existing_file, fraction, hostport, int_range, nonempty, nonneg_int,
                                 positive_float, session_name)


def register(sub) -> None:
    p = sub.add_parser("send", help="send MoldUDP64 packets from a pcap or binaryFILE (paced, lossy, stamped)",
                       description=__doc__)
    p.add_argument("input", type=existing_file,
                   help="pcap/pcapng of MoldUDP64 packets (sent as recorded) or binaryFILE day (packed)")
    p.add_argument("--to", type=hostport(), action="append", required=True, metavar="ADDR:PORT",
                   help="destination group/address; twice for A/B lines (independent loss)")
    p.add_argument("--iface", type=nonempty, default="lo",
                   help="outgoing interface for multicast (name or IPv4 address; default lo: labs stay on the host)")
    p.add_argument("--ttl", type=int_range(0, 255, "a TTL"), default=1, help="multicast TTL (default 1)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=positive_float(), default=None, help="recorded pace times X (default 1.0)")
    pace.add_argument("--rate", type=positive_float(), help="fixed rate in messages per second")
    pace.add_argument("--max-rate", action="store_true", help="as fast as possible (sendmmsg bursts of 32)")
    p.add_argument("--loss", type=fraction, default=0.0, help="fraction of data packets dropped per destination")
    p.add_argument("--seed", type=int, default=1, help="loss PRNG seed")
    p.add_argument("--session", type=session_name, default="TWSESSION1", help="session name when packing a binaryFILE")
    p.add_argument("--no-trailer", action="store_true", help="do not append the TWTS send stamp")
    p.add_argument("--no-eos", action="store_true",
                   help="no End of Session packets added at the end (a capture's own is sent as recorded)")
    p.add_argument("--heartbeat-ms", type=nonneg_int(INT64_MAX // 1_000_000), default=1000,
                   help="heartbeat after this idle time (0: never)")
    p.add_argument("--json", action="store_true", help="print the counters as JSON")
    p.set_defaults(func=run)


def load_packets(path: str, session: bytes, trailer: bool):
    """(buf, pkt_offs, times_ns, first or None) for a pcap/pcapng (raw payloads) or a binaryFILE (packed)."""
    import numpy as np

    from lab.moldserve import MoldDay, capture_format, capture_payloads, read_binaryfile
    from lab.sender import build_packets, packet_times, plan_packets

    if capture_format(path):
        payloads, times = capture_payloads(path)
        offs = np.zeros(len(payloads) + 1, dtype=np.int64)
        offs[1:] = np.cumsum([len(x) for x in payloads])
        buf = np.frombuffer(b"".join(payloads) or b"\0", dtype=np.uint8)
        t = np.asarray(times, dtype=np.int64)
        return buf, offs, t, None
    day = MoldDay.from_bytes(read_binaryfile(path), path)
    first = plan_packets(day.offs, 1400, trailer)
    buf, offs = build_packets(day.data, day.offs, first, session)
    return buf, offs, packet_times(day.data, day.offs, first), first


def run(args) -> int:
    import json

    import numpy as np

    from core.codes import FeedError
    from lab.moldserve import open_send_socket
    from lab.sender import MoldSender, packet_messages
    from tickwire.hostport import parse_hostport

    try:
        dests = [parse_hostport(t) for t in args.to]
        buf, offs, times, first = load_packets(args.input, args.session.encode(), not args.no_trailer)
        sock = open_send_socket(args.iface, args.ttl)
        sender = MoldSender(buf, offs, sock.fileno(), dests, loss=args.loss, seed=args.seed,
                            trailer=not args.no_trailer)
    except (OSError, ValueError, FeedError) as e:
        print(f"tickwire send: {e}", file=sys.stderr)
        return 1
    npk = len(offs) - 1
    if args.max_rate:
        sched = None
    elif args.rate:
        if first is None:       # capture: one schedule slot per packet, messages counted by the packet walk
            counts = packet_messages(buf, offs)
            before = np.concatenate([[0], np.cumsum(counts)[:-1]])
        else:
            before = first[:-1]
        sched = (before.astype(np.float64) * (1e9 / args.rate)).astype(np.int64)
    else:
        speed = args.speed or 1.0
        sched = ((times - times[0]).astype(np.float64) / speed).astype(np.int64) if npk else None
    hb = args.heartbeat_ms * 1_000_000
    try:
        c = sender.run(sched, heartbeat_ns=hb, eos=0 if args.no_eos else 3)
    except KeyboardInterrupt:
        sender.stop()
        c = sender.counters()
    finally:
        sock.close()
    if args.json:
        print(json.dumps(c))
    else:
        print(f"sent {c['sent_packets']:,} datagrams ({c['messages_sent']:,} messages), dropped {c['dropped']:,} "
              f"(loss model), send errors {c['send_errors']:,}, late {c['late_packets']:,}", file=sys.stderr)
    return 0
