# cython: language_level=3
"""Big hot-path tables of the engine modules (header-only: every module that cimports it gets its own copy).

``tw_table_alloc``: zeroed memory, 2 MiB aligned and advised as transparent huge pages (random probes
into tens of MiB then miss the TLB far less; this VM's nested paging makes a TLB miss expensive), with
every page touched at allocation so the hot path never takes a first-touch page fault. Free with
``free()``. Use it for tables of MiBs; small ones stay with ``calloc``.
"""

cdef extern from *:
    """
    #include <stdlib.h>
    #include <string.h>
    #include <sys/mman.h>
    static void *tw_table_alloc(size_t bytes) {
        size_t align = (size_t)2 << 20, n = (bytes + align - 1) / align * align;
        void *p = NULL;
        if (posix_memalign(&p, align, n ? n : align)) return NULL;
        madvise(p, n ? n : align, MADV_HUGEPAGE);
        memset(p, 0, n ? n : align);
        return p;
    }
    """
    void *tw_table_alloc(size_t nbytes) noexcept nogil
