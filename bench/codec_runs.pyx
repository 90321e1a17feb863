# cython: language_level=3
"""Compiled driver of bench/bench_codec.py: SBE encode / decode loops over messaging/sbe_wire.pxd.

Each loop runs ``n`` messages through a ring of ``SLOTS`` buffers (256 bytes apart, 64-byte aligned)
and returns the mean ns per message over the whole loop (CLOCK_MONOTONIC around it, one read each
side). A compiler barrier between encode and decode forces the encoded bytes to memory and the
decoder to read them back, as a reader in another process would: the compiler cannot forward the
stores to the loads or fold sbe_check. The decoded fields are summed into a checksum returned to
Python, so nothing is dead code.
"""
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free
from libc.string cimport memcpy
from posix.stdlib cimport posix_memalign
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from messaging.sbe_wire cimport (SbeHeader, BboUpdate_t, NewOrder_t, put_BboUpdate, put_NewOrder, sbe_check,
                                 TID_BBO_UPDATE, TID_NEW_ORDER, SBE_HEADER_LEN, SBE_SIDE_BUY, SBE_ORD_TYPE_LIMIT,
                                 SBE_TIF_DAY, SBE_ORDER_FLAGS_POST_ONLY)

cdef extern from *:
    """
    #define TW_BARRIER() __asm__ __volatile__("" ::: "memory")
    """
    void TW_BARRIER() noexcept nogil

DEF SLOTS = 64
DEF STRIDE = 256


cdef inline int64_t now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline void enc_bbo(unsigned char* b, uint64_t i) noexcept nogil:
    cdef BboUpdate_t* m = put_BboUpdate(b, STRIDE)
    m.feed_seq = i
    m.exch_ts = i * 3
    m.rx_ts = i * 5
    m.stream_seq = i
    memcpy(m.symbol, b"AAPL    ", 8)
    m.bid_px = 1500000 + <int64_t>(i & 15)
    m.ask_px = 1500100 + <int64_t>(i & 15)
    m.timing.rx_ns = i * 5
    m.timing.book_ns = i * 6
    m.timing.md_pub_ns = i * 7
    m.bid_qty = 300
    m.ask_qty = 200
    m.bid_orders = 3
    m.ask_orders = 2
    m.locate = 7


cdef inline uint64_t dec_bbo(const unsigned char* b) noexcept nogil:
    cdef SbeHeader h
    if sbe_check(b, STRIDE, &h) != TID_BBO_UPDATE:
        return 1 << 40
    cdef const BboUpdate_t* m = <const BboUpdate_t*>(b + SBE_HEADER_LEN)
    return (m.feed_seq + m.stream_seq + <uint64_t>(m.bid_px + m.ask_px) + m.bid_qty + m.ask_qty
            + m.timing.md_pub_ns + m.locate)


cdef inline void enc_order(unsigned char* b, uint64_t i) noexcept nogil:
    cdef NewOrder_t* m = put_NewOrder(b, STRIDE)
    m.seq = i
    m.order_id = i + 1000
    m.price = 1500000 + <int64_t>(i & 15)
    m.timing.md_pub_ns = i * 7
    m.timing.strat_rx_ns = i * 8
    m.timing.order_tx_ns = i * 9
    m.qty = 100
    m.account_id = 3
    m.symbol_id = 42
    m.side = SBE_SIDE_BUY
    m.ord_type = SBE_ORD_TYPE_LIMIT
    m.tif = SBE_TIF_DAY
    m.flags = SBE_ORDER_FLAGS_POST_ONLY


cdef inline uint64_t dec_order(const unsigned char* b) noexcept nogil:
    cdef SbeHeader h
    if sbe_check(b, STRIDE, &h) != TID_NEW_ORDER:
        return 1 << 40
    cdef const NewOrder_t* m = <const NewOrder_t*>(b + SBE_HEADER_LEN)
    return (m.seq + m.order_id + <uint64_t>m.price + m.qty + m.account_id + m.symbol_id + m.side + m.ord_type
            + m.tif + m.flags + m.timing.order_tx_ns)


cdef unsigned char* ring():
    cdef void* p = NULL
    if posix_memalign(&p, 64, SLOTS * STRIDE) != 0:
        raise MemoryError()
    return <unsigned char*>p


def run(str message, str what, Py_ssize_t n):
    """(mean ns per message, checksum) of ``n`` messages: ``what`` is encode, decode or both."""
    cdef unsigned char* r = ring()
    cdef unsigned char* b
    cdef uint64_t i, acc = 0
    cdef int64_t t0, t1
    cdef bint bbo = message == "BboUpdate"
    cdef int mode = {"encode": 1, "decode": 2, "both": 3}[what]
    if message not in ("BboUpdate", "NewOrder"):
        free(r)
        raise ValueError(message)
    for i in range(SLOTS):                       # the ring holds valid messages for decode-only runs
        if bbo:
            enc_bbo(r + i * STRIDE, i)
        else:
            enc_order(r + i * STRIDE, i)
    with nogil:
        t0 = now_ns()
        for i in range(<uint64_t>n):
            b = r + (i & (SLOTS - 1)) * STRIDE
            if mode & 1:
                if bbo:
                    enc_bbo(b, i)
                else:
                    enc_order(b, i)
            TW_BARRIER()
            if mode & 2:
                acc += dec_bbo(b) if bbo else dec_order(b)
        t1 = now_ns()
    free(r)
    return (t1 - t0) / <double>n, acc
