"""NumPy mirror of ``messaging/records.pxd``: dtypes, enums and the code table.

``COMMAND_DTYPE`` / ``EVENT_DTYPE`` have exactly the offsets and item sizes of
the packed C structs ``Command`` (96 bytes) and ``Event`` (80 bytes); a test
compares them with ``offsetof`` from the compiled engine. Build a command batch
with ``np.zeros(n, COMMAND_DTYPE)`` and hand it to ``engine.loop.EngineLoop``.

``CODES`` maps every reason code to ``(NAME, message)`` so Python layers print
clear errors: the negative ones come from ``core/codes.pxd`` (-1..-99 matching and
validation, -100..-199 pre-trade risk, -200..-299 loop and journal), positive values
are cancel/expire reasons.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np

from core import codes as _codes

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
#: reason code -> (NAME, message): the engine's reject codes (areas ORDER, RISK and LOOP of
#: core/codes.pxd; an RC_* code is named without its prefix, as Event.reason and CSV output print
#: it), then the positive cancel / expire reasons.
CODES: dict[int, tuple[str, str]] = {0: ("OK", "ok")}
CODES.update({c.value: (c.name.removeprefix("RC_"), c.message) for c in _codes.CODES.values()
              if c.area in ("ORDER", "RISK", "LOOP")})
CODES.update({
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
})
CODE_BY_NAME: dict[str, int] = {name: code for code, (name, _) in CODES.items() if code <= 0}
CANCEL_REASON_BY_NAME: dict[str, int] = {name: code for code, (name, _) in CODES.items() if code > 0}


def register_codes(table: dict[int, tuple[str, str]]) -> None:
    """Add codes core/codes.pxd does not hold (a plug-in hook's); a clash is a programming error."""
    for code, entry in table.items():
        if code in CODES and CODES[code] != entry:
            raise ValueError(f"reason code {code} already registered as {CODES[code][0]}")
        CODES[code] = entry
        if code <= 0:
            CODE_BY_NAME[entry[0]] = code


def code_name(code: int) -> str:
    """NAME of a reason code (``core.codes``'s ``UNKNOWN(<n>)`` when unknown)."""
    entry = CODES.get(int(code))
    return entry[0] if entry else _codes.code_name(code)


def code_message(code: int) -> str:
    """Human text of a reason code (``core.codes``'s unknown-code message when unknown)."""
    entry = CODES.get(int(code))
    return entry[1] if entry else _codes.code_message(code)
