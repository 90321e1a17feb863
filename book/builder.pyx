# cython: language_level=3
"""Exact full-depth ITCH 5.0 order books (see builder.pxd for the data layout, docs/book.md for semantics)."""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy, memmove, memset

from core.compiler cimport tw_likely, tw_unlikely, tw_prefetch, TW_DEBUG
from core.endian cimport tw_be16, tw_be32, tw_be48, tw_be64, tw_raw64
from feedhandlers.itch_wire cimport TW_ITCH_LEN

import numpy as np

from book.codes import CODES, describe

# numpy twin of tw_event (64 bytes, natural alignment: same offsets as the C struct).
EVENT_DTYPE = np.dtype([
    ("kind", "u1"), ("side", "u1"), ("locate", "u2"), ("trade_px", "u4"),
    ("seq", "u8"), ("ts", "u8"),
    ("bid_px", "u4"), ("ask_px", "u4"), ("bid_sz", "u8"), ("ask_sz", "u8"),
    ("trade_qty", "u8"), ("match", "u8"),
])
assert EVENT_DTYPE.itemsize == sizeof(tw_event) == 64

DEBUG = bool(TW_DEBUG)
"""True in the TW_DEBUG build (crossed-book checks after every book-changing message)."""

# The BOOK_* codes as seen by C (tests check them against core.codes / book.codes).
C_CODES = {
    "BOOK_OK": BOOK_OK, "BOOK_UNKNOWN_REF": BOOK_UNKNOWN_REF, "BOOK_DUPLICATE_ADD": BOOK_DUPLICATE_ADD,
    "BOOK_OVER_EXECUTION": BOOK_OVER_EXECUTION, "BOOK_OVER_CANCEL": BOOK_OVER_CANCEL,
    "BOOK_ZERO_SHARES": BOOK_ZERO_SHARES, "BOOK_ZERO_PRICE": BOOK_ZERO_PRICE, "BOOK_BAD_SIDE": BOOK_BAD_SIDE,
    "BOOK_REF_OUT_OF_RANGE": BOOK_REF_OUT_OF_RANGE, "BOOK_LOCATE_OUT_OF_RANGE": BOOK_LOCATE_OUT_OF_RANGE,
    "BOOK_REPLACE_ONTO_LIVE": BOOK_REPLACE_ONTO_LIVE, "BOOK_ZERO_SHARES_MOD": BOOK_ZERO_SHARES_MOD,
    "BOOK_NO_MEMORY": BOOK_NO_MEMORY, "BOOK_BAD_MESSAGE": BOOK_BAD_MESSAGE, "BOOK_ZERO_REF": BOOK_ZERO_REF,
}
EV_BBO = TW_EV_BBO
EV_TRADE = TW_EV_TRADE
DEFAULT_MAX_REF = (1 << 34) - 1

# Message types (the if/elif chain on them compiles to one C switch).
cdef enum:
    T_ADD = 65          # 'A'
    T_ADD_MPID = 70     # 'F'
    T_EXEC = 69         # 'E'
    T_EXEC_PX = 67      # 'C'
    T_CANCEL = 88       # 'X'
    T_DELETE = 68       # 'D'
    T_REPLACE = 85      # 'U'
    T_TRADE = 80        # 'P'
    T_CROSS = 81        # 'Q'
    T_BROKEN = 66       # 'B'
    T_SYSTEM = 83       # 'S'
    T_DIRECTORY = 82    # 'R'
    T_TRADING = 72      # 'H'
    T_REGSHO = 89       # 'Y'
    T_PARTICIPANT = 76  # 'L'
    T_MWCB_LEVEL = 86   # 'V'
    T_MWCB_STATUS = 87  # 'W'
    T_IPO = 75          # 'K'
    T_LULD = 74         # 'J'
    T_OPHALT = 104      # 'h'
    T_NOII = 73         # 'I'
    T_RPII = 78         # 'N'
    T_DLCR = 79         # 'O'

cdef enum:
    MAX_SPARE_PAGES = 64
    INIT_BOOKS = 1024


cdef extern from *:
    """
    /* Index of the last key <= key in an ascending array, -1 if none. Adds and deletes cluster at the
       back (the touch): the last 16 keys are compared branch-free (vectorised), deeper prices fall
       back to a binary search. */
    static inline int64_t tw_last_le(const uint32_t *keys, int64_t n, uint32_t key) {
        uint32_t gt = 0;
        if (n >= 16) {
            const uint32_t *w = keys + n - 16;
            for (int i = 0; i < 16; i++) gt += w[i] > key;
            if (gt < 16) return n - 1 - (int64_t)gt;
            int64_t lo = 0, hi = n - 17;
            while (lo <= hi) {
                int64_t mid = (lo + hi) >> 1;
                if (keys[mid] > key) hi = mid - 1; else lo = mid + 1;
            }
            return hi;
        }
        for (int64_t i = 0; i < n; i++) gt += keys[i] > key;
        return n - 1 - (int64_t)gt;
    }
    """
    int64_t tw_last_le(const uint32_t *keys, int64_t n, uint32_t key) noexcept nogil


cdef inline uint32_t side_key(uint8_t s, uint32_t price) noexcept nogil:
    # Bids ascend by price, asks by ~price: both sides keep the best at the back.
    return price if s == TW_BID else ~price


cdef inline size_t next_frame(const uint8_t *buf, size_t n, size_t x) noexcept nogil:
    # Offset of the binaryFILE frame after the one at x (n when x is the last or truncated).
    if x + 2 > n:
        return n
    x += 2 + tw_be16(buf + x)
    return x if x <= n else n


cdef inline uint64_t next_pow2(uint64_t x) noexcept nogil:
    cdef uint64_t p = 1
    while p < x:
        p <<= 1
    return p


def _side_index(side):
    """'B'/b'B'/0 -> TW_BID, 'S'/b'S'/1 -> TW_ASK."""
    if side in ("B", b"B", 0, ord("B")):
        return TW_BID
    if side in ("S", b"S", 1, ord("S")):
        return TW_ASK
    raise ValueError(f"side must be 'B' or 'S', got {side!r}")


def _sym(uint64_t raw):
    return raw.to_bytes(8, "little").decode("ascii", "replace").rstrip(" \x00")


def _ch(uint8_t c):
    return chr(c) if c else ""


cdef class BookBuilder(MessageSink):
    """Exact L3 books for every stock locate of an ITCH 5.0 feed.

    Parameters
    ----------
    track_bbo : bool
        Detect BBO changes (count them; record BBO events if ``record_events``).
    record_events : bool
        Record BBO / trade events into the batch buffer (``drain_events``).
    max_ref : int
        Largest accepted order reference (bounds the order index; larger refs count as ``bad_refs``).
        Default 2**34 - 1, at most 2**38 - 1.
    max_locates : int
        Locates >= this are refused (at most 65536).
    max_events : int
        Event buffer cap (events beyond it are dropped and counted; drain in time).
    event_high_water : int
        When > 0, ``apply_binaryfile`` returns early once this many events are pending (the caller
        drains and calls again: bounded memory, no loss). 0 (default): apply the whole buffer.
    """

    def __cinit__(self, bint track_bbo=True, bint record_events=True, uint64_t max_ref=DEFAULT_MAX_REF,
                  uint32_t max_locates=65536, uint64_t max_events=1 << 22, uint64_t event_high_water=0):
        if max_locates == 0 or max_locates > 65536:
            raise ValueError("max_locates must be in 1..65536")
        if max_ref >= (1 << 38):
            # The page directory is max_ref / 8192 pointers (virtual memory, touched lazily).
            raise ValueError(f"max_ref must be < 2**38 (got {max_ref})")
        self.track_bbo = track_bbo
        self.record_events = record_events
        self.max_ref = max_ref
        self.max_locates = max_locates
        self.max_events = max(max_events, <uint64_t>1)
        self.ev_high = min(event_high_water, self.max_events) if event_high_water else 0
        self.subscribers = []
        self.npages = (max_ref >> TW_PAGE_SHIFT) + 1
        self.pages = <uint32_t **>calloc(self.npages, sizeof(uint32_t *))
        self.page_live = <uint16_t *>calloc(self.npages, sizeof(uint16_t))
        self.spare = <uint32_t **>calloc(MAX_SPARE_PAGES, sizeof(uint32_t *))
        self.nbooks = 0
        self.orders_cap = 1 << 16
        self.orders = <tw_order *>malloc(self.orders_cap * sizeof(tw_order))
        self.orders_used = 1
        self.levels_cap = 1 << 14
        self.levels = <tw_level *>malloc(self.levels_cap * sizeof(tw_level))
        self.levels_used = 1
        self.ev_cap = min(<uint64_t>4096, self.max_events)
        self.events = <tw_event *>malloc(self.ev_cap * sizeof(tw_event))
        if (self.pages == NULL or self.page_live == NULL or self.spare == NULL or self.orders == NULL
                or self.levels == NULL or self.events == NULL or self._grow_books(INIT_BOOKS - 1) != 0):
            raise MemoryError("BookBuilder: cannot allocate its initial pools")
        memset(self.tcounts, 0, sizeof(self.tcounts))

    def __dealloc__(self):
        cdef uint64_t i
        if self.books != NULL:
            for i in range(self.nbooks):
                free(self.books[i].side[0].keys); free(self.books[i].side[0].lvls)
                free(self.books[i].side[1].keys); free(self.books[i].side[1].lvls)
        if self.pages != NULL:
            for i in range(self.npages):
                free(self.pages[i])
        if self.spare != NULL:
            for i in range(self.nspare):
                free(self.spare[i])
        free(self.books); free(self.infos); free(self.orders); free(self.levels); free(self.pages)
        free(self.page_live); free(self.spare); free(self.events)

    # ================================================================ hot path ====
    cdef int on_message(self, const uint8_t *msg, uint32_t length, uint64_t seq) noexcept nogil:
        cdef int rc = self._apply(msg, seq)
        if tw_unlikely(self.has_subscribers) and self.ev_n:
            self._dispatch()
        return rc

    cdef int _apply(self, const uint8_t *m, uint64_t seq) noexcept nogil:
        cdef uint8_t t = m[0]
        cdef uint32_t loc = tw_be16(m + 1)
        cdef tw_book *b
        cdef tw_order *o
        cdef tw_info *inf
        cdef uint32_t h, h2 = 0, shares, price, q, done
        cdef bint stale = False
        cdef bint best
        cdef uint32_t lh
        cdef uint64_t ref, ref2
        cdef uint8_t s, sc = 0
        cdef int rc = BOOK_OK

        self.messages += 1
        self.tcounts[t] += 1
        if tw_unlikely(loc >= self.max_locates):
            self.bad_locates += 1
            return BOOK_LOCATE_OUT_OF_RANGE
        if tw_unlikely(loc >= self.nbooks):
            if self._grow_books(loc) != 0:
                self.no_memory += 1
                return BOOK_NO_MEMORY
        self.books[loc].msgs += 1

        if t == T_ADD or t == T_ADD_MPID:
            ref = tw_be64(m + 11)
            sc = m[19]
            shares = tw_be32(m + 20)
            price = tw_be32(m + 32)
            if tw_unlikely(loc == 0):
                self.bad_locates += 1
                return BOOK_LOCATE_OUT_OF_RANGE
            if tw_unlikely(sc != 66 and sc != 83):
                self.rejected_adds += 1
                return BOOK_BAD_SIDE
            if tw_unlikely(shares == 0):
                self.rejected_adds += 1
                return BOOK_ZERO_SHARES
            if tw_unlikely(price == 0):
                self.rejected_adds += 1
                return BOOK_ZERO_PRICE
            if tw_unlikely(ref == 0):
                # Reference 0 is never issued by NASDAQ; accepting it would let any later 0 hit it.
                self.rejected_adds += 1
                return BOOK_ZERO_REF
            if tw_unlikely(ref > self.max_ref):
                self.bad_refs += 1
                return BOOK_REF_OUT_OF_RANGE
            b = &self.books[loc]
            if tw_unlikely(not b.has_symbol):
                self._set_symbol(loc, m + 24)
            s = TW_BID if sc == 66 else TW_ASK
            h = self._lookup(ref)
            if tw_unlikely(h != 0):
                # Duplicate add: the stale order is removed (it can no longer be referenced anyway).
                self.duplicate_adds += 1
                rc = BOOK_DUPLICATE_ADD
                stale = True
                o = &self.orders[h]
                h2 = o.locate
                sc = o.side
                self._remove(h)
            lh = self._insert(b, <uint16_t>loc, s, ref, shares, price)
            if tw_unlikely(lh == 0):
                self.no_memory += 1
                rc = BOOK_NO_MEMORY
            if tw_unlikely(stale) and (h2 != loc or sc != s):
                # Events describe the book after the whole message: the stale side is checked here.
                self._touch(&self.books[h2], <uint16_t>h2, sc, m, seq)
            # An add below the touch cannot change the BBO: skip the check (no read of the best level).
            if tw_unlikely(stale or lh == 0) or b.side[s].lvls[b.side[s].n - 1] == lh:
                self._touch(b, <uint16_t>loc, s, m, seq)
            if TW_DEBUG:
                if self._crossed(b):
                    self.crossed_events += 1
            return rc

        elif t == T_EXEC or t == T_EXEC_PX or t == T_CANCEL or t == T_DELETE:
            ref = tw_be64(m + 11)
            h = self._lookup(ref)
            if tw_unlikely(h == 0):
                if ref > self.max_ref:
                    self.bad_refs += 1
                    return BOOK_REF_OUT_OF_RANGE
                self.unknown_refs += 1
                return BOOK_UNKNOWN_REF
            o = &self.orders[h]
            h2 = o.locate
            s = o.side
            if tw_unlikely(h2 != loc):
                self.locate_mismatches += 1
            b = &self.books[h2]
            # Only a change at the best level can change the BBO (book-only runs skip the side array read).
            best = self.track_bbo and o.level == b.side[s].lvls[b.side[s].n - 1]
            if t == T_DELETE:
                self._remove(h)
            else:
                q = tw_be32(m + 19)
                if tw_unlikely(q == 0):
                    self.zero_share_mods += 1
                    return BOOK_ZERO_SHARES_MOD
                price = o.price
                done = self._reduce(h, q)
                if tw_unlikely(done != q):
                    if t == T_CANCEL:
                        self.over_cancels += 1
                        rc = BOOK_OVER_CANCEL
                    else:
                        self.over_executions += 1
                        rc = BOOK_OVER_EXECUTION
                if t == T_EXEC:
                    self._trade(<uint16_t>h2, 66 if s == TW_BID else 83, price, done, tw_be64(m + 23), m, seq)
                elif t == T_EXEC_PX and m[31] == 89:
                    self._trade(<uint16_t>h2, 66 if s == TW_BID else 83, tw_be32(m + 32), done,
                                tw_be64(m + 23), m, seq)
            if best:
                self._touch(b, <uint16_t>h2, s, m, seq)
            if TW_DEBUG:
                if self._crossed(b):
                    self.crossed_events += 1
            return rc

        elif t == T_REPLACE:
            ref = tw_be64(m + 11)
            ref2 = tw_be64(m + 19)
            shares = tw_be32(m + 27)
            price = tw_be32(m + 31)
            h = self._lookup(ref)
            if tw_unlikely(h == 0):
                if ref > self.max_ref:
                    self.bad_refs += 1
                    return BOOK_REF_OUT_OF_RANGE
                self.unknown_refs += 1
                return BOOK_UNKNOWN_REF
            # Validate the whole replace before touching the original: a bad U changes nothing.
            if tw_unlikely(ref2 > self.max_ref):
                self.bad_refs += 1
                return BOOK_REF_OUT_OF_RANGE
            if tw_unlikely(shares == 0):
                self.rejected_adds += 1
                return BOOK_ZERO_SHARES
            if tw_unlikely(price == 0):
                self.rejected_adds += 1
                return BOOK_ZERO_PRICE
            if tw_unlikely(ref2 == 0):
                self.rejected_adds += 1
                return BOOK_ZERO_REF
            o = &self.orders[h]
            loc = o.locate
            s = o.side
            b = &self.books[loc]
            self._remove(h)
            h2 = self._lookup(ref2)
            if tw_unlikely(h2 != 0):
                self.replace_onto_live += 1
                rc = BOOK_REPLACE_ONTO_LIVE
                o = &self.orders[h2]
                h = o.locate
                sc = o.side
                self._remove(h2)
            if tw_unlikely(self._insert(b, <uint16_t>loc, s, ref2, shares, price) == 0):
                self.no_memory += 1
                rc = BOOK_NO_MEMORY
            if tw_unlikely(h2 != 0) and (h != loc or sc != s):
                self._touch(&self.books[h], <uint16_t>h, sc, m, seq)
            self._touch(b, <uint16_t>loc, s, m, seq)
            if TW_DEBUG:
                if self._crossed(b):
                    self.crossed_events += 1
            return rc

        elif t == T_TRADE:
            if tw_unlikely(not self.books[loc].has_symbol):
                self._set_symbol(loc, m + 24)
            self._trade(<uint16_t>loc, m[19], tw_be32(m + 32), tw_be32(m + 20), tw_be64(m + 36), m, seq)
            return BOOK_OK

        elif t == T_CROSS:
            if tw_unlikely(not self.books[loc].has_symbol):
                self._set_symbol(loc, m + 11 + 8)
            if tw_unlikely(tw_be64(m + 11) == 0):
                self.empty_crosses += 1             # a cross with no volume is a price, not a print
                return BOOK_OK
            self._trade(<uint16_t>loc, 0, tw_be32(m + 27), tw_be64(m + 11), tw_be64(m + 31), m, seq)
            return BOOK_OK

        elif t == T_BROKEN:
            self.broken_trades += 1
            return BOOK_OK

        # ---- cold messages: directory, states, auctions ----
        inf = &self.infos[loc]
        if t == T_DIRECTORY:
            inf.stock = tw_raw64(m + 11)
            self.books[loc].has_symbol = 1
            self.books[loc].has_directory = 1
            inf.market_category = m[19]
            inf.financial_status = m[20]
            inf.round_lot = tw_be32(m + 21)
            inf.round_lots_only = m[25]
            inf.issue_classification = m[26]
            inf.issue_subtype[0] = m[27]
            inf.issue_subtype[1] = m[28]
            inf.authenticity = m[29]
            inf.short_sale_threshold = m[30]
            inf.ipo_flag = m[31]
            inf.luld_tier = m[32]
            inf.etp_flag = m[33]
            inf.etp_leverage = tw_be32(m + 34)
            inf.inverse = m[38]
        elif t == T_TRADING:
            self._set_symbol(loc, m + 11)
            inf.trading_state = m[19]
            memcpy(&inf.reason, m + 21, 4)
            inf.trading_ts = tw_be48(m + 5)
        elif t == T_REGSHO:
            self._set_symbol(loc, m + 11)
            inf.reg_sho = m[19]
        elif t == T_PARTICIPANT:
            self._set_symbol(loc, m + 15)
            inf.participant_positions += 1
        elif t == T_IPO:
            self._set_symbol(loc, m + 11)
            inf.ipo_release = tw_be32(m + 19)
            inf.ipo_qualifier = m[23]
            inf.ipo_price = tw_be32(m + 24)
        elif t == T_LULD:
            self._set_symbol(loc, m + 11)
            inf.luld_ref = tw_be32(m + 19)
            inf.luld_upper = tw_be32(m + 23)
            inf.luld_lower = tw_be32(m + 27)
            inf.luld_ext = tw_be32(m + 31)
        elif t == T_OPHALT:
            self._set_symbol(loc, m + 11)
            if m[19] == 81:
                inf.halt_q = m[20]
            elif m[19] == 66:
                inf.halt_b = m[20]
            elif m[19] == 88:
                inf.halt_x = m[20]
        elif t == T_NOII:
            self._set_symbol(loc, m + 28)
            inf.noii_paired = tw_be64(m + 11)
            inf.noii_imbalance = tw_be64(m + 19)
            inf.noii_dir = m[27]
            inf.noii_far = tw_be32(m + 36)
            inf.noii_near = tw_be32(m + 40)
            inf.noii_ref = tw_be32(m + 44)
            inf.noii_cross_type = m[48]
            inf.noii_pvi = m[49]
            inf.noii_ts = tw_be48(m + 5)
        elif t == T_RPII:
            self._set_symbol(loc, m + 11)
            inf.rpii = m[19]
        elif t == T_DLCR:
            self._set_symbol(loc, m + 11)
            inf.dlcr_updates += 1
        elif t == T_SYSTEM:
            self.system_event = m[11]
            self.system_event_ts = tw_be48(m + 5)
        elif t == T_MWCB_LEVEL:
            self.mwcb_level1 = tw_be64(m + 11)
            self.mwcb_level2 = tw_be64(m + 19)
            self.mwcb_level3 = tw_be64(m + 27)
        elif t == T_MWCB_STATUS:
            self.mwcb_breached = m[11]
        return BOOK_OK

    cdef inline uint32_t *_ref_slot(self, const uint8_t *m) noexcept nogil:
        # Index slot of the order an E/C/X/D/U names, or NULL (prefetch helper: no side effects).
        cdef uint8_t t = m[0]
        cdef uint64_t ref
        cdef uint32_t *page
        if t == T_EXEC or t == T_CANCEL or t == T_DELETE or t == T_REPLACE or t == T_EXEC_PX:
            ref = tw_be64(m + 11)
            if ref <= self.max_ref:
                page = self.pages[ref >> TW_PAGE_SHIFT]
                if page != NULL:
                    return &page[ref & TW_PAGE_MASK]
        return NULL

    cdef size_t _apply_binaryfile(self, const uint8_t *buf, size_t n, size_t off, uint64_t limit) noexcept nogil:
        cdef uint32_t length
        cdef uint64_t stop = self.file_seq + limit if limit else <uint64_t>-1
        cdef const uint8_t *m
        cdef uint32_t *slot
        # Two-stage prefetch of the random accesses of E/C/X/D/U: the index slot of the frame 8 ahead
        # (cursor c4), the order of the frame 4 ahead (cursor c2; its slot arrived meanwhile). Distances
        # measured on a 10 M message day; a third stage (the order's level) cost more than it saved.
        cdef size_t c2 = off
        cdef size_t c4 = off
        cdef int _i
        for _i in range(4):
            c2 = next_frame(buf, n, c2)
        for _i in range(8):
            c4 = next_frame(buf, n, c4)
        while off + 2 <= n:
            length = tw_be16(buf + off)
            if tw_unlikely(off + 2 + length > n):
                break                                  # truncated tail: caller gets its offset
            m = buf + off + 2
            off += 2 + length
            self.file_seq += 1
            if tw_likely(c4 + 21 <= n):
                slot = self._ref_slot(buf + c4 + 2)
                if slot != NULL:
                    tw_prefetch(slot)
            c4 = next_frame(buf, n, c4)
            if tw_likely(c2 + 21 <= n):
                slot = self._ref_slot(buf + c2 + 2)
                if slot != NULL:
                    tw_prefetch(&self.orders[slot[0]])
            c2 = next_frame(buf, n, c2)
            if tw_unlikely(length == 0 or TW_ITCH_LEN[m[0]] != length):
                self.frames_skipped += 1
                continue
            self._apply(m, self.file_seq)           # direct call (on_message is the virtual entry)
            if tw_unlikely(self.has_subscribers) and self.ev_n:
                self._dispatch()
            if tw_unlikely(self.ev_high != 0 and self.ev_n >= self.ev_high):
                break                                  # backpressure: let the caller drain
            if tw_unlikely(self.file_seq >= stop):
                break
        return off

    # ================================================================ internals ====
    cdef int _grow_books(self, uint32_t loc) noexcept nogil:
        cdef uint32_t ncap = <uint32_t>next_pow2(<uint64_t>loc + 1)
        cdef tw_book *nb
        cdef tw_info *ni
        if ncap < INIT_BOOKS:
            ncap = INIT_BOOKS
        if ncap > 65536:
            ncap = 65536
        nb = <tw_book *>realloc(self.books, ncap * sizeof(tw_book))
        if nb == NULL:
            return -1
        self.books = nb
        ni = <tw_info *>realloc(self.infos, ncap * sizeof(tw_info))
        if ni == NULL:
            return -1
        self.infos = ni
        memset(&self.books[self.nbooks], 0, (ncap - self.nbooks) * sizeof(tw_book))
        memset(&self.infos[self.nbooks], 0, (ncap - self.nbooks) * sizeof(tw_info))
        self.nbooks = ncap
        return 0

    cdef tw_book *_book(self, uint32_t loc) noexcept nogil:
        if loc >= self.nbooks:
            return NULL
        return &self.books[loc]

    cdef inline uint32_t _lookup(self, uint64_t ref) noexcept nogil:
        cdef uint32_t *page
        if tw_unlikely(ref > self.max_ref):
            return 0
        page = self.pages[ref >> TW_PAGE_SHIFT]
        if page == NULL:
            return 0
        return page[ref & TW_PAGE_MASK]

    cdef uint32_t *_slot(self, uint64_t ref) noexcept nogil:
        # Slot of ref, allocating its page on first use (from the spare list when possible).
        cdef uint64_t pi = ref >> TW_PAGE_SHIFT
        cdef uint32_t *page = self.pages[pi]
        if tw_unlikely(page == NULL):
            if self.nspare:
                self.nspare -= 1
                page = self.spare[self.nspare]
            else:
                page = <uint32_t *>calloc(TW_PAGE_REFS, sizeof(uint32_t))
                if page == NULL:
                    return NULL
            self.pages[pi] = page
            self.pages_live += 1
        return &page[ref & TW_PAGE_MASK]

    cdef inline uint32_t _alloc_order(self) noexcept nogil:
        cdef uint32_t h = self.order_free
        cdef tw_order *no
        cdef uint64_t ncap
        if h != 0:
            self.order_free = self.orders[h].next
            return h
        if tw_unlikely(self.orders_used == self.orders_cap):
            ncap = <uint64_t>self.orders_cap * 2
            if ncap > <uint64_t>0xFFFFFFFFu:
                return 0
            no = <tw_order *>realloc(self.orders, ncap * sizeof(tw_order))
            if no == NULL:
                return 0
            self.orders = no
            self.orders_cap = <uint32_t>ncap
        h = self.orders_used
        self.orders_used += 1
        return h

    cdef inline uint32_t _alloc_level(self) noexcept nogil:
        cdef uint32_t h = self.level_free
        cdef tw_level *nl
        cdef uint64_t ncap
        if h != 0:
            self.level_free = self.levels[h].head
            return h
        if tw_unlikely(self.levels_used == self.levels_cap):
            ncap = <uint64_t>self.levels_cap * 2
            if ncap > <uint64_t>0xFFFFFFFFu:
                return 0
            nl = <tw_level *>realloc(self.levels, ncap * sizeof(tw_level))
            if nl == NULL:
                return 0
            self.levels = nl
            self.levels_cap = <uint32_t>ncap
        h = self.levels_used
        self.levels_used += 1
        return h

    cdef uint32_t _level_for_add(self, tw_side *sd, uint32_t key, uint32_t price) noexcept nogil:
        # Level of key on this side, inserted (empty) in sorted position if absent; 0 = out of memory.
        cdef uint32_t *keys = sd.keys
        cdef int64_t i = tw_last_le(keys, sd.n, key)
        cdef uint32_t lh, ncap
        cdef uint32_t *nk
        cdef uint32_t *nv
        cdef tw_level *lv
        if i >= 0 and keys[i] == key:
            return sd.lvls[i]
        if tw_unlikely(sd.n == sd.cap):
            ncap = sd.cap * 2 if sd.cap else 8
            nk = <uint32_t *>realloc(sd.keys, ncap * sizeof(uint32_t))
            if nk == NULL:
                return 0
            sd.keys = nk
            nv = <uint32_t *>realloc(sd.lvls, ncap * sizeof(uint32_t))
            if nv == NULL:
                return 0
            sd.lvls = nv
            sd.cap = ncap
        lh = self._alloc_level()
        if lh == 0:
            return 0
        i += 1
        if <uint32_t>i < sd.n:
            memmove(&sd.keys[i + 1], &sd.keys[i], (sd.n - i) * sizeof(uint32_t))
            memmove(&sd.lvls[i + 1], &sd.lvls[i], (sd.n - i) * sizeof(uint32_t))
        sd.keys[i] = key
        sd.lvls[i] = lh
        sd.n += 1
        lv = &self.levels[lh]
        lv.shares = 0
        lv.price = price
        lv.count = 0
        lv.head = 0
        lv.tail = 0
        return lh

    cdef void _drop_level(self, tw_side *sd, uint32_t key) noexcept nogil:
        # Remove the (now empty) level of key from the side array and free it.
        cdef int64_t i = tw_last_le(sd.keys, sd.n, key)
        cdef uint32_t lh
        lh = sd.lvls[i]
        sd.n -= 1
        if <uint32_t>i < sd.n:
            memmove(&sd.keys[i], &sd.keys[i + 1], (sd.n - i) * sizeof(uint32_t))
            memmove(&sd.lvls[i], &sd.lvls[i + 1], (sd.n - i) * sizeof(uint32_t))
        self.levels[lh].head = self.level_free
        self.level_free = lh

    cdef uint32_t _insert(self, tw_book *b, uint16_t loc, uint8_t s, uint64_t ref, uint32_t shares,
                          uint32_t price) noexcept nogil:
        # Append a new order at the back of its level (time priority). The ref must not be live.
        # Returns the level handle, 0 when out of memory.
        cdef uint32_t *slot = self._slot(ref)
        cdef uint32_t h, lh
        cdef tw_order *o
        cdef tw_level *lv
        if slot == NULL:
            return 0
        h = self._alloc_order()
        if h == 0:
            return 0
        lh = self._level_for_add(&b.side[s], side_key(s, price), price)
        if lh == 0:
            self.orders[h].next = self.order_free
            self.order_free = h
            return 0
        lv = &self.levels[lh]
        o = &self.orders[h]
        o.shares = shares
        o.level = lh
        o.prev = lv.tail
        o.next = 0
        o.price = price
        o.locate = loc
        o.side = s
        o.ref = ref
        if lv.tail:
            self.orders[lv.tail].next = h
        else:
            lv.head = h
        lv.tail = h
        lv.count += 1
        lv.shares += shares
        slot[0] = h
        self.page_live[ref >> TW_PAGE_SHIFT] += 1
        b.orders += 1
        self.live_orders += 1
        return lh

    cdef void _remove(self, uint32_t h) noexcept nogil:
        # Unlink a live order from its level (dropping the level when empty), the index and its book.
        cdef tw_order *o = &self.orders[h]
        cdef tw_order *os = self.orders
        cdef tw_level *lv = &self.levels[o.level]
        cdef tw_book *b = &self.books[o.locate]
        cdef uint64_t pi = o.ref >> TW_PAGE_SHIFT
        cdef uint32_t *page
        if o.prev:
            os[o.prev].next = o.next
        else:
            lv.head = o.next
        if o.next:
            os[o.next].prev = o.prev
        else:
            lv.tail = o.prev
        lv.count -= 1
        lv.shares -= o.shares
        if lv.count == 0:
            self._drop_level(&b.side[o.side], side_key(o.side, o.price))
        b.orders -= 1
        self.live_orders -= 1
        page = self.pages[pi]
        page[o.ref & TW_PAGE_MASK] = 0
        self.page_live[pi] -= 1
        if self.page_live[pi] == 0:
            # Last order of the page died: release it (kept as a spare, all slots are zero again).
            self.pages[pi] = NULL
            self.pages_live -= 1
            if self.nspare < MAX_SPARE_PAGES:
                self.spare[self.nspare] = page
                self.nspare += 1
            else:
                free(page)
        o.shares = 0
        o.next = self.order_free
        self.order_free = h

    cdef uint32_t _reduce(self, uint32_t h, uint32_t q) noexcept nogil:
        # Take q shares off an order (cumulative E/C/X); clamp to the remainder. Returns shares taken.
        cdef tw_order *o = &self.orders[h]
        cdef uint32_t rem = o.shares
        if q >= rem:
            self._remove(h)
            return rem
        o.shares = rem - q
        self.levels[o.level].shares -= q
        return q

    cdef void _fill_bbo(self, tw_book *b, tw_event *ev) noexcept nogil:
        cdef tw_level *lv
        if b.side[0].n:
            lv = &self.levels[b.side[0].lvls[b.side[0].n - 1]]
            ev.bid_px = lv.price
            ev.bid_sz = lv.shares
        else:
            ev.bid_px = 0
            ev.bid_sz = 0
        if b.side[1].n:
            lv = &self.levels[b.side[1].lvls[b.side[1].n - 1]]
            ev.ask_px = lv.price
            ev.ask_sz = lv.shares
        else:
            ev.ask_px = 0
            ev.ask_sz = 0

    cdef inline void _touch(self, tw_book *b, uint16_t loc, uint8_t s, const uint8_t *m, uint64_t seq) noexcept nogil:
        # BBO change detection on one side of one book after a change there.
        cdef tw_side *sd = &b.side[s]
        cdef tw_level *lv
        cdef uint32_t px = 0
        cdef uint64_t sz = 0
        cdef tw_event *ev
        if not self.track_bbo:
            return
        if sd.n:
            lv = &self.levels[sd.lvls[sd.n - 1]]
            px = lv.price
            sz = lv.shares
        if px == b.pub_px[s] and sz == b.pub_sz[s]:
            return
        b.pub_px[s] = px
        b.pub_sz[s] = sz
        self.bbo_changes += 1
        if self.record_events:
            ev = self._event()
            if ev != NULL:
                ev.kind = TW_EV_BBO
                ev.side = 66 if s == TW_BID else 83
                ev.locate = loc
                ev.trade_px = 0
                ev.seq = seq
                ev.ts = tw_be48(m + 5)
                ev.trade_qty = 0
                ev.match = 0
                self._fill_bbo(b, ev)

    cdef tw_event *_event(self) noexcept nogil:
        cdef uint64_t ncap
        cdef tw_event *ne
        if tw_unlikely(self.ev_n == self.ev_cap):
            if self.ev_cap >= self.max_events:
                self.events_dropped += 1
                return NULL
            ncap = min(self.ev_cap * 2, self.max_events)
            ne = <tw_event *>realloc(self.events, ncap * sizeof(tw_event))
            if ne == NULL:
                self.events_dropped += 1
                return NULL
            self.events = ne
            self.ev_cap = ncap
        ne = &self.events[self.ev_n]
        self.ev_n += 1
        return ne

    cdef void _trade(self, uint16_t loc, uint8_t side, uint32_t px, uint64_t qty, uint64_t match,
                     const uint8_t *m, uint64_t seq) noexcept nogil:
        cdef tw_info *inf = &self.infos[loc]
        cdef tw_event *ev
        cdef uint64_t ts = tw_be48(m + 5)
        self.trades += 1
        inf.last_px = px
        inf.last_qty = qty
        inf.last_match = match
        inf.last_ts = ts
        if self.record_events:
            ev = self._event()
            if ev != NULL:
                ev.kind = TW_EV_TRADE
                ev.side = side
                ev.locate = loc
                ev.trade_px = px
                ev.seq = seq
                ev.ts = ts
                ev.trade_qty = qty
                ev.match = match
                self._fill_bbo(&self.books[loc], ev)

    cdef void _set_symbol(self, uint32_t loc, const uint8_t *p) noexcept nogil:
        # The directory (R) is authoritative and always sets it; before R the first message naming it does.
        if self.books[loc].has_symbol:
            return
        self.infos[loc].stock = tw_raw64(p)
        self.books[loc].has_symbol = 1

    cdef bint _crossed(self, tw_book *b) noexcept nogil:
        if b.side[0].n == 0 or b.side[1].n == 0:
            return False
        return (self.levels[b.side[0].lvls[b.side[0].n - 1]].price
                >= self.levels[b.side[1].lvls[b.side[1].n - 1]].price)

    cdef void _dispatch(self) noexcept nogil:
        # Push mode: hand each pending event to the Python subscribers, then forget it.
        with gil:
            events = self.drain_events()
            for ev in events:
                for cb in self.subscribers:
                    try:
                        cb(ev)
                    except Exception:
                        self.callback_errors += 1

    # ================================================================ Python API ====
    def apply_binaryfile(self, const uint8_t[::1] buf not None, size_t start=0, uint64_t max_messages=0):
        """Apply a binaryFILE buffer ([uint16 BE length][message] ...) from offset ``start``.

        At most ``max_messages`` frames when > 0 (bounded work per call).

        Frames whose type is not ITCH 5.0 or whose length differs from the spec length are skipped
        (``frames_skipped``). The GIL is released for the loop.

        Returns
        -------
        int : offset where it stopped: ``len(buf)`` when all was applied, the offset of a truncated
            tail, or the next frame when ``max_messages`` were applied or ``event_high_water`` events are
            pending (drain, call again).
        """
        cdef size_t n = buf.shape[0]
        cdef size_t off
        cdef const uint8_t *p = &buf[0] if n else NULL
        if start >= n:
            return n
        if self.has_subscribers:
            off = self._apply_binaryfile(p, n, start, max_messages)     # _dispatch takes the GIL
        else:
            with nogil:
                off = self._apply_binaryfile(p, n, start, max_messages)
        return off

    def apply_message(self, const uint8_t[::1] msg not None, uint64_t seq=0):
        """Apply one ITCH message (no length prefix). Returns the result code (see ``book.codes``)."""
        cdef size_t n = msg.shape[0]
        if n == 0 or TW_ITCH_LEN[msg[0]] != n:
            self.bad_messages += 1
            return BOOK_BAD_MESSAGE
        return self.on_message(&msg[0], <uint32_t>n, seq)

    def reserve(self, uint64_t orders, uint64_t levels=0):
        """Pre-size the order and level pools (no growth during the session up to these counts)."""
        cdef tw_order *no
        cdef tw_level *nl
        if orders + 1 > self.orders_cap:
            if orders + 1 > 0xFFFFFFFF:
                raise ValueError("at most 2**32 - 2 orders")
            no = <tw_order *>realloc(self.orders, (orders + 1) * sizeof(tw_order))
            if no == NULL:
                raise MemoryError(f"cannot reserve {orders} orders")
            self.orders = no
            self.orders_cap = <uint32_t>(orders + 1)
        if levels + 1 > self.levels_cap:
            if levels + 1 > 0xFFFFFFFF:
                raise ValueError("at most 2**32 - 2 levels")
            nl = <tw_level *>realloc(self.levels, (levels + 1) * sizeof(tw_level))
            if nl == NULL:
                raise MemoryError(f"cannot reserve {levels} levels")
            self.levels = nl
            self.levels_cap = <uint32_t>(levels + 1)

    # ---------------------------------------------------------------- events ----
    @property
    def events_pending(self):
        """Events recorded and not yet drained."""
        return self.ev_n

    def drain_events(self):
        """Return the pending events as a NumPy structured array (``EVENT_DTYPE``) and clear them."""
        cdef uint64_t n = self.ev_n
        arr = np.empty(n, dtype=EVENT_DTYPE)
        cdef uint8_t[::1] raw
        if n:
            raw = arr.view(np.uint8)
            memcpy(&raw[0], self.events, n * sizeof(tw_event))
        self.ev_n = 0
        return arr

    def subscribe(self, callback):
        """Call ``callback(event)`` (a numpy record of ``EVENT_DTYPE``) for every event as it happens.

        Push mode: while subscribed, events go to the callbacks and are not kept for ``drain_events``.
        Exceptions raised by a callback are counted in ``callback_errors``. Turns ``record_events`` on.
        """
        if not callable(callback):
            raise TypeError("callback must be callable")
        self.record_events = True
        self.subscribers.append(callback)
        self.has_subscribers = True

    def unsubscribe(self, callback):
        self.subscribers.remove(callback)
        self.has_subscribers = bool(self.subscribers)

    # ---------------------------------------------------------------- queries ----
    def _check_locate(self, locate):
        if not 0 <= locate < 65536:
            raise ValueError(f"locate {locate} out of range 0..65535")
        return locate < self.nbooks

    def bbo(self, int locate):
        """(bid_px, bid_shares, bid_orders, ask_px, ask_shares, ask_orders); 0 for an empty side."""
        cdef tw_book *b
        cdef tw_level *lv
        out = [0, 0, 0, 0, 0, 0]
        if not self._check_locate(locate):
            return tuple(out)
        b = &self.books[locate]
        for s in range(2):
            if b.side[s].n:
                lv = &self.levels[b.side[s].lvls[b.side[s].n - 1]]
                out[3 * s] = lv.price
                out[3 * s + 1] = lv.shares
                out[3 * s + 2] = lv.count
        return tuple(out)

    def depth(self, int locate, int n=10):
        """Top-``n`` aggregated levels per side, best first: (bids, asks), each [(price, shares, orders)]."""
        cdef tw_book *b
        cdef tw_side *sd
        cdef tw_level *lv
        cdef int64_t i
        if not self._check_locate(locate):
            return [], []
        b = &self.books[locate]
        sides = ([], [])
        for s in range(2):
            sd = &b.side[s]
            i = <int64_t>sd.n - 1
            while i >= 0 and len(sides[s]) < n:
                lv = &self.levels[sd.lvls[i]]
                sides[s].append((lv.price, lv.shares, lv.count))
                i -= 1
        return sides

    def levels_count(self, int locate):
        """(bid levels, ask levels) of a book."""
        if not self._check_locate(locate):
            return 0, 0
        return self.books[locate].side[0].n, self.books[locate].side[1].n

    def orders_at(self, int locate, side, uint32_t price):
        """Orders resting at a price, in time priority: [(ref, shares)]."""
        cdef int s = _side_index(side)
        cdef tw_side *sd
        cdef uint32_t key = side_key(s, price)
        cdef uint32_t h
        cdef uint32_t i
        if not self._check_locate(locate):
            return []
        sd = &self.books[locate].side[s]
        for i in range(sd.n):
            if sd.keys[i] == key:
                out = []
                h = self.levels[sd.lvls[i]].head
                while h:
                    out.append((self.orders[h].ref, self.orders[h].shares))
                    h = self.orders[h].next
                return out
        return []

    def order(self, uint64_t ref):
        """A live order as a dict (ref, locate, side, price, shares), or None."""
        cdef uint32_t h = self._lookup(ref)
        cdef tw_order *o
        if h == 0:
            return None
        o = &self.orders[h]
        return {"ref": o.ref, "locate": o.locate, "side": "B" if o.side == TW_BID else "S",
                "price": o.price, "shares": o.shares}

    def symbol(self, int locate):
        """Symbol of a locate (from R, else from the first message naming it), or None."""
        if not self._check_locate(locate) or not self.books[locate].has_symbol:
            return None
        return _sym(self.infos[locate].stock)

    def locate_of(self, symbol):
        """Locate of a symbol, or None."""
        if isinstance(symbol, bytes):
            symbol = symbol.decode("ascii")
        cdef uint32_t i
        for i in range(self.nbooks):
            if self.books[i].has_symbol and _sym(self.infos[i].stock) == symbol.strip():
                return i
        return None

    def symbol_info(self, int locate):
        """Everything known about a locate: directory, trading state, Reg SHO, LULD, NOII, last trade, ..."""
        cdef tw_info *f
        cdef tw_book *b
        if not self._check_locate(locate):
            return None
        f = &self.infos[locate]
        b = &self.books[locate]
        return {
            "locate": locate,
            "symbol": _sym(f.stock) if b.has_symbol else None,
            "has_directory": bool(b.has_directory),
            "market_category": _ch(f.market_category), "financial_status": _ch(f.financial_status),
            "round_lot": f.round_lot, "round_lots_only": _ch(f.round_lots_only),
            "issue_classification": _ch(f.issue_classification),
            "issue_subtype": (_ch(f.issue_subtype[0]) + _ch(f.issue_subtype[1])).strip(),
            "authenticity": _ch(f.authenticity), "short_sale_threshold": _ch(f.short_sale_threshold),
            "ipo_flag": _ch(f.ipo_flag), "luld_tier": _ch(f.luld_tier), "etp_flag": _ch(f.etp_flag),
            "etp_leverage": f.etp_leverage, "inverse": _ch(f.inverse),
            "trading_state": _ch(f.trading_state),
            "trading_reason": (<uint64_t>f.reason).to_bytes(4, "little").decode("ascii", "replace").strip(" \x00"),
            "trading_ts": f.trading_ts,
            "operational_halt": {"Q": _ch(f.halt_q), "B": _ch(f.halt_b), "X": _ch(f.halt_x)},
            "reg_sho": _ch(f.reg_sho), "rpii": _ch(f.rpii),
            "luld": {"ref": f.luld_ref, "upper": f.luld_upper, "lower": f.luld_lower, "extension": f.luld_ext},
            "ipo": {"release_time": f.ipo_release, "qualifier": _ch(f.ipo_qualifier), "price": f.ipo_price},
            "noii": {"paired": f.noii_paired, "imbalance": f.noii_imbalance, "direction": _ch(f.noii_dir),
                     "far": f.noii_far, "near": f.noii_near, "ref": f.noii_ref,
                     "cross_type": _ch(f.noii_cross_type), "pvi": _ch(f.noii_pvi), "ts": f.noii_ts},
            "last_trade": {"price": f.last_px, "shares": f.last_qty, "match": f.last_match, "ts": f.last_ts},
            "participant_positions": f.participant_positions, "dlcr_updates": f.dlcr_updates,
            "messages": b.msgs, "orders": b.orders,
        }

    @property
    def book_count(self):
        """Books with any live order or a directory entry."""
        cdef uint32_t i
        cdef uint64_t c = 0
        for i in range(self.nbooks):
            if self.books[i].orders or self.books[i].has_directory:
                c += 1
        return c

    def message_count(self, int locate):
        """Messages seen carrying this locate."""
        if not self._check_locate(locate):
            return 0
        return self.books[locate].msgs

    def message_counts(self):
        """Per-locate message counts as a uint64 NumPy array (index = locate)."""
        arr = np.zeros(self.nbooks, dtype=np.uint64)
        cdef uint64_t[::1] v = arr
        cdef uint32_t i
        for i in range(self.nbooks):
            v[i] = self.books[i].msgs
        return arr

    def most_active(self, int n=10):
        """The ``n`` locates with the most messages, most active first (ties: lower locate first)."""
        counts = self.message_counts()
        idx = np.argsort(-counts.astype(np.int64), kind="stable")[:n]
        return [int(i) for i in idx if counts[i]]

    def locates(self):
        """Locates of every book with a live order or a directory entry, ascending."""
        cdef uint32_t i
        return [i for i in range(self.nbooks) if self.books[i].orders or self.books[i].has_directory]

    def type_counts(self):
        """Messages applied per type: {'A': n, ...}."""
        return {chr(i): self.tcounts[i] for i in range(256) if self.tcounts[i]}

    def counters(self):
        """All fault and activity counters as a dict."""
        return {
            "messages": self.messages, "live_orders": self.live_orders,
            "unknown_refs": self.unknown_refs, "duplicate_adds": self.duplicate_adds,
            "over_executions": self.over_executions, "over_cancels": self.over_cancels,
            "rejected_adds": self.rejected_adds, "bad_refs": self.bad_refs, "bad_locates": self.bad_locates,
            "replace_onto_live": self.replace_onto_live, "zero_share_mods": self.zero_share_mods,
            "locate_mismatches": self.locate_mismatches, "no_memory": self.no_memory,
            "bad_messages": self.bad_messages, "bbo_changes": self.bbo_changes, "trades": self.trades,
            "broken_trades": self.broken_trades, "empty_crosses": self.empty_crosses,
            "crossed_events": self.crossed_events,
            "events_dropped": self.events_dropped, "callback_errors": self.callback_errors,
            "frames_skipped": self.frames_skipped,
        }

    def memory(self):
        """Bytes held by the pools, the index and the side arrays (capacity, not use)."""
        cdef uint64_t sides = 0
        cdef uint32_t i
        for i in range(self.nbooks):
            sides += (self.books[i].side[0].cap + self.books[i].side[1].cap) * 8
        return {
            "orders": self.orders_cap * sizeof(tw_order), "levels": self.levels_cap * sizeof(tw_level),
            "index_pages": (self.pages_live + self.nspare) * TW_PAGE_REFS * 4,
            "index_directory": self.npages * (sizeof(uint32_t *) + 2),
            "books": self.nbooks * (sizeof(tw_book) + sizeof(tw_info)), "sides": sides,
            "events": self.ev_cap * sizeof(tw_event),
        }

    def crossed_books(self):
        """Number of books whose best bid >= best ask right now."""
        cdef uint32_t i
        cdef uint64_t c = 0
        for i in range(self.nbooks):
            if self._crossed(&self.books[i]):
                c += 1
        return c

    def validate(self, bint raise_on_error=False):
        """Full internal-state check.

        Checks: sides strictly sorted with keys matching level prices; each level's shares and order
        count equal the sum over its FIFO chain; FIFO links consistent; every order points back at its
        level, side and book; the order index maps each live ref to its order and nothing else; per-page
        live counts; book and global order counts; the free lists hold no live object.

        Returns
        -------
        list of str : problems found (empty when consistent).

        Raises
        ------
        AssertionError : when ``raise_on_error`` and a problem was found (all problems in the message).
        """
        problems = []
        cdef uint32_t loc, i, lh, h, prev, cnt
        cdef uint64_t tot, total_orders = 0, pi, slot, idx_live = 0
        cdef int s
        cdef tw_book *b
        cdef tw_side *sd
        cdef tw_level *lv
        cdef tw_order *o
        cdef uint32_t *page
        for loc in range(self.nbooks):
            b = &self.books[loc]
            tot = 0
            for s in range(2):
                sd = &b.side[s]
                for i in range(sd.n):
                    if i and sd.keys[i - 1] >= sd.keys[i]:
                        problems.append(f"locate {loc} side {s}: keys not strictly ascending at {i}")
                    lh = sd.lvls[i]
                    if lh == 0 or lh >= self.levels_used:
                        problems.append(f"locate {loc} side {s}: bad level handle {lh}")
                        continue
                    lv = &self.levels[lh]
                    if side_key(s, lv.price) != sd.keys[i]:
                        problems.append(f"locate {loc} side {s}: level {lh} price {lv.price} != key")
                    cnt = 0
                    shares = 0
                    prev = 0
                    h = lv.head
                    while h and cnt <= self.live_orders:
                        o = &self.orders[h]
                        if o.prev != prev:
                            problems.append(f"order {o.ref}: prev link {o.prev} != {prev}")
                        if o.level != lh or o.side != s or o.locate != loc:
                            problems.append(f"order {o.ref}: level/side/locate do not match its FIFO")
                        if o.price != lv.price:
                            problems.append(f"order {o.ref}: price {o.price} != level price {lv.price}")
                        if o.shares == 0:
                            problems.append(f"order {o.ref}: live with 0 shares")
                        if self._lookup(o.ref) != h:
                            problems.append(f"order {o.ref}: index maps it to {self._lookup(o.ref)}, not {h}")
                        shares += o.shares
                        cnt += 1
                        prev = h
                        h = o.next
                    if prev != lv.tail:
                        problems.append(f"locate {loc} level {lv.price}: tail {lv.tail} != last of chain {prev}")
                    if cnt != lv.count or cnt == 0:
                        problems.append(f"locate {loc} level {lv.price}: count {lv.count} != chain {cnt}")
                    if shares != lv.shares:
                        problems.append(f"locate {loc} level {lv.price}: shares {lv.shares} != chain {shares}")
                    tot += cnt
            if tot != b.orders:
                problems.append(f"locate {loc}: book.orders {b.orders} != {tot} in its levels")
            total_orders += tot
        if total_orders != self.live_orders:
            problems.append(f"live_orders {self.live_orders} != {total_orders} in the books")
        live_pages = 0
        for pi in range(self.npages):
            page = self.pages[pi]
            if page == NULL:
                if self.page_live[pi]:
                    problems.append(f"index page {pi}: absent but live count {self.page_live[pi]}")
                continue
            live_pages += 1
            cnt = 0
            for slot in range(<uint64_t>TW_PAGE_REFS):
                h = page[slot]
                if h:
                    cnt += 1
                    if h >= self.orders_used or self.orders[h].ref != (pi << TW_PAGE_SHIFT) + slot \
                            or self.orders[h].shares == 0:
                        problems.append(f"index: ref {(pi << TW_PAGE_SHIFT) + slot} -> stale handle {h}")
            if cnt != self.page_live[pi]:
                problems.append(f"index page {pi}: live count {self.page_live[pi]} != {cnt}")
            idx_live += cnt
        if idx_live != self.live_orders:
            problems.append(f"index holds {idx_live} refs, live_orders {self.live_orders}")
        if live_pages != self.pages_live:
            problems.append(f"pages_live {self.pages_live} != {live_pages}")
        h = self.order_free
        cnt = 0
        while h and cnt < self.orders_used:
            if self.orders[h].shares != 0:
                problems.append(f"free order {h} has shares")
                break
            h = self.orders[h].next
            cnt += 1
        if cnt + 1 + self.live_orders != self.orders_used:
            problems.append(f"order pool: {cnt} free + {self.live_orders} live != {self.orders_used - 1} used")
        if raise_on_error and problems:
            raise AssertionError("BookBuilder internal state invalid:\n  " + "\n  ".join(problems[:50]))
        return problems

    def _corrupt_for_test(self, what):
        """Break one invariant on purpose (tests of ``validate`` only): 'level_shares', 'order_link', 'index'."""
        cdef uint32_t loc, h
        for loc in range(self.nbooks):
            if self.books[loc].side[0].n:
                h = self.books[loc].side[0].lvls[0]
                if what == "level_shares":
                    self.levels[h].shares += 1
                elif what == "order_link":
                    self.orders[self.levels[h].head].prev = 12345
                elif what == "index":
                    self.pages[self.orders[self.levels[h].head].ref >> TW_PAGE_SHIFT][
                        self.orders[self.levels[h].head].ref & TW_PAGE_MASK] = 0
                else:
                    raise ValueError(what)
                return
        raise ValueError("no live bid to corrupt")

    def validate_internal_state(self):
        """``validate(raise_on_error=True)``."""
        self.validate(True)

    @staticmethod
    def describe(int code):
        """(NAME, message) of a result code."""
        return describe(code)
