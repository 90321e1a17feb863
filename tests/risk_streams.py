"""Seeded command streams for the risk / positions / journal-recovery tests (engine-wide features,
mostly valid orders near a moving reference so fills, limits and throttles all happen)."""
from __future__ import annotations

import random

import numpy as np

from messaging.records import COMMAND_DTYPE, SYMBOL_ANY

BASE = 1_000_000   # $100.00 in 1e-4 dollars
TICK = 100         # $0.01

RISK_TOML = """
[sizes]
max_accounts = 8
max_firms = 4
max_symbols = 4
max_sessions = 16
max_orders = 100000

[defaults.account]
max_order_qty = 400
max_order_notional = 30000
max_open_orders = 12
max_net_position = 900
max_gross_position = 1500
buying_power = 60000
concentration_pct = 80
concentration_min_gross = 100000
order_rate = { per_second = 200000, burst = 8 }
message_rate = { per_second = 500000, burst = 16 }

[defaults.firm]
max_open_orders = 30
max_gross_position = 3000
buying_power = 150000

[defaults.symbol]
margin_pct = 25
collar_pct = 3

[[symbol]]
id = 3
restricted = true

[[firm]]
id = 1

[[firm]]
id = 2
max_open_orders = 20

[[account]]
id = 1
firm = 1

[[account]]
id = 2
firm = 1
allow_short = false

[[account]]
id = 3
firm = 2
permissions = { "1" = ["buy"] }

[[account]]
id = 4
firm = 2
buying_power = 20000

[[session]]
id = 4
cancel_on_disconnect = false
"""


def stream(seed: int, n: int, symbols: int = 4, accounts: int = 4, controls: bool = True) -> np.ndarray:
    """``n`` commands with seq 1..n and increasing ts_ns."""
    rnd = random.Random(seed)
    a = np.zeros(n, COMMAND_DTYPE)
    live: list[tuple[int, int, int]] = []   # (order_id, account, symbol)
    next_id = 1
    ts = 1_000_000
    ref = [BASE] * symbols
    for k in range(n):
        r = a[k]
        ts += rnd.choice((0, 1000, 5000, 20000, 100000))
        r["seq"] = k + 1
        r["ts_ns"] = ts
        acct = rnd.randrange(1, accounts + 1)
        sym = rnd.randrange(symbols)
        r["account_id"] = acct
        r["firm_id"] = 1 if acct <= 2 else 2
        r["session_id"] = acct
        r["symbol_id"] = sym
        x = rnd.random()
        if x < 0.60 or not live:
            r["action"] = 1
            r["order_id"] = next_id
            next_id += 1
            r["side"] = rnd.choice((1, 2))
            r["ord_type"] = rnd.choices((1, 2), (92, 8))[0]
            r["tif"] = 1 if r["ord_type"] == 1 and rnd.random() < 0.85 else 3
            r["qty"] = rnd.choice((1, 5, 10, 20, 50, 100, 200, 500))
            if r["ord_type"] == 1:
                r["price"] = ref[sym] + rnd.randint(-6, 6) * TICK
                if rnd.random() < 0.03:
                    r["price"] = ref[sym] + rnd.choice((-1, 1)) * rnd.randint(40, 80) * TICK  # collar bait
            if r["ord_type"] == 1 and r["tif"] == 1:
                live.append((int(r["order_id"]), acct, sym))
        elif x < 0.78:
            oid, own, s = rnd.choice(live)
            r["action"] = 2
            r["order_id"] = oid
            r["account_id"] = own
            r["firm_id"] = 1 if own <= 2 else 2
            r["symbol_id"] = s
        elif x < 0.90:
            oid, own, s = rnd.choice(live)
            r["action"] = 3
            r["order_id"] = oid
            r["account_id"] = own
            r["firm_id"] = 1 if own <= 2 else 2
            r["symbol_id"] = s
            r["qty"] = rnd.choice((5, 10, 50, 100, 300))
            r["price"] = ref[s] + rnd.randint(-5, 5) * TICK
        elif x < 0.95:
            r["action"] = 8
            ref[sym] = max(BASE // 2, ref[sym] + rnd.randint(-3, 3) * TICK)
            r["price"] = ref[sym]
        elif not controls:
            r["action"] = 9
        elif x < 0.96:
            r["action"] = 4
            r["symbol_id"] = rnd.choice((sym, SYMBOL_ANY))
        elif x < 0.965:
            r["action"] = 6                                   # session disconnect (session = account)
        elif x < 0.970:
            r["action"] = 7                                   # kill switch, then release soon after
            r["firm_id"] = 0
            r["flags"] = 0x80 if rnd.random() < 0.6 else 0
        else:
            r["action"] = 9
    return a


def setup_symbols(symbols: int = 4) -> dict[int, int]:
    return {s: TICK for s in range(symbols)}
