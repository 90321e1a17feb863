"""`tickwire replay PATH`: a binaryFILE (.gz too), pcap or pcapng through the decoder and the books.

Exit status: 0 done; 1 bad input (one line naming the reason; a file cut or whose framing is lost
after some messages prints their summary first); 2 usage / no such file; 3 the books cannot be
trusted (``tickwire.verdict``; with ``--strict``, any counted fault).
"""
from __future__ import annotations

import os
import sys

from tickwire.cli_types import INT32_MAX, existing_file, ipv4, nonneg_int, port

PROGRESS_MIN_BYTES = 64 << 20   # show a progress bar on inputs at least this large


def register(sub) -> None:
    p = sub.add_parser("replay", help="replay an ITCH 5.0 file (binaryFILE, .gz, pcap, pcapng) into the books",
                       description=__doc__)
    p.add_argument("path", type=existing_file,
                   help="NASDAQ binaryFILE (plain or gzip), or pcap/pcapng of MoldUDP64 packets")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--top", type=nonneg_int(INT32_MAX), default=5, help="most active symbols to show (default 5)")
    p.add_argument("--no-bbo", action="store_true", help="book-only: skip BBO-change detection")
    p.add_argument("--recover-zero-lengths", action="store_true",
                   help="frame by each type's spec length when length prefixes are zero (damaged files)")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress bar on stderr (auto: inputs over 64 MiB on a terminal)")
    add_feed_options(p)
    p.set_defaults(func=run)


def add_feed_options(p) -> None:
    """Options `replay` and `book` share: the capture filter and --strict."""
    p.add_argument("--group", type=ipv4, default=None, help="capture: keep only UDP datagrams to this IPv4 group")
    p.add_argument("--port", type=port(), default=0, help="capture: keep only UDP datagrams to this port")
    p.add_argument("--strict", action="store_true",
                   help="any counted fault (malformed, unknown type or reference, gap, duplicate, book fault, "
                        "capture drop) makes the books untrustworthy: exit 3")


def feed_options(args) -> dict:
    opts = {"recover_zero_lengths": True} if getattr(args, "recover_zero_lengths", False) else {}
    if args.group:
        opts["group"] = args.group
    if args.port:
        opts["dst_port"] = args.port
    return opts


def replay(path: str, track_bbo: bool = True, progress=None, **feed_opts):
    """Run ``path`` into a fresh BookBuilder; returns (stats, books, elapsed_s)."""
    import time

    from book.builder import BookBuilder
    from core.codes import READ_E_NO_MESSAGES, FeedError
    from feedhandlers.reader import open_feed
    from tickwire.verdict import no_messages_reason

    feed = open_feed(path, **feed_opts)
    books = BookBuilder()
    books.track_bbo = track_bbo
    t0 = time.perf_counter()
    try:
        stats = feed.run(books, progress=progress)
    except FeedError as e:
        # What was applied before a fatal error (a truncated file) is still worth a summary.
        e.books, e.elapsed = books, time.perf_counter() - t0
        raise
    elapsed = time.perf_counter() - t0
    reason = no_messages_reason(stats)
    if reason is not None:                                  # frames, but nothing for the books
        e = FeedError(READ_E_NO_MESSAGES, reason)
        e.stats, e.books, e.elapsed = stats, books, elapsed
        raise e
    return stats, books, elapsed


def run(args) -> int:
    from core.codes import FeedError
    from tickwire.summary import print_json, render, summarize
    from tickwire.verdict import EXIT_UNTRUSTED, apply_verdict

    size = os.path.getsize(args.path)
    show = args.progress == "always" or (args.progress == "auto" and size >= PROGRESS_MIN_BYTES
                                         and sys.stderr.isatty())
    opts = feed_options(args)
    try:
        if show:
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), TimeRemainingColumn(), transient=True) as bar:
                task = bar.add_task("replay", total=size)
                stats, books, elapsed = replay(
                    args.path, not args.no_bbo,
                    progress=lambda done, total: bar.update(task, completed=done, total=total or size), **opts)
        else:
            stats, books, elapsed = replay(args.path, not args.no_bbo, **opts)
    except FeedError as e:
        partial = getattr(e, "stats", None)
        if not (partial and partial.get("messages", 0) and getattr(e, "books", None) is not None):
            print(f"tickwire replay: {args.path}: {e}", file=sys.stderr)
            return 1
        # Summary of the messages before the error (books as they stood), then the error; exit 1.
        stats, books, elapsed, error = partial, e.books, e.elapsed, e
    else:
        error = None
    summary = summarize(stats, books, elapsed, source=args.path, top=args.top)
    trusted = apply_verdict(summary, args.strict)
    if error is not None:
        summary["error"] = {"code": error.code, "name": error.name, "offset": error.offset, "message": str(error)}
    if args.json:
        print_json(summary)
    else:
        render(summary)
    if error is not None:
        print(f"tickwire replay: {args.path}: {error}", file=sys.stderr)
        return 1
    if not trusted:
        print(untrusted_line("replay", args.path, summary), file=sys.stderr)
        return EXIT_UNTRUSTED
    return 0


def untrusted_line(command: str, path: str, summary: dict) -> str:
    """The one stderr line of a run whose books cannot be trusted (exit 3)."""
    how = " (--strict)" if summary.get("strict") else ""
    return f"tickwire {command}: {path}: books not trustworthy{how}: " + "; ".join(summary["trust_reasons"])
