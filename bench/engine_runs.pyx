# cython: language_level=3
"""Benchmark drivers of the engine loop: throughput with events discarded, latency on a fixed-rate schedule.

They step an ``engine.loop.EngineLoop`` through its cdef API (``run_ptr``, ``step``, ``commit``) with
the GIL released, as the production ``run`` does, so what they measure is the loop itself.
"""
from libc.stdint cimport int64_t
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from messaging.records cimport Command, RC_LOOP_STOPPED
from engine.matching cimport command_ptr
from engine.loop cimport EngineLoop

from engine.loop import LoopStopped


cdef inline int64_t _mono_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000 + ts.tv_nsec


cdef _check_stopped(EngineLoop loop):
    if loop.fatal:
        raise LoopStopped(RC_LOOP_STOPPED, loop.fatal)


def run_paced(EngineLoop loop, cmds, double rate_per_s, int64_t[::1] latency_ns, int64_t[::1] service_ns=None):
    """Run every command on a fixed-rate schedule, measuring latency without coordinated omission.

    Command k is due at ``t0 + k / rate``; when ahead the loop busy-waits until then, when behind
    it runs at once and the backlog shows: ``latency_ns[k] = completion - due`` (CLOCK_MONOTONIC).
    Events are discarded as they accumulate (the measurement is of the pipeline, not the consumer).
    ``service_ns`` (optional) gets completion - actual start: the engine's own cost, without queueing,
    which separates the pipeline's tail from the host's (preemption, other tenants).

    Returns
    -------
    int : the wall time of the run in ns.

    Raises
    ------
    LoopStopped : as ``EngineLoop.run`` does (the journal commit is at the end).
    ValueError : a latency / service array shorter than ``cmds``, a rate not above 0.
    """
    cdef Py_ssize_t n = 0, k
    cdef int rc = 0
    cdef const Command *p = command_ptr(cmds, &n)
    if latency_ns.shape[0] < n:
        raise ValueError("latency_ns shorter than cmds")
    if rate_per_s <= 0:
        raise ValueError("rate must be positive")
    cdef double interval = 1e9 / rate_per_s
    cdef int64_t t0, due, now, start
    cdef bint service = service_ns is not None
    if service and service_ns.shape[0] < n:
        raise ValueError("service_ns shorter than cmds")
    _check_stopped(loop)
    with nogil:
        t0 = _mono_ns() + 1000
        now = _mono_ns()
        for k in range(n):
            due = t0 + <int64_t> (k * interval)
            while now < due:
                now = _mono_ns()
            start = now
            loop.step(&p[k])
            if loop.engine.ev_n >= loop.high_water:
                loop.engine.ev_n = 0
            now = _mono_ns()
            latency_ns[k] = now - due
            if service:
                service_ns[k] = now - start
        rc = loop.commit()
        loop.engine.ev_n = 0
    if rc < 0:
        raise LoopStopped(rc, rc)
    return now - t0


def run_discard(EngineLoop loop, cmds):
    """Run every command through ``loop``, discarding events in place (throughput); returns elapsed ns.

    Raises LoopStopped as ``EngineLoop.run`` does.
    """
    cdef Py_ssize_t n = 0, i = 0, done = 0
    cdef const Command *p = command_ptr(cmds, &n)
    cdef int64_t t0, t1
    _check_stopped(loop)
    with nogil:
        t0 = _mono_ns()
        while i < n:
            done = loop.run_ptr(p + i, n - i)
            if done < 0:
                break
            i += done
            loop.engine.ev_n = 0
        t1 = _mono_ns()
    if done < 0:
        raise LoopStopped(<int>done, loop.fatal)
    return t1 - t0
