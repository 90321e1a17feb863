"""Whether a replay's books can be trusted, and what a capture's frames were (`replay`, `book`).

The rule (README, docs/feedhandlers.md): the books of a run **cannot be trusted** when the run shows
that messages of the feed never reached them or that their state is impossible:

* a gap in the MoldUDP64 sequence numbers (messages missing);
* more duplicate messages than delivered ones: one copy per line (an A/B capture) gives at most as
  many duplicates as messages, so more means the expected sequence number was wrong (a damaged
  first sequence number) and the feed was thrown away as "already seen";
* a malformed message (a known type of another length: skipped, so missed by the books), a
  MoldUDP64 packet dropped as truncated, a frame cut by the capture's snaplen, a message dropped
  for lack of memory;
* a crossed book at the end (best bid >= best ask: impossible on a consistent feed).

Unknown order references are *not* in the rule: a file that starts mid-day (the 2019-12-30
snippet) references orders added before it. ``strict=True`` adds every other counted fault (unknown
types and references, any duplicate, every book fault, capture drops). Such a run exits
``EXIT_UNTRUSTED``.
"""
from __future__ import annotations

from typing import Any

EXIT_UNTRUSTED = 3
"""Exit status of `replay` / `book` when the books are not trustworthy (documented in README)."""

# (summary key, reason) of the faults that make the books untrustworthy in every mode
_LOSS = (
    ("malformed", "{:,} malformed messages skipped"),
    ("no_memory", "{:,} messages dropped for lack of memory"),
    ("crossed_books", "{:,} crossed books"),
)
# counted faults that only --strict turns into a verdict
_STRICT = (
    ("unknown_types", "{:,} messages of unknown types"),
    ("zero_length_recovered", "{:,} zero length prefixes recovered"),
    ("unknown_refs", "{:,} unknown references"),
    ("duplicate_adds", "{:,} duplicate adds"),
    ("over_executions", "{:,} over-executions"),
    ("over_cancels", "{:,} over-cancels"),
    ("rejected_adds", "{:,} rejected adds"),
    ("bad_refs", "{:,} references out of range"),
    ("bad_locates", "{:,} stock locates out of range"),
    ("replace_onto_live", "{:,} replaces onto a live reference"),
    ("zero_share_mods", "{:,} zero-share modifications"),
    ("locate_mismatches", "{:,} locate mismatches"),
)
_STRICT_CAPTURE = (
    ("not_udp", "{:,} capture frames not IPv4/UDP"),
    ("other_linktype", "{:,} capture frames of an unsupported link type"),
    ("bad_lengths", "{:,} capture frames with bad lengths"),
    ("mold_short", "{:,} MoldUDP64 packets shorter than their header"),
    ("mold_bad_trailers", "{:,} MoldUDP64 packets with trailing bytes"),
)


def capture_counters(stats: dict[str, Any]) -> dict[str, Any] | None:
    """What the frames of a capture were (None for a binaryFILE): the ``capture`` object of --json."""
    src = stats.get("source")
    if not isinstance(src, dict):
        return None
    bad = int(src.get("dropped_bad", 0))
    snap = int(src.get("dropped_snaplen", 0))
    return {
        "frames": int(src.get("records", 0)),
        "delivered": int(src.get("rx_packets", 0)),
        "not_udp": int(src.get("dropped_not_udp", 0)),
        "other_linktype": int(src.get("dropped_linktype", 0)),
        "bad_lengths": bad - snap,
        "cut_by_snaplen": snap,
        "filtered": int(src.get("dropped_dest", 0)),
        "filtered_to": [[d, int(n)] for d, n in src.get("filtered_destinations", [])],
        "filter": stats.get("filter", "any"),
        "mold_short": int(stats.get("short_packets", 0)),
        "mold_truncated": int(stats.get("truncated_packets", 0)),
        "mold_bad_trailers": int(stats.get("bad_trailers", 0)),
        "mold_heartbeats": int(stats.get("heartbeats", 0)),
        "unsequenced": int(stats.get("unsequenced_packets", 0)),
    }


def describe_drops(cap: dict[str, Any]) -> str:
    """One line: the capture's frames and what was dropped (the text summary and `book`)."""
    text = (f"{cap['frames']:,} frames: not UDP {cap['not_udp']:,}, bad lengths {cap['bad_lengths']:,}, "
            f"cut by snaplen {cap['cut_by_snaplen']:,}, filtered {cap['filtered']:,}")
    if cap["other_linktype"]:
        text += f", other link type {cap['other_linktype']:,}"
    if cap["filtered_to"]:
        text += f" (most to {cap['filtered_to'][0][0]})"
    return text


def no_messages_reason(stats: dict[str, Any]) -> str | None:
    """Why a capture with frames gave no ITCH message (None when it gave some, or has no frame)."""
    cap = capture_counters(stats)
    if cap is None or int(stats.get("messages", 0)) or not cap["frames"]:
        return None
    n = cap["frames"]
    flt = cap["filter"]
    if cap["filtered"] == n and len(cap["filtered_to"]) == 1:
        return f"no ITCH 5.0 message: {n:,} frames, all to {cap['filtered_to'][0][0]}, filtered out (wanted {flt})"
    parts = []
    if cap["not_udp"]:
        parts.append(f"{cap['not_udp']:,} not IPv4/UDP")
    if cap["other_linktype"]:
        parts.append(f"{cap['other_linktype']:,} of an unsupported link type")
    if cap["filtered"]:
        top, k = cap["filtered_to"][0]
        parts.append(f"{cap['filtered']:,} filtered (not {flt}; most to {top}: {k:,})")
    if cap["bad_lengths"]:
        parts.append(f"{cap['bad_lengths']:,} with bad lengths")
    if cap["cut_by_snaplen"]:
        parts.append(f"{cap['cut_by_snaplen']:,} cut by snaplen")
    if cap["delivered"]:
        mold = [f"{cap[k]:,} {what}" for k, what in (("mold_short", "shorter than a MoldUDP64 header"),
                                                     ("mold_truncated", "truncated"),
                                                     ("mold_heartbeats", "heartbeats")) if cap[k]]
        skipped = int(stats.get("unknown_types", 0)) + int(stats.get("malformed", 0))
        if skipped:
            mold.append(f"{skipped:,} messages of unknown type or length")
        parts.append(f"{cap['delivered']:,} UDP datagrams" + (f" ({', '.join(mold)})" if mold else ""))
    return f"no ITCH 5.0 message: {n:,} frames: " + ", ".join(parts)


def verdict(summary: dict[str, Any], strict: bool = False) -> list[str]:
    """Reasons why the books of ``summary`` (``tickwire.summary.summarize``) cannot be trusted; [] = trusted."""
    def n(key, src=summary):
        return int(src.get(key, 0) or 0)

    reasons = []
    if n("gaps"):
        reasons.append(f"{n('gaps'):,} gaps ({n('gap_messages'):,} messages missing)")
    if n("duplicates") > n("messages"):
        reasons.append(f"{n('duplicates'):,} duplicate messages for {n('messages'):,} delivered: the sequence "
                       f"numbers cannot be trusted (a damaged first sequence number?)")
    elif strict and n("duplicates"):
        reasons.append(f"{n('duplicates'):,} duplicate messages")
    cap = summary.get("capture") or {}
    if n("mold_truncated", cap):
        reasons.append(f"{n('mold_truncated', cap):,} truncated MoldUDP64 packets dropped")
    if n("cut_by_snaplen", cap):
        reasons.append(f"{n('cut_by_snaplen', cap):,} frames cut by snaplen dropped")
    for key, text in _LOSS + (_STRICT if strict else ()):
        if n(key):
            reasons.append(text.format(n(key)))
    if strict:
        reasons += [text.format(n(key, cap)) for key, text in _STRICT_CAPTURE if n(key, cap)]
    return reasons


def apply_verdict(summary: dict[str, Any], strict: bool = False) -> bool:
    """Add ``trusted`` and ``trust_reasons`` (and ``strict``) to ``summary``; returns ``trusted``."""
    reasons = verdict(summary, strict)
    summary["trusted"] = not reasons
    summary["trust_reasons"] = reasons
    summary["strict"] = bool(strict)
    return not reasons
