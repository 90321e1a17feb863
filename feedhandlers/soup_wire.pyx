# cython: language_level=3
"""SoupBinTCP 3.00 hot path: sequenced-data ('S') packets of a TCP byte stream into a MessageSink.

A SoupBinTCP logical packet is ``u16 BE length`` (of type + payload) + ``type`` + payload. The
client (feedhandlers/soupbintcp.py) receives bytes into a buffer and calls ``SoupDecoder.scan``,
which walks consecutive complete 'S' packets, validates each ITCH message (known type, spec
length; else counted and skipped, its sequence number consumed) and hands it to the sink with its
implicit sequence number (first = 1, counted by the client). It stops at the first packet that is
not 'S' (login answers, heartbeats, debug, end of session: Python handles those, they are rare)
or that is incomplete, or (``stop_seq`` != 0) whose sequence number is ``stop_seq`` (a snapshot replay
that must end exactly where the live feed is), and returns that offset. (The lab's server encodes 'S' packets with
``lab.soup_encode.encode_sequenced``.)
"""
cimport cython
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from core.compiler cimport tw_likely, tw_unlikely
from core.endian cimport tw_be16
from feedhandlers.itch_wire cimport TW_ITCH_LEN
from feedhandlers.sink cimport MessageSink


@cython.final
cdef class SoupDecoder:
    """Delivers 'S' packets to ``sink``; ``next_seq`` is the sequence number of the next 'S' packet."""
    cdef readonly MessageSink sink         # never None (a no-op MessageSink by default)
    cdef public uint64_t next_seq
    cdef public uint64_t stop_seq            # 0: none; else stop before delivering this sequence number
    cdef readonly uint64_t messages          # valid messages delivered
    cdef readonly uint64_t bad_messages      # 'S' payloads that are not a valid ITCH 5.0 message
    cdef readonly uint64_t sink_errors
    cdef uint64_t type_counts[256]

    def __cinit__(self, MessageSink sink=None, uint64_t next_seq=1):
        self.sink = sink if sink is not None else MessageSink()
        self.next_seq = next_seq

    def scan(self, const uint8_t[::1] buf, Py_ssize_t off, Py_ssize_t end, uint64_t rx_ns=0):
        """Deliver the complete 'S' packets in buf[off:end]; return the offset where scanning stopped."""
        cdef uint32_t length
        cdef const uint8_t *p
        if end > buf.shape[0]:
            end = buf.shape[0]
        with nogil:
            while off + 3 <= end:
                if self.stop_seq != 0 and self.next_seq >= self.stop_seq:
                    break
                p = &buf[off]
                length = tw_be16(p)
                if tw_unlikely(p[2] != 83 or length == 0):   # not 'S' (or a zero-length packet): Python's turn
                    break
                if off + 2 + length > end:
                    break
                length -= 1                                  # payload = the ITCH message
                if tw_likely(length != 0 and TW_ITCH_LEN[p[3]] == length):
                    self.sink.rx_ns = rx_ns
                    if self.sink.on_message(p + 3, length, self.next_seq) < 0:
                        self.sink_errors += 1
                    self.type_counts[p[3]] += 1
                    self.messages += 1
                else:
                    self.bad_messages += 1
                self.next_seq += 1
                off += 3 + length
        return off

    def by_type(self):
        cdef int t
        return {chr(t): self.type_counts[t] for t in range(256) if self.type_counts[t]}

