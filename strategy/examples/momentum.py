"""A liquidity-taking momentum strategy.

Per symbol it keeps the last ``lookback`` mids (one per BBO change) and a signed count of recent prints
(+1 when a print takes the ask side, i.e. hits a resting sell; -1 when it hits a resting bid). When the
mid has moved at least ``threshold_ticks`` over the window and the prints agree (``min_trade_flow``), it
buys (or sells) ``qty`` with an IOC limit ``slippage_ticks`` through the opposite best: it takes, it
never rests. A position is closed, again by IOC, at a stop (``stop_ticks`` against the entry), a target
(``target_ticks`` in favour) or after ``max_hold_ms`` of feed time (checked on the timer). The base's
``max_loss`` halts it.
"""
from __future__ import annotations

from collections import deque

from strategy.base import ConfigError, Param, Strategy
from strategy.ports import Book, ExecKind, Execution, Side, Tif, Trade, tick_for


def _up(px: int) -> int:
    """Round a buy's limit up onto the tick (stays marketable)."""
    t = tick_for(px)
    return -((-px) // t) * t


def _down(px: int) -> int:
    return px - px % tick_for(px) if px > 0 else 0


class Momentum(Strategy):
    PARAMS = {
        "qty": Param(int, 100, 1, 1_000_000, "shares per entry"),
        "lookback": Param(int, 20, 2, 100_000, "BBO changes in the momentum window"),
        "threshold_ticks": Param(int, 3, 1, 100_000, "mid move over the window that triggers an entry"),
        "min_trade_flow": Param(int, 0, 0, 100_000, "net prints in the entry's direction over the window"),
        "slippage_ticks": Param(int, 1, 0, 1000, "how far through the opposite best the IOC may go"),
        "stop_ticks": Param(int, 5, 1, 100_000, "adverse move from the entry that closes the position"),
        "target_ticks": Param(int, 10, 1, 100_000, "favourable move that takes the profit"),
        "max_hold_ms": Param(int, 0, 0, 86_400_000, "close after this long (0 = no time stop)"),
    }

    def configure(self, p: dict) -> None:
        if p["qty"] > self.limits["max_order_qty"]:
            raise ConfigError("params.qty", f"{p['qty']} is above limits.max_order_qty {self.limits['max_order_qty']}")
        if p["max_hold_ms"] and not self.timer_ms:
            raise ConfigError("params.max_hold_ms", "needs timer_ms (the time stop is checked on the timer)")
        self.mids: dict[str, deque] = {}
        self.flow: dict[str, deque] = {}
        self.entry_ns: dict[str, int] = {}
        self.entries = 0
        self.exits: dict[str, int] = {"stop": 0, "target": 0, "time": 0}

    def _busy(self, symbol: str) -> bool:
        return any(o.symbol == symbol for o in self.orders.values())

    def on_trade(self, trade: Trade) -> None:
        f = self.flow.setdefault(trade.symbol, deque(maxlen=self.params["lookback"]))
        f.append(1 if trade.side == Side.SELL else -1 if trade.side == Side.BUY else 0)

    def on_book(self, book: Book) -> None:
        if not book.two_sided:
            return
        p = self.params
        sym = book.symbol
        mids = self.mids.setdefault(sym, deque(maxlen=p["lookback"]))
        mids.append(book.mid)
        if self.halted or self._busy(sym) or not self.feed_exact:
            return
        tick = tick_for(book.bid_px)
        pos = self.position(sym)
        if pos:
            self._manage(book, pos, tick)
            return
        if len(mids) < p["lookback"]:
            return
        move = mids[-1] - mids[0]
        flow = sum(self.flow.get(sym, ()))
        if move >= p["threshold_ticks"] * tick and flow >= p["min_trade_flow"]:
            if self.buy(sym, p["qty"], _up(book.ask_px + p["slippage_ticks"] * tick), tif=Tif.IOC) is not None:
                self.entries += 1
                self.entry_ns[sym] = self.now_ns
        elif move <= -p["threshold_ticks"] * tick and -flow >= p["min_trade_flow"]:
            px = _down(book.bid_px - p["slippage_ticks"] * tick)
            if px > 0 and self.sell(sym, p["qty"], px, tif=Tif.IOC) is not None:
                self.entries += 1
                self.entry_ns[sym] = self.now_ns

    def _manage(self, book: Book, pos: int, tick: int) -> None:
        p = self.params
        entry = self.positions[book.symbol].avg_price
        gain = (book.mid - entry) if pos > 0 else (entry - book.mid)
        if gain <= -p["stop_ticks"] * tick:
            self._close(book, pos, tick, "stop")
        elif gain >= p["target_ticks"] * tick:
            self._close(book, pos, tick, "target")

    def _close(self, book: Book, pos: int, tick: int, why: str) -> None:
        p = self.params
        if pos > 0:
            px = _down(book.bid_px - p["slippage_ticks"] * tick)
            ok = px > 0 and self.sell(book.symbol, pos, px, tif=Tif.IOC) is not None
        else:
            ok = self.buy(book.symbol, -pos, _up(book.ask_px + p["slippage_ticks"] * tick), tif=Tif.IOC) is not None
        if ok:
            self.exits[why] += 1

    def on_timer(self, now_ns: int) -> None:
        hold = self.params["max_hold_ms"] * 1_000_000
        if not hold or self.halted:
            return
        for sym, t in list(self.entry_ns.items()):
            pos = self.position(sym)
            book = self.books.get(sym)
            if pos and now_ns - t >= hold and book is not None and book.two_sided and not self._busy(sym):
                self._close(book, pos, tick_for(book.bid_px), "time")

    def on_execution(self, ex: Execution) -> None:
        if ex.kind == ExecKind.FILL and self.position(ex.symbol) == 0:
            self.entry_ns.pop(ex.symbol, None)
