"""Every result code of tickwire (Python side), read from ``core/codes.pxd``, and the one error base class.

The Cython hot paths return negative result codes (``core/codes.pxd``, the single definition of
every code, its area and its message); the Python layers turn them into a :class:`TickwireError`
subclass or print their NAME. This module parses that file (shipped as package data), so it
cannot drift from what the compiled modules see; ``tests/test_codes.py`` checks both agree.

``python -m core.codes --markdown`` prints the table docs/codes.md holds.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import NamedTuple

PXD = Path(__file__).with_name("codes.pxd")


class Area(NamedTuple):
    """A range of codes owned by one part of tickwire (``lo`` is the code nearest zero)."""
    name: str
    lo: int
    hi: int
    what: str


class Code(NamedTuple):
    """One result code: NAME, the message Python layers print, value and area name
    (``code[:2]`` is the ``(NAME, message)`` pair the older per-area tables held)."""
    name: str
    message: str
    value: int
    area: str


_AREA = re.compile(r"^# ==== (\w+) (-\d+)\.\.(-\d+): (.*?) ====$")
_CODE = re.compile(r"^    ([A-Z][A-Z0-9_]*) = (-?\d+)\s*#\s*(.+?)\s*$")


def _parse(text: str) -> tuple[dict[str, Area], dict[int, Code]]:
    """Areas and codes of ``core/codes.pxd`` (values >= 0, the *_OK constants, are not codes)."""
    areas: dict[str, Area] = {}
    codes: dict[int, Code] = {}
    area = None
    for line in text.splitlines():
        m = _AREA.match(line)
        if m:
            area = Area(m[1], int(m[2]), int(m[3]), m[4])
            areas[area.name] = area
            continue
        m = _CODE.match(line)
        if m and int(m[2]) < 0:
            if area is None:
                raise ValueError(f"core/codes.pxd: {m[1]} is outside an area banner")
            value = int(m[2])
            if value in codes:
                raise ValueError(f"core/codes.pxd: {m[1]} and {codes[value].name} are both {value}")
            codes[value] = Code(m[1], m[3], value, area.name)
    return areas, codes


AREAS, CODES = _parse(PXD.read_text())
#: NAME -> value
BY_NAME: dict[str, int] = {c.name: c.value for c in CODES.values()}
globals().update(BY_NAME)       # every NAME is a module attribute: ``from core.codes import SRC_E_END``


def code_name(code: int) -> str:
    """NAME of a code; ``UNKNOWN(<code>)`` for a code not in the table."""
    c = CODES.get(int(code))
    return c.name if c else f"UNKNOWN({int(code)})"


def code_message(code: int) -> str:
    """Message of a code; ``unknown result code <code>`` for a code not in the table."""
    c = CODES.get(int(code))
    return c.message if c else f"unknown result code {int(code)}"


def describe(code: int) -> tuple[str, str]:
    """``(NAME, message)`` of a code (the unknown-code format of :func:`code_name` / :func:`code_message`)."""
    return code_name(code), code_message(code)


def area_of(code: int) -> Area | None:
    """The area whose range holds ``code`` (None outside every range)."""
    for a in AREAS.values():
        if a.hi <= code <= a.lo:
            return a
    return None


class TickwireError(Exception):
    """Base of every tickwire error that carries a result code.

    ``str()`` is ``NAME (code)[ at byte offset N]: message``.

    Attributes
    ----------
    code : int      negative result code (``CODES``)
    name : str      its NAME, e.g. ``"ITCH_E_TRUNCATED"``
    message : str   what went wrong, specific to this occurrence (the code's message by default)
    offset : int | None  byte offset in the stream or file where it happened (None when not applicable)
    """

    def __init__(self, code: int, message: str | None = None, offset: int | None = None):
        self.code = int(code)
        self.name = code_name(self.code)
        self.message = message or code_message(self.code)
        self.offset = offset
        super().__init__(self._text())

    def _text(self) -> str:
        where = f" at byte offset {self.offset}" if self.offset is not None else ""
        return f"{self.name} ({self.code}){where}: {self.message}"

    def __reduce__(self):
        return (type(self), (self.code, self.message, self.offset))


class FeedError(TickwireError):
    """A fatal feed-handling error (ITCH, MoldUDP64, pcap, readers), raised by the Python layers only.

    ``stats`` holds reader statistics up to the error (set by ``reader.open_feed(...).run``), else None.
    """

    def __init__(self, code: int, message: str | None = None, offset: int | None = None):
        super().__init__(code, message, offset)
        self.stats = None


def markdown() -> str:
    """docs/codes.md: the area table and every code (generated; tests compare)."""
    out = ["# Result codes", "",
           "Generated from `core/codes.pxd` by `python -m core.codes --markdown > docs/codes.md`; do not edit.",
           "Every code is negative and belongs to exactly one area. Python layers raise a",
           "`core.codes.TickwireError` subclass whose `str()` is `NAME (code)[ at byte offset N]: message`;",
           f"a code not in the table is named `{code_name(-12345)}` with the message `{code_message(-12345)}`.",
           "Engine events (`Event.reason`) and CSV output name an `RC_*` code without its prefix (`INVALID_QTY`).",
           "", "| area | range | what |", "|---|---|---|"]
    out += [f"| {a.name} | {a.lo}..{a.hi} | {a.what} |" for a in AREAS.values()]
    for a in AREAS.values():
        out += ["", f"## {a.name} ({a.lo}..{a.hi})", "", "| code | name | message |", "|---|---|---|"]
        out += [f"| {c.value} | `{c.name}` | {c.message} |"
                for c in sorted(CODES.values(), key=lambda c: -c.value) if c.area == a.name]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m core.codes [--markdown]``: the table as markdown, or one ``value NAME message`` line per code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--markdown"]:
        sys.stdout.write(markdown())
        return 0
    if argv:
        print("usage: python -m core.codes [--markdown]", file=sys.stderr)
        return 2
    for c in sorted(CODES.values(), key=lambda c: -c.value):
        print(f"{c.value:6d} {c.name:28s} {c.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
