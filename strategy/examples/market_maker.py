"""A market maker: one bid and one ask per symbol around the BBO, skewed by inventory.

Quotes at ``edge_ticks`` behind the best bid / ask (0 = join the touch), shifted against the inventory by
``skew_ticks`` per ``skew_unit`` shares held (long: both quotes lower, to sell more and buy less).
When the wanted price moves, the quote is replaced in place (``modify``); a side whose fill would take
the inventory beyond ``max_inventory`` is not quoted (cancelled). Post-only: a quote that would take is
refused by the venue, never trades as a taker. The base's ``[limits]`` (position, open orders, loss)
stay the hard stop: past ``max_loss`` the strategy cancels everything and halts.
"""
from __future__ import annotations

from strategy.base import ConfigError, Param, Strategy
from strategy.ports import Book, Flag, Side, Tif, tick_for


class MarketMaker(Strategy):
    PARAMS = {
        "quote_size": Param(int, 100, 1, 1_000_000, "shares per quote"),
        "edge_ticks": Param(int, 0, 0, 1000, "ticks behind the touch (0 = join the best bid / ask)"),
        "skew_unit": Param(int, 100, 1, 1_000_000, "inventory in shares per skew step"),
        "skew_ticks": Param(int, 1, 0, 1000, "ticks the quotes move per skew step"),
        "max_inventory": Param(int, 500, 0, 1 << 40, "|position| the quotes may build, shares"),
        "min_spread_ticks": Param(int, 1, 1, 1000, "quote only when the recorded spread is at least this"),
    }

    def configure(self, p: dict) -> None:
        if p["quote_size"] > self.limits["max_order_qty"]:
            raise ConfigError("params.quote_size", f"{p['quote_size']} is above limits.max_order_qty "
                                                   f"{self.limits['max_order_qty']}")
        if p["max_inventory"] > self.limits["max_position"]:
            raise ConfigError("params.max_inventory", "above limits.max_position")
        self.quotes: dict[str, dict[int, int]] = {}     # symbol -> side -> cl_ord_id

    def on_book(self, book: Book) -> None:
        if self.halted:
            return
        if not book.two_sided or not self.feed_exact:
            self._pull(book.symbol)
            return
        bid, ask = book.bid_px, book.ask_px
        tick = tick_for(bid)
        if ask - bid < self.params["min_spread_ticks"] * tick:
            self._pull(book.symbol)
            return
        p = self.params
        inv = self.position(book.symbol)
        skew = (inv // p["skew_unit"] if inv >= 0 else -((-inv) // p["skew_unit"])) * p["skew_ticks"] * tick
        want = {
            Side.BUY: bid - p["edge_ticks"] * tick - skew,
            Side.SELL: ask + p["edge_ticks"] * tick - skew,
        }
        want[Side.BUY] = min(want[Side.BUY], ask - tick)        # never through the other side
        want[Side.SELL] = max(want[Side.SELL], bid + tick)
        for side, px in want.items():
            px = px - px % tick_for(px) if side == Side.BUY else -((-px) // tick_for(px)) * tick_for(px)
            room = p["max_inventory"] - inv if side == Side.BUY else p["max_inventory"] + inv
            self._quote(book.symbol, side, px, min(p["quote_size"], room))

    def _quote(self, symbol: str, side: int, price: int, qty: int) -> None:
        q = self.quotes.setdefault(symbol, {})
        cl = q.get(side)
        o = self.orders.get(cl) if cl is not None else None
        if o is None:
            q.pop(side, None)
            if qty > 0 and price > 0:
                send = self.buy if side == Side.BUY else self.sell
                new = send(symbol, qty, price, tif=Tif.DAY, flags=Flag.POST_ONLY)
                if new is not None:
                    q[side] = new
            return
        if qty <= 0 or price <= 0:
            self.cancel(cl)
            return
        if o.pending_modify is not None or o.state != o.OPEN:
            return
        if o.price != price or o.leaves != qty:
            self.modify(cl, o.filled + qty, price)

    def _pull(self, symbol: str) -> None:
        for cl in list(self.quotes.get(symbol, {}).values()):
            if cl in self.orders:
                self.cancel(cl)

    def on_stop(self) -> None:
        if self.orders:
            self.cancel_all()
