# cython: language_level=3
"""ITCH 5.0 wire contract: big-endian field readers and the message length table.

Header-only (every function is ``cdef inline``), so the book builders and the
framers inline the reads into their own loops. All integers on the wire are
big-endian and unaligned; reads go through ``memcpy`` so they compile to one
``mov`` + ``bswap`` without unaligned-access undefined behaviour.

Offsets and lengths: ../shared/specs/itch50_moldudp64_soupbintcp_layout.md.
Lengths exclude the 2-byte length prefix of binaryFILE / MoldUDP64 / SoupBinTCP.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    static inline uint16_t tw_be16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return __builtin_bswap16(v); }
    static inline uint32_t tw_be32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return __builtin_bswap32(v); }
    static inline uint64_t tw_be64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return __builtin_bswap64(v); }
    /* 48-bit timestamp: 2 + 4 bytes, never an 8-byte load (it could read past a 12-byte message at a buffer's end). */
    static inline uint64_t tw_be48(const uint8_t *p) { return ((uint64_t)tw_be16(p) << 32) | (uint64_t)tw_be32(p + 2); }
    /* 8 space-padded ASCII bytes as one integer: symbols compare and hash as a uint64. */
    static inline uint64_t tw_raw64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
    #define tw_likely(x)   __builtin_expect(!!(x), 1)
    #define tw_unlikely(x) __builtin_expect(!!(x), 0)
    /* The empty volatile asm gives a prefetch a side effect: GCC's pure-const analysis otherwise
       takes a helper that only prefetches for a pure function and deletes every call to it. */
    #define tw_prefetch(p) do { __builtin_prefetch((p)); __asm__ __volatile__(""); } while (0)
    /* Spec length of each ITCH 5.0 message type (index = type byte); 0 = not an ITCH 5.0 type. */
    static const uint8_t TW_ITCH_LEN[256] = {
        ['S'] = 12, ['R'] = 39, ['H'] = 25, ['Y'] = 20, ['L'] = 26, ['V'] = 35, ['W'] = 12, ['K'] = 28,
        ['J'] = 35, ['h'] = 21, ['A'] = 36, ['F'] = 40, ['E'] = 31, ['C'] = 36, ['X'] = 23, ['D'] = 19,
        ['U'] = 35, ['P'] = 44, ['Q'] = 40, ['B'] = 19, ['I'] = 50, ['N'] = 20, ['O'] = 48,
    };
    """
    uint16_t tw_be16(const uint8_t *p) noexcept nogil
    uint32_t tw_be32(const uint8_t *p) noexcept nogil
    uint64_t tw_be64(const uint8_t *p) noexcept nogil
    uint64_t tw_be48(const uint8_t *p) noexcept nogil
    uint64_t tw_raw64(const uint8_t *p) noexcept nogil
    bint tw_likely(bint x) noexcept nogil
    bint tw_unlikely(bint x) noexcept nogil
    void tw_prefetch(const void *p) noexcept nogil
    const uint8_t TW_ITCH_LEN[256]

# The TW_DEBUG build switch (a C macro set by setup.py): `if TW_DEBUG:` blocks
# compile away in release builds.
cdef extern from *:
    """
    #ifndef TW_DEBUG
    #define TW_DEBUG 0
    #endif
    """
    const bint TW_DEBUG

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
