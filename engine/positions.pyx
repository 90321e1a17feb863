# cython: language_level=3
"""Positions and P&L (units and the average-cost rule in positions.pxd)."""
import struct

import numpy as np

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

from messaging.records cimport Event, EV_FILL, SIDE_BUY, SIDE_SELL
from engine.crc32c cimport tw_crc32c
from engine.tableids import table_id

cdef extern from *:
    """
    #include <stdint.h>
    static inline int64_t tw_pos_mul(int64_t a, int64_t b) {
        int64_t r;
        if (__builtin_mul_overflow(a, b, &r)) return ((a < 0) != (b < 0)) ? INT64_MIN : INT64_MAX;
        return r;
    }
    /* cost * part / whole, 128-bit intermediate, truncated toward zero (C division). */
    static inline int64_t tw_pos_prorate(int64_t cost, int64_t part, int64_t whole) {
        return (int64_t)((__int128)cost * part / whole);
    }
    """
    int64_t tw_pos_mul(int64_t a, int64_t b) noexcept nogil
    int64_t tw_pos_prorate(int64_t cost, int64_t part, int64_t whole) noexcept nogil

STATE_VERSION = 1

#: NumPy view of one PosCell (same field order and offsets).
POSITION_DTYPE = np.dtype([("qty", "<i8"), ("cost", "<i8"), ("realized", "<i8"), ("bought", "<i8"),
                           ("sold", "<i8"), ("buy_value", "<i8"), ("sell_value", "<i8"), ("fills", "<u8")])


cdef class Positions:
    """Per account and symbol positions, average cost, realized / unrealized P&L, exposure, margin.

    Parameters
    ----------
    max_accounts, max_symbols : table sizes (ids must be below them).
    margin_bps : per-symbol margin requirement in basis points (dict ``{symbol: bps}``),
        default ``default_margin_bps`` (10000 = 100 %).
    """

    def __cinit__(self, uint32_t max_accounts=64, uint32_t max_symbols=1024, margin_bps=None,
                  int64_t default_margin_bps=10000):
        self.n_accounts = max_accounts
        self.n_symbols = max_symbols
        self.cells = <PosCell *>calloc(<uint64_t>max_accounts * max_symbols, sizeof(PosCell))
        self.mark = <int64_t *>calloc(max_symbols, sizeof(int64_t))
        self.margin_bps = <int64_t *>calloc(max_symbols, sizeof(int64_t))
        if self.cells == NULL or self.mark == NULL or self.margin_bps == NULL:
            raise MemoryError("position tables")
        cdef uint32_t s
        for s in range(max_symbols):
            self.margin_bps[s] = default_margin_bps
        for sym, bps in (margin_bps or {}).items():
            self.margin_bps[<uint32_t>self._symbol_id(sym)] = bps

    def __dealloc__(self):
        free(self.cells)
        free(self.mark)
        free(self.margin_bps)

    @classmethod
    def from_risk_config(cls, config):
        """Positions sized and margined like an ``engine.riskconfig.RiskConfig`` (marks = reference prices)."""
        p = cls(config.max_accounts, config.max_symbols,
                {s: c.margin_bps for s, c in config.symbols.items()}, config.symbol_defaults.margin_bps)
        for s, c in config.symbols.items():
            if c.reference_price:
                p.set_mark(s, c.reference_price)
        return p

    # ------------------------------------------------------------ hot path ----
    cdef void on_fill(self, const Event *ev) noexcept nogil:
        if ev.kind != EV_FILL:
            return
        cdef int64_t q = ev.qty
        self.apply(ev.account_id, ev.symbol_id, q if ev.side == SIDE_BUY else -q, ev.price)
        self.apply(ev.maker_account_id, ev.symbol_id, -q if ev.side == SIDE_BUY else q, ev.price)
        if ev.symbol_id < self.n_symbols and ev.price > 0:
            self.mark[ev.symbol_id] = ev.price
        self.fills += 1

    cdef void apply(self, uint32_t account, uint32_t symbol, int64_t q, int64_t px) noexcept nogil:
        cdef PosCell *c
        cdef int64_t aq, closing, removed, rest
        if account >= self.n_accounts or symbol >= self.n_symbols or q == 0:
            self.dropped += 1
            return
        c = &self.cells[<uint64_t>account * self.n_symbols + symbol]
        c.fills += 1
        if q > 0:
            c.bought += q
            c.buy_value += tw_pos_mul(q, px)
        else:
            c.sold -= q
            c.sell_value += tw_pos_mul(-q, px)
        if c.qty == 0 or (c.qty > 0) == (q > 0):
            c.qty += q                                      # open or add: the lot joins the basis
            c.cost += tw_pos_mul(q, px)
            return
        aq = c.qty if c.qty > 0 else -c.qty
        closing = -q if q < 0 else q
        if closing > aq:
            closing = aq
        removed = tw_pos_prorate(c.cost, closing, aq)       # share of the basis being closed
        if c.qty > 0:
            c.realized += tw_pos_mul(closing, px) - removed  # sold `closing` shares at px
            c.qty -= closing
        else:
            c.realized += -removed - tw_pos_mul(closing, px)  # bought back `closing` shares at px
            c.qty += closing
        c.cost -= removed
        rest = (q if q > 0 else -q) - closing
        if rest > 0:                                        # flip: the rest opens the other side
            if q > 0:
                c.qty += rest
                c.cost += tw_pos_mul(rest, px)
            else:
                c.qty -= rest
                c.cost -= tw_pos_mul(rest, px)

    cdef void set_mark_c(self, uint32_t symbol, int64_t price) noexcept nogil:
        if symbol < self.n_symbols and price > 0:
            self.mark[symbol] = price

    # ------------------------------------------------------------ Python API ----
    def on_events(self, events):
        """Apply the fills of an ``EVENT_DTYPE`` array (other kinds are skipped)."""
        from messaging.records import EVENT_DTYPE
        arr = np.ascontiguousarray(np.asarray(events, dtype=EVENT_DTYPE).reshape(-1))
        if arr.shape[0] == 0:
            return
        cdef const uint8_t[::1] raw = arr.view(np.uint8)
        cdef const Event *p = <const Event *>&raw[0]
        cdef Py_ssize_t i, n = arr.shape[0]
        with nogil:
            for i in range(n):
                self.on_fill(&p[i])

    # Ids from Python are checked (engine.tableids.TableIdError) before they index a table.
    def _account_id(self, a):
        return table_id(a, self.n_accounts, "account", "max_accounts")

    def _symbol_id(self, s):
        return table_id(s, self.n_symbols, "symbol", "max_symbols")

    def fill(self, account, symbol, int64_t signed_qty, int64_t price):
        """Apply one execution directly (+ buy / - sell). As for ``on_fill``, a uint32 id beyond the
        tables is counted in ``dropped`` and ignored; an id that is no uint32 is a TableIdError."""
        self.apply(table_id(account, 1 << 32, "account", "uint32"), table_id(symbol, 1 << 32, "symbol", "uint32"),
                   signed_qty, price)

    def set_mark(self, symbol, int64_t price):
        self.set_mark_c(self._symbol_id(symbol), price)

    def get_mark(self, symbol):
        return self.mark[<uint32_t>self._symbol_id(symbol)]

    def position(self, account, symbol):
        """One position: qty, avg_price (1e-4 $, truncated), cost, realized, unrealized, exposure, margin, ..."""
        cdef uint32_t a = self._account_id(account), s = self._symbol_id(symbol)
        cdef PosCell *c = &self.cells[<uint64_t>a * self.n_symbols + s]
        return _position_dict(c, self.mark[s], self.margin_bps[s])

    def positions(self):
        """Every non-empty cell as {(account, symbol): position dict}."""
        out = {}
        arr = self.cells_array()
        for a, s in zip(*np.nonzero(arr["fills"])):
            out[(int(a), int(s))] = self.position(a, s)
        return out

    def cells_array(self):
        """All cells as a (max_accounts, max_symbols) ``POSITION_DTYPE`` array (a copy)."""
        cdef uint64_t n = <uint64_t>self.n_accounts * self.n_symbols
        buf = (<char *>self.cells)[:n * sizeof(PosCell)]
        return np.frombuffer(buf, POSITION_DTYPE).reshape(self.n_accounts, self.n_symbols).copy()

    def marks(self):
        return np.asarray(<int64_t[:self.n_symbols]>self.mark).copy()

    def summary(self, as_arrays=False):
        """Portfolio totals per account: qty_gross, realized, unrealized, total_pnl, exposure, margin.

        ``as_arrays``: dict of NumPy int64 arrays indexed by account id; else {account: dict} for
        accounts with any fill. Unrealized / exposure / margin use the current marks.
        """
        cells = self.cells_array()
        mark = self.marks()
        bps = np.asarray(<int64_t[:self.n_symbols]>self.margin_bps)
        qty = cells["qty"].astype(object)      # exact integers (no int64 overflow in products)
        unreal = qty * mark.astype(object) - cells["cost"].astype(object)
        expo = np.abs(qty) * mark.astype(object)
        margin = expo * bps.astype(object) // 10000
        tot = {
            "qty_gross": np.abs(cells["qty"]).sum(axis=1),
            "realized": cells["realized"].sum(axis=1),
            "unrealized": np.array(unreal.sum(axis=1), dtype=np.int64),
            "exposure": np.array(expo.sum(axis=1), dtype=np.int64),
            "margin": np.array(margin.sum(axis=1), dtype=np.int64),
            "fills": cells["fills"].sum(axis=1).astype(np.int64),
        }
        tot["total_pnl"] = tot["realized"] + tot["unrealized"]
        if as_arrays:
            return tot
        return {int(a): {k: int(v[a]) for k, v in tot.items()} for a in np.flatnonzero(tot["fills"])}

    def dump_state(self):
        """Cells and marks as bytes (snapshots)."""
        cdef uint64_t n = <uint64_t>self.n_accounts * self.n_symbols
        return (struct.pack("<8sIII", b"TWPOS001", STATE_VERSION, self.n_accounts, self.n_symbols)
                + struct.pack("<QQ", self.fills, self.dropped)
                + (<char *>self.cells)[:n * sizeof(PosCell)] + (<char *>self.mark)[:self.n_symbols * 8])

    def load_state(self, bytes data):
        cdef uint64_t n = <uint64_t>self.n_accounts * self.n_symbols
        magic, ver, na, ns = struct.unpack_from("<8sIII", data, 0)
        if magic != b"TWPOS001" or ver != STATE_VERSION:
            raise ValueError("not a positions state (bad magic / version)")
        if (na, ns) != (self.n_accounts, self.n_symbols):
            raise ValueError("positions state sizes differ from this table's")
        if <size_t>len(data) != 36 + n * sizeof(PosCell) + self.n_symbols * 8:
            raise ValueError("positions state truncated")
        self.fills, self.dropped = struct.unpack_from("<QQ", data, 20)
        memcpy(self.cells, (<const char *>data) + 36, n * sizeof(PosCell))
        memcpy(self.mark, (<const char *>data) + 36 + n * sizeof(PosCell), self.n_symbols * 8)

    def state_digest(self):
        d = self.dump_state()
        return tw_crc32c(0, <const char *>d, len(d))


cdef dict _position_dict(PosCell *c, int64_t mark, int64_t bps):
    qty = c.qty
    expo = abs(qty) * mark
    return {
        "qty": qty,
        "avg_price": abs(c.cost) // abs(qty) if qty else 0,   # truncated, 1e-4 $
        "cost": c.cost,
        "realized": c.realized,
        "unrealized": qty * mark - c.cost,
        "mark": mark,
        "exposure": expo,
        "margin": expo * bps // 10000,
        "bought": c.bought,
        "sold": c.sold,
        "buy_value": c.buy_value,
        "sell_value": c.sell_value,
        "fills": c.fills,
    }
