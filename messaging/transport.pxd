# cython: language_level=3
"""tickwire's Aeron transport (Cython API for the services; ``transport.pyx`` says how it works)."""
from libc.stdint cimport int64_t, uint64_t

from messaging.aeron_c cimport (aeron_context_t, aeron_t, aeron_publication_t, aeron_exclusive_publication_t,
                                aeron_subscription_t, aeron_fragment_assembler_t, aeron_buffer_claim_t,
                                tw_image_ring_t, tw_client_errors_t)

#: A whole (reassembled) message: ``buf[0:length]`` is valid during the call only.
ctypedef void (*tw_fragment_fn)(void* ctx, const unsigned char* buf, Py_ssize_t length, int session_id) noexcept nogil

cdef enum:
    TW_IDLE_BUSY_SPIN = 0
    TW_IDLE_YIELD = 1
    TW_IDLE_SLEEP = 2
    TW_IDLE_BACKOFF = 3
    TW_IDLE_NOOP = 4


cdef class IdleStrategy:
    cdef int kind
    cdef long sleep_ns
    cdef long max_spins, max_yields, min_park_ns, max_park_ns
    cdef long spins, yields, park_ns
    cdef readonly str spec
    cdef void idle(self, int work_count) noexcept nogil
    cdef void reset(self) noexcept nogil
    cpdef IdleStrategy copy(self)


ctypedef struct tw_pub_counters:
    uint64_t offered
    uint64_t failed
    uint64_t back_pressured
    uint64_t not_connected
    uint64_t admin_action
    uint64_t closed
    uint64_t max_position_exceeded
    uint64_t error


ctypedef struct tw_poll_ctx:
    tw_fragment_fn fn
    void* ctx
    uint64_t messages


cdef class AeronClient:
    cdef aeron_context_t* ctx
    cdef aeron_t* client
    cdef tw_client_errors_t* errs
    cdef readonly str dir
    cdef readonly IdleStrategy idle_strategy
    cdef list _rings
    cdef list _children
    cdef void* _add(self, int kind, str channel, int stream_id, void* ring) except NULL


cdef class Publisher:
    cdef AeronClient owner
    cdef aeron_publication_t* pub
    cdef aeron_exclusive_publication_t* xpub
    cdef readonly bint exclusive
    cdef int policy
    cdef int64_t retry_ns
    cdef IdleStrategy idler
    cdef aeron_buffer_claim_t claim_
    cdef tw_pub_counters c
    cdef readonly object stream
    cdef long claim(self, Py_ssize_t length, unsigned char** data) noexcept nogil
    cdef void commit(self) noexcept nogil
    cdef void abort(self) noexcept nogil
    cdef long offer(self, const unsigned char* buf, Py_ssize_t length) noexcept nogil
    cdef long _fail(self, int64_t r, bint claiming) noexcept nogil
    cdef void _release(self)


cdef class Subscriber:
    cdef AeronClient owner
    cdef aeron_subscription_t* sub
    cdef aeron_fragment_assembler_t* assembler
    cdef tw_image_ring_t* ring
    cdef tw_poll_ctx pctx
    cdef readonly object stream
    cdef object _py_cb
    cdef object _py_exc
    cdef int poll(self, tw_fragment_fn fn, void* ctx, int limit) noexcept nogil
    cdef void _release(self)
