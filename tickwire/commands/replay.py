"""`tickwire replay PATH`: a binaryFILE (.gz too), pcap or pcapng through the decoder and the books."""
from __future__ import annotations

import os
import sys

PROGRESS_MIN_BYTES = 64 << 20   # show a progress bar on inputs at least this large


def register(sub) -> None:
    p = sub.add_parser("replay", help="replay an ITCH 5.0 file (binaryFILE, .gz, pcap, pcapng) into the books",
                       description=__doc__)
    p.add_argument("path", help="NASDAQ binaryFILE (plain or gzip), or pcap/pcapng of MoldUDP64 packets")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--top", type=int, default=5, help="most active symbols to show (default 5)")
    p.add_argument("--no-bbo", action="store_true", help="book-only: skip BBO-change detection")
    p.add_argument("--recover-zero-lengths", action="store_true",
                   help="frame by each type's spec length when length prefixes are zero (damaged files)")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress bar on stderr (auto: inputs over 64 MiB on a terminal)")
    p.set_defaults(func=run)


def replay(path: str, track_bbo: bool = True, progress=None, **feed_opts):
    """Run ``path`` into a fresh BookBuilder; returns (stats, books, elapsed_s)."""
    import time

    from book.builder import BookBuilder
    from core.codes import FeedError
    from feedhandlers.reader import open_feed

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
    return stats, books, elapsed


def run(args) -> int:
    from core.codes import FeedError
    from tickwire.summary import print_json, render, summarize

    if not os.path.exists(args.path):
        print(f"tickwire replay: {args.path}: no such file", file=sys.stderr)
        return 2
    size = os.path.getsize(args.path)
    show = args.progress == "always" or (args.progress == "auto" and size >= PROGRESS_MIN_BYTES
                                         and sys.stderr.isatty())
    opts = {"recover_zero_lengths": True} if args.recover_zero_lengths else {}
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
    if error is not None:
        summary["error"] = {"code": error.code, "name": error.name, "offset": error.offset, "message": str(error)}
    if args.json:
        print_json(summary)
    else:
        render(summary)
    if error is not None:
        print(f"tickwire replay: {args.path}: {error}", file=sys.stderr)
        return 1
    return 0
