# cython: language_level=3
"""``FastTaker``: the example ``strategy.fast.FastStrategy`` (its plain-Python twin: ``strategy.examples.taker``,
whose docstring states the rules; the parameters are the twin's ``PARAMS``).

On each BBO of a tradable symbol: two-sided, spread >= ``min_spread_ticks`` ticks (of the bid), no IOC of
that symbol working, ``min_interval_us`` of feed time since the last order, position after a complete
fill within ``max_position``: an IOC for ``qty`` (buy at the ask when bid_qty > ask_qty, else sell at the
bid). Fills move the position; an IOC is done at its last Fill (leaves 0), Cancelled, Reject or Expired.
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free

from messaging.sbe_wire cimport (BboUpdate_t, Fill_t, TID_FILL, TID_CANCELLED, TID_REJECT, TID_EXPIRED,
                                 SBE_SIDE_BUY, SBE_SIDE_SELL, SBE_ORD_TYPE_LIMIT, SBE_TIF_IOC)
from strategy.fast cimport FastStrategy, FAST_MAX_LOCATE

from strategy.examples.taker import PARAMS as _PARAMS, check as _check

# FeedEvent values (messaging.sbe_schema): the books are not exact after a gap until it is recovered
cdef enum:
    EV_GAP_OPENED = 3
    EV_GAP_RECOVERED = 4
    EV_GAP_GIVEN_UP = 5


cdef class FastTaker(FastStrategy):
    PARAMS = _PARAMS

    cdef int64_t* pos                 # per locate: signed filled shares
    cdef uint64_t* working            # per locate: cl_ord_id of its IOC (0: none)
    cdef uint32_t qty
    cdef int64_t min_spread_ticks, max_position
    cdef uint64_t min_interval_ns, last_order_ts
    cdef bint any_order, exact
    cdef public uint64_t skipped_rate, skipped_position, refused

    def __cinit__(self, *args, **kwargs):
        self.pos = <int64_t*>calloc(FAST_MAX_LOCATE, sizeof(int64_t))
        self.working = <uint64_t*>calloc(FAST_MAX_LOCATE, sizeof(uint64_t))
        if self.pos == NULL or self.working == NULL:
            raise MemoryError()
        self.exact = True

    def __dealloc__(self):
        free(self.pos)
        free(self.working)

    def configure(self, p):
        _check(p)
        self.qty = p["qty"]
        self.min_spread_ticks = p["min_spread_ticks"]
        self.max_position = p["max_position"]
        self.min_interval_ns = <uint64_t>p["min_interval_us"] * 1000

    def position(self, int locate) -> int:
        return self.pos[locate]

    def summary(self) -> dict:
        return {"orders": self.c.sent, "skipped_rate": self.skipped_rate, "skipped_position": self.skipped_position,
                "refused": self.refused}

    cdef int on_feed(self, int event) noexcept nogil:
        if event == EV_GAP_OPENED or event == EV_GAP_GIVEN_UP:
            self.exact = False
        elif event == EV_GAP_RECOVERED:
            self.exact = True
        return 0

    cdef int on_bbo(self, const BboUpdate_t* m) noexcept nogil:
        cdef int64_t bid = m.bid_px, ask = m.ask_px, tick, after
        cdef uint16_t loc = m.locate
        cdef bint buy
        cdef int64_t cl
        if bid <= 0 or ask <= 0 or not self.exact:
            return 0
        tick = 100 if bid >= 10000 else 1             # strategy.ports.tick_for
        if ask <= bid or ask - bid < self.min_spread_ticks * tick:
            return 0
        if self.working[loc] != 0:
            return 0
        if self.any_order and m.exch_ts - self.last_order_ts < self.min_interval_ns:
            self.skipped_rate += 1
            return 0
        buy = m.bid_qty > m.ask_qty
        after = self.pos[loc] + (<int64_t>self.qty if buy else -<int64_t>self.qty)
        if after > self.max_position or after < -self.max_position:
            self.skipped_position += 1
            return 0
        cl = self.send_new(loc, SBE_SIDE_BUY if buy else SBE_SIDE_SELL, self.qty, ask if buy else bid,
                           SBE_ORD_TYPE_LIMIT, SBE_TIF_IOC)
        if cl < 0:
            self.refused += 1
            return <int>cl
        self.working[loc] = <uint64_t>cl
        self.last_order_ts = m.exch_ts
        self.any_order = True
        return 0

    cdef int on_execution(self, int tid, const unsigned char* block) noexcept nogil:
        cdef uint64_t cl = (<const uint64_t*>(block + 8))[0]
        cdef int loc = self.order_locate(cl)
        cdef const Fill_t* f
        if loc < 0 or self.working[loc] != cl:
            return 0
        if tid == TID_FILL:
            f = <const Fill_t*>block
            self.pos[loc] += <int64_t>f.qty if f.side == SBE_SIDE_BUY else -<int64_t>f.qty
            if f.leaves == 0:
                self.working[loc] = 0
        elif tid == TID_CANCELLED or tid == TID_REJECT or tid == TID_EXPIRED:
            self.working[loc] = 0
        return 0
