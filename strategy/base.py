"""``Strategy``: the base class of every strategy, live or in a backtest.

A subclass overrides the callbacks it needs (``on_start``, ``on_book``, ``on_trade``, ``on_status``,
``on_execution``, ``on_timer``, ``on_stop``) and acts with ``buy``, ``sell``, ``cancel``, ``modify``,
``cancel_all`` and ``set_timer``. The base keeps the strategy's own orders, positions and P&L (per symbol,
average cost, marked at the mid; integer arithmetic only, the engine's rule of ``engine/positions.pyx``)
and enforces the strategy's limits before any order leaves (``[limits]`` of its configuration).

Configuration is a dict (a parsed TOML file)::

    symbols = ["AAPL", "MSFT"]      # or ["*"]: every symbol of the feed
    timer_ms = 100                  # optional: call on_timer every 100 ms of feed time
    [limits]
    max_order_qty = 500             # shares per order
    max_position = 1000             # |position| per symbol, counting open orders at worst
    max_open_orders = 10            # working orders (all symbols)
    max_loss = 250.0                # dollars, realized + unrealized over all symbols: beyond it, halt
    max_notional = 100000.0         # dollars per order (price x qty), optional
    [params]                        # the subclass's own, declared in its PARAMS
    quote_size = 100

Errors are ``ConfigError`` (a ``ValueError``): ``config: KEY: reason``.

No metaclass, no properties on hot state, no __slots__ games: plain attributes, so a Cython
``cdef class`` can subclass the same design later.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from core import codes as _codes

from strategy.ports import (FLAGS_ALL, PRICE_SCALE, Book, ExecKind, Execution, FeedState, Flag, Handler,
                            OrderPort, OrdType, Side, Status, Tif, Trade)


class ConfigError(ValueError):
    """A configuration value that cannot be used: ``key`` and ``reason`` (code ``STRAT_E_CONFIG``)."""

    code = _codes.STRAT_E_CONFIG

    def __init__(self, key: str, reason: str):
        super().__init__(f"config: {key}: {reason}")
        self.key = key
        self.reason = reason


class Param:
    """One entry of a subclass's ``PARAMS``: kind (int, float, bool, str, 'price' = dollars -> 1e-4 $ int)."""

    def __init__(self, kind, default=None, min=None, max=None, doc=""):
        self.kind, self.default, self.min, self.max, self.doc = kind, default, min, max, doc


def dollars(value, key: str) -> int:
    """Dollars (int, float or string as written in the file) -> exact 1e-4 $ integer, or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(key, f"expected an amount in dollars, got {type(value).__name__}")
    try:
        d = Decimal(str(value)) * PRICE_SCALE
    except InvalidOperation:
        raise ConfigError(key, f"not a number: {value!r}") from None
    if not d.is_finite() or d != d.to_integral_value():
        raise ConfigError(key, f"{value!r} is not a whole number of 1e-4 dollars")
    return int(d)


def _check_kind(key, value, kind):
    if kind == "price":
        return dollars(value, key)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {value!r}")
        return float(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unknown Param kind {kind!r}")


def _param(key, value, p: Param):
    v = _check_kind(key, value, p.kind)
    if p.min is not None and v < p.min:
        raise ConfigError(key, f"{value!r} is below the minimum {p.min}")
    if p.max is not None and v > p.max:
        raise ConfigError(key, f"{value!r} is above the maximum {p.max}")
    return v


#: [limits] keys: name -> Param (``None`` default = no limit).
LIMITS = {
    "max_order_qty": Param(int, 1_000_000, 1, 0xFFFFFFFF, "shares per order"),
    "max_position": Param(int, 1_000_000, 0, 1 << 62, "|position| per symbol, with open orders at worst"),
    "max_open_orders": Param(int, 100, 1, 1 << 31, "working orders over all symbols"),
    "max_loss": Param("price", None, 0, None, "dollars of realized + unrealized loss before the strategy halts"),
    "max_notional": Param("price", None, 1, None, "dollars of price x qty per order"),
}

TOP_KEYS = {"symbols", "timer_ms", "limits", "params", "strategy"}


class Position:
    """One symbol's position: average cost, integer arithmetic (the engine's rule, engine/positions.pyx).

    ``qty`` signed shares; ``cost`` signed basis in 1e-4 $ x shares (negative for a short); closing
    removes ``cost * closed / |qty|`` truncated toward zero, so ``realized - cost`` always equals the
    cash flow and a flat position has cost 0.
    """

    def __init__(self):
        self.qty = 0
        self.cost = 0
        self.realized = 0
        self.mark = 0
        self.bought = 0
        self.sold = 0
        self.fills = 0

    def fill(self, side: int, qty: int, price: int) -> None:
        q = qty if side == Side.BUY else -qty
        self.fills += 1
        if q > 0:
            self.bought += q
        else:
            self.sold -= q
        if self.qty == 0 or (self.qty > 0) == (q > 0):
            self.qty += q
            self.cost += q * price
            return
        aq = abs(self.qty)
        closing = min(abs(q), aq)
        removed = _prorate(self.cost, closing, aq)
        if self.qty > 0:
            self.realized += closing * price - removed
            self.qty -= closing
        else:
            self.realized += -removed - closing * price
            self.qty += closing
        self.cost -= removed
        rest = abs(q) - closing
        if rest:
            self.qty += rest if q > 0 else -rest
            self.cost += rest * price if q > 0 else -rest * price

    @property
    def avg_price(self) -> int:
        """Average entry price, 1e-4 $, truncated (0 when flat)."""
        return abs(self.cost) // abs(self.qty) if self.qty else 0

    @property
    def unrealized(self) -> int:
        """Marked at ``mark`` (the last mid); 0 while flat or unmarked."""
        return self.qty * self.mark - self.cost if self.qty and self.mark else 0

    def as_dict(self) -> dict:
        return {"qty": self.qty, "avg_price": self.avg_price, "cost": self.cost, "realized": self.realized,
                "unrealized": self.unrealized, "total": self.realized + self.unrealized, "mark": self.mark,
                "bought": self.bought, "sold": self.sold, "fills": self.fills}


def _prorate(cost: int, part: int, whole: int) -> int:
    """cost * part / whole truncated toward zero (C division, as engine/positions.pyx)."""
    n = cost * part
    r = abs(n) // whole
    return r if n >= 0 else -r


class Order:
    """One of the strategy's orders as the strategy knows it."""
    PENDING_NEW, OPEN, PENDING_CANCEL, DONE = 0, 1, 2, 3

    def __init__(self, cl_ord_id, symbol, side, qty, price, ord_type, tif, flags):
        self.cl_ord_id = cl_ord_id
        self.symbol = symbol
        self.side = side
        self.qty = qty              # total order quantity
        self.price = price
        self.ord_type = ord_type
        self.tif = tif
        self.flags = flags
        self.leaves = qty
        self.filled = 0
        self.order_id = 0
        self.state = Order.PENDING_NEW
        self.pending_modify = None  # (qty, price) sent, not yet answered

    @property
    def working(self) -> bool:
        return self.state != Order.DONE

    def __repr__(self):
        return (f"Order({self.cl_ord_id}, {self.symbol}, {Side(self.side).name}, {self.leaves}/{self.qty} "
                f"@ {self.price}, state {self.state})")


class Strategy(Handler):
    """Base class; see the module docstring. Subclasses declare ``PARAMS = {name: Param(...)}``."""

    PARAMS: dict = {}

    def __init__(self, config: dict | None = None):
        config = dict(config or {})
        self.config = config
        self._validate(config)
        self.port: OrderPort | None = None
        self.orders: dict[int, Order] = {}          # working orders by cl_ord_id
        self.positions: dict[str, Position] = {}
        self.books: dict[str, Book] = {}            # last book per symbol
        self.next_cl_ord_id = 1
        self.now_ns = 0
        self.timer_interval_ns = 0
        self.timer_next_ns = 0
        self.halted = False
        self.halt_reason = ""
        self.feed_exact = True
        self.stats = {"orders": 0, "cancels": 0, "modifies": 0, "fills": 0, "filled_qty": 0, "rejects": 0,
                      "cancel_rejects": 0, "modify_rejects": 0, "cancelled": 0, "expired": 0}
        self.rejects: dict[str, int] = {}           # by reason name (venue rejects)
        self.refused: dict[str, int] = {}           # orders the strategy's own limits stopped, by reason
        self.last_refusal = 0                       # code of the last order the limits refused
        self.orders_at_halt = -1                    # stats["orders"] when the strategy halted
        if self.timer_ms:
            self.timer_interval_ns = self.timer_ms * 1_000_000

    # ---------------------------------------------------------------- config ----
    def _validate(self, cfg: dict) -> None:
        for key in cfg:
            if key not in TOP_KEYS:
                raise ConfigError(key, f"unknown key (known: {', '.join(sorted(TOP_KEYS))})")
        syms = cfg.get("symbols")
        if syms is None:
            raise ConfigError("symbols", "missing: a list of symbols, or [\"*\"] for all")
        if not isinstance(syms, list) or not syms or not all(isinstance(s, str) and s.strip() for s in syms):
            raise ConfigError("symbols", f"expected a non-empty list of symbol names, got {syms!r}")
        for s in syms:
            if s != "*" and (len(s) > 8 or not s.isascii()):
                raise ConfigError("symbols", f"{s!r} is not an ITCH symbol (at most 8 ASCII characters)")
        self.symbols = None if "*" in syms else {s.strip() for s in syms}
        self.timer_ms = _param("timer_ms", cfg["timer_ms"], Param(int, 0, 1, 86_400_000)) if "timer_ms" in cfg else 0
        lim = cfg.get("limits", {})
        if not isinstance(lim, dict):
            raise ConfigError("limits", "expected a table [limits]")
        for key in lim:
            if key not in LIMITS:
                raise ConfigError(f"limits.{key}", f"unknown limit (known: {', '.join(LIMITS)})")
        self.limits = {k: (_param(f"limits.{k}", lim[k], p) if k in lim else p.default) for k, p in LIMITS.items()}
        params = cfg.get("params", {})
        if not isinstance(params, dict):
            raise ConfigError("params", "expected a table [params]")
        for key in params:
            if key not in self.PARAMS:
                raise ConfigError(f"params.{key}", f"unknown parameter of {type(self).__name__} "
                                                   f"(known: {', '.join(self.PARAMS) or 'none'})")
        self.params = {}
        for k, p in self.PARAMS.items():
            if k in params:
                self.params[k] = _param(f"params.{k}", params[k], p)
            elif p.default is None:
                raise ConfigError(f"params.{k}", f"missing ({p.doc})" if p.doc else "missing")
            else:
                self.params[k] = p.default
        self.configure(self.params)

    def configure(self, params: dict) -> None:
        """Hook: check combinations of parameters (raise ConfigError), derive settings."""

    # ------------------------------------------------------------- callbacks ----
    def on_start(self) -> None: ...
    def on_book(self, book: Book) -> None: ...
    def on_trade(self, trade: Trade) -> None: ...
    def on_status(self, status: Status) -> None: ...
    def on_execution(self, ex: Execution) -> None: ...
    def on_timer(self, now_ns: int) -> None: ...
    def on_stop(self) -> None: ...

    # ------------------------------------------------------ driver interface ----
    def bind(self, port: OrderPort) -> None:
        self.port = port
        port.bind(self)

    def start(self) -> None:
        self.on_start()

    def stop(self) -> None:
        self.on_stop()

    def wants(self, symbol: str) -> bool:
        return self.symbols is None or symbol in self.symbols

    def handle_clock(self, now_ns: int) -> None:
        if now_ns > self.now_ns:
            self.now_ns = now_ns
        if self.timer_interval_ns and self.now_ns >= self.timer_next_ns:
            first = self.timer_next_ns == 0
            self.timer_next_ns = self.now_ns + self.timer_interval_ns
            if not first:
                self.on_timer(self.now_ns)

    def handle_book(self, book: Book) -> None:
        self.books[book.symbol] = book
        mid = book.mid
        if mid:
            pos = self.positions.get(book.symbol)
            if pos is not None:
                pos.mark = mid
                self._check_loss()
        self.on_book(book)

    def handle_trade(self, trade: Trade) -> None:
        self.on_trade(trade)

    def handle_status(self, status: Status) -> None:
        if status.symbol is None:
            self.feed_exact = status.exact or status.feed_state == FeedState.END
        self.on_status(status)

    def handle_execution(self, ex: Execution) -> None:
        o = self.orders.get(ex.cl_ord_id)
        k = ex.kind
        if k == ExecKind.FILL:
            self.stats["fills"] += 1
            self.stats["filled_qty"] += ex.qty
            sym = ex.symbol or (o.symbol if o is not None else "")
            pos = self._position(sym)
            pos.fill(ex.side or (o.side if o is not None else 0), ex.qty, ex.price)
            b = self.books.get(sym)
            if b is not None and b.mid:
                pos.mark = b.mid
            elif not pos.mark:
                pos.mark = ex.price
            if o is not None:
                o.filled += ex.qty
                o.leaves = ex.leaves
                if ex.leaves == 0:
                    self._done(o)
        elif k == ExecKind.ACK:
            if o is not None:
                o.order_id = ex.order_id
                if o.state == Order.PENDING_NEW:
                    o.state = Order.OPEN
        elif k == ExecKind.REJECT:
            self.stats["rejects"] += 1
            self.rejects[ex.reason_name] = self.rejects.get(ex.reason_name, 0) + 1
            if o is not None:
                self._done(o)
        elif k in (ExecKind.CANCELLED, ExecKind.EXPIRED):
            self.stats["cancelled" if k == ExecKind.CANCELLED else "expired"] += 1
            if o is not None:
                o.leaves = ex.leaves
                if ex.leaves == 0:
                    self._done(o)
        elif k == ExecKind.MODIFY_ACK:
            if o is not None:
                o.qty, o.price, o.leaves = ex.qty, ex.price, ex.leaves
                o.pending_modify = None
                if o.state == Order.PENDING_NEW:
                    o.state = Order.OPEN
        elif k == ExecKind.MODIFY_REJECT:
            self.stats["modify_rejects"] += 1
            self.rejects[ex.reason_name] = self.rejects.get(ex.reason_name, 0) + 1
            if o is not None:
                o.pending_modify = None
        elif k == ExecKind.CANCEL_REJECT:
            self.stats["cancel_rejects"] += 1
            self.rejects[ex.reason_name] = self.rejects.get(ex.reason_name, 0) + 1
            if o is not None and o.state == Order.PENDING_CANCEL:
                o.state = Order.OPEN
        self._check_loss()
        self.on_execution(ex)

    # ------------------------------------------------------------------ state ----
    def _position(self, symbol: str) -> Position:
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position()
        return pos

    def position(self, symbol: str) -> int:
        pos = self.positions.get(symbol)
        return pos.qty if pos is not None else 0

    def _done(self, o: Order) -> None:
        o.state = Order.DONE
        o.leaves = 0
        self.orders.pop(o.cl_ord_id, None)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if symbol is None or o.symbol == symbol]

    def open_qty(self, symbol: str, side: int) -> int:
        """Shares that could still fill on ``side`` (working leaves, and pending modifies at their larger size)."""
        n = 0
        for o in self.orders.values():
            if o.symbol == symbol and o.side == side:
                leaves = o.leaves
                if o.pending_modify is not None:
                    leaves = max(leaves, o.pending_modify[0] - o.filled)
                n += leaves
        return n

    def pnl(self) -> int:
        """Realized + unrealized over all symbols, 1e-4 $."""
        return sum(p.realized + p.unrealized for p in self.positions.values())

    def _check_loss(self) -> None:
        ml = self.limits["max_loss"]
        if ml is not None and not self.halted and self.pnl() < -ml:
            self.halt(f"loss limit: P&L {self.pnl() / PRICE_SCALE:.4f} $ below -{ml / PRICE_SCALE:.4f} $")

    def halt(self, reason: str) -> None:
        """Stop trading: cancel every working order, refuse every new one from now on."""
        if self.halted:
            return
        self.halted = True
        self.halt_reason = reason
        self.orders_at_halt = self.stats["orders"]
        if self.orders:
            self.cancel_all()

    # ---------------------------------------------------------------- actions ----
    def _refuse(self, code: int):
        """Count a refusal by the strategy's own limits (``STRAT_E_*`` of core/codes.pxd, named without
        the prefix in ``refused``); ``last_refusal`` holds the code."""
        name = _codes.code_name(code).removeprefix("STRAT_E_")
        self.refused[name] = self.refused.get(name, 0) + 1
        self.last_refusal = code
        return None

    def buy(self, symbol, qty, price=0, ord_type=OrdType.LIMIT, tif=Tif.DAY, flags=0):
        """Send a buy; returns its cl_ord_id, or None when a limit of the strategy refused it (``refused``)."""
        return self._new(symbol, Side.BUY, qty, price, ord_type, tif, flags)

    def sell(self, symbol, qty, price=0, ord_type=OrdType.LIMIT, tif=Tif.DAY, flags=0):
        return self._new(symbol, Side.SELL, qty, price, ord_type, tif, flags)

    def _new(self, symbol, side, qty, price, ord_type, tif, flags):
        if self.port is None:
            raise RuntimeError("strategy is not bound to an order port")
        if self.halted:
            return self._refuse(_codes.STRAT_E_HALTED)
        if not self.wants(symbol):
            return self._refuse(_codes.STRAT_E_SYMBOL_NOT_CONFIGURED)
        if flags & ~FLAGS_ALL:
            return self._refuse(_codes.STRAT_E_BAD_FLAGS)
        lim = self.limits
        if qty <= 0 or qty > lim["max_order_qty"]:
            return self._refuse(_codes.STRAT_E_MAX_ORDER_QTY)
        if len(self.orders) >= lim["max_open_orders"]:
            return self._refuse(_codes.STRAT_E_MAX_OPEN_ORDERS)
        if lim["max_notional"] is not None:
            ref = price
            if ord_type == OrdType.MARKET or not ref:
                b = self.books.get(symbol)
                ref = (b.ask_px if side == Side.BUY else b.bid_px) if b is not None else 0
                if not ref:
                    return self._refuse(_codes.STRAT_E_MAX_NOTIONAL)      # no price to bound a market order by
            if ref * qty > lim["max_notional"]:
                return self._refuse(_codes.STRAT_E_MAX_NOTIONAL)
        if not self._position_room(symbol, side, qty):
            return self._refuse(_codes.STRAT_E_MAX_POSITION)
        cl = self.next_cl_ord_id
        self.next_cl_ord_id += 1
        o = Order(cl, symbol, int(side), qty, price, int(ord_type), int(tif), flags)
        self.orders[cl] = o
        self.stats["orders"] += 1
        if not self.port.send_new(cl, symbol, Side(side), qty, price, OrdType(ord_type), Tif(tif), flags):
            self._done(o)
            return self._refuse(_codes.STRAT_E_PORT_REFUSED)
        return cl

    def _position_room(self, symbol, side, extra) -> bool:
        pos = self.position(symbol)
        cap = self.limits["max_position"]
        if side == Side.BUY:
            return pos + self.open_qty(symbol, Side.BUY) + extra <= cap
        return pos - self.open_qty(symbol, Side.SELL) - extra >= -cap

    def cancel(self, cl_ord_id: int) -> bool:
        o = self.orders.get(cl_ord_id)
        if o is None or o.state == Order.PENDING_CANCEL:
            return False
        o.state = Order.PENDING_CANCEL
        self.stats["cancels"] += 1
        return self.port.send_cancel(cl_ord_id)

    def modify(self, cl_ord_id: int, qty: int, price: int) -> bool:
        """Cancel/replace in place: ``qty`` is the new total quantity. False if refused or not working."""
        o = self.orders.get(cl_ord_id)
        if o is None or o.state == Order.PENDING_CANCEL or o.pending_modify is not None:
            return False
        if self.halted:
            self._refuse(_codes.STRAT_E_HALTED)
            return False
        if qty <= 0 or qty > self.limits["max_order_qty"]:
            self._refuse(_codes.STRAT_E_MAX_ORDER_QTY)
            return False
        if self.limits["max_notional"] is not None and price * qty > self.limits["max_notional"]:
            self._refuse(_codes.STRAT_E_MAX_NOTIONAL)
            return False
        grow = (qty - o.filled) - o.leaves
        if grow > 0 and not self._position_room(o.symbol, o.side, grow):
            self._refuse(_codes.STRAT_E_MAX_POSITION)
            return False
        o.pending_modify = (qty, price)
        self.stats["modifies"] += 1
        return self.port.send_modify(cl_ord_id, qty, price)

    def cancel_all(self, symbol: str | None = None) -> bool:
        for o in self.orders.values():
            if symbol is None or o.symbol == symbol:
                o.state = Order.PENDING_CANCEL
        self.stats["cancels"] += 1
        return self.port.send_mass_cancel(symbol)

    def set_timer(self, interval_ns: int) -> None:
        """Call ``on_timer`` every ``interval_ns`` of feed time (0 turns it off)."""
        if interval_ns < 0:
            raise ValueError("timer interval must be >= 0")
        self.timer_interval_ns = int(interval_ns)
        self.timer_next_ns = self.now_ns + self.timer_interval_ns if interval_ns else 0

    # ----------------------------------------------------------- invariants ----
    def limit_violations(self) -> list[str]:
        """What breaks the strategy's limits now (empty when all hold); tests call it after every event."""
        out = []
        cap = self.limits["max_position"]
        for sym, p in self.positions.items():
            if abs(p.qty) > cap:
                out.append(f"{sym}: position {p.qty} beyond max_position {cap}")
            if p.qty == 0 and p.cost != 0:
                out.append(f"{sym}: flat with cost {p.cost}")
        if len(self.orders) > self.limits["max_open_orders"]:
            out.append(f"{len(self.orders)} open orders beyond max_open_orders")
        for o in self.orders.values():
            if o.qty > self.limits["max_order_qty"]:
                out.append(f"order {o.cl_ord_id} qty {o.qty} beyond max_order_qty")
        ml = self.limits["max_loss"]
        if ml is not None and self.pnl() < -ml and not self.halted:
            out.append(f"P&L {self.pnl()} below -max_loss {ml} and not halted")
        if self.halted and self.stats["orders"] != self.orders_at_halt:
            out.append(f"{self.stats['orders'] - self.orders_at_halt} orders sent after the halt")
        return out

    def summary(self) -> dict:
        return {
            "orders": dict(self.stats),
            "rejects": dict(sorted(self.rejects.items())),
            "refused": dict(sorted(self.refused.items())),
            "open_orders": len(self.orders),
            "halted": self.halt_reason or None,
            "positions": {s: p.as_dict() for s, p in sorted(self.positions.items())},
            "pnl": self.pnl(),
        }
