# cython: language_level=3
"""CRC32C (Castagnoli, reflected polynomial 0x82F63B78), header-only.

The journal and the snapshot files checksum every record with CRC32C because
x86-64 computes it in hardware: the SSE4.2 ``crc32`` instruction
(``_mm_crc32_u64``) does 8 bytes per ~1 cycle of throughput. The hardware path
is compiled with a per-function ``target("sse4.2")`` attribute, so the rest of
the extension keeps the baseline ISA and the module still loads on a CPU
without SSE4.2; there the software slicing-by-8 table path is used instead.
The choice is made once, at the first call, with ``__builtin_cpu_supports``.

Semantics are the usual ones (iSCSI / ext4 / RocksDB): ``crc`` is the CRC of
the bytes before ``buf`` (0 to start), the result the CRC up to its end, so
``tw_crc32c(tw_crc32c(0, a, n), b, m) == tw_crc32c(0, a || b, n + m)``.
Check value: ``crc32c(b"123456789") == 0xE3069283``.
"""
from libc.stdint cimport uint32_t

cdef extern from *:
    """
    #include <stdint.h>
    #include <stddef.h>
    #include <string.h>
    #if defined(__x86_64__) || defined(__i386__)
    #include <nmmintrin.h>
    #define TW_CRC32C_X86 1
    #else
    #define TW_CRC32C_X86 0
    #endif

    static uint32_t tw_crc32c_table[8][256];
    static int tw_crc32c_table_ready = 0;
    static int tw_crc32c_hw_state = -1;   /* -1 unknown, 0 software, 1 SSE4.2 */

    static void tw_crc32c_init_table(void) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
            tw_crc32c_table[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = tw_crc32c_table[0][i];
            for (int t = 1; t < 8; t++) { c = tw_crc32c_table[0][c & 0xFF] ^ (c >> 8); tw_crc32c_table[t][i] = c; }
        }
        tw_crc32c_table_ready = 1;
    }

    /* Software slicing-by-8: ~1 byte/cycle, used without SSE4.2 and as the test reference. */
    static uint32_t tw_crc32c_sw(uint32_t crc, const void *buf, size_t len) {
        const uint8_t *p = (const uint8_t *)buf;
        if (!tw_crc32c_table_ready) tw_crc32c_init_table();
        crc = ~crc;
        while (len && ((uintptr_t)p & 7)) { crc = tw_crc32c_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8); len--; }
        while (len >= 8) {
            uint64_t w; memcpy(&w, p, 8);          /* little-endian hosts only (x86-64, aarch64) */
            w ^= crc;
            crc = tw_crc32c_table[7][w & 0xFF] ^ tw_crc32c_table[6][(w >> 8) & 0xFF]
                ^ tw_crc32c_table[5][(w >> 16) & 0xFF] ^ tw_crc32c_table[4][(w >> 24) & 0xFF]
                ^ tw_crc32c_table[3][(w >> 32) & 0xFF] ^ tw_crc32c_table[2][(w >> 40) & 0xFF]
                ^ tw_crc32c_table[1][(w >> 48) & 0xFF] ^ tw_crc32c_table[0][w >> 56];
            p += 8; len -= 8;
        }
        while (len--) crc = tw_crc32c_table[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    #if TW_CRC32C_X86
    __attribute__((target("sse4.2")))
    static uint32_t tw_crc32c_hw(uint32_t crc, const void *buf, size_t len) {
        const uint8_t *p = (const uint8_t *)buf;
        uint64_t c = (uint32_t)~crc;
        while (len >= 8) { uint64_t w; memcpy(&w, p, 8); c = _mm_crc32_u64(c, w); p += 8; len -= 8; }
        uint32_t c32 = (uint32_t)c;
        if (len >= 4) { uint32_t w; memcpy(&w, p, 4); c32 = _mm_crc32_u32(c32, w); p += 4; len -= 4; }
        while (len--) c32 = _mm_crc32_u8(c32, *p++);
        return ~c32;
    }
    static int tw_crc32c_has_hw(void) {
        if (tw_crc32c_hw_state < 0) { __builtin_cpu_init(); tw_crc32c_hw_state = __builtin_cpu_supports("sse4.2") ? 1 : 0; }
        return tw_crc32c_hw_state;
    }
    #else
    static uint32_t tw_crc32c_hw(uint32_t crc, const void *buf, size_t len) { return tw_crc32c_sw(crc, buf, len); }
    static int tw_crc32c_has_hw(void) { return 0; }
    #endif

    /* Dispatching entry point: hardware when the CPU has SSE4.2, else the table. */
    static inline uint32_t tw_crc32c(uint32_t crc, const void *buf, size_t len) {
        if (__builtin_expect(tw_crc32c_hw_state == 1, 1)) return tw_crc32c_hw(crc, buf, len);
        if (tw_crc32c_has_hw()) return tw_crc32c_hw(crc, buf, len);
        return tw_crc32c_sw(crc, buf, len);
    }
    """
    uint32_t tw_crc32c(uint32_t crc, const void *buf, size_t length) noexcept nogil
    uint32_t tw_crc32c_sw(uint32_t crc, const void *buf, size_t length) noexcept nogil
    uint32_t tw_crc32c_hw(uint32_t crc, const void *buf, size_t length) noexcept nogil
    int tw_crc32c_has_hw() noexcept nogil
