"""The plain-Python twin of ``strategy.examples.fast_taker.FastTaker`` (same parameters, same decisions).

On each BBO change of a two-sided book whose spread is at least ``min_spread_ticks`` ticks, it sends an
IOC for ``qty`` shares: a buy at the ask when the bid shows more shares than the ask, else a sell at the
bid. At most one order of a symbol is working at a time (an IOC is done at its last Fill with no leaves,
its Cancelled remainder, its Reject or Expired). Limits: the position of a symbol after the order, were it
filled completely, stays within ``max_position`` shares either way; at most one order every
``min_interval_us`` of feed time (exchange timestamps), over all symbols. Nothing new while the books are not
exact. ``tests/test_fast_strategy.py`` checks that both make the same orders on the same day.
"""
from __future__ import annotations

from strategy.base import ConfigError, Param, Strategy
from strategy.ports import Book, ExecKind, Execution, Side, Tif, tick_for

PARAMS = {
    "qty": Param(int, 100, 1, 1_000_000, "shares per IOC"),
    "min_spread_ticks": Param(int, 2, 1, 1_000_000, "spread (in ticks of the bid) that triggers an IOC"),
    "max_position": Param(int, 500, 1, 1 << 31, "|position| per symbol, were every order filled"),
    "min_interval_us": Param(int, 1000, 0, 86_400_000_000, "feed time between two orders (order-rate limit)"),
}


def check(p: dict) -> None:
    if p["qty"] > p["max_position"]:
        raise ConfigError("params.qty", f"{p['qty']} is above params.max_position {p['max_position']}")


class Taker(Strategy):
    PARAMS = PARAMS

    def configure(self, p: dict) -> None:
        check(p)
        self.pos: dict[str, int] = {}
        self.working: dict[str, int] = {}      # symbol -> cl_ord_id of its IOC
        self.last_order_ts = None
        self.skipped = {"rate": 0, "position": 0}

    def on_book(self, book: Book) -> None:
        p = self.params
        if not book.two_sided or not self.feed_exact:
            return
        sym = book.symbol
        bid, ask = book.bid_px, book.ask_px
        if ask <= bid or ask - bid < p["min_spread_ticks"] * tick_for(bid):
            return
        if sym in self.working:
            return
        ts = book.ts_ns
        if self.last_order_ts is not None and ts - self.last_order_ts < p["min_interval_us"] * 1000:
            self.skipped["rate"] += 1
            return
        buy = book.bids[0][1] > book.asks[0][1]
        after = self.pos.get(sym, 0) + (p["qty"] if buy else -p["qty"])
        if abs(after) > p["max_position"]:
            self.skipped["position"] += 1
            return
        cl = (self.buy if buy else self.sell)(sym, p["qty"], ask if buy else bid, tif=Tif.IOC)
        if cl is not None:
            self.working[sym] = cl
            self.last_order_ts = ts

    def on_execution(self, ex: Execution) -> None:
        sym = next((s for s, c in self.working.items() if c == ex.cl_ord_id), None)
        if sym is None:
            return
        if ex.kind == ExecKind.FILL:
            self.pos[sym] = self.pos.get(sym, 0) + (ex.qty if ex.side == Side.BUY else -ex.qty)
            if ex.leaves == 0:
                del self.working[sym]
        elif ex.kind in (ExecKind.CANCELLED, ExecKind.REJECT, ExecKind.EXPIRED):
            del self.working[sym]
