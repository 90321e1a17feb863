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
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from engine.names import NameError_, NameTable
from messaging.records import (COMMAND_DTYPE, CODES, PRICE_SCALE, SYMBOL_ANY, Action, EventKind, Flag, OrdType, Side,
                               Stp, Tif, code_name)

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
KILL_RELEASE = 0x80  # Command.flags bit releasing a kill switch (engine.risk.KILL_RELEASE)
#: ``flags`` column words (separated by ``|``) -> (bit, the one action it applies to)
FLAG_WORDS = {"post_only": (int(Flag.POST_ONLY), Action.NEW), "release": (KILL_RELEASE, Action.KILL_SWITCH)}
EVENT_NAMES = {k.value: k.name.lower() for k in EventKind}
SIDE_NAMES = {0: "", 1: "buy", 2: "sell"}
TRUE = {"1", "true", "yes", "y"}
FALSE = {"", "0", "false", "no", "n"}

RC_INVALID_QTY, RC_PRICE_NOT_ON_TICK, RC_UNKNOWN_SYMBOL = -1, -2, -3
RC_INVALID_PRICE, RC_INVALID_SIDE, RC_INVALID_TYPE, RC_INVALID_TIF, RC_INVALID_ACTION = -14, -16, -17, -18, -19
RC_MALFORMED, RC_INVALID_STP, RC_INVALID_FLAGS = -23, -24, -25
U32, U64 = (1 << 32) - 1, (1 << 64) - 1
MAX_SYMBOL = 8                      # ITCH: 8 printable ASCII characters
_PRICE = re.compile(r"([0-9]+)(?:\.([0-9]+))?\Z")
_INT = re.compile(r"[+-]?[0-9]+\Z")
_NEWLINE = re.compile(rb"\r\n|\r|\n")
_ECHO_MAX = 40                      # reject rows echo at most this many characters of a cell
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


class RowError(ValueError):
    """A CSV cell that cannot become a command field: ``code`` (records.CODES) and a detail."""

    def __init__(self, code: int, detail: str):
        super().__init__(f"{code_name(code)}: {detail}")
        self.code = code
        self.detail = detail


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


def row_to_command(row: dict, rec, symbols: SymbolTable, engine, line: int,
                   accounts: NameTable | None = None, firms: NameTable | None = None) -> None:
    """Fill ``rec`` (a COMMAND_DTYPE record) from a CSV row; raises RowError.

    ``accounts`` / ``firms``: name tables (None: integers only, as before names).
    """
    g = lambda k: (row.get(k) or "").strip()  # noqa: E731
    rec["seq"] = _int(g("seq"), "seq", U64) if g("seq") else line
    action = _enum(g("action"), ACTIONS, "action", RC_INVALID_ACTION)
    rec["action"] = action
    rec["order_id"] = _int(g("order_id"), "order_id", U64)
    rec["account_id"] = _name_id(accounts, g("account"), "account")
    rec["firm_id"] = _name_id(firms, g("firm"), "firm")
    rec["session_id"] = _int(g("session"), "session", U32)
    rec["ts_ns"] = _int(g("ts_ns"), "ts_ns", (1 << 63) - 1)
    rec["link_id"] = _int(g("link_id"), "link_id", U64)
    sym = g("symbol")
    if sym:
        rec["symbol_id"] = symbols.lookup(sym, engine)
    elif action in (Action.NEW, Action.SET_REFERENCE_PRICE):
        raise RowError(RC_UNKNOWN_SYMBOL, "symbol is empty")
    else:
        rec["symbol_id"] = SYMBOL_ANY  # mass cancel: all symbols; cancel / modify use the order's own
    rec["side"] = _enum(g("side"), SIDES, "side", RC_INVALID_SIDE, empty=0 if action != Action.NEW else None)
    flags = _flags(g("flags"), action) if g("flags") else 0
    if action == Action.NEW:
        rec["ord_type"] = _enum(g("type"), TYPES, "type", RC_INVALID_TYPE)
        rec["tif"] = _enum(g("tif"), TIFS, "tif", RC_INVALID_TIF, empty=Tif.DAY)
        rec["stp"] = _enum(g("stp"), STPS, "stp", RC_INVALID_STP, empty=Stp.NONE)
        post = g("post_only").lower()
        if post not in TRUE | FALSE:
            raise RowError(RC_MALFORMED, f"post_only {_show(post)} is not a boolean")
        if post in TRUE:
            flags |= Flag.POST_ONLY
        if g("display_qty"):
            flags |= Flag.ICEBERG
            rec["display_qty"] = _int(g("display_qty"), "display_qty", U32, -10)
        rec["expire_ns"] = _int(g("expire_ns"), "expire_ns", (1 << 63) - 1)
    rec["flags"] = flags
    if g("qty"):
        q = g("qty")
        if q.startswith("-") and q.lstrip("-").isascii() and q.lstrip("-").isdigit():
            raise RowError(RC_INVALID_QTY, f"qty {_show(q)} is negative")
        rec["qty"] = _int(q, "qty", U32, RC_INVALID_QTY)
    if g("price"):
        rec["price"] = parse_price(g("price"))
    if g("stop_price"):
        rec["stop_price"] = parse_price(g("stop_price"), "stop_price")


# ------------------------------------------------------------------ reading ----
def read_record(data, pos: int) -> tuple[list[str] | None, str | None, int, int]:
    """The CSV record starting at byte ``pos`` of ``data``: ``(cells, error, next_pos, lines)``.

    Lines end at CRLF, LF or CR (as a text file opened with ``newline=""``); a quoted cell may hold
    line ends. Bytes that are not UTF-8 come back as lone surrogates (``surrogateescape``) for the
    row check to reject. ``cells`` is ``[]`` for a blank line, None with ``error`` when Python's csv
    module refuses the record (e.g. a cell beyond ``csv.field_size_limit()``).
    """
    end = [pos, 0]

    def lines():
        p = end[0]
        while p < len(data):
            m = _NEWLINE.search(data, p)
            q = m.end() if m else len(data)
            end[0], end[1] = q, end[1] + 1
            yield bytes(data[p:q]).decode("utf-8", "surrogateescape")
            p = q

    try:
        cells = next(csv.reader(lines()))
    except StopIteration:
        return [], None, end[0], end[1]
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


def parse_header(data) -> tuple[list[str], int, int]:
    """Column names of the header at the start of ``data``: ``(names, next_pos, lines)``; raises HeaderError."""
    pos = 3 if bytes(data[:3]) == b"\xef\xbb\xbf" else 0
    cells, lines = [], 0
    while not cells:
        if pos >= len(data):
            raise HeaderError("input is empty (no header)")
        cells, err, pos, k = read_record(data, pos)
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
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _echo(text: str) -> str:
    """An input cell as an output field: cut, control characters and undecodable bytes as U+FFFD."""
    text = text if len(text) <= _ECHO_MAX else text[:_ECHO_MAX] + "..."
    return csv_field(_UNSAFE.sub("\ufffd", text))


def format_event(e, symbols: SymbolTable, accounts: NameTable | None = None) -> str:
    """One output CSV row of an EVENT_DTYPE record."""
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
    rows: int = 0
    commands: int = 0
    malformed: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)


def read_input(src):
    """All of ``src`` as bytes-like: a binary or text stream, bytes, or a str (encoded UTF-8)."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return src
    if isinstance(src, str):
        return src.encode("utf-8", "surrogateescape")
    buf = getattr(src, "buffer", None)
    data = (buf if buf is not None else src).read()
    return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data


def match_csv(src, out, loop, symbols: SymbolTable, batch: int = 65536, accounts: NameTable | None = None,
              firms: NameTable | None = None, fast: bool = True, tap=None) -> MatchResult:
    """Stream ``src`` through ``loop`` (engine.loop.EngineLoop), writing event rows to ``out``.

    ``src``: bytes or a stream (read whole, decoded strictly); ``out``: a text or binary stream.
    ``accounts`` / ``firms``: name tables (default: new ones). ``fast``: parse and format with
    ``engine.csv_orders`` (False: this module's reference code only). ``tap(cmds, events)`` sees
    every run batch (e.g. positions). Raises HeaderError for an unusable header, and
    ``engine.loop.LoopStopped`` when a journal commit fails: ``out`` then holds the events of the
    committed batches only.
    """
    accounts = accounts if accounts is not None else NameTable("account")
    firms = firms if firms is not None else NameTable("firm")
    data = read_input(src)
    names, pos, line = parse_header(data)
    fmt = parser = None
    if fast:
        from engine.csv_orders import EventFormatter, OrderCsvParser
        parser = OrderCsvParser(names, symbols, accounts, firms)
        fmt = EventFormatter(symbols, accounts)
    write = _writer(out)
    write((OUTPUT_HEADER + "\n").encode())
    res = MatchResult()
    cmds = np.zeros(batch, COMMAND_DTYPE)
    n = 0

    def flush(n):
        i = 0
        while i < n:   # each run is a committed batch (run raises LoopStopped and withholds a failed one)
            j, i = i, loop.run(cmds[:n], i)
            evs = loop.drain()
            res.events += len(evs)
            if tap is not None:
                tap(cmds[j:i], evs)
            if fmt is not None:
                write(fmt.format(evs))
            else:
                write("".join(format_event(e, symbols, accounts) + "\n" for e in evs).encode())
        cmds[:n] = 0

    while pos < len(data):
        if parser is not None:
            pos, n, res.rows, line, full = parser.parse(data, pos, cmds, n, res.rows, line)
            if full:
                res.commands += n
                flush(n)
                n = 0
                continue
            if pos >= len(data):
                break
        cells, bad_csv, pos, k = read_record(data, pos)     # the reference: one record
        line += k
        if cells == []:
            continue
        res.rows += 1
        row = {} if cells is None else row_dict(names, cells)
        try:
            if bad_csv is not None:
                raise RowError(RC_MALFORMED, bad_csv)
            if None in row:  # more cells than header columns
                raise RowError(RC_MALFORMED, f"{len(row[None])} cell(s) beyond the header")
            check_text(cells)
            row_to_command(row, cmds[n], symbols, loop.engine, res.rows, accounts, firms)
        except RowError as err:
            cmds[n] = 0
            res.commands += n
            flush(n)
            n = 0
            res.malformed += 1
            if len(res.errors) < 20:
                res.errors.append(f"line {line}: {err}")
            write((reject_row(row, err) + "\n").encode("utf-8"))
            continue
        n += 1
        if n == batch:
            res.commands += n
            flush(n)
            n = 0
    res.commands += n
    flush(n)
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


def read_events_csv(lines: Iterable[str]) -> Iterator[dict]:
    """Parse ``tickwire match`` output back into dicts (tests, tooling)."""
    return csv.DictReader(lines)
