# cython: language_level=3
"""DigestSink: an order-sensitive digest of the applied message stream (tests, ``tickwire listen --digest``)."""
cimport cython
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from core.endian cimport tw_be16
from feedhandlers.itch_wire cimport TW_ITCH_LEN
from feedhandlers.sink cimport MessageSink


@cython.final
cdef class DigestSink(MessageSink):
    """Order-sensitive digest of every message applied (FNV-1a 64 over seq + bytes) and a count.

    Two runs that apply the same messages in the same order with the same sequence numbers have
    the same digest: the end-to-end check of the recovery tests and of ``tickwire listen --digest``.
    """
    cdef readonly uint64_t digest
    cdef readonly uint64_t count
    cdef readonly uint64_t last_seq
    cdef public MessageSink next_sink    # optional: forward every message (e.g. to a BookBuilder)

    def __cinit__(self, MessageSink next_sink=None):
        self.digest = 0xCBF29CE484222325ULL
        self.next_sink = next_sink

    cdef int on_message(self, const uint8_t *msg, uint32_t length, uint64_t seq) noexcept nogil:
        cdef uint64_t h = self.digest
        cdef uint64_t prime = 0x100000001B3ULL
        cdef uint32_t i
        for i in range(8):
            h = (h ^ ((seq >> (8 * i)) & 0xFF)) * prime
        for i in range(length):
            h = (h ^ msg[i]) * prime
        self.digest = h
        self.count += 1
        self.last_seq = seq
        if self.next_sink is not None:
            self.next_sink.rx_ns = self.rx_ns
            return self.next_sink.on_message(msg, length, seq)
        return 0

    def feed_binaryfile(self, const uint8_t[::1] data, uint64_t first_seq=1):
        """Digest every message of a binaryFILE buffer (seq = first_seq + ordinal): the reference run."""
        cdef uint64_t off = 0, n = data.shape[0], seq = first_seq
        cdef uint32_t length
        while off + 2 <= n:
            length = tw_be16(&data[off])
            if off + 2 + length > n:
                break
            if length != 0 and TW_ITCH_LEN[data[off + 2]] == length:
                self.on_message(&data[off + 2], length, seq)
            off += 2 + length
            seq += 1
        return self.count
