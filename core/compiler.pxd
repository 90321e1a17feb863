# cython: language_level=3
"""Compiler hints and the build switch every hot path uses (header-only: nothing to import at run time).

``tw_likely`` / ``tw_unlikely`` mark the rare branch (GCC lays it out of line); ``tw_prefetch`` asks for
a cache line ahead of its use. ``TW_DEBUG`` is the C macro ``setup.py`` defines (1 with
``TICKWIRE_DEBUG=1``): ``if TW_DEBUG:`` blocks compile in invariant checks and extra counters and
compile away in release builds.
"""

cdef extern from *:
    """
    #define tw_likely(x)   __builtin_expect(!!(x), 1)
    #define tw_unlikely(x) __builtin_expect(!!(x), 0)
    /* The empty volatile asm gives a prefetch a side effect: GCC's pure-const analysis otherwise
       takes a helper that only prefetches for a pure function and deletes every call to it. */
    #define tw_prefetch(p) do { __builtin_prefetch((p)); __asm__ __volatile__(""); } while (0)
    #ifndef TW_DEBUG
    #define TW_DEBUG 0
    #endif
    """
    bint tw_likely(bint x) noexcept nogil
    bint tw_unlikely(bint x) noexcept nogil
    void tw_prefetch(const void *p) noexcept nogil
    const bint TW_DEBUG
