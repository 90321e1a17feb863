"""Naive reference matching engine: the executable specification of ``engine.matching``.

Pure Python (dicts, sortedcontainers), no speed tricks: each rule reads as written in
docs/engine.md. Given the same commands it must emit exactly the same events, field for
field, as the Cython engine; the tests run both and compare.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from sortedcontainers import SortedDict, SortedList

from core.codes import (RC_INVALID_QTY as INVALID_QTY, RC_PRICE_NOT_ON_TICK as PRICE_NOT_ON_TICK,
                        RC_UNKNOWN_SYMBOL as UNKNOWN_SYMBOL, RC_UNKNOWN_ORDER as UNKNOWN_ORDER,
                        RC_DUPLICATE_ORDER_ID as DUPLICATE_ORDER_ID, RC_ORDER_NOT_OPEN as ORDER_NOT_OPEN,
                        RC_POST_ONLY_WOULD_CROSS as POST_ONLY_WOULD_CROSS, RC_FOK_NOT_FILLABLE as FOK_NOT_FILLABLE,
                        RC_MARKET_NO_LIQUIDITY as MARKET_NO_LIQUIDITY, RC_INVALID_DISPLAY_QTY as INVALID_DISPLAY_QTY,
                        RC_INVALID_TIF_TYPE as INVALID_TIF_TYPE, RC_GTD_WITHOUT_EXPIRY as GTD_WITHOUT_EXPIRY,
                        RC_GTD_EXPIRED as GTD_EXPIRED, RC_INVALID_PRICE as INVALID_PRICE,
                        RC_INVALID_STOP_PRICE as INVALID_STOP_PRICE, RC_INVALID_SIDE as INVALID_SIDE,
                        RC_INVALID_TYPE as INVALID_TYPE, RC_INVALID_TIF as INVALID_TIF,
                        RC_INVALID_ACTION as INVALID_ACTION, RC_NOT_OWNER as NOT_OWNER,
                        RC_MODIFY_INVALID as MODIFY_INVALID, RC_POOL_EXHAUSTED as POOL_EXHAUSTED,
                        RC_MALFORMED as MALFORMED, RC_INVALID_STP as INVALID_STP, RC_INVALID_FLAGS as INVALID_FLAGS,
                        RC_INVALID_LINK as INVALID_LINK)
from messaging.records import (COMMAND_DTYPE, EVENT_DTYPE, SYMBOL_ANY, Action as A, EventKind as EV, Flag, KillFlag,
                               OrdType as T, Side, Stp, Tif)

# reject codes (imported above from core/codes.pxd, named as in Event.reason) and cancel reasons, by name
CR_REQUESTED, CR_IOC_REMAINDER, CR_STP, CR_OCO, CR_MASS_CANCEL, CR_SESSION = 1, 2, 3, 4, 5, 6
CR_KILL_SWITCH, CR_END_OF_DAY, CR_GTD_EXPIRED, CR_MODIFY_TO_ZERO = 7, 8, 9, 10


_FIELDS = [n for n in COMMAND_DTYPE.names if n != "reserved"]


class Order:
    __slots__ = ("order_id", "link_id", "arrival", "price", "stop_price", "expire_ns", "qty", "filled", "leaves",
                 "display", "visible", "account", "firm", "session", "symbol", "side", "ord_type", "tif", "flags",
                 "stp", "state")


class Book:
    def __init__(self, tick: int):
        self.tick = tick
        self.last = 0
        self.sides = {Side.BUY: SortedDict(), Side.SELL: SortedDict()}  # price -> OrderedDict(id -> Order)
        self.stops: list[Order] = []

    def best_level(self, side):
        """(price, fifo) of the best level of ``side`` or None."""
        levels = self.sides[side]
        if not levels:
            return None
        return levels.peekitem(-1 if side == Side.BUY else 0)


class ReferenceEngine:
    def __init__(self, max_orders: int = 1 << 16, max_symbols: int = 1024):
        self.max_orders, self.max_symbols = max_orders, max_symbols
        self.books: dict[int, Book] = {}
        self.live: dict[int, Order] = {}   # insertion order == arrival order
        self.done: set[int] = set()
        self.gtd = SortedList()            # (expire_ns, arrival, order_id)
        self.clock = 0
        self.arrival = 0
        self.taker = None
        self.kill = 0
        self.events: list[tuple] = []
        self.cur = None

    def add_symbol(self, symbol_id: int, tick: int = 100):
        if symbol_id >= self.max_symbols or tick <= 0:
            raise ValueError("bad symbol id or tick")
        if symbol_id in self.books:
            self.books[symbol_id].tick = tick
        else:
            self.books[symbol_id] = Book(tick)

    # -- events
    def _ev(self, kind, order_id=0, account=0, symbol=0, side=0, price=0, qty=0, leaves=0, reason=0,
            maker=0, taker=0, maker_leaves=0, maker_account=0):
        c = self.cur
        self.events.append((order_id, maker, taker, c["seq"], price, c["ts_ns"], qty, leaves, maker_leaves, account,
                            maker_account, symbol, reason, kind, side))

    def _ev_order(self, kind, o, qty, reason):
        self._ev(kind, o.order_id, o.account, o.symbol, o.side, o.price, qty, o.leaves, reason)

    # -- helpers
    def _finish(self, o):
        del self.live[o.order_id]
        self.done.add(o.order_id)
        o.state = "done"
        if self.taker is o:
            self.taker = None

    def _fifo(self, o):
        return self.books[o.symbol].sides[o.side][o.price]

    def _rest(self, o):
        self.books[o.symbol].sides[o.side].setdefault(o.price, OrderedDict())[o.order_id] = o
        o.state = "resting"

    def _unlink(self, o):
        levels = self.books[o.symbol].sides[o.side]
        del levels[o.price][o.order_id]
        if not levels[o.price]:
            del levels[o.price]

    def _remove(self, o, kind, reason):
        q, link = o.leaves, o.link_id
        if o.state == "resting":
            self._unlink(o)
        elif o.state == "stop":
            self.books[o.symbol].stops.remove(o)
        o.leaves = o.visible = 0
        self._ev_order(kind, o, q, reason)
        o.link_id = 0
        self._finish(o)
        if link:
            self._oco_fire(link)

    def _oco_fire(self, partner_id):
        p = self.live.get(partner_id)
        if p is None:
            return
        p.link_id = 0
        if p is self.taker:
            self.kill = self.kill or CR_OCO
        else:
            self._remove(p, EV.CANCEL, CR_OCO)

    def _mass(self, pred, kind, reason):
        for o in [o for o in self.live.values() if pred(o)]:
            if self.live.get(o.order_id) is o:
                self._remove(o, kind, reason)

    # -- matching
    def _crosses(self, t, price):
        return t.ord_type == T.MARKET or (price <= t.price if t.side == Side.BUY else price >= t.price)

    def _reduce_maker(self, m, q):
        m.visible -= q
        m.leaves -= q
        if m.leaves == 0:
            self._unlink(m)
        elif m.visible == 0:
            m.visible = min(m.display, m.leaves)
            self._fifo(m).move_to_end(m.order_id)

    def _match(self, t):
        book = self.books[t.symbol]
        opp = Side.SELL if t.side == Side.BUY else Side.BUY
        while t.leaves > 0 and self.kill == 0:
            best = book.best_level(opp)
            if best is None or not self._crosses(t, best[0]):
                break
            price, fifo = best
            m = next(iter(fifo.values()))
            if m.account == t.account and t.stp != Stp.NONE:
                if t.stp == Stp.CANCEL_NEWEST:
                    self.kill = CR_STP
                elif t.stp == Stp.CANCEL_OLDEST:
                    self._remove(m, EV.CANCEL, CR_STP)
                elif t.stp == Stp.CANCEL_BOTH:
                    self._remove(m, EV.CANCEL, CR_STP)
                    self.kill = self.kill or CR_STP
                else:
                    q = min(t.leaves, m.visible)
                    self._reduce_maker(m, q)
                    self._ev_order(EV.CANCEL, m, q, CR_STP)
                    t.leaves -= q
                    self._ev_order(EV.CANCEL, t, q, CR_STP)
                    if m.leaves == 0:
                        link, m.link_id = m.link_id, 0
                        self._finish(m)
                        if link:
                            self._oco_fire(link)
                    if t.leaves == 0 and t.link_id:
                        link, t.link_id = t.link_id, 0
                        self._oco_fire(link)
                continue
            q = min(t.leaves, m.visible)
            t.leaves -= q
            t.filled += q
            m.filled += q
            book.last = price
            self._ev(EV.FILL, t.order_id, t.account, t.symbol, t.side, price, q, t.leaves, 0,
                     maker=m.order_id, taker=t.order_id, maker_leaves=m.leaves - q, maker_account=m.account)
            self._reduce_maker(m, q)
            mlink, tlink = m.link_id, t.link_id
            m.link_id = t.link_id = 0
            if m.leaves == 0:
                self._finish(m)
            if mlink:
                self._oco_fire(mlink)
            if tlink:
                self._oco_fire(tlink)

    def _take(self, t):
        self.taker, self.kill = t, 0
        t.state = "inflight"
        self._match(t)
        kill, self.kill, self.taker = self.kill, 0, None
        if t.leaves == 0:
            self._finish(t)
        elif kill:
            self._remove(t, EV.CANCEL, kill)
        elif t.ord_type == T.MARKET or t.tif in (Tif.IOC, Tif.FOK):
            self._remove(t, EV.CANCEL, CR_IOC_REMAINDER)
        else:
            t.visible = min(t.display, t.leaves) if t.display else t.leaves
            self._rest(t)

    def _triggers(self, symbol):
        book = self.books[symbol]
        while book.last > 0:
            buys = [o for o in book.stops if o.side == Side.BUY and o.stop_price <= book.last]
            sells = [o for o in book.stops if o.side == Side.SELL and o.stop_price >= book.last]
            b = min(buys, key=lambda o: (o.stop_price, o.arrival), default=None)
            s = min(sells, key=lambda o: (-o.stop_price, o.arrival), default=None)
            if b is None and s is None:
                break
            o = b if b is not None and (s is None or b.arrival < s.arrival) else s
            book.stops.remove(o)
            o.ord_type = T.MARKET if o.ord_type == T.STOP else T.LIMIT
            self._ev(EV.TRIGGER, o.order_id, o.account, o.symbol, o.side, book.last, o.leaves, o.leaves)
            self._take(o)

    # -- commands
    def _check_new(self, c):
        book = self.books.get(c["symbol_id"])
        if book is None:
            return UNKNOWN_SYMBOL
        typ, tif, flags = c["ord_type"], c["tif"], c["flags"]
        if c["side"] not in (Side.BUY, Side.SELL):
            return INVALID_SIDE
        if typ not in (1, 2, 3, 4):
            return INVALID_TYPE
        if tif not in (1, 2, 3, 4, 5):
            return INVALID_TIF
        if c["stp"] > Stp.DECREMENT:
            return INVALID_STP
        if flags & ~(Flag.POST_ONLY | Flag.ICEBERG):
            return INVALID_FLAGS
        if c["qty"] == 0:
            return INVALID_QTY
        if c["order_id"] == 0:
            return MALFORMED
        if c["order_id"] in self.live or c["order_id"] in self.done:
            return DUPLICATE_ORDER_ID
        if typ in (T.LIMIT, T.STOP_LIMIT):
            if c["price"] <= 0:
                return INVALID_PRICE
            if c["price"] % book.tick:
                return PRICE_NOT_ON_TICK
        elif c["price"] != 0:
            return INVALID_PRICE
        if typ in (T.STOP, T.STOP_LIMIT):
            if c["stop_price"] <= 0:
                return INVALID_STOP_PRICE
            if c["stop_price"] % book.tick:
                return PRICE_NOT_ON_TICK
            if tif == Tif.FOK:
                return INVALID_TIF_TYPE
        elif c["stop_price"] != 0:
            return INVALID_STOP_PRICE
        if typ == T.MARKET and tif in (Tif.GTC, Tif.GTD):
            return INVALID_TIF_TYPE
        if flags & (Flag.POST_ONLY | Flag.ICEBERG) and (typ != T.LIMIT or tif in (Tif.IOC, Tif.FOK)):
            return INVALID_TIF_TYPE
        if flags & Flag.ICEBERG:
            if c["display_qty"] == 0 or c["display_qty"] > c["qty"]:
                return INVALID_DISPLAY_QTY
        elif c["display_qty"] != 0:
            return INVALID_DISPLAY_QTY
        if tif == Tif.GTD:
            if c["expire_ns"] == 0:
                return GTD_WITHOUT_EXPIRY
            if c["expire_ns"] <= self.clock:
                return GTD_EXPIRED
        if c["link_id"]:
            p = self.live.get(c["link_id"])
            if c["link_id"] == c["order_id"] or p is None or p.account != c["account_id"] or p.link_id:
                return INVALID_LINK
        if len(self.live) >= self.max_orders:
            return POOL_EXHAUSTED
        return 0

    def _would_cross(self, book, side, price):
        best = book.best_level(Side.SELL if side == Side.BUY else Side.BUY)
        return best is not None and (best[0] <= price if side == Side.BUY else best[0] >= price)

    def _fok_fillable(self, c, book):
        opp = Side.SELL if c["side"] == Side.BUY else Side.BUY
        prices = reversed(book.sides[opp]) if opp == Side.BUY else iter(book.sides[opp])
        cum = 0
        for price in prices:
            if c["ord_type"] != T.MARKET and (price > c["price"] if c["side"] == Side.BUY else price < c["price"]):
                break
            orders = list(book.sides[opp][price].values())
            if c["stp"] == Stp.NONE:
                cum += sum(o.leaves for o in orders)
            else:
                if any(o.account == c["account_id"] for o in orders) and c["stp"] != Stp.CANCEL_OLDEST:
                    return False
                cum += sum(o.leaves for o in orders if o.account != c["account_id"])
            if cum >= c["qty"]:
                return True
        return False

    def _new(self, c):
        rc = self._check_new(c)
        if rc:
            return rc
        book = self.books[c["symbol_id"]]
        if c["flags"] & Flag.POST_ONLY and self._would_cross(book, c["side"], c["price"]):
            return POST_ONLY_WOULD_CROSS
        if c["tif"] == Tif.FOK and not self._fok_fillable(c, book):
            return FOK_NOT_FILLABLE
        if c["ord_type"] == T.MARKET and not book.sides[Side.SELL if c["side"] == Side.BUY else Side.BUY]:
            return MARKET_NO_LIQUIDITY
        o = Order()
        self.arrival += 1
        o.order_id, o.link_id, o.arrival = c["order_id"], c["link_id"], self.arrival
        o.price, o.stop_price = c["price"], c["stop_price"]
        o.expire_ns = c["expire_ns"] if c["tif"] == Tif.GTD else 0
        o.qty = o.leaves = o.visible = c["qty"]
        o.filled = 0
        o.display = c["display_qty"] if c["flags"] & Flag.ICEBERG else 0
        o.account, o.firm, o.session, o.symbol = c["account_id"], c["firm_id"], c["session_id"], c["symbol_id"]
        o.side, o.ord_type, o.tif, o.flags, o.stp = c["side"], c["ord_type"], c["tif"], c["flags"], c["stp"]
        o.state = "inflight"
        self.live[o.order_id] = o
        if o.link_id:
            self.live[o.link_id].link_id = o.order_id
        self._ev(EV.ACK, o.order_id, o.account, o.symbol, o.side, o.price, o.qty, o.leaves)
        if o.tif == Tif.GTD:
            self.gtd.add((o.expire_ns, o.arrival, o.order_id))
        if o.ord_type in (T.STOP, T.STOP_LIMIT):
            o.state = "stop"
            book.stops.append(o)
        else:
            self._take(o)
        self._triggers(o.symbol)
        return 0

    def _lookup_own(self, c):
        oid = c["order_id"]
        if oid in self.done:
            return ORDER_NOT_OPEN, None
        o = self.live.get(oid)
        if o is None:
            return UNKNOWN_ORDER, None
        if o.account != c["account_id"]:
            return NOT_OWNER, None
        return 0, o

    def _modify(self, c):
        rc, o = self._lookup_own(c)
        if rc:
            return rc
        book = self.books[o.symbol]
        if o.state == "stop":
            return MODIFY_INVALID
        if c["qty"] == 0:
            return INVALID_QTY
        if c["price"] <= 0:
            return INVALID_PRICE
        if c["price"] % book.tick:
            return PRICE_NOT_ON_TICK
        if c["price"] != o.price and o.flags & Flag.POST_ONLY and self._would_cross(book, o.side, c["price"]):
            return POST_ONLY_WOULD_CROSS
        if c["qty"] <= o.filled:
            self._remove(o, EV.CANCEL, CR_MODIFY_TO_ZERO)
            return 0
        new_leaves = c["qty"] - o.filled
        if c["price"] == o.price and new_leaves <= o.leaves:
            o.leaves, o.visible, o.qty = new_leaves, min(o.visible, new_leaves), c["qty"]
            self._ev_order(EV.MODIFY_ACK, o, o.qty, 0)
            return 0
        self._unlink(o)
        o.price, o.qty, o.leaves = c["price"], c["qty"], new_leaves
        o.visible = min(o.display, new_leaves) if o.display else new_leaves
        self._ev_order(EV.MODIFY_ACK, o, o.qty, 0)
        self._take(o)
        self._triggers(o.symbol)
        return 0

    def apply(self, c) -> int:
        """Apply one command (a COMMAND_DTYPE record or a dict with its fields); returns 0 or the reject code."""
        c = {k: int(c[k]) if k in c.keys() else 0 for k in _FIELDS} if isinstance(c, dict) else \
            {k: int(c[k]) for k in _FIELDS}
        self.cur = c
        if c["ts_ns"] > self.clock:
            self.clock = c["ts_ns"]
            while self.gtd and self.gtd[0][0] <= self.clock:
                _, arrival, oid = self.gtd.pop(0)
                o = self.live.get(oid)
                if o is not None and o.arrival == arrival:
                    self._remove(o, EV.EXPIRE, CR_GTD_EXPIRED)
        act, rc = c["action"], 0
        if act == A.NEW:
            rc = self._new(c)
        elif act == A.CANCEL:
            rc, o = self._lookup_own(c) if c["order_id"] else (UNKNOWN_ORDER, None)
            if o is not None:
                self._remove(o, EV.CANCEL, CR_REQUESTED)
        elif act == A.MODIFY:
            rc = self._modify(c) if c["order_id"] else UNKNOWN_ORDER
        elif act == A.MASS_CANCEL:
            sym, side = c["symbol_id"], c["side"]
            if sym != SYMBOL_ANY and sym not in self.books:
                rc = UNKNOWN_SYMBOL
            elif side > Side.SELL:
                rc = INVALID_SIDE
            else:
                self._mass(lambda o: o.account == c["account_id"] and sym in (SYMBOL_ANY, o.symbol)
                           and side in (0, o.side), EV.CANCEL, CR_MASS_CANCEL)
        elif act == A.END_OF_DAY:
            self._mass(lambda o: o.tif == Tif.DAY, EV.EXPIRE, CR_END_OF_DAY)
            self.done.clear()
        elif act == A.SESSION_DISCONNECT:
            self._mass(lambda o: o.session == c["session_id"], EV.CANCEL, CR_SESSION)
        elif act == A.KILL_SWITCH:
            if c["flags"] & (KillFlag.RELEASE | KillFlag.BLOCK_ONLY):
                pass                                  # release / block only: nothing is cancelled
            elif c["firm_id"]:
                self._mass(lambda o: o.firm == c["firm_id"], EV.CANCEL, CR_KILL_SWITCH)
            else:
                self._mass(lambda o: o.account == c["account_id"], EV.CANCEL, CR_KILL_SWITCH)
        elif act == A.SET_REFERENCE_PRICE:
            if c["symbol_id"] not in self.books:
                rc = UNKNOWN_SYMBOL
            elif c["price"] <= 0:
                rc = INVALID_PRICE
            else:
                self.books[c["symbol_id"]].last = c["price"]
                self._triggers(c["symbol_id"])
        elif act != A.CLOCK:
            rc = INVALID_ACTION
        if rc:
            kind = {A.CANCEL: EV.CANCEL_REJECT, A.MASS_CANCEL: EV.CANCEL_REJECT, A.MODIFY: EV.MODIFY_REJECT}.get(
                act, EV.REJECT)
            self._ev(kind, c["order_id"], c["account_id"], c["symbol_id"], c["side"], c["price"], c["qty"], 0, rc)
        return rc

    def process(self, cmds):
        """Apply every command; returns the events as an ``EVENT_DTYPE`` array (like the fast engine)."""
        for c in cmds:
            self.apply(c)
        return self.take_events()

    def take_events(self):
        out = np.zeros(len(self.events), EVENT_DTYPE)
        names = ("order_id", "maker_order_id", "taker_order_id", "seq", "price", "ts_ns", "qty", "leaves_qty",
                 "maker_leaves_qty", "account_id", "maker_account_id", "symbol_id", "reason", "kind", "side")
        for k, name in enumerate(names):
            out[name] = [e[k] for e in self.events]
        self.events = []
        return out

    # -- inspection (same shapes as the fast engine)
    def best(self, symbol):
        b = self.books[symbol]
        bid, ask = b.best_level(Side.BUY), b.best_level(Side.SELL)
        return (bid[0] if bid else None, ask[0] if ask else None)

    def last_price(self, symbol):
        return self.books[symbol].last

    def book(self, symbol):
        b = self.books[symbol]
        out = {"bids": [(p, [(o.order_id, o.visible, o.leaves) for o in b.sides[Side.BUY][p].values()])
                        for p in reversed(b.sides[Side.BUY])],
               "asks": [(p, [(o.order_id, o.visible, o.leaves) for o in b.sides[Side.SELL][p].values()])
                        for p in b.sides[Side.SELL]]}
        out["buy_stops"] = [o.order_id for o in sorted((o for o in b.stops if o.side == Side.BUY),
                                                       key=lambda o: (o.stop_price, o.arrival))]
        out["sell_stops"] = [o.order_id for o in sorted((o for o in b.stops if o.side == Side.SELL),
                                                        key=lambda o: (-o.stop_price, o.arrival))]
        return out

    def order(self, order_id):
        if order_id in self.done:
            return "done"
        o = self.live.get(order_id)
        if o is None:
            return None
        return {"order_id": o.order_id, "link_id": o.link_id, "price": o.price, "stop_price": o.stop_price,
                "qty": o.qty, "filled": o.filled, "leaves": o.leaves, "visible": o.visible, "display": o.display,
                "account": o.account, "symbol": o.symbol, "side": o.side, "ord_type": o.ord_type, "tif": o.tif,
                "state": o.state}

    def validate_internal_state(self):
        for sym, b in self.books.items():
            bid, ask = self.best(sym)
            assert bid is None or ask is None or bid < ask, f"symbol {sym}: book crossed"
            for levels in b.sides.values():
                for p, fifo in levels.items():
                    assert fifo and p % b.tick == 0
                    for o in fifo.values():
                        assert o.state == "resting" and 0 < o.visible <= o.leaves and o.price == p
        return True
