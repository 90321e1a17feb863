"""`tickwire listen --source udp|afpacket|afxdp|dpdk|verbs|pcap|soup`: a live MoldUDP64 feed (one line, or A/B
arbitrated with --line-b) through the session layer (gap recovery by re-request) into the books, until End of
Session / Ctrl-C / timeout; prints the replay summary plus recovery counters and wire-to-book latency."""
from __future__ import annotations

import ipaddress
import os
import sys

from tickwire.cli_types import (UINT64_MAX, existing_file, hostport, int_range, nonempty, nonneg_float, nonneg_int,
                                positive_float, positive_int, session_name)

UINT32_MAX = (1 << 32) - 1


def register(sub) -> None:
    p = sub.add_parser("listen", help="listen to a live MoldUDP64 feed (A/B, gap recovery) into the books",
                       description=__doc__)
    p.add_argument("--source", default="udp",
                   help="packet source: udp, afpacket, afxdp, dpdk, verbs, pcap (datapath.registry), or soup "
                        "(SoupBinTCP replay over TCP)")
    p.add_argument("--group", type=hostport(), metavar="ADDR:PORT", default="239.192.0.1:30001",
                   help="line A: multicast group (or unicast address) and UDP port (default 239.192.0.1:30001)")
    p.add_argument("--iface", type=nonempty, default=None,
                   help="interface to join / capture on (udp source default: lo, the lab default of mold serve / send)")
    p.add_argument("--line-b", type=hostport(), metavar="ADDR:PORT", help="line B (same feed, other group): A/B arbitration")
    p.add_argument("--iface-b", type=nonempty, help="interface of line B (default: --iface)")
    p.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="extra option of the line-A source (repeatable), e.g. --opt queue=1")
    p.add_argument("--opt-b", action="append", default=[], metavar="KEY=VALUE", help="extra option of line B")
    p.add_argument("--pcap", type=existing_file, help="--source pcap: the capture file to read")
    p.add_argument("--dpdk-args", default=None, help='--source dpdk: EAL arguments, e.g. "-l 1 --vdev net_tap0"')
    p.add_argument("--retrans", type=hostport(), metavar="HOST:PORT", help="re-request server (gap recovery); none: gaps are skipped "
                                                         "after the retry budget")
    p.add_argument("--soup-recovery", type=hostport(), metavar="HOST:PORT",
                   help="recover gaps over SoupBinTCP (TCP replay service; --user/--password) instead of --retrans")
    p.add_argument("--session", type=session_name, help="follow only this MoldUDP64 session name (default: the first seen)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--start-seq", type=int_range(1, UINT64_MAX, "MoldUDP64 sequence numbers start at 1"),
                       default=1, help="first sequence number expected (default 1: recover from the start)")
    start.add_argument("--join-live", action="store_true",
                       help="join mid-stream at the first sequence number seen (no recovery of what came before)")
    p.add_argument("--session-confirm", type=int_range(1, UINT32_MAX, "packets"), default=8, metavar="N",
                   help="mid-stream, follow a new session name only after N chained packets of it with none of "
                        "the current one between (default 8; before that they are suspect and dropped)")
    p.add_argument("--window-us", type=nonneg_float(1e12), default=2000, help="A/B arbitration window before a gap is requested")
    p.add_argument("--request-timeout-ms", type=positive_float(1e9), default=50, help="first request timeout (doubles per retry)")
    p.add_argument("--max-attempts", type=positive_int(UINT32_MAX), default=5, help="requests per gap before it is given up")
    p.add_argument("--max-request", type=int_range(1, 0xFFFE, "messages in a request packet"), default=90, help="messages per request packet")
    p.add_argument("--ring", type=positive_int(1 << 26, "messages"), default=65536, help="reorder buffer (messages)")
    p.add_argument("--until-end-of-session", action="store_true", help="stop at End of Session")
    p.add_argument("--timeout", type=positive_float(), help="stop after this many seconds")
    p.add_argument("--idle-timeout", type=positive_float(), help="stop after this many seconds without a packet")
    p.add_argument("--stale-after", type=nonneg_float(), default=3.0, metavar="S",
                   help="warn when a line has no packet (heartbeats come every second) or the re-request server "
                        "has not answered for S seconds (default 3; 0: never)")
    p.add_argument("--snapshot", type=_snapshot_spec, metavar="soup:HOST:PORT",
                   help="make books that are not exact (messages given up) exact again: replay the session over "
                        "SoupBinTCP (--user/--password) into fresh books up to the live sequence number and swap "
                        "them in (when no gap is open, at most every --snapshot-interval s, and at the end)")
    p.add_argument("--snapshot-interval", type=positive_float(1e9), default=10.0, metavar="S",
                   help="--snapshot: least seconds between two snapshots during the run (default 10)")
    p.add_argument("--book-csv", metavar="FILE",
                   help="write the final books to FILE in the `tickwire book` CSV format")
    p.add_argument("--levels", type=positive_int((1 << 31) - 1), default=5, help="--book-csv: price levels per side (default 5)")
    p.add_argument("--warmup", type=nonneg_int(), default=0, help="packets whose latency is not recorded (warm-up)")
    p.add_argument("--core", type=nonneg_int((1 << 31) - 1), help="pin the listener to this CPU core")
    p.add_argument("--busy-poll", action="store_true", help="spin instead of sleeping in poll(2) when idle")
    p.add_argument("--digest", action="store_true", help="also print the FNV digest of the applied message stream")
    p.add_argument("--soup", type=hostport(), metavar="HOST:PORT", help="--source soup: SoupBinTCP server")
    p.add_argument("--user", default="tw", help="--source soup: login user")
    p.add_argument("--password", default="", help="--source soup: login password")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--top", type=nonneg_int((1 << 31) - 1), default=5, help="most active symbols to show")
    p.set_defaults(func=run)


def _name(b) -> str:
    return repr(b.decode("ascii", "replace").rstrip()) if b else "(none)"


def _snapshot_spec(text: str) -> str:
    """``soup:HOST:PORT`` (a SoupBinTCP server replaying the session: the only snapshot source so far)."""
    import argparse

    from tickwire.cli_types import hostport as _hp

    kind, sep, rest = text.partition(":")
    if not sep or kind != "soup":
        raise argparse.ArgumentTypeError(f"{text!r}: expected soup:HOST:PORT (a SoupBinTCP replay server)")
    return f"soup:{_hp()(rest)}"


def _kv(items):
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep:
            raise ValueError(f"--opt {item!r}: expected KEY=VALUE")
        try:
            out[k] = int(v, 0)
        except ValueError:
            out[k] = {"true": True, "false": False}.get(v.lower(), v)
    return out


def source_options(name: str, hostport: str, iface: str | None, extra: dict, args) -> dict:
    """Options of registry source ``name`` for one line (see each source's open_source)."""
    from tickwire.hostport import parse_hostport

    host, port = parse_hostport(hostport, 30001)
    multicast = ipaddress.IPv4Address(host).is_multicast
    group = host if multicast else None
    if name == "udp":
        if iface is None and multicast:
            iface = "lo"
        opts = {"port": port, "group": group, "interface": iface, "busy_poll": bool(args.busy_poll), "timeout_ms": 0}
        if not multicast:
            opts["bind_addr"] = host
    elif name == "dpdk":
        opts = {"dpdk_args": args.dpdk_args, "group": group, "dst_port": port}
    elif name == "pcap":
        opts = {"path": args.pcap, "dst_port": port, "group": group}
    elif name in ("afpacket", "afxdp"):         # non-blocking: run_slice waits in poll(2) on all lines
        opts = {"interface": iface, "port": port, "group": group, "busy_poll": bool(args.busy_poll), "timeout_ms": 0}
    else:                                       # verbs: interface + filter
        opts = {"interface": iface, "port": port, "group": group}
    opts = {k: v for k, v in opts.items() if v is not None}
    opts.update(extra)
    return opts


def run(args) -> int:
    from datapath.registry import SourceUnavailable, open_source
    from feedhandlers.mold_session import MoldContext, MoldSession, UdpRequester

    from feedhandlers.live import LineWatch, Listener, describe_filtered, filtered, line, percentiles, session_stats
    from tickwire.hostport import parse_hostport
    from tickwire.summary import print_json, render, summarize

    if args.core is not None:
        try:
            os.sched_setaffinity(0, {args.core})
        except OSError as e:
            print(f"tickwire listen: cannot pin to core {args.core}: {e}", file=sys.stderr)
            return 2
    # Before listening: a bad --book-csv path must not cost a whole session. Checked, not opened: a run
    # that fails early leaves an existing file as it was; the books are written at the end.
    why = _unwritable(args.book_csv) if args.book_csv else None
    if why:
        print(f"tickwire listen: --book-csv {args.book_csv}: {why}", file=sys.stderr)
        return 2
    book_csv = args.book_csv
    if args.source == "soup":
        return run_soup(args, book_csv)
    from book.builder import BookBuilder
    from testing.digest import DigestSink

    books = BookBuilder()
    sink = DigestSink(books) if args.digest else books
    try:
        if args.soup_recovery:
            from feedhandlers.soupbintcp import SoupRecovery

            requester = SoupRecovery(parse_hostport(args.soup_recovery), args.user, args.password)
        else:
            requester = UdpRequester(parse_hostport(args.retrans)) if args.retrans else None
        ctx = MoldContext(send_request=requester) if requester else MoldContext()
        session = MoldSession(sink, ctx, session=args.session.encode() if args.session else None,
                              start_seq=0 if args.join_live else args.start_seq, ring_size=args.ring,
                              max_request=args.max_request,
                              window_ns=int(args.window_us * 1000), timeout_ns=int(args.request_timeout_ms * 1e6),
                              max_attempts=args.max_attempts, session_confirm=args.session_confirm)
        src_a = open_source(args.source, **source_options(args.source, args.group, args.iface, _kv(args.opt), args))
        lines = [line(src_a, 0)]
        sources = [src_a]
        if args.line_b:
            src_b = open_source(args.source, **source_options(args.source, args.line_b, args.iface_b or args.iface,
                                                              _kv(args.opt_b), args))
            lines.append(line(src_b, 1))
            sources.append(src_b)
    except SourceUnavailable as e:
        print(f"tickwire listen: {e}", file=sys.stderr)
        return 3
    except (OSError, ValueError) as e:
        print(f"tickwire listen: {e}", file=sys.stderr)
        return 2
    except Exception as e:          # a source's own error type (EalError, SourceError, ...): say what failed
        print(f"tickwire listen: cannot open source {args.source!r}: {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    def gap_event(kind, lo, hi, *detail):
        if kind == "unrecoverable":         # detail: why (no re-request server, K requests unanswered, ring full)
            print(f"tickwire listen: messages {lo}..{hi - 1} ({hi - lo}) unrecoverable "
                  f"({detail[0] if detail else 'given up'}); skipped", file=sys.stderr, flush=True)
        elif kind == "request_error":
            print(f"tickwire listen: request for {lo}..{hi - 1} failed: {detail[0] if detail else ''}",
                  file=sys.stderr, flush=True)

    server = args.soup_recovery or args.retrans

    def watch_event(kind, name, seconds):
        text = {"stale": f"line {name} stale: no packet for {seconds:.1f} s (heartbeats come every second: the "
                         f"line, the network or the server is down)",
                "back": f"line {name} back after {seconds:.1f} s",
                "server_down": f"re-request server {server} down: no answer for {seconds:.1f} s (gaps are given "
                               f"up after their retries until it is back)",
                "server_up": f"re-request server {server} answering again after {seconds:.1f} s: recovery resumed",
                }[kind]
        print(f"tickwire listen: {text}", file=sys.stderr, flush=True)

    session.on_gap_event = gap_event

    def session_change(old, new):
        c = session.counters()
        print(f"tickwire listen: session changed from {_name(old)} to {_name(new)} (confirmed by chained packets; "
              f"{c['suspect_session']:,} suspect packets so far, {c['unrecoverable']:,} unrecoverable in all)",
              file=sys.stderr, flush=True)
    state = {"books": books, "sink": sink}
    snapshots = []
    take_snapshot = None
    if args.snapshot:
        snap_server = parse_hostport(args.snapshot.partition(":")[2])

        def take_snapshot(target: int) -> bool:
            ok, info = soup_snapshot(snap_server, args.user, args.password, session, target, args.digest)
            snapshots.append(info)
            if not ok:
                print(f"tickwire listen: snapshot from {args.snapshot} failed: {info['error']} (the books stay "
                      f"marked not exact since sequence {session.not_exact_since:,})", file=sys.stderr, flush=True)
                return False
            state["books"], state["sink"] = info.pop("books"), info.pop("sink")
            session.replace_sink(state["sink"])
            left = session.clear_not_exact(target)
            info["not_exact_since_after"] = left or None
            print(f"tickwire listen: snapshot: books rebuilt from {args.snapshot} up to sequence {target - 1:,} "
                  f"({info['messages']:,} messages, {info['elapsed_s']:.2f} s)"
                  + (f"; still not exact since {left:,} (given up after it)" if left else "; books exact again"),
                  file=sys.stderr, flush=True)
            return True
    watch = LineWatch(session, range(len(lines)), args.stale_after, clock_ns=ctx.clock_ns, on_event=watch_event,
                      watch_server=requester is not None) if args.stale_after > 0 else None
    listener = Listener(session, lines, requester, busy_poll=args.busy_poll, warmup_packets=args.warmup,
                        watch=watch, snapshot=take_snapshot, snapshot_interval_s=args.snapshot_interval,
                        on_session_change=session_change)
    # Always on stderr (stdout carries --json): scripts start the sender once they see this line.
    print(f"listening: {args.source} {args.group}" + (f" + line B {args.line_b}" if args.line_b else "")
          + (f", SoupBinTCP recovery from {args.soup_recovery}" if args.soup_recovery else
             f", re-requests to {args.retrans}" if args.retrans else ", no re-request server"), file=sys.stderr,
          flush=True)
    try:
        reason = listener.run(until_eos=args.until_end_of_session, timeout_s=args.timeout,
                              idle_timeout_s=args.idle_timeout)
    except KeyboardInterrupt:
        reason = "interrupted"
        listener._drain_latency()
    if take_snapshot is not None and session.not_exact_since and session.next_seq > 1 and reason != "interrupted":
        take_snapshot(session.next_seq)          # the late snapshot: after the run, nothing moves any more
    books, sink = state["books"], state["sink"]
    c = session.counters()
    since = c["not_exact_since"]
    # Which books the lost messages touched is unknowable (an Add Order may name any locate, even one
    # whose directory came later), so a given-up gap marks every book: see docs/feedhandlers.md.
    marks = {loc: since for loc in books.locates()} if since else {}
    extra = {
        "stop_reason": reason,
        "gaps_recovered": c["recovered"],
        "unrecoverable": c["unrecoverable"],
        "unrecoverable_ranges": [list(r) for r in session.unrecoverable_ranges],
        # every book may be off from here on (which stocks the lost messages touched is unknown)
        "books_not_exact_since": since or None,
        "books_not_exact": [{"locate": loc, "symbol": books.symbol(loc), "since": n} for loc, n in marks.items()],
        "snapshots": snapshots,
        "duplicates_dropped": {"A": c["duplicates_a"], "B": c["duplicates_b"], "retrans": c["duplicates_retrans"]},
        "line_wins": {"A": c["wins_a"], "B": c["wins_b"], "retrans": c["recovered"]},
        "requests_sent": c["requests_sent"],
        "line_watch": watch.counters() if watch is not None else None,
        "filtered": filtered(c, sources),
        "latency_ns": percentiles(listener.hist),
        "session": c,
        "sources": [dict(s.counters()) if hasattr(s, "counters") else {} for s in sources],
    }
    if args.digest:
        extra["digest"] = f"{sink.digest:016x}"
    said = describe_filtered(extra["filtered"], args.group)
    if said:
        print(f"tickwire listen: filtered: {said}", file=sys.stderr, flush=True)
    extra["filtered_text"] = said
    csv_ok = write_book_csv(book_csv, books, args.levels, marks)
    summary = summarize(session_stats(session, sources), books, listener.elapsed_s,
                        source=f"listen {args.source} {args.group}", extra=extra, top=args.top)
    for sym in summary["most_active"]:      # only on marked books: an exact run's JSON equals replay's
        if marks.get(sym["locate"]):
            sym["not_exact_since"] = marks[sym["locate"]]
    if args.json:
        print_json(summary)
    else:
        render(summary)
    # 1 when books are not exact (messages given up, no snapshot made them exact again) or the CSV failed
    return 0 if not since and csv_ok else 1


def _unwritable(path: str) -> str | None:
    """Why ``path`` cannot be written (created or replaced) as a file, or None when it can."""
    if os.path.isdir(path):
        return "is a directory"
    if os.path.exists(path):
        return None if os.access(path, os.W_OK) else "not writable (permission denied)"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"no such directory {parent}"
    return None if os.access(parent, os.W_OK) else f"cannot create a file in {parent} (permission denied)"


def soup_snapshot(server, user: str, password: str, session, target: int, digest: bool = False,
                  timeout_s: float | None = None):
    """Replay ``session``'s messages 1..target-1 over SoupBinTCP into fresh books (a DigestSink around them
    with ``digest``). Returns (True, info with "books", "sink") or (False, info with "error").

    No overall time limit by default (a whole day can take minutes): a server that stops sending is
    found by the client's own dead-peer timeout (15 s) and re-logins (5), which end it with an error."""
    import time

    from book.builder import BookBuilder
    from feedhandlers.soupbintcp import SoupClient, SoupError
    from testing.digest import DigestSink

    fresh = BookBuilder()
    fsink = DigestSink(fresh) if digest else fresh
    name = session.session_name or b""
    info = {"upto": target - 1, "server": f"{server[0]}:{server[1]}", "messages": 0, "elapsed_s": 0.0}
    t0 = time.monotonic()
    client = SoupClient(server, user, password, session=name, sequence=1, sink=fsink, stop_seq=target)
    try:
        client.run(timeout=timeout_s, until_end_of_session=True, reconnect=True)
    except (SoupError, OSError) as e:
        info["error"] = str(e)
        return False, info
    finally:
        client.close()
        info["elapsed_s"] = round(time.monotonic() - t0, 3)
        info["messages"] = int(client.decoder.messages)
    if client.next_seq != target:
        info["error"] = (f"the replay ended at sequence {client.next_seq - 1:,} ({client.stop_reason}), the live "
                         f"feed is at {target - 1:,}")
        return False, info
    info["books"], info["sink"] = fresh, fsink
    return True, info


def write_book_csv(path, books, levels: int, not_exact: dict | None = None) -> bool:
    """--book-csv: the final books exactly as `tickwire book` writes them (its write_csv); False (said on
    stderr) when the file could not be written."""
    from tickwire.commands.book import write_csv

    if path is not None:
        try:
            with open(path, "w", newline="") as out:
                write_csv(books, levels, out, not_exact=not_exact)
        except OSError as e:
            print(f"tickwire listen: --book-csv {path}: {e}", file=sys.stderr)
            return False
    return True


def run_soup(args, book_csv=None) -> int:
    """--source soup: log in to a SoupBinTCP server and apply the sequenced ITCH messages to the books."""
    from book.builder import BookBuilder
    from testing.digest import DigestSink
    from feedhandlers.soupbintcp import SoupClient, SoupError
    from tickwire.hostport import parse_hostport
    from tickwire.summary import print_json, render, summarize

    if not args.soup:
        print("tickwire listen: --source soup needs --soup HOST:PORT", file=sys.stderr)
        return 2
    books = BookBuilder()
    sink = DigestSink(books) if args.digest else books
    client = SoupClient(parse_hostport(args.soup), args.user, args.password,
                        session=(args.session or "").encode(), sequence=args.start_seq, sink=sink)
    try:
        client.run(timeout=args.timeout, until_end_of_session=True)
    except SoupError as e:
        print(f"tickwire listen: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
    stats = client.stats()
    extra = {"stop_reason": client.stop_reason, "soup": client.counters()}
    if args.digest:
        extra["digest"] = f"{sink.digest:016x}"
    csv_ok = write_book_csv(book_csv, books, args.levels)
    summary = summarize(stats, books, client.elapsed_s, source=f"listen soup {args.soup}", extra=extra, top=args.top)
    if args.json:
        print_json(summary)
    else:
        render(summary)
    return 0 if csv_ok else 1
