"""Cross-check against an independent implementation: every BBO change, row by row.

`itch-book` (C++23 core, pip) is the fastest pip-installable ITCH book and the peer of the
benchmark; here it serves as an oracle written by someone else. On consistent feeds both must
report the same sequence of top-of-book changes (locate, bid/ask price and size, order counts where
we have them), the same live orders and the same unknown references.
"""
from __future__ import annotations

import numpy as np
import pytest

itch_book_core = pytest.importorskip("itch_book._core", reason="itch-book is a bench/test extra of pyproject")

from book.builder import BookBuilder  # noqa: E402
from feedhandlers.itch import ItchFramer  # noqa: E402

BBO_KIND = 1


def ours(buf: bytes):
    books = BookBuilder()
    framer = ItchFramer(books)
    framer.feed(buf)
    framer.finish()
    events = books.drain_events()
    return books, events[events["kind"] == BBO_KIND]


def peer(buf: bytes):
    session = itch_book_core.Session(tables=["bbo"], depth=0, symbols=[])
    session.feed(buf)
    return session.stats(), session.take_bbo()


def assert_same_bbo_stream(buf: bytes):
    books, mine = ours(buf)
    stats, theirs = peer(buf)
    assert len(mine) == len(theirs["locate"]), "number of BBO changes differs"
    for field in ("locate", "seq", "bid_px", "bid_sz", "ask_px", "ask_sz"):
        a, b = mine[field].astype(np.int64), theirs[field].astype(np.int64)
        if not np.array_equal(a, b):
            i = int(np.argmax(a != b))
            pytest.fail(f"BBO change #{i} differs in {field}: ours {a[i]} peer {b[i]} (seq {theirs['seq'][i]})")
    assert books.live_orders == stats["live_orders"]
    assert books.counters()["unknown_refs"] == stats["missing_ref"]
    assert books.crossed_books() == stats["crossed_books"]
    return books


def test_generated_day_matches_peer(tmp_path):
    from lab.daygen import generate_day

    path = tmp_path / "day.itch"
    generate_day(str(path), 300_000, 300, 11)
    books = assert_same_bbo_stream(path.read_bytes())
    assert books.crossed_books() == 0


def test_real_snippet_matches_peer(data_dir):
    # Starts mid-day: hundreds of unknown references, which both must count the same way.
    assert_same_bbo_stream((data_dir / "itch50" / "12302019_SNIPPET.NASDAQ_ITCH50").read_bytes())


def test_directory_day_matches_peer(data_dir):
    assert_same_bbo_stream((data_dir / "itch50" / "bbekele_first1000_20191230.NASDAQ_ITCH50").read_bytes())


def test_ritch_day_matches_peer(data_dir):
    # Not self-consistent (unknown refs, crossed books, one add of reference 0): both must count the
    # same faults, refuse the same add and still report the same top-of-book changes.
    books = assert_same_bbo_stream((data_dir / "itch50" / "RITCH_synthetic_3stocks.NASDAQ_ITCH50").read_bytes())
    assert books.counters()["rejected_adds"] == 1 and books.crossed_books() > 0
