# cython: language_level=3
"""Aeron transport of the appliance, on the Aeron 1.53 C client that pip pyaeron ships.

``AeronClient(dir)`` connects to a running media driver (``tickwire driver``, ``messaging.driver``)
and makes a :class:`Publisher` or :class:`Subscriber` for a ``messaging.channels.StreamSpec``.
The hot paths are C calls with no Python object: ``Publisher.claim`` / ``commit`` (zero copy into
the log buffer, ``aeron_*publication_try_claim``), ``Publisher.offer`` (copy), and
``Subscriber.poll`` (``aeron_subscription_poll`` through an ``aeron_fragment_assembler``, so a
handler always sees whole messages). The Python methods (``offer_bytes``, ``poll(callback)``,
``counters``, ``drain_image_events``) are for tools and tests.

Back-pressure (the stream's ``Policy``): RETRY_BOUNDED retries a failed claim / offer with the
publisher's idle strategy until ``retry_ns`` have passed since the first failure, then returns the
failure code; FAIL_FAST returns it at once. A closed publication, a maximum position or an Aeron
error is never retried. Every failed attempt is counted by reason, every message given up in
``failed``; failures return an ``AERON_E_*`` code (``core/codes.pxd``), success the new stream
position (> 0).

Image events (a publisher's image becoming available or going away, e.g. its process killed) are
written by the Aeron client's conductor thread into a lock-free single-producer ring per subscriber
(``messaging/aeron_c.h``); the owner drains it (``drain_image_events``) on its own thread, so no
Python code ever runs on the conductor thread.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint64_t, uint8_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from posix.time cimport nanosleep, timespec

from messaging.aeron_c cimport *
from core.codes cimport (AERON_E_NO_DRIVER, AERON_E_CLIENT, AERON_E_ADD, AERON_E_NOT_CONNECTED,
                         AERON_E_BACK_PRESSURED, AERON_E_ADMIN_ACTION, AERON_E_CLOSED, AERON_E_MAX_POSITION,
                         AERON_E_ERROR, AERON_E_TOO_LONG, AERON_E_TIMEOUT)

import re

from messaging.channels import AeronConfigError, AeronError, Policy, StreamSpec, default_dir

cdef extern from "<sched.h>" nogil:
    int sched_yield()

cdef enum:
    _ADD_PUB = 0
    _ADD_XPUB = 1
    _ADD_SUB = 2
    _RETRY_BOUNDED = 1

#: Kinds of ``drain_image_events`` entries.
IMAGE_AVAILABLE = "available"
IMAGE_UNAVAILABLE = "unavailable"


cdef inline void _sleep_ns(long ns) noexcept nogil:
    cdef timespec ts
    ts.tv_sec = ns // 1000000000
    ts.tv_nsec = ns % 1000000000
    nanosleep(&ts, NULL)


# ---------------------------------------------------------------------------------------------- idle

_DUR = re.compile(r"^\s*(\d+)\s*(ns|us|µs|ms|s)?\s*$")
_UNIT = {"ns": 1, "us": 1000, "µs": 1000, "ms": 1_000_000, "s": 1_000_000_000, None: 1}


def _duration_ns(text: str, key: str) -> int:
    m = _DUR.match(text)
    if not m:
        raise AeronConfigError(key, f"{text!r} is not a duration such as 500ns, 50us, 1ms")
    return int(m[1]) * _UNIT[m[2]]


cdef class IdleStrategy:
    """What a loop does when it found no work: ``idle(work_count)`` (0: no work), reset by work.

    Built from a configuration string (``IdleStrategy.parse``): ``busy-spin`` (isolated cores),
    ``yield``, ``sleep:1ms`` (any of ns, us, ms, s), ``noop``, ``backoff`` or
    ``backoff:MAX_SPINS,MAX_YIELDS,MIN_PARK,MAX_PARK`` (defaults 10, 5, 1us, 1ms: spin, then
    ``sched_yield``, then sleep, doubling from MIN_PARK to MAX_PARK; for shared cores). The
    constructors ``busy_spin()``, ``yielding()``, ``sleeping(ns)`` and ``backoff(...)`` make the same.
    """

    def __cinit__(self):
        self.kind = TW_IDLE_BACKOFF
        self.sleep_ns = 1_000_000
        self.max_spins, self.max_yields = 10, 5
        self.min_park_ns, self.max_park_ns = 1000, 1_000_000
        self.spec = "backoff"
        self.reset()

    @staticmethod
    def busy_spin():
        cdef IdleStrategy s = IdleStrategy()
        s.kind = TW_IDLE_BUSY_SPIN
        s.spec = "busy-spin"
        return s

    @staticmethod
    def yielding():
        cdef IdleStrategy s = IdleStrategy()
        s.kind = TW_IDLE_YIELD
        s.spec = "yield"
        return s

    @staticmethod
    def noop():
        cdef IdleStrategy s = IdleStrategy()
        s.kind = TW_IDLE_NOOP
        s.spec = "noop"
        return s

    @staticmethod
    def sleeping(long ns):
        if ns <= 0:
            raise AeronConfigError("idle", f"sleep period must be positive, not {ns} ns")
        cdef IdleStrategy s = IdleStrategy()
        s.kind = TW_IDLE_SLEEP
        s.sleep_ns = ns
        s.spec = f"sleep:{ns}ns"
        return s

    @staticmethod
    def backoff(long max_spins=10, long max_yields=5, long min_park_ns=1000, long max_park_ns=1_000_000):
        if max_spins < 0 or max_yields < 0 or min_park_ns <= 0 or max_park_ns < min_park_ns:
            raise AeronConfigError("idle", "backoff needs spins >= 0, yields >= 0 and 0 < min park <= max park")
        cdef IdleStrategy s = IdleStrategy()
        s.kind = TW_IDLE_BACKOFF
        s.max_spins, s.max_yields, s.min_park_ns, s.max_park_ns = max_spins, max_yields, min_park_ns, max_park_ns
        s.spec = f"backoff:{max_spins},{max_yields},{min_park_ns}ns,{max_park_ns}ns"
        s.reset()
        return s

    @staticmethod
    def parse(text, key="idle"):
        """The strategy a configuration string names; AeronConfigError (with ``key``) for anything else."""
        try:
            return IdleStrategy._parse(text, key)
        except AeronConfigError as e:
            if e.key == key:
                raise
            raise AeronConfigError(key, e.message.partition(": ")[2]) from None

    @staticmethod
    def _parse(text, key):
        if isinstance(text, IdleStrategy):
            return text
        if not isinstance(text, str):
            raise AeronConfigError(key, f"{text!r} is not an idle strategy string")
        name, _, arg = text.strip().partition(":")
        name = name.strip().lower().replace("_", "-")
        if name in ("busy-spin", "busyspin", "spin") and not arg:
            return IdleStrategy.busy_spin()
        if name in ("yield", "yielding") and not arg:
            return IdleStrategy.yielding()
        if name == "noop" and not arg:
            return IdleStrategy.noop()
        if name in ("sleep", "sleeping"):
            return IdleStrategy.sleeping(_duration_ns(arg or "1ms", key))
        if name == "backoff":
            if not arg:
                return IdleStrategy.backoff()
            parts = [p.strip() for p in arg.split(",")]
            if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
                raise AeronConfigError(key, f"{text!r}: backoff:MAX_SPINS,MAX_YIELDS,MIN_PARK,MAX_PARK expected")
            return IdleStrategy.backoff(int(parts[0]), int(parts[1]), _duration_ns(parts[2], key),
                                        _duration_ns(parts[3], key))
        raise AeronConfigError(key, f"{text!r} is not busy-spin, yield, noop, sleep:DURATION or backoff[:...]")

    cpdef IdleStrategy copy(self):
        """The same strategy with its own state (a backoff keeps per-loop state)."""
        cdef IdleStrategy s = IdleStrategy()
        s.kind, s.sleep_ns, s.spec = self.kind, self.sleep_ns, self.spec
        s.max_spins, s.max_yields, s.min_park_ns, s.max_park_ns = (self.max_spins, self.max_yields,
                                                                   self.min_park_ns, self.max_park_ns)
        s.reset()
        return s

    cdef void reset(self) noexcept nogil:
        self.spins = 0
        self.yields = 0
        self.park_ns = self.min_park_ns

    cdef void idle(self, int work_count) noexcept nogil:
        if work_count > 0:
            if self.kind == TW_IDLE_BACKOFF:
                self.reset()
            return
        if self.kind == TW_IDLE_BUSY_SPIN:
            tw_cpu_relax()
        elif self.kind == TW_IDLE_YIELD:
            sched_yield()
        elif self.kind == TW_IDLE_SLEEP:
            _sleep_ns(self.sleep_ns)
        elif self.kind == TW_IDLE_BACKOFF:
            if self.spins < self.max_spins:
                self.spins += 1
                tw_cpu_relax()
            elif self.yields < self.max_yields:
                self.yields += 1
                sched_yield()
            else:
                _sleep_ns(self.park_ns)
                self.park_ns = self.park_ns * 2 if self.park_ns * 2 < self.max_park_ns else self.max_park_ns

    def idle_py(self, int work_count=0):
        """``idle`` from Python (drops the GIL while it waits)."""
        with nogil:
            self.idle(work_count)

    def __repr__(self):
        return f"IdleStrategy({self.spec!r})"


# --------------------------------------------------------------------------------------------- client

cdef str _errmsg():
    cdef const char* m = aeron_errmsg()
    return m.decode("utf-8", "replace").strip().replace("\n", " ") if m != NULL else "unknown Aeron error"


cdef class AeronClient:
    """A connection to the media driver at ``dir`` (default ``messaging.channels.default_dir()``).

    Raises ``AeronError`` (``AERON_E_NO_DRIVER``) at once when no driver is active there, and
    ``AERON_E_CLIENT`` when the client cannot start. ``idle`` is the strategy the publishers'
    bounded retries use (and the default for loops that ask for it): a string or an
    ``IdleStrategy`` (default ``backoff``). ``timeout_ms`` is the Aeron driver timeout (how long a
    silent driver is tolerated, and how long adding a publication may take).
    """

    def __cinit__(self):
        self.ctx = NULL
        self.client = NULL
        self.errs = <tw_client_errors_t*>calloc(1, sizeof(tw_client_errors_t))
        if self.errs == NULL:
            raise MemoryError()
        self._rings = []
        self._children = []

    def __init__(self, dir=None, idle="backoff", int timeout_ms=10000, str name="tickwire"):
        self.dir = str(dir) if dir is not None else default_dir()
        self.idle_strategy = IdleStrategy.parse(idle)
        bdir = self.dir.encode()
        if not aeron_is_driver_active(bdir, 2000 if timeout_ms > 2000 else timeout_ms, tw_quiet_log):
            raise AeronError(AERON_E_NO_DRIVER, f"no Aeron media driver is active at {self.dir} "
                                                f"(start one: tickwire driver --dir {self.dir})")
        if aeron_context_init(&self.ctx) < 0:
            raise AeronError(AERON_E_CLIENT, f"aeron_context_init: {_errmsg()}")
        aeron_context_set_dir(self.ctx, bdir)
        aeron_context_set_driver_timeout_ms(self.ctx, timeout_ms)
        aeron_context_set_client_name(self.ctx, name.encode()[:100])
        aeron_context_set_error_handler(self.ctx, tw_on_client_error, self.errs)
        cdef int rc
        with nogil:
            rc = aeron_init(&self.client, self.ctx)
        if rc < 0:
            msg = _errmsg()
            aeron_context_close(self.ctx)
            self.ctx = NULL
            self.client = NULL
            raise AeronError(AERON_E_CLIENT, f"cannot connect to the media driver at {self.dir}: {msg}")
        with nogil:
            rc = aeron_start(self.client)
        if rc < 0:
            msg = _errmsg()
            self.close()
            raise AeronError(AERON_E_CLIENT, f"cannot start the Aeron client for {self.dir}: {msg}")

    cdef void* _add(self, int kind, str channel, int stream_id, void* ring) except NULL:
        cdef aeron_async_add_publication_t* ap = NULL
        cdef aeron_async_add_exclusive_publication_t* axp = NULL
        cdef aeron_async_add_subscription_t* asub = NULL
        cdef aeron_publication_t* pub = NULL
        cdef aeron_exclusive_publication_t* xpub = NULL
        cdef aeron_subscription_t* sub = NULL
        cdef int rc
        cdef bytes uri = channel.encode()
        cdef const char* curi = uri
        if self.client == NULL:
            raise AeronError(AERON_E_CLOSED, "the Aeron client is closed")
        if kind == _ADD_PUB:
            rc = aeron_async_add_publication(&ap, self.client, curi, stream_id)
        elif kind == _ADD_XPUB:
            rc = aeron_async_add_exclusive_publication(&axp, self.client, curi, stream_id)
        else:
            rc = aeron_async_add_subscription(&asub, self.client, curi, stream_id,
                                              tw_on_available_image, ring, tw_on_unavailable_image, ring)
        if rc < 0:
            raise AeronError(AERON_E_ADD, f"{channel} stream {stream_id}: {_errmsg()}")
        with nogil:
            while True:
                if kind == _ADD_PUB:
                    rc = aeron_async_add_publication_poll(&pub, ap)
                elif kind == _ADD_XPUB:
                    rc = aeron_async_add_exclusive_publication_poll(&xpub, axp)
                else:
                    rc = aeron_async_add_subscription_poll(&sub, asub)
                if rc != 0:
                    break
                _sleep_ns(100_000)
        if rc < 0:
            code = AERON_E_TIMEOUT if aeron_errcode() == -1000 else AERON_E_ADD
            raise AeronError(code, f"{channel} stream {stream_id}: {_errmsg()}")
        if kind == _ADD_PUB:
            return pub
        if kind == _ADD_XPUB:
            return xpub
        return sub

    def publication(self, stream, bint exclusive=False, idle=None):
        """A :class:`Publisher` on ``stream`` (a ``StreamSpec``) with its policy and retry bound.

        ``exclusive=True`` makes an exclusive publication (one writing thread, a little faster);
        ``idle`` overrides the client's idle strategy for the bounded retries."""
        if not isinstance(stream, StreamSpec):
            raise TypeError("publication() takes a messaging.channels.StreamSpec")
        cdef Publisher p = Publisher.__new__(Publisher)
        p.owner = self
        p.stream = stream
        p.exclusive = exclusive
        p.policy = int(stream.policy)
        p.retry_ns = stream.retry_ns
        p.idler = (IdleStrategy.parse(idle) if idle is not None else self.idle_strategy).copy()
        if exclusive:
            p.xpub = <aeron_exclusive_publication_t*>self._add(_ADD_XPUB, stream.channel, stream.stream_id, NULL)
        else:
            p.pub = <aeron_publication_t*>self._add(_ADD_PUB, stream.channel, stream.stream_id, NULL)
        self._children.append(p)
        return p

    def subscription(self, stream):
        """A :class:`Subscriber` on ``stream`` (a ``StreamSpec``), reassembling fragmented messages."""
        if not isinstance(stream, StreamSpec):
            raise TypeError("subscription() takes a messaging.channels.StreamSpec")
        cdef Subscriber s = Subscriber.__new__(Subscriber)
        s.owner = self
        s.stream = stream
        s.ring = <tw_image_ring_t*>calloc(1, sizeof(tw_image_ring_t))
        if s.ring == NULL:
            raise MemoryError()
        self._rings.append(<size_t>s.ring)      # freed after aeron_close: the conductor thread writes into it
        if aeron_fragment_assembler_create(&s.assembler, _on_message, &s.pctx) < 0:
            raise AeronError(AERON_E_CLIENT, f"aeron_fragment_assembler_create: {_errmsg()}")
        s.sub = <aeron_subscription_t*>self._add(_ADD_SUB, stream.channel, stream.stream_id, s.ring)
        self._children.append(s)
        return s

    @property
    def is_closed(self):
        """Closed by ``close()``, or by Aeron after the media driver went silent longer than the driver
        timeout (publications then return AERON_E_CLOSED; ``errors`` says why)."""
        return self.client == NULL or aeron_is_closed(self.client)

    @property
    def errors(self):
        """``(count, last_code, last_message)`` of the errors Aeron's client thread reported (e.g. the
        driver timeout); Aeron's default handler would print them and exit the process."""
        cdef uint64_t n = tw_errors_count(self.errs)
        return (n, self.errs.last_code, self.errs.last.decode("utf-8", "replace") if n else "")

    def close(self):
        """Close every publisher and subscriber made here, then the client (idempotent)."""
        for child in self._children:
            if isinstance(child, Publisher):
                (<Publisher>child)._release()
            else:
                (<Subscriber>child)._release()
        self._children = []
        if self.client != NULL:
            with nogil:
                aeron_close(self.client)
            self.client = NULL
            self.ctx = NULL          # owned and freed by the client
        elif self.ctx != NULL:
            aeron_context_close(self.ctx)
            self.ctx = NULL
        for r in self._rings:
            free(<void*><size_t>r)
        self._rings = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __dealloc__(self):
        if self.client != NULL:
            aeron_close(self.client)
            self.client = NULL
        elif self.ctx != NULL:
            aeron_context_close(self.ctx)
        for r in self._rings:
            free(<void*><size_t>r)
        free(self.errs)       # after aeron_close: the conductor thread is gone

    def __repr__(self):
        return f"AeronClient(dir={self.dir!r}, closed={self.is_closed})"


# ------------------------------------------------------------------------------------------ publisher

cdef class Publisher:
    """Writes messages to one stream; ``claim`` + ``commit`` (zero copy) or ``offer`` (copy), with the
    stream's back-pressure policy. Made by ``AeronClient.publication``."""

    def __cinit__(self):
        self.pub = NULL
        self.xpub = NULL

    cdef long _fail(self, int64_t r, bint claiming) noexcept nogil:
        if r == AERON_PUBLICATION_BACK_PRESSURED:
            self.c.back_pressured += 1
            return AERON_E_BACK_PRESSURED
        if r == AERON_PUBLICATION_NOT_CONNECTED:
            self.c.not_connected += 1
            return AERON_E_NOT_CONNECTED
        if r == AERON_PUBLICATION_ADMIN_ACTION:
            self.c.admin_action += 1
            return AERON_E_ADMIN_ACTION
        if r == AERON_PUBLICATION_CLOSED:
            self.c.closed += 1
            return AERON_E_CLOSED
        if r == AERON_PUBLICATION_MAX_POSITION_EXCEEDED:
            self.c.max_position_exceeded += 1
            return AERON_E_MAX_POSITION
        self.c.error += 1
        return AERON_E_TOO_LONG if claiming else AERON_E_ERROR

    cdef long claim(self, Py_ssize_t length, unsigned char** data) noexcept nogil:
        """Claims ``length`` bytes in the log: > 0 (then write at ``*data`` and ``commit`` or ``abort``)
        or a negative AERON_E_* code after the policy's retries."""
        cdef int64_t r, deadline = 0, now
        cdef long code
        if length < 0:
            self.c.error += 1
            self.c.failed += 1
            return AERON_E_TOO_LONG
        while True:
            if self.xpub != NULL:
                r = aeron_exclusive_publication_try_claim(self.xpub, <size_t>length, &self.claim_)
            elif self.pub != NULL:
                r = aeron_publication_try_claim(self.pub, <size_t>length, &self.claim_)
            else:
                r = AERON_PUBLICATION_CLOSED
            if r > 0:
                data[0] = self.claim_.data
                self.c.offered += 1
                if deadline != 0:
                    self.idler.reset()
                return <long>r
            code = self._fail(r, True)
            if (self.policy != _RETRY_BOUNDED or r == AERON_PUBLICATION_CLOSED or r == AERON_PUBLICATION_ERROR
                    or r == AERON_PUBLICATION_MAX_POSITION_EXCEEDED):
                break
            now = aeron_nano_clock()
            if deadline == 0:
                deadline = now + self.retry_ns
            elif now >= deadline:
                break
            self.idler.idle(0)
        self.idler.reset()
        self.c.failed += 1
        return code

    cdef void commit(self) noexcept nogil:
        aeron_buffer_claim_commit(&self.claim_)

    cdef void abort(self) noexcept nogil:
        aeron_buffer_claim_abort(&self.claim_)

    cdef long offer(self, const unsigned char* buf, Py_ssize_t length) noexcept nogil:
        """Copies ``buf[0:length]`` into the log: > 0, or a negative AERON_E_* code after the policy's retries."""
        cdef int64_t r, deadline = 0, now
        cdef long code
        if length < 0:
            self.c.error += 1
            self.c.failed += 1
            return AERON_E_TOO_LONG
        while True:
            if self.xpub != NULL:
                r = aeron_exclusive_publication_offer(self.xpub, buf, <size_t>length, NULL, NULL)
            elif self.pub != NULL:
                r = aeron_publication_offer(self.pub, buf, <size_t>length, NULL, NULL)
            else:
                r = AERON_PUBLICATION_CLOSED
            if r > 0:
                self.c.offered += 1
                if deadline != 0:
                    self.idler.reset()
                return <long>r
            code = self._fail(r, False)
            if (self.policy != _RETRY_BOUNDED or r == AERON_PUBLICATION_CLOSED or r == AERON_PUBLICATION_ERROR
                    or r == AERON_PUBLICATION_MAX_POSITION_EXCEEDED):
                break
            now = aeron_nano_clock()
            if deadline == 0:
                deadline = now + self.retry_ns
            elif now >= deadline:
                break
            self.idler.idle(0)
        self.idler.reset()
        self.c.failed += 1
        return code

    def offer_bytes(self, b) -> int:
        """``offer`` of a bytes-like object (GIL released while retrying): position > 0 or AERON_E_* code."""
        cdef const unsigned char[::1] view = b
        cdef long r
        cdef Py_ssize_t n = view.shape[0]
        cdef const unsigned char* p = &view[0] if n > 0 else <const unsigned char*>b""
        with nogil:
            r = self.offer(p, n)
        return r

    def claim_bytes(self, b) -> int:
        """``claim`` + copy + ``commit`` of a bytes-like object (the zero-copy path, for tests and tools)."""
        cdef const unsigned char[::1] view = b
        cdef unsigned char* dst = NULL
        cdef long r
        cdef Py_ssize_t n = view.shape[0]
        with nogil:
            r = self.claim(n, &dst)
            if r > 0:
                if n > 0:
                    memcpy(dst, &view[0], n)
                self.commit()
        return r

    @property
    def is_connected(self):
        if self.xpub != NULL:
            return bool(aeron_exclusive_publication_is_connected(self.xpub))
        if self.pub != NULL:
            return bool(aeron_publication_is_connected(self.pub))
        return False

    @property
    def is_closed(self):
        return self.pub == NULL and self.xpub == NULL

    @property
    def session_id(self):
        """The publication's session id (what subscribers see); None for an exclusive or closed one
        (Aeron 1.53's C client has no getter for an exclusive publication's)."""
        return aeron_publication_session_id(self.pub) if self.pub != NULL else None

    def counters(self) -> dict:
        """Messages ``offered`` (published) and ``failed`` (given up), and failed attempts by reason."""
        c = self.c
        return {"offered": c.offered, "failed": c.failed, "back_pressured": c.back_pressured,
                "not_connected": c.not_connected, "admin_action": c.admin_action, "closed": c.closed,
                "max_position_exceeded": c.max_position_exceeded, "error": c.error}

    cdef void _release(self):
        if self.pub != NULL:
            aeron_publication_close(self.pub, NULL, NULL)
            self.pub = NULL
        if self.xpub != NULL:
            aeron_exclusive_publication_close(self.xpub, NULL, NULL)
            self.xpub = NULL

    def close(self):
        """Close the publication (idempotent); claims and offers then return AERON_E_CLOSED."""
        self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Publisher({self.stream.name!r}, {self.stream.channel!r}, {self.stream.stream_id})"


# ----------------------------------------------------------------------------------------- subscriber

cdef void _on_message(void* clientd, const uint8_t* buffer, size_t length, aeron_header_t* header) noexcept nogil:
    cdef tw_poll_ctx* p = <tw_poll_ctx*>clientd
    cdef aeron_header_values_t hv
    cdef int sid = 0
    if aeron_header_values(header, &hv) == 0:
        sid = hv.frame.session_id
    p.messages += 1
    p.fn(p.ctx, buffer, <Py_ssize_t>length, sid)


cdef void _py_fragment(void* ctx, const unsigned char* buf, Py_ssize_t length, int session_id) noexcept nogil:
    with gil:
        s = <Subscriber>ctx
        if s._py_exc is not None:
            return
        try:
            s._py_cb(PyBytes_FromStringAndSize(<const char*>buf, length), session_id)
        except BaseException as e:
            s._py_exc = e


cdef class Subscriber:
    """Reads whole messages of one stream, from every publisher (image) on it. Made by
    ``AeronClient.subscription``."""

    def __cinit__(self):
        self.sub = NULL
        self.assembler = NULL
        self.ring = NULL

    cdef int poll(self, tw_fragment_fn fn, void* ctx, int limit) noexcept nogil:
        """Calls ``fn(ctx, buf, length, session_id)`` for each whole message in at most ``limit``
        fragments; returns the fragments read (the work count) or AERON_E_CLOSED."""
        if self.sub == NULL:
            return AERON_E_CLOSED
        self.pctx.fn = fn
        self.pctx.ctx = ctx
        return aeron_subscription_poll(self.sub, aeron_fragment_assembler_handler, self.assembler, <size_t>limit)

    def poll_messages(self, callback, int limit=10) -> int:
        """``callback(bytes, session_id)`` for each whole message in at most ``limit`` fragments; the
        fragments read. An exception of the callback stops the delivery and is raised here."""
        cdef int n
        self._py_cb = callback
        self._py_exc = None
        try:
            n = self.poll(_py_fragment, <void*>self, limit)
        finally:
            self._py_cb = None
        if self._py_exc is not None:
            e, self._py_exc = self._py_exc, None
            raise e
        if n == AERON_E_CLOSED:
            raise AeronError(AERON_E_CLOSED, "the subscription is closed")
        return n

    def __getattr__(self, name):
        # Python's ``poll(callback, limit=10)`` is ``poll_messages``: Cython keeps the name ``poll`` for the
        # cdef (C function pointer) method, which Python code cannot see, so the lookup falls through here.
        if name == "poll":
            return self.poll_messages
        raise AttributeError(f"'Subscriber' object has no attribute {name!r}")

    @property
    def messages(self):
        """Whole messages delivered so far."""
        return self.pctx.messages

    @property
    def image_count(self):
        return aeron_subscription_image_count(self.sub) if self.sub != NULL else 0

    @property
    def is_connected(self):
        return bool(aeron_subscription_is_connected(self.sub)) if self.sub != NULL else False

    @property
    def image_events_dropped(self):
        """Image events lost because the owner did not drain the ring (256 entries) in time."""
        return tw_ring_dropped(self.ring) if self.ring != NULL else 0

    def drain_image_events(self) -> list:
        """Image events since the last call, oldest first: ``(kind, session_id, source_identity)`` with
        kind ``"available"`` or ``"unavailable"``."""
        cdef tw_image_event_t ev
        out = []
        if self.ring == NULL:
            return out
        while tw_ring_pop(self.ring, &ev):
            out.append((IMAGE_AVAILABLE if ev.kind == 1 else IMAGE_UNAVAILABLE, ev.session_id,
                        ev.source.decode("utf-8", "replace")))
        return out

    cdef void _release(self):
        if self.sub != NULL:
            aeron_subscription_close(self.sub, NULL, NULL)
            self.sub = NULL
        if self.assembler != NULL:
            aeron_fragment_assembler_delete(self.assembler)
            self.assembler = NULL

    def close(self):
        """Close the subscription (idempotent)."""
        self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Subscriber({self.stream.name!r}, {self.stream.channel!r}, {self.stream.stream_id})"


def header_values_size() -> int:
    """sizeof(aeron_header_values_t) as compiled (44 in Aeron 1.53: a layout check for the tests)."""
    return sizeof(aeron_header_values_t)


def image_constants_size() -> int:
    return sizeof(aeron_image_constants_t)
