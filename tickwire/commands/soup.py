"""`tickwire soup serve DAY --port P`: replay a day's TotalView-ITCH messages over SoupBinTCP 3.00 (TCP replay /
recovery path): clients log in with a requested sequence number and receive sequenced data from it, then End of
Session. Clients: `tickwire listen --source soup --soup HOST:PORT`."""
from __future__ import annotations

import argparse
import sys

from tickwire.cli_types import existing_file, nonempty, nonneg_float, port, positive_float, session_name


def user_password(text: str) -> str:
    """``USER:PASSWORD`` (the password may be empty; the user not)."""
    name, sep, _ = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected USER:PASSWORD")
    return text


def register(sub) -> None:
    p = sub.add_parser("soup", help="SoupBinTCP tools (serve a day as TotalView-ITCH over SoupBinTCP)",
                       description=__doc__)
    ssub = p.add_subparsers(dest="soup_command", metavar="ACTION")
    s = ssub.add_parser("serve", help="serve a day (binaryFILE, .gz, pcap or pcapng) over SoupBinTCP", description=__doc__)
    s.add_argument("day", type=existing_file,
                   help="NASDAQ binaryFILE (plain or gzip) or pcap/pcapng of MoldUDP64 packets")
    s.add_argument("--port", type=port(allow_zero=True), default=30010, help="TCP port (default 30010)")
    s.add_argument("--bind", type=nonempty, default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--session", type=session_name, default="TWSESSION1", help="session name")
    s.add_argument("--user", type=user_password, action="append", default=[], metavar="USER:PASSWORD",
                   help="allowed login (repeatable); none: any login is accepted")
    s.add_argument("--heartbeat-s", type=positive_float(), default=1.0, help="server heartbeat interval when idle")
    s.add_argument("--timeout-s", type=positive_float(), default=15.0, help="drop a client silent this long")
    s.add_argument("--no-end-of-session", action="store_true", help="never send 'Z' (keep heartbeating)")
    s.add_argument("--duration", type=nonneg_float(),
                   help="stop serving after this many seconds (default: until Ctrl-C)")
    s.set_defaults(func=run_serve)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_serve(args) -> int:
    import time

    from core.codes import FeedError
    from lab.moldserve import MoldDay
    from lab.soupserve import SoupServer

    try:
        day = MoldDay.load(args.day)
    except (OSError, ValueError, FeedError) as e:
        print(f"tickwire soup serve: {args.day}: {e}", file=sys.stderr)
        return 1
    users = None
    if args.user:
        users = {}
        for u in args.user:
            name, _, pw = u.partition(":")
            users[name] = pw
    try:
        srv = SoupServer(day, args.session.encode(), users, (args.bind, args.port), heartbeat_s=args.heartbeat_s,
                         timeout_s=args.timeout_s, end_of_session=not args.no_end_of_session)
    except OSError as e:
        print(f"tickwire soup serve: {args.bind}:{args.port}: {e}", file=sys.stderr)
        return 1
    print(f"SoupBinTCP: {day.messages:,} messages of {args.day} on {srv.address[0]}:{srv.address[1]} "
          f"(session {args.session!r})", file=sys.stderr, flush=True)
    srv.start()
    t0 = time.monotonic()
    try:
        while args.duration is None or time.monotonic() - t0 < args.duration:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    for k, v in vars(srv.counters).items():
        print(f"{k:>24} {v:,}", file=sys.stderr)
    return 0
