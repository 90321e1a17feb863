"""Matching-engine invariants: reference vs fast event for event, and property checks.

Lives in tests/debug/ so it also runs on the TW_DEBUG build (``make test-debug``): product
modules are imported by package name; the stream generator comes from tests/ via ROOT.
"""
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

ROOT = Path(os.environ.get("TICKWIRE_ROOT", Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(ROOT / "tests"))

from engine_harness import make_engine  # noqa: E402
from engine_streams import random_stream  # noqa: E402
from engine.loop import EngineLoop  # noqa: E402
from engine.matching import MatchingEngine  # noqa: E402
from messaging.records import EventKind as EV  # noqa: E402

FILL, CANCEL, EXPIRE, ACK, MODIFY_ACK = int(EV.FILL), int(EV.CANCEL), int(EV.EXPIRE), int(EV.ACK), int(EV.MODIFY_ACK)


def run_both(cmds, check_every=True):
    fast, ref = make_engine("fast"), make_engine("reference")
    for k in range(len(cmds)):
        a = fast.process(cmds[k:k + 1])
        b = ref.process(cmds[k:k + 1])
        if check_every:
            fast.validate_internal_state()
        assert len(a) == len(b) and np.array_equal(a, b), (
            f"command {k} {cmds[k]}:\nfast {a}\nref  {b}")
    for s in (0, 1):
        assert fast.book(s) == ref.book(s)
    return fast


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_stream_reference_equals_fast(seed):
    run_both(random_stream(seed, 2500))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400), accounts=st.integers(1, 4),
       spread=st.integers(1, 20), invalid=st.sampled_from([0.0, 0.05, 0.3]))
def test_hypothesis_streams_reference_equals_fast(seed, n, accounts, spread, invalid):
    run_both(random_stream(seed, n, accounts=accounts, spread_ticks=spread, invalid=invalid))


def test_batch_equals_one_by_one():
    cmds = random_stream(11, 3000)
    one = make_engine("fast")
    parts = [one.process(cmds[k:k + 1]) for k in range(len(cmds))]
    batch = make_engine("fast").process(cmds)
    assert np.array_equal(np.concatenate(parts), batch)


def test_loop_high_water_chunks_equal_single_run():
    cmds = random_stream(12, 3000)
    a = EngineLoop(high_water=7)
    b = EngineLoop()
    for lp in (a, b):
        lp.engine.add_symbol(0)
        lp.engine.add_symbol(1)
    assert np.array_equal(a.run_all(cmds), b.run_all(cmds))
    assert a.crossed_violations == 0 and b.crossed_violations == 0


def _book_prices(engine, symbol):
    b = engine.book(symbol)
    return {side: {oid: p for p, orders in b[side] for oid, _, _ in orders} for side in ("bids", "asks")}, b


@pytest.mark.parametrize("seed", [5, 6])
def test_properties_no_trade_through_fifo_and_conservation(seed):
    """Fills at the resting price, never through a better one, FIFO within a level, quantities conserved."""
    cmds = random_stream(seed, 3000, invalid=0.0)
    e = MatchingEngine(max_orders=4096)
    e.add_symbol(0)
    e.add_symbol(1)
    leaves = {}                      # order id -> open qty per the events
    filled = defaultdict(int)
    for k in range(len(cmds)):
        c = cmds[k]
        before = {s: _book_prices(e, s) for s in (0, 1)}
        evs = e.process(cmds[k:k + 1])
        e.validate_internal_state()
        touched = set()              # makers filled or cancelled so far in this command
        last_fill = {}               # taker -> last fill price
        for ev in evs:
            kind, oid = int(ev["kind"]), int(ev["order_id"])
            if kind == ACK:
                leaves[oid] = int(ev["qty"])
            elif kind == MODIFY_ACK:
                leaves[oid] = int(ev["leaves_qty"])
                touched.add(oid)             # it left its snapshot position
            elif kind in (CANCEL, EXPIRE):
                assert leaves[oid] - int(ev["qty"]) == int(ev["leaves_qty"]), "cancel qty does not add up"
                leaves[oid] = int(ev["leaves_qty"])
                touched.add(oid)
            elif kind == FILL:
                m, q, px = int(ev["maker_order_id"]), int(ev["qty"]), int(ev["price"])
                sym, side = int(ev["symbol_id"]), int(ev["side"])
                assert leaves[oid] - q == int(ev["leaves_qty"]) and leaves[m] - q == int(ev["maker_leaves_qty"])
                leaves[oid] -= q
                leaves[m] -= q
                filled[oid] += q
                filled[m] += q
                prices, snapshot = before[sym]
                opp = "asks" if side == 1 else "bids"
                if m in prices[opp]:
                    # the resting order's price, and no better resting price left untouched
                    assert px == prices[opp][m]
                    for p, orders in snapshot[opp]:
                        if (p < px) if side == 1 else (p > px):
                            assert all(o[0] in touched for o in orders), "trade through a better price"
                        if p == px:
                            ids = [o[0] for o in orders]
                            assert all(i in touched for i in ids[:ids.index(m)]), "FIFO violated"
                if oid in last_fill:     # a taker walks the book monotonically
                    assert (px >= last_fill[oid]) if side == 1 else (px <= last_fill[oid])
                last_fill[oid] = px
                touched.add(m)
            assert min(leaves.values(), default=0) >= 0
    # conservation: events' leaves equal the engine's, filled equals the fills seen
    for oid, q in leaves.items():
        o = e.order(oid)
        if isinstance(o, dict):
            assert o["leaves"] == q and o["filled"] == filled[oid]
        else:
            assert q == 0, f"order {oid} done with leaves {q} per the events"


@settings(max_examples=30, deadline=None)
@given(action=st.integers(0, 12), side=st.integers(0, 4), typ=st.integers(0, 6), tif=st.integers(0, 7),
       qty=st.integers(0, 300), price=st.integers(-200, 1_002_000), flags=st.integers(0, 5),
       display=st.integers(0, 400), stp=st.integers(0, 6), oid=st.integers(0, 30), symbol=st.integers(0, 3),
       expire=st.integers(0, 3000))
def test_rejected_commands_change_nothing(action, side, typ, tif, qty, price, flags, display, stp, oid, symbol,
                                          expire):
    from engine_harness import command
    e = MatchingEngine(max_orders=64)
    e.add_symbol(0)
    e.add_symbol(1)
    e.process(random_stream(3, 60, invalid=0.0))
    before = (e.book(0), e.book(1), [e.order(i) for i in range(40)], e.stats()["live"])
    c = command(action, oid=oid, side=side, type=typ, tif=tif, qty=qty, price=price, flags=flags,
                display_qty=display, stp=stp, symbol=symbol, expire_ns=expire, account=1, seq=10_000, ts=0)
    evs = e.process(c)
    e.validate_internal_state()
    rejects = [ev for ev in evs if int(ev["reason"]) < 0]
    if rejects:
        assert len(evs) == 1 and int(evs[0]["kind"]) in (EV.REJECT, EV.CANCEL_REJECT, EV.MODIFY_REJECT)
        assert (e.book(0), e.book(1), [e.order(i) for i in range(40)], e.stats()["live"]) == before


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=96, max_size=96 * 40), small=st.booleans())
def test_fuzz_random_records_no_crash_and_same_as_reference(data, small):
    """Arbitrary bytes as commands: never a crash, state stays valid, reference and fast still agree."""
    from messaging.records import COMMAND_DTYPE
    cmds = np.frombuffer(data[:len(data) // 96 * 96], COMMAND_DTYPE).copy()
    if small:  # steer fields into ranges where orders are accepted and trade
        cmds["action"] %= 10
        cmds["side"] %= 3
        cmds["ord_type"] %= 5
        cmds["tif"] %= 6
        cmds["flags"] %= 4
        cmds["stp"] %= 5
        cmds["symbol_id"] %= 2
        cmds["account_id"] %= 3
        cmds["order_id"] %= 16
        cmds["link_id"] %= 16
        cmds["qty"] %= 300
        cmds["display_qty"] %= 300
        cmds["price"] = 1_000_000 + (cmds["price"] % 21 - 10) * 100
        cmds["stop_price"] = np.where(cmds["stop_price"] % 3 == 0, 0, 1_000_000 + (cmds["stop_price"] % 21 - 10) * 100)
        cmds["expire_ns"] %= 50
        cmds["ts_ns"] %= 50
    run_both(cmds)
