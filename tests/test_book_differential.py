"""BookBuilder against the naive ReferenceBook: same result codes, events, counters and depth.

Hypothesis generates message streams, valid and invalid (unknown refs, duplicate adds, over-executions,
over-cancels, zero shares / prices, bad sides, refs above the cap, locate 0 / above max_locates,
replaces onto live refs); each message goes through both books and everything observable must agree.
"""
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from book import codes
from testing import itchgen as g
from book.builder import C_CODES, EVENT_DTYPE, BookBuilder
from book.reference import ReferenceBook

MAX_REF = (1 << 20) - 1
BIG_REF = 1 << 21
MAX_LOCATES = 4
PRICES = [0, 9_900, 10_000, 10_100, 10_200]

ref_st = st.one_of(st.integers(1, 10), st.just(BIG_REF))
loc_st = st.one_of(st.integers(1, 3), st.sampled_from([0, MAX_LOCATES, 7]))
shares_st = st.sampled_from([0, 1, 50, 100, 250])
px_st = st.sampled_from(PRICES)

msg_st = st.one_of(
    st.builds(lambda r, s, q, p, loc, mp: g.add(r, s, q, p, loc, mpid=mp), ref_st, st.sampled_from("BBSSZ"),
              shares_st, px_st, loc_st, st.sampled_from([None, "ABCD"])),
    st.builds(lambda r, q, m, loc: g.execute(r, q, m, loc), ref_st, shares_st, st.integers(0, 99), loc_st),
    st.builds(lambda r, q, p, y, loc: g.execute_px(r, q, p, y, 7, loc), ref_st, shares_st, px_st, st.booleans(),
              loc_st),
    st.builds(lambda r, q, loc: g.cancel(r, q, loc), ref_st, shares_st, loc_st),
    st.builds(lambda r, loc: g.delete(r, loc), ref_st, loc_st),
    st.builds(lambda r, n, q, p, loc: g.replace(r, n, q, p, loc), ref_st, ref_st, shares_st, px_st, loc_st),
    st.builds(lambda q, p, loc: g.trade(q, p, 5, "B", 0, loc), shares_st, px_st, loc_st),
    st.builds(lambda q, p, loc: g.cross(q, p, 6, "O", loc), shares_st, px_st, loc_st),
    st.builds(lambda loc: g.broken(3, loc), loc_st),
    st.builds(lambda loc: g.directory(loc, f"S{loc}"), loc_st),
)


def events_as_tuples(arr):
    return [tuple(int(x) for x in e) for e in arr]


def compare_books(fast, ref, locates=range(8)):
    assert fast.counters() == ref.counters()
    assert fast.live_orders == ref.live_orders
    assert fast.book_count == ref.book_count
    assert fast.crossed_books() == ref.crossed_books()
    assert fast.type_counts() == ref.type_counts()
    assert fast.most_active(10) == ref.most_active(10)
    assert fast.locates() == ref.locates() and len(fast.locates()) == fast.book_count
    for loc in locates:
        assert fast.bbo(loc) == ref.bbo(loc), loc
        bids, asks = fast.depth(loc, 100)
        assert (bids, asks) == ref.depth(loc, 100), loc
        for side, levels in (("B", bids), ("S", asks)):
            for px, _, _ in levels:
                assert fast.orders_at(loc, side, px) == ref.orders_at(loc, side, px)
        assert fast.symbol(loc) == ref.symbol(loc)
        assert fast.message_count(loc) == ref.message_count(loc)
    for r in list(range(12)) + [BIG_REF]:
        assert fast.order(r) == ref.order(r), r


def run_both(msgs, fast, ref, validate_each=True):
    for i, m in enumerate(msgs, 1):
        c_fast, c_ref = fast.apply_message(m, i), ref.apply_message(m, i)
        assert c_fast == c_ref, (i, m[:1], c_fast, c_ref)
        assert events_as_tuples(fast.drain_events()) == ref.drain_events(), (i, m[:1])
        if validate_each:
            assert fast.validate() == [], (i, m[:1])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(msg_st, min_size=1, max_size=80))
def test_random_streams_match_reference(msgs):
    fast = BookBuilder(max_ref=MAX_REF, max_locates=MAX_LOCATES)
    ref = ReferenceBook(max_ref=MAX_REF, max_locates=MAX_LOCATES)
    run_both(msgs, fast, ref)
    compare_books(fast, ref)


@settings(max_examples=30, deadline=None)
@given(st.lists(msg_st, min_size=1, max_size=200), st.booleans(), st.booleans())
def test_tracking_flags_do_not_change_the_book(msgs, track_bbo, record_events):
    fast = BookBuilder(track_bbo=track_bbo, record_events=record_events, max_ref=MAX_REF, max_locates=MAX_LOCATES)
    ref = ReferenceBook(track_bbo=track_bbo, record_events=record_events, max_ref=MAX_REF, max_locates=MAX_LOCATES)
    run_both(msgs, fast, ref, validate_each=False)
    compare_books(fast, ref)
    if not track_bbo:
        assert fast.bbo_changes == 0
    if not record_events:
        assert fast.events_pending == 0


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(50, 400))
def test_consistent_streams_never_cross(rnd, n):
    msgs = g.consistent_stream(rnd, n)
    fast, ref = BookBuilder(), ReferenceBook()
    for i, m in enumerate(msgs, 1):
        assert fast.apply_message(m, i) == codes.OK
        ref.apply_message(m, i)
        assert fast.crossed_books() == 0
        assert events_as_tuples(fast.drain_events()) == ref.drain_events()
    c = fast.counters()
    faults = {k: v for k, v in c.items() if k not in ("messages", "live_orders", "bbo_changes", "trades")}
    assert not any(faults.values()), faults
    compare_books(fast, ref, locates=range(5))
    assert fast.validate() == []


@pytest.mark.parametrize("seed", range(8))
def test_binaryfile_equals_message_by_message(seed):
    msgs = g.random_stream(random.Random(seed), 2_000, big_ref=BIG_REF)
    buf = g.binaryfile(msgs)
    a = BookBuilder(max_ref=MAX_REF, max_locates=MAX_LOCATES, event_high_water=64)
    ref = ReferenceBook(max_ref=MAX_REF, max_locates=MAX_LOCATES)
    off, chunks = 0, []
    while off < len(buf):        # the event high-water mark makes it return early: drain and go on
        off = a.apply_binaryfile(buf, off)
        chunks.append(a.drain_events())
    assert off == len(buf)
    assert len(chunks) > 2
    whole = BookBuilder(max_ref=MAX_REF, max_locates=MAX_LOCATES)     # no high-water mark: all at once
    assert whole.apply_binaryfile(buf) == len(buf) and whole.events_pending == sum(map(len, chunks))
    step = BookBuilder(max_ref=MAX_REF, max_locates=MAX_LOCATES)      # bounded work per call
    off, calls = 0, 0
    while off < len(buf):
        off = step.apply_binaryfile(buf, off, max_messages=100)
        calls += 1
    assert calls == 20 and step.file_seq == 2_000 and step.counters() == whole.counters()
    assert ref.apply_binaryfile(buf) == len(buf)
    assert events_as_tuples(np.concatenate(chunks)) == ref.drain_events()
    compare_books(a, ref)
    assert a.validate() == []


# ------------------------------------------------------------------ each fault: code, message, counter ----
def _fresh():
    b = BookBuilder(max_ref=MAX_REF, max_locates=MAX_LOCATES)
    assert b.apply_message(g.add(1, "B", 100, 10_000, 1)) == codes.OK
    return b


FAULTS = [
    ("unknown ref E", g.execute(99, 10), codes.UNKNOWN_REF, "unknown_refs"),
    ("unknown ref C", g.execute_px(99, 10, 10_000), codes.UNKNOWN_REF, "unknown_refs"),
    ("unknown ref X", g.cancel(99, 10), codes.UNKNOWN_REF, "unknown_refs"),
    ("unknown ref D", g.delete(99), codes.UNKNOWN_REF, "unknown_refs"),
    ("unknown ref U", g.replace(99, 100, 10, 10_000), codes.UNKNOWN_REF, "unknown_refs"),
    ("duplicate add", g.add(1, "S", 5, 10_100), codes.DUPLICATE_ADD, "duplicate_adds"),
    ("over-execution", g.execute(1, 101), codes.OVER_EXECUTION, "over_executions"),
    ("over-execution C", g.execute_px(1, 500, 9_000), codes.OVER_EXECUTION, "over_executions"),
    ("over-cancel", g.cancel(1, 1_000), codes.OVER_CANCEL, "over_cancels"),
    ("zero shares add", g.add(2, "B", 0, 10_000), codes.ZERO_SHARES, "rejected_adds"),
    ("zero price add", g.add(2, "B", 10, 0), codes.ZERO_PRICE, "rejected_adds"),
    ("bad side", g.add(2, "X", 10, 10_000), codes.BAD_SIDE, "rejected_adds"),
    ("zero shares replace", g.replace(1, 2, 0, 10_000), codes.ZERO_SHARES, "rejected_adds"),
    ("ref over cap add", g.add(BIG_REF, "B", 10, 10_000), codes.REF_OUT_OF_RANGE, "bad_refs"),
    ("ref over cap E", g.execute(BIG_REF, 10), codes.REF_OUT_OF_RANGE, "bad_refs"),
    ("replace to ref over cap", g.replace(1, BIG_REF, 10, 10_000), codes.REF_OUT_OF_RANGE, "bad_refs"),
    ("locate 0 add", g.add(2, "B", 10, 10_000, loc=0), codes.LOCATE_OUT_OF_RANGE, "bad_locates"),
    ("locate >= max_locates", g.delete(1, loc=MAX_LOCATES), codes.LOCATE_OUT_OF_RANGE, "bad_locates"),
    ("zero-share execute", g.execute(1, 0), codes.ZERO_SHARES_MOD, "zero_share_mods"),
    ("zero-share cancel", g.cancel(1, 0), codes.ZERO_SHARES_MOD, "zero_share_mods"),
    ("bad message", b"A" + bytes(10), codes.BAD_MESSAGE, "bad_messages"),
    ("unknown type", b"Z" + bytes(18), codes.BAD_MESSAGE, "bad_messages"),
]


@pytest.mark.parametrize("name,msg,code,counter", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_code_message_and_counter(name, msg, code, counter):
    b = _fresh()
    before = b.counters()
    assert b.apply_message(msg, 2) == code
    after = b.counters()
    assert after[counter] == before[counter] + 1
    assert codes.CODES[code][2] == counter
    assert BookBuilder.describe(code) == codes.CODES[code][:2]
    assert b.validate() == []
    ref = ReferenceBook(max_ref=MAX_REF, max_locates=MAX_LOCATES)
    ref.apply_message(g.add(1, "B", 100, 10_000, 1))
    assert ref.apply_message(msg, 2) == code


def test_fault_policies():
    b = _fresh()
    # Rejected replace leaves the original untouched.
    assert b.apply_message(g.replace(1, 2, 0, 10_000)) == codes.ZERO_SHARES
    assert b.order(1)["shares"] == 100 and b.order(2) is None
    # Duplicate add: stale order replaced by the new one (other side, other price).
    assert b.apply_message(g.add(1, "S", 5, 10_100)) == codes.DUPLICATE_ADD
    assert b.order(1) == {"ref": 1, "locate": 1, "side": "S", "price": 10_100, "shares": 5}
    assert b.bbo(1) == (0, 0, 0, 10_100, 5, 1)
    # Over-execution clamps and kills the order; the trade prints the shares actually there.
    assert b.apply_message(g.execute(1, 50, match=9)) == codes.OVER_EXECUTION
    assert b.order(1) is None and b.live_orders == 0
    trades = [e for e in b.drain_events() if e["kind"] == 2]
    assert int(trades[-1]["trade_qty"]) == 5 and int(trades[-1]["trade_px"]) == 10_100
    # Replace onto a live ref: the stale order at the new ref is removed.
    b.apply_message(g.add(3, "B", 10, 9_900))
    b.apply_message(g.add(4, "S", 20, 10_500, loc=2))
    assert b.apply_message(g.replace(3, 4, 30, 9_950)) == codes.REPLACE_ONTO_LIVE
    assert b.bbo(2) == (0, 0, 0, 0, 0, 0)
    assert b.order(4) == {"ref": 4, "locate": 1, "side": "B", "price": 9_950, "shares": 30}
    assert b.validate() == []


def test_codes_table_matches_the_c_enum():
    for name, value in C_CODES.items():
        assert getattr(codes, name) == value
        assert codes.CODES[value][0] == name
    assert set(codes.CODES) == set(C_CODES.values())
    assert codes.describe(-999)[0] == "UNKNOWN(-999)"
    err = codes.BookError(codes.UNKNOWN_REF)
    assert "BOOK_UNKNOWN_REF (-901)" in str(err) and "not live" in str(err)


def test_time_priority_and_replace_loses_priority():
    b = BookBuilder()
    for ref in (1, 2, 3):
        b.apply_message(g.add(ref, "B", 100 * ref, 10_000))
    assert b.orders_at(1, "B", 10_000) == [(1, 100), (2, 200), (3, 300)]
    b.apply_message(g.replace(1, 10, 50, 10_000))           # same price: goes to the back
    assert b.orders_at(1, "B", 10_000) == [(2, 200), (3, 300), (10, 50)]
    b.apply_message(g.cancel(2, 150))
    b.apply_message(g.execute(3, 300))
    assert b.orders_at(1, "B", 10_000) == [(2, 50), (10, 50)]
    assert b.bbo(1) == (10_000, 100, 2, 0, 0, 0)
    assert b.depth(1, 5) == ([(10_000, 100, 2)], [])


def test_events_dtype_and_content():
    b = BookBuilder()
    b.apply_message(g.add(1, "B", 100, 10_000, ts=5), 1)
    b.apply_message(g.add(2, "S", 50, 10_100, ts=6), 2)
    b.apply_message(g.execute(2, 20, match=77, ts=7), 3)
    b.apply_message(g.execute_px(2, 10, 10_050, printable=False, ts=8), 4)    # non-printable: no trade
    b.apply_message(g.trade(300, 10_050, match=78, ts=9), 5)
    ev = b.drain_events()
    assert ev.dtype == EVENT_DTYPE and EVENT_DTYPE.itemsize == 64
    assert [int(k) for k in ev["kind"]] == [1, 1, 2, 1, 1, 2]
    t = ev[2]
    assert (int(t["trade_px"]), int(t["trade_qty"]), int(t["match"]), int(t["seq"]), int(t["ts"])) == \
        (10_100, 20, 77, 3, 7)
    assert (int(t["bid_px"]), int(t["bid_sz"]), int(t["ask_px"]), int(t["ask_sz"])) == (10_000, 100, 10_100, 30)
    assert chr(ev[1]["side"]) == "S" and chr(t["side"]) == "S"
    assert b.trades == 2 and b.bbo_changes == 4
    assert b.symbol_info(1)["last_trade"] == {"price": 10_050, "shares": 300, "match": 78, "ts": 9}
    assert len(b.drain_events()) == 0


def test_subscribe_pushes_events():
    b = BookBuilder(record_events=False)     # subscribing turns recording on
    got = []
    b.subscribe(got.append)
    b.subscribe(lambda e: 1 / 0)                             # a failing callback is counted, not fatal
    b.apply_binaryfile(g.binaryfile([g.add(1, "B", 100, 10_000), g.add(2, "S", 100, 10_200), g.delete(1)]))
    assert [int(e["kind"]) for e in got] == [1, 1, 1]
    assert int(got[-1]["bid_px"]) == 0 and int(got[-1]["ask_px"]) == 10_200
    assert b.callback_errors == 3
    assert b.events_pending == 0
    b.unsubscribe(got.append)


def test_binaryfile_framing_faults():
    good = [g.add(1, "B", 100, 10_000), g.delete(1)]
    buf = g.binaryfile(good) + b"\x00\x03Z12" + b"\x00\x05" + g.delete(2)[:5] + g.binaryfile([g.add(3, "S", 1, 1)])
    b = BookBuilder()
    assert b.apply_binaryfile(buf) == len(buf)
    assert b.frames_skipped == 2 and b.messages == 3 and b.live_orders == 1
    truncated = g.binaryfile(good) + g.binaryfile([g.add(5, "B", 1, 1)])[:-4]
    b = BookBuilder()
    assert b.apply_binaryfile(truncated) == len(g.binaryfile(good))
    assert b.messages == 2 and b.file_seq == 2
    assert b.apply_binaryfile(b"") == 0


def test_index_pages_are_released_and_refs_capped():
    b = BookBuilder(max_ref=(1 << 16) - 1)
    refs = [1, 8191, 8192, 20_000, 65_535]
    for r in refs:
        assert b.apply_message(g.add(r, "B", 10, 10_000 + r)) == codes.OK
    assert b.pages_live == 4
    assert b.apply_message(g.add(65_536, "B", 10, 10_000)) == codes.REF_OUT_OF_RANGE
    for r in refs:
        assert b.apply_message(g.delete(r)) == codes.OK
    assert b.pages_live == 0 and b.live_orders == 0
    assert b.validate() == []
    b.reserve(1_000_000, 100_000)
    assert b.memory()["orders"] >= 1_000_000 * 32


def test_queries_and_symbols():
    b = BookBuilder()
    b.apply_message(g.directory(7, "ZVZZT", market_category="Q", round_lot=100))
    b.apply_message(g.trading_action(7, "ZVZZT", "H", "IPO1"))
    b.apply_message(g.add(1, "B", 100, 10_000, loc=9, stock="EARLY"))   # names locate 9 before any R
    assert b.symbol(7) == "ZVZZT" and b.locate_of("ZVZZT") == 7 and b.locate_of(b"EARLY") == 9
    info = b.symbol_info(7)
    assert info["trading_state"] == "H" and info["trading_reason"] == "IPO1" and info["round_lot"] == 100
    assert info["market_category"] == "Q" and info["has_directory"]
    assert b.symbol(8) is None and b.bbo(60_000) == (0,) * 6 and b.depth(60_000) == ([], [])
    assert b.book_count == 2
    with pytest.raises(ValueError):
        b.bbo(70_000)
    with pytest.raises(ValueError):
        b.orders_at(9, "Q", 10_000)
    assert b.most_active(1) == [7] and b.locates() == [7, 9]
    assert b.message_counts()[9] == 1


def test_validate_raises_with_clear_message():
    b = _fresh()
    b.validate_internal_state()          # consistent: no exception
    assert b.validate(raise_on_error=True) == []


# ------------------------------------------------------------------ fuzzing: no crash, no hang, same answer ----
ITCH_LEN = {"S": 12, "R": 39, "H": 25, "Y": 20, "L": 26, "V": 35, "W": 12, "K": 28, "J": 35, "h": 21, "A": 36,
            "F": 40, "E": 31, "C": 36, "X": 23, "D": 19, "U": 35, "P": 44, "Q": 40, "B": 19, "I": 50, "N": 20,
            "O": 48}


@st.composite
def random_message(draw):
    t = draw(st.sampled_from(sorted(ITCH_LEN)))
    body = bytearray(draw(st.binary(min_size=ITCH_LEN[t] - 1, max_size=ITCH_LEN[t] - 1)))
    if t in "AFECXDU" and draw(st.booleans()):
        body[2:10] = draw(st.integers(0, 5)).to_bytes(8, "big")       # refs that collide
        body[0:2] = draw(st.integers(0, 3)).to_bytes(2, "big")
    return t.encode() + bytes(body)


@settings(max_examples=150, deadline=None)
@given(st.lists(random_message(), max_size=60))
def test_fuzz_random_message_bodies(msgs):
    fast, ref = BookBuilder(max_ref=MAX_REF), ReferenceBook(max_ref=MAX_REF)
    run_both(msgs, fast, ref, validate_each=False)
    assert fast.validate() == []
    compare_books(fast, ref, locates=range(4))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000), st.integers(0, 2999))
def test_fuzz_binaryfile_bytes(data, cut):
    # Arbitrary bytes, and a real day truncated/corrupted at a random point: never crashes or loops.
    for buf in (data, g.binaryfile(g.random_stream(random.Random(cut), 60))[:cut] + data[:50]):
        b = BookBuilder(max_ref=MAX_REF)
        off = b.apply_binaryfile(buf)
        assert 0 <= off <= len(buf)
        assert len(buf) - off < 2 + 65535
        assert b.validate() == []
        ref = ReferenceBook(max_ref=MAX_REF)
        assert ref.apply_binaryfile(buf) == off
        assert b.counters() == ref.counters()


@pytest.mark.parametrize("seed", range(4))
def test_deep_books_match_reference(seed):
    # Hundreds of price levels per side: the level search leaves the 16 keys at the touch and
    # binary-searches; inserts/removals deep in the book memmove the side arrays.
    rng = random.Random(seed)
    fast, ref = BookBuilder(), ReferenceBook()
    live = []
    for i in range(1, 6_000):
        if not live or rng.random() < 0.6:
            side = rng.choice("BS")
            px = (rng.randint(1, 400) if side == "B" else rng.randint(401, 800)) * 100
            m = g.add(i, side, rng.randint(1, 9) * 100, px, loc=1 + i % 2)
            live.append(i)
        else:
            r = live.pop(rng.randrange(len(live)))
            m = g.delete(r) if rng.random() < 0.7 else g.replace(r, 100_000 + i, 100, rng.randint(1, 800) * 100)
            if m[:1] == b"U":
                live.append(100_000 + i)
        assert fast.apply_message(m, i) == ref.apply_message(m, i)
    assert events_as_tuples(fast.drain_events()) == ref.drain_events()
    for loc in (1, 2):
        assert fast.depth(loc, 10_000) == ref.depth(loc, 10_000)
        assert min(fast.levels_count(loc)) > 100
    assert fast.validate() == []


def test_constructor_limits():
    with pytest.raises(ValueError, match="max_ref must be < 2\\*\\*38"):
        BookBuilder(max_ref=1 << 40)
    with pytest.raises(ValueError, match="max_locates"):
        BookBuilder(max_locates=0)
    with pytest.raises(ValueError, match="max_locates"):
        BookBuilder(max_locates=70_000)
    b = BookBuilder(max_ref=(1 << 38) - 1)
    assert b.apply_message(g.add((1 << 38) - 1, "B", 1, 1)) == codes.OK
    assert b.apply_message(g.delete((1 << 38) - 1)) == codes.OK and b.pages_live == 0
