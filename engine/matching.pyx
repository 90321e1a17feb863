# cython: language_level=3
"""Price-time priority matching engine (see matching.pxd for the data structures, docs/engine.md for semantics)."""
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memset, memmove, memcpy

cimport cython
import numpy as np

from core.compiler cimport tw_likely, tw_unlikely, tw_prefetch, TW_DEBUG
from messaging.records cimport *
from core.tables cimport tw_mix64, tw_table_alloc
from messaging.records import COMMAND_DTYPE, EVENT_DTYPE, code_name


cdef extern from *:
    """
    #include <stdint.h>
    /* First index of sorted a[0..n) whose value is >= x (n when none), without a branch per step: the
       price a new order rests at is a coin toss for the predictor, a mispredicted step costs ~15 cycles. */
    static inline int32_t tw_lower_bound(const int64_t *a, int32_t n, int64_t x) {
        const int64_t *first = a;
        int32_t half;
        if (n <= 0) return 0;
        while (n > 1) {
            half = n >> 1;
            first += (first[half] < x) ? half : 0;   /* a cmov */
            n -= half;
        }
        return (int32_t)(first - a) + (*first < x);
    }
    """
    int32_t tw_lower_bound(const int64_t *a, int32_t n, int64_t x) noexcept nogil


cdef bint _side_init(SideBook *bk, int32_t cap) noexcept nogil:
    bk.key = <int64_t *> malloc(cap * sizeof(int64_t))
    bk.lv = <int32_t *> malloc(cap * sizeof(int32_t))
    bk.n = 0
    bk.cap = cap
    return bk.key != NULL and bk.lv != NULL


cdef bint _side_grow(SideBook *bk) noexcept nogil:
    cdef int64_t *k = <int64_t *> realloc(bk.key, 2 * bk.cap * sizeof(int64_t))
    if k == NULL:
        return False
    bk.key = k
    cdef int32_t *v = <int32_t *> realloc(bk.lv, 2 * bk.cap * sizeof(int32_t))
    if v == NULL:
        return False
    bk.lv = v
    bk.cap *= 2
    return True


cdef bint _stops_init(StopBook *st, int32_t cap) noexcept nogil:
    st.ord = <int32_t *> malloc(cap * sizeof(int32_t))
    st.n = 0
    st.cap = cap
    return st.ord != NULL


cdef bint _stops_grow(StopBook *st) noexcept nogil:
    cdef int32_t *v = <int32_t *> realloc(st.ord, 2 * st.cap * sizeof(int32_t))
    if v == NULL:
        return False
    st.ord = v
    st.cap *= 2
    return True


cdef const Command *command_ptr(object cmds, Py_ssize_t *n) except? NULL:
    """Pointer to the records of a C-contiguous COMMAND_DTYPE array, or of any buffer of packed Commands
    (bytes, memoryview: the caller keeps it alive); n is set to the number of records."""
    if not isinstance(cmds, np.ndarray):
        try:
            mv = memoryview(cmds)
        except TypeError:
            raise TypeError("commands must be a COMMAND_DTYPE array or a buffer of 96-byte Command records") from None
        if mv.nbytes % sizeof(Command):
            raise ValueError(f"buffer of {mv.nbytes} bytes is not a whole number of {sizeof(Command)}-byte commands")
        cmds = np.frombuffer(mv.cast("B") if mv.c_contiguous else mv, COMMAND_DTYPE)
    if cmds.dtype != COMMAND_DTYPE:
        raise TypeError("commands must be a numpy array of messaging.records.COMMAND_DTYPE")
    if not cmds.flags.c_contiguous or cmds.ndim != 1:
        raise ValueError("commands must be a 1-d C-contiguous array")
    n[0] = cmds.shape[0]
    if n[0] == 0:
        return NULL
    cdef const uint8_t[::1] raw = cmds.view(np.uint8)
    return <const Command *> &raw[0]


cdef inline uint32_t _min32(uint32_t a, uint32_t b) noexcept nogil:
    return a if a < b else b


def record_layout():
    """Offsets and sizes of the C records, as compiled (tests compare them with the NumPy dtypes)."""
    cdef Command _c
    cdef Event _e
    return {
        "Command": (sizeof(Command), {
            "order_id": (<char *> &_c.order_id - <char *> &_c), "link_id": (<char *> &_c.link_id - <char *> &_c),
            "seq": (<char *> &_c.seq - <char *> &_c), "price": (<char *> &_c.price - <char *> &_c),
            "stop_price": (<char *> &_c.stop_price - <char *> &_c), "expire_ns": (<char *> &_c.expire_ns - <char *> &_c),
            "ts_ns": (<char *> &_c.ts_ns - <char *> &_c), "qty": (<char *> &_c.qty - <char *> &_c),
            "display_qty": (<char *> &_c.display_qty - <char *> &_c), "account_id": (<char *> &_c.account_id - <char *> &_c),
            "firm_id": (<char *> &_c.firm_id - <char *> &_c), "session_id": (<char *> &_c.session_id - <char *> &_c),
            "symbol_id": (<char *> &_c.symbol_id - <char *> &_c), "action": (<char *> &_c.action - <char *> &_c),
            "side": (<char *> &_c.side - <char *> &_c), "ord_type": (<char *> &_c.ord_type - <char *> &_c),
            "tif": (<char *> &_c.tif - <char *> &_c), "flags": (<char *> &_c.flags - <char *> &_c), "stp": (<char *> &_c.stp - <char *> &_c),
            "reserved": (<char *> &_c.reserved - <char *> &_c)}),
        "Event": (sizeof(Event), {
            "order_id": (<char *> &_e.order_id - <char *> &_e), "maker_order_id": (<char *> &_e.maker_order_id - <char *> &_e),
            "taker_order_id": (<char *> &_e.taker_order_id - <char *> &_e), "seq": (<char *> &_e.seq - <char *> &_e),
            "price": (<char *> &_e.price - <char *> &_e), "ts_ns": (<char *> &_e.ts_ns - <char *> &_e), "qty": (<char *> &_e.qty - <char *> &_e),
            "leaves_qty": (<char *> &_e.leaves_qty - <char *> &_e), "maker_leaves_qty": (<char *> &_e.maker_leaves_qty - <char *> &_e),
            "account_id": (<char *> &_e.account_id - <char *> &_e), "maker_account_id": (<char *> &_e.maker_account_id - <char *> &_e),
            "symbol_id": (<char *> &_e.symbol_id - <char *> &_e), "reason": (<char *> &_e.reason - <char *> &_e),
            "kind": (<char *> &_e.kind - <char *> &_e), "side": (<char *> &_e.side - <char *> &_e), "reserved": (<char *> &_e.reserved - <char *> &_e)}),
    }


@cython.final
cdef class MatchingEngine:
    """Books for every configured symbol, one order pool, one event buffer.

    Parameters
    ----------
    max_orders : capacity of the order pool (open orders at once); NEW beyond it -> POOL_EXHAUSTED.
    max_symbols : symbol ids are 0 .. max_symbols-1.
    expected_ids : order ids expected per day (the id index keeps finished ids until end of day); the
        index is presized for it so it never rehashes mid-session (default: 2 x max_orders).
    event_capacity : initial event buffer (grows by doubling if a command needs more).
    """

    def __cinit__(self, int32_t max_orders=1 << 16, uint32_t max_symbols=1024, uint64_t expected_ids=0,
                  Py_ssize_t event_capacity=4096):
        cdef int32_t i
        if max_orders < 1 or max_symbols < 1:
            raise ValueError("max_orders and max_symbols must be positive")
        self.pool_cap = max_orders
        self.pool = <Order *> tw_table_alloc(<size_t> max_orders * sizeof(Order))
        self.level_cap = max_orders + 1
        self.levels = <Level *> tw_table_alloc(<size_t> self.level_cap * sizeof(Level))
        self.scratch = <int32_t *> malloc(max_orders * sizeof(int32_t))
        self.ix_cap = 1024
        if expected_ids < <uint64_t> max_orders:
            expected_ids = max_orders
        while self.ix_cap < expected_ids * 2:
            self.ix_cap <<= 1
        self.ix = <IxSlot *> tw_table_alloc(self.ix_cap * sizeof(IxSlot))
        self.nsyms = max_symbols
        self.syms = <SymbolBook *> calloc(max_symbols, sizeof(SymbolBook))
        self.heap_cap = 1024
        self.heap = <HeapEntry *> malloc(self.heap_cap * sizeof(HeapEntry))
        self.ev_cap = event_capacity if event_capacity > 16 else 16
        self.evs = <Event *> calloc(self.ev_cap, sizeof(Event))
        if self.evs != NULL:
            memset(self.evs, 0, self.ev_cap * sizeof(Event))   # touch the pages now, not mid-session
        if (self.pool == NULL or self.levels == NULL or self.scratch == NULL or self.ix == NULL
                or self.syms == NULL or self.heap == NULL or self.evs == NULL):
            raise MemoryError()
        for i in range(max_orders):
            self.pool[i].next = i + 1 if i + 1 < max_orders else -1
            self.pool[i].level = -1
        self.free_head = 0
        for i in range(self.level_cap):
            self.levels[i].next_free = i + 1 if i + 1 < self.level_cap else -1
        self.level_free = 0
        self.ghead = -1
        self.gtail = -1
        self.taker = -1
        self.next_arrival = 1

    def __dealloc__(self):
        cdef uint32_t s
        if self.syms != NULL:
            for s in range(self.nsyms):
                free(self.syms[s].bids.key); free(self.syms[s].bids.lv)
                free(self.syms[s].asks.key); free(self.syms[s].asks.lv)
                free(self.syms[s].buy_stops.ord); free(self.syms[s].sell_stops.ord)
        free(self.syms); free(self.pool); free(self.levels); free(self.scratch)
        free(self.ix); free(self.heap); free(self.evs)

    # ------------------------------------------------------------ config ----
    def add_symbol(self, uint32_t symbol_id, int64_t tick=100):
        """Configure ``symbol_id`` with a tick (1e-4 dollars; default 100 = $0.01). Warm-up, not hot path."""
        if symbol_id >= self.nsyms:
            raise ValueError(f"symbol id {symbol_id} >= max_symbols {self.nsyms}")
        if tick <= 0:
            raise ValueError("tick must be positive")
        cdef SymbolBook *sb = &self.syms[symbol_id]
        if sb.configured and tick != sb.tick and (sb.bids.n or sb.asks.n or sb.buy_stops.n or sb.sell_stops.n):
            raise ValueError(f"symbol {symbol_id}: tick cannot change while orders are open")
        sb.tick = tick
        if not sb.configured:
            sb.configured = 1
            _side_init(&sb.bids, 64)
            _side_init(&sb.asks, 64)
            _stops_init(&sb.buy_stops, 16)
            _stops_init(&sb.sell_stops, 16)
            if sb.bids.key == NULL or sb.asks.key == NULL or sb.buy_stops.ord == NULL or sb.sell_stops.ord == NULL:
                raise MemoryError()

    # ------------------------------------------------------------ events ----
    cdef Event *_ev(self, uint8_t kind) noexcept nogil:
        cdef Event *e
        cdef Event *grown
        if tw_unlikely(self.ev_n == self.ev_cap):
            grown = <Event *> realloc(self.evs, 2 * self.ev_cap * sizeof(Event))
            if grown == NULL:
                # cannot happen in practice; keep the last slot as a sink rather than write out of bounds
                self.oom = 1
                e = &self.evs[self.ev_n - 1]
                memset(e, 0, sizeof(Event))
                e.kind = kind
                return e
            self.evs = grown
            self.ev_cap *= 2
        e = &self.evs[self.ev_n]
        self.ev_n += 1
        memset(e, 0, sizeof(Event))
        e.kind = kind
        e.seq = self.cur.seq
        e.ts_ns = self.cur.ts_ns
        return e

    cdef void _ev_order(self, uint8_t kind, Order *o, uint32_t qty, int reason) noexcept nogil:
        cdef Event *e = self._ev(kind)
        e.order_id = o.order_id
        e.account_id = o.account
        e.symbol_id = o.symbol
        e.side = o.side
        e.price = o.price
        e.qty = qty
        e.leaves_qty = o.leaves
        e.reason = <int16_t> reason

    cdef void emit_reject(self, const Command *c, int code) noexcept nogil:
        cdef uint8_t kind = EV_REJECT
        if c.action == ACT_CANCEL or c.action == ACT_MASS_CANCEL:
            kind = EV_CANCEL_REJECT
        elif c.action == ACT_MODIFY:
            kind = EV_MODIFY_REJECT
        cdef Event *e = self._ev(kind)
        e.order_id = c.order_id
        e.account_id = c.account_id
        e.symbol_id = c.symbol_id
        e.side = c.side
        e.price = c.price
        e.qty = c.qty
        e.reason = <int16_t> code
        self.n_rejects += 1

    cdef void prefetch(self, const Command *c) noexcept nogil:
        tw_prefetch(&self.ix[tw_mix64(c.order_id) & (self.ix_cap - 1)])

    cdef Event *event_ptr(self, Py_ssize_t i) noexcept nogil:
        return &self.evs[i]

    cdef Py_ssize_t event_count(self) noexcept nogil:
        return self.ev_n

    cdef void clear_events(self) noexcept nogil:
        self.ev_n = 0

    # ------------------------------------------------------------- index ----
    cdef int32_t _ix_get(self, uint64_t oid) noexcept nogil:
        cdef uint64_t mask = self.ix_cap - 1
        cdef uint64_t h = tw_mix64(oid) & mask
        cdef uint64_t k
        while True:
            k = self.ix[h].key
            if k == oid:
                return self.ix[h].val
            if k == 0:
                return IDX_NONE
            h = (h + 1) & mask

    cdef void _ix_set(self, uint64_t oid, int32_t val) noexcept nogil:
        """Insert or overwrite; a live order learns its slot (ix_slot) so finishing it needs no probe."""
        cdef uint64_t mask = self.ix_cap - 1
        cdef uint64_t h = tw_mix64(oid) & mask
        cdef uint64_t k
        while True:
            k = self.ix[h].key
            if k == oid:
                break
            if k == 0:
                self.ix[h].key = oid
                self.ix_used += 1
                break
            h = (h + 1) & mask
        self.ix[h].val = val
        if val >= 0:
            self.pool[val].ix_slot = h
        if tw_unlikely(self.ix_used * 2 > self.ix_cap):
            self._ix_rebuild(self.ix_cap * 2, 0)

    cdef void _ix_rebuild(self, uint64_t cap, bint drop_done) noexcept nogil:
        # growth (rare, amortised) and the end-of-day purge of DONE ids
        cdef IxSlot *old = self.ix
        cdef uint64_t ocap = self.ix_cap, i, h, mask
        cdef IxSlot *nw = <IxSlot *> tw_table_alloc(cap * sizeof(IxSlot))
        if nw == NULL:
            self.oom = 1
            return
        mask = cap - 1
        self.ix_used = 0
        for i in range(ocap):
            if old[i].key == 0 or (drop_done and old[i].val == IDX_DONE):
                continue
            h = tw_mix64(old[i].key) & mask
            while nw[h].key != 0:
                h = (h + 1) & mask
            nw[h] = old[i]
            if old[i].val >= 0:
                self.pool[old[i].val].ix_slot = h
            self.ix_used += 1
        self.ix = nw
        self.ix_cap = cap
        free(old)

    # -------------------------------------------------------------- pool ----
    cdef int32_t _alloc(self) noexcept nogil:
        cdef int32_t i = self.free_head
        if i >= 0:
            self.free_head = self.pool[i].next
        return i

    cdef void _live_append(self, int32_t i) noexcept nogil:
        cdef Order *o = &self.pool[i]
        o.gprev = self.gtail
        o.gnext = -1
        if self.gtail >= 0:
            self.pool[self.gtail].gnext = i
        else:
            self.ghead = i
        self.gtail = i
        self.live += 1

    cdef void _finish(self, int32_t i) noexcept nogil:
        """Order done: out of the live list, id marked DONE, slot back on the free list."""
        cdef Order *o = &self.pool[i]
        if o.gprev >= 0:
            self.pool[o.gprev].gnext = o.gnext
        else:
            self.ghead = o.gnext
        if o.gnext >= 0:
            self.pool[o.gnext].gprev = o.gprev
        else:
            self.gtail = o.gprev
        self.live -= 1
        self.ix[o.ix_slot].val = IDX_DONE      # the slot is known: no probe (a cache miss) per finish
        o.state = OS_FREE
        o.level = -1
        o.next = self.free_head
        self.free_head = i
        if self.taker == i:
            self.taker = -1

    # ------------------------------------------------------------ levels ----
    cdef SideBook *_side(self, SymbolBook *sb, uint8_t side) noexcept nogil:
        return &sb.bids if side == SIDE_BUY else &sb.asks

    cdef SideBook *_opp(self, SymbolBook *sb, uint8_t side) noexcept nogil:
        return &sb.asks if side == SIDE_BUY else &sb.bids

    cdef void _rest(self, int32_t i) noexcept nogil:
        """Append order i at the back of its price level (creating the level)."""
        cdef Order *o = &self.pool[i]
        cdef SymbolBook *sb = &self.syms[o.symbol]
        cdef SideBook *bk = self._side(sb, o.side)
        cdef int64_t key = o.price if o.side == SIDE_BUY else -o.price
        cdef int32_t lo, li
        cdef Level *L
        # best is at the back and new orders mostly land near it: check the back first
        if bk.n > 0 and bk.key[bk.n - 1] == key:
            li = bk.lv[bk.n - 1]
        else:
            lo = tw_lower_bound(bk.key, bk.n, key)
            if lo < bk.n and bk.key[lo] == key:
                li = bk.lv[lo]
            else:
                if tw_unlikely(bk.n == bk.cap):
                    if not _side_grow(bk):
                        self.oom = 1
                        return
                memmove(&bk.key[lo + 1], &bk.key[lo], (bk.n - lo) * sizeof(int64_t))
                memmove(&bk.lv[lo + 1], &bk.lv[lo], (bk.n - lo) * sizeof(int32_t))
                li = self.level_free
                self.level_free = self.levels[li].next_free
                L = &self.levels[li]
                L.price = o.price
                L.total = 0
                L.count = 0
                L.head = -1
                L.tail = -1
                bk.key[lo] = key
                bk.lv[lo] = li
                bk.n += 1
        L = &self.levels[li]
        o.level = li
        o.state = OS_RESTING
        o.next = -1
        o.prev = L.tail
        if L.tail >= 0:
            self.pool[L.tail].next = i
        else:
            L.head = i
        L.tail = i
        L.count += 1
        L.total += o.leaves

    cdef void _unlink_level(self, int32_t i) noexcept nogil:
        """Take order i out of its level's FIFO (level totals adjusted; empty level removed)."""
        cdef Order *o = &self.pool[i]
        cdef int32_t li = o.level
        cdef Level *L = &self.levels[li]
        if o.prev >= 0:
            self.pool[o.prev].next = o.next
        else:
            L.head = o.next
        if o.next >= 0:
            self.pool[o.next].prev = o.prev
        else:
            L.tail = o.prev
        L.count -= 1
        L.total -= o.leaves
        o.level = -1
        o.prev = -1
        o.next = -1
        if L.count == 0:
            self._drop_level(o.symbol, o.side, li)

    cdef void _drop_level(self, uint32_t symbol, uint8_t side, int32_t li) noexcept nogil:
        cdef SideBook *bk = self._side(&self.syms[symbol], side)
        cdef Level *L = &self.levels[li]
        cdef int64_t key = L.price if side == SIDE_BUY else -L.price
        cdef int32_t lo
        if bk.n > 0 and bk.lv[bk.n - 1] == li:
            lo = bk.n - 1
        else:
            lo = tw_lower_bound(bk.key, bk.n, key)
        memmove(&bk.key[lo], &bk.key[lo + 1], (bk.n - lo - 1) * sizeof(int64_t))
        memmove(&bk.lv[lo], &bk.lv[lo + 1], (bk.n - lo - 1) * sizeof(int32_t))
        bk.n -= 1
        L.next_free = self.level_free
        self.level_free = li

    # ------------------------------------------------------------- stops ----
    cdef bint _stop_before(self, Order *a, Order *b) noexcept nogil:
        # True when a triggers before b (same side)
        if a.stop_price != b.stop_price:
            return a.stop_price < b.stop_price if a.side == SIDE_BUY else a.stop_price > b.stop_price
        return a.arrival < b.arrival

    cdef bint _stop_add(self, int32_t i) noexcept nogil:
        cdef Order *o = &self.pool[i]
        cdef SymbolBook *sb = &self.syms[o.symbol]
        cdef StopBook *st = &sb.buy_stops if o.side == SIDE_BUY else &sb.sell_stops
        cdef int32_t lo = 0, hi = st.n, mid
        if st.n == st.cap:
            if not _stops_grow(st):
                self.oom = 1
                return False
        # array sorted so that the next to trigger is at the back: element before o iff o triggers before it
        while lo < hi:
            mid = (lo + hi) >> 1
            if self._stop_before(o, &self.pool[st.ord[mid]]):
                lo = mid + 1
            else:
                hi = mid
        memmove(&st.ord[lo + 1], &st.ord[lo], (st.n - lo) * sizeof(int32_t))
        st.ord[lo] = i
        st.n += 1
        o.state = OS_STOP
        return True

    cdef void _stop_remove(self, int32_t i) noexcept nogil:
        cdef Order *o = &self.pool[i]
        cdef SymbolBook *sb = &self.syms[o.symbol]
        cdef StopBook *st = &sb.buy_stops if o.side == SIDE_BUY else &sb.sell_stops
        cdef int32_t lo = 0, hi = st.n, mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self._stop_before(o, &self.pool[st.ord[mid]]):
                lo = mid + 1
            else:
                hi = mid
        # lo is the first element o does not trigger before: o itself
        memmove(&st.ord[lo], &st.ord[lo + 1], (st.n - lo - 1) * sizeof(int32_t))
        st.n -= 1

    # ------------------------------------------------------------ cancel ----
    cdef void _remove(self, int32_t i, uint8_t kind, int reason) noexcept nogil:
        """Cancel / expire the open rest of order i (any state), then its OCO partner."""
        cdef Order *o = &self.pool[i]
        cdef uint32_t q = o.leaves
        cdef uint64_t link = o.link_id
        cdef int32_t p
        if o.state == OS_RESTING:
            self._unlink_level(i)
        elif o.state == OS_STOP:
            self._stop_remove(i)
        o.leaves = 0
        o.visible = 0
        self._ev_order(kind, o, q, reason)
        if kind == EV_EXPIRE:
            self.n_expires += 1
        else:
            self.n_cancels += 1
        o.link_id = 0
        self._finish(i)
        if link != 0:
            self._oco_fire(link)

    cdef void _oco_fire(self, uint64_t partner_id) noexcept nogil:
        """The partner of an order that filled or was cancelled: cancel it (or stop it if it is the taker)."""
        cdef int32_t p = self._ix_get(partner_id)
        if p < 0:
            return
        self.pool[p].link_id = 0
        if p == self.taker:
            if self.taker_kill == 0:
                self.taker_kill = CR_OCO
        else:
            self._remove(p, EV_CANCEL, CR_OCO)

    cdef void _mass(self, int mode, uint32_t key, uint32_t symbol, uint8_t side, uint8_t kind, int reason) noexcept nogil:
        """Cancel / expire every live order selected by mode (arrival order): collect first, then act."""
        cdef int32_t i = self.ghead, n = 0, k
        cdef Order *o
        while i >= 0:
            o = &self.pool[i]
            if mode == 0:      # account (+ symbol, side filters)
                if o.account == key and (symbol == SYMBOL_ANY or o.symbol == symbol) and (side == 0 or o.side == side):
                    self.scratch[n] = i; n += 1
            elif mode == 1:    # session
                if o.session == key:
                    self.scratch[n] = i; n += 1
            elif mode == 2:    # firm
                if o.firm == key:
                    self.scratch[n] = i; n += 1
            elif mode == 3:    # DAY orders
                if o.tif == TIF_DAY:
                    self.scratch[n] = i; n += 1
            i = o.gnext
        for k in range(n):
            i = self.scratch[k]
            # an OCO cancel earlier in this pass may have finished (and even reused) the slot
            if self.pool[i].state != OS_FREE and self._ix_get(self.pool[i].order_id) == i:
                self._remove(i, kind, reason)

    cdef void _expire_due(self) noexcept nogil:
        cdef HeapEntry top
        cdef Order *o
        while self.heap_n > 0 and self.heap[0].expire_ns <= self.clock_ns:
            top = self.heap[0]
            self._heap_pop()
            o = &self.pool[top.slot]
            if o.state != OS_FREE and o.arrival == top.arrival:
                self._remove(top.slot, EV_EXPIRE, CR_GTD_EXPIRED)

    cdef bint _heap_less(self, HeapEntry *a, HeapEntry *b) noexcept nogil:
        if a.expire_ns != b.expire_ns:
            return a.expire_ns < b.expire_ns
        return a.arrival < b.arrival

    cdef bint _heap_push(self, int64_t expire_ns, uint64_t arrival, int32_t slot) noexcept nogil:
        cdef HeapEntry *grown
        cdef HeapEntry tmp
        cdef int32_t i, p
        if self.heap_n == self.heap_cap:
            grown = <HeapEntry *> realloc(self.heap, 2 * self.heap_cap * sizeof(HeapEntry))
            if grown == NULL:
                self.oom = 1
                return False
            self.heap = grown
            self.heap_cap *= 2
        i = self.heap_n
        self.heap_n += 1
        self.heap[i].expire_ns = expire_ns
        self.heap[i].arrival = arrival
        self.heap[i].slot = slot
        self.heap[i].pad = 0
        while i > 0:
            p = (i - 1) >> 1
            if self._heap_less(&self.heap[i], &self.heap[p]):
                tmp = self.heap[i]; self.heap[i] = self.heap[p]; self.heap[p] = tmp
                i = p
            else:
                break
        return True

    cdef void _heap_pop(self) noexcept nogil:
        cdef int32_t i = 0, l, r, m
        cdef HeapEntry tmp
        self.heap_n -= 1
        if self.heap_n == 0:
            return
        self.heap[0] = self.heap[self.heap_n]
        while True:
            l = 2 * i + 1
            r = l + 1
            m = i
            if l < self.heap_n and self._heap_less(&self.heap[l], &self.heap[m]):
                m = l
            if r < self.heap_n and self._heap_less(&self.heap[r], &self.heap[m]):
                m = r
            if m == i:
                break
            tmp = self.heap[i]; self.heap[i] = self.heap[m]; self.heap[m] = tmp
            i = m

    # ---------------------------------------------------------- matching ----
    cdef bint _crosses(self, Order *t, Level *L) noexcept nogil:
        if t.ord_type == TYPE_MARKET:
            return True
        return L.price <= t.price if t.side == SIDE_BUY else L.price >= t.price

    cdef void _to_back(self, int32_t i) noexcept nogil:
        """Iceberg refresh: the new slice goes to the back of its level (loses priority)."""
        cdef Order *o = &self.pool[i]
        cdef Level *L = &self.levels[o.level]
        if L.tail == i:
            return
        if o.prev >= 0:
            self.pool[o.prev].next = o.next
        else:
            L.head = o.next
        self.pool[o.next].prev = o.prev
        o.prev = L.tail
        o.next = -1
        self.pool[L.tail].next = i
        L.tail = i

    cdef void _reduce_maker(self, int32_t m, uint32_t q) noexcept nogil:
        """Take q from the maker's visible slice (fill or STP decrement); finish / refresh it."""
        cdef Order *M = &self.pool[m]
        cdef Level *L = &self.levels[M.level]
        M.visible -= q
        M.leaves -= q
        L.total -= q
        if M.leaves == 0:
            self._unlink_level(m)
        elif M.visible == 0:
            M.visible = _min32(M.display, M.leaves)
            self._to_back(m)

    cdef void _match(self, int32_t t) noexcept nogil:
        """Match taker t against the opposite side while it crosses (t is OS_INFLIGHT)."""
        cdef Order *T = &self.pool[t]
        cdef SymbolBook *sb = &self.syms[T.symbol]
        cdef SideBook *opp = self._opp(sb, T.side)
        cdef Level *L
        cdef Order *M
        cdef int32_t m
        cdef uint32_t q
        cdef uint64_t mlink, tlink
        cdef Event *e
        while T.leaves > 0 and self.taker_kill == 0 and opp.n > 0:
            L = &self.levels[opp.lv[opp.n - 1]]
            if not self._crosses(T, L):
                break
            m = L.head
            M = &self.pool[m]
            if M.account == T.account and T.stp != STP_NONE:
                if T.stp == STP_CANCEL_NEWEST:
                    self.taker_kill = CR_STP
                elif T.stp == STP_CANCEL_OLDEST:
                    self._remove(m, EV_CANCEL, CR_STP)
                elif T.stp == STP_CANCEL_BOTH:
                    self._remove(m, EV_CANCEL, CR_STP)
                    if self.taker_kill == 0:
                        self.taker_kill = CR_STP
                else:  # decrement both by the overlap
                    q = _min32(T.leaves, M.visible)
                    self._reduce_maker(m, q)
                    self._ev_order(EV_CANCEL, M, q, CR_STP)
                    self.n_cancels += 1
                    T.leaves -= q
                    self._ev_order(EV_CANCEL, T, q, CR_STP)
                    self.n_cancels += 1
                    if M.leaves == 0:
                        mlink = M.link_id
                        M.link_id = 0
                        self._finish(m)
                        if mlink != 0:
                            self._oco_fire(mlink)
                    if T.leaves == 0 and T.link_id != 0:
                        tlink = T.link_id
                        T.link_id = 0
                        self._oco_fire(tlink)
                continue
            q = _min32(T.leaves, M.visible)
            T.leaves -= q
            T.filled += q
            M.filled += q
            sb.last_price = L.price
            e = self._ev(EV_FILL)
            e.order_id = T.order_id
            e.maker_order_id = M.order_id
            e.taker_order_id = T.order_id
            e.price = L.price
            e.qty = q
            e.leaves_qty = T.leaves
            e.maker_leaves_qty = M.leaves - q
            e.account_id = T.account
            e.maker_account_id = M.account
            e.symbol_id = T.symbol
            e.side = T.side
            self.n_fills += 1
            self._reduce_maker(m, q)
            mlink = M.link_id
            tlink = T.link_id
            M.link_id = 0
            T.link_id = 0
            if M.leaves == 0:
                self._finish(m)
            if mlink != 0:
                self._oco_fire(mlink)
            if tlink != 0:
                self._oco_fire(tlink)

    cdef void _take(self, int32_t t) noexcept nogil:
        """Run taker t: match, then rest it or cancel its rest (IOC / market / killed)."""
        cdef Order *T = &self.pool[t]
        cdef int kill
        self.taker = t
        self.taker_kill = 0
        T.state = OS_INFLIGHT
        self._match(t)
        kill = self.taker_kill
        self.taker_kill = 0
        self.taker = -1
        if T.leaves == 0:
            self._finish(t)
        elif kill != 0:
            self._remove(t, EV_CANCEL, kill)
        elif T.ord_type == TYPE_MARKET or T.tif == TIF_IOC or T.tif == TIF_FOK:
            self._remove(t, EV_CANCEL, CR_IOC_REMAINDER)
        else:
            T.visible = _min32(T.display, T.leaves) if T.display else T.leaves
            self._rest(t)

    cdef void _triggers(self, uint32_t symbol) noexcept nogil:
        """Trigger pending stops the last price reached (earliest arrival first between sides), repeatedly."""
        cdef SymbolBook *sb = &self.syms[symbol]
        cdef int32_t b, s, i
        cdef Order *o
        cdef Event *e
        while sb.last_price > 0:
            b = -1
            s = -1
            if sb.buy_stops.n > 0 and self.pool[sb.buy_stops.ord[sb.buy_stops.n - 1]].stop_price <= sb.last_price:
                b = sb.buy_stops.ord[sb.buy_stops.n - 1]
            if sb.sell_stops.n > 0 and self.pool[sb.sell_stops.ord[sb.sell_stops.n - 1]].stop_price >= sb.last_price:
                s = sb.sell_stops.ord[sb.sell_stops.n - 1]
            if b < 0 and s < 0:
                break
            if b >= 0 and (s < 0 or self.pool[b].arrival < self.pool[s].arrival):
                i = b
                sb.buy_stops.n -= 1
            else:
                i = s
                sb.sell_stops.n -= 1
            o = &self.pool[i]
            o.ord_type = TYPE_MARKET if o.ord_type == TYPE_STOP else TYPE_LIMIT
            e = self._ev(EV_TRIGGER)
            e.order_id = o.order_id
            e.account_id = o.account
            e.symbol_id = o.symbol
            e.side = o.side
            e.price = sb.last_price
            e.qty = o.leaves
            e.leaves_qty = o.leaves
            self.n_triggers += 1
            self._take(i)

    # ----------------------------------------------------------- commands ----
    cdef int _check_new(self, const Command *c) noexcept nogil:
        cdef SymbolBook *sb
        cdef int32_t p
        if c.symbol_id >= self.nsyms or not self.syms[c.symbol_id].configured:
            return RC_UNKNOWN_SYMBOL
        sb = &self.syms[c.symbol_id]
        if c.side != SIDE_BUY and c.side != SIDE_SELL:
            return RC_INVALID_SIDE
        if c.ord_type < TYPE_LIMIT or c.ord_type > TYPE_STOP_LIMIT:
            return RC_INVALID_TYPE
        if c.tif < TIF_DAY or c.tif > TIF_GTD:
            return RC_INVALID_TIF
        if c.stp > STP_DECREMENT:
            return RC_INVALID_STP
        if c.flags & ~(FLAG_POST_ONLY | FLAG_ICEBERG):
            return RC_INVALID_FLAGS
        if c.qty == 0:
            return RC_INVALID_QTY
        if c.order_id == 0:
            return RC_MALFORMED
        if self._ix_get(c.order_id) != IDX_NONE:
            return RC_DUPLICATE_ORDER_ID
        if c.ord_type == TYPE_LIMIT or c.ord_type == TYPE_STOP_LIMIT:
            if c.price <= 0:
                return RC_INVALID_PRICE
            if c.price % sb.tick != 0:
                return RC_PRICE_NOT_ON_TICK
        elif c.price != 0:
            return RC_INVALID_PRICE
        if c.ord_type == TYPE_STOP or c.ord_type == TYPE_STOP_LIMIT:
            if c.stop_price <= 0:
                return RC_INVALID_STOP_PRICE
            if c.stop_price % sb.tick != 0:
                return RC_PRICE_NOT_ON_TICK
            if c.tif == TIF_FOK:
                return RC_INVALID_TIF_TYPE
        elif c.stop_price != 0:
            return RC_INVALID_STOP_PRICE
        if c.ord_type == TYPE_MARKET and (c.tif == TIF_GTC or c.tif == TIF_GTD):
            return RC_INVALID_TIF_TYPE
        if c.flags & (FLAG_POST_ONLY | FLAG_ICEBERG):
            if c.ord_type != TYPE_LIMIT or c.tif == TIF_IOC or c.tif == TIF_FOK:
                return RC_INVALID_TIF_TYPE
        if c.flags & FLAG_ICEBERG:
            if c.display_qty == 0 or c.display_qty > c.qty:
                return RC_INVALID_DISPLAY_QTY
        elif c.display_qty != 0:
            return RC_INVALID_DISPLAY_QTY
        if c.tif == TIF_GTD:
            if c.expire_ns == 0:
                return RC_GTD_WITHOUT_EXPIRY
            if c.expire_ns <= self.clock_ns:
                return RC_GTD_EXPIRED
        if c.link_id != 0:
            if c.link_id == c.order_id:
                return RC_INVALID_LINK
            p = self._ix_get(c.link_id)
            if p < 0 or self.pool[p].account != c.account_id or self.pool[p].link_id != 0:
                return RC_INVALID_LINK
        if self.free_head < 0:
            return RC_POOL_EXHAUSTED
        return RC_OK

    cdef bint _would_cross(self, SymbolBook *sb, uint8_t side, int64_t price) noexcept nogil:
        cdef SideBook *opp = self._opp(sb, side)
        cdef int64_t best
        if opp.n == 0:
            return False
        best = self.levels[opp.lv[opp.n - 1]].price
        return best <= price if side == SIDE_BUY else best >= price

    cdef bint _fok_fillable(self, const Command *c, SymbolBook *sb) noexcept nogil:
        cdef SideBook *opp = self._opp(sb, c.side)
        cdef int32_t k = opp.n - 1, i
        cdef uint64_t cum = 0, lvl
        cdef Level *L
        cdef bint selfseen
        while k >= 0:
            L = &self.levels[opp.lv[k]]
            if c.ord_type != TYPE_MARKET:
                if (c.side == SIDE_BUY and L.price > c.price) or (c.side == SIDE_SELL and L.price < c.price):
                    break
            if c.stp == STP_NONE:
                cum += L.total
            else:
                selfseen = False
                lvl = 0
                i = L.head
                while i >= 0:
                    if self.pool[i].account == c.account_id:
                        selfseen = True
                    else:
                        lvl += self.pool[i].leaves
                    i = self.pool[i].next
                if selfseen and c.stp != STP_CANCEL_OLDEST:
                    return False
                cum += lvl
            if cum >= c.qty:
                return True
            k -= 1
        return False

    cdef int _new(self, const Command *c) noexcept nogil:
        cdef int rc = self._check_new(c)
        cdef SymbolBook *sb
        cdef int32_t i, p
        cdef Order *o
        cdef Event *e
        if rc != RC_OK:
            return rc
        sb = &self.syms[c.symbol_id]
        if c.flags & FLAG_POST_ONLY and self._would_cross(sb, c.side, c.price):
            return RC_POST_ONLY_WOULD_CROSS
        if c.tif == TIF_FOK and not self._fok_fillable(c, sb):
            return RC_FOK_NOT_FILLABLE
        if c.ord_type == TYPE_MARKET and self._opp(sb, c.side).n == 0:
            return RC_MARKET_NO_LIQUIDITY
        i = self._alloc()
        o = &self.pool[i]
        o.order_id = c.order_id
        o.link_id = c.link_id
        o.arrival = self.next_arrival
        self.next_arrival += 1
        o.price = c.price
        o.stop_price = c.stop_price
        o.expire_ns = c.expire_ns if c.tif == TIF_GTD else 0
        o.qty = c.qty
        o.filled = 0
        o.leaves = c.qty
        o.display = c.display_qty if c.flags & FLAG_ICEBERG else 0
        o.visible = c.qty
        o.account = c.account_id
        o.firm = c.firm_id
        o.session = c.session_id
        o.symbol = c.symbol_id
        o.prev = -1
        o.next = -1
        o.level = -1
        o.side = c.side
        o.ord_type = c.ord_type
        o.tif = c.tif
        o.flags = c.flags
        o.stp = c.stp
        o.state = OS_INFLIGHT
        self._ix_set(c.order_id, i)
        self._live_append(i)
        if c.link_id != 0:
            p = self._ix_get(c.link_id)
            self.pool[p].link_id = c.order_id
        e = self._ev(EV_ACK)
        e.order_id = o.order_id
        e.account_id = o.account
        e.symbol_id = o.symbol
        e.side = o.side
        e.price = o.price
        e.qty = o.qty
        e.leaves_qty = o.leaves
        if c.tif == TIF_GTD:
            self._heap_push(o.expire_ns, o.arrival, i)
        if c.ord_type == TYPE_STOP or c.ord_type == TYPE_STOP_LIMIT:
            self._stop_add(i)
        else:
            self._take(i)
        self._triggers(c.symbol_id)
        return RC_OK

    cdef int _lookup_own(self, const Command *c, int32_t *out) noexcept nogil:
        cdef int32_t i
        if c.order_id == 0:
            return RC_UNKNOWN_ORDER
        i = self._ix_get(c.order_id)
        if i == IDX_NONE:
            return RC_UNKNOWN_ORDER
        if i == IDX_DONE:
            return RC_ORDER_NOT_OPEN
        if self.pool[i].account != c.account_id:
            return RC_NOT_OWNER
        out[0] = i
        return RC_OK

    cdef int _cancel(self, const Command *c) noexcept nogil:
        cdef int32_t i = -1
        cdef int rc = self._lookup_own(c, &i)
        if rc != RC_OK:
            return rc
        self._remove(i, EV_CANCEL, CR_REQUESTED)
        return RC_OK

    cdef int _modify(self, const Command *c) noexcept nogil:
        cdef int32_t i = -1
        cdef int rc = self._lookup_own(c, &i)
        cdef Order *o
        cdef SymbolBook *sb
        cdef uint32_t new_leaves, sym
        if rc != RC_OK:
            return rc
        o = &self.pool[i]
        sb = &self.syms[o.symbol]
        if o.state == OS_STOP:
            return RC_MODIFY_INVALID
        if c.qty == 0:
            return RC_INVALID_QTY
        if c.price <= 0:
            return RC_INVALID_PRICE
        if c.price % sb.tick != 0:
            return RC_PRICE_NOT_ON_TICK
        if c.price != o.price and (o.flags & FLAG_POST_ONLY) and self._would_cross(sb, o.side, c.price):
            return RC_POST_ONLY_WOULD_CROSS
        if c.qty <= o.filled:
            self._remove(i, EV_CANCEL, CR_MODIFY_TO_ZERO)
            return RC_OK
        new_leaves = c.qty - o.filled
        if c.price == o.price and new_leaves <= o.leaves:
            # size decrease (or no change) at the same price keeps priority
            self.levels[o.level].total -= o.leaves - new_leaves
            o.leaves = new_leaves
            o.visible = _min32(o.visible, new_leaves)
            o.qty = c.qty
            self._ev_order(EV_MODIFY_ACK, o, o.qty, RC_OK)
            return RC_OK
        self._unlink_level(i)
        o.price = c.price
        o.qty = c.qty
        o.leaves = new_leaves
        o.visible = _min32(o.display, new_leaves) if o.display else new_leaves
        self._ev_order(EV_MODIFY_ACK, o, o.qty, RC_OK)
        sym = o.symbol
        self._take(i)
        self._triggers(sym)
        return RC_OK

    cdef int _reference(self, const Command *c) noexcept nogil:
        if c.symbol_id >= self.nsyms or not self.syms[c.symbol_id].configured:
            return RC_UNKNOWN_SYMBOL
        if c.price <= 0:
            return RC_INVALID_PRICE
        self.syms[c.symbol_id].last_price = c.price
        self._triggers(c.symbol_id)
        return RC_OK

    cdef void advance(self, const Command *c) noexcept nogil:
        self.cur = c
        if c.ts_ns > self.clock_ns:
            self.clock_ns = c.ts_ns
            if self.heap_n > 0 and self.heap[0].expire_ns <= c.ts_ns:
                self._expire_due()

    cdef int apply(self, const Command *c) noexcept nogil:
        cdef int rc = RC_OK
        self.n_commands += 1
        self.advance(c)             # (a no-op when the loop advanced the clock before risk's check)
        if c.action == ACT_NEW:
            rc = self._new(c)
        elif c.action == ACT_CANCEL:
            rc = self._cancel(c)
        elif c.action == ACT_MODIFY:
            rc = self._modify(c)
        elif c.action == ACT_MASS_CANCEL:
            if c.symbol_id != SYMBOL_ANY and (c.symbol_id >= self.nsyms or not self.syms[c.symbol_id].configured):
                rc = RC_UNKNOWN_SYMBOL
            elif c.side > SIDE_SELL:
                rc = RC_INVALID_SIDE
            else:
                self._mass(0, c.account_id, c.symbol_id, c.side, EV_CANCEL, CR_MASS_CANCEL)
        elif c.action == ACT_END_OF_DAY:
            self._mass(3, 0, SYMBOL_ANY, 0, EV_EXPIRE, CR_END_OF_DAY)
            self._ix_rebuild(self.ix_cap, 1)
        elif c.action == ACT_SESSION_DISCONNECT:
            self._mass(1, c.session_id, SYMBOL_ANY, 0, EV_CANCEL, CR_SESSION_DISCONNECT)
        elif c.action == ACT_KILL_SWITCH:
            if c.flags & (FLAG_KILL_RELEASE | FLAG_KILL_BLOCK_ONLY):
                pass                    # release / block only: risk latches the switch, no order is cancelled
            elif c.firm_id != 0:
                self._mass(2, c.firm_id, SYMBOL_ANY, 0, EV_CANCEL, CR_KILL_SWITCH)
            else:
                self._mass(0, c.account_id, SYMBOL_ANY, 0, EV_CANCEL, CR_KILL_SWITCH)
        elif c.action == ACT_SET_REFERENCE_PRICE:
            rc = self._reference(c)
        elif c.action == ACT_CLOCK:
            pass
        else:
            rc = RC_INVALID_ACTION
        if rc != RC_OK:
            self.emit_reject(c, rc)
        return rc

    cdef bint is_crossed(self, uint32_t symbol) noexcept nogil:
        cdef SymbolBook *sb
        if symbol >= self.nsyms:
            return False
        sb = &self.syms[symbol]
        if not sb.configured or sb.bids.n == 0 or sb.asks.n == 0:
            return False
        return self.levels[sb.bids.lv[sb.bids.n - 1]].price >= self.levels[sb.asks.lv[sb.asks.n - 1]].price

    # ------------------------------------------------------- Python API ----
    def process(self, cmds):
        """Apply a ``COMMAND_DTYPE`` array (no hooks, no seq check); returns its events (``EVENT_DTYPE``)."""
        cdef Py_ssize_t n = 0, k
        cdef const Command *p = command_ptr(cmds, &n)
        with nogil:
            for k in range(n):
                self.apply(&p[k])
        return self.take_events()

    def advance_clock(self, cmd):
        """Advance the clock to the ``ts_ns`` of ``cmd`` (one ``COMMAND_DTYPE`` record) and expire the GTD
        orders due by then, as ``process`` does before applying it; returns those expiries' events
        (``EVENT_DTYPE``, with the command's seq). For a pre-trade check between the two (``RiskEngine.run``)."""
        cdef Py_ssize_t n = 0
        cdef const Command *p = command_ptr(cmd, &n)
        if n != 1:
            raise ValueError(f"advance_clock takes one command record, got {n}")
        with nogil:
            self.advance(p)
        return self.take_events()

    def take_events(self):
        """Copy out and clear the buffered events."""
        out = np.empty(self.ev_n, EVENT_DTYPE)
        cdef uint8_t[::1] raw
        if self.ev_n:
            raw = out.view(np.uint8)
            memcpy(&raw[0], self.evs, self.ev_n * sizeof(Event))
        self.ev_n = 0
        return out

    def best(self, uint32_t symbol):
        """(best bid price or None, best ask price or None)."""
        cdef SymbolBook *sb = self._sym(symbol)
        bid = self.levels[sb.bids.lv[sb.bids.n - 1]].price if sb.bids.n else None
        ask = self.levels[sb.asks.lv[sb.asks.n - 1]].price if sb.asks.n else None
        return bid, ask

    def last_price(self, uint32_t symbol):
        return self._sym(symbol).last_price

    cdef SymbolBook *_sym(self, uint32_t symbol) except NULL:
        if symbol >= self.nsyms or not self.syms[symbol].configured:
            raise KeyError(f"unknown symbol {symbol}")
        return &self.syms[symbol]

    def book(self, uint32_t symbol):
        """Snapshot ``{"bids": [(price, [(order_id, visible, leaves), ...]), ...], "asks": [...]}``, best first."""
        cdef SymbolBook *sb = self._sym(symbol)
        out = {}
        cdef SideBook *bk
        cdef int32_t k, i
        for name in ("bids", "asks"):
            bk = &sb.bids if name == "bids" else &sb.asks
            levels = []
            for k in range(bk.n - 1, -1, -1):
                orders = []
                i = self.levels[bk.lv[k]].head
                while i >= 0:
                    orders.append((self.pool[i].order_id, self.pool[i].visible, self.pool[i].leaves))
                    i = self.pool[i].next
                levels.append((self.levels[bk.lv[k]].price, orders))
            out[name] = levels
        out["buy_stops"] = [self.pool[sb.buy_stops.ord[k]].order_id for k in range(sb.buy_stops.n - 1, -1, -1)]
        out["sell_stops"] = [self.pool[sb.sell_stops.ord[k]].order_id for k in range(sb.sell_stops.n - 1, -1, -1)]
        return out

    def order(self, uint64_t order_id):
        """Open order as a dict, ``"done"`` for a finished id (until end of day), or None."""
        cdef int32_t i = self._ix_get(order_id) if order_id else IDX_NONE
        if i == IDX_NONE:
            return None
        if i == IDX_DONE:
            return "done"
        o = self.pool[i]
        return {"order_id": o.order_id, "link_id": o.link_id, "price": o.price, "stop_price": o.stop_price,
                "qty": o.qty, "filled": o.filled, "leaves": o.leaves, "visible": o.visible, "display": o.display,
                "account": o.account, "symbol": o.symbol, "side": o.side, "ord_type": o.ord_type, "tif": o.tif,
                "state": {OS_RESTING: "resting", OS_STOP: "stop"}.get(o.state, o.state)}

    def stats(self):
        return {"commands": self.n_commands, "rejects": self.n_rejects, "fills": self.n_fills,
                "cancels": self.n_cancels, "expires": self.n_expires, "triggers": self.n_triggers,
                "live": self.live, "pool_capacity": self.pool_cap}

    def validate_internal_state(self):
        """Check every invariant; raises AssertionError naming the first violation.

        Books sorted and uncrossed, level totals/counts = sums over their FIFO, FIFO links symmetric,
        every order's level/state/side/symbol consistent, stop books ordered, the live list, the id index
        and the free list accounting for every pool slot.
        """
        cdef uint32_t s
        cdef SymbolBook *sb
        cdef SideBook *bk
        cdef StopBook *st
        cdef Level *L
        cdef Order *o
        cdef int32_t k, i, prev, nres = 0, nstop = 0, nlive = 0, nfree = 0
        cdef uint64_t tot, cnt, h, used = 0
        for s in range(self.nsyms):
            sb = &self.syms[s]
            if not sb.configured:
                continue
            for side in (SIDE_BUY, SIDE_SELL):
                bk = &sb.bids if side == SIDE_BUY else &sb.asks
                for k in range(bk.n):
                    L = &self.levels[bk.lv[k]]
                    key = L.price if side == SIDE_BUY else -L.price
                    assert bk.key[k] == key, f"symbol {s} side {side}: level key {bk.key[k]} != price {L.price}"
                    assert k == 0 or bk.key[k - 1] < bk.key[k], f"symbol {s} side {side}: levels not sorted"
                    assert L.price > 0 and L.price % sb.tick == 0, f"symbol {s}: level price {L.price} off tick"
                    assert L.count > 0, f"symbol {s}: empty level {L.price} kept"
                    tot = 0
                    cnt = 0
                    prev = -1
                    i = L.head
                    while i >= 0:
                        o = &self.pool[i]
                        assert o.state == OS_RESTING, f"order {o.order_id} in a level but state {o.state}"
                        assert o.level == bk.lv[k], f"order {o.order_id}: level slot mismatch"
                        assert o.prev == prev, f"order {o.order_id}: FIFO prev link broken"
                        assert o.price == L.price and o.side == side and o.symbol == s, f"order {o.order_id} misplaced"
                        assert 0 < o.visible <= o.leaves, f"order {o.order_id}: visible {o.visible} leaves {o.leaves}"
                        assert o.filled + o.leaves <= o.qty, f"order {o.order_id}: filled+leaves > qty"
                        if o.display:
                            assert o.visible <= o.display, f"order {o.order_id}: visible above display"
                        else:
                            assert o.visible == o.leaves, f"order {o.order_id}: visible != leaves"
                        tot += o.leaves
                        cnt += 1
                        prev = i
                        i = o.next
                        assert cnt <= <uint64_t> self.pool_cap, f"symbol {s}: FIFO cycle"
                    assert L.tail == prev, f"symbol {s} level {L.price}: tail link broken"
                    assert L.total == tot, f"symbol {s} level {L.price}: total {L.total} != sum {tot}"
                    assert L.count == cnt, f"symbol {s} level {L.price}: count {L.count} != {cnt}"
                    nres += cnt
            assert not self.is_crossed(s), f"symbol {s}: book crossed {self.best(s)}"
            for side in (SIDE_BUY, SIDE_SELL):
                st = &sb.buy_stops if side == SIDE_BUY else &sb.sell_stops
                for k in range(st.n):
                    o = &self.pool[st.ord[k]]
                    assert o.state == OS_STOP and o.symbol == s, f"stop {o.order_id} state {o.state}"
                    if k > 0:
                        assert self._stop_before(o, &self.pool[st.ord[k - 1]]), f"symbol {s}: stop book order"
                nstop += st.n
        i = self.ghead
        prev = -1
        while i >= 0:
            o = &self.pool[i]
            assert o.state in (OS_RESTING, OS_STOP), f"live list holds order {o.order_id} state {o.state}"
            assert o.gprev == prev, f"live list prev link broken at {o.order_id}"
            assert self._ix_get(o.order_id) == i, f"index does not map {o.order_id} to its slot"
            if o.link_id:
                k = self._ix_get(o.link_id)
                assert k >= 0 and self.pool[k].link_id == o.order_id, f"OCO link of {o.order_id} not mutual"
            nlive += 1
            prev = i
            i = o.gnext
            assert nlive <= self.pool_cap, "live list cycle"
        assert self.gtail == prev, "live list tail broken"
        assert nlive == self.live == nres + nstop, f"live {self.live} list {nlive} resting {nres} stops {nstop}"
        for h in range(self.ix_cap):
            if self.ix[h].key != 0:
                used += 1
                if self.ix[h].val >= 0:
                    o = &self.pool[self.ix[h].val]
                    assert o.order_id == self.ix[h].key and o.state != OS_FREE, f"index entry {self.ix[h].key} stale"
                    assert o.ix_slot == h, f"order {o.order_id}: ix_slot {o.ix_slot} != {h}"
        assert used == self.ix_used, "index count"
        i = self.free_head
        while i >= 0:
            assert self.pool[i].state == OS_FREE, "free list holds a live slot"
            nfree += 1
            i = self.pool[i].next
            assert nfree <= self.pool_cap, "free list cycle"
        assert nfree + self.live == self.pool_cap, f"slots leak: free {nfree} + live {self.live} != {self.pool_cap}"
        assert self.taker == -1, "taker left in flight"
        return True
