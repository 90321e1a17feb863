"""Order flow as CSV files: parse commands into ``COMMAND_DTYPE`` batches, format events as CSV rows.

Input (header required, column order free, extra optional columns in brackets)::

    seq,action,order_id,account,symbol,side,type,tif,qty,price,stop_price,display_qty,expire_ns
    [,ts_ns,link_id,stp,post_only,firm,session]

Prices are dollars with up to 4 decimals, parsed exactly to int 1e-4 units (never via float).
A malformed row never reaches the engine: it becomes a ``reject`` output row with a reason code.
Output: ``OUTPUT_HEADER`` (one fixed header for every event kind). Format and codes: docs/engine.md.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from core.codes import (RC_INVALID_ACTION, RC_INVALID_DISPLAY_QTY, RC_INVALID_PRICE, RC_INVALID_QTY, RC_INVALID_SIDE,
                        RC_INVALID_STP, RC_INVALID_TIF, RC_INVALID_TYPE, RC_MALFORMED, RC_PRICE_NOT_ON_TICK,
                        RC_UNKNOWN_SYMBOL, TickwireError)
from messaging.records import (COMMAND_DTYPE, CODES, PRICE_SCALE, SYMBOL_ANY, Action, EventKind, Flag, OrdType, Side,
                               Stp, Tif, code_name)

OUTPUT_HEADER = ("seq,event,order_id,account,symbol,side,price,qty,maker_order_id,taker_order_id,leaves_qty,"
                 "maker_leaves_qty,maker_account,reason,reason_name")
INPUT_COLUMNS = ("seq", "action", "order_id", "account", "symbol", "side", "type", "tif", "qty", "price",
                 "stop_price", "display_qty", "expire_ns")
OPTIONAL_COLUMNS = ("ts_ns", "link_id", "stp", "post_only", "firm", "session")

ACTIONS = {"new": Action.NEW, "cancel": Action.CANCEL, "modify": Action.MODIFY, "mass_cancel": Action.MASS_CANCEL,
           "end_of_day": Action.END_OF_DAY, "session_disconnect": Action.SESSION_DISCONNECT,
           "kill_switch": Action.KILL_SWITCH, "set_reference_price": Action.SET_REFERENCE_PRICE,
           "clock": Action.CLOCK}
SIDES = {"buy": Side.BUY, "sell": Side.SELL, "b": Side.BUY, "s": Side.SELL}
TYPES = {"limit": OrdType.LIMIT, "market": OrdType.MARKET, "stop": OrdType.STOP, "stop_limit": OrdType.STOP_LIMIT}
TIFS = {"day": Tif.DAY, "gtc": Tif.GTC, "ioc": Tif.IOC, "fok": Tif.FOK, "gtd": Tif.GTD}
STPS = {"none": Stp.NONE, "cancel_newest": Stp.CANCEL_NEWEST, "cancel_oldest": Stp.CANCEL_OLDEST,
        "cancel_both": Stp.CANCEL_BOTH, "decrement": Stp.DECREMENT}
EVENT_NAMES = {k.value: k.name.lower() for k in EventKind}
SIDE_NAMES = {0: "", 1: "buy", 2: "sell"}
TRUE = {"1", "true", "yes", "y"}
FALSE = {"", "0", "false", "no", "n"}

U32, U64 = (1 << 32) - 1, (1 << 64) - 1
_PRICE = re.compile(r"^(\d+)(?:\.(\d+))?$")


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


def parse_price(text: str, column: str = "price") -> int:
    """Dollars with up to 4 decimals -> int 1e-4 dollars, exactly ("100.25" -> 1002500)."""
    text = text.strip()
    neg = text.startswith("-")
    m = _PRICE.match(text[1:] if neg else text)
    if not m:
        raise RowError(RC_MALFORMED, f"{column} {text!r} is not a decimal dollar amount")
    whole, frac = m.group(1), m.group(2) or ""
    if len(frac) > 4:
        if frac[4:].strip("0"):
            raise RowError(RC_PRICE_NOT_ON_TICK, f"{column} {text!r} has more than 4 decimals")
        frac = frac[:4]
    value = int(whole) * PRICE_SCALE + int(frac.ljust(4, "0") or 0)
    if neg and value:
        raise RowError(RC_INVALID_PRICE, f"{column} {text!r} is negative")
    if value >= 1 << 62:
        raise RowError(RC_INVALID_PRICE, f"{column} {text!r} is out of range")
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
    try:
        v = int(text, 10)
    except ValueError:
        raise RowError(RC_MALFORMED, f"{column} {text!r} is not an integer") from None
    if v < 0 or v > hi:
        raise RowError(code, f"{column} {text} out of range")
    return v


def _enum(text: str, table: dict, column: str, code: int, empty: int | None = None) -> int:
    key = text.strip().lower()
    if not key and empty is not None:
        return empty
    if key not in table:
        raise RowError(code, f"{column} {text!r} is not one of {'|'.join(k for k in table if len(k) > 1)}")
    return table[key]


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
            if self.fixed:
                raise RowError(RC_UNKNOWN_SYMBOL, f"symbol {name!r} is not configured")
            sid = self.add(name)
            engine.add_symbol(sid, self.tick(name))
        return sid

    def name(self, sid: int) -> str:
        return self.names[sid] if 0 <= sid < len(self.names) else ("" if sid == SYMBOL_ANY else str(sid))


def row_to_command(row: dict, rec, symbols: SymbolTable, engine, line: int) -> None:
    """Fill ``rec`` (a COMMAND_DTYPE record) from a CSV row; raises RowError."""
    g = lambda k: (row.get(k) or "").strip()  # noqa: E731
    rec["seq"] = _int(g("seq"), "seq", U64) if g("seq") else line
    action = _enum(g("action"), ACTIONS, "action", RC_INVALID_ACTION)
    rec["action"] = action
    rec["order_id"] = _int(g("order_id"), "order_id", U64)
    rec["account_id"] = _int(g("account"), "account", U32)
    rec["firm_id"] = _int(g("firm"), "firm", U32)
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
    if action == Action.NEW:
        rec["ord_type"] = _enum(g("type"), TYPES, "type", RC_INVALID_TYPE)
        rec["tif"] = _enum(g("tif"), TIFS, "tif", RC_INVALID_TIF, empty=Tif.DAY)
        rec["stp"] = _enum(g("stp"), STPS, "stp", RC_INVALID_STP, empty=Stp.NONE)
        post = g("post_only").lower()
        if post not in TRUE | FALSE:
            raise RowError(RC_MALFORMED, f"post_only {post!r} is not a boolean")
        flags = Flag.POST_ONLY if post in TRUE else 0
        if g("display_qty"):
            flags |= Flag.ICEBERG
            rec["display_qty"] = _int(g("display_qty"), "display_qty", U32, RC_INVALID_DISPLAY_QTY)
        rec["flags"] = flags
        rec["expire_ns"] = _int(g("expire_ns"), "expire_ns", (1 << 63) - 1)
    if g("qty"):
        q = g("qty")
        if q.lstrip("-").isdigit() and q.startswith("-"):
            raise RowError(RC_INVALID_QTY, f"qty {q} is negative")
        rec["qty"] = _int(q, "qty", U32, RC_INVALID_QTY)
    if g("price"):
        rec["price"] = parse_price(g("price"))
    if g("stop_price"):
        rec["stop_price"] = parse_price(g("stop_price"), "stop_price")


def format_event(e, symbols: SymbolTable) -> str:
    """One output CSV row of an EVENT_DTYPE record."""
    kind = int(e["kind"])
    reason = int(e["reason"])
    fill = kind == EventKind.FILL
    price = int(e["price"])
    show_reason = kind in (EventKind.REJECT, EventKind.CANCEL_REJECT, EventKind.MODIFY_REJECT, EventKind.CANCEL,
                           EventKind.EXPIRE)
    return ",".join((
        str(int(e["seq"])), EVENT_NAMES.get(kind, str(kind)), str(int(e["order_id"])), str(int(e["account_id"])),
        symbols.name(int(e["symbol_id"])),
        SIDE_NAMES.get(int(e["side"]), str(int(e["side"]))),
        format_price(price) if price else "",
        str(int(e["qty"])),
        str(int(e["maker_order_id"])) if fill else "", str(int(e["taker_order_id"])) if fill else "",
        str(int(e["leaves_qty"])),
        str(int(e["maker_leaves_qty"])) if fill else "", str(int(e["maker_account_id"])) if fill else "",
        str(reason) if show_reason else "", code_name(reason) if show_reason else "",
    ))


def reject_row(row: dict, err: RowError) -> str:
    """Output row for a malformed input row (never seen by the engine)."""
    g = lambda k: (row.get(k) or "").strip().replace(",", " ")  # noqa: E731
    action = g("action").lower()
    kind = {"cancel": "cancel_reject", "mass_cancel": "cancel_reject", "modify": "modify_reject"}.get(action, "reject")
    return ",".join((g("seq"), kind, g("order_id"), g("account"), g("symbol"), g("side").lower(), g("price"), g("qty"),
                     "", "", "0", "", "", str(err.code), code_name(err.code)))


@dataclass
class MatchResult:
    rows: int = 0
    commands: int = 0
    malformed: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)


def match_csv(src: TextIO, out: TextIO, loop, symbols: SymbolTable, batch: int = 65536, on_batch=None,
              idle=None, row_offset: int = 0) -> MatchResult:
    """Stream ``src`` through ``loop`` (engine.loop.EngineLoop), writing event rows to ``out``.

    Raises ``engine.loop.LoopStopped`` when a journal commit fails: ``out`` then holds the events of the
    committed batches only.

    Restart and pipe hooks (``tickwire match``): ``on_batch(res, rows)`` is called after a committed
    batch's event rows are written, when exactly the output of input rows 1..``rows`` is in ``out``;
    ``idle()`` is asked after each row: True (no more input waiting) ends the batch there, so its
    output need not wait for a full one. ``row_offset``: rows of the input before ``src`` (a restart's
    skipped rows), for the default seq of a row without one.
    """
    res = MatchResult()
    reader = csv.DictReader(src)
    if reader.fieldnames is None:
        raise ValueError("input is empty (no header)")
    names = [n.strip() for n in reader.fieldnames]
    reader.fieldnames = names
    missing = [c for c in ("seq", "action") if c not in names]
    if missing:
        raise ValueError(f"input header lacks column(s) {', '.join(missing)}; expected {','.join(INPUT_COLUMNS)}")
    unknown = [c for c in names if c not in INPUT_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ValueError(f"input header has unknown column(s) {', '.join(unknown)}")
    out.write(OUTPUT_HEADER + "\n")
    cmds = np.zeros(batch, COMMAND_DTYPE)
    n = 0

    def flush(n):
        i = 0
        while i < n:   # each run is a committed batch (run raises LoopStopped and withholds a failed one)
            i = loop.run(cmds[:n], i)
            evs = loop.drain()
            res.events += len(evs)
            out.write("".join(format_event(e, symbols) + "\n" for e in evs))
        cmds[:n] = 0

    it = iter(reader)
    while True:
        try:
            row = next(it)
            bad_csv = None
        except StopIteration:
            break
        except csv.Error as e:  # e.g. a field beyond csv.field_size_limit: reject the row, go on
            row, bad_csv = {}, RowError(RC_MALFORMED, f"unreadable CSV row ({e})")
        line = reader.line_num
        res.rows += 1
        if bad_csv is not None:
            err = bad_csv
        elif None in row:  # more cells than header columns
            err = RowError(RC_MALFORMED, f"{len(row[None])} cell(s) beyond the header")
        else:
            err = None
            try:
                row_to_command(row, cmds[n], symbols, loop.engine, res.rows + row_offset)
            except RowError as e:
                err = e
        if err is not None:
            cmds[n] = 0
            flush(n)
            if n and on_batch is not None:
                on_batch(res, res.rows - 1)
            n = 0
            res.malformed += 1
            if len(res.errors) < 20:
                res.errors.append(f"line {line}: {err}")
            out.write(reject_row(row, err) + "\n")
            if idle is not None and on_batch is not None and idle():
                on_batch(res, res.rows)
            continue
        n += 1
        res.commands += 1
        if n == batch or (idle is not None and idle()):
            flush(n)
            n = 0
            if on_batch is not None:
                on_batch(res, res.rows)
    flush(n)
    if on_batch is not None:
        on_batch(res, res.rows)
    return res
