# cython: language_level=3
"""Deterministic synthetic NASDAQ TotalView-ITCH 5.0 day: generator state (contract).

`DayGen` writes one day, message by message, into caller buffers (``fill``), framed as NASDAQ
binaryFILE or as a nanosecond pcap of MoldUDP64 packets. All randomness comes from one
xoshiro256** stream seeded (splitmix64) from the user's seed, so the same arguments give
byte-identical output whatever the buffer size. The order-book state it keeps (per-symbol FIFO
price levels on a dense tick grid, occupancy bitmaps, live-order lists) is what lets it promise
that every reference is live and that no book ever crosses. Design: docs/generate.md.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

# ---------------------------------------------------------- constants ----
cdef enum:
    GRID_W = 2048          # ticks (cents) of price grid per symbol
    GRID_WORDS = 32        # GRID_W / 64 occupancy words per side
    GRID_MARGIN = 96       # fair value stays this many ticks inside the grid
    N_BINS = 960           # one-minute timestamp bins from 04:00 to 20:00
    R_LEN = 39
    H_LEN = 25
    Y_LEN = 20
    MAX_RECORD = 2048      # room `fill` keeps for one step (a flushed pcap packet + a message)

# Result codes: GEN_OK, or a GEN_E_* code of core/codes.pxd (`ERRORS` in daygen.pyx maps code -> (NAME, message)).
from core.codes cimport GEN_E_NOMEM, GEN_E_INVARIANT

cdef enum:
    GEN_OK = 0


cdef class DayGen:
    # ----------------------------------------------------- configuration ----
    cdef readonly int nsym
    """Number of symbols (stock locates 1..nsym)."""
    cdef readonly int64_t n_total
    """Messages the day holds, exactly (header + body + scheduled + trailer)."""
    cdef readonly int64_t n_body
    """Order-flow messages between 04:00 and 20:00 (A F D U E C X P)."""
    cdef readonly bint pcap
    """True: frame as pcap/MoldUDP64; False: binaryFILE."""
    cdef readonly uint64_t seed
    cdef readonly int err
    """0, or a negative result code when generation stopped."""

    # --------------------------------------------------------------- PRNG ----
    cdef uint64_t rs[4]

    # ------------------------------------------------------------ symbols ----
    cdef uint8_t *dir_msgs         # nsym * (R_LEN + H_LEN + Y_LEN): prebuilt R, H, Y (timestamp filled on emit)
    cdef uint8_t *has_y            # nsym: 1 when a Reg SHO 'Y' follows the symbol's 'H'
    cdef uint8_t *ticker           # nsym * 8, space padded
    cdef int32_t *lo               # cents of grid index 0
    cdef int32_t *fair             # grid index of the drifting fair value
    cdef int32_t *best             # nsym * 2: best bid / best ask grid index, -1 when the side is empty
    cdef uint64_t *bits            # nsym * 2 * GRID_WORDS: non-empty price levels
    cdef int32_t *head             # nsym * 2 * GRID_W: first order slot + 1 of each level's FIFO (0 = empty);
                                   # the FIFO is circular through o_prev/o_next, so its tail is o_prev[first]
    cdef int32_t **live            # per symbol: slots of its live orders (O(1) random pick / removal)
    cdef int32_t *live_n
    cdef int32_t *live_cap
    cdef uint16_t *trk             # tracking number per symbol
    cdef uint32_t *drift_p16       # per message, chance /65536 that the fair value steps one tick
    cdef uint32_t *dscale          # 16.16 scale of distances from the touch (wider on high prices)
    cdef int32_t *farmax           # widest distance of a far-from-touch order (ticks)
    cdef int32_t *floor            # live orders below which removals on the symbol become adds
    cdef uint32_t *xlots           # cross and NOII sizes in round lots (scaled by activity)
    cdef uint32_t *sizemul         # round-lot size multiplier (low-priced names trade bigger)
    cdef uint64_t *zcum            # nsym: cumulative Zipf thresholds over ranks, last = 2**32
    cdef int32_t *rank2sym

    # ------------------------------------------------------------- orders ----
    cdef int32_t ocap
    cdef int32_t onext
    cdef int32_t nfree
    cdef int32_t *freel
    cdef uint64_t *o_ref
    cdef uint32_t *o_sh
    cdef int32_t *o_px             # grid index
    cdef int32_t *o_sym
    cdef uint8_t *o_side           # 0 bid, 1 ask
    cdef int32_t *o_prev
    cdef int32_t *o_next
    cdef int32_t *o_pos            # index in live[o_sym]
    cdef readonly int64_t live_orders
    cdef readonly int64_t max_live_orders

    # ------------------------------------------------------------- tables ----
    cdef uint16_t dist_urn[1024]
    cdef uint32_t size_urn[4096]
    cdef uint8_t mpid_urn[256]
    cdef uint8_t mpids[32 * 4]
    cdef uint16_t trk_urn[64]

    # ----------------------------------------------------------- schedule ----
    cdef int64_t bin_n[N_BINS]
    cdef int32_t bin_i
    cdef int64_t bin_k
    cdef uint64_t *sched_ts
    cdef uint8_t *sched_kind       # 0 system event, 1 NOII, 2 cross trade
    cdef int32_t *sched_arg        # event code or symbol index
    cdef uint8_t *sched_x          # cross type 'O' / 'C'
    cdef int64_t n_sched
    cdef int64_t sched_i

    # -------------------------------------------------------------- clock ----
    cdef int phase
    cdef int64_t phase_i
    cdef int phase_sub
    cdef uint64_t last_ts
    cdef uint64_t next_t
    cdef bint have_t
    cdef bint follow
    cdef int last_sym
    cdef int sweep_left
    cdef int sweep_sym
    cdef int sweep_side
    cdef int64_t body_i
    cdef uint64_t ref_next
    cdef uint64_t match_next
    cdef readonly int64_t emitted
    cdef int64_t tcount[256]         # messages written by type byte

    # -------------------------------------------------------------- output ----
    cdef uint8_t *out
    cdef int64_t out_cap
    cdef int64_t out_pos
    cdef uint8_t msg[64]

    # --------------------------------------------------------------- pcap ----
    cdef uint8_t tmpl[42]          # Ethernet + IPv4 + UDP header template (lab.pcapwrite)
    cdef uint8_t session[10]
    cdef uint8_t pkt[1536]         # MoldUDP64 payload being filled
    cdef int32_t pkt_len
    cdef int32_t pkt_count
    cdef uint64_t pkt_first_ts
    cdef uint64_t pkt_last_ts
    cdef uint64_t seq_next
    cdef uint16_t ip_id
    cdef uint64_t window_ns
    cdef uint64_t epoch_ns
    cdef uint32_t src_sum          # one's-complement sum of the pseudo-header addresses + protocol
    cdef readonly int64_t packets

    # -------------------------------------------------------------- steps ----
    cdef uint64_t _next(self) noexcept nogil
    cdef uint32_t _below(self, uint32_t n) noexcept nogil
    cdef bint _chance(self, uint32_t p16) noexcept nogil
    cdef int _zipf(self) noexcept nogil
    cdef int32_t _scan(self, int s, int side, int32_t frm) noexcept nogil
    cdef int32_t _add(self, int s, int side, int32_t idx, uint32_t sh) noexcept nogil
    cdef void _remove(self, int32_t slot) noexcept nogil
    cdef int32_t _pick(self, int s) noexcept nogil
    cdef uint32_t _size(self, int s) noexcept nogil
    cdef int32_t _dist(self, int s) noexcept nogil
    cdef int32_t _add_price(self, int s, int side) noexcept nogil
    cdef int32_t _mid_index(self, int s) noexcept nogil
    cdef void _header(self, uint8_t t, int s, uint64_t ts) noexcept nogil
    cdef void _emit(self, int length, uint64_t ts) noexcept nogil
    cdef void _flush_packet(self) noexcept nogil
    cdef void _emit_eos(self) noexcept nogil
    cdef void _sys(self, uint8_t code, uint64_t ts) noexcept nogil
    cdef void _do_add(self, int s, uint64_t ts) noexcept nogil
    cdef bint _do_exec(self, int s, bint with_price, uint64_t ts) noexcept nogil
    cdef bint _do_delete(self, int s, uint64_t ts) noexcept nogil
    cdef bint _do_cancel(self, int s, uint64_t ts) noexcept nogil
    cdef bint _do_replace(self, int s, uint64_t ts) noexcept nogil
    cdef void _do_trade(self, int s, uint64_t ts) noexcept nogil
    cdef void _do_sched(self, uint64_t ts) noexcept nogil
    cdef void _body_step(self) noexcept nogil
    cdef void _step(self) noexcept nogil
