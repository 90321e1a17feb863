"""Seeded random command streams for the engine tests and the benchmark (every feature, some invalid input)."""
from __future__ import annotations

import random

import numpy as np

from messaging.records import COMMAND_DTYPE, SYMBOL_ANY

BASE = 1_000_000  # $100.00 in 1e-4 dollars
TICK = 100


def random_stream(seed: int, n: int, symbols: int = 2, accounts: int = 3, invalid: float = 0.03,
                  spread_ticks: int = 12) -> np.ndarray:
    """``n`` commands exercising every action, order type, tif, flag and STP mode, with ~``invalid`` bad ones."""
    rnd = random.Random(seed)
    a = np.zeros(n, COMMAND_DTYPE)
    ids: list[tuple[int, int]] = []  # (order_id, account)
    next_id = 1
    ts = 1_000
    for k in range(n):
        r = a[k]
        ts += rnd.choice((0, 1, 5, 50, 500))
        r["seq"] = k + 1
        r["ts_ns"] = ts
        sym = rnd.randrange(symbols)
        acct = rnd.randrange(1, accounts + 1)
        r["symbol_id"] = sym
        r["account_id"] = acct
        r["firm_id"] = 10 + acct % 2
        r["session_id"] = 100 + acct
        x = rnd.random()
        bad = rnd.random() < invalid
        def price():
            p = BASE + rnd.randint(-spread_ticks, spread_ticks) * TICK
            return p + (rnd.choice((1, 50)) if bad and rnd.random() < 0.3 else 0)
        if x < 0.58:
            r["action"] = 1
            if bad and rnd.random() < 0.2 and ids:
                oid = rnd.choice(ids)[0]
            else:
                oid = next_id
                next_id += 1
            r["order_id"] = oid
            ids.append((oid, acct))
            r["side"] = rnd.choice((1, 2)) if not (bad and rnd.random() < 0.1) else rnd.choice((0, 3))
            typ = rnd.choices((1, 2, 3, 4), (70, 10, 10, 10))[0]
            r["ord_type"] = typ
            r["tif"] = rnd.choices((1, 2, 3, 4, 5), (40, 25, 12, 8, 15))[0]
            r["qty"] = rnd.choice((1, 10, 50, 100, 100, 200, 500)) if not (bad and rnd.random() < 0.2) else 0
            if typ in (1, 4):
                r["price"] = price()
            elif bad and rnd.random() < 0.2:
                r["price"] = price()
            if typ in (3, 4):
                r["stop_price"] = price()
            if rnd.random() < 0.08:
                r["flags"] |= 1
            if rnd.random() < 0.1:
                r["flags"] |= 2
                r["display_qty"] = rnd.choice((1, 10, 30, 100, 600))
            r["stp"] = rnd.choices((0, 1, 2, 3, 4), (60, 10, 10, 10, 10))[0]
            if r["tif"] == 5:
                r["expire_ns"] = 0 if bad and rnd.random() < 0.3 else ts + rnd.choice((1, 100, 1000, 5000))
            if rnd.random() < 0.06 and ids:
                r["link_id"] = rnd.choice(ids[-20:])[0]
        elif x < 0.75:
            r["action"] = 2
            if ids:
                oid, own = rnd.choice(ids[-200:])
                r["order_id"] = oid
                r["account_id"] = own if rnd.random() < 0.95 else acct
            else:
                r["order_id"] = 999_999
        elif x < 0.9:
            r["action"] = 3
            if ids:
                oid, own = rnd.choice(ids[-200:])
                r["order_id"] = oid
                r["account_id"] = own if rnd.random() < 0.95 else acct
            r["qty"] = rnd.choice((1, 10, 50, 100, 200, 500)) if not (bad and rnd.random() < 0.3) else 0
            r["price"] = price()
        elif x < 0.92:
            r["action"] = 4
            r["symbol_id"] = rnd.choice((sym, SYMBOL_ANY))
            r["side"] = rnd.choice((0, 1, 2))
        elif x < 0.925:
            r["action"] = 5
        elif x < 0.93:
            r["action"] = 6
        elif x < 0.935:
            r["action"] = 7
            r["firm_id"] = rnd.choice((0, 10, 11))
        elif x < 0.97:
            r["action"] = 8
            r["price"] = price()
        elif x < 0.99:
            r["action"] = 9
            r["ts_ns"] = ts = ts + rnd.choice((10, 1000, 3000))
        else:
            r["action"] = rnd.choice((0, 42))
    return a
