"""The run summary shared by `tickwire replay` and `tickwire listen`: one dict, two renderings.

``summarize`` gathers decoder stats and book state into a plain dict (the ``--json`` output);
``render`` prints it for a person with rich tables. Keys promised to users (README):
messages, by_type, malformed, unknown_refs, gaps, books, live_orders, crossed_books,
elapsed_s, msgs_per_s, ns_per_msg. A capture adds ``capture`` (its frames and drops,
``tickwire.verdict.capture_counters``); `replay` and `book` add ``trusted`` and ``trust_reasons``.
"""
from __future__ import annotations

import json
import sys
from typing import Any

PRICE_SCALE = 10_000
# ITCH 5.0 message names, for the by-type table.
MESSAGE_NAMES = {
    "S": "System Event", "R": "Stock Directory", "H": "Stock Trading Action", "Y": "Reg SHO Restriction",
    "L": "Market Participant Position", "V": "MWCB Decline Level", "W": "MWCB Status",
    "K": "IPO Quoting Period Update", "J": "LULD Auction Collar", "h": "Operational Halt",
    "A": "Add Order", "F": "Add Order (MPID)", "E": "Order Executed", "C": "Order Executed w/ Price",
    "X": "Order Cancel", "D": "Order Delete", "U": "Order Replace", "P": "Trade (non-cross)",
    "Q": "Cross Trade", "B": "Broken Trade", "I": "NOII", "N": "Retail Interest", "O": "Direct Listing",
}


def dollars(price: int) -> str:
    """ITCH Price(4) integer as dollars with 4 decimals, exactly (no float)."""
    sign = "-" if price < 0 else ""
    price = abs(int(price))
    return f"{sign}{price // PRICE_SCALE}.{price % PRICE_SCALE:04d}"


def top_symbols(books, n: int = 5, levels: int = 5) -> list[dict[str, Any]]:
    """BBO and top-``levels`` depth of the ``n`` most active symbols."""
    out = []
    for locate in [loc for loc in books.most_active(n + 1) if loc != 0][:n]:  # locate 0: system messages
        bid_px, bid_sz, bid_ct, ask_px, ask_sz, ask_ct = books.bbo(locate)
        bids, asks = books.depth(locate, levels)
        out.append({
            "locate": int(locate),
            "symbol": books.symbol(locate),
            "messages": int(books.message_count(locate)),
            "bbo": {"bid_px": int(bid_px), "bid_sz": int(bid_sz), "bid_orders": int(bid_ct),
                    "ask_px": int(ask_px), "ask_sz": int(ask_sz), "ask_orders": int(ask_ct)},
            "bids": [[int(p), int(s), int(c)] for p, s, c in bids],
            "asks": [[int(p), int(s), int(c)] for p, s, c in asks],
        })
    return out


def summarize(stats: dict[str, Any], books, elapsed_s: float, source: str, extra: dict | None = None,
              top: int = 5) -> dict[str, Any]:
    """One summary dict from the feed's stats and the books after the run."""
    from tickwire.verdict import capture_counters

    counters = books.counters()
    messages = int(stats.get("messages", 0))
    summary: dict[str, Any] = {
        "source": source,
        "messages": messages,
        "by_type": {k: int(v) for k, v in sorted(stats.get("by_type", {}).items())},
        "malformed": int(stats.get("malformed", 0)),
        "unknown_types": int(stats.get("unknown_types", 0)),
        "unknown_refs": int(counters.get("unknown_refs", 0)),
        "duplicate_adds": int(counters.get("duplicate_adds", 0)),
        "over_executions": int(counters.get("over_executions", 0)),
        "rejected_adds": int(counters.get("rejected_adds", 0)),
        **{k: int(counters.get(k, 0)) for k in ("over_cancels", "bad_refs", "bad_locates", "replace_onto_live",
                                                "zero_share_mods", "locate_mismatches", "no_memory")},
        "zero_length_recovered": int(stats.get("zero_length_recovered", 0)),
        "sink_errors": int(stats.get("sink_errors", 0)),
        "gaps": int(stats.get("gaps", 0)),
        # the session layer says gap_messages, the one-line MoldFramer missing_messages
        "gap_messages": int(stats.get("gap_messages", stats.get("missing_messages", 0))),
        "duplicates": int(stats.get("duplicates", 0)),
        "packets": int(stats.get("packets", 0)),
        "bytes": int(stats.get("bytes", 0)),
        "books": int(books.book_count),
        "live_orders": int(books.live_orders),
        "crossed_books": int(books.crossed_books()),
        "bbo_changes": int(counters.get("bbo_changes", 0)),
        "trades": int(counters.get("trades", 0)),
        "elapsed_s": round(elapsed_s, 6),
        "msgs_per_s": round(messages / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        "ns_per_msg": round(elapsed_s * 1e9 / messages, 2) if messages else 0.0,
        "most_active": top_symbols(books, top),
    }
    cap = capture_counters(stats)
    if cap is not None:
        summary["capture"] = cap
    if extra:
        summary.update(extra)
    return summary


def print_json(summary: dict[str, Any], file=None) -> None:
    json.dump(summary, file or sys.stdout, separators=(",", ":"))
    (file or sys.stdout).write("\n")


def render(summary: dict[str, Any], console=None) -> None:
    """Print the summary for a person (rich tables)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    console.print(f"[bold]tickwire[/bold] {summary['source']}")
    if summary.get("trusted") is False:
        from rich.markup import escape

        console.print("[bold red]BOOKS NOT TRUSTWORTHY[/bold red]: " + escape("; ".join(summary["trust_reasons"])),
                      highlight=False)
    head = Table(show_header=False, box=None, pad_edge=False)
    head.add_column(style="cyan")
    head.add_column(justify="right")
    rows = [
        ("messages", f"{summary['messages']:,}"),
        ("throughput", f"{summary['msgs_per_s'] / 1e6:,.2f} M msgs/s  ({summary['ns_per_msg']:.1f} ns/msg, "
                       f"{summary['elapsed_s']:.3f} s)"),
        ("books / live orders", f"{summary['books']:,} / {summary['live_orders']:,}"),
        ("BBO changes / trades", f"{summary['bbo_changes']:,} / {summary['trades']:,}"),
        ("malformed / unknown types", f"{summary['malformed']:,} / {summary['unknown_types']:,}"),
        ("unknown refs / dup adds / over-exec",
         f"{summary['unknown_refs']:,} / {summary['duplicate_adds']:,} / {summary['over_executions']:,}"),
        ("gaps (messages) / duplicates", f"{summary['gaps']:,} ({summary['gap_messages']:,}) / "
                                         f"{summary['duplicates']:,}"),
        ("crossed books", f"{summary['crossed_books']:,}"),
    ]
    cap = summary.get("capture")
    if cap:
        rows.append(("capture frames / delivered", f"{cap['frames']:,} / {cap['delivered']:,}"))
        rows.append(("not UDP / bad len / snaplen / filtered",
                     f"{cap['not_udp']:,} / {cap['bad_lengths']:,} / {cap['cut_by_snaplen']:,} / {cap['filtered']:,}"))
        if cap["filtered_to"]:
            rows.append(("filtered, most to", f"{cap['filtered_to'][0][0]} ({cap['filtered_to'][0][1]:,})"))
    if "gaps_recovered" in summary:  # live sessions (`tickwire listen`)
        rows.append(("recovered / unrecoverable / requests",
                     f"{summary['gaps_recovered']:,} / {summary.get('unrecoverable', 0):,} / "
                     f"{summary.get('requests_sent', 0):,}"))
        if summary.get("filtered_text"):
            rows.append(("filtered", summary["filtered_text"]))
        if summary.get("books_not_exact_since"):
            marked = summary.get("books_not_exact") or []
            rows.append(("books not exact since", f"sequence {summary['books_not_exact_since']:,}: every book "
                                                  f"({len(marked):,}; messages given up, which stocks they "
                                                  f"touched is unknown)"))
        for snap in summary.get("snapshots") or []:
            rows.append(("snapshot", f"up to sequence {snap['upto']:,} from {snap['server']}: "
                                     + (f"failed ({snap['error']})" if snap.get("error") else
                                        f"{snap['messages']:,} messages in {snap['elapsed_s']:.2f} s, books swapped in")))
    for key, label in (("line_wins", "first copy from"), ("duplicates_dropped", "duplicates dropped")):
        if isinstance(summary.get(key), dict):
            rows.append((label, "  ".join(f"{k} {v:,}" for k, v in summary[key].items())))
    lat = summary.get("latency_ns")
    if isinstance(lat, dict) and lat.get("count"):
        rows.append(("wire-to-book latency (us)",
                     "  ".join(f"{k} {lat[k] / 1000:,.1f}" for k in ("p50", "p90", "p99", "p99.9", "max") if k in lat)
                     + f"  (n={lat['count']:,})"))
    for k, v in rows:
        head.add_row(k, v)
    console.print(head)

    types = Table(title="messages by type", title_justify="left")
    types.add_column("type")
    types.add_column("name")
    types.add_column("count", justify="right")
    for t, n in sorted(summary["by_type"].items(), key=lambda kv: -kv[1]):
        types.add_row(t, MESSAGE_NAMES.get(t, "?"), f"{n:,}")
    console.print(types)

    for sym in summary["most_active"]:
        b = sym["bbo"]
        title = (f"{sym['symbol'] or '#' + str(sym['locate'])} (locate {sym['locate']}, {sym['messages']:,} msgs)  "
                 f"BBO {b['bid_sz']:,} @ {dollars(b['bid_px'])} / {b['ask_sz']:,} @ {dollars(b['ask_px'])}"
                 + (f"  NOT EXACT since sequence {sym['not_exact_since']:,}" if sym.get("not_exact_since") else ""))
        depth = Table(title=title, title_justify="left")
        for col in ("level", "bid orders", "bid shares", "bid", "ask", "ask shares", "ask orders"):
            depth.add_column(col, justify="right")
        for i in range(max(len(sym["bids"]), len(sym["asks"]))):
            bid = sym["bids"][i] if i < len(sym["bids"]) else None
            ask = sym["asks"][i] if i < len(sym["asks"]) else None
            depth.add_row(
                str(i + 1),
                f"{bid[2]:,}" if bid else "", f"{bid[1]:,}" if bid else "", dollars(bid[0]) if bid else "",
                dollars(ask[0]) if ask else "", f"{ask[1]:,}" if ask else "", f"{ask[2]:,}" if ask else "",
            )
        console.print(depth)
