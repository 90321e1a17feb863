# cython: language_level=3
"""Exact full-depth (L3) ITCH 5.0 order books for every stock locate of a feed.

``BookBuilder`` is a ``feedhandlers.sink.MessageSink``: a framer hands it one validated message at a
time (``on_message``) and it keeps every order of every symbol in time priority, plus the per-symbol
directory / trading-state data, counters for every fault, and a batch buffer of BBO / trade events.

Memory layout (all plain C arrays, grown geometrically, no allocation per message after warm-up):

- orders: one pool of 32-byte ``tw_order`` (handle = uint32 index, 0 = null) with a free list.
- order index: a paged DIRECT index ref -> order handle, ``TW_PAGE_REFS`` refs per page, pages
  allocated on first use and released when their last order dies; refs above ``max_ref`` are refused.
- levels: one pool of 24-byte ``tw_level`` (price, shares, order count, FIFO head/tail).
- sides: per book and side a sorted array of keys + level handles, BEST AT THE BACK (bid key = price,
  ask key = ~price), so both sides scan from the back where activity clusters.

Result codes of ``on_message``: >= 0 applied, < 0 a counted fault, one of the ``BOOK_*`` codes of
``core/codes.pxd`` (``book/codes.py`` maps each to the counter that counts it).
"""
cimport cython
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t

from feedhandlers.sink cimport MessageSink
from core.codes cimport (BOOK_UNKNOWN_REF, BOOK_DUPLICATE_ADD, BOOK_OVER_EXECUTION, BOOK_OVER_CANCEL, BOOK_ZERO_SHARES,
                         BOOK_ZERO_PRICE, BOOK_BAD_SIDE, BOOK_REF_OUT_OF_RANGE, BOOK_LOCATE_OUT_OF_RANGE,
                         BOOK_REPLACE_ONTO_LIVE, BOOK_ZERO_SHARES_MOD, BOOK_NO_MEMORY, BOOK_BAD_MESSAGE, BOOK_ZERO_REF)


# ---------------------------------------------------------------- result codes ----
cdef enum:
    BOOK_OK = 0

# Event kinds.
cdef enum:
    TW_EV_BBO = 1
    TW_EV_TRADE = 2

# Sides (index into tw_book.side).
cdef enum:
    TW_BID = 0
    TW_ASK = 1

# Order-index paging: refs per page (power of two) and its shift / mask.
cdef enum:
    TW_PAGE_SHIFT = 13
    TW_PAGE_REFS = 8192
    TW_PAGE_MASK = 8191


# ---------------------------------------------------------------- C structs ----
ctypedef struct tw_order:
    # 32 bytes, two per cache line; the fields E/C/X/D touch first come first.
    uint32_t shares        # remaining displayed shares (> 0 while live)
    uint32_t level         # level handle (E/C/X/D/U never search the book)
    uint32_t prev          # FIFO links (order handles, 0 = none)
    uint32_t next          # also the free-list link of a dead order
    uint32_t price
    uint16_t locate
    uint8_t side           # TW_BID / TW_ASK
    uint8_t _pad
    uint64_t ref

ctypedef struct tw_level:
    uint64_t shares        # sum of the FIFO's remaining shares
    uint32_t price
    uint32_t count         # orders in the FIFO
    uint32_t head          # oldest order (first to trade); also the free-list link of a dead level
    uint32_t tail          # newest order

ctypedef struct tw_side:
    uint32_t *keys         # ascending; best at [n - 1]
    uint32_t *lvls         # level handles, parallel to keys
    uint32_t n
    uint32_t cap

ctypedef struct tw_book:
    tw_side side[2]
    uint64_t msgs          # messages carrying this locate
    uint64_t pub_sz[2]     # last published best size per side (BBO change detection)
    uint32_t pub_px[2]     # last published best price per side
    uint32_t orders        # live orders in this book
    uint8_t has_symbol
    uint8_t has_directory

ctypedef struct tw_info:
    # Cold per-locate data (directory, states, last trade): never touched by A/E/C/X/D/U except trades.
    uint64_t stock                 # raw 8 space-padded bytes
    uint32_t round_lot
    uint32_t etp_leverage
    uint8_t market_category
    uint8_t financial_status
    uint8_t round_lots_only
    uint8_t issue_classification
    uint8_t issue_subtype[2]
    uint8_t authenticity
    uint8_t short_sale_threshold
    uint8_t ipo_flag
    uint8_t luld_tier
    uint8_t etp_flag
    uint8_t inverse
    uint8_t trading_state          # H: 'H','P','Q','T' (0 = none seen)
    uint8_t reg_sho                # Y: '0','1','2'
    uint8_t rpii                   # N: interest flag
    uint8_t halt_q                 # h: operational halt action per market code Q/B/X ('H','T')
    uint8_t halt_b
    uint8_t halt_x
    uint8_t ipo_qualifier
    uint8_t noii_dir
    uint8_t noii_cross_type
    uint8_t noii_pvi
    uint32_t reason                # H: raw 4 bytes
    uint32_t luld_ref
    uint32_t luld_upper
    uint32_t luld_lower
    uint32_t luld_ext
    uint32_t ipo_release
    uint32_t ipo_price
    uint32_t noii_far
    uint32_t noii_near
    uint32_t noii_ref
    uint32_t last_px
    uint64_t noii_paired
    uint64_t noii_imbalance
    uint64_t noii_ts
    uint64_t last_qty
    uint64_t last_match
    uint64_t last_ts
    uint64_t trading_ts
    uint64_t participant_positions
    uint64_t dlcr_updates

ctypedef struct tw_event:
    # 64 bytes (one cache line); numpy twin: book.builder.EVENT_DTYPE.
    uint8_t kind           # TW_EV_BBO / TW_EV_TRADE
    uint8_t side           # BBO: side that changed 'B'/'S'; trade: resting/aggressor side byte, 0 for Q
    uint16_t locate
    uint32_t trade_px
    uint64_t seq
    uint64_t ts            # ITCH timestamp (ns since midnight)
    uint32_t bid_px        # book BBO after the message (0 = empty side)
    uint32_t ask_px
    uint64_t bid_sz
    uint64_t ask_sz
    uint64_t trade_qty
    uint64_t match


# ---------------------------------------------------------------- the builder ----
@cython.final
cdef class BookBuilder(MessageSink):
    # ------------------------------------------------------------ configuration ----
    cdef public bint track_bbo
    """Detect BBO changes (count them, and record BBO events when ``record_events``)."""
    cdef public bint record_events
    """Write BBO / trade events into the event buffer (drained by ``drain_events``)."""
    cdef readonly uint64_t max_ref
    """Largest accepted order reference; larger refs are counted as ``bad_refs``."""
    cdef readonly uint32_t max_locates
    """Locates >= this are refused (``bad_locates``); at most 65536."""
    cdef readonly uint64_t max_events
    """Event buffer cap; events beyond it are counted in ``events_dropped`` (consumer not draining)."""

    # ------------------------------------------------------------ books ----
    cdef tw_book *books
    cdef tw_info *infos
    cdef uint32_t nbooks               # allocated entries of books / infos

    # ------------------------------------------------------------ order pool ----
    cdef tw_order *orders
    cdef uint32_t orders_cap
    cdef uint32_t orders_used          # high-water mark (handle 0 reserved)
    cdef uint32_t order_free           # free-list head

    # ------------------------------------------------------------ level pool ----
    cdef tw_level *levels
    cdef uint32_t levels_cap
    cdef uint32_t levels_used
    cdef uint32_t level_free

    # ------------------------------------------------------------ order index ----
    cdef uint32_t **pages              # directory: (max_ref >> TW_PAGE_SHIFT) + 1 entries
    cdef uint16_t *page_live           # live orders per page
    cdef uint64_t npages
    cdef uint32_t **spare              # released pages kept for reuse (all slots zero)
    cdef uint32_t nspare
    cdef readonly uint64_t pages_live
    """Index pages currently allocated."""

    # ------------------------------------------------------------ events ----
    cdef tw_event *events
    cdef uint64_t ev_n
    cdef uint64_t ev_cap
    cdef readonly uint64_t ev_high
    """When > 0, apply_binaryfile returns early once this many events are pending (drain, call again)."""
    cdef list subscribers
    cdef bint has_subscribers

    # ------------------------------------------------------------ counters ----
    cdef readonly uint64_t messages
    cdef readonly uint64_t live_orders
    cdef readonly uint64_t unknown_refs
    cdef readonly uint64_t duplicate_adds
    cdef readonly uint64_t over_executions
    cdef readonly uint64_t over_cancels
    cdef readonly uint64_t rejected_adds
    cdef readonly uint64_t bad_refs
    cdef readonly uint64_t bad_locates
    cdef readonly uint64_t replace_onto_live
    cdef readonly uint64_t zero_share_mods
    cdef readonly uint64_t locate_mismatches
    cdef readonly uint64_t no_memory
    cdef readonly uint64_t bad_messages
    cdef readonly uint64_t bbo_changes
    cdef readonly uint64_t trades
    cdef readonly uint64_t broken_trades
    cdef readonly uint64_t empty_crosses      # Q with 0 shares: no trade event, last trade unchanged
    cdef readonly uint64_t crossed_events
    cdef readonly uint64_t events_dropped
    cdef readonly uint64_t callback_errors
    cdef readonly uint64_t frames_skipped
    cdef readonly uint64_t file_seq
    cdef uint64_t tcounts[256]              # messages per type byte

    # ------------------------------------------------------------ feed-wide state ----
    cdef readonly uint8_t system_event
    cdef readonly uint64_t system_event_ts
    cdef readonly uint64_t mwcb_level1
    cdef readonly uint64_t mwcb_level2
    cdef readonly uint64_t mwcb_level3
    cdef readonly uint8_t mwcb_breached

    # ------------------------------------------------------------ hot path ----
    # on_message(msg, length, seq) is inherited from MessageSink (the virtual entry used by framers):
    # it applies the message (_apply), pushes events to Python subscribers if any, returns the code.
    cdef int _apply(self, const uint8_t *m, uint64_t seq) noexcept nogil
    """Apply one validated message (switch on the type byte). Returns BOOK_OK or a BOOK_* code."""
    cdef size_t _apply_binaryfile(self, const uint8_t *buf, size_t n, size_t off, uint64_t limit) noexcept nogil
    """Walk binaryFILE frames from ``off`` (at most ``limit`` frames if > 0), prefetching ahead.

    Returns the offset where it stopped: ``n``, a truncated tail, or the next frame (limit reached,
    event high-water mark reached).
    """
    cdef uint32_t *_ref_slot(self, const uint8_t *m) noexcept nogil
    """Index slot of the order an E/C/X/D/U message names, if its page exists, else NULL (no side
    effects: used for prefetching)."""

    # ------------------------------------------------------------ internals ----
    cdef tw_book *_book(self, uint32_t loc) noexcept nogil
    """Book of a locate, NULL if not allocated yet."""
    cdef int _grow_books(self, uint32_t loc) noexcept nogil
    """Grow books/infos to cover ``loc`` (power of two, <= 65536). 0, or -1 when out of memory."""
    cdef uint32_t _lookup(self, uint64_t ref) noexcept nogil
    """Order handle of a live ref, 0 if none (or ref > max_ref)."""
    cdef uint32_t *_slot(self, uint64_t ref) noexcept nogil
    """Index slot of ref, allocating its page (spare first). NULL when out of memory."""
    cdef uint32_t _alloc_order(self) noexcept nogil
    """Order handle from the free list or the pool (grown x2). 0 when out of memory."""
    cdef uint32_t _alloc_level(self) noexcept nogil
    """Level handle from the free list or the pool (grown x2). 0 when out of memory."""
    cdef uint32_t _level_for_add(self, tw_side *sd, uint32_t key, uint32_t price) noexcept nogil
    """Level with this key on a side, inserted empty in sorted position if absent. 0 when out of memory."""
    cdef void _drop_level(self, tw_side *sd, uint32_t key) noexcept nogil
    """Remove an empty level from its side array and free it."""
    cdef uint32_t _insert(self, tw_book *b, uint16_t loc, uint8_t s, uint64_t ref, uint32_t shares,
                          uint32_t price) noexcept nogil
    """Add a new order (ref not live) at the back of its level. Returns the level handle, 0 = no memory."""
    cdef void _remove(self, uint32_t h) noexcept nogil
    """Unlink a live order from its level (dropping an emptied level), the index (releasing an emptied
    page) and its book; the order goes to the free list."""
    cdef uint32_t _reduce(self, uint32_t h, uint32_t q) noexcept nogil
    """Take ``q`` shares off an order, clamped to what remains (removing it at 0). Returns shares taken."""
    cdef void _touch(self, tw_book *b, uint16_t loc, uint8_t s, const uint8_t *m, uint64_t seq) noexcept nogil
    """BBO change detection on one side: count and record a BBO event if best price/size changed."""
    cdef tw_event *_event(self) noexcept nogil
    """Next free event slot (buffer grown x2 up to max_events), NULL (counted) when full."""
    cdef void _fill_bbo(self, tw_book *b, tw_event *ev) noexcept nogil
    """Write the book's current best bid/ask price and size into an event."""
    cdef void _trade(self, uint16_t loc, uint8_t side, uint32_t px, uint64_t qty, uint64_t match,
                     const uint8_t *m, uint64_t seq) noexcept nogil
    """Count a trade, update the locate's last trade, record a trade event."""
    cdef void _set_symbol(self, uint32_t loc, const uint8_t *p) noexcept nogil
    """Name a locate from a Stock field if nothing named it yet (R always does, directly)."""
    cdef bint _crossed(self, tw_book *b) noexcept nogil
    """Best bid >= best ask, both sides non-empty."""
    cdef void _dispatch(self) noexcept nogil
    """Push pending events to the Python subscribers (takes the GIL), then drop them."""
