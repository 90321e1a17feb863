# cython: language_level=3
"""Matching-engine state image for snapshots (used by engine/recovery.py).

Two parts. ``dump_matching`` / ``load_matching``: an exact image of the engine's C state
(order pool, price levels, side books, stop books, GTD heap, id index, clock, counters) read
through the fields ``engine/matching.pxd`` declares, so a restored engine continues exactly as
the original would (same slots, same arrival numbers, same event stream). A layout fingerprint
(struct sizes) guards against loading an image written by a build with other structs.
``resting_orders``: the books' orders in priority order (per symbol: bids best first, FIFO inside a
level, then asks, then pending stops in trigger order), a NumPy array stored beside the image so a
snapshot can be inspected and the restore verified.
"""
import struct
import zlib

import numpy as np

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

from core.tables cimport tw_table_alloc
from engine.matching cimport (MatchingEngine, Order, Level, SideBook, StopBook, SymbolBook, HeapEntry, IxSlot,
                              OS_RESTING, OS_STOP)

IMAGE_MAGIC = b"TWMEIMG2"          # 2: the id index is one array of key/value slots
_FP = "<5I"                         # layout_fingerprint() in the image header

ORDER_DTYPE = np.dtype([("symbol", "<u4"), ("book", "u1"), ("side", "u1"), ("ord_type", "u1"), ("tif", "u1"),
                        ("order_id", "<u8"), ("price", "<i8"), ("stop_price", "<i8"), ("qty", "<u4"),
                        ("filled", "<u4"), ("leaves", "<u4"), ("visible", "<u4"), ("account", "<u4"),
                        ("arrival", "<u8")])


def layout_fingerprint():
    """Struct sizes the image depends on (an image only loads into a build with the same)."""
    return (sizeof(Order), sizeof(Level), sizeof(SymbolBook), sizeof(HeapEntry), sizeof(IxSlot))


cdef bytes _raw(const void *p, size_t n):
    if n == 0:
        return b""
    return (<const char *>p)[:n]


cdef void *_alloc_copy(bytes blob, size_t n) except NULL:
    if len(blob) != <Py_ssize_t>n:      # before allocating: a bad image costs no table
        raise ValueError("matching image: section length mismatch")
    cdef void *p = tw_table_alloc(n)   # (the id index: a hot table, as MatchingEngine allocates it)
    if p == NULL:
        raise MemoryError()
    if n:
        memcpy(p, <const char *>blob, n)
    return p


def dump_matching(MatchingEngine e):
    """Exact image of ``e``'s state (bytes, zlib-compressed sections). The event buffer is not included."""
    cdef uint32_t s
    cdef SymbolBook *sb
    scal = struct.pack("<iiiiiQiiQQIiiqiiQQQQQQ",
                       e.pool_cap, e.free_head, e.live, e.ghead, e.gtail, e.next_arrival,
                       e.level_cap, e.level_free, e.ix_cap, e.ix_used, e.nsyms, e.heap_n, e.heap_cap,
                       e.clock_ns, e.taker, e.taker_kill,
                       e.n_commands, e.n_rejects, e.n_fills, e.n_cancels, e.n_expires, e.n_triggers)
    parts = [scal,
             _raw(e.pool, e.pool_cap * sizeof(Order)),
             _raw(e.levels, e.level_cap * sizeof(Level)),
             _raw(e.ix, e.ix_cap * sizeof(IxSlot)),
             _raw(e.heap, e.heap_n * sizeof(HeapEntry))]
    syms = []
    for s in range(e.nsyms):
        sb = &e.syms[s]
        if not sb.configured:
            continue
        syms.append(struct.pack("<Iqqiiii", s, sb.tick, sb.last_price, sb.bids.n, sb.asks.n,
                                sb.buy_stops.n, sb.sell_stops.n)
                    + _raw(sb.bids.key, sb.bids.n * 8) + _raw(sb.bids.lv, sb.bids.n * 4)
                    + _raw(sb.asks.key, sb.asks.n * 8) + _raw(sb.asks.lv, sb.asks.n * 4)
                    + _raw(sb.buy_stops.ord, sb.buy_stops.n * 4) + _raw(sb.sell_stops.ord, sb.sell_stops.n * 4))
    parts.append(struct.pack("<I", len(syms)) + b"".join(syms))
    body = b"".join(struct.pack("<Q", len(p)) + p for p in parts)
    return IMAGE_MAGIC + struct.pack(_FP, *layout_fingerprint()) + zlib.compress(body, 1)


def load_matching(bytes image):
    """A new MatchingEngine in exactly the state ``dump_matching`` saw."""
    if image[:8] != IMAGE_MAGIC:
        raise ValueError("not a matching image (bad magic)")
    fp = struct.unpack_from(_FP, image, 8)
    if fp != layout_fingerprint():
        raise ValueError(f"matching image layout {fp} differs from this build's {layout_fingerprint()}")
    body = zlib.decompress(image[8 + struct.calcsize(_FP):])
    parts = []
    off = 0
    while off < len(body):
        (n,) = struct.unpack_from("<Q", body, off)
        parts.append(body[off + 8:off + 8 + n])
        off += 8 + n
    if len(parts) != 6:
        raise ValueError("matching image: wrong section count")
    (pool_cap, free_head, live, ghead, gtail, next_arrival, level_cap, level_free, ix_cap, ix_used, nsyms,
     heap_n, heap_cap, clock_ns, taker, taker_kill, n_commands, n_rejects, n_fills, n_cancels, n_expires,
     n_triggers) = struct.unpack("<iiiiiQiiQQIiiqiiQQQQQQ", parts[0])
    cdef MatchingEngine e = MatchingEngine(pool_cap, nsyms)
    if e.level_cap != level_cap:
        raise ValueError("matching image: level capacity differs")
    if len(parts[1]) != pool_cap * sizeof(Order):
        _fail("pool")
    if len(parts[2]) != level_cap * sizeof(Level):
        _fail("levels")
    memcpy(e.pool, <const char *>parts[1], pool_cap * sizeof(Order))
    memcpy(e.levels, <const char *>parts[2], level_cap * sizeof(Level))
    free(e.ix)
    e.ix = NULL
    e.ix = <IxSlot *>_alloc_copy(parts[3], ix_cap * sizeof(IxSlot))
    e.ix_cap = ix_cap
    e.ix_used = ix_used
    free(e.heap)
    e.heap = NULL
    cdef size_t hcap = heap_cap if heap_cap > 0 else 1
    e.heap = <HeapEntry *>malloc(hcap * sizeof(HeapEntry))
    if e.heap == NULL:
        raise MemoryError()
    if len(parts[4]) != heap_n * sizeof(HeapEntry):
        _fail("heap")
    memcpy(e.heap, <const char *>parts[4], heap_n * sizeof(HeapEntry))
    e.heap_cap = heap_cap
    e.heap_n = heap_n
    e.free_head, e.live, e.ghead, e.gtail, e.next_arrival = free_head, live, ghead, gtail, next_arrival
    e.level_free = level_free
    e.clock_ns = clock_ns
    e.taker, e.taker_kill = taker, taker_kill
    e.n_commands, e.n_rejects, e.n_fills, e.n_cancels, e.n_expires, e.n_triggers = (
        n_commands, n_rejects, n_fills, n_cancels, n_expires, n_triggers)
    _load_symbols(e, parts[5])
    return e


def _fail(what):
    raise ValueError(f"matching image: {what} section length mismatch")


cdef _load_symbols(MatchingEngine e, bytes blob):
    cdef SymbolBook *sb
    cdef uint32_t s
    (count,) = struct.unpack_from("<I", blob, 0)
    off = 4
    for _ in range(count):
        s, tick, last, nb, na, nbs, nss = struct.unpack_from("<Iqqiiii", blob, off)
        off += struct.calcsize("<Iqqiiii")
        e.add_symbol(s, tick)                       # allocates the side / stop arrays
        sb = &e.syms[s]
        sb.last_price = last
        off = _fill_side(&sb.bids, blob, off, nb)
        off = _fill_side(&sb.asks, blob, off, na)
        off = _fill_stops(&sb.buy_stops, blob, off, nbs)
        off = _fill_stops(&sb.sell_stops, blob, off, nss)


cdef Py_ssize_t _fill_side(SideBook *bk, bytes blob, Py_ssize_t off, int32_t n) except -1:
    cdef int32_t cap = bk.cap if bk.cap > 0 else 1
    while cap < n:
        cap *= 2
    free(bk.key)
    free(bk.lv)
    bk.key = <int64_t *>malloc(cap * sizeof(int64_t))
    bk.lv = <int32_t *>malloc(cap * sizeof(int32_t))
    if bk.key == NULL or bk.lv == NULL:
        raise MemoryError()
    bk.cap = cap
    bk.n = n
    memcpy(bk.key, (<const char *>blob) + off, n * 8)
    memcpy(bk.lv, (<const char *>blob) + off + n * 8, n * 4)
    return off + n * 12


cdef Py_ssize_t _fill_stops(StopBook *st, bytes blob, Py_ssize_t off, int32_t n) except -1:
    cdef int32_t cap = st.cap if st.cap > 0 else 1
    while cap < n:
        cap *= 2
    free(st.ord)
    st.ord = <int32_t *>malloc(cap * sizeof(int32_t))
    if st.ord == NULL:
        raise MemoryError()
    st.cap = cap
    st.n = n
    memcpy(st.ord, (<const char *>blob) + off, n * 4)
    return off + n * 4


def resting_orders(MatchingEngine e):
    """Every open order in priority order (``ORDER_DTYPE``; book 0 = limit book, 1 = stop book)."""
    rows = []
    cdef uint32_t s
    cdef int32_t k, i
    cdef SymbolBook *sb
    cdef SideBook *bk
    cdef StopBook *st
    cdef Order *o
    cdef int side_i
    cdef Py_ssize_t guard = 0
    for s in range(e.nsyms):
        sb = &e.syms[s]
        if not sb.configured:
            continue
        for side_i in range(2):
            bk = &sb.bids if side_i == 0 else &sb.asks
            k = bk.n - 1
            while k >= 0:
                i = e.levels[bk.lv[k]].head
                while i >= 0:
                    guard += 1
                    if guard > e.pool_cap or i >= e.pool_cap:
                        raise RuntimeError("matching state walk out of bounds: engine/snapshot built against "
                                           "another engine/matching.pxd (rebuild engine.snapshot)")
                    o = &e.pool[i]
                    rows.append((s, 0, o.side, o.ord_type, o.tif, o.order_id, o.price, o.stop_price, o.qty,
                                 o.filled, o.leaves, o.visible, o.account, o.arrival))
                    i = o.next
                k -= 1
        for side_i in range(2):
            st = &sb.buy_stops if side_i == 0 else &sb.sell_stops
            k = st.n - 1
            while k >= 0:
                o = &e.pool[st.ord[k]]
                rows.append((s, 1, o.side, o.ord_type, o.tif, o.order_id, o.price, o.stop_price, o.qty,
                             o.filled, o.leaves, o.visible, o.account, o.arrival))
                k -= 1
    return np.array(rows, dtype=ORDER_DTYPE)
