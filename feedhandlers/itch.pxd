# cython: language_level=3
"""ITCH 5.0 binaryFILE framer: [uint16 BE length][message] ... into a MessageSink.

The framer is the throughput path of file replay: one nogil loop, one vtable call per valid
message, a spec-length table lookup per frame, no Python object and no allocation per message.
Streaming: ``feed`` accepts arbitrary chunks; a partial frame at a chunk's end is copied (only
that tail) into a carry buffer and completed by the next chunk.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t

from feedhandlers.sink cimport MessageSink

# ------------------------------------------------------------- constants ----
cdef enum:
    ITCH_CARRY_CAP = 65540        # 2-byte prefix + the largest possible frame (65535) + slack
    ITCH_PROBE_FRAMES = 8         # default: frames checked by the not-ITCH-5.0 heuristic


cdef class ItchFramer:
    # ------------------------------------------------------------ wiring ----
    cdef MessageSink sink
    cdef readonly bint recover_zero_lengths
    """Frame a zero length prefix by the following type byte's spec length (counted), not fail."""
    cdef readonly int probe_frames
    """How many leading frames must be ITCH 5.0 types of spec length (0 disables the check)."""

    # ------------------------------------------------------------ counters ----
    cdef uint64_t counts[256]            # valid messages delivered, per type byte
    cdef uint64_t unknown_counts[256]    # frames of a type ITCH 5.0 does not define, per type byte
    cdef readonly uint64_t messages      # valid messages delivered to the sink
    cdef readonly uint64_t frames        # frames walked (messages + unknown_types + malformed)
    cdef readonly uint64_t unknown_types # frames skipped: type byte not ITCH 5.0
    cdef readonly uint64_t malformed     # frames skipped: known type, length != spec length
    cdef readonly uint64_t zero_length_recovered  # zero prefixes framed by type (recovery mode)
    cdef readonly uint64_t sink_errors   # on_message returned < 0
    cdef readonly uint64_t bytes_in      # bytes given to feed()
    cdef readonly uint64_t offset        # stream offset of the first byte not yet framed

    # ------------------------------------------------------------ state ----
    cdef uint8_t *carry                  # partial frame at the end of the previous chunk
    cdef uint32_t carry_len
    cdef readonly int error              # sticky result code (0 = none)
    cdef readonly uint64_t error_offset  # stream offset of the frame that failed
    cdef readonly uint64_t error_detail  # code-specific value (type byte, frame length, ...)

    # ------------------------------------------------------------ calls ----
    cdef int feed_ptr(self, const uint8_t *buf, size_t n) noexcept nogil
    """Frame ``n`` bytes (the next chunk of the stream); return 0 or a negative ITCH_E_* code (sticky)."""
    cdef int walk(self, const uint8_t *buf, size_t n, size_t *used) noexcept nogil
    """Frame the complete frames of ``buf`` (stream offset ``self.offset``); ``used`` = bytes framed."""
    cdef int fail(self, int code, uint64_t off, uint64_t detail) noexcept nogil
