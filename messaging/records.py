"""NumPy mirror of ``messaging/records.pxd``: dtypes, enums and the code table.

``COMMAND_DTYPE`` / ``EVENT_DTYPE`` have exactly the offsets and item sizes of
the packed C structs ``Command`` (96 bytes) and ``Event`` (80 bytes); a test
compares them with ``offsetof`` from the compiled engine. Build a command batch
with ``np.zeros(n, COMMAND_DTYPE)`` and hand it to ``engine.loop.EngineLoop``.

``CODES`` maps every reason code to ``(NAME, message)`` so Python layers print
clear errors. Ranges: -1..-99 matching/validation, -100..-199 pre-trade risk
(the risk module adds its own with ``register_codes``), -200..-255 loop/journal,
positive values are cancel/expire reasons.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np

# ------------------------------------------------------------------ dtypes ----
COMMAND_DTYPE = np.dtype({
    "names": ["order_id", "link_id", "seq", "price", "stop_price", "expire_ns", "ts_ns", "qty", "display_qty",
              "account_id", "firm_id", "session_id", "symbol_id", "action", "side", "ord_type", "tif", "flags",
              "stp", "reserved"],
    "formats": ["<u8", "<u8", "<u8", "<i8", "<i8", "<i8", "<i8", "<u4", "<u4",
                "<u4", "<u4", "<u4", "<u4", "u1", "u1", "u1", "u1", "u1",
                "u1", ("u1", 10)],
    "offsets": [0, 8, 16, 24, 32, 40, 48, 56, 60, 64, 68, 72, 76, 80, 81, 82, 83, 84, 85, 86],
    "itemsize": 96,
})

EVENT_DTYPE = np.dtype({
    "names": ["order_id", "maker_order_id", "taker_order_id", "seq", "price", "ts_ns", "qty", "leaves_qty",
              "maker_leaves_qty", "account_id", "maker_account_id", "symbol_id", "reason", "kind", "side",
              "reserved"],
    "formats": ["<u8", "<u8", "<u8", "<u8", "<i8", "<i8", "<u4", "<u4",
                "<u4", "<u4", "<u4", "<u4", "<i2", "u1", "u1", ("u1", 4)],
    "offsets": [0, 8, 16, 24, 32, 40, 48, 52, 56, 60, 64, 68, 72, 74, 75, 76],
    "itemsize": 80,
})

SYMBOL_ANY = 0xFFFFFFFF
NO_ORDER = 0
PRICE_SCALE = 10_000  # prices are int64 in 1e-4 dollars


# ------------------------------------------------------------------- enums ----
class Action(IntEnum):
    NEW = 1
    CANCEL = 2
    MODIFY = 3
    MASS_CANCEL = 4
    END_OF_DAY = 5
    SESSION_DISCONNECT = 6
    KILL_SWITCH = 7
    SET_REFERENCE_PRICE = 8
    CLOCK = 9


class Side(IntEnum):
    NONE = 0
    BUY = 1
    SELL = 2


class OrdType(IntEnum):
    LIMIT = 1
    MARKET = 2
    STOP = 3
    STOP_LIMIT = 4


class Tif(IntEnum):
    DAY = 1
    GTC = 2
    IOC = 3
    FOK = 4
    GTD = 5


class Flag(IntEnum):
    POST_ONLY = 1
    ICEBERG = 2


class KillFlag(IntEnum):
    """``Command.flags`` of ACT_KILL_SWITCH (no flag: engage and cancel the open orders)."""
    BLOCK_ONLY = 0x40    # engage, leave the open orders working
    RELEASE = 0x80       # release; cancels nothing


class Stp(IntEnum):
    NONE = 0
    CANCEL_NEWEST = 1
    CANCEL_OLDEST = 2
    CANCEL_BOTH = 3
    DECREMENT = 4


class EventKind(IntEnum):
    ACK = 1
    REJECT = 2
    FILL = 3
    CANCEL = 4
    MODIFY_ACK = 5
    MODIFY_REJECT = 6
    CANCEL_REJECT = 7
    EXPIRE = 8
    TRIGGER = 9


# ------------------------------------------------------------------- codes ----
CODES: dict[int, tuple[str, str]] = {
    0: ("OK", "ok"),
    -1: ("INVALID_QTY", "quantity must be a positive integer"),
    -2: ("PRICE_NOT_ON_TICK", "price is not a multiple of the symbol's tick size"),
    -3: ("UNKNOWN_SYMBOL", "symbol is not configured"),
    -4: ("UNKNOWN_ORDER", "order id is not known"),
    -5: ("DUPLICATE_ORDER_ID", "order id was already used"),
    -6: ("ORDER_NOT_OPEN", "order is already filled, cancelled or expired"),
    -7: ("POST_ONLY_WOULD_CROSS", "post-only order would take liquidity"),
    -8: ("FOK_NOT_FILLABLE", "fill-or-kill order cannot be filled completely now"),
    -9: ("MARKET_NO_LIQUIDITY", "market order found no liquidity on the opposite side"),
    -10: ("INVALID_DISPLAY_QTY", "iceberg display quantity must be positive and not above the quantity"),
    -11: ("INVALID_TIF_TYPE", "time in force, order type and flags do not combine"),
    -12: ("GTD_WITHOUT_EXPIRY", "good-till-date order needs expire_ns"),
    -13: ("GTD_EXPIRED", "good-till-date expiry is not after the command time"),
    -14: ("INVALID_PRICE", "limit price must be positive; market and stop orders take no limit price"),
    -15: ("INVALID_STOP_PRICE", "stop orders need a positive stop price"),
    -16: ("INVALID_SIDE", "side must be buy or sell"),
    -17: ("INVALID_TYPE", "order type must be limit, market, stop or stop_limit"),
    -18: ("INVALID_TIF", "time in force must be day, gtc, ioc, fok or gtd"),
    -19: ("INVALID_ACTION", "action is not known"),
    -20: ("NOT_OWNER", "order belongs to another account"),
    -21: ("MODIFY_INVALID", "modify not allowed on a pending (untriggered) stop order"),
    -22: ("POOL_EXHAUSTED", "order pool is full"),
    -23: ("MALFORMED", "record is malformed"),
    -24: ("INVALID_STP", "self-trade prevention mode is not known"),
    -25: ("INVALID_FLAGS", "unknown flag bits"),
    -26: ("INVALID_LINK", "OCO link must name an open, unlinked order of the same account"),
    -200: ("SEQ_OUT_OF_ORDER", "sequence number is not above the previous one"),
    -201: ("JOURNAL_FAILED", "journal append failed; command not applied"),
    -202: ("LOOP_STOPPED", "engine loop stopped by a failed journal commit; nothing more is run"),
    1: ("REQUESTED", "cancelled on request"),
    2: ("IOC_REMAINDER", "unfilled rest of an immediate order cancelled"),
    3: ("STP", "cancelled by self-trade prevention"),
    4: ("OCO", "other leg of an OCO pair filled or cancelled"),
    5: ("MASS_CANCEL", "cancelled by mass cancel"),
    6: ("SESSION_DISCONNECT", "cancelled on session disconnect"),
    7: ("KILL_SWITCH", "cancelled by kill switch"),
    8: ("END_OF_DAY", "day order expired at end of day"),
    9: ("GTD_EXPIRED", "good-till-date order expired"),
    10: ("MODIFY_TO_ZERO", "modify left no open quantity"),
}
CODE_BY_NAME: dict[str, int] = {name: code for code, (name, _) in CODES.items() if code <= 0}
CANCEL_REASON_BY_NAME: dict[str, int] = {name: code for code, (name, _) in CODES.items() if code > 0}


def register_codes(table: dict[int, tuple[str, str]]) -> None:
    """Add another module's codes (e.g. risk, -100..-199); a clash is a programming error."""
    for code, entry in table.items():
        if code in CODES and CODES[code] != entry:
            raise ValueError(f"reason code {code} already registered as {CODES[code][0]}")
        CODES[code] = entry
        if code <= 0:
            CODE_BY_NAME[entry[0]] = code


def code_name(code: int) -> str:
    """NAME of a reason code (``CODE_<n>`` when unknown)."""
    return CODES.get(int(code), (f"CODE_{int(code)}", ""))[0]


def code_message(code: int) -> str:
    """Human text of a reason code."""
    return CODES.get(int(code), ("", f"unknown code {int(code)}"))[1]
