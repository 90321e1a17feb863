# cython: language_level=3
"""Helpers shared by the kernel-path sources: Python views of a burst and a nogil drain loop.

``frames_to_list`` copies a burst into Python objects (tests, tools; never the hot path).
``drain`` is the receive loop the benchmarks and ``tickwire listen`` use when no feed handler is
attached: bursts of 32, MoldUDP64 header walk (sequence gaps, message count) as the minimal decode,
busy-polling or blocking according to the source, stopping on a packet count, a deadline or a flag.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memset
from cpython.bytes cimport PyBytes_FromStringAndSize

from datapath.batch cimport Frame, PacketSource, BURST_SIZE
from core.linux cimport now_realtime_ns, clock_gettime, timespec_, CLOCK_MONOTONIC
from core.compiler cimport tw_unlikely
from core.codes cimport MOLD_E_SHORT, MOLD_E_TRUNCATED
from datapath.mold_walk cimport MoldWalk, mold_walk, MOLD_END_OF_SESSION


cdef inline list frames_to_list(const Frame *frames, int n):
    """``[(payload bytes, src_ip, rx_ns), ...]`` of a burst (copies)."""
    cdef list out = []
    cdef int i
    for i in range(n):
        out.append((PyBytes_FromStringAndSize(<const char *>frames[i].data, frames[i].length),
                    frames[i].src_ip, frames[i].rx_ns))
    return out


cdef inline uint64_t mono_ns() noexcept nogil:
    cdef timespec_ ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <uint64_t>ts.tv_sec * 1000000000 + <uint64_t>ts.tv_nsec


cdef struct DrainStats:
    uint64_t packets          # frames received
    uint64_t bytes            # payload bytes
    uint64_t messages         # MoldUDP64 messages walked
    uint64_t gaps             # sequence gaps seen (next expected != packet sequence)
    uint64_t bad              # payloads too short for their MoldUDP64 header/blocks
    uint64_t bursts           # non-empty bursts
    uint64_t empty_polls      # rx_burst calls that returned 0
    int last_code             # last negative rx_burst code (0 when none)
    uint64_t first_ns         # CLOCK_MONOTONIC of the first packet
    uint64_t last_ns          # CLOCK_MONOTONIC of the last packet
    uint64_t work_ns          # time inside bursts that returned packets (receive + decode + release):
                              # the per-packet cost of a busy-polling loop without its idle spinning


cdef inline void drain_walk(const uint8_t *p, uint32_t n, uint64_t *next_seq, DrainStats *st) noexcept nogil:
    """The minimal decode of a drain: the packet walk (datapath/mold_walk.pxd), gaps and messages counted."""
    cdef MoldWalk w
    cdef int rc = mold_walk(p, n, &w)
    if tw_unlikely(rc == MOLD_E_SHORT):
        st.bad += 1
        return
    if w.count == MOLD_END_OF_SESSION:
        return
    if next_seq[0] != 0 and w.seq != next_seq[0]:
        st.gaps += 1
    st.messages += w.blocks
    if tw_unlikely(rc == MOLD_E_TRUNCATED):
        st.bad += 1
    next_seq[0] = w.seq + w.count


cdef inline int drain(PacketSource src, uint64_t max_packets, uint64_t max_ns, uint64_t idle_ns,
                      volatile int *stop, DrainStats *st) noexcept nogil:
    """Receive until ``max_packets`` (0 = no limit), ``max_ns`` elapsed, ``idle_ns`` without a packet
    after the first one (0 = no idle limit), ``stop[0]`` set, or a negative code. Returns 0 or the code."""
    cdef Frame frames[BURST_SIZE]
    cdef int n, i
    cdef uint64_t start = mono_ns(), now, next_seq = 0, last = 0, t0
    while stop == NULL or stop[0] == 0:
        t0 = mono_ns()
        n = src.rx_burst(frames, BURST_SIZE)
        if n > 0:
            for i in range(n):
                st.bytes += frames[i].length
                drain_walk(frames[i].data, frames[i].length, &next_seq, st)
            st.packets += n
            st.bursts += 1
            src.rx_release()
            last = mono_ns()
            st.work_ns += last - t0
            if st.first_ns == 0:
                st.first_ns = last
            st.last_ns = last
            if max_packets and st.packets >= max_packets:
                return 0
        elif n == 0:
            st.empty_polls += 1
            now = mono_ns()
            if max_ns and now - start >= max_ns:
                return 0
            if idle_ns and last and now - last >= idle_ns:
                return 0
        else:
            st.last_code = n
            return n
        if n > 0 and max_ns and (st.bursts & 255) == 0 and mono_ns() - start >= max_ns:
            return 0
    return 0


cdef inline dict drain_py(PacketSource src, uint64_t max_packets, double seconds, double idle_seconds, object stop):
    """``drain`` for Python callers: releases the GIL; ``stop`` is a datapath.pinning.StopFlag or None."""
    cdef DrainStats st
    cdef int rc
    cdef volatile int *sp = NULL
    cdef uint64_t max_ns = <uint64_t>(seconds * 1e9), idle_ns = <uint64_t>(idle_seconds * 1e9)
    memset(&st, 0, sizeof(st))
    if stop is not None:
        sp = <volatile int *><size_t>stop.address
    with nogil:
        rc = drain(src, max_packets, max_ns, idle_ns, sp, &st)
    d = dict(st)
    d["rc"] = rc
    return d
