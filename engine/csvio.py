"""Order flow as CSV files: parse commands into ``COMMAND_DTYPE`` batches, format events as CSV rows.

Input (header required, column order free, extra optional columns in brackets)::

    seq,action,order_id,account,symbol,side,type,tif,qty,price,stop_price,display_qty,expire_ns
    [,ts_ns,link_id,stp,post_only,firm,session,flags]

The input is bytes, decoded strictly as UTF-8 (a leading BOM is skipped). Prices are dollars with up
to 4 decimals, parsed exactly to int 1e-4 units (never via float); numbers are ASCII digits only.
Symbols follow the ITCH rule (1-8 printable ASCII characters); accounts and firms are names
(``engine.names``). A row that cannot become a command never reaches the engine: it becomes a
``reject`` output row with a reason code. Output: ``OUTPUT_HEADER`` (one fixed header for every event
kind), always valid CSV (fields quoted as needed). Format and codes: docs/engine.md.

This module is the reference (one Python object per cell); ``engine.csv_orders`` is the compiled
fast path, which hands every row it does not fully accept back to ``row_to_command`` here, so both
give the same output (tests/test_csv_orders_diff.py).

Driving (``tickwire match``): ``OrderSource`` holds the input bytes (a regular file mapped whole, or a
pipe read as it arrives); ``OrderReader`` parses its rows into batches, the compiled parser first,
the reference for the rest; ``match_csv`` runs the batches and writes their events, ending a batch
early when a pipe has nothing more waiting. A restart (``engine.restart``) reads the rows the journal
already holds with the same ``OrderReader`` before ``match_csv`` goes on from where the output stopped.
"""
from __future__ import annotations

import csv
import mmap
import os
import re
import select
import stat
from dataclasses import dataclass, field

import numpy as np

from core.codes import (RC_INVALID_ACTION, RC_INVALID_DISPLAY_QTY, RC_INVALID_FLAGS, RC_INVALID_PRICE, RC_INVALID_QTY,
                        RC_INVALID_SIDE, RC_INVALID_STP, RC_INVALID_TIF, RC_INVALID_TYPE, RC_MALFORMED,
                        RC_PRICE_NOT_ON_TICK, RC_UNKNOWN_SYMBOL, TickwireError)
from engine.names import NameError_, NameTable
from messaging.records import (COMMAND_DTYPE, CODES, EVENT_DTYPE, PRICE_SCALE, SYMBOL_ANY, Action, EventKind, Flag,
                               KillFlag, OrdType, Side, Stp, Tif, code_name)

OUTPUT_HEADER = ("seq,event,order_id,account,symbol,side,price,qty,maker_order_id,taker_order_id,leaves_qty,"
                 "maker_leaves_qty,maker_account,reason,reason_name")
INPUT_COLUMNS = ("seq", "action", "order_id", "account", "symbol", "side", "type", "tif", "qty", "price",
                 "stop_price", "display_qty", "expire_ns")
OPTIONAL_COLUMNS = ("ts_ns", "link_id", "stp", "post_only", "firm", "session", "flags")
REQUIRED_COLUMNS = ("seq", "action")

ACTIONS = {"new": Action.NEW, "cancel": Action.CANCEL, "modify": Action.MODIFY, "mass_cancel": Action.MASS_CANCEL,
           "end_of_day": Action.END_OF_DAY, "session_disconnect": Action.SESSION_DISCONNECT,
           "kill_switch": Action.KILL_SWITCH, "set_reference_price": Action.SET_REFERENCE_PRICE,
           "clock": Action.CLOCK}
SIDES = {"buy": Side.BUY, "sell": Side.SELL, "b": Side.BUY, "s": Side.SELL}
TYPES = {"limit": OrdType.LIMIT, "market": OrdType.MARKET, "stop": OrdType.STOP, "stop_limit": OrdType.STOP_LIMIT}
TIFS = {"day": Tif.DAY, "gtc": Tif.GTC, "ioc": Tif.IOC, "fok": Tif.FOK, "gtd": Tif.GTD}
STPS = {"none": Stp.NONE, "cancel_newest": Stp.CANCEL_NEWEST, "cancel_oldest": Stp.CANCEL_OLDEST,
        "cancel_both": Stp.CANCEL_BOTH, "decrement": Stp.DECREMENT}
KILL_RELEASE = int(KillFlag.RELEASE)  # Command.flags bit releasing a kill switch (messaging FLAG_KILL_RELEASE)
#: ``flags`` column words (separated by ``|``) -> (bit, the one action it applies to)
FLAG_WORDS = {"post_only": (int(Flag.POST_ONLY), Action.NEW), "release": (KILL_RELEASE, Action.KILL_SWITCH)}
EVENT_NAMES = {k.value: k.name.lower() for k in EventKind}
SIDE_NAMES = {0: "", 1: "buy", 2: "sell"}
TRUE = {"1", "true", "yes", "y"}
FALSE = {"", "0", "false", "no", "n"}

U32, U64 = (1 << 32) - 1, (1 << 64) - 1
MAX_SYMBOL = 8                      # ITCH: 8 printable ASCII characters
_PRICE = re.compile(r"([0-9]+)(?:\.([0-9]+))?\Z")
_INT = re.compile(r"[+-]?[0-9]+\Z")
_NEWLINE = re.compile(rb"\r\n|\r|\n")
_ECHO_MAX = 40                      # reject rows echo at most this many characters of a cell
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


class RowError(TickwireError, ValueError):
    """A CSV cell that cannot become a command field: ``code`` (named as records.CODES names it) and a detail."""

    def __init__(self, code: int, detail: str):
        self.code = int(code)
        self.name = code_name(self.code)
        self.message = self.detail = detail
        self.offset = None
        Exception.__init__(self, self._text())

    def __reduce__(self):
        return (RowError, (self.code, self.detail))


class HeaderError(ValueError):
    """The input's header cannot be used (one-line reason); ``tickwire match`` exits EXIT_HEADER."""


def _show(text: str) -> str:
    """``repr`` of a cell for messages, cut to a readable length."""
    return repr(text if len(text) <= _ECHO_MAX else text[:_ECHO_MAX] + "...")


def parse_price(text: str, column: str = "price") -> int:
    """Dollars with up to 4 decimals -> int 1e-4 dollars, exactly ("100.25" -> 1002500)."""
    text = text.strip()
    neg = text.startswith("-")
    m = _PRICE.match(text[1:] if neg else text)
    if not m:
        raise RowError(RC_MALFORMED, f"{column} {_show(text)} is not a decimal dollar amount")
    whole, frac = m.group(1), m.group(2) or ""
    if len(frac) > 4:
        if frac[4:].strip("0"):
            raise RowError(RC_PRICE_NOT_ON_TICK, f"{column} {_show(text)} has more than 4 decimals")
        frac = frac[:4]
    if neg and (whole.strip("0") or frac.strip("0")):
        raise RowError(RC_INVALID_PRICE, f"{column} {_show(text)} is negative")
    if len(whole.lstrip("0")) > 15:  # no int() of a 5,000-digit string: (1 << 62) / 1e4 has 15 digits
        raise RowError(RC_INVALID_PRICE, f"{column} {_show(text)} is out of range")
    value = int(whole) * PRICE_SCALE + int(frac.ljust(4, "0") or 0)
    if value >= 1 << 62:
        raise RowError(RC_INVALID_PRICE, f"{column} {_show(text)} is out of range")
    return value


def format_price(value: int) -> str:
    """int 1e-4 dollars -> shortest decimal text with at least 2 decimals (1002500 -> "100.25")."""
    sign = "-" if value < 0 else ""
    value = abs(int(value))
    frac = f"{value % PRICE_SCALE:04d}".rstrip("0").ljust(2, "0")
    return f"{sign}{value // PRICE_SCALE}.{frac}"


def _int(text: str, column: str, hi: int, code: int = RC_MALFORMED) -> int:
    text = text.strip()
    if not text:
        return 0
    if not _INT.match(text):   # ASCII digits only: no '١٢٣', '1_000', '1 2'
        raise RowError(RC_MALFORMED, f"{column} {_show(text)} is not an integer")
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > 20:       # no int() of a 5,000-digit string
        raise RowError(code, f"{column} {_show(text)} out of range")
    v = int(text, 10)
    if v < 0 or v > hi:
        raise RowError(code, f"{column} {text} out of range")
    return v


def _enum(text: str, table: dict, column: str, code: int, empty: int | None = None) -> int:
    key = text.strip().lower()
    if not key and empty is not None:
        return empty
    if key not in table:
        raise RowError(code, f"{column} {_show(text)} is not one of {'|'.join(k for k in table if len(k) > 1)}")
    return table[key]


def valid_symbol(name: str) -> bool:
    """ITCH rule: 1-8 printable ASCII characters."""
    return 0 < len(name) <= MAX_SYMBOL and all(0x20 <= ord(ch) <= 0x7E for ch in name)


@dataclass
class SymbolTable:
    """Symbol names <-> ids and ticks. ``fixed``: only the configured names are known (others UNKNOWN_SYMBOL)."""

    default_tick: int = 100
    fixed: bool = False
    ids: dict[str, int] = field(default_factory=dict)
    ticks: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)

    def add(self, name: str, tick: int | None = None) -> int:
        if name not in self.ids:
            self.ids[name] = len(self.names)
            self.names.append(name)
        if tick is not None:
            self.ticks[name] = tick
        return self.ids[name]

    def tick(self, name: str) -> int:
        return self.ticks.get(name, self.default_tick)

    def lookup(self, name: str, engine) -> int:
        """Id of ``name``, configuring it in ``engine`` on first sight unless the table is fixed."""
        sid = self.ids.get(name)
        if sid is None:
            if not valid_symbol(name):
                raise RowError(RC_UNKNOWN_SYMBOL, f"symbol {_show(name)} is not 1-{MAX_SYMBOL} printable ASCII "
                                                  f"characters")
            if self.fixed:
                raise RowError(RC_UNKNOWN_SYMBOL, f"symbol {name!r} is not configured")
            sid = self.add(name)
            engine.add_symbol(sid, self.tick(name))
        return sid

    def name(self, sid: int) -> str:
        return self.names[sid] if 0 <= sid < len(self.names) else ("" if sid == SYMBOL_ANY else str(sid))


def _name_id(table: NameTable | None, text: str, column: str) -> int:
    if table is None:
        return _int(text, column, U32)
    try:
        return table.id(text)
    except NameError_ as e:
        raise RowError(RC_MALFORMED, str(e)) from None


def _flags(text: str, action: int) -> int:
    bits = 0
    for word in text.lower().split("|"):
        word = word.strip()
        entry = FLAG_WORDS.get(word)
        if entry is None:
            raise RowError(RC_INVALID_FLAGS, f"flags {_show(text)}: {_show(word)} is not one of "
                                             f"{'|'.join(FLAG_WORDS)}")
        if entry[1] != action:
            raise RowError(RC_INVALID_FLAGS, f"flag {word} applies to {entry[1].name.lower()} only")
        bits |= entry[0]
    return bits


def row_to_command(row: dict, symbols: SymbolTable, engine, line: int,
                   accounts: NameTable | None = None, firms: NameTable | None = None) -> tuple:
    """The command of a CSV row, as a tuple in ``COMMAND_DTYPE`` field order (``cmds[n] = ...``);
    raises RowError.

    ``accounts`` / ``firms``: name tables (None: integers only, as before names). The cells are
    checked in a fixed order (seq, action, order_id, account, firm, session, ts_ns, link_id, symbol,
    side, flags, then type, tif, stp, post_only, display_qty, expire_ns for a new order, then qty,
    price, stop_price): the first bad one names the reject, and a name (symbol, account, firm) is
    interned when its cell is reached, as the compiled parser does.
    """
    cells = {k: v.strip() for k, v in row.items() if k is not None and v}
    g = cells.get
    seq = _int(g("seq"), "seq", U64) if g("seq") else line
    action = _enum(g("action", ""), ACTIONS, "action", RC_INVALID_ACTION)
    order_id = _int(g("order_id", ""), "order_id", U64)
    account_id = _name_id(accounts, g("account", ""), "account")
    firm_id = _name_id(firms, g("firm", ""), "firm")
    session_id = _int(g("session", ""), "session", U32)
    ts_ns = _int(g("ts_ns", ""), "ts_ns", (1 << 63) - 1)
    link_id = _int(g("link_id", ""), "link_id", U64)
    sym = g("symbol")
    if sym:
        symbol_id = symbols.lookup(sym, engine)
    elif action in (Action.NEW, Action.SET_REFERENCE_PRICE):
        raise RowError(RC_UNKNOWN_SYMBOL, "symbol is empty")
    else:
        symbol_id = SYMBOL_ANY  # mass cancel: all symbols; cancel / modify use the order's own
    side = _enum(g("side", ""), SIDES, "side", RC_INVALID_SIDE, empty=0 if action != Action.NEW else None)
    flags = _flags(g("flags"), action) if g("flags") else 0
    ord_type = tif = stp = display_qty = expire_ns = qty = price = stop_price = 0
    if action == Action.NEW:
        ord_type = _enum(g("type", ""), TYPES, "type", RC_INVALID_TYPE)
        tif = _enum(g("tif", ""), TIFS, "tif", RC_INVALID_TIF, empty=Tif.DAY)
        stp = _enum(g("stp", ""), STPS, "stp", RC_INVALID_STP, empty=Stp.NONE)
        post = g("post_only", "").lower()
        if post not in TRUE and post not in FALSE:
            raise RowError(RC_MALFORMED, f"post_only {_show(post)} is not a boolean")
        if post in TRUE:
            flags |= Flag.POST_ONLY
        if g("display_qty"):
            flags |= Flag.ICEBERG
            display_qty = _int(g("display_qty"), "display_qty", U32, RC_INVALID_DISPLAY_QTY)
        expire_ns = _int(g("expire_ns", ""), "expire_ns", (1 << 63) - 1)
    q = g("qty")
    if q:
        if q.startswith("-") and q.lstrip("-").isascii() and q.lstrip("-").isdigit():
            raise RowError(RC_INVALID_QTY, f"qty {_show(q)} is negative")
        qty = _int(q, "qty", U32, RC_INVALID_QTY)
    if g("price"):
        price = parse_price(g("price"))
    if g("stop_price"):
        stop_price = parse_price(g("stop_price"), "stop_price")
    # COMMAND_DTYPE order: order_id link_id seq price stop_price expire_ns ts_ns qty display_qty account_id
    # firm_id session_id symbol_id action side ord_type tif flags stp reserved
    return (order_id, link_id, seq, price, stop_price, expire_ns, ts_ns, qty, display_qty, account_id, firm_id,
            session_id, symbol_id, int(action), int(side), int(ord_type), int(tif), int(flags), int(stp), 0)


assert COMMAND_DTYPE.names == ("order_id", "link_id", "seq", "price", "stop_price", "expire_ns", "ts_ns", "qty",
                               "display_qty", "account_id", "firm_id", "session_id", "symbol_id", "action", "side",
                               "ord_type", "tif", "flags", "stp", "reserved")


# ------------------------------------------------------------------ reading ----
class _Incomplete(Exception):
    """The bytes so far end inside a record (streamed input: wait for more)."""


def read_record(data, pos: int, final: bool = True) -> tuple[list[str] | None, str | None, int, int] | None:
    """The CSV record starting at byte ``pos`` of ``data``: ``(cells, error, next_pos, lines)``.

    Lines end at CRLF, LF or CR (as a text file opened with ``newline=""``); a quoted cell may hold
    line ends. Bytes that are not UTF-8 come back as lone surrogates (``surrogateescape``) for the
    row check to reject. ``cells`` is ``[]`` for a blank line, None with ``error`` when Python's csv
    module refuses the record (e.g. a cell beyond ``csv.field_size_limit()``).
    ``final`` False (more bytes may follow, a pipe): None when the record is not complete in ``data``
    (no line end yet, a CR that may be the start of a CRLF, or a quoted cell still open).
    """
    size = len(data)
    if pos < size:                  # one line without a quote is one record: csv.reader splits it at commas
        m = _NEWLINE.search(data, pos)
        if not final and (m is None or (m.end() == size and m.group() == b"\r")):
            return None
        stop, nxt = (m.start(), m.end()) if m else (size, size)
        line = bytes(data[pos:stop])
        if b'"' not in line and b"\x00" not in line and len(line) < csv.field_size_limit():
            if not line:
                return [], None, nxt, 1
            return line.decode("utf-8", "surrogateescape").split(","), None, nxt, 1
    end = [pos, 0]                  # a quoted cell (it may hold line ends), a NUL, a long line: Python's csv

    def lines():
        p = end[0]
        while p < len(data):
            m = _NEWLINE.search(data, p)
            if not final and (m is None or (m.end() == len(data) and m.group() == b"\r")):
                raise _Incomplete
            q = m.end() if m else len(data)
            end[0], end[1] = q, end[1] + 1
            yield bytes(data[p:q]).decode("utf-8", "surrogateescape")
            p = q
        if not final:
            raise _Incomplete

    try:
        cells = next(csv.reader(lines()))
    except StopIteration:
        return [], None, end[0], end[1]
    except _Incomplete:
        return None
    except csv.Error as e:
        return None, f"unreadable CSV row ({e})", end[0], end[1]
    return cells, None, end[0], end[1]


def check_text(cells: list[str]) -> None:
    """Raise RowError unless every cell is valid UTF-8 text without NUL bytes."""
    joined = "\x1f".join(cells)
    if "\x00" in joined:
        raise RowError(RC_MALFORMED, "row holds a NUL byte")
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(RC_MALFORMED, "row is not valid UTF-8") from None


def parse_header(data, final: bool = True) -> tuple[list[str], int, int] | None:
    """Column names of the header at the start of ``data``: ``(names, next_pos, lines)``; raises HeaderError.

    ``final`` False: None while the header is not complete in ``data`` (read_record).
    """
    if not final and len(data) < 3 and bytes(data) == b"\xef\xbb\xbf"[:len(data)]:
        return None
    pos = 3 if bytes(data[:3]) == b"\xef\xbb\xbf" else 0
    cells, lines = [], 0
    while not cells:
        if pos >= len(data):
            if not final:
                return None
            raise HeaderError("input is empty (no header)")
        rec = read_record(data, pos, final)
        if rec is None:
            return None
        cells, err, pos, k = rec
        lines += k
        if err:
            raise HeaderError(f"header: {err}")
    try:
        check_text(cells)
    except RowError as e:
        raise HeaderError(f"header: {e.detail}") from None
    names = [n.strip() for n in cells]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise HeaderError(f"input header lacks column(s) {', '.join(missing)}; expected {','.join(INPUT_COLUMNS)}")
    unknown = [c for c in names if c not in INPUT_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise HeaderError(f"input header has unknown column(s) {', '.join(_show(c) for c in unknown)}")
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise HeaderError(f"input header repeats column(s) {', '.join(dup)}")
    return names, pos, lines


def row_dict(names: list[str], cells: list[str]) -> dict:
    """As csv.DictReader: missing cells are None, cells beyond the header go under None."""
    row = dict(zip(names, cells))
    if len(cells) > len(names):
        row[None] = cells[len(names):]
    return row


# ------------------------------------------------------------------ writing ----
def csv_field(text: str) -> str:
    """One output field, quoted when it holds a comma, a quote or a line end (RFC 4180)."""
    if "," in text or '"' in text or "\r" in text or "\n" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _echo(text: str) -> str:
    """An input cell as an output field: cut, control characters and undecodable bytes as U+FFFD."""
    text = text if len(text) <= _ECHO_MAX else text[:_ECHO_MAX] + "..."
    return csv_field(_UNSAFE.sub("\ufffd", text))


def format_event(e, symbols: SymbolTable, accounts: NameTable | None = None) -> str:
    """One output CSV row of an EVENT_DTYPE record (or a dict of its fields)."""
    kind = int(e["kind"])
    reason = int(e["reason"])
    fill = kind == EventKind.FILL
    price = int(e["price"])
    acct = accounts.name if accounts is not None else str
    show_reason = kind in (EventKind.REJECT, EventKind.CANCEL_REJECT, EventKind.MODIFY_REJECT, EventKind.CANCEL,
                           EventKind.EXPIRE)
    return ",".join((
        str(int(e["seq"])), EVENT_NAMES.get(kind, str(kind)), str(int(e["order_id"])),
        csv_field(acct(int(e["account_id"]))),
        csv_field(symbols.name(int(e["symbol_id"]))),
        SIDE_NAMES.get(int(e["side"]), str(int(e["side"]))),
        format_price(price) if price else "",
        str(int(e["qty"])),
        str(int(e["maker_order_id"])) if fill else "", str(int(e["taker_order_id"])) if fill else "",
        str(int(e["leaves_qty"])),
        str(int(e["maker_leaves_qty"])) if fill else "", csv_field(acct(int(e["maker_account_id"]))) if fill else "",
        str(reason) if show_reason else "", code_name(reason) if show_reason else "",
    ))


def reject_row(row: dict, err: RowError) -> str:
    """Output row for a malformed input row (never seen by the engine)."""
    g = lambda k: _echo((row.get(k) or "").strip())  # noqa: E731
    action = (row.get("action") or "").strip().lower()
    kind = {"cancel": "cancel_reject", "mass_cancel": "cancel_reject", "modify": "modify_reject"}.get(action, "reject")
    return ",".join((g("seq"), kind, g("order_id"), g("account"), g("symbol"), g("side").lower(), g("price"), g("qty"),
                     "", "", "0", "", "", str(err.code), code_name(err.code)))


# ------------------------------------------------------------------ driving ----
@dataclass
class MatchResult:
    rows: int = 0           # input rows this run read (blank lines not counted)
    commands: int = 0
    malformed: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)


def read_input(src):
    """All of ``src`` as bytes-like: a binary or text stream, bytes, or a str (encoded UTF-8)."""
    if isinstance(src, (bytes, bytearray, memoryview, mmap.mmap)):
        return src
    if isinstance(src, str):
        return src.encode("utf-8", "surrogateescape")
    buf = getattr(src, "buffer", None)
    data = (buf if buf is not None else src).read()
    return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data


class OrderSource:
    """The input's bytes: all at once (``data``: bytes, a regular file's mmap), or a stream read as it arrives.

    A stream (``fd`` of a pipe, socket or terminal; ``data`` starts empty) keeps only the bytes not
    parsed yet: ``more`` waits for what the writer sends next, ``waiting`` says whether some is
    there already. ``eof``: no more bytes will come (always so for a whole input).
    """

    def __init__(self, data=b"", fd: int | None = None, chunk: int = 1 << 16, owns_fd: bool = False):
        self.data = data
        self.fd = fd
        self.chunk = chunk
        self.eof = fd is None
        self._owns_fd = owns_fd

    @classmethod
    def open_fd(cls, fd: int, owns_fd: bool = False) -> "OrderSource":
        """A regular file is mapped (read whole when it is empty or not at offset 0); anything else is streamed."""
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return cls(bytearray(), fd=fd, owns_fd=owns_fd)
        data = None
        if st.st_size > 0 and os.lseek(fd, 0, os.SEEK_CUR) == 0:
            try:
                data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                data = None
        if data is None:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            data = b"".join(chunks)
        if owns_fd:
            os.close(fd)
        return cls(data)

    def more(self, keep: int) -> None:
        """Drop the ``keep`` bytes already parsed, then wait for more (``eof`` when the writer is done)."""
        if self.eof:
            return
        if keep:
            del self.data[:keep]
        got = os.read(self.fd, self.chunk)
        if got:
            self.data += got
        else:
            self.eof = True

    def waiting(self) -> bool:
        """True when more of a stream can be read without waiting."""
        if self.eof:
            return False
        ready, _, _ = select.select([self.fd], [], [], 0)
        return bool(ready)

    def close(self) -> None:
        if isinstance(self.data, mmap.mmap):
            self.data.close()
        if self._owns_fd and self.fd is not None:
            os.close(self.fd)
            self.fd = None


#: ``OrderReader.step`` outcomes
FULL, BAD, WAIT, END = "full", "bad", "wait", "end"


class OrderReader:
    """The order rows of an ``OrderSource`` as ``COMMAND_DTYPE`` batches: the compiled parser
    (``engine.csv_orders``) for every row it accepts, this module's reference for the others.

    Reads the header at once (raises HeaderError). ``rows``: non-blank records read so far (a row
    without a seq gets its ordinal); ``lines``: physical lines (for messages); ``pos``: byte offset
    in ``src.data`` of the next record. ``engine`` configures symbols on first sight (a restart
    that restores a snapshot sets it to the new engine).
    """

    def __init__(self, src, symbols: SymbolTable, engine, accounts: NameTable | None = None,
                 firms: NameTable | None = None, fast: bool = True):
        self.src = src if isinstance(src, OrderSource) else OrderSource(read_input(src))
        self.symbols, self.engine = symbols, engine
        self.accounts = accounts if accounts is not None else NameTable("account")
        self.firms = firms if firms is not None else NameTable("firm")
        while (head := parse_header(self.src.data, self.src.eof)) is None:
            self.src.more(0)
        self.names, self.pos, self.lines = head
        self.rows = 0
        self._mark = None
        self.parser = None
        if fast:
            from engine.csv_orders import OrderCsvParser
            self.parser = OrderCsvParser(self.names, symbols, self.accounts, self.firms)

    def step(self, cmds, n: int, cap: int):
        """Parse rows into ``cmds[n:cap]``; returns ``(n, outcome, bad)``.

        Outcomes: FULL (``n == cap``); BAD (the row just read, row ``rows``, cannot become a command:
        ``bad`` is ``(row dict, RowError)``, ``cmds[:n]`` are the rows before it); WAIT (a stream has
        no complete record left: ``more``, then step again); END (the input is all read).
        """
        src = self.src
        while True:
            if n >= cap:
                return n, FULL, None
            data, final = src.data, src.eof
            if self.parser is not None and self.pos < len(data):
                if final:
                    self.pos, n, self.rows, self.lines, full = self.parser.parse(
                        data, self.pos, cmds[:cap], n, self.rows, self.lines, self.engine)
                else:                       # complete lines only (the parser takes a last line unterminated)
                    limit = data.rfind(b"\n", self.pos) + 1
                    if limit > self.pos:
                        with memoryview(data) as whole, whole[self.pos:limit] as part:   # released: more() resizes
                            used, n, self.rows, self.lines, full = self.parser.parse(
                                part, 0, cmds[:cap], n, self.rows, self.lines, self.engine)
                        self.pos += used
                    else:
                        full = False
                if full or n >= cap:
                    return n, FULL, None
            if self.pos >= len(data):
                return n, (END if final else WAIT), None
            rec = read_record(data, self.pos, final)       # the reference: one record
            if rec is None:
                return n, WAIT, None
            cells, bad_csv, self.pos, k = rec
            self.lines += k
            if cells == []:
                continue
            self.rows += 1
            row = {} if cells is None else row_dict(self.names, cells)
            try:
                if bad_csv is not None:
                    raise RowError(RC_MALFORMED, bad_csv)
                if None in row:  # more cells than header columns
                    raise RowError(RC_MALFORMED, f"{len(row[None])} cell(s) beyond the header")
                check_text(cells)
                cmds[n] = row_to_command(row, self.symbols, self.engine, self.rows, self.accounts, self.firms)
            except RowError as err:
                cmds[n] = 0                 # the compiled parser may have filled part of it
                return n, BAD, (row, err)
            n += 1

    def more(self) -> None:
        """After WAIT: wait for more of the stream (keeping the bytes from a ``mark`` on)."""
        keep = self.pos if self._mark is None else min(self.pos, self._mark[0])
        self.src.more(keep)
        self.pos -= keep
        if self._mark is not None:
            self._mark = (self._mark[0] - keep,) + self._mark[1:]

    def mark(self) -> None:
        """Remember where the reader is, for ``rewind`` (a restart reads ahead to check the journal)."""
        self._mark = (self.pos, self.rows, self.lines)

    def rewind(self) -> None:
        """Back to the ``mark``: the rows after it are read again (the name tables already hold their names,
        which gives the same ids: a name keeps its id, a number accepted once stays accepted)."""
        self.pos, self.rows, self.lines = self._mark
        self._mark = None


def match_csv(src, out, loop, symbols: SymbolTable, batch: int = 65536, accounts: NameTable | None = None,
              firms: NameTable | None = None, fast: bool = True, tap=None, on_batch=None) -> MatchResult:
    """Run the order rows of ``src`` through ``loop`` (engine.loop.EngineLoop), writing event rows to ``out``.

    ``src``: bytes or a stream (read whole), an ``OrderSource`` (a pipe is read as it arrives), or an
    ``OrderReader`` part way through (a restart's; its tables and parser are used, ``accounts``,
    ``firms`` and ``fast`` are not). ``out``: a text or binary stream. ``accounts`` / ``firms``: name
    tables (default: new ones). ``fast``: parse and format with ``engine.csv_orders`` (False: this
    module's reference code only). ``tap(cmds, events)`` sees every run batch (e.g. positions).

    Batches: ``batch`` rows, or fewer when a row is rejected, or when a stream has nothing more
    waiting (its events are then written and ``out`` flushed before waiting: ``match -`` at the end
    of a pipe answers each order). ``on_batch(res, rows)`` is called after a batch's event rows are
    written, when exactly the output of input rows 1..``rows`` (counted from the start of the input)
    is in ``out``; and once at the end.

    Raises HeaderError for an unusable header, and ``engine.loop.LoopStopped`` when a journal commit
    fails: ``out`` then holds the events of the committed batches only.
    """
    reader = src if isinstance(src, OrderReader) else OrderReader(src, symbols, loop.engine, accounts, firms, fast)
    reader.engine = loop.engine
    accounts = reader.accounts
    fmt = None
    direct = False
    if reader.parser is not None:
        from engine.csv_orders import EventFormatter
        from engine.loop import EngineLoop
        fmt = EventFormatter(symbols, accounts)
        direct = tap is None and type(loop) is EngineLoop
    write = _writer(out)
    write((OUTPUT_HEADER + "\n").encode())
    res = MatchResult()
    cmds = np.zeros(batch, COMMAND_DTYPE)
    first_row = reported = reader.rows

    def flush(n):
        i = 0
        while i < n:   # each run is a committed batch (run raises LoopStopped and withholds a failed one)
            j, i = i, loop.run(cmds[:n], i)
            if direct:                  # loop.drain() and fmt.format() in one, without the events array
                text, k = fmt.take(loop.engine)
                res.events += k
                write(text)
                continue
            evs = loop.drain()
            res.events += len(evs)
            if tap is not None:
                tap(cmds[j:i], evs)
            if fmt is not None:
                write(fmt.format(evs))
            else:                       # plain Python values (a NumPy record's fields are slow to read)
                write("".join(format_event(dict(zip(EVENT_DTYPE.names, e)), symbols, accounts) + "\n"
                              for e in evs.tolist()).encode())
        res.commands += n               # cmds[:n] is written over: every row the parsers take is written whole

    def done(rows):
        nonlocal reported
        reported = rows
        if on_batch is not None:
            on_batch(res, rows)

    n = 0
    while True:
        n, outcome, bad = reader.step(cmds, n, batch)
        if outcome == FULL:
            flush(n)
            n = 0
            done(reader.rows)
        elif outcome == BAD:
            flush(n)
            if n:
                done(reader.rows - 1)
            n = 0
            row, err = bad
            res.malformed += 1
            if len(res.errors) < 20:
                res.errors.append(f"line {reader.lines}: {err}")
            write((reject_row(row, err) + "\n").encode("utf-8"))
        elif outcome == WAIT and reader.src.waiting():
            reader.more()               # more is there already: keep filling the batch
        else:
            flush(n)
            n = 0
            if outcome == END:
                break
            out.flush()                 # nothing waiting: answer what came before waiting for more
            if reader.rows != reported:
                done(reader.rows)
            reader.more()
    res.rows = reader.rows - first_row
    done(reader.rows)
    return res


def _writer(out):
    """A bytes writer onto ``out`` (a binary stream, or a text stream's buffer after flushing it)."""
    buf = getattr(out, "buffer", None)
    if buf is not None:
        out.flush()
        return buf.write
    try:
        out.write(b"")
        return out.write
    except TypeError:
        return lambda b: out.write(b.decode("utf-8"))
