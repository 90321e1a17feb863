"""Book invariants after every message, on seeded random streams (runs on the release AND TW_DEBUG builds).

validate() checks the whole internal state (sorted sides, level aggregates = sum of their FIFO chain,
links, order/level/book back-pointers, the paged index, pool free lists); a consistent stream never
crosses; in the TW_DEBUG build ``crossed_events`` counts the book-changing messages that leave their
book crossed (checked against the reference).
"""
import random

import pytest

from book import codes
from testing import itchgen as g
from book.builder import DEBUG, BookBuilder
from book.reference import ReferenceBook

MAX_REF = (1 << 20) - 1


@pytest.mark.parametrize("seed", range(12))
def test_validate_after_every_message_random(seed):
    msgs = g.random_stream(random.Random(seed), 600, n_refs=16, big_ref=1 << 21)
    fast = BookBuilder(max_ref=MAX_REF, max_locates=4)
    ref = ReferenceBook(max_ref=MAX_REF, max_locates=4)
    crossed_after_change = 0
    for i, m in enumerate(msgs, 1):
        t = m[:1]
        book_loc = None
        if t in b"AF":
            book_loc = int.from_bytes(m[1:3], "big")
        elif t in b"ECXDU":
            o = ref.order(int.from_bytes(m[11:19], "big"))
            book_loc = o["locate"] if o else None
        rc = fast.apply_message(m, i)
        assert rc == ref.apply_message(m, i)
        assert fast.validate() == [], (seed, i)
        if book_loc is not None and rc in (codes.OK, codes.DUPLICATE_ADD, codes.OVER_EXECUTION,
                                           codes.OVER_CANCEL, codes.REPLACE_ONTO_LIVE):
            crossed_after_change += ref._crossed(book_loc)
    assert fast.counters()["live_orders"] == ref.live_orders
    if DEBUG:
        assert fast.crossed_events == crossed_after_change
    else:
        assert fast.crossed_events == 0        # the check is compiled away in release


@pytest.mark.parametrize("seed", range(12))
def test_consistent_stream_never_crosses(seed):
    msgs = g.consistent_stream(random.Random(1000 + seed), 1_500, n_locates=4)
    fast = BookBuilder()
    for i, m in enumerate(msgs, 1):
        assert fast.apply_message(m, i) == codes.OK
        assert fast.crossed_books() == 0
        if i % 10 == 0:
            assert fast.validate() == []
    assert fast.crossed_events == 0 and fast.unknown_refs == 0
    assert fast.validate() == []


def test_every_fault_path_is_exercised():
    totals = {}
    for seed in range(12):
        fast = BookBuilder(max_ref=MAX_REF, max_locates=4)
        for i, m in enumerate(g.random_stream(random.Random(seed), 600, n_refs=16, big_ref=1 << 21), 1):
            fast.apply_message(m, i)
        for k, v in fast.counters().items():
            totals[k] = totals.get(k, 0) + v
    for k in ("unknown_refs", "duplicate_adds", "over_executions", "over_cancels", "rejected_adds", "bad_refs",
              "bad_locates", "replace_onto_live", "zero_share_mods", "locate_mismatches", "bbo_changes", "trades"):
        assert totals[k] > 0, k


def test_validate_detects_corruption():
    fast = BookBuilder()
    for r in range(1, 6):
        fast.apply_message(g.add(r, "B", 100, 10_000 + (r % 2)))
    assert fast.validate() == []
    for what in ("level_shares", "order_link", "index"):
        b = BookBuilder()
        for r in range(1, 6):
            b.apply_message(g.add(r, "B", 100, 10_000 + (r % 2)))
        b._corrupt_for_test(what)
        problems = b.validate()
        assert problems, what
        with pytest.raises(AssertionError, match="BookBuilder internal state invalid"):
            b.validate_internal_state()
