"""strategy.base.Position (the strategy's own positions and P&L) against naive references.

Two references on the same sequences of fills: a plain rational average-cost book (Fractions: the
exact answer, which integer arithmetic may miss only by the truncations of partial closes), and the
engine's own positions (engine.positions: the same integer rule, so equal to the unit).
"""
from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings, strategies as st

from engine.positions import Positions
from strategy.base import Position
from strategy.ports import Side


class RationalPosition:
    """Average cost with exact rationals: no rounding anywhere."""

    def __init__(self):
        self.qty = 0
        self.cost = Fraction(0)
        self.realized = Fraction(0)
        self.cash = 0
        self.closes = 0

    def fill(self, q: int, px: int):
        self.cash -= q * px
        if self.qty == 0 or (self.qty > 0) == (q > 0):
            self.qty += q
            self.cost += q * px
            return
        self.closes += 1
        closing = min(abs(q), abs(self.qty))
        avg = self.cost / self.qty                      # signed cost / signed qty: the average price
        sign = 1 if self.qty > 0 else -1
        self.realized += sign * closing * (px - avg)
        self.cost -= sign * closing * avg
        self.qty -= sign * closing
        rest = abs(q) - closing
        if rest:
            self.qty += rest if q > 0 else -rest
            self.cost += (rest if q > 0 else -rest) * px


fills = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 5_000),
                           st.integers(1, 5_000_000)), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(fills, st.integers(1, 5_000_000))
def test_position_matches_references(seq, mark):
    mine, ref = Position(), RationalPosition()
    eng = Positions(max_accounts=1, max_symbols=1)
    for side, qty, px in seq:
        mine.fill(side, qty, px)
        q = qty if side == Side.BUY else -qty
        ref.fill(q, px)
        eng.fill(0, 0, q, px)
        e = eng.position(0, 0)
        # the engine's rule, to the unit
        assert (mine.qty, mine.cost, mine.realized) == (e["qty"], e["cost"], e["realized"])
        assert mine.qty == ref.qty
        # P&L is conserved exactly: realized - cost is the cash flow, whatever the rounding
        assert mine.realized - mine.cost == ref.cash
        # integer average cost is the rational one up to one unit per partial close
        assert abs(mine.cost - ref.cost) <= ref.closes
        assert abs(mine.realized - ref.realized) <= ref.closes
        if mine.qty == 0:
            assert mine.cost == 0 and mine.realized == ref.cash
            assert mine.avg_price == 0
        else:
            assert mine.avg_price == abs(mine.cost) // abs(mine.qty)
            assert abs(Fraction(mine.avg_price) - abs(ref.cost / ref.qty)) < 1 + ref.closes
    mine.mark = mark
    eng.set_mark(0, mark)
    total = mine.realized + mine.unrealized
    assert total == ref.cash + ref.qty * mark if mine.qty else total == ref.cash
    if mine.qty:
        assert mine.unrealized == eng.position(0, 0)["unrealized"]


def test_position_by_hand():
    p = Position()
    p.fill(Side.BUY, 100, 1_000_000)        # 100 @ $100
    p.fill(Side.BUY, 200, 1_030_000)        # 200 @ $103 -> avg $102
    assert (p.qty, p.cost, p.avg_price) == (300, 306_000_000, 1_020_000)
    p.fill(Side.SELL, 100, 1_050_000)       # +$3 x 100
    assert p.realized == 3_000_000 and p.qty == 200 and p.avg_price == 1_020_000
    p.fill(Side.SELL, 300, 1_010_000)       # closes 200 (-$1 x 200), opens a short of 100 @ $101
    assert p.realized == 3_000_000 - 2_000_000
    assert (p.qty, p.cost, p.avg_price) == (-100, -101_000_000, 1_010_000)
    p.mark = 1_000_000                      # short marked at $100: +$1 x 100
    assert p.unrealized == 1_000_000
    p.fill(Side.BUY, 100, 1_020_000)        # bought back at $102: -$1 x 100
    assert (p.qty, p.cost, p.realized, p.unrealized) == (0, 0, 0, 0)
