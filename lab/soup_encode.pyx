# cython: language_level=3
"""SoupBinTCP 3.00 sequenced-data encoding for the lab's server (``lab/soupserve.py``).

``encode_sequenced`` turns a slice of a binaryFILE day into 'S' packets without a Python loop: a
binaryFILE block is ``[u16 length][message]``, an 'S' packet ``[u16 length + 1]['S'][message]``.
"""
from libc.stdint cimport uint8_t, int64_t
from libc.string cimport memcpy


def encode_sequenced(const uint8_t[::1] data, const int64_t[::1] offs, int64_t lo, int64_t hi):
    """'S' packets for messages [lo, hi) (0-based) of a binaryFILE day: one bytes object."""
    cdef int64_t i, a, n, size, pos = 0
    if lo < 0 or hi > offs.shape[0] - 1 or lo > hi:
        raise IndexError(f"message range [{lo}, {hi}) outside the day (0..{offs.shape[0] - 1})")
    size = (offs[hi] - offs[lo]) + (hi - lo)
    out = bytearray(size)
    cdef uint8_t[::1] o = out
    for i in range(lo, hi):
        a = offs[i]
        n = offs[i + 1] - a - 2
        o[pos] = <uint8_t>((n + 1) >> 8)
        o[pos + 1] = <uint8_t>((n + 1) & 0xFF)
        o[pos + 2] = 83                                      # 'S'
        memcpy(&o[pos + 3], &data[a + 2], n)
        pos += 3 + n
    return bytes(out)
