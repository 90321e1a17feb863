"""The two ports a strategy runs on, and the events it sees.

A strategy never talks to a transport. Market data reaches it through a ``MarketDataSource``, which
drives the callbacks of a ``Handler`` (in practice ``strategy.base.Strategy``); its orders leave
through an ``OrderPort``, whose executions come back through the same handler's ``on_execution``.
The backtest (``strategy.backtest``) implements both over a recorded ITCH day and a simulated venue;
the live adapter implements them over Aeron (the SBE market-data and order-entry streams).

Units everywhere: prices are integers in 1e-4 dollars (ITCH ``Price(4)``, the engine's ``price``),
quantities integer shares, times integer nanoseconds (exchange timestamps: since midnight, as ITCH).

Enums: the order types, TIFs, flags and sides are the engine's own (``messaging.records``), re-exported
here so a strategy imports them from one place; the strategy-side enums (execution kind, liquidity,
feed state) are defined here.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import IntEnum

from messaging.records import CODES, Flag, OrdType, Side, Tif, code_name

__all__ = [
    "Side", "OrdType", "Tif", "Flag", "ExecKind", "Liquidity", "FeedState", "TradingState",
    "Book", "Trade", "Status", "Execution", "MarketDataSource", "OrderPort", "Handler",
    "PRICE_SCALE", "tick_for", "CODES", "code_name", "FLAGS_ALL",
]

PRICE_SCALE = 10_000          # 1 dollar in price units (1e-4 $)
FLAGS_ALL = int(Flag.POST_ONLY) | int(Flag.ICEBERG)


def tick_for(price: int) -> int:
    """Minimum price increment at ``price`` (Reg NMS 612: $0.01 at $1.00 and above, $0.0001 below)."""
    return 100 if price >= PRICE_SCALE else 1


class ExecKind(IntEnum):
    """What an ``Execution`` reports (the engine's event kinds, as the order-entry session reports them)."""
    ACK = 1
    REJECT = 2
    FILL = 3
    CANCELLED = 4
    MODIFY_ACK = 5
    MODIFY_REJECT = 6
    CANCEL_REJECT = 7
    EXPIRED = 8


class Liquidity(IntEnum):
    NONE = 0
    MAKER = 1       # the strategy's order was resting (added liquidity)
    TAKER = 2       # the strategy's order took resting liquidity


class FeedState(IntEnum):
    UP = 1          # line up, books exact
    GAP = 2         # a gap is open: books are not exact since ``not_exact_since`` (a feed sequence number)
    RECOVERED = 3   # the gap was filled (retransmission or snapshot): books exact again
    GIVEN_UP = 4    # the gap was given up: books stay inexact until a snapshot
    DOWN = 5        # line down
    END = 6         # end of session


class TradingState(IntEnum):
    """ITCH 'H' Trading State (the byte's ASCII value; UNKNOWN before the first 'H')."""
    UNKNOWN = 0
    HALTED = ord("H")
    PAUSED = ord("P")
    QUOTATION_ONLY = ord("Q")
    TRADING = ord("T")


# ------------------------------------------------------------------ events ----
@dataclass(slots=True)
class Book:
    """A symbol's book after one feed message: full depth down to the source's level count, best first.

    ``bids`` / ``asks`` are lists of ``(price, shares, orders)``; an empty side is ``[]``.
    """
    symbol: str
    bids: list
    asks: list
    ts_ns: int = 0          # exchange timestamp of the message that produced this book
    seq: int = 0            # feed sequence number of that message

    @property
    def bid_px(self) -> int:
        return self.bids[0][0] if self.bids else 0

    @property
    def bid_size(self) -> int:
        return self.bids[0][1] if self.bids else 0

    @property
    def ask_px(self) -> int:
        return self.asks[0][0] if self.asks else 0

    @property
    def ask_size(self) -> int:
        return self.asks[0][1] if self.asks else 0

    @property
    def two_sided(self) -> bool:
        return bool(self.bids) and bool(self.asks)

    @property
    def mid(self) -> int:
        """Mid price truncated to an integer (1e-4 $); 0 unless both sides are there."""
        return (self.bids[0][0] + self.asks[0][0]) // 2 if self.bids and self.asks else 0


@dataclass(slots=True)
class Trade:
    """A print: ``side`` is the resting order's side where the feed says it (E/C/P), else NONE (cross)."""
    symbol: str
    price: int
    qty: int
    side: Side = Side.NONE
    match_id: int = 0
    ts_ns: int = 0
    seq: int = 0


@dataclass(slots=True)
class Status:
    """Trading status of a symbol (``symbol`` set) or the feed's status (``symbol`` None)."""
    symbol: str | None
    trading_state: TradingState = TradingState.UNKNOWN
    reason: str = ""                    # ITCH reason code of the trading state ('' when none)
    feed_state: FeedState = FeedState.UP
    not_exact_since: int = 0            # feed sequence number from which books are inexact (GAP / GIVEN_UP)
    gap_from: int = 0                   # first missing sequence number
    gap_to: int = 0                     # last missing sequence number
    ts_ns: int = 0
    seq: int = 0

    @property
    def exact(self) -> bool:
        return self.feed_state not in (FeedState.GAP, FeedState.GIVEN_UP, FeedState.DOWN)


@dataclass(slots=True)
class Execution:
    """An execution report for one of the strategy's orders."""
    kind: ExecKind
    cl_ord_id: int
    order_id: int = 0                   # venue's order id (0 when rejected before one was given)
    symbol: str = ""
    side: Side = Side.NONE
    price: int = 0                      # FILL: fill price; ACK / MODIFY_ACK: the order's price
    qty: int = 0                        # FILL: shares filled; ACK / MODIFY_ACK: order quantity; CANCELLED: removed
    leaves: int = 0                     # open quantity after this report
    liquidity: Liquidity = Liquidity.NONE
    match_id: int = 0
    reason: int = 0                     # REJECT / *_REJECT: engine code (< 0); CANCELLED / EXPIRED: reason (> 0)
    reason_name: str = ""
    ts_ns: int = 0

    @classmethod
    def make(cls, kind, cl_ord_id, reason=0, **kw) -> "Execution":
        return cls(kind, cl_ord_id, reason=reason, reason_name=code_name(reason) if reason else "", **kw)


# ------------------------------------------------------------------- ports ----
class Handler(ABC):
    """What a market-data source and an order port deliver to (``Strategy`` implements it)."""

    @abstractmethod
    def handle_book(self, book: Book) -> None: ...

    @abstractmethod
    def handle_trade(self, trade: Trade) -> None: ...

    @abstractmethod
    def handle_status(self, status: Status) -> None: ...

    @abstractmethod
    def handle_execution(self, ex: Execution) -> None: ...

    @abstractmethod
    def handle_clock(self, now_ns: int) -> None: ...


class MarketDataSource(ABC):
    """Drives a handler: ``run`` delivers books, trades and status (and the clock) until the source ends.

    ``symbols`` restricts delivery to those symbols (None: every symbol). The source calls
    ``handler.handle_clock(ts)`` with the exchange time of each message before its book / trade, so
    timers follow the feed's time in a backtest and the wall clock live.
    """

    @abstractmethod
    def run(self, handler: Handler, symbols: set[str] | None = None) -> dict:
        """Deliver everything; return the source's counters (messages, events, gaps, ...)."""

    def stop(self) -> None:
        """Ask ``run`` to return after the current event (live sources; a replay may ignore it)."""


class OrderPort(ABC):
    """Where a strategy's orders go; executions come back through ``handler.handle_execution``.

    Identifiers: ``cl_ord_id`` is the strategy's own positive integer, unique per session; the venue's
    order id comes back in the ACK. Each call returns True when the request was handed to the
    transport, False when it could not be (a live adapter under back-pressure past its bound: the
    order is then not working, and the port reports nothing more for it).
    """

    handler: Handler | None = None

    def bind(self, handler: Handler) -> None:
        self.handler = handler

    @abstractmethod
    def send_new(self, cl_ord_id: int, symbol: str, side: Side, qty: int, price: int, ord_type: OrdType,
                 tif: Tif, flags: int) -> bool: ...

    @abstractmethod
    def send_cancel(self, cl_ord_id: int) -> bool: ...

    @abstractmethod
    def send_modify(self, cl_ord_id: int, qty: int, price: int) -> bool:
        """``qty`` is the new total order quantity (FIX semantics, as the engine)."""

    @abstractmethod
    def send_mass_cancel(self, symbol: str | None) -> bool:
        """Cancel every open order of this session (in ``symbol``, or all symbols when None)."""
