"""End-of-run positions of ``tickwire match --positions FILE``: a tap on the run batches -> CSV.

Fills go to an ``engine.positions.Positions`` (average cost, realized and unrealized P&L, integer
1e-4 dollars). The mark of a symbol is the later of its last trade price and its last accepted
``set_reference_price`` (a reference set by a command comes before the trades that command's stops
cause). Account ids are made dense for the table, so named accounts (ids from the top of the range)
cost nothing.
"""
from __future__ import annotations

import numpy as np

from messaging.records import EVENT_DTYPE, PRICE_SCALE, Action, EventKind

POSITIONS_HEADER = "account,symbol,qty,avg_price,mark,realized_pnl,unrealized_pnl,total_pnl,bought,sold,fills"


def money(value: int) -> str:
    """int 1e-4 dollars -> dollars with 4 decimals ("-12.5000")."""
    sign = "-" if value < 0 else ""
    value = abs(int(value))
    return f"{sign}{value // PRICE_SCALE}.{value % PRICE_SCALE:04d}"


class PositionsTap:
    """Collects fills and marks from ``engine.csvio.match_csv(tap=...)``; ``write`` prints the table."""

    def __init__(self):
        self.fills: list[np.ndarray] = []
        self.marks: dict[int, int] = {}

    def __call__(self, cmds, evs) -> None:
        fills = evs[evs["kind"] == EventKind.FILL]
        if len(fills):
            self.fills.append(fills.copy())
        refs = cmds[cmds["action"] == Action.SET_REFERENCE_PRICE]
        if len(refs):
            rejected = evs["seq"][evs["kind"] == EventKind.REJECT]
            refs = refs[~np.isin(refs["seq"], rejected)]
        if not len(fills) and not len(refs):
            return
        seq = np.concatenate([refs["seq"], fills["seq"]])
        after = np.concatenate([np.zeros(len(refs), np.int8), np.ones(len(fills), np.int8)])
        sym = np.concatenate([refs["symbol_id"], fills["symbol_id"]])
        px = np.concatenate([refs["price"], fills["price"]])
        order = np.lexsort((np.arange(len(seq)), after, seq))    # events keep their order within a seq
        for s, p in zip(sym[order].tolist(), px[order].tolist()):
            if p > 0:
                self.marks[s] = p

    def rows(self, symbols, accounts) -> list[str]:
        """CSV rows (no header) of every account and symbol with a fill."""
        from engine.csvio import csv_field
        from engine.positions import Positions
        fills = np.concatenate(self.fills) if self.fills else np.zeros(0, EVENT_DTYPE)
        ids = np.unique(np.concatenate([fills["account_id"], fills["maker_account_id"]]))
        n_sym = max([int(fills["symbol_id"].max()) + 1 if len(fills) else 1] + [s + 1 for s in self.marks])
        pos = Positions(max(len(ids), 1), n_sym)
        dense = fills.copy()
        dense["account_id"] = np.searchsorted(ids, fills["account_id"])
        dense["maker_account_id"] = np.searchsorted(ids, fills["maker_account_id"])
        pos.on_events(dense)
        for s, p in self.marks.items():
            pos.set_mark(s, p)
        out = []
        for (a, s), c in sorted(pos.positions().items()):
            out.append(",".join((
                csv_field(accounts.name(int(ids[a]))), csv_field(symbols.name(s)), str(c["qty"]),
                money(c["avg_price"]), money(c["mark"]), money(c["realized"]), money(c["unrealized"]),
                money(c["realized"] + c["unrealized"]), str(c["bought"]), str(c["sold"]), str(c["fills"]))))
        return out

    def write(self, path, symbols, accounts) -> None:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(POSITIONS_HEADER + "\n")
            f.writelines(r + "\n" for r in self.rows(symbols, accounts))
