# cython: language_level=3
"""The feed service's hot path: ITCH messages -> BookBuilder -> SBE market data in claimed Aeron buffers."""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from book.builder cimport BookBuilder
from feedhandlers.sink cimport MessageSink
from messaging.transport cimport Publisher
from strategy.fast cimport FastStrategy


cdef class MdPublisher(MessageSink):
    cdef readonly BookBuilder books
    cdef Publisher md                   # market_data (FAIL_FAST)
    cdef Publisher snap                 # snapshot (FAIL_FAST)
    cdef uint8_t *want                  # 65536 flags (locate wanted), NULL: every locate
    cdef uint64_t *syms                 # wanted symbols (raw 8 bytes, space-padded), named by R messages
    cdef int nsyms
    cdef uint8_t *dirty                 # 65536 flags: a message of this book was lost on the Aeron hop
    cdef unsigned char *scratch         # snapshot encoding buffer
    cdef Py_ssize_t scratch_cap
    cdef readonly uint64_t stream_seq   # last stream_seq used on market_data
    cdef readonly uint64_t snap_seq     # last stream_seq used on snapshot
    cdef readonly uint64_t feed_seq     # last feed message applied
    cdef readonly uint64_t exch_ts
    cdef readonly uint64_t last_rx_ns
    cdef readonly uint64_t failed       # offers given up (FAIL_FAST), their stream_seq consumed
    cdef readonly uint64_t filtered     # feed messages of a locate not in the subset (books still applied)
    cdef readonly uint64_t book_errors  # BookBuilder faults (on_message < 0)
    cdef readonly uint64_t dirty_books  # books marked since the last snapshot set
    cdef readonly uint64_t snapshots    # BookSnapshot messages published
    cdef readonly uint64_t snapshot_sets
    cdef readonly uint64_t snapshot_failed
    cdef readonly uint64_t snapshot_truncated
    cdef readonly uint64_t bbo_updates
    cdef readonly uint64_t depth_updates
    cdef readonly uint64_t trades
    cdef readonly FastStrategy strategy  # in-process mode: called on each BBO change and trade (None: off)
    cdef unsigned char* _claim(self, Py_ssize_t length, uint16_t loc) noexcept nogil
    cdef void _head(self, unsigned char* block, uint64_t ts, uint64_t rx) noexcept nogil
    cdef void _symbol(self, char* dst, uint16_t loc) noexcept nogil
    cdef void _trade(self, uint16_t loc, uint64_t ts, uint64_t rx, uint64_t match, uint32_t px, uint32_t shares,
                     uint8_t side) noexcept nogil
    cdef bint _snap_wanted(self, uint32_t loc, int only) noexcept nogil
