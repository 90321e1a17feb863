# cython: language_level=3
"""MoldUDP64 1.00 downstream framing and sequencing into a MessageSink.

Packet: Session Alpha(10) @0, Sequence Number u64 @10 (of the first message), Message Count u16 @18,
then Count x [u16 length][message]; Count 0 = heartbeat, 0xFFFF = end of session. An optional
12-byte trailer ``b"TWTS"`` + u64 BE send time (ns) may follow the last message (tickwire's latency
tests). MoldFramer is the single-line framer (pcap replay, benchmarks): gaps are counted and skipped.
The live session layer (feedhandlers/mold_session.pyx ``MoldSession``: A/B lines, re-requests,
buffering) frames packets itself; a subclass may override the hooks below (on_gap,
on_session_change, on_end_of_session) for simpler policies.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from datapath.batch cimport Frame, PacketSource
from datapath.mold_walk cimport (MOLD_HEADER_LEN, MOLD_HEARTBEAT, MOLD_END_OF_SESSION, MOLD_TRAILER_LEN,
                                 MoldWalk, mold_walk)
from feedhandlers.sink cimport MessageSink

# ------------------------------------------------------------- constants ----
cdef enum:
    MOLD_GAP_SKIP = 0             # on_gap result: accept the loss, deliver this packet, move on
    MOLD_GAP_HOLD = 1             # on_gap result: drop this packet now (the session layer recovers it)


cdef class MoldFramer:
    # ------------------------------------------------------------ wiring ----
    cdef MessageSink sink

    # ------------------------------------------------------------ sequencing state ----
    cdef uint8_t session[10]
    cdef readonly bint have_session       # a session has been seen
    cdef readonly uint64_t expected_seq   # next sequence number to deliver (0 = adopt the next packet's)
    cdef readonly bint session_ended      # end-of-session seen for the current session
    cdef readonly uint64_t last_send_ns   # TWTS trailer of the last packet (0 when absent)
    cdef readonly uint64_t last_seq       # sequence number of the last packet framed
    cdef bint stop_requested
    cdef public int gap_action            # what the default on_gap returns: MOLD_GAP_SKIP (0) or MOLD_GAP_HOLD (1)

    # ------------------------------------------------------------ counters ----
    cdef uint64_t counts[256]             # valid messages delivered, per type byte
    cdef uint64_t unknown_counts[256]     # messages of a non-ITCH-5.0 type byte, per type byte
    cdef readonly uint64_t packets        # packets framed (any kind, including dropped ones)
    cdef readonly uint64_t bytes          # payload bytes of those packets
    cdef readonly uint64_t data_packets   # packets with messages that were delivered (whole or part)
    cdef readonly uint64_t heartbeats
    cdef readonly uint64_t end_of_session
    cdef readonly uint64_t messages       # valid messages delivered to the sink
    cdef readonly uint64_t unknown_types  # messages skipped: type byte not ITCH 5.0 (seq consumed)
    cdef readonly uint64_t malformed      # messages skipped: known type, wrong length (seq consumed)
    cdef readonly uint64_t gaps           # times a packet's sequence number was beyond the expected one
    cdef readonly uint64_t missing_messages   # messages skipped over by those gaps
    cdef readonly uint64_t duplicate_packets  # packets entirely already delivered (dropped)
    cdef readonly uint64_t duplicate_messages # messages already delivered (whole or partial overlap)
    cdef readonly uint64_t session_changes
    cdef readonly uint64_t short_packets      # shorter than the 20-byte header (dropped)
    cdef readonly uint64_t truncated_packets  # count says more than the payload holds (dropped whole)
    cdef readonly uint64_t bad_trailers       # trailing bytes after the last message that are not TWTS
    cdef readonly uint64_t held_packets       # packets on_gap asked to hold
    cdef readonly uint64_t unsequenced_packets  # sequence number 0: delivered, sequencing untouched
    cdef readonly uint64_t sink_errors

    # ------------------------------------------------------------ calls ----
    cdef int on_packet(self, const uint8_t *pkt, uint32_t n, uint64_t rx_ns) noexcept nogil
    """Frame one MoldUDP64 packet; return messages delivered (>= 0) or a negative MOLD_E_* code (dropped)."""
    cdef int deliver(self, const uint8_t *pkt, uint32_t n, uint64_t seq, uint32_t count, uint32_t skip) noexcept nogil
    """Deliver messages ``skip``..``count``-1 of a validated packet (message i has sequence ``seq + i``)."""
    cdef int run_bursts(self, PacketSource src, uint64_t max_packets, uint32_t max_bursts, uint64_t *done) noexcept nogil
    """Up to ``max_bursts`` bursts of ``src`` through on_packet: 0 more, 1 limit/stop, < 0 the source's code."""

    # ------------------------------------------------------------ hooks (session layer) ----
    cdef int on_gap(self, uint64_t expected, uint64_t got) noexcept nogil
    """A packet starts at ``got`` > ``expected``. Default: ``gap_action`` (MOLD_GAP_SKIP: deliver, move on).
    Return MOLD_GAP_HOLD to have the packet dropped without advancing (the subclass recovers)."""
    cdef void on_session_change(self, const uint8_t *old_session, const uint8_t *new_session) noexcept nogil
    """A packet carries another session: called after counting, before the expectation resets."""
    cdef void on_end_of_session(self, uint64_t seq) noexcept nogil
    """End-of-session packet (count 0xFFFF) with next sequence number ``seq``."""
