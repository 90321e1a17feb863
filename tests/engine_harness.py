"""Test harness for the matching engines: build commands by keyword, validate after every command."""
from __future__ import annotations

import numpy as np

from messaging.records import COMMAND_DTYPE, SYMBOL_ANY, EventKind, code_name

ENGINES = ("reference", "fast")
D = 10_000  # one dollar in 1e-4 units

ACTION = {"new": 1, "cancel": 2, "modify": 3, "mass_cancel": 4, "end_of_day": 5, "session_disconnect": 6,
          "kill_switch": 7, "set_reference_price": 8, "clock": 9}
SIDE = {"buy": 1, "sell": 2, None: 0}
TYPE = {"limit": 1, "market": 2, "stop": 3, "stop_limit": 4}
TIF = {"day": 1, "gtc": 2, "ioc": 3, "fok": 4, "gtd": 5}
STP = {None: 0, "cancel_newest": 1, "cancel_oldest": 2, "cancel_both": 3, "decrement": 4}


def make_engine(kind: str, symbols=(0, 1), max_orders: int = 4096, tick: int = 100):
    if kind == "fast":
        from engine.matching import MatchingEngine
        e = MatchingEngine(max_orders=max_orders)
    else:
        from engine.reference import ReferenceEngine
        e = ReferenceEngine(max_orders=max_orders)
    for s in symbols:
        e.add_symbol(s, tick)
    return e


def command(action="new", **kw) -> np.ndarray:
    """One COMMAND_DTYPE record from friendly keywords (prices in dollars as strings or ints in 1e-4)."""
    a = np.zeros(1, COMMAND_DTYPE)
    r = a[0]
    r["action"] = ACTION[action] if isinstance(action, str) else action
    for k, v in kw.items():
        if k == "side":
            r["side"] = SIDE[v] if v in SIDE else v
        elif k == "type":
            r["ord_type"] = TYPE[v] if isinstance(v, str) else v
        elif k == "tif":
            r["tif"] = TIF[v] if isinstance(v, str) else v
        elif k == "stp":
            r["stp"] = STP[v] if v in STP else v
        elif k in ("price", "stop_price"):
            r[k] = v
        elif k == "post_only":
            r["flags"] |= 1 if v else 0
        elif k == "display":
            r["flags"] |= 2
            r["display_qty"] = v
        elif k == "account":
            r["account_id"] = v
        elif k == "symbol":
            r["symbol_id"] = SYMBOL_ANY if v == "any" else v
        elif k == "oid":
            r["order_id"] = v
        elif k == "link":
            r["link_id"] = v
        elif k == "ts":
            r["ts_ns"] = v
        elif k == "firm":
            r["firm_id"] = v
        elif k == "session":
            r["session_id"] = v
        else:
            r[k] = v
    if r["action"] == 1:
        if r["ord_type"] == 0:
            r["ord_type"] = 1
        if r["tif"] == 0:
            r["tif"] = 1
    return a


def as_dicts(events) -> list[dict]:
    out = []
    for e in events:
        d = {n: int(e[n]) for n in events.dtype.names if n != "reserved"}
        d["kind"] = EventKind(d["kind"]).name.lower()
        d["reason"] = code_name(d["reason"]) if d["reason"] else None
        out.append(d)
    return out


class Harness:
    """Drives one engine; every command is followed by ``validate_internal_state()``."""

    def __init__(self, kind: str, **kw):
        self.kind = kind
        self.e = make_engine(kind, **kw)
        self.seq = 0
        self.ts = 0
        self.log: list[dict] = []

    def do(self, action="new", **kw) -> list[dict]:
        self.seq += 1
        kw.setdefault("seq", self.seq)
        kw.setdefault("ts", self.ts)
        if action == "new":
            kw.setdefault("account", 1)
            kw.setdefault("qty", 100)
        if action in ("cancel", "modify"):
            kw.setdefault("account", 1)
        evs = as_dicts(self.e.process(command(action, **kw)))
        self.e.validate_internal_state()
        self.log.extend(evs)
        return evs

    def buy(self, oid, price, qty=100, **kw):
        return self.do("new", oid=oid, side="buy", price=price, qty=qty, **kw)

    def sell(self, oid, price, qty=100, **kw):
        return self.do("new", oid=oid, side="sell", price=price, qty=qty, **kw)

    def book(self, symbol=0):
        return self.e.book(symbol)

    def levels(self, symbol=0):
        """{"bids": [(price, [ids])], "asks": [...]} best first."""
        b = self.e.book(symbol)
        return {s: [(p, [o[0] for o in orders]) for p, orders in b[s]] for s in ("bids", "asks")}


def kinds(evs) -> list[tuple]:
    return [(e["kind"], e["order_id"]) for e in evs]
