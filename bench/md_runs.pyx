# cython: language_level=3
"""Compiled subscriber of bench/bench_md_fanout.py: counts the feed's market-data messages through
messaging.transport's cdef API and checks their stream_seq (no Python object per message)."""
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from messaging.transport cimport IdleStrategy, Subscriber


cdef inline int64_t now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000 + ts.tv_nsec


ctypedef struct MdCount:
    int64_t count
    int64_t first_ns
    int64_t last_ns
    uint64_t first_seq
    uint64_t last_seq
    uint64_t lost          # stream_seq numbers skipped (FAIL_FAST losses)
    int64_t short
    int64_t heartbeats


cdef void _on_md(void* ctx, const unsigned char* buf, Py_ssize_t length, int session_id) noexcept nogil:
    cdef MdCount* c = <MdCount*>ctx
    cdef uint64_t seq
    if length < 8 + 32:
        c.short += 1
        return
    memcpy(&seq, buf + 8 + 24, 8)            # every market-data block: feed_seq, exch_ts, rx_ts, stream_seq
    if buf[2] == 13 and buf[3] == 0:         # Heartbeat: the feed was idle for 1 s (the replay is over)
        c.heartbeats += 1
        if seq > c.last_seq + 1 and c.count > 0:
            c.lost += seq - c.last_seq - 1
        c.last_seq = seq
        return
    if c.count == 0:
        c.first_ns = now_ns()
        c.first_seq = seq
    elif seq > c.last_seq + 1:
        c.lost += seq - c.last_seq - 1
    c.last_seq = seq
    c.count += 1
    c.last_ns = now_ns()


def consume_md(Subscriber sub, IdleStrategy idle, int64_t quiet_ns, int64_t give_up_ns):
    """Counts market-data messages until a Heartbeat follows them (the feed idle for 1 s: the replay is
    over) or none came for ``quiet_ns`` after the first (or none at all for ``give_up_ns``): dict of
    count, first / last stream_seq, lost, first / last receive ns (heartbeats not counted)."""
    cdef MdCount c
    cdef int w
    cdef int64_t t0 = now_ns(), now
    c.count = 0
    c.lost = 0
    c.short = 0
    c.heartbeats = 0
    c.first_ns = 0
    c.last_ns = 0
    c.first_seq = 0
    c.last_seq = 0
    with nogil:
        while True:
            w = sub.poll(_on_md, &c, 256)
            if c.heartbeats > 0 and c.count > 0:
                break
            if w > 0:
                continue
            now = now_ns()
            if c.count > 0 and now - c.last_ns >= quiet_ns:
                break
            if c.count == 0 and now - t0 >= give_up_ns:
                break
            idle.idle(w)
    return {"count": c.count, "first_seq": c.first_seq, "last_seq": c.last_seq, "lost": c.lost,
            "first_ns": c.first_ns, "last_ns": c.last_ns, "short": c.short}
