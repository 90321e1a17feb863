# cython: language_level=3
"""The feed service's hot path: a ``MessageSink`` (what ``MoldSession`` feeds) that applies each ITCH message
to a ``BookBuilder`` and encodes the market-data messages it causes, in place, into claimed Aeron buffers.

Per applied ITCH message (docs/appliance.md "Market data"):
- the L3 order event (OrderAdd for A/F, OrderExecute for E/C, OrderCancel for X, OrderDelete for D,
  OrderReplace for U), SymbolDirectory for R, TradingStatus for H;
- Trade for E, printable C, P and a Q cross with shares;
- DepthUpdate with the level(s) the message touched (add / change / delete, shares and orders after it);
- BboUpdate when the best bid or offer (price, shares or orders) changed, with its TimingStamps
  (send = the packet's TWTS stamp, rx = packet received, book = book updated, md_pub = just before the commit).
Every message carries the next ``stream_seq``. The publication is FAIL_FAST: a claim that fails (after
up to 3 immediate retries of an admin action, the log rotating a term, which is no back-pressure) is
counted, its ``stream_seq`` is consumed (subscribers see the gap) and its book is marked dirty until the
next snapshot set. Locates outside the configured subset are applied to the books but not published.
No Python object and no allocation per message.
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset

from book.builder cimport BookBuilder, tw_book, tw_info, tw_level, tw_order, tw_side, TW_BID, TW_ASK
from core.endian cimport tw_be16, tw_be32, tw_be48, tw_be64
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec
from feedhandlers.sink cimport MessageSink
from messaging.sbe_wire cimport (BboUpdate_t, BookSnapshot_t, BookSnapshot_levels_t, DepthUpdate_t,
                                 DepthUpdate_levels_t, FeedStatus_t, Heartbeat_t, OrderAdd_t, OrderCancel_t,
                                 OrderDelete_t, OrderExecute_t, OrderReplace_t, SymbolDirectory_t, Trade_t,
                                 TradingStatus_t, put_BboUpdate, put_BookSnapshot, put_DepthUpdate, put_FeedStatus,
                                 put_Heartbeat, put_OrderAdd, put_OrderCancel, put_OrderDelete, put_OrderExecute,
                                 put_OrderReplace, put_SymbolDirectory, put_Trade, put_TradingStatus,
                                 BookSnapshot_length, BookSnapshot_levels, DepthUpdate_length, DepthUpdate_levels,
                                 SBE_HEADER_LEN, BBO_UPDATE_ENCODED_LENGTH, FEED_STATUS_ENCODED_LENGTH,
                                 HEARTBEAT_ENCODED_LENGTH, ORDER_ADD_ENCODED_LENGTH, ORDER_CANCEL_ENCODED_LENGTH,
                                 ORDER_DELETE_ENCODED_LENGTH, ORDER_EXECUTE_ENCODED_LENGTH,
                                 ORDER_REPLACE_ENCODED_LENGTH, SYMBOL_DIRECTORY_ENCODED_LENGTH,
                                 TRADE_ENCODED_LENGTH, TRADING_STATUS_ENCODED_LENGTH)
from core.codes cimport AERON_E_ADMIN_ACTION
from messaging.transport cimport Publisher

cdef enum:
    NLOC = 65536
    SIDE_BUY = 1
    SIDE_SELL = 2
    ACT_ADD = 1
    ACT_CHANGE = 2
    ACT_DELETE = 3
    MAX_SNAPSHOT_LEVELS = 65535


cdef inline uint64_t now_realtime_ns() noexcept nogil:
    # (core.linux's twin: its header and aeron_c.h both define tw_cpu_relax, so it is not cimported here)
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <uint64_t>ts.tv_sec * 1000000000 + <uint64_t>ts.tv_nsec


ctypedef packed struct md_head_t:
    uint64_t feed_seq
    uint64_t exch_ts
    uint64_t rx_ts
    uint64_t stream_seq


ctypedef struct lvl_state:
    uint64_t shares
    uint32_t count
    uint32_t price
    uint8_t side
    uint8_t used


ctypedef struct bbo_state:
    uint32_t px[2]
    uint64_t sz[2]
    uint32_t n[2]


cdef inline uint32_t _level_handle(BookBuilder bk, tw_book* b, uint8_t side, uint32_t price) noexcept nogil:
    """Level handle of ``price`` on a side (binary search on the sorted keys), 0 if none."""
    cdef tw_side* sd = &b.side[side]
    cdef uint32_t key = price if side == TW_BID else ~price
    cdef int64_t lo = 0, hi = <int64_t>sd.n - 1, mid
    while lo <= hi:
        mid = (lo + hi) >> 1
        if sd.keys[mid] == key:
            return sd.lvls[mid]
        if sd.keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid - 1
    return 0


cdef inline void _read_level(BookBuilder bk, tw_book* b, lvl_state* st) noexcept nogil:
    cdef uint32_t h = _level_handle(bk, b, st.side, st.price) if b != NULL else 0
    if h == 0:
        st.shares = 0
        st.count = 0
    else:
        st.shares = bk.levels[h].shares
        st.count = bk.levels[h].count


cdef inline void _read_bbo(BookBuilder bk, tw_book* b, bbo_state* st) noexcept nogil:
    cdef int s
    cdef tw_level* lv
    for s in range(2):
        if b == NULL or b.side[s].n == 0:
            st.px[s] = 0
            st.sz[s] = 0
            st.n[s] = 0
        else:
            lv = &bk.levels[b.side[s].lvls[b.side[s].n - 1]]
            st.px[s] = lv.price
            st.sz[s] = lv.shares
            st.n[s] = lv.count


cdef inline uint32_t _clamp32(uint64_t v) noexcept nogil:
    if v > <uint64_t>0xFFFFFFFFU:
        return <uint32_t>0xFFFFFFFFU
    return <uint32_t>v


cdef inline uint8_t _state(uint8_t c) noexcept nogil:
    if c == b'H':
        return 1
    if c == b'P':
        return 2
    if c == b'Q':
        return 3
    if c == b'T':
        return 4
    return 0


cdef class MdPublisher(MessageSink):
    """``MdPublisher(md, snap, books=None, locates=None)``: ``md`` / ``snap`` are the ``Publisher`` of the
    market_data / snapshot streams; ``locates`` the stock locates to publish (None: all)."""

    def __cinit__(self):
        self.want = NULL
        self.syms = NULL
        self.nsyms = 0
        self.dirty = <uint8_t*>calloc(NLOC, 1)
        self.scratch_cap = 1 << 16
        self.scratch = <unsigned char*>malloc(self.scratch_cap)
        if self.dirty == NULL or self.scratch == NULL:
            raise MemoryError()

    def __init__(self, Publisher md, Publisher snap, BookBuilder books=None, locates=None, symbols=None):
        self.md = md
        self.snap = snap
        self.books = books if books is not None else BookBuilder()
        self.set_locates(locates)
        if symbols:
            self.set_symbols(symbols)

    def set_strategy(self, FastStrategy strategy):
        """In-process mode: ``strategy`` is called on each BBO change and trade, in this thread (None: off)."""
        if strategy is not None:
            strategy.in_process(True)
        self.strategy = strategy

    def set_symbols(self, symbols):
        """Publish only these symbols (names): each is wanted from the Stock Directory (R) that names its
        locate on; until then nothing of it is published. Empty / None: every symbol."""
        free(self.syms)
        self.syms = NULL
        self.nsyms = 0
        if not symbols:
            return
        if self.want == NULL:
            self.set_locates(())
        self.syms = <uint64_t*>calloc(len(symbols), sizeof(uint64_t))
        if self.syms == NULL:
            raise MemoryError()
        for name in symbols:
            raw = name.encode("ascii").ljust(8)[:8]
            memcpy(&self.syms[self.nsyms], <const char*>raw, 8)
            self.nsyms += 1

    def __dealloc__(self):
        free(self.syms)
        free(self.want)
        free(self.dirty)
        free(self.scratch)

    def set_locates(self, locates):
        """Publish only these stock locates (an iterable of ints); None: every locate."""
        free(self.want)
        self.want = NULL
        if locates is None:
            return
        self.want = <uint8_t*>calloc(NLOC, 1)
        if self.want == NULL:
            raise MemoryError()
        for loc in locates:
            if 0 <= loc < NLOC:
                self.want[loc] = 1

    def wants(self, int loc):
        return self.want == NULL or (0 <= loc < NLOC and self.want[loc] != 0)

    # ------------------------------------------------------------------------------------ helpers
    cdef unsigned char* _claim(self, Py_ssize_t length, uint16_t loc) noexcept nogil:
        cdef unsigned char* data = NULL
        cdef long r
        cdef int tries = 0
        self.stream_seq += 1
        r = self.md.claim(length, &data)
        while r == AERON_E_ADMIN_ACTION and tries < 3:
            # The log rotated a term under the claim: not back-pressure, a retry succeeds (Aeron's advice).
            # Counted by the Publisher as an attempt (admin_action); only a final failure is a loss.
            tries += 1
            r = self.md.claim(length, &data)
        if r > 0:
            return data
        self.failed += 1
        if self.dirty[loc] == 0:
            self.dirty[loc] = 1
            self.dirty_books += 1
        return NULL

    cdef void _head(self, unsigned char* block, uint64_t ts, uint64_t rx) noexcept nogil:
        cdef md_head_t* h = <md_head_t*>block
        h.feed_seq = self.feed_seq
        h.exch_ts = ts
        h.rx_ts = rx
        h.stream_seq = self.stream_seq

    cdef void _symbol(self, char* dst, uint16_t loc) noexcept nogil:
        cdef int i
        cdef const char* src
        if loc >= self.books.nbooks:
            return
        src = <const char*>&self.books.infos[loc].stock
        for i in range(8):
            dst[i] = 0 if src[i] == b' ' else src[i]

    # ------------------------------------------------------------------------------------ hot path
    cdef int on_message(self, const uint8_t *m, uint32_t length, uint64_t seq) noexcept nogil:
        cdef uint8_t t = m[0]
        cdef uint16_t loc = tw_be16(m + 1)
        cdef uint64_t ts = tw_be48(m + 5)
        cdef uint64_t rx = self.rx_ns
        cdef uint64_t ref = 0, book_ns, leaves = 0
        cdef uint32_t h = 0, px = 0, shares = 0
        cdef tw_book* b
        cdef tw_order* o
        cdef lvl_state lv[2]
        cdef bbo_state before, after
        cdef int nlv = 0, i, n, rc, k
        cdef unsigned char* d
        cdef uint8_t oside = 0
        cdef bint has_order = False
        cdef uint8_t acts[2]
        cdef uint64_t raw
        cdef BboUpdate_t lb
        if t == b'R' and self.nsyms != 0:
            memcpy(&raw, m + 11, 8)
            for i in range(self.nsyms):
                if self.syms[i] == raw:
                    self.want[loc] = 1
        self.feed_seq = seq
        self.exch_ts = ts
        self.last_rx_ns = rx
        self.books.rx_ns = rx
        if self.want != NULL and not self.want[loc]:
            self.filtered += 1
            rc = self.books.on_message(m, length, seq)
            if rc < 0:
                self.book_errors += 1
            return rc
        lv[0].used = 0
        lv[1].used = 0
        # ---- what the message will touch, before it is applied
        if t == b'A' or t == b'F':
            lv[0].side = TW_BID if m[19] == b'B' else TW_ASK
            lv[0].price = tw_be32(m + 32)
            lv[0].used = 1
            nlv = 1
        elif t == b'E' or t == b'C' or t == b'X' or t == b'D' or t == b'U':
            ref = tw_be64(m + 11)
            h = self.books._lookup(ref)
            if h != 0:
                o = &self.books.orders[h]
                has_order = True
                oside = o.side
                lv[0].side = o.side
                lv[0].price = o.price
                lv[0].used = 1
                nlv = 1
                if t == b'U':
                    lv[1].side = o.side
                    lv[1].price = tw_be32(m + 31)
                    lv[1].used = 1
                    nlv = 2 if lv[1].price != lv[0].price else 1
        b = self.books._book(loc)
        for i in range(nlv):
            _read_level(self.books, b, &lv[i])
        _read_bbo(self.books, b, &before)
        # ---- apply
        rc = self.books.on_message(m, length, seq)
        if rc < 0:
            self.book_errors += 1
        book_ns = now_realtime_ns()
        b = self.books._book(loc)
        # ---- the L3 / reference-data message
        if t == b'A' or t == b'F':
            if rc >= 0:
                d = self._claim(ORDER_ADD_ENCODED_LENGTH, loc)
                if d != NULL:
                    oa = put_OrderAdd(d, ORDER_ADD_ENCODED_LENGTH)
                    self._head(<unsigned char*>oa, ts, rx)
                    memcpy(oa.symbol, m + 24, 8)
                    for k in range(8):
                        if oa.symbol[k] == b' ':
                            oa.symbol[k] = 0
                    oa.order_ref = tw_be64(m + 11)
                    oa.price = tw_be32(m + 32)
                    oa.shares = tw_be32(m + 20)
                    oa.locate = loc
                    oa.side = SIDE_BUY if m[19] == b'B' else SIDE_SELL
                    self.md.commit()
        elif (t == b'E' or t == b'C') and has_order:
            shares = tw_be32(m + 19)
            px = tw_be32(m + 32) if t == b'C' else lv[0].price
            h = self.books._lookup(ref)
            leaves = self.books.orders[h].shares if h != 0 else 0
            d = self._claim(ORDER_EXECUTE_ENCODED_LENGTH, loc)
            if d != NULL:
                oe = put_OrderExecute(d, ORDER_EXECUTE_ENCODED_LENGTH)
                self._head(<unsigned char*>oe, ts, rx)
                oe.order_ref = ref
                oe.match_id = tw_be64(m + 23)
                oe.price = px
                oe.shares = shares
                oe.leaves = <uint32_t>leaves
                oe.locate = loc
                self.md.commit()
            if t == b'E' or m[31] == b'Y':
                self._trade(loc, ts, rx, tw_be64(m + 23), px, shares, SIDE_BUY if oside == TW_BID else SIDE_SELL)
        elif t == b'X' and has_order:
            h = self.books._lookup(ref)
            d = self._claim(ORDER_CANCEL_ENCODED_LENGTH, loc)
            if d != NULL:
                ox = put_OrderCancel(d, ORDER_CANCEL_ENCODED_LENGTH)
                self._head(<unsigned char*>ox, ts, rx)
                ox.order_ref = ref
                ox.shares = tw_be32(m + 19)
                ox.leaves = self.books.orders[h].shares if h != 0 else 0
                ox.locate = loc
                self.md.commit()
        elif t == b'D' and has_order:
            d = self._claim(ORDER_DELETE_ENCODED_LENGTH, loc)
            if d != NULL:
                od = put_OrderDelete(d, ORDER_DELETE_ENCODED_LENGTH)
                self._head(<unsigned char*>od, ts, rx)
                od.order_ref = ref
                od.locate = loc
                self.md.commit()
        elif t == b'U' and has_order:
            d = self._claim(ORDER_REPLACE_ENCODED_LENGTH, loc)
            if d != NULL:
                ou = put_OrderReplace(d, ORDER_REPLACE_ENCODED_LENGTH)
                self._head(<unsigned char*>ou, ts, rx)
                ou.orig_order_ref = ref
                ou.new_order_ref = tw_be64(m + 19)
                ou.price = tw_be32(m + 31)
                ou.shares = tw_be32(m + 27)
                ou.locate = loc
                self.md.commit()
        elif t == b'P':
            self._trade(loc, ts, rx, tw_be64(m + 36), tw_be32(m + 32), tw_be32(m + 20),
                        SIDE_BUY if m[19] == b'B' else (SIDE_SELL if m[19] == b'S' else 0))
        elif t == b'Q':
            if tw_be64(m + 11) != 0:
                self._trade(loc, ts, rx, tw_be64(m + 31), tw_be32(m + 27), _clamp32(tw_be64(m + 11)), 0)
        elif t == b'R':
            d = self._claim(SYMBOL_DIRECTORY_ENCODED_LENGTH, loc)
            if d != NULL:
                sd = put_SymbolDirectory(d, SYMBOL_DIRECTORY_ENCODED_LENGTH)
                self._head(<unsigned char*>sd, ts, rx)
                self._symbol(sd.symbol, loc)
                sd.round_lot = tw_be32(m + 21)
                sd.locate = loc
                self.md.commit()
        elif t == b'H':
            d = self._claim(TRADING_STATUS_ENCODED_LENGTH, loc)
            if d != NULL:
                st = put_TradingStatus(d, TRADING_STATUS_ENCODED_LENGTH)
                self._head(<unsigned char*>st, ts, rx)
                self._symbol(st.symbol, loc)
                memcpy(st.reason, m + 21, 4)
                st.locate = loc
                st.state = _state(m[19])
                self.md.commit()
        # ---- depth: the levels touched
        n = 0
        for i in range(nlv):
            px = lv[i].price
            shares = <uint32_t>lv[i].shares
            k = lv[i].count
            _read_level(self.books, b, &lv[i])
            if lv[i].count == 0 and k == 0:
                acts[i] = 0
            elif k == 0:
                acts[i] = ACT_ADD
            elif lv[i].count == 0:
                acts[i] = ACT_DELETE
            elif lv[i].shares != shares or lv[i].count != <uint32_t>k:
                acts[i] = ACT_CHANGE
            else:
                acts[i] = 0
            if acts[i] != 0:
                n += 1
        if n:
            d = self._claim(DepthUpdate_length(n), loc)
            if d != NULL:
                du = put_DepthUpdate(d, DepthUpdate_length(n), <uint16_t>n)
                self._head(<unsigned char*>du, ts, rx)
                self._symbol(du.symbol, loc)
                du.locate = loc
                k = 0
                for i in range(nlv):
                    if acts[i] != 0:
                        e = DepthUpdate_levels(d, k)
                        e.price = lv[i].price
                        e.shares = _clamp32(lv[i].shares)
                        e.orders = lv[i].count
                        e.side = SIDE_BUY if lv[i].side == TW_BID else SIDE_SELL
                        e.action = acts[i]
                        k += 1
                self.md.commit()
            self.depth_updates += 1
        # ---- BBO
        _read_bbo(self.books, b, &after)
        if (before.px[0] != after.px[0] or before.px[1] != after.px[1] or before.sz[0] != after.sz[0]
                or before.sz[1] != after.sz[1] or before.n[0] != after.n[0] or before.n[1] != after.n[1]):
            self.bbo_updates += 1
            d = self._claim(BBO_UPDATE_ENCODED_LENGTH, loc)
            # the block is made on the stack: published when claimed, handed to the in-process strategy
            # (after the commit: the other subscribers are not delayed by it) even when not
            memset(&lb, 0, sizeof(lb))
            self._head(<unsigned char*>&lb, ts, rx)
            self._symbol(lb.symbol, loc)
            lb.bid_px = after.px[0]
            lb.ask_px = after.px[1]
            lb.bid_qty = _clamp32(after.sz[0])
            lb.ask_qty = _clamp32(after.sz[1])
            lb.bid_orders = after.n[0]
            lb.ask_orders = after.n[1]
            lb.locate = loc
            lb.timing.send_ns = self.send_ns
            lb.timing.rx_ns = rx
            lb.timing.book_ns = book_ns
            if d != NULL:
                bb = put_BboUpdate(d, BBO_UPDATE_ENCODED_LENGTH)
                memcpy(bb, &lb, sizeof(lb))
                bb.timing.md_pub_ns = now_realtime_ns()
                self.md.commit()
            if self.strategy is not None:
                self.strategy.bbo_in_process(&lb)
        return rc

    cdef void _trade(self, uint16_t loc, uint64_t ts, uint64_t rx, uint64_t match, uint32_t px, uint32_t shares,
                     uint8_t side) noexcept nogil:
        cdef unsigned char* d = self._claim(TRADE_ENCODED_LENGTH, loc)
        cdef Trade_t lt
        self.trades += 1
        if d == NULL and self.strategy is None:
            return
        memset(&lt, 0, sizeof(lt))
        self._head(<unsigned char*>&lt, ts, rx)
        self._symbol(lt.symbol, loc)
        lt.match_id = match
        lt.price = px
        lt.shares = shares
        lt.locate = loc
        lt.side = side
        if d != NULL:
            tr = put_Trade(d, TRADE_ENCODED_LENGTH)
            memcpy(tr, &lt, sizeof(lt))
            self.md.commit()
        if self.strategy is not None:
            self.strategy.trade_in_process(&lt)

    # ------------------------------------------------------------------------------------ control messages
    def heartbeat(self):
        """A Heartbeat on market_data (the service sends one when idle); True when published."""
        cdef unsigned char* d = self._claim(HEARTBEAT_ENCODED_LENGTH, 0)
        if d == NULL:
            return False
        hb = put_Heartbeat(d, HEARTBEAT_ENCODED_LENGTH)
        self._head(<unsigned char*>hb, self.exch_ts, now_realtime_ns())
        self.md.commit()
        return True

    def feed_status(self, int event, int line=0, uint64_t gap_from=0, uint64_t gap_to=0, uint64_t next_seq=0):
        """A FeedStatus on market_data (event: messaging.sbe_schema.FeedEvent value); True when published."""
        cdef unsigned char* d = self._claim(FEED_STATUS_ENCODED_LENGTH, 0)
        if d == NULL:
            return False
        fs = put_FeedStatus(d, FEED_STATUS_ENCODED_LENGTH)
        self._head(<unsigned char*>fs, self.exch_ts, now_realtime_ns())
        fs.feed_seq = next_seq
        fs.gap_from = gap_from
        fs.gap_to = gap_to
        fs.event = <uint8_t>event
        fs.line = <uint8_t>line
        self.md.commit()
        return True

    def publish_snapshot(self, uint64_t request_id=0, int only_locate=0):
        """One BookSnapshot per symbol on ``snapshot`` (``only_locate`` > 0: that one), all with
        last_stream_seq = the current stream_seq: call it between two packets. Returns (sent, failed)."""
        cdef BookBuilder bk = self.books
        cdef uint32_t loc, count = 0, index = 0, nlev, i, s, j
        cdef tw_book* b
        cdef Py_ssize_t need
        cdef uint32_t sent = 0, bad = 0
        cdef long r
        cdef tw_side* sd
        cdef tw_level* lvl
        for loc in range(1, bk.nbooks):
            if self._snap_wanted(loc, only_locate):
                count += 1
        if count == 0:
            return self._empty_snapshot(request_id)
        for loc in range(1, bk.nbooks):
            if not self._snap_wanted(loc, only_locate):
                continue
            b = &bk.books[loc]
            nlev = b.side[0].n + b.side[1].n
            if nlev > MAX_SNAPSHOT_LEVELS:
                nlev = MAX_SNAPSHOT_LEVELS
                self.snapshot_truncated += 1
            need = BookSnapshot_length(nlev)
            if need > self.scratch_cap:
                p = <unsigned char*>realloc(self.scratch, need)
                if p == NULL:
                    raise MemoryError()
                self.scratch = p
                self.scratch_cap = need
            bs = put_BookSnapshot(self.scratch, self.scratch_cap, <uint16_t>nlev)
            self.snap_seq += 1
            bs.feed_seq = self.feed_seq
            bs.exch_ts = self.exch_ts
            bs.rx_ts = self.last_rx_ns
            bs.stream_seq = self.snap_seq
            self._symbol(bs.symbol, <uint16_t>loc)
            bs.last_stream_seq = self.stream_seq
            bs.request_id = request_id
            bs.index = index
            bs.count = count
            bs.locate = <uint16_t>loc
            bs.state = _state(bk.infos[loc].trading_state)
            i = 0
            for s in range(2):
                sd = &b.side[s]
                j = sd.n
                while j > 0 and i < nlev:          # best first
                    j -= 1
                    lvl = &bk.levels[sd.lvls[j]]
                    e = BookSnapshot_levels(self.scratch, i)
                    e.price = lvl.price
                    e.shares = _clamp32(lvl.shares)
                    e.orders = lvl.count
                    e.side = SIDE_BUY if s == TW_BID else SIDE_SELL
                    i += 1
            with nogil:
                r = self.snap.offer(self.scratch, need)
            if r > 0:
                sent += 1
            else:
                bad += 1
            index += 1
        self.snapshots += sent
        self.snapshot_failed += bad
        self.snapshot_sets += 1
        if bad == 0 and only_locate == 0:
            memset(self.dirty, 0, NLOC)
            self.dirty_books = 0
        return sent, bad

    cdef bint _snap_wanted(self, uint32_t loc, int only) noexcept nogil:
        cdef tw_book* b = &self.books.books[loc]
        if only > 0 and <uint32_t>only != loc:
            return False
        if self.want != NULL and not self.want[loc]:
            return False
        return b.has_symbol != 0 or b.orders != 0

    def _empty_snapshot(self, uint64_t request_id):
        cdef Py_ssize_t need = BookSnapshot_length(0)
        cdef long r
        bs = put_BookSnapshot(self.scratch, self.scratch_cap, 0)
        self.snap_seq += 1
        bs.feed_seq = self.feed_seq
        bs.stream_seq = self.snap_seq
        bs.last_stream_seq = self.stream_seq
        bs.request_id = request_id
        bs.count = 1
        with nogil:
            r = self.snap.offer(self.scratch, need)
        self.snapshot_sets += 1
        if r > 0:
            self.snapshots += 1
            return 1, 0
        self.snapshot_failed += 1
        return 0, 1

    def counters(self) -> dict:
        return {"stream_seq": self.stream_seq, "published": self.stream_seq - self.failed, "failed": self.failed,
                "filtered": self.filtered, "book_errors": self.book_errors, "dirty_books": self.dirty_books,
                "snapshots": self.snapshots, "snapshot_sets": self.snapshot_sets,
                "snapshot_failed": self.snapshot_failed, "snapshot_truncated": self.snapshot_truncated,
                "bbo_updates": self.bbo_updates, "depth_updates": self.depth_updates, "trades": self.trades,
                "feed_seq": self.feed_seq, "book_messages": self.books.messages}
