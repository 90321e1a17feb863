"""Book result codes: the BOOK_* codes of ``core/codes.pxd`` and the counter that counts each.

>= 0: applied. < 0: a fault, counted in a public counter, never fatal; the message says what the
book did about it (some faults are applied with a repair, e.g. a duplicate add). Values, names
and messages come from ``core.codes``; this module adds the book's own knowledge, the counters.
"""
from core import codes as _codes
from core.codes import (BOOK_BAD_MESSAGE, BOOK_BAD_SIDE, BOOK_DUPLICATE_ADD, BOOK_LOCATE_OUT_OF_RANGE,
                        BOOK_NO_MEMORY, BOOK_OVER_CANCEL, BOOK_OVER_EXECUTION, BOOK_REF_OUT_OF_RANGE,
                        BOOK_REPLACE_ONTO_LIVE, BOOK_UNKNOWN_REF, BOOK_ZERO_PRICE, BOOK_ZERO_REF, BOOK_ZERO_SHARES,
                        BOOK_ZERO_SHARES_MOD, TickwireError)

BOOK_OK = OK = 0
# Short aliases (the reference book and tests use them).
UNKNOWN_REF, DUPLICATE_ADD, OVER_EXECUTION, OVER_CANCEL = (BOOK_UNKNOWN_REF, BOOK_DUPLICATE_ADD, BOOK_OVER_EXECUTION,
                                                           BOOK_OVER_CANCEL)
ZERO_SHARES, ZERO_PRICE, BAD_SIDE, REF_OUT_OF_RANGE = BOOK_ZERO_SHARES, BOOK_ZERO_PRICE, BOOK_BAD_SIDE, BOOK_REF_OUT_OF_RANGE
LOCATE_OUT_OF_RANGE, REPLACE_ONTO_LIVE, ZERO_SHARES_MOD = (BOOK_LOCATE_OUT_OF_RANGE, BOOK_REPLACE_ONTO_LIVE,
                                                           BOOK_ZERO_SHARES_MOD)
NO_MEMORY, BAD_MESSAGE, ZERO_REF = BOOK_NO_MEMORY, BOOK_BAD_MESSAGE, BOOK_ZERO_REF

#: BookBuilder counter that counts each fault
COUNTERS = {
    BOOK_UNKNOWN_REF: "unknown_refs", BOOK_DUPLICATE_ADD: "duplicate_adds",
    BOOK_OVER_EXECUTION: "over_executions", BOOK_OVER_CANCEL: "over_cancels",
    BOOK_ZERO_SHARES: "rejected_adds", BOOK_ZERO_PRICE: "rejected_adds", BOOK_BAD_SIDE: "rejected_adds",
    BOOK_ZERO_REF: "rejected_adds", BOOK_REF_OUT_OF_RANGE: "bad_refs", BOOK_LOCATE_OUT_OF_RANGE: "bad_locates",
    BOOK_REPLACE_ONTO_LIVE: "replace_onto_live", BOOK_ZERO_SHARES_MOD: "zero_share_mods",
    BOOK_NO_MEMORY: "no_memory", BOOK_BAD_MESSAGE: "bad_messages",
}

#: code -> (NAME, message, counter that counts it)
CODES = {BOOK_OK: ("BOOK_OK", "applied", None)}
CODES.update({c.value: (c.name, c.message, COUNTERS[c.value]) for c in _codes.CODES.values() if c.area == "BOOK"})


def describe(code: int) -> tuple[str, str]:
    """(NAME, message) of a result code (``core.codes``'s format for a code it does not know)."""
    if code >= 0:
        return CODES[BOOK_OK][:2]
    return _codes.describe(code)


class BookError(TickwireError):
    """A book result code as an exception (for Python layers that prefer raising); ``reason`` is ``message``."""

    def __init__(self, code: int, message: str | None = None, offset: int | None = None):
        super().__init__(code, message, offset)
        self.reason = self.message
