# cython: language_level=3
"""Big hot-path tables of the engine modules (header-only: every module that cimports it gets its own copy).

``tw_mix64``: the splitmix64 finaliser both hash tables (matching's id index, risk's order table) mix
client order ids with: clients number orders sequentially, a power-of-two mask needs mixed low bits.

``tw_table_alloc``: zeroed memory, 2 MiB aligned and advised as transparent huge pages (random probes
into tens of MiB then miss the TLB far less; this VM's nested paging makes a TLB miss expensive), with
every page touched at allocation so the hot path never takes a first-touch page fault. Free with
``free()``. Use it for tables of MiBs; small ones stay with ``calloc``.
"""
from libc.stdint cimport uint64_t

cdef extern from *:
    """
    #include <stdlib.h>
    #include <string.h>
    #include <stdint.h>
    #include <sys/mman.h>
    static void *tw_table_alloc(size_t bytes) {
        size_t align = (size_t)2 << 20, n = (bytes + align - 1) / align * align;
        void *p = NULL;
        if (n == 0) n = align;
        if (posix_memalign(&p, align, n)) return NULL;
        madvise(p, n, MADV_HUGEPAGE);
        memset(p, 0, n);
        return p;
    }
    static inline uint64_t tw_mix64(uint64_t x) {
        x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL; x ^= x >> 27; x *= 0x94d049bb133111ebULL; x ^= x >> 31;
        return x;
    }
    """
    void *tw_table_alloc(size_t nbytes) noexcept nogil
    uint64_t tw_mix64(uint64_t x) noexcept nogil
