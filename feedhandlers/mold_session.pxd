# cython: language_level=3
"""MoldUDP64 session layer over live packet sources: sequencing, gap recovery, A/B arbitration.

One ``MoldSession`` follows one MoldUDP64 session (10-byte name, sequence numbers from 1) fed by
one or two lines carrying the same packets (A/B) plus the unicast answers of the re-request server.
In-order packets go straight to the ``MessageSink`` (no Python object, no copy). Packets beyond a
gap are copied message by message into a preallocated ring indexed by sequence number
(``seq & ring_mask``) and applied in order once the gap fills. The first copy of a sequence number
wins, whichever line carried it; later copies are counted as duplicates of their line.

Gap recovery (``poll``, the only Python-level path): a hole not filled by either line within the
arbitration window is requested from the re-request server (20-byte request packet, at most
``max_request`` messages each, several holes in flight), retried with exponential backoff on
timeout, and given up after ``max_attempts``: the range is then recorded as unrecoverable, skipped
and counted. Time and I/O come from a ``MoldContext`` (clock + request sender) so tests drive the
whole state machine deterministically.

Layouts: ../shared/specs/itch50_moldudp64_soupbintcp_layout.md ("MoldUDP64 1.00").
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t

from feedhandlers.sink cimport MessageSink
from datapath.batch cimport Frame, PacketSource

# ------------------------------------------------------------- constants ----
cdef enum:
    MOLD_HEADER_LEN = 20         # Session(10) Sequence(8) Count(2)
    MOLD_SESSION_LEN = 10
    MOLD_REQUEST_LEN = 20        # Session(10) Sequence(8) Requested Count(2)
    MOLD_HEARTBEAT = 0           # count 0: heartbeat, seq = next sequence number the server will send
    MOLD_END_OF_SESSION = 0xFFFF # count 0xFFFF: end of session, seq = one past the last message
    TWTS_TRAILER_LEN = 12        # b"TWTS" + u64 BE send time (ns since the epoch) after the last message
    SLOT_DATA = 56               # bytes of message a ring slot holds (largest ITCH 5.0 message: 50)
    MAX_GAP_REQUESTS = 64        # request-table entries (holes in flight)

# Lines (index of the per-line counters).
cdef enum:
    LINE_A = 0
    LINE_B = 1
    LINE_RETRANS = 2             # unicast answers of the re-request server
    NLINES = 3

# Ring slot length markers.
cdef enum:
    SLOT_INVALID = 0             # message failed validation: consumes its sequence number, not applied
    SLOT_LOST = 0xFFFF           # given up (unrecoverable): skipped and counted when reached

# Request-table entry states.
cdef enum:
    REQ_FREE = 0
    REQ_PENDING = 1              # hole seen, waiting out the arbitration window (the other line may fill it)
    REQ_SENT = 2                 # request sent, waiting for the answer until the deadline

# ----------------------------------------------------------- result codes ----
# ``on_packet`` returns >= 0 (messages applied now, including any drained from the ring) or a MOLD_E_*
# code of core/codes.pxd: SHORT, TRUNCATED (messages before the bad block kept), WRONG_SESSION,
# DUPLICATE, IMPLAUSIBLE_SEQ, SUSPECT_SESSION, IMPOSSIBLE_COUNT (dropped, state untouched); ``poll`` also
# UNRECOVERABLE and REQUEST_IO.
from core.codes cimport (MOLD_E_SHORT, MOLD_E_TRUNCATED, MOLD_E_WRONG_SESSION, MOLD_E_DUPLICATE, MOLD_E_OVERFLOW,
                         MOLD_E_UNRECOVERABLE, MOLD_E_REQUEST_IO, MOLD_E_IMPLAUSIBLE_SEQ, MOLD_E_SUSPECT_SESSION,
                         MOLD_E_IMPOSSIBLE_COUNT)

# ------------------------------------------------------------------ slots ----
cdef struct MoldSlot:
    uint64_t seq                 # sequence number held, 0 = empty
    uint64_t send_ns             # TWTS stamp when this is its packet's last message, else 0
    uint64_t rx_ns               # receive time of the packet that carried it
    uint16_t length              # message bytes, SLOT_INVALID or SLOT_LOST
    uint8_t line                 # line whose copy won
    uint8_t data[SLOT_DATA]

cdef struct GapRequest:
    uint64_t lo                  # range this entry recovers: [lo, hi)
    uint64_t hi
    uint64_t req_lo              # first sequence number of the last request sent
    uint64_t first_seen_ns       # when the hole was first seen (arbitration window start)
    uint64_t deadline_ns         # when the last request times out
    uint32_t attempts            # requests sent for it
    uint8_t state                # REQ_*


cdef class MoldSession:
    # ------------------------------------------------------------ config ----
    cdef readonly MessageSink sink        # never None (a no-op MessageSink by default)
    cdef public object context           # MoldContext: clock_ns(), send_request(bytes)
    cdef readonly bint pinned            # follow only the configured session name
    cdef readonly uint64_t start_seq     # first expected seq (1 = from the start); 0 = join at the first seen
    cdef public uint32_t max_request     # messages per request packet
    cdef public uint64_t window_ns       # A/B arbitration window before a hole is requested
    cdef public uint64_t timeout_ns      # first request timeout (doubles per retry)
    cdef public uint64_t max_timeout_ns  # backoff cap
    cdef public uint32_t max_attempts    # requests per hole before it is given up
    cdef public uint64_t scan_ns         # min time between two hole scans while a gap is open
    cdef public uint64_t max_jump        # largest believable jump past high_seq (a corrupt seq must not open a 2^60 gap)
    cdef public uint32_t session_confirm # chained packets of a new name (none of the old between) before a
                                         # mid-stream session change is followed (after End of Session: at once)
    cdef readonly uint64_t ring_size     # slots (power of two)
    cdef uint64_t ring_mask

    # ------------------------------------------------------------- state ----
    cdef uint8_t session[MOLD_SESSION_LEN]
    cdef uint8_t prev_session[MOLD_SESSION_LEN]
    cdef readonly bint has_session
    cdef bint fresh                      # joined, no packet accepted yet (a late join may re-anchor)
    cdef bint has_prev_session
    cdef readonly uint64_t next_seq      # next sequence number to apply
    cdef readonly uint64_t high_seq      # one past the highest sequence number known to exist
    cdef readonly uint64_t end_seq       # from End of Session (valid when eos_seen)
    cdef readonly bint eos_seen
    cdef readonly uint64_t buffered      # slots in use
    cdef MoldSlot *ring
    cdef GapRequest reqs[MAX_GAP_REQUESTS]
    cdef uint64_t next_scan_ns
    cdef public list unrecoverable_ranges  # [(lo, hi), ...] given up, in order
    cdef uint64_t *early                   # ranges given up early on the nogil path (ring full): lo, hi pairs
    cdef uint64_t early_n                  # pairs waiting to be moved to unrecoverable_ranges by poll()
    cdef uint64_t early_cap
    cdef readonly uint64_t not_exact_since # first sequence number given up (0: every message applied)
    cdef uint64_t join_candidate           # fresh: seq of a far-ahead packet awaiting a consistent second one
    cdef uint8_t cand_session[MOLD_SESSION_LEN]  # unconfirmed new session name seen mid-stream
    cdef uint64_t cand_next                # seq the candidate's next packet must carry to chain
    cdef uint32_t cand_count               # chained candidate packets so far (0: no candidate)
    cdef public object on_gap_event        # optional callable(kind: str, lo, hi) for logs (request path only)

    # ----------------------------------------------------------- latency ----
    cdef uint64_t *lat                   # wire-to-book samples (ns), drained by Python
    cdef readonly uint64_t lat_cap
    cdef readonly uint64_t lat_n
    cdef readonly uint64_t lat_dropped

    # ---------------------------------------------------------- counters ----
    cdef readonly uint64_t packets[NLINES]
    cdef readonly uint64_t dup_packets[NLINES]
    cdef readonly uint64_t dup_messages[NLINES]
    cdef readonly uint64_t wins[NLINES]          # messages whose first copy came from the line
    cdef readonly uint64_t messages              # messages applied to the sink
    cdef uint64_t type_counts[256]               # messages applied, per type byte
    cdef readonly uint64_t bad_messages          # unknown type / length != spec length (seq consumed)
    cdef readonly uint64_t bad_packets           # MOLD_E_SHORT / MOLD_E_TRUNCATED
    cdef readonly uint64_t wrong_session
    cdef readonly uint64_t session_changes
    cdef readonly uint64_t heartbeats
    cdef readonly uint64_t gaps                  # holes opened in the arbitrated stream
    cdef readonly uint64_t gap_messages          # messages in those holes
    cdef readonly uint64_t requests_sent
    cdef readonly uint64_t request_errors
    cdef readonly uint64_t retries
    cdef readonly uint64_t unrecoverable         # messages given up
    cdef readonly uint64_t overflow              # messages of gaps given up early because the ring was full
    cdef readonly uint64_t sink_errors           # on_message returned < 0
    cdef readonly uint64_t trailing_bytes        # packets with bytes after the last message (not TWTS)
    cdef readonly uint64_t implausible_seq       # packets dropped with MOLD_E_IMPLAUSIBLE_SEQ
    cdef readonly uint64_t suspect_session       # packets dropped with MOLD_E_SUSPECT_SESSION
    cdef readonly uint64_t impossible_count      # packets dropped with MOLD_E_IMPOSSIBLE_COUNT
    cdef readonly uint64_t late_join_skipped     # messages before a late join too far back to recover
    cdef readonly uint64_t buffered_peak
    cdef readonly uint64_t invariant_violations  # TW_DEBUG builds only: ring slot collisions, bad counts

    # ------------------------------------------------------------- calls ----
    cdef int on_packet(self, const uint8_t *pkt, uint32_t n, uint64_t rx_ns, int line) noexcept nogil
    """Feed one MoldUDP64 packet from ``line``; returns messages applied (>= 0) or a MOLD_E_* code."""
    cdef int on_burst(self, Frame *frames, int n, int line) noexcept nogil
    """Feed a burst of frames from one line; returns messages applied."""
    cdef int _apply_run(self, const uint8_t *p, const uint8_t *end, uint64_t seq, uint32_t count,
                        uint64_t rx_ns, int line) noexcept nogil
    cdef int _buffer_run(self, const uint8_t *p, const uint8_t *end, uint64_t seq, uint32_t count,
                         uint64_t rx_ns, int line) noexcept nogil
    cdef int _drain(self) noexcept nogil
    cdef inline void _deliver(self, const uint8_t *msg, uint32_t length, uint64_t seq, uint64_t rx_ns) noexcept nogil
    cdef inline void _latency(self, uint64_t send_ns) noexcept nogil
    cdef void _reset_sequence(self, uint64_t first) noexcept nogil
    cdef void _change_session(self, const uint8_t *name, uint64_t seq) noexcept nogil
    cdef bint _confirm_session(self, const uint8_t *name, uint64_t seq, uint32_t count) noexcept nogil
    cdef inline bint _count_possible(self, const uint8_t *pkt, uint32_t n, uint64_t seq, uint32_t count) noexcept nogil
    cdef int _request(self, uint64_t lo, uint64_t count)
    cdef int _scan(self, uint64_t *los, uint64_t *his, int cap) noexcept nogil
    cdef void _give_up(self, uint64_t lo, uint64_t hi) noexcept nogil
    cdef int _make_room(self, uint64_t s) noexcept nogil
    cdef void _note_lost(self, uint64_t lo) noexcept nogil


