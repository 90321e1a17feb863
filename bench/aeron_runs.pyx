# cython: language_level=3
"""Compiled drivers of bench/bench_aeron.py: Cython<->Cython ping / pong and fan-out through
messaging.transport's cdef API (no Python object per message)."""
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memcpy
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

import numpy as np

from messaging.transport cimport AeronClient, IdleStrategy, Publisher, Subscriber


cdef inline int64_t now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000 + ts.tv_nsec


ctypedef struct EchoCtx:
    int got
    Py_ssize_t length
    unsigned char buf[4096]


cdef void _on_echo(void* ctx, const unsigned char* buf, Py_ssize_t length, int session_id) noexcept nogil:
    cdef EchoCtx* e = <EchoCtx*>ctx
    e.got += 1
    e.length = length if length <= 4096 else 4096
    memcpy(e.buf, buf, e.length)


ctypedef struct CountCtx:
    int64_t count
    int64_t first_ns
    int64_t last_ns


cdef void _on_count(void* ctx, const unsigned char* buf, Py_ssize_t length, int session_id) noexcept nogil:
    cdef CountCtx* c = <CountCtx*>ctx
    if c.count == 0:
        c.first_ns = now_ns()
    c.count += 1


def ping(Publisher pub, Subscriber sub, long total, long warmup, int size, IdleStrategy idle):
    """Sends ``warmup + total`` messages of ``size`` bytes one at a time, each after the echo of the
    previous one; the round trips (ns) of the last ``total``, as a NumPy array."""
    out = np.zeros(total, dtype=np.int64)
    cdef int64_t[::1] o = out
    cdef EchoCtx e
    cdef unsigned char msg[4096]
    cdef long i
    cdef int64_t t0
    cdef int w
    e.got = 0
    with nogil:
        for i in range(warmup + total):
            t0 = now_ns()
            memcpy(msg, &t0, 8)
            while pub.offer(msg, size) < 0:
                idle.idle(0)
            e.got = 0
            while e.got == 0:
                w = sub.poll(_on_echo, &e, 1)
                idle.idle(w)
            if i >= warmup:
                o[i - warmup] = now_ns() - t0
    return out


def pong(Publisher pub, Subscriber sub, long total, IdleStrategy idle):
    """Echoes ``total`` messages back, each as it arrives."""
    cdef EchoCtx e
    cdef long i
    cdef int w
    with nogil:
        for i in range(total):
            e.got = 0
            while e.got == 0:
                w = sub.poll(_on_echo, &e, 1)
                idle.idle(w)
            while pub.offer(e.buf, e.length) < 0:
                idle.idle(0)
    return total


def publish(Publisher pub, long total, int size, IdleStrategy idle):
    """Claims and commits ``total`` messages of ``size`` bytes as fast as the subscribers take them;
    (first claim ns, last commit ns)."""
    cdef unsigned char* p
    cdef long i
    cdef int64_t t0, t1
    with nogil:
        t0 = now_ns()
        for i in range(total):
            while pub.claim(size, &p) < 0:
                idle.idle(0)
            (<int64_t*>p)[0] = i
            pub.commit()
        t1 = now_ns()
    return t0, t1


def consume(Subscriber sub, long total, IdleStrategy idle):
    """Counts ``total`` messages; (messages, first ns, last ns)."""
    cdef CountCtx c
    cdef int w
    c.count = 0
    c.first_ns = 0
    with nogil:
        while c.count < total:
            w = sub.poll(_on_count, &c, 256)
            idle.idle(w)
        c.last_ns = now_ns()
    return c.count, c.first_ns, c.last_ns
