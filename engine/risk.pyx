# cython: language_level=3
"""Pre-trade risk engine (contract and units in risk.pxd, checks and codes in docs/risk.md).

Rule shared by every aggregate limit (positions, concentration, buying power, open orders
excepted): an order is refused when the value after it would exceed the limit AND be larger than
before, so a risk-reducing order is always accepted even when the account is over a limit
(after a price move, a config reload, ...). Worst case = every working order on one side fills.
"""
import numpy as np

from core import codes as _codes
from messaging import records as _records

from engine.tableids import table_id
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

from core.compiler cimport tw_likely, tw_unlikely, tw_prefetch, TW_DEBUG
from messaging.records cimport *
from engine.crc32c cimport tw_crc32c
from core.tables cimport tw_mix64, tw_table_alloc

cdef extern from *:
    """
    #include <stdint.h>
    /* Saturating int64 arithmetic: notional = price x qty must never wrap into a small number. */
    static inline int64_t tw_mul_sat(int64_t a, int64_t b) {
        int64_t r;
        if (__builtin_mul_overflow(a, b, &r)) return ((a < 0) != (b < 0)) ? INT64_MIN : INT64_MAX;
        return r;
    }
    static inline int64_t tw_add_sat(int64_t a, int64_t b) {
        int64_t r;
        if (__builtin_add_overflow(a, b, &r)) return b < 0 ? INT64_MIN : INT64_MAX;
        return r;
    }
    /* a * b / c with a 128-bit intermediate, truncated toward zero, saturated. */
    static inline int64_t tw_muldiv(int64_t a, int64_t b, int64_t c) {
        int64_t p;
        if (__builtin_expect(!__builtin_mul_overflow(a, b, &p), 1)) return p / c;  /* c constant: a multiply */
        __int128 r = (__int128)a * b / c;
        if (r > INT64_MAX) return INT64_MAX;
        if (r < INT64_MIN) return INT64_MIN;
        return (int64_t)r;
    }
    /* a * b > c * d, exactly. */
    static inline int tw_prod_gt(int64_t a, int64_t b, int64_t c, int64_t d) {
        return (__int128)a * b > (__int128)c * d;
    }
    /* Order-table slot: blocks of 64 consecutive ids land on 64 consecutive slots (clients number
       orders sequentially: an ack, its fills and a cancel of a recent order touch nearby cache lines),
       while the blocks themselves are scattered by splitmix64 (no clustering for strided ids). */
    static inline uint64_t tw_order_slot(uint64_t id) { return (tw_mix64(id >> 6) << 6) | (id & 63); }
    /* first[0] or first[1] by a flag, as arithmetic: the empty asm hides the index from the optimizer,
       which would otherwise turn it back into a (here unpredictable) branch. */
    static inline int64_t *tw_pick(int64_t *first, int second) {
        uintptr_t k = (uintptr_t)(second != 0);
        __asm__("" : "+r"(k));
        return first + k;
    }
    """
    int64_t tw_mul_sat(int64_t a, int64_t b) noexcept nogil
    int64_t tw_add_sat(int64_t a, int64_t b) noexcept nogil
    int64_t tw_muldiv(int64_t a, int64_t b, int64_t c) noexcept nogil
    bint tw_prod_gt(int64_t a, int64_t b, int64_t c, int64_t d) noexcept nogil
    uint64_t tw_order_slot(uint64_t x) noexcept nogil
    int64_t *tw_pick(int64_t *first, int second) noexcept nogil
    const int64_t INT64_MAX

#: code -> (NAME, message): every RISK_* reject (core/codes.pxd; messaging.records.CODES holds them too).
#: A duplicate order id is rejected with matching's RC_DUPLICATE_ORDER_ID (-5), not a risk code.
CODES = {c.value: (c.name, c.message) for c in _codes.CODES.values() if c.area == "RISK"}
CODE_BY_NAME = {name: code for code, (name, _) in CODES.items()}

# NumPy mirrors of the C structs (validate_internal_state); offsets checked at import below.
CELL_DTYPE = np.dtype([(k, "<i8") for k in ("pos", "buy_qty", "sell_qty", "buy_notional", "sell_notional",
                                            "worst_qty", "exposure", "margin")])
AGG_DTYPE = np.dtype({"names": ["open_orders", "gross_qty", "gross_notional", "margin", "order_tat", "msg_tat",
                                "firm", "killed", "configured"],
                      "formats": ["<i8"] * 6 + ["<u4", "u1", "u1"],
                      "offsets": [0, 8, 16, 24, 32, 40, 48, 52, 53], "itemsize": sizeof(Agg)})
ORDER_ENTRY_DTYPE = np.dtype({"names": ["order_id", "px", "account", "symbol", "leaves", "filled", "side", "state"],
                              "formats": ["<u8", "<i8", "<u4", "<u4", "<u4", "<u4", "u1", "u1"],
                              "offsets": [0, 8, 16, 20, 24, 28, 32, 33], "itemsize": sizeof(OrderEntry)})
assert CELL_DTYPE.itemsize == sizeof(Cell)
KILL_RELEASE = FLAG_KILL_RELEASE
KILL_BLOCK_ONLY = FLAG_KILL_BLOCK_ONLY
STATE_VERSION = 1


class RiskError(_codes.TickwireError):
    """A risk code as an exception (``code``, ``name``, ``message``; ``reason`` is ``message``)."""

    def __init__(self, code, message=None, offset=None):
        super().__init__(code, message, offset)
        self.reason = self.message


cdef inline int64_t _abs(int64_t x) noexcept nogil:
    return -x if x < 0 else x


cdef inline int64_t _max(int64_t a, int64_t b) noexcept nogil:
    return a if a > b else b


cdef inline bint _gcra(int64_t *tat, int64_t t, int64_t interval, int64_t tolerance) noexcept nogil:
    """Generic cell rate algorithm (token bucket in time units): deterministic on command time."""
    if interval <= 0:
        return True
    cdef int64_t x = tat[0] if tat[0] > t else t
    if x - t > tolerance:
        return False
    tat[0] = x + interval
    return True


cdef inline void _metrics(const Cell *c, int64_t mark, int64_t mbps,
                          int64_t *worst, int64_t *expo, int64_t *margin) noexcept nogil:
    cdef int64_t pv = tw_mul_sat(c.pos, mark)
    worst[0] = _max(_abs(c.pos + c.buy_qty), _abs(c.pos - c.sell_qty))
    expo[0] = _max(_abs(tw_add_sat(pv, c.buy_notional)), _abs(tw_add_sat(pv, -c.sell_notional)))
    margin[0] = tw_muldiv(expo[0], mbps, 10000)


cdef inline bint _over(int64_t after, int64_t before, int64_t limit) noexcept nogil:
    return after > limit and after > before


# ------------------------------------------------------------ hot-path internals ----
# Module-level inline functions (methods are never inlined): order table, exposure upkeep.
cdef inline void _prefetch_slot(RiskEngine self, uint64_t order_id) noexcept nogil:
    """Prefetch the home slot of an id (both lines when the 40-byte entry straddles two)."""
    cdef const char *p = <const char *>&self.orders[tw_order_slot(order_id) & (self.ot_cap - 1)]
    tw_prefetch(p)
    tw_prefetch(p + sizeof(OrderEntry) - 1)


cdef inline OrderEntry *_ot_find(RiskEngine self, uint64_t order_id) noexcept nogil:
    cdef uint64_t mask = self.ot_cap - 1, h = tw_order_slot(order_id) & mask
    cdef OrderEntry *e
    while True:
        e = &self.orders[h]
        if e.state == OE_EMPTY:
            return NULL
        if e.order_id == order_id and e.state != OE_TOMB:
            return e
        h = (h + 1) & mask


cdef inline OrderEntry *_ot_probe(RiskEngine self, uint64_t order_id, OrderEntry **slot) noexcept nogil:
    """``_find`` that also yields, when the id is absent, the slot ``_insert`` would take (the first
    tombstone on the probe chain, else the empty slot ending it): one probe for check-then-insert."""
    cdef uint64_t mask = self.ot_cap - 1, h = tw_order_slot(order_id) & mask
    cdef OrderEntry *e
    cdef OrderEntry *tomb = NULL
    while True:
        e = &self.orders[h]
        if e.state == OE_EMPTY:
            slot[0] = tomb if tomb != NULL else e
            return NULL
        if e.state == OE_TOMB:
            if tomb == NULL:
                tomb = e
        elif e.order_id == order_id:
            return e
        h = (h + 1) & mask


cdef inline OrderEntry *_ot_claim(RiskEngine self, OrderEntry *slot, uint64_t order_id) noexcept nogil:
    """Take the slot ``_ot_probe`` returned (table unchanged since): as ``_insert``, NULL when full."""
    if slot.state != OE_TOMB:
        if tw_unlikely(self.ot_used >= self.max_orders):
            return NULL
        self.ot_used += 1
    memset(slot, 0, sizeof(OrderEntry))
    slot.order_id = order_id
    return slot


cdef inline OrderEntry *_ot_lookup(RiskEngine self, uint64_t order_id) noexcept nogil:
    """``_find`` through the hint: an id has at most one entry that is not a tombstone, so an entry
    holding the id in any other non-empty state is the one ``_find`` would return."""
    cdef OrderEntry *e = self.hint
    if e != NULL and e.order_id == order_id and e.state != OE_EMPTY and e.state != OE_TOMB:
        return e
    e = _ot_find(self, order_id)
    if e != NULL:
        self.hint = e
    return e


cdef inline void _set_metrics(RiskEngine self, Cell *c, uint32_t account, int64_t w, int64_t x,
                              int64_t m) noexcept nogil:
    """Store a cell's new worst_qty / exposure / margin and move the account and firm sums by the difference."""
    cdef Agg *A = &self.accts[account]
    cdef Agg *F = &self.firms[A.firm]
    A.gross_qty += w - c.worst_qty
    F.gross_qty += w - c.worst_qty
    A.gross_notional = tw_add_sat(A.gross_notional, x - c.exposure)
    F.gross_notional = tw_add_sat(F.gross_notional, x - c.exposure)
    A.margin = tw_add_sat(A.margin, m - c.margin)
    F.margin = tw_add_sat(F.margin, m - c.margin)
    c.worst_qty = w
    c.exposure = x
    c.margin = m
    self.ck_entry = NULL              # a cell changed: the remembered check figures may be stale
    if TW_DEBUG:
        if (c.buy_qty < 0 or c.sell_qty < 0 or c.buy_notional < 0 or c.sell_notional < 0
                or A.open_orders < 0 or F.open_orders < 0 or A.gross_qty < 0):
            self.debug_violations += 1


cdef inline void _recompute_c(RiskEngine self, uint32_t account, uint32_t symbol) noexcept nogil:
    cdef Cell *c = &self.cells[<uint64_t>account * self.cell_stride + symbol]
    cdef int64_t w, x, m
    _metrics(c, self.ref_px[symbol], self.margin_bps[symbol], &w, &x, &m)
    _set_metrics(self, c, account, w, x, m)


# A cell's working fields of one side, indexed rather than branched on (the side of a stream's
# orders is a coin toss for the branch predictor): buy_qty / sell_qty and buy_notional /
# sell_notional are adjacent (checked at import); any side but SIDE_BUY is the sell side, as before.
cdef inline int64_t *_wq(Cell *c, uint8_t side) noexcept nogil:
    return tw_pick(&c.buy_qty, side != SIDE_BUY)


cdef inline int64_t *_wn(Cell *c, uint8_t side) noexcept nogil:
    return tw_pick(&c.buy_notional, side != SIDE_BUY)


cdef Cell _layout
assert (<char *>&_layout.sell_qty - <char *>&_layout.buy_qty == sizeof(int64_t)
        and <char *>&_layout.sell_notional - <char *>&_layout.buy_notional == sizeof(int64_t))


cdef inline void _work_c(RiskEngine self, OrderEntry *e, int64_t dqty) noexcept nogil:
    """Change an order's working quantity by dqty (leaves follow separately)."""
    cdef Cell *c = &self.cells[<uint64_t>e.account * self.cell_stride + e.symbol]
    cdef int64_t *n = _wn(c, e.side)
    _wq(c, e.side)[0] += dqty
    n[0] = tw_add_sat(n[0], tw_mul_sat(dqty, e.px))


cdef void _ack_debug(RiskEngine self, OrderEntry *e, const Cell *c) noexcept nogil:
    """TW_DEBUG: the remembered check figures equal what _work_c + _recompute_c would compute."""
    cdef Cell t = c[0]
    cdef int64_t w, x, m
    cdef bint ok
    if e.side == SIDE_BUY:
        t.buy_qty += e.leaves
        t.buy_notional = tw_add_sat(t.buy_notional, tw_mul_sat(e.leaves, e.px))
        ok = t.buy_qty == self.ck_wq and t.buy_notional == self.ck_wn
    else:
        t.sell_qty += e.leaves
        t.sell_notional = tw_add_sat(t.sell_notional, tw_mul_sat(e.leaves, e.px))
        ok = t.sell_qty == self.ck_wq and t.sell_notional == self.ck_wn
    _metrics(&t, self.ref_px[e.symbol], self.margin_bps[e.symbol], &w, &x, &m)
    if not ok or w != self.ck_w or x != self.ck_x or m != self.ck_m:
        self.debug_violations += 1


cdef inline void _close_c(RiskEngine self, OrderEntry *e) noexcept nogil:
    cdef Agg *A = &self.accts[e.account]
    e.state = OE_DONE
    A.open_orders -= 1
    self.firms[A.firm].open_orders -= 1
    self.ot_live -= 1


cdef inline void _fill_side_c(RiskEngine self, uint64_t oid, uint32_t account, uint32_t s, uint8_t side,
                              uint32_t qty, uint32_t leaves, bint maker) noexcept nogil:
    # the maker is looked up without taking the hint, which stays on the taker (a sweep's next fill)
    cdef OrderEntry *e = NULL
    if oid != 0:
        e = _ot_find(self, oid) if maker else _ot_lookup(self, oid)
    cdef Cell *c
    if account >= self.n_accounts or s >= self.n_symbols:
        return
    if e != NULL and e.state == OE_OPEN:
        _work_c(self, e, -(<int64_t>e.leaves - <int64_t>leaves))
        e.leaves = leaves
        e.filled += qty
        if leaves == 0:
            _close_c(self, e)
    elif e != NULL and e.state == OE_PENDING:
        e.filled += qty                             # filled before its ack (not expected): no working yet
    c = &self.cells[<uint64_t>account * self.cell_stride + s]
    cdef int64_t neg = -<int64_t>(side != SIDE_BUY)       # 0 buy, -1 sell: +qty / -qty without a branch
    c.pos += (<int64_t>qty ^ neg) - neg
    _recompute_c(self, account, s)


cdef inline int _check_order_c(RiskEngine self, const Command *c, OrderEntry *old, Agg *A, Agg *F,
                               const Limits *AL, const Limits *FL) noexcept nogil:
    """Checks of a new order (old NULL) or a modify of ``old``; ``A`` / ``F`` / ``AL`` / ``FL``: its
    account's and firm's aggregates and limits (``check`` has them at hand)."""
    cdef uint32_t a = c.account_id, s = c.symbol_id
    cdef Cell cell
    cdef Cell *cur
    cdef int64_t *wq
    cdef int64_t *wn
    cdef int64_t qty = c.qty, px, ref, band, notional, dq, w, x, m, gq, gx, gm, mark
    cdef uint8_t side = c.side, pbits, otype = c.ord_type
    cdef bint priced
    cdef OrderEntry *e
    cdef OrderEntry *slot = NULL
    if old != NULL:
        side = old.side
        s = old.symbol
        otype = TYPE_LIMIT
    if tw_unlikely(s >= self.n_symbols):
        return self._rej(RISK_UNKNOWN_SYMBOL)
    if (side != SIDE_BUY and side != SIDE_SELL) or qty <= 0:
        return RISK_OK      # matching rejects it (invalid side / quantity)
    if self.restricted[s]:
        return self._rej(RISK_RESTRICTED_SYMBOL)
    pbits = self.perm[<uint64_t>a * self.n_symbols + s]
    if not (pbits & (PERM_BUY if side == SIDE_BUY else PERM_SELL)):
        return self._rej(RISK_NOT_PERMITTED)
    if old == NULL:
        e = _ot_probe(self, c.order_id, &slot)
        if e != NULL:
            return self._rej(RC_DUPLICATE_ORDER_ID)
        if not _gcra(&A.order_tat, c.ts_ns, AL.order_interval_ns, AL.order_tolerance_ns):
            return self._rej(RISK_ORDER_RATE)
        if not _gcra(&F.order_tat, c.ts_ns, FL.order_interval_ns, FL.order_tolerance_ns):
            return self._rej(RISK_FIRM_ORDER_RATE)
    elif qty <= old.filled:
        return RISK_OK      # modify to at most the filled quantity = cancel
    if qty > AL.max_order_qty or qty > FL.max_order_qty:
        return self._rej(RISK_MAX_ORDER_QTY)
    # Exposure price: the limit price, else the stop price, else the reference price.
    ref = self.ref_px[s]
    priced = otype == TYPE_LIMIT or otype == TYPE_STOP_LIMIT
    if priced:
        px = c.price
    elif otype == TYPE_STOP:
        px = c.stop_price
    else:
        px = ref
    if px <= 0:
        if priced or otype == TYPE_STOP:
            return RISK_OK  # matching rejects the bad price
        if (self.require_ref[s] or AL.max_order_notional != INT64_MAX or FL.max_order_notional != INT64_MAX
                or AL.buying_power != INT64_MAX or FL.buying_power != INT64_MAX):
            return self._rej(RISK_NO_REFERENCE_PRICE)
        px = 0
    if priced and self.collar_bps[s] > 0:
        if ref <= 0:
            if self.require_ref[s]:
                return self._rej(RISK_NO_REFERENCE_PRICE)
        else:
            band = tw_muldiv(ref, self.collar_bps[s], 10000)
            if _abs(px - ref) > band:
                return self._rej(RISK_PRICE_COLLAR)
    notional = tw_mul_sat(qty, px)
    if notional > AL.max_order_notional or notional > FL.max_order_notional:
        return self._rej(RISK_MAX_ORDER_NOTIONAL)
    # Hypothetical cell after the order (modify: replace the old working leaves).
    cur = &self.cells[<uint64_t>a * self.cell_stride + s]
    cell = cur[0]
    dq = qty if old == NULL else qty - old.filled
    wq = _wq(&cell, side)
    wn = _wn(&cell, side)
    if old != NULL:
        wq[0] -= old.leaves
        wn[0] = tw_add_sat(wn[0], -tw_mul_sat(old.leaves, old.px))
    wq[0] += dq
    wn[0] = tw_add_sat(wn[0], tw_mul_sat(dq, px))
    # (a buy leaves sell_qty as it is: the last condition only holds for a sell, no side test needed)
    if not (pbits & PERM_SHORT) and cell.pos - cell.sell_qty < 0 and cell.sell_qty > cur.sell_qty:
        return self._rej(RISK_SHORT_SALE)
    if old == NULL:
        if A.open_orders + 1 > AL.max_open_orders:
            return self._rej(RISK_MAX_OPEN_ORDERS)
        if F.open_orders + 1 > FL.max_open_orders:
            return self._rej(RISK_FIRM_OPEN_ORDERS)
    mark = ref if ref > 0 else px
    _metrics(&cell, mark, self.margin_bps[s], &w, &x, &m)
    if _over(w, cur.worst_qty, AL.max_net_position):
        return self._rej(RISK_NET_POSITION)
    gq = A.gross_qty - cur.worst_qty + w
    if _over(gq, A.gross_qty, AL.max_gross_position):
        return self._rej(RISK_GROSS_POSITION)
    if _over(F.gross_qty - cur.worst_qty + w, F.gross_qty, FL.max_gross_position):
        return self._rej(RISK_FIRM_GROSS_POSITION)
    gx = tw_add_sat(A.gross_notional - cur.exposure, x)
    if (AL.concentration_bps < 10000 and gx > AL.concentration_min_gross and x > cur.exposure
            and tw_prod_gt(x, 10000, AL.concentration_bps, gx)):
        return self._rej(RISK_CONCENTRATION)
    gm = tw_add_sat(A.margin - cur.margin, m)
    if _over(gm, A.margin, AL.buying_power):
        return self._rej(RISK_BUYING_POWER)
    if _over(tw_add_sat(F.margin - cur.margin, m), F.margin, FL.buying_power):
        return self._rej(RISK_FIRM_BUYING_POWER)
    if old == NULL:
        e = _ot_claim(self, slot, c.order_id)     # the table has not changed since the probe
        if e == NULL:
            return self._rej(RISK_ORDER_TABLE_FULL)
        e.px = px
        e.account = a
        e.symbol = s
        e.side = side
        e.state = OE_PENDING
        self.ot_live += 1
        self.hint = e                               # its ack is the next event
        # remember the figures for the ack (on_event reuses them when provably the same)
        self.ck_entry = e
        self.ck_qty = qty
        self.ck_mark = mark
        self.ck_wq = wq[0]
        self.ck_wn = wn[0]
        self.ck_w = w
        self.ck_x = x
        self.ck_m = m
    return RISK_OK


cdef class RiskEngine(RiskHook):
    """Pre-trade risk checks with per-account and per-firm limits (see module docstring).

    Parameters
    ----------
    config : engine.riskconfig.RiskConfig, or None for no limits (default sizes).
    """

    def __cinit__(self, config=None):
        from engine.riskconfig import RiskConfig
        if config is None:
            config = RiskConfig()
        self.n_accounts = config.max_accounts
        self.n_firms = config.max_firms
        self.n_symbols = config.max_symbols
        self.n_sessions = config.max_sessions
        self.max_orders = config.max_orders
        self.strict_accounts = config.strict_accounts
        cap = 16
        while cap < 2 * self.max_orders:
            cap <<= 1
        self.ot_cap = cap
        na, nf, ns = self.n_accounts, self.n_firms, self.n_symbols
        self.acct_limits = <Limits *>calloc(na, sizeof(Limits))
        self.firm_limits = <Limits *>calloc(nf, sizeof(Limits))
        self.perm = <uint8_t *>calloc(na * ns, 1)
        self.margin_bps = <int64_t *>calloc(ns, sizeof(int64_t))
        self.collar_bps = <int64_t *>calloc(ns, sizeof(int64_t))
        self.require_ref = <uint8_t *>calloc(ns, 1)
        self.restricted = <uint8_t *>calloc(ns, 1)
        self.cod = <uint8_t *>calloc(self.n_sessions, 1)
        self.ref_px = <int64_t *>calloc(ns, sizeof(int64_t))
        self.accts = <Agg *>calloc(na, sizeof(Agg))
        self.firms = <Agg *>calloc(nf, sizeof(Agg))
        # Cell rows padded to an odd number of cache lines: with a power-of-two max_symbols, rows
        # a whole number of pages apart would all map to the same few cache sets (4 KiB aliasing).
        self.cell_stride = ns + 1 if ns % 2 == 0 else ns
        self.cells = <Cell *>tw_table_alloc(<size_t>na * self.cell_stride * sizeof(Cell))
        self.orders = <OrderEntry *>tw_table_alloc(self.ot_cap * sizeof(OrderEntry))
        if (not self.acct_limits or not self.firm_limits or not self.perm or not self.margin_bps
                or not self.collar_bps or not self.require_ref or not self.restricted or not self.cod
                or not self.ref_px or not self.accts or not self.firms or not self.cells or not self.orders):
            raise MemoryError("risk tables")
        self._configure(config)
        self.config = config

    def __dealloc__(self):
        free(self.acct_limits); free(self.firm_limits); free(self.perm); free(self.margin_bps)
        free(self.collar_bps); free(self.require_ref); free(self.restricted); free(self.cod)
        free(self.ref_px); free(self.accts); free(self.firms); free(self.cells); free(self.orders)

    @classmethod
    def from_toml(cls, path):
        """RiskEngine configured from a RISK.toml file."""
        from engine.riskconfig import RiskConfig
        return cls(RiskConfig.from_toml(path))

    def _configure(self, config):
        cdef uint32_t a, f, s
        cdef uint8_t bits
        for a in range(self.n_accounts):
            self._set_limits(&self.acct_limits[a], config.account_defaults)
            bits = PERM_BUY | PERM_SELL | (PERM_SHORT if config.default_allow_short else 0)
            memset(&self.perm[a * self.n_symbols], bits, self.n_symbols)
        for f in range(self.n_firms):
            self._set_limits(&self.firm_limits[f], config.firm_defaults)
        for f, lim in config.firms.items():
            self._set_limits(&self.firm_limits[f], lim)
            self.firms[f].configured = 1
            self.firms[f].killed = 1 if config.firm_kill.get(f) else 0
        sd = config.symbol_defaults
        for s in range(self.n_symbols):
            self.margin_bps[s] = sd.margin_bps
            self.collar_bps[s] = sd.collar_bps
            self.require_ref[s] = sd.require_reference
            self.restricted[s] = sd.restricted
        for s, sc in config.symbols.items():
            self.margin_bps[s] = sc.margin_bps
            self.collar_bps[s] = sc.collar_bps
            self.require_ref[s] = sc.require_reference
            self.restricted[s] = sc.restricted
            self.ref_px[s] = sc.reference_price
        for a, ac in config.accounts.items():
            self._set_limits(&self.acct_limits[a], ac.limits)
            self.accts[a].configured = 1
            self.accts[a].firm = ac.firm
            self.accts[a].killed = ac.kill
            bits = PERM_BUY | PERM_SELL | (PERM_SHORT if ac.allow_short else 0)
            if ac.symbols is not None:
                memset(&self.perm[a * self.n_symbols], 0, self.n_symbols)
                for s in ac.symbols:
                    self.perm[a * self.n_symbols + s] = bits
            else:
                memset(&self.perm[a * self.n_symbols], bits, self.n_symbols)
            for s, b in ac.permissions.items():
                self.perm[a * self.n_symbols + s] = b
        for s in range(self.n_sessions):
            self.cod[s] = config.cod_default
        for s, flag in config.sessions.items():
            self.cod[s] = flag

    cdef void _set_limits(self, Limits *L, lim):
        L.max_order_qty = lim.max_order_qty
        L.max_order_notional = lim.max_order_notional
        L.max_open_orders = lim.max_open_orders
        L.max_net_position = lim.max_net_position
        L.max_gross_position = lim.max_gross_position
        L.buying_power = lim.buying_power
        L.concentration_bps = lim.concentration_bps
        L.concentration_min_gross = lim.concentration_min_gross
        L.order_interval_ns = lim.order_interval_ns
        L.order_tolerance_ns = lim.order_tolerance_ns
        L.msg_interval_ns = lim.msg_interval_ns
        L.msg_tolerance_ns = lim.msg_tolerance_ns

    # ------------------------------------------------------------ order table ----
    cdef void prefetch(self, const Command *c) noexcept nogil:
        cdef uint32_t a = c.account_id, s = c.symbol_id
        cdef uint8_t act = c.action
        if act != ACT_NEW and act != ACT_CANCEL and act != ACT_MODIFY:
            return
        if c.order_id != 0:
            _prefetch_slot(self, c.order_id)
        if act == ACT_NEW and a < self.n_accounts and s < self.n_symbols:
            tw_prefetch(&self.cells[<uint64_t>a * self.cell_stride + s])   # (account rows: mostly cached)
            tw_prefetch(&self.perm[<uint64_t>a * self.n_symbols + s])      # (a 64 KiB table: an L1 miss)

    cdef void prefetch_events(self, const Event *evs, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t i
        cdef const Event *ev
        cdef uint32_t s
        for i in range(n):
            ev = &evs[i]
            s = ev.symbol_id
            if ev.kind == EV_FILL:
                if ev.maker_order_id != 0:
                    _prefetch_slot(self, ev.maker_order_id)
                if s < self.n_symbols:
                    if ev.maker_account_id < self.n_accounts:
                        tw_prefetch(&self.cells[<uint64_t>ev.maker_account_id * self.cell_stride + s])
                    if ev.account_id < self.n_accounts:
                        tw_prefetch(&self.cells[<uint64_t>ev.account_id * self.cell_stride + s])
            elif ev.kind == EV_CANCEL or ev.kind == EV_EXPIRE:
                _prefetch_slot(self, ev.order_id)
                if s < self.n_symbols and ev.account_id < self.n_accounts:
                    tw_prefetch(&self.cells[<uint64_t>ev.account_id * self.cell_stride + s])

    cdef OrderEntry *_insert(self, uint64_t order_id) noexcept nogil:
        """New entry for an id not in the table (the caller checked); NULL when full."""
        cdef OrderEntry *slot = NULL
        if _ot_probe(self, order_id, &slot) != NULL:   # (contract broken: never add a second entry)
            return NULL
        return _ot_claim(self, slot, order_id)       # the first tombstone on the chain, else its empty slot

    cdef void _purge_done(self) noexcept nogil:
        """End of day: keep only pending/open entries (done ids may be reused tomorrow)."""
        cdef uint64_t i, h, mask = self.ot_cap - 1, n = 0
        cdef OrderEntry *old = self.orders
        cdef OrderEntry *nw = <OrderEntry *>tw_table_alloc(self.ot_cap * sizeof(OrderEntry))
        if nw == NULL:
            return                      # keep the old table: only duplicate detection stays stricter
        for i in range(self.ot_cap):
            if old[i].state == OE_PENDING or old[i].state == OE_OPEN:
                h = tw_order_slot(old[i].order_id) & mask
                while nw[h].state != OE_EMPTY:
                    h = (h + 1) & mask
                nw[h] = old[i]
                n += 1
        self.orders = nw
        self.ot_used = n
        self.hint = NULL
        self.ck_entry = NULL
        free(old)

    # ------------------------------------------------------------ exposure ----
    cdef void set_reference(self, uint32_t symbol, int64_t price) noexcept nogil:
        cdef uint32_t a
        cdef Cell *c
        if symbol >= self.n_symbols or price <= 0:
            return
        self.ref_px[symbol] = price
        for a in range(self.n_accounts):
            c = &self.cells[<uint64_t>a * self.cell_stride + symbol]
            if c.pos != 0 or c.exposure != 0:
                _recompute_c(self, a, symbol)

    # ------------------------------------------------------------ check ----
    cdef int check(self, const Command *c) noexcept nogil:
        cdef Agg *A
        cdef Agg *F
        cdef Limits *AL
        cdef Limits *FL
        cdef uint32_t a = c.account_id, firm
        cdef OrderEntry *e
        cdef int rc
        cdef uint8_t act = c.action
        self.checked += 1
        if tw_unlikely(act < ACT_NEW or act > ACT_MASS_CANCEL):
            # Control actions (not account messages; NEW / CANCEL / MODIFY / MASS_CANCEL are 1..4).
            if act == ACT_SET_REFERENCE_PRICE:
                self.set_reference(c.symbol_id, c.price)
                if self.positions is not None:
                    self.positions.set_mark_c(c.symbol_id, c.price)
                return RISK_OK
            if act == ACT_END_OF_DAY:
                self._purge_done()
                return RISK_OK
            if act == ACT_CLOCK:
                return RISK_OK
            if act == ACT_KILL_SWITCH:
                if c.firm_id != 0:
                    if c.firm_id >= self.n_firms:
                        return self._rej(RISK_UNKNOWN_FIRM)
                    self.firms[c.firm_id].killed = 0 if c.flags & FLAG_KILL_RELEASE else 1
                else:
                    if a >= self.n_accounts:
                        return self._rej(RISK_UNKNOWN_ACCOUNT)
                    self.accts[a].killed = 0 if c.flags & FLAG_KILL_RELEASE else 1
                return RISK_OK      # matching cancels the working orders (CR_KILL_SWITCH) unless release / block only
            if act == ACT_SESSION_DISCONNECT:
                if c.session_id < self.n_sessions and not self.cod[c.session_id]:
                    return self._rej(RISK_COD_DISABLED)
                return RISK_OK
            return RISK_OK      # unknown action: matching rejects it with its own code
        # Account messages.
        if tw_unlikely(a >= self.n_accounts):
            return self._rej(RISK_UNKNOWN_ACCOUNT)
        A = &self.accts[a]
        if self.strict_accounts and not A.configured:
            return self._rej(RISK_UNKNOWN_ACCOUNT)
        if A.configured:    # bit 1: configured, bit 2: firm fixed by the first command
            firm = A.firm
            if c.firm_id != 0 and c.firm_id != firm and act != ACT_CANCEL and act != ACT_MASS_CANCEL:
                return self._rej(RISK_FIRM_MISMATCH)   # cancels pass: they only reduce risk
        else:
            firm = c.firm_id
            if tw_unlikely(firm >= self.n_firms):
                return self._rej(RISK_UNKNOWN_FIRM)
            A.firm = firm   # an unconfigured account belongs to the firm of its first command
            A.configured = 2
        F = &self.firms[firm]
        AL = &self.acct_limits[a]
        FL = &self.firm_limits[firm]
        if not _gcra(&A.msg_tat, c.ts_ns, AL.msg_interval_ns, AL.msg_tolerance_ns):
            return self._rej(RISK_MESSAGE_RATE)
        if not _gcra(&F.msg_tat, c.ts_ns, FL.msg_interval_ns, FL.msg_tolerance_ns):
            return self._rej(RISK_FIRM_MESSAGE_RATE)
        if act == ACT_CANCEL or act == ACT_MASS_CANCEL:
            return RISK_OK      # cancels always go through (they only reduce risk)
        if A.killed or F.killed:
            return self._rej(RISK_KILL_SWITCH)
        e = NULL
        if act == ACT_MODIFY:
            e = _ot_lookup(self, c.order_id)
            if e == NULL or e.state != OE_OPEN or e.account != a:
                return RISK_OK  # matching answers unknown / not open / not owner
        return _check_order_c(self, c, e, A, F, AL, FL)     # (one call site: inlined here)

    cdef int _rej(self, int code) noexcept nogil:
        self.rejected += 1
        self.rej_counts[-code - 100 if code != RC_DUPLICATE_ORDER_ID else RISK_DUP_SLOT] += 1
        return code

    # ------------------------------------------------------------ events ----
    cdef void on_event(self, const Event *ev) noexcept nogil:
        cdef OrderEntry *e
        cdef uint8_t k = ev.kind
        cdef Agg *A
        cdef Cell *c
        cdef uint32_t s = ev.symbol_id
        if k == EV_ACK:
            e = _ot_lookup(self, ev.order_id)
            if e == NULL:       # an order risk did not see (risk attached late): follow it anyway
                if ev.account_id >= self.n_accounts or s >= self.n_symbols:
                    return
                e = self._insert(ev.order_id)
                if e == NULL:
                    return
                self.hint = e
                self.ck_entry = NULL                    # (the slot may be the remembered one's)
                e.px = ev.price if ev.price > 0 else self.ref_px[s]
                e.account = ev.account_id
                e.symbol = s
                e.side = ev.side
                e.state = OE_PENDING
                self.ot_live += 1
            if e.state != OE_PENDING:
                return
            e.state = OE_OPEN
            e.leaves = ev.leaves_qty
            A = &self.accts[e.account]
            A.open_orders += 1
            self.firms[A.firm].open_orders += 1
            c = &self.cells[<uint64_t>e.account * self.cell_stride + e.symbol]
            # Its check computed the cell after it and the metrics: reuse them when provably the same.
            # ck_entry is still this entry only if no cell changed since the check (every cell change
            # ends in _set_metrics, which clears it) and no other order was checked in between; the
            # entry's px / side / account / symbol do not change while it is pending. Left: the
            # leaves must be the checked qty, and the mark the one the check used (no reference
            # price: the check marked at the order's price, _recompute at ref_px).
            if e == self.ck_entry and <int64_t>e.leaves == self.ck_qty and self.ref_px[e.symbol] == self.ck_mark:
                if TW_DEBUG:
                    _ack_debug(self, e, c)
                _wq(c, e.side)[0] = self.ck_wq
                _wn(c, e.side)[0] = self.ck_wn
                _set_metrics(self, c, e.account, self.ck_w, self.ck_x, self.ck_m)
            else:
                _work_c(self, e, e.leaves)
                _recompute_c(self, e.account, e.symbol)
        elif k == EV_FILL:
            if s < self.n_symbols and ev.price > 0:
                self.ref_px[s] = ev.price               # last trade: mark and collar reference
            _fill_side_c(self, ev.order_id, ev.account_id, s, ev.side, ev.qty, ev.leaves_qty, False)
            _fill_side_c(self, ev.maker_order_id, ev.maker_account_id, s,
                            SIDE_SELL if ev.side == SIDE_BUY else SIDE_BUY, ev.qty, ev.maker_leaves_qty, True)
        elif k == EV_CANCEL or k == EV_EXPIRE:
            e = _ot_lookup(self, ev.order_id)
            if e != NULL and e.state == OE_OPEN:
                _work_c(self, e, -(<int64_t>e.leaves - <int64_t>ev.leaves_qty))
                e.leaves = ev.leaves_qty
                if e.leaves == 0:
                    _close_c(self, e)
                _recompute_c(self, e.account, e.symbol)
        elif k == EV_MODIFY_ACK:
            e = _ot_lookup(self, ev.order_id)
            if e != NULL and e.state == OE_OPEN:
                _work_c(self, e, -<int64_t>e.leaves)
                if ev.price > 0:
                    e.px = ev.price
                e.leaves = ev.leaves_qty
                _work_c(self, e, e.leaves)
                if e.leaves == 0:
                    _close_c(self, e)
                _recompute_c(self, e.account, e.symbol)
        elif k == EV_REJECT:
            e = _ot_lookup(self, ev.order_id)
            if e != NULL and e.state == OE_PENDING and ev.reason != RC_DUPLICATE_ORDER_ID:
                e.state = OE_TOMB                       # the id stays free, as matching never used it
                self.ot_live -= 1

    # ------------------------------------------------------------ Python API ----
    def check_command(self, cmd):
        """Check one command (a ``COMMAND_DTYPE`` scalar or 1-element array); returns the code."""
        from messaging.records import COMMAND_DTYPE
        arr = np.ascontiguousarray(np.asarray(cmd, dtype=COMMAND_DTYPE).reshape(-1))
        cdef const uint8_t[::1] raw = arr.view(np.uint8)
        return self.check(<const Command *>&raw[0])

    def on_events(self, events):
        """Feed an ``EVENT_DTYPE`` array (events of the matching engine, in order)."""
        from messaging.records import EVENT_DTYPE
        arr = np.ascontiguousarray(np.asarray(events, dtype=EVENT_DTYPE).reshape(-1))
        if arr.shape[0] == 0:
            return
        cdef const uint8_t[::1] raw = arr.view(np.uint8)
        cdef Py_ssize_t i, n = arr.shape[0]
        cdef const Event *p = <const Event *>&raw[0]
        with nogil:
            for i in range(n):
                self.on_event(&p[i])

    def run(self, matching, cmds, reject_events=True):
        """Standalone pipeline without the loop: risk.check -> matching.process -> risk.on_events.

        Each command first advances matching's clock (GTD expiries due by its ``ts_ns``), as
        ``EngineLoop`` does. Returns ``(codes int32[n], events EVENT_DTYPE)``; risk rejects appear as matching-style
        reject events (``matching.emit_reject`` semantics) when ``reject_events``.
        """
        from messaging.records import COMMAND_DTYPE, EVENT_DTYPE
        arr = np.ascontiguousarray(np.asarray(cmds, dtype=COMMAND_DTYPE).reshape(-1))
        codes = np.zeros(arr.shape[0], np.int32)
        out = []
        for i in range(arr.shape[0]):
            evs = matching.advance_clock(arr[i:i + 1])     # GTD expiries due first, as in the loop
            if len(evs):
                self.on_events(evs)
                out.append(evs)
            rc = self.check_command(arr[i:i + 1])
            codes[i] = rc
            if rc == 0:
                evs = matching.process(arr[i:i + 1])
                self.on_events(evs)
                out.append(evs)
            elif reject_events:
                out.append(_reject_event(arr[i], rc))
        events = np.concatenate(out) if out else np.zeros(0, EVENT_DTYPE)
        return codes, events

    # Every account / firm / symbol id from Python is checked (engine.tableids.TableIdError) before it
    # indexes a table.
    def _account_id(self, a):
        return table_id(a, self.n_accounts, "account", "max_accounts")

    def _firm_id(self, f):
        return table_id(f, self.n_firms, "firm", "max_firms")

    def _symbol_id(self, s):
        return table_id(s, self.n_symbols, "symbol", "max_symbols")

    def set_reference_price(self, symbol, int64_t price):
        """Reference price from market data (BBO / last sale); also the mark of the attached
        ``positions``, as ACT_SET_REFERENCE_PRICE. Not journaled: for exact replay send
        ACT_SET_REFERENCE_PRICE commands instead."""
        cdef uint32_t s = self._symbol_id(symbol)
        self.set_reference(s, price)
        if self.positions is not None:
            self.positions.set_mark_c(s, price)

    def reference_price(self, symbol):
        return self.ref_px[<uint32_t>self._symbol_id(symbol)]

    def kill(self, account=None, firm=None, bint on=True, *, bint cancel=True, loop=None):
        """Operator kill switch of an account and / or a firm: by default it cancels their open
        orders and blocks new orders and modifies (cancels still pass), as ACT_KILL_SWITCH does.

        Cancelling orders is matching's part, so the switch is engaged by running ACT_KILL_SWITCH
        through ``loop`` (the EngineLoop this engine is the risk hook of), numbered after its last
        command (seq = ``loop.last_seq + 1``, ts_ns = the engine clock) and journaled with the rest,
        so a replay reproduces it. Call it between batches, from the thread that runs the loop; where a
        sequencer numbers the commands, send the command through it instead.

        Parameters
        ----------
        account, firm : ids to switch (both: two commands, firm first). Firm 0 is the no-firm id of
            commands and can only be switched without ``loop``.
        on : False releases the switch; nothing is cancelled.
        cancel : False engages without cancelling (block only: ``FLAG_KILL_BLOCK_ONLY`` on the command).
        loop : the EngineLoop. Without it only a release or a block-only engage is possible, and it
            sets risk's latch directly (not journaled).

        Returns
        -------
        The events of the commands run through ``loop`` (EVENT_DTYPE; empty without ``loop``).

        Raises
        ------
        TableIdError (a ValueError) for an id outside the tables; ValueError when cancelling without
        ``loop``, for a ``loop`` whose risk hook is another engine, and for firm 0 with ``loop``.
        """
        from messaging.records import COMMAND_DTYPE, EVENT_DTYPE
        f = self._firm_id(firm) if firm is not None else None
        a = self._account_id(account) if account is not None else None
        if loop is None:
            if on and cancel:
                raise ValueError("kill() cancels the open orders through the engine loop: pass loop=, "
                                 "or cancel=False to block new orders only")
            if f is not None:
                self.firms[<uint32_t>f].killed = on
            if a is not None:
                self.accts[<uint32_t>a].killed = on
            return np.zeros(0, EVENT_DTYPE)
        hook = loop.risk
        if hook is not self and getattr(hook, "risk", None) is not self:
            raise ValueError("kill(loop=...): that loop's risk hook is not this RiskEngine")
        if f == 0:
            raise ValueError("kill(firm=0, loop=...): firm_id 0 selects the account on ACT_KILL_SWITCH")
        cmds = np.zeros((f is not None) + (a is not None), COMMAND_DTYPE)
        cmds["seq"] = loop.last_seq + 1 + np.arange(len(cmds))
        cmds["ts_ns"] = loop.engine.clock_ns
        cmds["action"] = ACT_KILL_SWITCH
        cmds["flags"] = 0 if on and cancel else (FLAG_KILL_BLOCK_ONLY if on else FLAG_KILL_RELEASE)
        if f is not None:
            cmds["firm_id"][0] = f
        if a is not None:
            cmds["account_id"][len(cmds) - 1] = a
        return loop.run_all(cmds)

    def account(self, a):
        """Aggregates of an account: open_orders, gross_qty, gross_notional, margin, firm, killed."""
        return _agg_dict(&self.accts[<uint32_t>self._account_id(a)])

    def firm(self, f):
        return _agg_dict(&self.firms[<uint32_t>self._firm_id(f)])

    def cell(self, account, symbol):
        """Per account and symbol: pos, working buy/sell qty and notional, worst_qty, exposure, margin."""
        cdef uint32_t a = self._account_id(account), s = self._symbol_id(symbol)
        cdef Cell *c = &self.cells[<uint64_t>a * self.cell_stride + s]
        return {"pos": c.pos, "buy_qty": c.buy_qty, "sell_qty": c.sell_qty, "buy_notional": c.buy_notional,
                "sell_notional": c.sell_notional, "worst_qty": c.worst_qty, "exposure": c.exposure,
                "margin": c.margin}

    def order(self, uint64_t order_id):
        """Risk's view of an order or None: state, account, symbol, side, px, leaves, filled."""
        cdef OrderEntry *e = _ot_find(self, order_id)
        if e == NULL:
            return None
        names = {OE_PENDING: "pending", OE_OPEN: "open", OE_DONE: "done"}
        return {"state": names.get(e.state, str(e.state)), "account": e.account, "symbol": e.symbol,
                "side": e.side, "px": e.px, "leaves": e.leaves, "filled": e.filled}

    def limits(self, a):
        """An account's limits (engine units, INT64_MAX = unlimited)."""
        return dict(self.acct_limits[<uint32_t>self._account_id(a)])

    def reject_counts(self):
        """{NAME: count} of the rejects so far."""
        cdef int idx
        out = {}
        for code, (name, _) in [*CODES.items(), (RC_DUPLICATE_ORDER_ID, _records.CODES[RC_DUPLICATE_ORDER_ID])]:
            idx = -code - 100 if code != RC_DUPLICATE_ORDER_ID else RISK_DUP_SLOT
            if self.rej_counts[idx]:
                out[name] = int(self.rej_counts[idx])
        return out

    def dump_state(self):
        """Mutable state as bytes (snapshots): references, aggregates, cells, order table, counters."""
        import struct
        hdr = struct.pack("<8sIIIIIQQQQQ", b"TWRISK01", STATE_VERSION, self.n_accounts, self.n_firms,
                          self.n_symbols, self.n_sessions, self.ot_cap, self.ot_used, self.ot_live,
                          self.checked, self.rejected)
        parts = [hdr,
                 (<char *>self.ref_px)[:self.n_symbols * sizeof(int64_t)],
                 (<char *>self.accts)[:self.n_accounts * sizeof(Agg)],
                 (<char *>self.firms)[:self.n_firms * sizeof(Agg)],
                 self._cells_bytes(),
                 (<char *>self.rej_counts)[:sizeof(self.rej_counts)]]
        # order table: only the used slots (index, entry), the table is mostly empty
        cdef Py_ssize_t state_off = <char *>&self.orders[0].state - <char *>&self.orders[0]
        idx = np.flatnonzero(np.frombuffer((<char *>self.orders)[:self.ot_cap * sizeof(OrderEntry)],
                                           np.uint8).reshape(self.ot_cap, sizeof(OrderEntry))[:, state_off])
        parts.append(struct.pack("<Q", len(idx)))
        for i in idx:
            parts.append(struct.pack("<Q", i) + (<char *>&self.orders[<uint64_t>i])[:sizeof(OrderEntry)])
        return b"".join(parts)

    def load_state(self, bytes data):
        """Restore ``dump_state`` output into an engine built with the same configuration."""
        import struct
        cdef Py_ssize_t off
        cdef uint64_t cnt, i, slot
        magic, ver, na, nf, ns, nse, cap, used, live, checked, rejected = struct.unpack_from(
            "<8sIIIIIQQQQQ", data, 0)
        if magic != b"TWRISK01" or ver != STATE_VERSION:
            raise ValueError("not a risk state (bad magic / version)")
        if (na, nf, ns, nse, cap) != (self.n_accounts, self.n_firms, self.n_symbols, self.n_sessions, self.ot_cap):
            raise ValueError("risk state sizes differ from this engine's configuration")
        off = struct.calcsize("<8sIIIIIQQQQQ")
        off = _copy_in(<char *>self.ref_px, data, off, self.n_symbols * sizeof(int64_t))
        off = _copy_in(<char *>self.accts, data, off, self.n_accounts * sizeof(Agg))
        off = _copy_in(<char *>self.firms, data, off, self.n_firms * sizeof(Agg))
        for i in range(self.n_accounts):         # rows of n_symbols cells (the table's padding is not state)
            off = _copy_in(<char *>&self.cells[i * self.cell_stride], data, off, self.n_symbols * sizeof(Cell))
        off = _copy_in(<char *>self.rej_counts, data, off, sizeof(self.rej_counts))
        memset(self.orders, 0, self.ot_cap * sizeof(OrderEntry))
        self.hint = NULL
        self.ck_entry = NULL
        cnt = struct.unpack_from("<Q", data, off)[0]
        off += 8
        for i in range(cnt):
            slot = struct.unpack_from("<Q", data, off)[0]
            off = _copy_in(<char *>&self.orders[slot], data, off + 8, sizeof(OrderEntry))
        self.ot_used, self.ot_live, self.checked, self.rejected = used, live, checked, rejected

    def validate_internal_state(self):
        """Check every derived number against its source; raises AssertionError naming the first violation.

        Account aggregates = sums of their cells; firm aggregates = sums of their accounts; per cell
        the working quantities and notional = sums over the open orders in the order table; open-order
        counts; live entries.
        """
        na, nf, ns = self.n_accounts, self.n_firms, self.n_symbols
        cells = np.frombuffer(self._cells_bytes(), CELL_DTYPE).reshape(na, ns)
        accts = np.frombuffer((<char *>self.accts)[:na * sizeof(Agg)], AGG_DTYPE)
        firms = np.frombuffer((<char *>self.firms)[:nf * sizeof(Agg)], AGG_DTYPE)
        orders = np.frombuffer((<char *>self.orders)[:self.ot_cap * sizeof(OrderEntry)], ORDER_ENTRY_DTYPE)
        for k_cell, k_agg in (("worst_qty", "gross_qty"), ("exposure", "gross_notional"), ("margin", "margin")):
            bad = np.flatnonzero(cells[k_cell].sum(axis=1) != accts[k_agg])
            assert not len(bad), f"account {bad[0]}: {k_agg} != sum of cells' {k_cell}"
            for f in range(nf):
                want = accts[k_agg][accts["firm"] == f].sum()
                assert firms[k_agg][f] == want, f"firm {f}: {k_agg} {firms[k_agg][f]} != {want}"
        op = orders[orders["state"] == OE_OPEN]
        assert int(self.ot_live) == len(op) + int((orders["state"] == OE_PENDING).sum()), "ot_live"
        assert int(self.ot_used) == int((orders["state"] != OE_EMPTY).sum()), "ot_used"
        opens = np.bincount(op["account"], minlength=na)
        assert (opens == accts["open_orders"]).all(), f"account open_orders {accts['open_orders']} != {opens}"
        for f in range(nf):
            assert firms["open_orders"][f] == accts["open_orders"][accts["firm"] == f].sum(), f"firm {f} open_orders"
        for side, q, n in ((SIDE_BUY, "buy_qty", "buy_notional"), (SIDE_SELL, "sell_qty", "sell_notional")):
            o = op[op["side"] == side]
            wq = np.zeros((na, ns), np.int64)
            wn = np.zeros((na, ns), np.int64)
            np.add.at(wq, (o["account"], o["symbol"]), o["leaves"].astype(np.int64))
            np.add.at(wn, (o["account"], o["symbol"]), o["leaves"].astype(np.int64) * o["px"])
            bad = np.argwhere(wq != cells[q])
            assert not len(bad), f"cell {tuple(bad[0])}: {q} {cells[q][tuple(bad[0])]} != open orders' {wq[tuple(bad[0])]}"
            bad = np.argwhere(wn != cells[n])
            assert not len(bad), f"cell {tuple(bad[0])}: {n} != open orders' leaves x px"
        return True

    def _cells_bytes(self):
        """The cells as one [n_accounts x n_symbols] blob (without the rows' padding cell)."""
        cdef uint64_t a, row = self.n_symbols * sizeof(Cell)
        return b"".join([(<char *>&self.cells[a * self.cell_stride])[:row] for a in range(self.n_accounts)])

    def state_digest(self):
        """CRC32C of ``dump_state()`` (equal digests = identical risk state)."""
        d = self.dump_state()
        return tw_crc32c(0, <const char *>d, len(d))


cdef Py_ssize_t _copy_in(char *dst, bytes data, Py_ssize_t off, Py_ssize_t n) except -1:
    if off + n > len(data):
        raise ValueError("risk state truncated")
    memcpy(dst, (<const char *>data) + off, n)
    return off + n


cdef dict _agg_dict(Agg *g):
    return {"open_orders": g.open_orders, "gross_qty": g.gross_qty, "gross_notional": g.gross_notional,
            "margin": g.margin, "firm": g.firm, "killed": bool(g.killed)}


def _reject_event(cmd, int code):
    """The reject event a loop would emit for ``cmd`` (reject / modify_reject / cancel_reject)."""
    from messaging.records import EVENT_DTYPE
    ev = np.zeros(1, EVENT_DTYPE)
    act = int(cmd["action"])
    ev["kind"] = EV_MODIFY_REJECT if act == ACT_MODIFY else (
        EV_CANCEL_REJECT if act in (ACT_CANCEL, ACT_MASS_CANCEL, ACT_KILL_SWITCH, ACT_SESSION_DISCONNECT)
        else EV_REJECT)
    for f in ("order_id", "seq", "ts_ns", "account_id", "symbol_id", "side", "price", "qty"):
        ev[f] = cmd[f]
    ev["reason"] = code
    return ev


def load_hook(path, symbols=None, positions=None):
    """RISK.toml -> ``engine.hooks.RiskAdapter`` for ``EngineLoop.risk`` (``tickwire match --risk``).

    ``symbols``: {name: id} used to resolve symbols named in the file; ``positions``: an
    ``engine.positions.Positions`` to forward reference prices to.
    """
    from engine.riskconfig import RiskConfig
    from engine.hooks import RiskAdapter
    risk = RiskEngine(RiskConfig.from_toml(path, symbols=symbols))
    if positions is not None:
        risk.positions = positions
    return RiskAdapter(risk)
