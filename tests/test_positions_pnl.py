"""Positions and P&L against a naive Python reference (average cost, integer 1e-4 dollars)."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engine.positions import Positions
from messaging.records import EVENT_DTYPE

P = 10_000


def trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


class NaivePosition:
    """The spec of positions.pxd, written plainly with Python integers."""

    def __init__(self):
        self.qty = self.cost = self.realized = 0
        self.exact_realized = Fraction(0)     # with exact (rational) average cost
        self.exact_cost = Fraction(0)

    def fill(self, q: int, px: int):
        if self.qty == 0 or (self.qty > 0) == (q > 0):
            self.qty += q
            self.cost += q * px
            self.exact_cost += q * px
            return
        closing = min(abs(q), abs(self.qty))
        removed = trunc_div(self.cost * closing, abs(self.qty))
        exact_removed = self.exact_cost * closing / abs(self.qty)
        if self.qty > 0:
            self.realized += closing * px - removed
            self.exact_realized += closing * px - exact_removed
            self.qty -= closing
        else:
            self.realized += -removed - closing * px
            self.exact_realized += -exact_removed - closing * px
            self.qty += closing
        self.cost -= removed
        self.exact_cost -= exact_removed
        rest = abs(q) - closing
        if rest:
            s = 1 if q > 0 else -1
            self.qty += s * rest
            self.cost += s * rest * px
            self.exact_cost += s * rest * px


def test_average_cost_example():
    p = Positions(4, 4)
    p.fill(1, 0, 100, 10 * P)
    p.fill(1, 0, 100, 12 * P)
    assert p.position(1, 0)["avg_price"] == 11 * P
    p.fill(1, 0, -150, 13 * P)                         # realize 150 x $2
    x = p.position(1, 0)
    assert (x["qty"], x["avg_price"], x["realized"]) == (50, 11 * P, 300 * P)
    p.fill(1, 0, -100, 9 * P)                          # close 50 at -$2 each, open short 50 at $9
    x = p.position(1, 0)
    assert (x["qty"], x["avg_price"], x["cost"], x["realized"]) == (-50, 9 * P, -450 * P, 200 * P)
    p.set_mark(0, 8 * P)
    x = p.position(1, 0)
    assert x["unrealized"] == 50 * P and x["exposure"] == 400 * P and x["margin"] == 400 * P
    p.fill(1, 0, 50, 8 * P)
    x = p.position(1, 0)
    assert (x["qty"], x["cost"], x["realized"], x["unrealized"]) == (0, 0, 250 * P, 0)
    assert (x["bought"], x["sold"]) == (250, 250)


def test_truncation_keeps_money_exact():
    p = Positions(2, 2)
    n = NaivePosition()
    for q, px in [(3, 10001), (-1, 10007), (-1, 9999), (5, 10003), (-6, 10000)]:
        p.fill(0, 0, q, px)
        n.fill(q, px)
        x = p.position(0, 0)
        assert (x["qty"], x["cost"], x["realized"]) == (n.qty, n.cost, n.realized)
    assert p.position(0, 0)["qty"] == 0 and p.position(0, 0)["cost"] == 0
    x = p.position(0, 0)
    assert x["realized"] == x["sell_value"] - x["buy_value"]   # flat: realized is exactly the cash


fills = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1), st.integers(-500, 500).filter(bool),
                           st.integers(1, 2_000_000)), max_size=80)


@settings(max_examples=150, deadline=None)
@given(fills=fills, marks=st.lists(st.integers(1, 2_000_000), min_size=2, max_size=2))
def test_against_naive_reference(fills, marks):
    p = Positions(3, 2, {0: 2500, 1: 10000})
    ref = {}
    for a, s, q, px in fills:
        p.fill(a, s, q, px)
        ref.setdefault((a, s), NaivePosition()).fill(q, px)
    for s, m in enumerate(marks):
        p.set_mark(s, m)
    for (a, s), n in ref.items():
        x = p.position(a, s)
        assert (x["qty"], x["cost"], x["realized"]) == (n.qty, n.cost, n.realized)
        # truncation error: below one unit (1e-4 $) per reducing fill
        reductions = sum(1 for f in fills if (f[0], f[1]) == (a, s))
        assert abs(Fraction(x["realized"]) - n.exact_realized) <= reductions
        mark = marks[s]
        assert x["unrealized"] == n.qty * mark - n.cost
        # conservation: realized + unrealized = cash flow + position value, exactly
        assert x["realized"] + x["unrealized"] == x["sell_value"] - x["buy_value"] + n.qty * mark
        assert x["exposure"] == abs(n.qty) * mark
        assert x["margin"] == abs(n.qty) * mark * (2500 if s == 0 else 10000) // 10000
    summ = p.summary()
    for a in summ:
        cells = [(k, v) for k, v in ref.items() if k[0] == a]
        assert summ[a]["realized"] == sum(v.realized for _, v in cells)
        assert summ[a]["unrealized"] == sum(v.qty * marks[k[1]] - v.cost for k, v in cells)
        assert summ[a]["total_pnl"] == summ[a]["realized"] + summ[a]["unrealized"]
        assert summ[a]["qty_gross"] == sum(abs(v.qty) for _, v in cells)


def test_fill_events_apply_to_taker_and_maker():
    p = Positions(8, 4)
    ev = np.zeros(3, EVENT_DTYPE)
    ev["kind"] = [1, 3, 3]                                  # an ack is ignored
    ev["symbol_id"] = 2
    ev["account_id"] = [5, 5, 6]
    ev["maker_account_id"] = [0, 7, 5]
    ev["side"] = [1, 1, 1]                                  # 5 buys 40 from 7, then 6 buys 15 from 5
    ev["qty"] = [100, 40, 15]
    ev["price"] = [0, 50 * P, 51 * P]
    p.on_events(ev)
    assert p.position(5, 2)["qty"] == 25 and p.position(7, 2)["qty"] == -40 and p.position(6, 2)["qty"] == 15
    assert p.get_mark(2) == 51 * P                          # last fill marks the symbol
    assert p.position(5, 2)["realized"] == 15 * P           # bought 40 @50, sold 15 @51
    assert p.fills == 2
    arr = p.summary(as_arrays=True)
    assert arr["qty_gross"][5] == 25 and arr["qty_gross"].shape == (8,)
    assert set(p.positions()) == {(5, 2), (6, 2), (7, 2)}


def test_state_roundtrip_and_out_of_range():
    p = Positions(4, 4)
    p.fill(1, 1, 10, 5 * P)
    p.fill(9, 1, 10, 5 * P)                                 # account beyond the table: counted, ignored
    assert p.dropped == 1
    q = Positions(4, 4)
    q.load_state(p.dump_state())
    assert q.state_digest() == p.state_digest() and q.position(1, 1) == p.position(1, 1)
    with pytest.raises(ValueError, match="sizes differ"):
        Positions(2, 4).load_state(p.dump_state())
    with pytest.raises(IndexError):
        p.position(4, 0)
