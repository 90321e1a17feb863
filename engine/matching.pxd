# cython: language_level=3
"""Price-time priority matching engine: one book per symbol, integer prices on a per-symbol tick.

Hot path in C structs: an order pool with a free list, an open-addressing hash from client
order id to pool slot (done ids kept as DONE until end of day, for duplicate / not-open codes),
per side a sorted array of price levels with the best at the back, an intrusive FIFO per level,
a sorted stop book per side, a min-heap of GTD expiries, and a growable event buffer. No
allocation per command after warm-up (buffers only grow, amortised); results are integer codes.
Semantics and codes: docs/engine.md; ``engine/reference.py`` is the naive executable spec.
"""
cimport cython
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t

from messaging.records cimport Command, Event


# ------------------------------------------------------------- structs ----
cdef enum:
    OS_FREE = 0        # slot on the free list
    OS_RESTING = 1     # in a price level
    OS_STOP = 2        # pending stop (in a stop book)
    OS_INFLIGHT = 3    # the taker being matched (in no book)

cdef enum:
    IDX_DONE = -2      # index value of an order id that is finished (filled / cancelled / expired)
    IDX_NONE = -1      # not in the index


cdef struct Order:
    uint64_t order_id     # client order id (index key)
    uint64_t link_id      # OCO partner (0 = none)
    uint64_t arrival      # entry ordinal: identity of heap entries, order of the live list, stop tie-break
    int64_t price         # limit price (0 for market)
    int64_t stop_price    # stop trigger price (pending stops)
    int64_t expire_ns     # GTD expiry
    uint64_t ix_slot      # its slot in the id index (finishing marks DONE there without a probe)
    uint32_t qty          # total order quantity (after modifies)
    uint32_t filled       # cumulative filled quantity
    uint32_t leaves       # open quantity (hidden + visible)
    uint32_t display      # iceberg slice size (0 = not an iceberg)
    uint32_t visible      # quantity at the level's FIFO position now (== leaves unless iceberg)
    uint32_t account
    uint32_t firm
    uint32_t session
    uint32_t symbol
    int32_t prev          # level FIFO links (next doubles as the free-list link)
    int32_t next
    int32_t gprev         # live list links (arrival order), for mass actions
    int32_t gnext
    int32_t level         # level pool slot while resting, else -1
    uint8_t side
    uint8_t ord_type
    uint8_t tif
    uint8_t flags
    uint8_t stp
    uint8_t state         # OS_*


cdef struct Level:
    int64_t price
    uint64_t total        # sum of leaves of its orders
    uint32_t count        # number of orders
    int32_t head          # first order (oldest priority)
    int32_t tail
    int32_t next_free


cdef struct SideBook:
    int64_t *key          # sorted ascending; key = price (bids) or -price (asks): best at the back
    int32_t *lv           # level slot of each key
    int32_t n
    int32_t cap


cdef struct StopBook:
    int32_t *ord          # pool slots, next to trigger at the back
    int32_t n
    int32_t cap


cdef struct SymbolBook:
    int64_t tick
    int64_t last_price    # last trade (or reference) price; 0 = none yet (stops wait)
    uint8_t configured
    SideBook bids
    SideBook asks
    StopBook buy_stops    # trigger when last >= stop: lowest stop, then earliest, at the back
    StopBook sell_stops   # trigger when last <= stop: highest stop, then earliest, at the back


cdef struct IxSlot:         # one id-index slot: key and value on one cache line (a probe is one miss)
    uint64_t key          # client order id (0 = empty)
    int32_t val           # pool slot, IDX_DONE or IDX_NONE
    int32_t pad


cdef struct HeapEntry:
    int64_t expire_ns
    uint64_t arrival
    int32_t slot
    int32_t pad           # 0; a named field, as implicit padding is left undefined by struct copies
                          # (the heap's bytes are in snapshot images: equal state, equal bytes)


# -------------------------------------------------------------- engine ----
@cython.final
cdef class MatchingEngine:
    # ------------------------------------------------------------ state ----
    cdef Order *pool
    cdef int32_t pool_cap
    cdef int32_t free_head
    cdef readonly int32_t live
    """Open orders (resting + pending stops)."""
    cdef int32_t ghead
    cdef int32_t gtail
    cdef uint64_t next_arrival
    cdef Level *levels
    cdef int32_t level_cap
    cdef int32_t level_free
    cdef IxSlot *ix              # open addressing (linear probe), ix_cap a power of two
    cdef uint64_t ix_cap
    cdef uint64_t ix_used
    cdef SymbolBook *syms
    cdef uint32_t nsyms
    cdef HeapEntry *heap
    cdef int32_t heap_n
    cdef int32_t heap_cap
    cdef int32_t *scratch
    cdef Event *evs
    cdef Py_ssize_t ev_n
    cdef Py_ssize_t ev_cap
    cdef readonly int64_t clock_ns
    """Engine clock: the highest command ts_ns seen."""
    cdef const Command *cur
    cdef int32_t taker
    cdef int taker_kill
    cdef int oom

    # --------------------------------------------------------- counters ----
    cdef readonly uint64_t n_commands
    cdef readonly uint64_t n_rejects
    cdef readonly uint64_t n_fills
    cdef readonly uint64_t n_cancels
    cdef readonly uint64_t n_expires
    cdef readonly uint64_t n_triggers

    # ------------------------------------------------------------ calls ----
    cdef void advance(self, const Command *c) noexcept nogil
    """Advance the clock to ``c.ts_ns`` and expire the GTD orders due by then (events with ``c``'s seq);
    ``apply`` starts with it, the loop calls it before the risk check so the check sees them gone."""
    cdef int apply(self, const Command *c) noexcept nogil
    """Apply one command, appending its events to the buffer; returns 0 or the reject code."""
    cdef void emit_reject(self, const Command *c, int code) noexcept nogil
    """Append the reject event matching ``c.action`` (reject / cancel_reject / modify_reject)."""
    cdef bint is_crossed(self, uint32_t symbol) noexcept nogil
    """True when best bid >= best ask for ``symbol`` (must never happen)."""
    cdef void prefetch(self, const Command *c) noexcept nogil
    """Prefetch the id-index slot ``c`` will probe (the loop issues it one command ahead)."""
    cdef Event *event_ptr(self, Py_ssize_t i) noexcept nogil
    cdef Py_ssize_t event_count(self) noexcept nogil
    cdef void clear_events(self) noexcept nogil

    # -------------------------------------------------------- internals ----
    cdef Event *_ev(self, uint8_t kind) noexcept nogil
    cdef void _ev_order(self, uint8_t kind, Order *o, uint32_t qty, int reason) noexcept nogil
    cdef int32_t _ix_get(self, uint64_t oid) noexcept nogil
    cdef void _ix_set(self, uint64_t oid, int32_t val) noexcept nogil
    cdef void _ix_rebuild(self, uint64_t cap, bint drop_done) noexcept nogil
    cdef int32_t _alloc(self) noexcept nogil
    cdef void _live_append(self, int32_t i) noexcept nogil
    cdef void _finish(self, int32_t i) noexcept nogil
    cdef SideBook *_side(self, SymbolBook *sb, uint8_t side) noexcept nogil
    cdef SideBook *_opp(self, SymbolBook *sb, uint8_t side) noexcept nogil
    cdef void _rest(self, int32_t i) noexcept nogil
    cdef void _unlink_level(self, int32_t i) noexcept nogil
    cdef void _drop_level(self, uint32_t symbol, uint8_t side, int32_t li) noexcept nogil
    cdef bint _stop_before(self, Order *a, Order *b) noexcept nogil
    cdef bint _stop_add(self, int32_t i) noexcept nogil
    cdef void _stop_remove(self, int32_t i) noexcept nogil
    cdef void _remove(self, int32_t i, uint8_t kind, int reason) noexcept nogil
    cdef void _oco_fire(self, uint64_t partner_id) noexcept nogil
    cdef void _mass(self, int mode, uint32_t key, uint32_t symbol, uint8_t side, uint8_t kind, int reason) noexcept nogil
    cdef void _expire_due(self) noexcept nogil
    cdef bint _heap_less(self, HeapEntry *a, HeapEntry *b) noexcept nogil
    cdef bint _heap_push(self, int64_t expire_ns, uint64_t arrival, int32_t slot) noexcept nogil
    cdef void _heap_pop(self) noexcept nogil
    cdef bint _crosses(self, Order *t, Level *L) noexcept nogil
    cdef void _to_back(self, int32_t i) noexcept nogil
    cdef void _reduce_maker(self, int32_t m, uint32_t q) noexcept nogil
    cdef void _match(self, int32_t t) noexcept nogil
    cdef void _take(self, int32_t t) noexcept nogil
    cdef void _triggers(self, uint32_t symbol) noexcept nogil
    cdef int _check_new(self, const Command *c) noexcept nogil
    cdef bint _would_cross(self, SymbolBook *sb, uint8_t side, int64_t price) noexcept nogil
    cdef bint _fok_fillable(self, const Command *c, SymbolBook *sb) noexcept nogil
    cdef int _new(self, const Command *c) noexcept nogil
    cdef int _lookup_own(self, const Command *c, int32_t *out) noexcept nogil
    cdef int _cancel(self, const Command *c) noexcept nogil
    cdef int _modify(self, const Command *c) noexcept nogil
    cdef int _reference(self, const Command *c) noexcept nogil
    cdef SymbolBook *_sym(self, uint32_t symbol) except NULL


# ------------------------------------------------------------- helpers ----
cdef const Command *command_ptr(object cmds, Py_ssize_t *n) except? NULL
"""Pointer to the first record of a 1-d C-contiguous ``COMMAND_DTYPE`` array; ``n`` gets its length."""
