# cython: language_level=3
"""MoldUDP64 framing and sequencing (see moldudp64.pxd for the packet layout).

Rules (docs/feedhandlers.md):

* A packet is validated whole before anything is delivered: header >= 20 bytes (else MOLD_E_SHORT),
  and the ``count`` length-prefixed messages must fit (else MOLD_E_TRUNCATED: the whole packet is
  dropped and counted, none of its messages delivered, the expectation untouched, so that a later
  retransmission of the same sequence numbers fills it).
* After the last message: nothing, or exactly the 12-byte TWTS trailer (``last_send_ns``); any
  other trailing bytes are counted in ``bad_trailers`` and the packet is still delivered.
* Each message is checked like the binaryFILE framer: known ITCH 5.0 type of spec length goes to
  the sink with sequence number ``seq + i``; unknown type / wrong length is counted and skipped, its
  sequence number still consumed.
* Sequencing: the first packet of a session sets the expectation (unless ``expected_seq`` was
  given). seq > expected: a gap (``gaps``, ``missing_messages``) reported to ``on_gap``; by default
  the framer accepts the loss and moves on. seq < expected: the already delivered messages are
  counted as duplicates and only the new tail is delivered (a packet wholly seen before is dropped).
  A heartbeat (count 0) or end of session (0xFFFF) carries the next expected sequence number and
  detects gaps the same way. A new session id is counted and resets the expectation.
* Sequence number 0 is not a valid MoldUDP64 sequence number (they start at 1): such packets
  (re-wrapped captures, ad-hoc senders) are delivered without sequencing (``unsequenced_packets``,
  messages get seq 0).
"""
from cpython.exc cimport PyErr_CheckSignals
from libc.string cimport memcmp, memcpy, memset

from core.compiler cimport tw_unlikely, tw_likely, tw_prefetch
from core.endian cimport tw_be16, tw_be64
from feedhandlers.itch_wire cimport TW_ITCH_LEN
from core.codes cimport *
from feedhandlers.sink cimport MessageSink
from datapath.batch cimport Frame, PacketSource, BURST_SIZE, SRC_E_END


__all__ = ["MoldFramer", "split_packets", "build_packet", "GAP_SKIP", "GAP_HOLD"]

GAP_SKIP = MOLD_GAP_SKIP
GAP_HOLD = MOLD_GAP_HOLD

cdef enum:
    RUN_MORE = 0
    RUN_LIMIT = 1


cdef class MoldFramer:
    """MoldUDP64 packets -> validated ITCH messages with their sequence numbers -> ``sink``.

    Parameters
    ----------
    sink : MessageSink (default: the null sink).
    expected_seq : int
        Next sequence number expected; 0 (default) adopts the first packet's.
    gap_action : int
        What the default ``on_gap`` answers: GAP_SKIP (accept the loss) or GAP_HOLD (drop packets past
        a gap until the missing ones arrive, e.g. a replay fed by hand).
    """

    def __init__(self, MessageSink sink=None, *, uint64_t expected_seq=0, int gap_action=MOLD_GAP_SKIP):
        self.sink = sink if sink is not None else MessageSink()
        self.expected_seq = expected_seq
        self.gap_action = gap_action
        memset(self.counts, 0, sizeof(self.counts))
        memset(self.unknown_counts, 0, sizeof(self.unknown_counts))

    # ----------------------------------------------------------- hooks ----
    cdef int on_gap(self, uint64_t expected, uint64_t got) noexcept nogil:
        return self.gap_action

    cdef void on_session_change(self, const uint8_t *old_session, const uint8_t *new_session) noexcept nogil:
        pass

    cdef void on_end_of_session(self, uint64_t seq) noexcept nogil:
        pass

    # ----------------------------------------------------------- hot path ----
    cdef int deliver(self, const uint8_t *pkt, uint32_t n, uint64_t seq, uint32_t count, uint32_t skip) noexcept nogil:
        # The packet passed mold_walk in on_packet: every block is whole, no bounds checks here.
        cdef uint32_t off = MOLD_HEADER_LEN, i, L
        cdef const uint8_t *m
        cdef uint8_t t
        cdef int delivered = 0
        for i in range(count):
            L = tw_be16(pkt + off)
            m = pkt + off + 2
            off += 2 + L
            if i < skip:
                continue
            t = m[0] if L else 0
            if tw_likely(L != 0 and TW_ITCH_LEN[t] == L):
                self.counts[t] += 1
                delivered += 1
                if tw_unlikely(self.sink.on_message(m, L, seq + i if seq else 0) < 0):
                    self.sink_errors += 1
            elif L != 0 and TW_ITCH_LEN[t] == 0:
                self.unknown_types += 1
                self.unknown_counts[t] += 1
            else:
                self.malformed += 1
        self.messages += delivered
        return delivered

    cdef int on_packet(self, const uint8_t *pkt, uint32_t n, uint64_t rx_ns) noexcept nogil:
        cdef uint64_t seq, exp
        cdef uint32_t count, off, rest, skip = 0
        cdef MoldWalk w
        cdef int rc
        self.packets += 1
        self.bytes += n
        self.last_send_ns = 0
        rc = mold_walk(pkt, n, &w)                          # the whole packet must be there
        if tw_unlikely(rc == MOLD_E_SHORT):
            self.short_packets += 1
            return MOLD_E_SHORT
        if tw_unlikely(rc == MOLD_E_TRUNCATED):
            self.truncated_packets += 1
            return MOLD_E_TRUNCATED
        seq = w.seq
        count = w.count
        off = w.end
        rest = n - off
        if rest != 0:
            if rest == MOLD_TRAILER_LEN and memcmp(pkt + off, b"TWTS", 4) == 0:
                self.last_send_ns = tw_be64(pkt + off + 4)
            else:
                self.bad_trailers += 1
        if tw_unlikely(not self.have_session):
            memcpy(self.session, pkt, 10)
            self.have_session = True
        elif tw_unlikely(memcmp(self.session, pkt, 10) != 0):
            self.session_changes += 1
            self.on_session_change(self.session, pkt)
            memcpy(self.session, pkt, 10)
            self.expected_seq = 0
            self.session_ended = False
        self.last_seq = seq
        self.sink.rx_ns = rx_ns
        if tw_unlikely(seq == 0):                           # not sequenced (seq numbers start at 1)
            self.unsequenced_packets += 1
            if count == MOLD_HEARTBEAT:
                self.heartbeats += 1
            elif count == MOLD_END_OF_SESSION:
                self.end_of_session += 1
                self.session_ended = True
                self.on_end_of_session(0)
            else:
                self.data_packets += 1
                return self.deliver(pkt, n, 0, count, 0)
            return 0
        exp = self.expected_seq
        if exp == 0:
            exp = seq
        if tw_unlikely(seq > exp):
            self.gaps += 1
            self.missing_messages += seq - exp
            if self.on_gap(exp, seq) == MOLD_GAP_HOLD:
                self.held_packets += 1
                self.expected_seq = exp
                return MOLD_E_HELD
            exp = seq
        if count == MOLD_HEARTBEAT or count == MOLD_END_OF_SESSION:
            self.expected_seq = exp
            if count == MOLD_HEARTBEAT:
                self.heartbeats += 1
            else:
                self.end_of_session += 1
                self.session_ended = True
                self.on_end_of_session(seq)
            return 0
        if tw_unlikely(seq < exp):
            if seq + count <= exp:
                self.duplicate_packets += 1
                self.duplicate_messages += count
                self.expected_seq = exp
                return MOLD_E_DUPLICATE
            skip = <uint32_t>(exp - seq)
            self.duplicate_messages += skip
        self.expected_seq = seq + count
        self.data_packets += 1
        return self.deliver(pkt, n, seq, count, skip)

    cdef int run_bursts(self, PacketSource src, uint64_t max_packets, uint32_t max_bursts,
                        uint64_t *done) noexcept nogil:
        """Up to ``max_bursts`` bursts from ``src``: RUN_MORE, RUN_LIMIT, or the source's code (< 0)."""
        cdef Frame frames[BURST_SIZE]
        cdef int k, i, want
        cdef uint32_t b
        for b in range(max_bursts):
            if self.stop_requested:
                return RUN_LIMIT
            want = BURST_SIZE
            if max_packets and max_packets - done[0] < <uint64_t>want:
                want = <int>(max_packets - done[0])
            k = src.rx_burst(frames, want)
            if k < 0:
                return k
            for i in range(k):
                if i + 1 < k:
                    tw_prefetch(frames[i + 1].data)
                self.on_packet(frames[i].data, frames[i].length, frames[i].rx_ns)
            src.rx_release()
            done[0] += <uint64_t>k
            if max_packets and done[0] >= max_packets:
                return RUN_LIMIT
        return RUN_MORE

    # ------------------------------------------------------------- Python ----
    def run_source(self, PacketSource source not None, uint64_t max_packets=0, callback=None,
                   uint32_t bursts_per_call=1024):
        """Drive ``source`` bursts through the framer (nogil) until it ends or ``max_packets``.

        ``callback()`` (optional) runs every ``bursts_per_call`` bursts, with the GIL (progress bars);
        pending signals (Ctrl-C) are checked at the same points. Returns the packets framed by this call.
        Raises the source's error (``source.raise_error()`` when it has one) on a source failure.
        """
        cdef uint64_t done = 0
        cdef int rc
        self.stop_requested = False
        while True:
            with nogil:
                rc = self.run_bursts(source, max_packets, bursts_per_call, &done)
            if callback is not None:
                callback()
            if rc == RUN_LIMIT or rc == SRC_E_END:
                break
            if rc < 0:
                if hasattr(source, "raise_error"):
                    source.raise_error()
                raise RuntimeError(f"packet source failed with code {rc} after {done} packets")
            PyErr_CheckSignals()                            # raises KeyboardInterrupt on Ctrl-C
        return done

    def stop(self):
        """Make a running ``run_source`` return after its current burst."""
        self.stop_requested = True

    def feed_packet(self, packet, uint64_t rx_ns=0) -> int:
        """Frame one packet (bytes-like); returns ``on_packet``'s result (messages delivered or MOLD_E_*)."""
        cdef const uint8_t[::1] mv = packet
        cdef uint32_t n = mv.shape[0]
        cdef const uint8_t *p = &mv[0] if n else <const uint8_t *>b""
        cdef int rc
        with nogil:
            rc = self.on_packet(p, n, rx_ns)
        return rc

    def feed_stream(self, buffer, uint64_t rx_ns=0) -> list:
        """Frame back-to-back MoldUDP64 packets (no UDP framing, e.g. a dump); returns each result.

        A cut last packet is framed as it is (so it is reported as MOLD_E_TRUNCATED).
        """
        mv = memoryview(buffer).cast("B")
        return [self.feed_packet(mv[o:o + n], rx_ns) for o, n in split_packets(mv)]

    @property
    def session(self) -> bytes:
        """Current session id (10 bytes; b"" before the first packet)."""
        return bytes(self.session[:10]) if self.have_session else b""

    def counts_by_type(self) -> dict:
        return {chr(i): self.counts[i] for i in range(256) if self.counts[i]}

    def unknown_by_type(self) -> dict:
        return {i: self.unknown_counts[i] for i in range(256) if self.unknown_counts[i]}

    def stats(self) -> dict:
        return {
            "packets": self.packets, "bytes": self.bytes, "data_packets": self.data_packets,
            "heartbeats": self.heartbeats, "end_of_session": self.end_of_session,
            "messages": self.messages, "by_type": self.counts_by_type(),
            "unknown_types": self.unknown_types, "unknown_by_type": self.unknown_by_type(),
            "malformed": self.malformed, "gaps": self.gaps, "missing_messages": self.missing_messages,
            "duplicate_packets": self.duplicate_packets, "duplicates": self.duplicate_messages,
            "session_changes": self.session_changes, "short_packets": self.short_packets,
            "truncated_packets": self.truncated_packets, "bad_trailers": self.bad_trailers,
            "held_packets": self.held_packets, "unsequenced_packets": self.unsequenced_packets,
            "sink_errors": self.sink_errors, "expected_seq": self.expected_seq,
        }


def split_packets(buffer) -> list:
    """(offset, length) of each MoldUDP64 packet in a buffer of back-to-back packets.

    The last entry runs to the end of the buffer when a packet is cut (header or messages).
    """
    cdef const uint8_t[::1] mv = memoryview(buffer).cast("B")
    cdef size_t n = mv.shape[0], off = 0, rem
    cdef MoldWalk w
    out = []
    while off < n:
        rem = n - off
        if rem > 0xFFFFFFFF:
            rem = 0xFFFFFFFF                                # a packet is far shorter; the walk stops in time
        if mold_walk(&mv[off], <uint32_t>rem, &w) != 0:
            out.append((off, n - off))
            break
        out.append((off, w.end))
        off += w.end
    return out


def build_packet(session: bytes, uint64_t seq, messages=(), count=None, trailer_ns=None) -> bytes:
    """A MoldUDP64 packet (tests and senders): ``count`` defaults to len(messages);
    ``trailer_ns`` appends the TWTS trailer."""
    import struct
    if count is None:
        count = len(messages)
    parts = [session.ljust(10, b" ")[:10], struct.pack(">QH", seq, count)]
    for m in messages:
        parts.append(struct.pack(">H", len(m)))
        parts.append(bytes(m))
    if trailer_ns is not None:
        parts.append(b"TWTS" + struct.pack(">Q", trailer_ns))
    return b"".join(parts)
