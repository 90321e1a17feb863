# cython: language_level=3
"""Default sink: accepts and ignores every message (framing-only runs, decoder benchmarks)."""


cdef class MessageSink:
    cdef int on_message(self, const uint8_t *msg, uint32_t length, uint64_t seq) noexcept nogil:
        return 0
