"""`tickwire book PATH --levels N --csv`: the final book of every symbol after replaying PATH."""
from __future__ import annotations

import sys

from tickwire.cli_types import INT32_MAX, existing_file, nonempty, positive_int
from tickwire.commands.replay import add_feed_options, feed_options, untrusted_line


def register(sub) -> None:
    p = sub.add_parser("book", help="replay a file and print the final book of every symbol",
                       description=__doc__)
    p.add_argument("path", type=existing_file,
                   help="NASDAQ binaryFILE (plain or gzip), or pcap/pcapng of MoldUDP64 packets")
    p.add_argument("--levels", type=positive_int(INT32_MAX), default=5, help="price levels per side (default 5)")
    p.add_argument("--csv", action="store_true",
                   help="CSV with header locate,symbol,side,level,price,shares,orders (the default output)")
    p.add_argument("--symbol", type=nonempty, action="append", default=[], help="only these symbols (repeatable)")
    add_feed_options(p)
    p.set_defaults(func=run)


def write_csv(books, levels: int, out, symbols: list[str] | None = None, not_exact: dict | None = None) -> int:
    """Write every non-empty book as CSV rows; level 1 is the best on both sides. Returns rows written.

    ``not_exact`` ({locate: sequence number}, from `tickwire listen`): books that may be off since that
    sequence number (messages given up). When any book is marked, the rows get one more column,
    ``not_exact_since`` (the number, or empty for a book that is exact); when none is, the CSV is exactly
    the unmarked format, so exact runs still compare equal with ``cmp``."""
    from tickwire.summary import dollars

    wanted = {s.upper() for s in symbols or []}
    marks = {int(k): int(v) for k, v in (not_exact or {}).items() if v}
    out.write("locate,symbol,side,level,price,shares,orders" + (",not_exact_since\n" if marks else "\n"))
    rows = 0
    for locate in books.locates():
        symbol = books.symbol(locate)
        if wanted and symbol not in wanted:
            continue
        tail = (f",{marks[locate]}\n" if locate in marks else ",\n") if marks else "\n"
        bids, asks = books.depth(locate, levels)
        for side, ladder in (("B", bids), ("S", asks)):
            for level, (price, shares, orders) in enumerate(ladder, 1):
                out.write(f"{locate},{symbol},{side},{level},{dollars(price)},{shares},{orders}{tail}")
                rows += 1
    return rows


def run(args) -> int:
    """Write the CSV; exit 0, 1 bad input or a --symbol not in the day (nothing written), 2 usage, 3 books
    not trustworthy (CSV written, then the reasons on stderr)."""
    from core.codes import FeedError
    from tickwire.commands.replay import replay
    from tickwire.summary import summarize
    from tickwire.verdict import EXIT_UNTRUSTED, apply_verdict, describe_drops

    try:
        stats, books, elapsed = replay(args.path, track_bbo=False, **feed_options(args))
    except FeedError as e:
        print(f"tickwire book: {args.path}: {e}", file=sys.stderr)
        return 1
    known = {books.symbol(locate) for locate in books.locates()}
    missing = [s for s in dict.fromkeys(s.upper() for s in args.symbol) if s not in known]
    if missing:                                 # a typo must not look like an empty book: nothing written
        what = "symbols" if len(missing) > 1 else "symbol"
        print(f"tickwire book: {args.path}: {what} {', '.join(missing)} not in the day's directory "
              f"({len(known)} symbols)", file=sys.stderr)
        return 1
    write_csv(books, args.levels, sys.stdout, args.symbol)
    summary = summarize(stats, books, elapsed, source=args.path, top=0)
    cap = summary.get("capture")
    if cap and cap["frames"] != cap["delivered"]:
        print(f"tickwire book: {args.path}: capture {describe_drops(cap)}", file=sys.stderr)
    if not apply_verdict(summary, args.strict):
        print(untrusted_line("book", args.path, summary), file=sys.stderr)
        return EXIT_UNTRUSTED
    return 0
