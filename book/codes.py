"""Result codes of ``BookBuilder.on_message`` / ``apply_message`` (twins of the TW_BOOK_* enum in builder.pxd).

>= 0: applied. < 0: a fault, counted in a public counter, never fatal; the message says what the
book did about it (some faults are applied with a repair, e.g. a duplicate add).
"""

OK = 0
UNKNOWN_REF = -1
DUPLICATE_ADD = -2
OVER_EXECUTION = -3
OVER_CANCEL = -4
ZERO_SHARES = -5
ZERO_PRICE = -6
BAD_SIDE = -7
REF_OUT_OF_RANGE = -8
LOCATE_OUT_OF_RANGE = -9
REPLACE_ONTO_LIVE = -10
ZERO_SHARES_MOD = -11
NO_MEMORY = -12
BAD_MESSAGE = -13
ZERO_REF = -14

#: code -> (NAME, message, counter that counts it)
CODES = {
    OK: ("OK", "applied", None),
    UNKNOWN_REF: ("UNKNOWN_REF", "order reference is not live in any book (E/C/X/D/U): message ignored",
                  "unknown_refs"),
    DUPLICATE_ADD: ("DUPLICATE_ADD", "add of a reference that is already live: the stale order was removed "
                    "and the new one added", "duplicate_adds"),
    OVER_EXECUTION: ("OVER_EXECUTION", "executed shares exceed the order's remaining shares: clamped to the "
                     "remainder, order removed", "over_executions"),
    OVER_CANCEL: ("OVER_CANCEL", "cancelled shares exceed the order's remaining shares: clamped to the "
                  "remainder, order removed", "over_cancels"),
    ZERO_SHARES: ("ZERO_SHARES", "add or replace with 0 shares: rejected (a replace leaves the original order)",
                  "rejected_adds"),
    ZERO_PRICE: ("ZERO_PRICE", "add or replace with price 0: rejected (a replace leaves the original order)",
                 "rejected_adds"),
    BAD_SIDE: ("BAD_SIDE", "add with a Buy/Sell indicator other than 'B' or 'S': rejected", "rejected_adds"),
    REF_OUT_OF_RANGE: ("REF_OUT_OF_RANGE", "order reference above max_ref: rejected / ignored", "bad_refs"),
    LOCATE_OUT_OF_RANGE: ("LOCATE_OUT_OF_RANGE", "stock locate 0 on an add, or >= max_locates: rejected",
                          "bad_locates"),
    REPLACE_ONTO_LIVE: ("REPLACE_ONTO_LIVE", "replace whose new reference is already live: the stale order "
                        "was removed and the replace applied", "replace_onto_live"),
    ZERO_SHARES_MOD: ("ZERO_SHARES_MOD", "execute or cancel of 0 shares: ignored", "zero_share_mods"),
    NO_MEMORY: ("NO_MEMORY", "an allocation failed: message dropped, book unchanged", "no_memory"),
    BAD_MESSAGE: ("BAD_MESSAGE", "not an ITCH 5.0 message type, or length differs from the spec length",
                  "bad_messages"),
    ZERO_REF: ("ZERO_REF", "add or replace with order reference 0 (not a valid ITCH reference): rejected "
               "(a replace leaves the original order)", "rejected_adds"),
}


def describe(code: int) -> tuple[str, str]:
    """(NAME, message) of a result code; unknown codes are described as such."""
    if code > 0:
        return ("OK", "applied")
    name, msg, _ = CODES.get(code, (f"UNKNOWN_CODE_{code}", f"result code {code} is not a book code", None))
    return name, msg


class BookError(Exception):
    """A book result code as an exception (for Python layers that prefer raising)."""

    def __init__(self, code: int):
        self.code = code
        self.name, self.reason = describe(code)
        super().__init__(f"{self.name} ({code}): {self.reason}")
