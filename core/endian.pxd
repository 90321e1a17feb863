# cython: language_level=3
"""Big-endian, unaligned field reads and writes of wire formats (ITCH, MoldUDP64, SoupBinTCP, IPv4/UDP headers).

Header-only (every function is ``static inline``), so framers, sources and books inline the reads
into their own loops. Reads go through ``memcpy`` so they compile to one ``mov`` + ``bswap``
without unaligned-access undefined behaviour.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

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
    static inline void tw_put_be16(uint8_t *p, uint16_t v) { v = __builtin_bswap16(v); memcpy(p, &v, 2); }
    static inline void tw_put_be32(uint8_t *p, uint32_t v) { v = __builtin_bswap32(v); memcpy(p, &v, 4); }
    static inline void tw_put_be64(uint8_t *p, uint64_t v) { v = __builtin_bswap64(v); memcpy(p, &v, 8); }
    static inline void tw_put_be48(uint8_t *p, uint64_t v) { tw_put_be16(p, (uint16_t)(v >> 32)); tw_put_be32(p + 2, (uint32_t)v); }
    """
    uint16_t tw_be16(const uint8_t *p) noexcept nogil
    uint32_t tw_be32(const uint8_t *p) noexcept nogil
    uint64_t tw_be64(const uint8_t *p) noexcept nogil
    uint64_t tw_be48(const uint8_t *p) noexcept nogil
    uint64_t tw_raw64(const uint8_t *p) noexcept nogil
    void tw_put_be16(uint8_t *p, uint16_t v) noexcept nogil
    void tw_put_be32(uint8_t *p, uint32_t v) noexcept nogil
    void tw_put_be64(uint8_t *p, uint64_t v) noexcept nogil
    void tw_put_be48(uint8_t *p, uint64_t v) noexcept nogil
