"""`tickwire generate OUT`: a deterministic synthetic NASDAQ ITCH 5.0 day (binaryFILE, .gz or MoldUDP64 pcap)."""
from __future__ import annotations

import json
import sys

from tickwire.cli_types import (INT32_MAX, INT64_MAX, int_range, iso_date, multicast_group, nonneg_int, port,
                                 positive_int, session_name)

TYPE_ORDER = "SRHYAFDUECXPQI"


def register(sub) -> None:
    p = sub.add_parser("generate", help="write a deterministic synthetic ITCH 5.0 day (binaryFILE, .gz, pcap)",
                       description=__doc__ + " Same arguments, byte-identical file. See docs/generate.md.")
    p.add_argument("out", help="output path; '.gz' suffix gzips the binaryFILE")
    p.add_argument("--messages", type=positive_int(INT64_MAX), default=2_000_000,
                   help="messages in the day, exactly (default 2000000)")
    p.add_argument("--symbols", type=int_range(1, 65535, "stock locates are 16 bits"), default=1000,
                   help="symbols, stock locates 1..N (default 1000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the day (default 1)")
    p.add_argument("--pcap", action="store_true",
                   help="write a nanosecond pcap of Ethernet/IPv4/UDP/MoldUDP64 packets instead of binaryFILE")
    p.add_argument("--session", type=session_name, default="TWSYNTH001",
                   help="MoldUDP64 session name, 10 characters (pcap)")
    p.add_argument("--group", type=multicast_group, default="233.54.12.111",
                   help="multicast group (pcap, default 233.54.12.111)")
    p.add_argument("--port", type=port(), default=26477, help="UDP destination port (pcap, default 26477)")
    p.add_argument("--date", type=iso_date, default="2025-01-02",
                   help="trading day whose US/Eastern midnight anchors pcap timestamps (default 2025-01-02)")
    p.add_argument("--pcap-window-us", type=nonneg_int(INT32_MAX), default=200,
                   help="a packet carries messages within this many microseconds of its first (default 200)")
    p.add_argument("--gzip-level", type=int, default=1, choices=range(1, 10), metavar="1-9",
                   help="gzip level for '.gz' outputs (default 1: 3x faster than 6, 11 %% bigger)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def summary_line(r: dict) -> str:
    """One line: messages by type, symbols, bytes, seconds."""
    counts = r["counts"]
    kinds = " ".join(f"{t}={counts[t]}" for t in TYPE_ORDER if t in counts)
    rate = r["messages"] / r["seconds"] / 1e6 if r["seconds"] > 0 else float("inf")
    extra = f", {r['packets']} packets" if r["pcap"] else ""
    return (f"generated {r['messages']} messages ({kinds}) {r['symbols']} symbols, {r['bytes']} bytes{extra}, "
            f"{r['seconds']:.2f} s ({rate:.1f} M msg/s) -> {r['path']}")


def run(args) -> int:
    from lab.daygen import generate_day

    try:
        r = generate_day(args.out, args.messages, args.symbols, args.seed, pcap=args.pcap, session=args.session,
                         group=args.group, port=args.port, date=args.date, pcap_window_us=args.pcap_window_us,
                         gzip_level=args.gzip_level)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"tickwire generate: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(r, sort_keys=True))
    else:
        print(summary_line(r))
    return 0
