# cython: language_level=3
"""The Cython-level strategy path (``strategy/fast.pyx`` says how it works)."""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from messaging.sbe_wire cimport BboUpdate_t, Trade_t, TimingStamps_t
from messaging.transport cimport Publisher, Subscriber

cdef enum:
    FAST_MAX_LOCATE = 65536
    FAST_ORDER_SLOTS = 4096          # orders remembered (cl_ord_id & 4095) for their locate and side
    FAST_NO_SYMBOL = 0xFFFFFFFF      # locate not tradable (not a gateway symbol, or not the strategy's)
    FAST_UNRESOLVED = 0xFFFFFFFE     # locate not seen yet
    FAST_HOP_GAP = 100               # on_feed event: market_data messages lost on the Aeron hop (stream_seq jump)


ctypedef struct tw_fast_counters:
    uint64_t md_messages      # market-data messages handled (all templates)
    uint64_t md_refused       # sbe_check refusals
    uint64_t md_gaps          # stream_seq jumps on market_data (Aeron hop losses)
    uint64_t bbos             # BboUpdates delivered to on_bbo
    uint64_t trades           # Trades delivered to on_trade
    uint64_t reports          # execution reports delivered to on_execution
    uint64_t reports_foreign  # reports of orders not in the order table
    uint64_t sent             # NewOrders committed
    uint64_t not_logged_in    # orders refused: no session
    uint64_t unknown_symbol   # orders refused: locate not a gateway symbol
    uint64_t claim_failed     # orders refused: the claim on order_entry failed (back-pressure, not connected)


cdef class FastStrategy:
    # session state, handed over by strategy.oe_client.OrderEntryClient (its seq / session_id / logged_in)
    cdef public uint64_t seq
    cdef public uint32_t session_id
    cdef public bint logged_in
    cdef Publisher oe                      # order_entry (the client's exclusive publication); None: capture
    cdef uint32_t* gw_id                   # locate -> gateway symbol id / FAST_NO_SYMBOL / FAST_UNRESOLVED
    cdef uint64_t* keys                    # tradable symbols (8 bytes, zero padded) ...
    cdef uint32_t* key_ids                 # ... and their gateway ids
    cdef int nkeys
    cdef uint64_t ord_cl[FAST_ORDER_SLOTS]
    cdef uint16_t ord_loc[FAST_ORDER_SLOTS]
    cdef uint8_t ord_side[FAST_ORDER_SLOTS]
    cdef public uint64_t next_cl_ord_id
    cdef TimingStamps_t md                 # stamps of the market data being handled (zero outside on_bbo)
    cdef uint64_t expected_seq             # next market_data stream_seq (0: none seen)
    cdef bint stamp_rx                     # separate process: strat_rx_ns stamped on receive
    cdef tw_fast_counters c
    cdef unsigned char* cap                # capture buffer (no publisher): encoded NewOrders
    cdef Py_ssize_t cap_len, cap_size
    cdef public object config
    cdef public object params
    cdef public object symbols             # set of names, or None (every gateway symbol)

    # --- the callbacks a subclass overrides (C views, valid during the call only)
    cdef int on_bbo(self, const BboUpdate_t* m) noexcept nogil
    cdef int on_trade(self, const Trade_t* m) noexcept nogil
    cdef int on_execution(self, int tid, const unsigned char* block) noexcept nogil
    cdef int on_feed(self, int event) noexcept nogil
    # --- order actions (a subclass calls them from its callbacks)
    cdef int64_t send_new(self, uint16_t locate, uint8_t side, uint32_t qty, int64_t price, uint8_t ord_type,
                          uint8_t tif) noexcept nogil
    cdef int order_locate(self, uint64_t cl_ord_id) noexcept nogil
    cdef int order_side(self, uint64_t cl_ord_id) noexcept nogil
    # --- dispatch (the market-data handler and the in-process hook call these)
    cdef uint32_t resolve(self, uint16_t locate, const char* symbol) noexcept nogil
    cdef void handle_md(self, const unsigned char* buf, Py_ssize_t length) noexcept nogil
    cdef void bbo_in_process(self, const BboUpdate_t* m) noexcept nogil
    cdef void trade_in_process(self, const Trade_t* m) noexcept nogil
    cdef void handle_report(self, const unsigned char* buf, Py_ssize_t length) noexcept nogil


cdef void fast_md_fragment(void* ctx, const unsigned char* buf, Py_ssize_t length, int session_id) noexcept nogil
