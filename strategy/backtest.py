"""Backtest: a strategy against a recorded ITCH day, with a simulated venue.

``ReplaySource`` (a ``MarketDataSource``) runs the day through ``feedhandlers.reader.open_feed`` and a
``book.builder.BookBuilder`` in push mode: on each BBO-change event the strategy gets the builder's book
of that symbol at that moment (``depth(locate, levels)``), on each trade event a ``Trade``.

``SimVenue`` (an ``OrderPort``) is the fill model. The strategy's orders do not go into the recorded
book (a recorded day cannot react to them), and not into ``engine``'s matching loop either: there they
could only match each other, never the recorded market. The model is the conservative one:

* **Taking.** A marketable order (market, or a limit through the recorded opposite best) fills at the
  recorded opposite levels' prices, level by level, up to their displayed shares. Shares the strategy
  took at a level stay taken while that level lasts (``consumed``; lowered to the level's shares when
  the recording shrinks it, forgotten when the level goes away), so the same displayed liquidity is
  never taken twice. IOC / market remainders are cancelled, FOK checks the whole quantity first.
* **Resting.** A resting order fills at its own price only when the recording shows the market went
  through it: a recorded trade at a price strictly better than the order's (buy: below it; up to the
  print's shares), or the recorded opposite best reaching the order's price (buy: ask <= price; up to
  the displayed shares, less what was taken). At its own price it waits its turn in the queue: when it
  rests it is put behind the shares displayed at that price and side (``ahead``); prints at that
  price on that side (or with no side: crosses) use up ``ahead`` first and fill the order only with
  what is left; ``ahead`` shrinks when the recorded level shrinks below it (cancellations ahead of
  the order are assumed to be ahead of it: the optimistic end of the standard queue model). A price
  change (modify) puts it at the back again.
* Everything the engine checks that applies here is checked with the engine's own codes
  (``messaging.records.CODES``): quantity, price on the tick (``tick_for``), types and TIFs, post-only
  would cross, FOK, market without liquidity, unknown symbol, duplicate id; stop orders and icebergs are
  refused (``INVALID_TYPE`` / ``INVALID_DISPLAY_QTY``: the port has no stop price or display quantity).
  DAY orders expire at the end of the day (``END_OF_DAY``).

Executions are delivered after the callback that caused them returns (the venue answers "at once",
but never re-enters the strategy), in the order the venue produced them.
"""
from __future__ import annotations

import time
from collections import deque

from core.codes import STRAT_E_RUNAWAY, TickwireError
from messaging.records import CODE_BY_NAME, CANCEL_REASON_BY_NAME
from strategy.base import Strategy
from strategy.ports import (FLAGS_ALL, Book, ExecKind, Execution, FeedState, Flag, Handler, Liquidity,
                            MarketDataSource, OrderPort, OrdType, Side, Status, Tif, Trade, TradingState,
                            code_name, tick_for)

EV_BBO, EV_TRADE = 1, 2
SIDES = {ord("B"): Side.BUY, ord("S"): Side.SELL}
VENUE_LEVELS = 64                   # levels of the recorded book the venue looks at
MAX_REPORTS_PER_EVENT = 100_000     # a strategy that answers every report with a request forever


class BacktestError(TickwireError):
    """The backtest cannot go on (``STRAT_E_RUNAWAY``)."""


def _rc(name: str) -> int:
    return CODE_BY_NAME[name]


# ------------------------------------------------------------- the feed ----
class ReplaySource(MarketDataSource):
    """A recorded day (binaryFILE, .gz, pcap, pcapng) through the BookBuilder, as strategy callbacks."""

    def __init__(self, path, levels: int = 10, **feed_opts):
        from book.builder import BookBuilder
        from feedhandlers.reader import open_feed

        self.path = str(path)
        self.levels = levels
        self.feed = open_feed(self.path, **feed_opts)
        self.books = BookBuilder()
        self.names: dict[int, str] = {}        # locate -> symbol, once known
        self.locates: dict[str, int] = {}
        self.venue: SimVenue | None = None
        self.after_event = None                # callable(source, kind, symbol, locate): tests' invariant checks
        self.events = 0
        self.delivered = 0

    # -- lookups the venue uses
    def depth(self, symbol: str):
        loc = self.locates.get(symbol)
        if loc is None:
            return None
        return self.books.depth(loc, VENUE_LEVELS)

    def _symbol(self, loc: int):
        name = self.names.get(loc)
        if name is None:
            name = self.books.symbol(loc)
            if name:
                name = name.strip()
                self.names[loc] = name
                self.locates[name] = loc
        return name

    def run(self, handler: Handler, symbols: set[str] | None = None) -> dict:
        books = self.books
        venue = self.venue
        levels = self.levels

        failure = []

        def on_event(ev):
            if failure:
                return
            try:
                deliver(ev)
            except BaseException as e:   # the builder would count and swallow it: keep it, stop delivering
                failure.append(e)

        state = {}                      # locate -> (trading_state, reason) last delivered
        h_seen = [0]

        def status_of(loc, sym, seq):
            info = books.symbol_info(loc)
            st, why = info["trading_state"], info["trading_reason"].strip()
            if state.get(loc) != (st, why):
                state[loc] = (st, why)
                handler.handle_status(Status(sym, TradingState(ord(st)) if st else TradingState.UNKNOWN, why,
                                             FeedState.UP, ts_ns=info["trading_ts"], seq=seq))

        def deliver(ev):
            # EVENT_DTYPE: kind, side, locate, trade_px, seq, ts, bid_px, ask_px, bid_sz, ask_sz, trade_qty, match
            kind, side, loc, trade_px, seq, ts, _, _, _, _, trade_qty, match = ev.item()
            self.events += 1
            sym = self.names.get(loc) or self._symbol(loc)
            if sym is None or (symbols is not None and sym not in symbols):
                return
            self.delivered += 1
            if venue is not None:
                venue.now_ns = ts
            handler.handle_clock(ts)
            h = books.type_counts().get("H", 0)
            if h != h_seen[0]:          # a trading-state message arrived since the last event
                h_seen[0] = h
                for other in list(state):
                    status_of(other, self.names[other], seq)
            if loc not in state:
                status_of(loc, sym, seq)
            if kind == EV_TRADE:
                tr = Trade(sym, trade_px, trade_qty, SIDES.get(side, Side.NONE), match, ts, seq)
                if venue is not None:
                    venue.on_trade(tr)
                    venue.flush()
                handler.handle_trade(tr)
            else:
                bids, asks = books.depth(loc, levels)
                book = Book(sym, bids, asks, ts, seq)
                if venue is not None:
                    venue.on_book(book)
                    venue.flush()
                handler.handle_book(book)
            if venue is not None:
                venue.flush()
            if self.after_event is not None:
                self.after_event(self, kind, sym, loc)

        handler.handle_status(Status(None, feed_state=FeedState.UP))
        books.subscribe(on_event)
        stats = self.feed.run(books)
        books.unsubscribe(on_event)
        if failure:
            raise failure[0]
        handler.handle_status(Status(None, feed_state=FeedState.END))
        stats["book_events"] = self.events
        stats["delivered_events"] = self.delivered
        return stats


# ------------------------------------------------------------ the venue ----
class SimOrder:
    __slots__ = ("cl", "oid", "symbol", "side", "price", "qty", "leaves", "filled", "ord_type", "tif", "flags",
                 "open", "ahead")

    def __init__(self, cl, oid, symbol, side, price, qty, ord_type, tif, flags):
        self.cl, self.oid, self.symbol, self.side, self.price = cl, oid, symbol, side, price
        self.qty, self.leaves, self.filled = qty, qty, 0
        self.ord_type, self.tif, self.flags, self.open = ord_type, tif, flags, True
        self.ahead = 0                  # recorded shares ahead of it in the queue at its price


class SimVenue(OrderPort):
    """The simulated venue of the backtest (fill model: module docstring)."""

    def __init__(self, depth_fn):
        self.depth_fn = depth_fn                        # symbol -> (bids, asks) full depth, or None
        self.orders: dict[int, SimOrder] = {}
        self.resting: dict[str, list[SimOrder]] = {}
        self.consumed: dict[str, dict[tuple[int, int], int]] = {}   # symbol -> (side, price) -> shares taken
        self.queue: deque[Execution] = deque()
        self.now_ns = 0
        self.next_oid = 1
        self.next_match = 1
        self.stats = {"new": 0, "cancel": 0, "modify": 0, "mass_cancel": 0, "acks": 0, "fills": 0,
                      "filled_qty": 0, "maker_fills": 0, "taker_fills": 0, "rejects": 0}
        self.rejects: dict[str, int] = {}
        self.cancels: dict[str, int] = {}

    # -- helpers
    def _report(self, kind, o_or_cl, reason=0, **kw):
        if isinstance(o_or_cl, SimOrder):
            o = o_or_cl
            kw.setdefault("order_id", o.oid)
            kw.setdefault("symbol", o.symbol)
            kw.setdefault("side", Side(o.side))
            kw.setdefault("leaves", o.leaves)
            cl = o.cl
        else:
            cl = o_or_cl
        ex = Execution.make(kind, cl, reason, ts_ns=self.now_ns, **kw)
        if kind in (ExecKind.REJECT, ExecKind.MODIFY_REJECT, ExecKind.CANCEL_REJECT):
            self.stats["rejects"] += 1
            self.rejects[ex.reason_name] = self.rejects.get(ex.reason_name, 0) + 1
        elif kind in (ExecKind.CANCELLED, ExecKind.EXPIRED):
            self.cancels[ex.reason_name] = self.cancels.get(ex.reason_name, 0) + 1
        self.queue.append(ex)

    def flush(self) -> int:
        n = 0
        h = self.handler
        while self.queue:
            h.handle_execution(self.queue.popleft())
            n += 1
            if n > MAX_REPORTS_PER_EVENT:
                raise BacktestError(STRAT_E_RUNAWAY, f"more than {MAX_REPORTS_PER_EVENT} execution reports for "
                                    "one market event: the strategy answers its reports with requests without end")
        return n

    def _close(self, o: SimOrder, kind, reason_name: str, removed: int) -> None:
        o.leaves = 0
        o.open = False
        lst = self.resting.get(o.symbol)
        if lst is not None and o in lst:
            lst.remove(o)
        self._report(kind, o, CANCEL_REASON_BY_NAME[reason_name], qty=removed, price=o.price)

    def _fill(self, o: SimOrder, qty: int, price: int, liq: Liquidity) -> None:
        o.leaves -= qty
        o.filled += qty
        self.stats["fills"] += 1
        self.stats["filled_qty"] += qty
        self.stats["maker_fills" if liq == Liquidity.MAKER else "taker_fills"] += 1
        self._report(ExecKind.FILL, o, qty=qty, price=price, liquidity=liq, match_id=self.next_match)
        self.next_match += 1
        if o.leaves == 0:
            o.open = False
            lst = self.resting.get(o.symbol)
            if lst is not None and o in lst:
                lst.remove(o)

    def _crosses(self, side, price, ord_type, bids, asks) -> bool:
        opp = asks if side == Side.BUY else bids
        if not opp:
            return False
        if ord_type == OrdType.MARKET:
            return True
        return price >= opp[0][0] if side == Side.BUY else price <= opp[0][0]

    def _available(self, symbol, side, price, limit, ord_type, opp) -> list[tuple[int, int]]:
        """(price, shares available) of the opposite levels this order may take, best first."""
        used = self.consumed.get(symbol, {})
        oside = Side.SELL if side == Side.BUY else Side.BUY
        out = []
        for px, shares, _ in opp:
            if ord_type != OrdType.MARKET and (px > limit if side == Side.BUY else px < limit):
                break
            avail = shares - used.get((oside, px), 0)
            if avail > 0:
                out.append((px, avail))
        return out

    def _take(self, o: SimOrder, levels, liq: Liquidity, at_own_price: bool) -> None:
        used = self.consumed.setdefault(o.symbol, {})
        oside = Side.SELL if o.side == Side.BUY else Side.BUY
        for px, avail in levels:
            if o.leaves == 0:
                break
            f = min(o.leaves, avail)
            used[(oside, px)] = used.get((oside, px), 0) + f
            self._fill(o, f, o.price if at_own_price else px, liq)

    # -- OrderPort
    def send_new(self, cl_ord_id, symbol, side, qty, price, ord_type, tif, flags) -> bool:
        self.stats["new"] += 1
        rej = self._check_new(cl_ord_id, symbol, side, qty, price, ord_type, tif, flags)
        if rej:
            self._report(ExecKind.REJECT, cl_ord_id, _rc(rej), symbol=symbol, side=Side(side), qty=qty, price=price)
            return True
        bids, asks = self.depth_fn(symbol)
        opp = asks if side == Side.BUY else bids
        crosses = self._crosses(side, price, ord_type, bids, asks)
        avail = self._available(symbol, side, price, price, ord_type, opp) if crosses else []
        if flags & Flag.POST_ONLY and crosses:
            rej = "POST_ONLY_WOULD_CROSS"
        elif ord_type == OrdType.MARKET and not opp:
            rej = "MARKET_NO_LIQUIDITY"
        elif tif == Tif.FOK and sum(a for _, a in avail) < qty:
            rej = "FOK_NOT_FILLABLE"
        if rej:
            self._report(ExecKind.REJECT, cl_ord_id, _rc(rej), symbol=symbol, side=Side(side), qty=qty, price=price)
            return True
        o = SimOrder(cl_ord_id, self.next_oid, symbol, int(side), price, qty, int(ord_type), int(tif), flags)
        self.next_oid += 1
        self.orders[cl_ord_id] = o
        self.stats["acks"] += 1
        self._report(ExecKind.ACK, o, qty=qty, price=price)
        self._take(o, avail, Liquidity.TAKER, False)
        if o.leaves and (ord_type == OrdType.MARKET or tif in (Tif.IOC, Tif.FOK)):
            self._close(o, ExecKind.CANCELLED, "IOC_REMAINDER", o.leaves)
        elif o.leaves:
            o.ahead = self._shares_at(bids if side == Side.BUY else asks, price)
            self.resting.setdefault(symbol, []).append(o)
        return True

    @staticmethod
    def _shares_at(levels, price) -> int:
        for px, shares, _ in levels:
            if px == price:
                return shares
        return 0

    def _check_new(self, cl, symbol, side, qty, price, ord_type, tif, flags) -> str | None:
        if cl in self.orders or cl <= 0:
            return "DUPLICATE_ORDER_ID" if cl > 0 else "MALFORMED"
        if side not in (Side.BUY, Side.SELL):
            return "INVALID_SIDE"
        if ord_type not in (OrdType.LIMIT, OrdType.MARKET, OrdType.STOP, OrdType.STOP_LIMIT):
            return "INVALID_TYPE"
        if ord_type in (OrdType.STOP, OrdType.STOP_LIMIT):
            return "INVALID_TYPE"                       # no stop price on the port: not simulated
        if tif not in (Tif.DAY, Tif.GTC, Tif.IOC, Tif.FOK, Tif.GTD):
            return "INVALID_TIF"
        if flags & ~FLAGS_ALL:
            return "INVALID_FLAGS"
        if flags & Flag.ICEBERG:
            return "INVALID_DISPLAY_QTY"                # no display quantity on the port
        if qty <= 0 or qty > 0xFFFFFFFF:
            return "INVALID_QTY"
        if self.depth_fn(symbol) is None:
            return "UNKNOWN_SYMBOL"
        if ord_type == OrdType.MARKET:
            if price:
                return "INVALID_PRICE"
            if tif in (Tif.GTC, Tif.GTD):
                return "INVALID_TIF_TYPE"
        elif price <= 0:
            return "INVALID_PRICE"
        elif price % tick_for(price):
            return "PRICE_NOT_ON_TICK"
        if flags & Flag.POST_ONLY and (ord_type != OrdType.LIMIT or tif not in (Tif.DAY, Tif.GTC, Tif.GTD)):
            return "INVALID_TIF_TYPE"
        if tif == Tif.GTD:
            return "GTD_WITHOUT_EXPIRY"                 # no expiry on the port
        return None

    def send_cancel(self, cl_ord_id) -> bool:
        self.stats["cancel"] += 1
        o = self.orders.get(cl_ord_id)
        if o is None:
            self._report(ExecKind.CANCEL_REJECT, cl_ord_id, _rc("UNKNOWN_ORDER"))
        elif not o.open:
            self._report(ExecKind.CANCEL_REJECT, o, _rc("ORDER_NOT_OPEN"))
        else:
            self._close(o, ExecKind.CANCELLED, "REQUESTED", o.leaves)
        return True

    def send_modify(self, cl_ord_id, qty, price) -> bool:
        self.stats["modify"] += 1
        o = self.orders.get(cl_ord_id)
        if o is None:
            self._report(ExecKind.MODIFY_REJECT, cl_ord_id, _rc("UNKNOWN_ORDER"))
            return True
        if not o.open:
            self._report(ExecKind.MODIFY_REJECT, o, _rc("ORDER_NOT_OPEN"))
            return True
        rej = None
        if qty <= 0 or qty > 0xFFFFFFFF:
            rej = "INVALID_QTY"
        elif price <= 0:
            rej = "INVALID_PRICE"
        elif price % tick_for(price):
            rej = "PRICE_NOT_ON_TICK"
        bids, asks = self.depth_fn(o.symbol)
        crosses = self._crosses(o.side, price, OrdType.LIMIT, bids, asks)
        if rej is None and o.flags & Flag.POST_ONLY and crosses:
            rej = "POST_ONLY_WOULD_CROSS"
        if rej:
            self._report(ExecKind.MODIFY_REJECT, o, _rc(rej))
            return True
        leaves = qty - o.filled
        if leaves <= 0:
            self._close(o, ExecKind.CANCELLED, "MODIFY_TO_ZERO", o.leaves)
            return True
        if price != o.price:
            o.ahead = self._shares_at(bids if o.side == Side.BUY else asks, price)
        o.qty, o.price, o.leaves = qty, price, leaves
        self._report(ExecKind.MODIFY_ACK, o, qty=qty, price=price)
        if crosses:
            self._take(o, self._available(o.symbol, o.side, price, price, OrdType.LIMIT,
                                          asks if o.side == Side.BUY else bids), Liquidity.TAKER, False)
        return True

    def send_mass_cancel(self, symbol) -> bool:
        self.stats["mass_cancel"] += 1
        for o in list(self.orders.values()):
            if o.open and (symbol is None or o.symbol == symbol):
                self._close(o, ExecKind.CANCELLED, "MASS_CANCEL", o.leaves)
        return True

    # -- the recording moves
    def on_trade(self, tr: Trade) -> None:
        lst = self.resting.get(tr.symbol)
        if not lst:
            return
        for side in (Side.BUY, Side.SELL):
            left = tr.qty
            through = sorted((o for o in lst if o.side == side and (o.price > tr.price if side == Side.BUY
                                                                     else o.price < tr.price)),
                             key=lambda o: -o.price if side == Side.BUY else o.price)
            for o in through:
                if left == 0:
                    break
                f = min(o.leaves, left)
                left -= f
                self._fill(o, f, o.price, Liquidity.MAKER)
            if left and tr.side in (side, Side.NONE):          # the print's level: the queue at its price
                for o in [o for o in lst if o.side == side and o.price == tr.price and o.open]:
                    if o.ahead >= left:
                        o.ahead -= left
                        left = 0
                        break
                    left -= o.ahead
                    o.ahead = 0
                    f = min(o.leaves, left)
                    left -= f
                    self._fill(o, f, o.price, Liquidity.MAKER)
                    if not left:
                        break

    def on_book(self, book: Book) -> None:
        sym = book.symbol
        used = self.consumed.get(sym)
        lst = self.resting.get(sym)
        if not used and not lst:
            return
        bids, asks = self.depth_fn(sym)
        if used:
            for key in list(used):
                sh = self._shares_at(bids if key[0] == Side.BUY else asks, key[1])
                if sh == 0:
                    del used[key]
                elif used[key] > sh:
                    used[key] = sh
        if lst:
            for o in lst:
                if o.ahead:
                    o.ahead = min(o.ahead, self._shares_at(bids if o.side == Side.BUY else asks, o.price))
            cross = [o for o in lst if self._crosses(o.side, o.price, OrdType.LIMIT, bids, asks)]
            if cross:
                cross.sort(key=lambda o: (o.side, -o.price if o.side == Side.BUY else o.price))
                for o in cross:
                    if o.open:
                        opp = asks if o.side == Side.BUY else bids
                        self._take(o, self._available(sym, o.side, o.price, o.price, OrdType.LIMIT, opp),
                                   Liquidity.MAKER, True)

    def end_of_day(self) -> None:
        for o in list(self.orders.values()):
            if o.open and o.tif == Tif.DAY:
                self._close(o, ExecKind.EXPIRED, "END_OF_DAY", o.leaves)

    def open_orders(self) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.open]


# ------------------------------------------------------------ the runner ----
def run_backtest(strategy: Strategy, path, levels: int = 10, after_event=None, **feed_opts) -> dict:
    """Run ``strategy`` over the day at ``path``; returns the summary (``format_summary`` prints it)."""
    src = ReplaySource(path, levels=levels, **feed_opts)
    venue = SimVenue(src.depth)
    src.venue = venue
    strategy.bind(venue)
    src.after_event = after_event
    t0 = time.perf_counter()
    strategy.start()
    venue.flush()
    stats = src.run(strategy, strategy.symbols)
    venue.end_of_day()
    venue.flush()
    strategy.stop()
    venue.flush()
    venue.end_of_day()              # orders on_stop sent
    venue.flush()
    elapsed = time.perf_counter() - t0
    s = strategy.summary()
    return {
        "day": str(path),
        "strategy": f"{type(strategy).__module__}:{type(strategy).__name__}",
        "messages": stats["messages"],
        "book_events": stats["book_events"],
        "delivered_events": stats["delivered_events"],
        "symbols_not_in_day": sorted(strategy.symbols - set(src.locates)) if strategy.symbols is not None else [],
        "elapsed_s": round(elapsed, 3),
        "venue": {**venue.stats, "rejects": dict(sorted(venue.rejects.items())),
                  "cancels": dict(sorted(venue.cancels.items())), "open_at_end": len(venue.open_orders())},
        "strategy_orders": s["orders"],
        "refused_by_limits": s["refused"],
        "halted": s["halted"],
        "positions": s["positions"],
        "pnl": s["pnl"],
        "limit_violations": strategy.limit_violations(),
        "fill_model": "recorded-book: takers fill at displayed opposite levels; resting orders fill when the "
                      "recording trades or quotes through their price (docs/strategy.md)",
    }


def _usd(v: int) -> str:
    return f"{v / 10_000:,.4f}"


def format_summary(r: dict) -> str:
    v = r["venue"]
    lines = [
        f"backtest {r['strategy']} on {r['day']}: {r['messages']:,} messages, {r['book_events']:,} book events "
        f"({r['delivered_events']:,} for the strategy's symbols), {r['elapsed_s']} s",
        f"orders {v['new']:,} new, {v['modify']:,} modify, {v['cancel']:,} cancel, {v['mass_cancel']:,} mass cancel; "
        f"acks {v['acks']:,}; fills {v['fills']:,} ({v['filled_qty']:,} shares: {v['maker_fills']:,} maker, "
        f"{v['taker_fills']:,} taker); open at end {v['open_at_end']}",
        "rejects: " + (", ".join(f"{k} {n}" for k, n in v["rejects"].items()) or "none"),
        "cancels: " + (", ".join(f"{k} {n}" for k, n in v["cancels"].items()) or "none"),
        "refused by the strategy's limits: " + (", ".join(f"{k} {n}" for k, n in r["refused_by_limits"].items())
                                                or "none"),
    ]
    if r["symbols_not_in_day"]:
        lines.append("configured symbols the day never showed: " + ", ".join(r["symbols_not_in_day"]))
    if r["halted"]:
        lines.append(f"halted: {r['halted']}")
    lines.append(f"{'symbol':<8} {'position':>9} {'avg price':>12} {'realized $':>12} {'unrealized $':>13} "
                 f"{'total $':>12} {'fills':>6}")
    for sym, p in r["positions"].items():
        lines.append(f"{sym:<8} {p['qty']:>9,} {_usd(p['avg_price']):>12} {_usd(p['realized']):>12} "
                     f"{_usd(p['unrealized']):>13} {_usd(p['total']):>12} {p['fills']:>6}")
    lines.append(f"P&L total $ {_usd(r['pnl'])}")
    if r["limit_violations"]:
        lines.append("LIMIT VIOLATIONS: " + "; ".join(r["limit_violations"]))
    return "\n".join(lines)


__all__ = ["ReplaySource", "SimVenue", "run_backtest", "format_summary", "BacktestError", "code_name"]
