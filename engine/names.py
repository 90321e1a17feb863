"""Account and firm names (as FIX tag 1, ``acct1``, ``ACME-7``) <-> the engine's uint32 ids.

One ``NameTable`` per kind is shared by the order CSV (``engine.csvio``) and the risk TOML
(``engine.riskconfig``), so a name means the same id in both. A name of ASCII digits only is a
number and keeps it as its id (``"7"`` -> 7, ``""`` -> 0), as before names existed. Any other
name gets an id from the top of the id range downward (``top``, ``top - 1``, ...: with ``--risk``
the top of the account / firm table, so named accounts have risk cells). Numbers and names never
share an id: a number inside the range already given to names, or a new name when the next free id
would not be above every number seen so far, is refused with a reason.
"""
from __future__ import annotations

U32 = (1 << 32) - 1
MAX_NAME = 32


def valid_name(name: str) -> bool:
    """1..32 printable ASCII characters, no space (FIX tag 1 style)."""
    return 0 < len(name) <= MAX_NAME and all(0x21 <= ord(ch) <= 0x7E for ch in name)


class NameError_(ValueError):
    """A name or number that cannot be given an id (message says why)."""


class NameTable:
    """Names <-> ids for one kind (``what``: "account" or "firm").

    Attributes
    ----------
    top : int
        Id of the first name; later names count down from it.
    floor : int
        Lowest id given to a name (``top + 1`` while there is none).
    max_numeric : int
        Highest numeric id seen that is not above ``top`` (-1: none); names stay above it.
    names : list[str]
        ``names[top - id]`` is the name of a named id.
    """

    def __init__(self, what: str = "account", top: int = U32 - 1):
        if not 1 <= top < U32:
            raise ValueError(f"{what} table top {top} out of range")
        self.what = what
        self.top = top
        self.floor = top + 1
        self.max_numeric = -1
        self.ids: dict[str, int] = {}
        self.names: list[str] = []

    def numeric(self, value: int) -> int:
        """Register a number used as an id; raises NameError_ if names own it."""
        if value > U32:
            raise NameError_(f"{self.what} {value} out of range")
        if value <= self.top:
            if value >= self.floor:
                raise NameError_(f"{self.what} {value} is an id given to a name "
                                 f"({self.names[self.top - value]!r})")
            if value > self.max_numeric:
                self.max_numeric = value
        return value

    def id(self, text: str) -> int:
        """Id of a name or a number (registering it); raises NameError_."""
        if not text:
            return 0
        if text.isascii() and text.isdigit():
            return self.numeric(int(text) if len(text) <= 20 else U32 + 1)
        sid = self.ids.get(text)
        if sid is not None:
            return sid
        if not valid_name(text):
            raise NameError_(f"{self.what} {text[:40]!r} is not 1-{MAX_NAME} printable ASCII characters "
                             f"without spaces")
        nid = self.floor - 1
        if nid <= max(self.max_numeric, 0):
            raise NameError_(f"no {self.what} id left for {text!r} (names take ids down from {self.top}, "
                             f"numbers up to {self.max_numeric} are in use)")
        self.floor = nid
        self.ids[text] = nid
        self.names.append(text)
        return nid

    def name(self, value: int) -> str:
        """The name of an id (its decimal text when it is a number)."""
        value = int(value)
        if self.floor <= value <= self.top:
            return self.names[self.top - value]
        return str(value)
