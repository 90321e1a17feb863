# cython: language_level=3
"""CollectingSink: a MessageSink that records what it is given (tests, tools, golden comparisons).

Not for the hot path: it copies every message into a growing buffer (amortised realloc, nogil).
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport realloc, free
from libc.string cimport memcpy

from feedhandlers.sink cimport MessageSink


cdef class CollectingSink(MessageSink):
    """Records (message bytes, seq, rx_ns) of every ``on_message``.

    ``reject_type``: a type byte (str) for which on_message returns -1 (tests sink-error counting).
    """
    cdef uint8_t *buf
    cdef size_t len, cap
    cdef uint64_t *meta      # per message: offset, length, seq, rx_ns
    cdef size_t n, mcap
    cdef int reject
    cdef public bint oom

    def __init__(self, reject_type=None):
        self.reject = ord(reject_type) if reject_type else -1

    def __dealloc__(self):
        free(self.buf)
        free(self.meta)

    cdef int on_message(self, const uint8_t *msg, uint32_t length, uint64_t seq) noexcept nogil:
        cdef void *p
        if self.len + length > self.cap:
            p = realloc(self.buf, (self.cap + length) * 2)
            if p == NULL:
                self.oom = True
                return -2
            self.buf = <uint8_t *>p
            self.cap = (self.cap + length) * 2
        if self.n + 1 > self.mcap:
            p = realloc(self.meta, (self.mcap + 16) * 2 * 4 * sizeof(uint64_t))
            if p == NULL:
                self.oom = True
                return -2
            self.meta = <uint64_t *>p
            self.mcap = (self.mcap + 16) * 2
        memcpy(self.buf + self.len, msg, length)
        self.meta[4 * self.n] = self.len
        self.meta[4 * self.n + 1] = length
        self.meta[4 * self.n + 2] = seq
        self.meta[4 * self.n + 3] = self.rx_ns
        self.len += length
        self.n += 1
        if length and msg[0] == self.reject:
            return -1
        return 0

    def __len__(self):
        return self.n

    def messages(self) -> list:
        """Every message as bytes, in delivery order."""
        cdef size_t i
        return [bytes(self.buf[self.meta[4 * i]:self.meta[4 * i] + self.meta[4 * i + 1]]) for i in range(self.n)]

    def seqs(self) -> list:
        cdef size_t i
        return [self.meta[4 * i + 2] for i in range(self.n)]

    def rx_times(self) -> list:
        cdef size_t i
        return [self.meta[4 * i + 3] for i in range(self.n)]

    def clear(self):
        self.len = 0
        self.n = 0
