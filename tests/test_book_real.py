"""Real and reference ITCH 5.0 files through BookBuilder and the naive ReferenceBook."""
import struct

import numpy as np
import pytest

from book.builder import BookBuilder
from book.reference import ReferenceBook


def frames(buf):
    off = 0
    while off + 2 <= len(buf):
        (n,) = struct.unpack_from(">H", buf, off)
        yield buf[off + 2:off + 2 + n]
        off += 2 + n


def naive_unknown_refs(buf):
    """Unknown references counted the plainest way: a set of live refs."""
    live, unknown = set(), 0
    for m in frames(buf):
        t = m[:1]
        if t in (b"A", b"F"):
            live.add(int.from_bytes(m[11:19], "big"))
        elif t in (b"E", b"C", b"X", b"D", b"U"):
            ref = int.from_bytes(m[11:19], "big")
            if ref not in live:
                unknown += 1
                continue
            if t == b"D":
                live.discard(ref)
            elif t == b"U":
                live.discard(ref)
                live.add(int.from_bytes(m[19:27], "big"))
            # E/C/X: order may die at 0 shares; the book tracks shares, this count only needs refs
    return unknown


def both(buf):
    fast, ref = BookBuilder(), ReferenceBook()
    assert fast.apply_binaryfile(np.frombuffer(buf, dtype=np.uint8)) == len(buf)
    assert ref.apply_binaryfile(buf) == len(buf)
    ev_fast = [tuple(int(x) for x in e) for e in fast.drain_events()]
    assert ev_fast == ref.drain_events()
    assert fast.validate() == []
    assert fast.counters() == ref.counters()
    return fast, ref


@pytest.fixture(scope="module")
def ritch(data_dir):
    return (data_dir / "itch50" / "RITCH_synthetic_3stocks.NASDAQ_ITCH50").read_bytes()


@pytest.fixture(scope="module")
def snippet(data_dir):
    return (data_dir / "itch50" / "12302019_SNIPPET.NASDAQ_ITCH50").read_bytes()


@pytest.fixture(scope="module")
def first1000(data_dir):
    return (data_dir / "itch50" / "bbekele_first1000_20191230.NASDAQ_ITCH50").read_bytes()


def test_ritch_final_books_equal_reference(ritch):
    fast, ref = both(ritch)
    assert fast.messages == 12_012
    assert fast.type_counts() == {"A": 4997, "D": 1745, "E": 198, "F": 3, "H": 3, "P": 5000, "R": 3, "S": 6,
                                  "U": 12, "X": 45}
    for sym in ("ALC", "BOB", "CHAR"):
        loc = fast.locate_of(sym)
        assert loc is not None and loc == ref.locate_of(sym)
        assert fast.symbol_info(loc)["has_directory"]
        assert fast.bbo(loc) == ref.bbo(loc)
        assert fast.depth(loc, 10_000) == ref.depth(loc, 10_000)
        bids, asks = fast.depth(loc, 10_000)
        for side, levels in (("B", bids), ("S", asks)):
            for px, shares, count in levels:
                at = fast.orders_at(loc, side, px)
                assert at == ref.orders_at(loc, side, px)
                assert len(at) == count and sum(s for _, s in at) == shares
    assert fast.live_orders == ref.live_orders == 3203     # as itch-book: its one add of reference 0 is refused
    assert fast.book_count == 3


def test_ritch_faults_are_the_files_own(ritch):
    # The RITCH synthetic day is not self-consistent: 117 E/X/D messages come before the A of
    # their ref (same timestamps order), so they are unknown refs, and its random prices leave the
    # books crossed from message 38 on. Both books must agree on that, and count it, not fail.
    fast, ref = both(ritch)
    assert fast.unknown_refs == naive_unknown_refs(ritch) == 117
    assert fast.crossed_books() == ref.crossed_books()
    assert fast.over_executions == fast.duplicate_adds == 0
    # One Add Order carries reference 0, which NASDAQ never issues: refused (ZERO_REF), as itch-book does.
    assert fast.rejected_adds == ref.c["rejected_adds"] == 1


def test_snippet_mid_day_unknown_refs_counted(snippet):
    fast, ref = both(snippet)
    assert fast.messages == 1_000
    assert fast.unknown_refs == naive_unknown_refs(snippet) > 0
    assert fast.crossed_books() == ref.crossed_books() == 0
    assert fast.book_count == ref.book_count
    for loc in range(1, 9000):
        if ref.message_count(loc):
            assert fast.depth(loc, 1000) == ref.depth(loc, 1000)
            assert fast.message_count(loc) == ref.message_count(loc)


def test_directory_then_snippet(first1000, snippet):
    fast, ref = both(first1000 + snippet)
    assert fast.symbol(1) == "A" and fast.symbol(2) == "AA"
    assert fast.symbol_info(1)["round_lot"] == 100
    assert fast.book_count == ref.book_count >= 993
    halted = [loc for loc in range(1, 994) if fast.symbol_info(loc)["trading_state"]]
    assert halted and all(fast.symbol_info(loc)["trading_state"] == ref.symbol_info(loc)["trading_state"]
                          for loc in halted)
    reg = [loc for loc in range(1, 994) if fast.symbol_info(loc)["reg_sho"]]
    assert all(fast.symbol_info(loc)["reg_sho"] == ref.symbol_info(loc)["reg_sho"] for loc in reg)
    # Symbols of the snippet's busiest locates come from the directory.
    for loc in fast.most_active(5):
        assert fast.symbol(loc) == ref.symbol(loc)


def test_repeated_application_is_not_fatal(ritch):
    # The same day twice: every add is then a duplicate, every modify hits the new orders: counted, valid.
    fast, ref = both(ritch + ritch)
    assert fast.duplicate_adds > 0


def test_zero_length_prefixes_file_is_not_fatal(data_dir):
    # Every length prefix zeroed: binaryFILE framing is lost. apply_binaryfile must neither loop nor
    # crash nor corrupt a book; whatever it frames out of the garbage, fast and reference agree.
    buf = (data_dir / "bad_input" / "zero_length_prefixes.TEST_ITCH_50").read_bytes()
    fast, ref = BookBuilder(), ReferenceBook()
    off = fast.apply_binaryfile(buf)
    assert off == ref.apply_binaryfile(buf) and len(buf) - off < 65537
    assert fast.frames_skipped > 0
    assert fast.counters() == ref.counters()
    assert fast.validate() == []
