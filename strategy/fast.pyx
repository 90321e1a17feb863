# cython: language_level=3
"""The Cython-level strategy path: ``FastStrategy``, for latency-critical strategies.

A ``FastStrategy`` subclass (a ``cdef class``) sees market data and execution reports as C views of the
SBE blocks (``messaging.sbe_wire``), never a Python object, and its order actions encode a ``NewOrder``
in place, in a buffer claimed on the ``order_entry`` stream (``Publisher.claim`` / ``commit``): no
Python object and no allocation between a market-data message and the order it causes.

Callbacks (override; ``noexcept nogil``; the views are valid during the call only)::

    cdef int on_bbo(self, const BboUpdate_t* m)                    # a tradable symbol's BBO changed
    cdef int on_trade(self, const Trade_t* m)
    cdef int on_execution(self, int tid, const unsigned char* block)   # TID_ACK .. TID_CANCEL_REJECT:
                                                                        # cast block to Ack_t*, Fill_t* ...
    cdef int on_feed(self, int event)                              # FeedStatus events (FeedEvent), and
                                                                   # FAST_HOP_GAP for a loss on the Aeron hop

Order action: ``send_new(locate, side, qty, price, ord_type, tif)`` -> the cl_ord_id (> 0), or a
negative ``STRAT_E_FAST_*`` code (core/codes.pxd): no session logged in, the locate is not a gateway
symbol (or not one of the strategy's), no buffer claimed on order_entry. An order sent from ``on_bbo``
carries that BBO's TimingStamps (send .. strat_rx) and ``order_tx_ns``; ``order_locate(cl)`` /
``order_side(cl)`` give an order's book and side back (the last 4096 orders).

Session: login, logout, heartbeats, resends and the seq checks of the reports stay in the Python
``strategy.oe_client.OrderEntryClient``; ``attach(client)`` hands the session to this object (the
client's ``seq``, ``session_id`` and ``logged_in`` then live here, so both number from one counter), and
the client passes every report it delivers to ``handle_report``. One thread drives both.

Two modes, one class (docs/strategy.md):

* separate process (``services.strategy_host``): ``poll_md(subscriber)`` reads market_data with the
  Subscriber's nogil fragment handler (``fast_md_fragment``) calling the strategy directly; the
  stream_seq is checked (a jump is counted and reported as ``on_feed(FAST_HOP_GAP)``: messages lost on
  the Aeron hop, FAIL_FAST, when the strategy is too slow; the books themselves are exact, and a BboUpdate
  is a whole top of book: the next one of a symbol is right again); ``strat_rx_ns`` is stamped.
* in process (``services.feed`` with ``[feed] strategy``): ``services.md_publisher.MdPublisher`` calls
  ``bbo_in_process`` / ``trade_in_process`` on each book change, in the feed's own thread, with the
  block it publishes (no market-data hop: ``md_pub_ns`` and ``strat_rx_ns`` are 0).

Without a publisher (``attach`` not called) orders are encoded into a capture buffer (``captured()``):
tests and the twin comparison drive a strategy this way (``deliver_md`` / ``deliver_report``).

Python side: ``FastStrategy(config)`` with the same TOML shape as ``strategy.base.Strategy``
(``symbols``, ``params`` checked against the class's ``PARAMS``; ``configure(params)`` hook);
``set_gateway_symbols(list)``; ``counters()``; ``summary()``.
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memset
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec

from core.codes cimport STRAT_E_FAST_NOT_LOGGED_IN, STRAT_E_FAST_UNKNOWN_SYMBOL, STRAT_E_FAST_CLAIM
from messaging.sbe_wire cimport (SbeHeader, BboUpdate_t, Trade_t, FeedStatus_t, NewOrder_t, TimingStamps_t,
                                 put_NewOrder, sbe_check, SBE_HEADER_LEN, NEW_ORDER_ENCODED_LENGTH,
                                 TID_BBO_UPDATE, TID_TRADE, TID_FEED_STATUS, TID_BOOK_SNAPSHOT, TID_HEARTBEAT,
                                 TID_ACK, TID_CANCEL_REJECT, SBE_ORD_TYPE_LIMIT)
from messaging.transport cimport Publisher, Subscriber

FEED_HOP_GAP = FAST_HOP_GAP


cdef inline uint64_t _now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <uint64_t>ts.tv_sec * 1000000000 + <uint64_t>ts.tv_nsec


cdef inline uint64_t _key(const char* s) noexcept nogil:
    """8 symbol bytes as one integer, spaces and NULs after the name both as 0."""
    cdef uint64_t k = 0
    cdef int i
    cdef unsigned char ch
    for i in range(8):
        ch = <unsigned char>s[i]
        if ch == 0 or ch == 32:
            break
        k |= (<uint64_t>ch) << (8 * i)
    return k


def symbol_key(str name) -> int:
    b = name.encode("ascii")[:8].ljust(8, b"\0")
    return _key(<const char*>b)


cdef void fast_md_fragment(void* ctx, const unsigned char* buf, Py_ssize_t length, int session_id) noexcept nogil:
    (<FastStrategy>ctx).handle_md(buf, length)


cdef class FastStrategy:
    PARAMS = {}

    def __cinit__(self, *args, **kwargs):
        self.gw_id = <uint32_t*>malloc(FAST_MAX_LOCATE * sizeof(uint32_t))
        if self.gw_id == NULL:
            raise MemoryError()
        for i in range(FAST_MAX_LOCATE):
            self.gw_id[i] = FAST_UNRESOLVED
        self.keys = NULL
        self.key_ids = NULL
        self.nkeys = 0
        self.cap = NULL
        self.cap_len = self.cap_size = 0
        memset(&self.c, 0, sizeof(self.c))
        memset(&self.md, 0, sizeof(self.md))
        memset(self.ord_cl, 0, sizeof(self.ord_cl))
        self.next_cl_ord_id = 1
        self.oe = None
        self.stamp_rx = True

    def __dealloc__(self):
        free(self.gw_id)
        free(self.keys)
        free(self.key_ids)
        free(self.cap)

    def __init__(self, config=None):
        from strategy.base import ConfigError, _param
        cfg = dict(config or {})
        self.config = cfg
        for key in cfg:
            if key not in ("symbols", "params", "strategy"):
                raise ConfigError(key, "unknown key (known: params, strategy, symbols)")
        syms = cfg.get("symbols")
        if syms is None:
            raise ConfigError("symbols", "missing: a list of symbols, or [\"*\"] for all")
        if not isinstance(syms, list) or not syms or not all(isinstance(s, str) and s.strip() for s in syms):
            raise ConfigError("symbols", f"expected a non-empty list of symbol names, got {syms!r}")
        for s in syms:
            if s != "*" and (len(s) > 8 or not s.isascii()):
                raise ConfigError("symbols", f"{s!r} is not an ITCH symbol (at most 8 ASCII characters)")
        self.symbols = None if "*" in syms else {s.strip() for s in syms}
        params = cfg.get("params", {})
        if not isinstance(params, dict):
            raise ConfigError("params", "expected a table [params]")
        for key in params:
            if key not in self.PARAMS:
                raise ConfigError(f"params.{key}", f"unknown parameter of {type(self).__name__} "
                                                   f"(known: {', '.join(self.PARAMS) or 'none'})")
        p = {}
        for k, spec in self.PARAMS.items():
            if k in params:
                p[k] = _param(f"params.{k}", params[k], spec)
            elif spec.default is None:
                raise ConfigError(f"params.{k}", "missing")
            else:
                p[k] = spec.default
        self.params = p
        self.configure(p)
        if self.symbols is not None:
            self.set_gateway_symbols(sorted(self.symbols))

    def configure(self, params):
        """Hook: check combinations of parameters (raise strategy.base.ConfigError), set the C fields."""

    # ------------------------------------------------------------------ wiring (Python) ----
    def set_gateway_symbols(self, symbols):
        """The gateway's symbols (list: the id is the position, as ``[gateway].symbols``; or {name: id});
        the tradable ones are those also in the strategy's ``symbols``."""
        items = list(symbols.items()) if isinstance(symbols, dict) else [(s, i) for i, s in enumerate(symbols)]
        items = [(s, i) for s, i in items if self.symbols is None or s in self.symbols]
        free(self.keys)
        free(self.key_ids)
        self.keys = <uint64_t*>malloc(max(len(items), 1) * sizeof(uint64_t))
        self.key_ids = <uint32_t*>malloc(max(len(items), 1) * sizeof(uint32_t))
        if self.keys == NULL or self.key_ids == NULL:
            raise MemoryError()
        for j, (s, i) in enumerate(items):
            self.keys[j] = symbol_key(s)
            self.key_ids[j] = i
        self.nkeys = len(items)
        for i in range(FAST_MAX_LOCATE):
            self.gw_id[i] = FAST_UNRESOLVED

    def attach(self, client):
        """Take over the order-entry session of ``client`` (a strategy.oe_client.OrderEntryClient)."""
        self.oe = <Publisher?>client.pub
        client.attach_fast(self)

    def in_process(self, bint yes=True):
        """In-process mode: no strat_rx_ns stamp (the feed calls on its own thread; md_pub is not a hop)."""
        self.stamp_rx = not yes

    def poll_md(self, Subscriber sub, int limit=256) -> int:
        """Separate process: read market_data, the fragment handler calling this strategy directly."""
        cdef int n
        with nogil:
            n = sub.poll(fast_md_fragment, <void*>self, limit)
        return n

    def deliver_md(self, const unsigned char[::1] raw):
        """One market-data message (tests, the twin comparison): as the fragment handler does."""
        self.handle_md(&raw[0], raw.shape[0])

    def deliver_report(self, const unsigned char[::1] raw):
        """One execution report (the client calls this for each report it delivers)."""
        self.handle_report(&raw[0], raw.shape[0])

    def captured(self) -> list:
        """The NewOrders encoded without a publisher (header + block each), oldest first."""
        return [bytes(self.cap[i:i + NEW_ORDER_ENCODED_LENGTH])
                for i in range(0, self.cap_len, NEW_ORDER_ENCODED_LENGTH)]

    def counters(self) -> dict:
        d = dict(self.c)
        d.update(seq=self.seq, session_id=self.session_id, logged_in=bool(self.logged_in),
                 next_cl_ord_id=self.next_cl_ord_id)
        return d

    def summary(self) -> dict:
        return {"orders": self.c.sent}

    # ------------------------------------------------------------------ callbacks (override) ----
    cdef int on_bbo(self, const BboUpdate_t* m) noexcept nogil:
        return 0

    cdef int on_trade(self, const Trade_t* m) noexcept nogil:
        return 0

    cdef int on_execution(self, int tid, const unsigned char* block) noexcept nogil:
        return 0

    cdef int on_feed(self, int event) noexcept nogil:
        return 0

    # ------------------------------------------------------------------ order actions ----
    cdef int64_t send_new(self, uint16_t locate, uint8_t side, uint32_t qty, int64_t price, uint8_t ord_type,
                          uint8_t tif) noexcept nogil:
        cdef uint32_t sid = self.gw_id[locate]
        cdef unsigned char* d = NULL
        cdef unsigned char* grown
        cdef long r
        cdef NewOrder_t* o
        cdef uint64_t cl
        cdef uint32_t slot
        if self.oe is not None and not self.logged_in:
            self.c.not_logged_in += 1
            return STRAT_E_FAST_NOT_LOGGED_IN
        if sid >= FAST_UNRESOLVED:
            self.c.unknown_symbol += 1
            return STRAT_E_FAST_UNKNOWN_SYMBOL
        if self.oe is not None:
            r = self.oe.claim(NEW_ORDER_ENCODED_LENGTH, &d)
            if r <= 0:
                self.c.claim_failed += 1
                return STRAT_E_FAST_CLAIM
        else:
            if self.cap_len + NEW_ORDER_ENCODED_LENGTH > self.cap_size:
                grown = <unsigned char*>realloc(self.cap, self.cap_size * 2 + 64 * NEW_ORDER_ENCODED_LENGTH)
                if grown == NULL:
                    self.c.claim_failed += 1
                    return STRAT_E_FAST_CLAIM
                self.cap = grown
                self.cap_size = self.cap_size * 2 + 64 * NEW_ORDER_ENCODED_LENGTH
            d = self.cap + self.cap_len
            self.cap_len += NEW_ORDER_ENCODED_LENGTH
        o = put_NewOrder(d, NEW_ORDER_ENCODED_LENGTH)
        cl = self.next_cl_ord_id
        self.next_cl_ord_id += 1
        self.seq += 1
        o.seq = self.seq
        o.order_id = cl
        o.price = price
        memcpy(&o.timing, &self.md, sizeof(TimingStamps_t))
        o.timing.order_tx_ns = _now_ns()
        o.qty = qty
        o.symbol_id = sid
        o.side = side
        o.ord_type = ord_type
        o.tif = tif
        if self.oe is not None:
            self.oe.commit()
        self.c.sent += 1
        slot = <uint32_t>(cl & (FAST_ORDER_SLOTS - 1))
        self.ord_cl[slot] = cl
        self.ord_loc[slot] = locate
        self.ord_side[slot] = side
        return <int64_t>cl

    cdef int order_locate(self, uint64_t cl_ord_id) noexcept nogil:
        cdef uint32_t slot = <uint32_t>(cl_ord_id & (FAST_ORDER_SLOTS - 1))
        return self.ord_loc[slot] if self.ord_cl[slot] == cl_ord_id and cl_ord_id else -1

    cdef int order_side(self, uint64_t cl_ord_id) noexcept nogil:
        cdef uint32_t slot = <uint32_t>(cl_ord_id & (FAST_ORDER_SLOTS - 1))
        return self.ord_side[slot] if self.ord_cl[slot] == cl_ord_id and cl_ord_id else -1

    # ------------------------------------------------------------------ dispatch ----
    cdef uint32_t resolve(self, uint16_t locate, const char* symbol) noexcept nogil:
        cdef uint32_t v = self.gw_id[locate]
        cdef uint64_t k
        cdef int j
        if v != FAST_UNRESOLVED:
            return v
        k = _key(symbol)
        v = FAST_NO_SYMBOL
        for j in range(self.nkeys):
            if self.keys[j] == k:
                v = self.key_ids[j]
                break
        self.gw_id[locate] = v
        return v

    cdef void handle_md(self, const unsigned char* buf, Py_ssize_t length) noexcept nogil:
        cdef SbeHeader h
        cdef int tid = sbe_check(buf, length, &h)
        cdef uint64_t seq, rx = 0
        cdef const BboUpdate_t* m
        if tid < 0:
            self.c.md_refused += 1
            return
        if self.stamp_rx:
            rx = _now_ns()
        self.c.md_messages += 1
        if tid > TID_HEARTBEAT or tid == TID_BOOK_SNAPSHOT:
            return                                     # not a market_data message
        seq = (<const uint64_t*>(buf + SBE_HEADER_LEN + 24))[0]     # stream_seq: @24 of every block
        if self.expected_seq != 0 and seq != self.expected_seq:
            if seq > self.expected_seq:
                self.c.md_gaps += 1
                self.on_feed(FAST_HOP_GAP)
        if seq >= self.expected_seq:
            self.expected_seq = seq + 1
        if tid == TID_BBO_UPDATE:
            m = <const BboUpdate_t*>(buf + SBE_HEADER_LEN)
            if self.resolve(m.locate, m.symbol) >= FAST_UNRESOLVED:
                return
            memcpy(&self.md, &m.timing, sizeof(TimingStamps_t))
            self.md.strat_rx_ns = rx
            self.c.bbos += 1
            self.on_bbo(m)
            memset(&self.md, 0, sizeof(TimingStamps_t))
        elif tid == TID_TRADE:
            if self.resolve((<const Trade_t*>(buf + SBE_HEADER_LEN)).locate,
                            (<const Trade_t*>(buf + SBE_HEADER_LEN)).symbol) >= FAST_UNRESOLVED:
                return
            self.c.trades += 1
            self.on_trade(<const Trade_t*>(buf + SBE_HEADER_LEN))
        elif tid == TID_FEED_STATUS:
            self.on_feed((<const FeedStatus_t*>(buf + SBE_HEADER_LEN)).event)

    cdef void bbo_in_process(self, const BboUpdate_t* m) noexcept nogil:
        if self.resolve(m.locate, m.symbol) >= FAST_UNRESOLVED:
            return
        memcpy(&self.md, &m.timing, sizeof(TimingStamps_t))
        self.md.md_pub_ns = 0
        self.md.strat_rx_ns = 0
        self.c.bbos += 1
        self.on_bbo(m)
        memset(&self.md, 0, sizeof(TimingStamps_t))

    cdef void trade_in_process(self, const Trade_t* m) noexcept nogil:
        if self.resolve(m.locate, m.symbol) >= FAST_UNRESOLVED:
            return
        self.c.trades += 1
        self.on_trade(m)

    cdef void handle_report(self, const unsigned char* buf, Py_ssize_t length) noexcept nogil:
        cdef SbeHeader h
        cdef int tid = sbe_check(buf, length, &h)
        cdef uint64_t cl
        if tid < TID_ACK or tid > TID_CANCEL_REJECT:
            return
        cl = (<const uint64_t*>(buf + SBE_HEADER_LEN + 8))[0]     # order_id: @8 of every report block
        if self.order_locate(cl) < 0:
            self.c.reports_foreign += 1
            return
        self.c.reports += 1
        self.on_execution(tid, buf + SBE_HEADER_LEN)
