# cython: language_level=3
"""ITCH 5.0 wire contract: the message length table and the common-header readers.

Header-only (every function is ``cdef inline``), so the book builders and the
framers inline the reads into their own loops. The big-endian field readers are
``core/endian.pxd``; the compiler hints and ``TW_DEBUG`` are ``core/compiler.pxd``.

Offsets and lengths: ../shared/specs/itch50_moldudp64_soupbintcp_layout.md.
Lengths exclude the 2-byte length prefix of binaryFILE / MoldUDP64 / SoupBinTCP.
"""
from libc.stdint cimport uint8_t, uint16_t, uint64_t

from core.endian cimport tw_be16, tw_be48

cdef extern from *:
    """
    #include <stdint.h>
    /* Spec length of each ITCH 5.0 message type (index = type byte); 0 = not an ITCH 5.0 type. */
    static const uint8_t TW_ITCH_LEN[256] = {
        ['S'] = 12, ['R'] = 39, ['H'] = 25, ['Y'] = 20, ['L'] = 26, ['V'] = 35, ['W'] = 12, ['K'] = 28,
        ['J'] = 35, ['h'] = 21, ['A'] = 36, ['F'] = 40, ['E'] = 31, ['C'] = 36, ['X'] = 23, ['D'] = 19,
        ['U'] = 35, ['P'] = 44, ['Q'] = 40, ['B'] = 19, ['I'] = 50, ['N'] = 20, ['O'] = 48,
    };
    """
    const uint8_t TW_ITCH_LEN[256]

cdef enum:
    ITCH_MAX_LEN = 50             # the longest ITCH 5.0 message (NOII 'I'): a longer prefix is lost framing

# ---------------------------------------------------------------- header ----
# Every message: Type(1) @0, Stock Locate(2) @1, Tracking Number(2) @3, Timestamp(6) @5.
cdef inline uint8_t msg_type(const uint8_t *m) noexcept nogil:
    return m[0]

cdef inline uint16_t msg_locate(const uint8_t *m) noexcept nogil:
    return tw_be16(m + 1)

cdef inline uint16_t msg_tracking(const uint8_t *m) noexcept nogil:
    return tw_be16(m + 3)

cdef inline uint64_t msg_timestamp(const uint8_t *m) noexcept nogil:
    return tw_be48(m + 5)

cdef inline uint8_t itch_spec_length(uint8_t msg_type) noexcept nogil:
    """Spec length of a type (without the 2-byte prefix), or 0 for a type ITCH 5.0 does not define."""
    return TW_ITCH_LEN[msg_type]
