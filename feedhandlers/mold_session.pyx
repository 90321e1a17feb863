# cython: language_level=3
"""MoldUDP64 session layer (contract and design: mold_session.pxd)."""
cimport cython
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memcpy, memcmp, memset
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE

from core.compiler cimport tw_likely, tw_unlikely, tw_prefetch, TW_DEBUG
from core.endian cimport tw_be16, tw_be64
from feedhandlers.itch_wire cimport TW_ITCH_LEN
from feedhandlers.sink cimport MessageSink
from datapath.batch cimport Frame, PacketSource, BURST_SIZE
from core.linux cimport pollfd, poll, POLLIN, now_realtime_ns

import time

import numpy as np

from core import codes as _codes


# run_slice return codes (>= 0; a negative value is a source's SRC_E_* code).
cdef enum:
    C_RUN_SLICE = 0       # the time slice elapsed
    C_RUN_ENDED = 1       # End of Session reached and everything up to it applied
    C_RUN_POLL = 2        # a gap is open and its scan is due: call poll()
    C_RUN_LATENCY = 3     # latency buffer half full: drain it

RUN_SLICE = C_RUN_SLICE
RUN_ENDED = C_RUN_ENDED
RUN_POLL = C_RUN_POLL
RUN_LATENCY = C_RUN_LATENCY


# MOLD_E_* code -> (NAME, message), for the Python layers (values and messages: core/codes.pxd).
MOLD_CODES = {c.value: (c.name, c.message) for c in _codes.CODES.values() if c.area == "MOLD"}


def describe(int code):
    """``(NAME, message)`` of a result code; ("OK", ...) for codes >= 0."""
    if code >= 0:
        return ("OK", f"{code} messages applied")
    return _codes.describe(code)


def request_packet(bytes session, uint64_t seq, uint32_t count):
    """The 20-byte MoldUDP64 request packet: Session(10) Sequence(8 BE) Requested Count(2 BE)."""
    return session[:10].ljust(10, b" ") + seq.to_bytes(8, "big") + min(count, 0xFFFF).to_bytes(2, "big")


class MoldContext:
    """Clock and request I/O of a MoldSession (Aeron-style injected context).

    ``clock_ns()`` returns ns since the epoch (the same clock as packet receive stamps);
    ``send_request(packet: bytes)`` sends one 20-byte request to the re-request server.
    Tests inject a manual clock and a recording sender; ``UdpRequester`` is the real one.
    """

    def __init__(self, clock_ns=None, send_request=None):
        self.clock_ns = clock_ns or time.time_ns
        self.send_request = send_request or (lambda packet: None)
        # No request sender: no recovery. A hole still waits out the A/B window, then is given up at once.
        self.recovery = send_request is not None


class UdpRequester:
    """Sends request packets from one UDP socket to the re-request server; answers come back on it.

    Read the answers as the retransmission line: ``UdpSource.adopt(requester.fileno())`` (datapath.udp_source)
    given to ``run_slice(retrans=...)`` or ``pump_source(..., LINE_RETRANS)``.
    """

    def __init__(self, server, bind=("0.0.0.0", 0)):
        import socket
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(bind)
        self.sock.setblocking(False)
        self.sent = 0

    def __call__(self, bytes packet):
        n = self.sock.sendto(packet, self.server)
        if n != len(packet):
            raise OSError(f"short send of a request packet ({n} of {len(packet)} bytes)")
        self.sent += 1

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.sock.close()


cdef inline int _pump_once(MoldSession session, PacketSource src, Frame *frames, int line) noexcept nogil:
    """One burst of ``src`` into ``session`` on ``line``: frames read, or a negative SRC_E_* code."""
    cdef int n = src.rx_burst(frames, BURST_SIZE)
    if n > 0:
        session.on_burst(frames, n, line)
        src.rx_release()
    return n


@cython.final
cdef class MoldSession:
    """One MoldUDP64 session followed over one or two lines plus retransmissions.

    Parameters
    ----------
    sink : MessageSink receiving every validated message in sequence order.
    context : MoldContext (clock, request sender); default: wall clock, requests discarded.
    session : bytes, optional. Follow only this session name (10 bytes, space padded); default:
        adopt the first session seen and follow session changes.
    start_seq : first sequence number expected (1: recover from the start of the session); 0: join
        at the first sequence number seen (late join, no recovery of the past).
    ring_size : reorder buffer, messages (rounded up to a power of two).
    max_request : messages per request packet (default 90: a ~1400-byte answer of small messages).
    window_ns, timeout_ns, max_timeout_ns, max_attempts : see the pxd.
    latency_samples : capacity of the wire-to-book sample buffer (TWTS trailers).
    """

    def __cinit__(self, MessageSink sink=None, context=None, session=None, uint64_t start_seq=1,
                  uint64_t ring_size=65536, uint32_t max_request=90, uint64_t window_ns=2_000_000,
                  uint64_t timeout_ns=50_000_000, uint64_t max_timeout_ns=1_000_000_000,
                  uint32_t max_attempts=5, uint64_t scan_ns=100_000, uint64_t latency_samples=1 << 20,
                  uint64_t max_jump=100_000_000, uint32_t session_confirm=8):
        cdef uint64_t size = 1
        while size < ring_size:
            size <<= 1
        self.sink = sink if sink is not None else MessageSink()
        self.context = context if context is not None else MoldContext()
        self.start_seq = start_seq
        self.ring_size = size
        self.ring_mask = size - 1
        self.max_request = max(1, min(max_request, 0xFFFE))
        self.window_ns = window_ns
        self.timeout_ns = max(timeout_ns, <uint64_t>1)
        self.max_timeout_ns = max(max_timeout_ns, timeout_ns)
        self.max_attempts = max(max_attempts, 1)
        self.scan_ns = scan_ns
        self.max_jump = max_jump
        self.session_confirm = max(session_confirm, <uint32_t>1)
        self.ring = <MoldSlot *>calloc(size, sizeof(MoldSlot))
        self.lat_cap = latency_samples
        self.lat = <uint64_t *>calloc(max(latency_samples, <uint64_t>1), sizeof(uint64_t))
        if self.ring == NULL or self.lat == NULL:
            raise MemoryError("MoldSession: cannot allocate the reorder ring / latency buffer")
        memset(self.reqs, 0, sizeof(self.reqs))
        self.unrecoverable_ranges = []
        self.on_gap_event = None
        if session is not None:
            name = bytes(session)[:10].ljust(10, b" ")
            memcpy(self.session, <const uint8_t *>PyBytes_AS_STRING(name), MOLD_SESSION_LEN)
            self.has_session = True
            self.pinned = True

    def __dealloc__(self):
        free(self.ring)
        free(self.lat)
        free(self.early)

    # -------------------------------------------------------------- hot path ----
    cdef inline void _deliver(self, const uint8_t *msg, uint32_t length, uint64_t seq, uint64_t rx_ns) noexcept nogil:
        self.sink.rx_ns = rx_ns
        if tw_unlikely(self.sink.on_message(msg, length, seq) < 0):
            self.sink_errors += 1
        self.type_counts[msg[0]] += 1
        self.messages += 1

    cdef inline void _latency(self, uint64_t send_ns) noexcept nogil:
        cdef uint64_t now = now_realtime_ns()
        if tw_likely(self.lat_n < self.lat_cap):
            self.lat[self.lat_n] = now - send_ns if now > send_ns else 0
            self.lat_n += 1
        else:
            self.lat_dropped += 1

    cdef int on_packet(self, const uint8_t *pkt, uint32_t n, uint64_t rx_ns, int line) noexcept nogil:
        cdef uint64_t seq, end
        cdef uint32_t count
        cdef bint adopted = False
        if tw_unlikely(n < MOLD_HEADER_LEN):
            self.bad_packets += 1
            return MOLD_E_SHORT
        seq = tw_be64(pkt + 10)
        count = tw_be16(pkt + 18)
        if tw_unlikely(not self.has_session):
            memcpy(self.session, pkt, MOLD_SESSION_LEN)
            self.has_session = True
            adopted = True
        elif tw_unlikely(memcmp(pkt, self.session, MOLD_SESSION_LEN) != 0):
            if self.pinned or (self.has_prev_session and memcmp(pkt, self.prev_session, MOLD_SESSION_LEN) == 0):
                self.wrong_session += 1
                return MOLD_E_WRONG_SESSION
            if not self._confirm_session(pkt, seq, count):
                self.suspect_session += 1
                return MOLD_E_SUSPECT_SESSION
            self._change_session(pkt, seq)
        elif tw_unlikely(self.cand_count != 0):
            self.cand_count = 0          # the followed session is alive: a candidate must start over
        if tw_unlikely(self.next_seq == 0):
            self._reset_sequence(self.start_seq if self.start_seq != 0 else (seq if seq != 0 else 1))
        if tw_unlikely(seq + count < seq):
            self.implausible_seq += 1
            return MOLD_E_IMPLAUSIBLE_SEQ
        if tw_unlikely(seq > self.high_seq and seq - self.high_seq > self.max_jump):
            # Just joined and far ahead: a late join, or one forged / corrupt datagram. Join only when a
            # second packet agrees (within max_jump after the first: the other line's copy, the next
            # packet); until then the packet is suspect and dropped like any implausible one.
            if not self.fresh or self.join_candidate == 0 or seq < self.join_candidate \
                    or seq - self.join_candidate > self.max_jump:
                if self.fresh:
                    self.join_candidate = seq
                if adopted:                  # a suspect packet does not name the session either
                    self.has_session = False
                self.implausible_seq += 1
                return MOLD_E_IMPLAUSIBLE_SEQ
        if tw_unlikely(count != MOLD_HEARTBEAT and not self._count_possible(pkt, n, seq, count)):
            if adopted:                  # a suspect packet does not name the session either
                self.has_session = False
            if self.fresh:               # nor anchor a late join (start_seq 0): the next packet does
                self.next_seq = 0
            self.impossible_count += 1
            return MOLD_E_IMPOSSIBLE_COUNT
        if tw_unlikely(seq > self.high_seq and seq - self.high_seq > self.max_jump):
            self.late_join_skipped += seq - self.next_seq
            self._reset_sequence(seq)
        self.fresh = False
        self.packets[line] += 1
        if tw_unlikely(count == MOLD_HEARTBEAT or count == MOLD_END_OF_SESSION):
            if count == MOLD_HEARTBEAT:
                self.heartbeats += 1
            else:
                self.eos_seen = True
                self.end_seq = seq
            if seq > self.high_seq:      # tail gap: the server has sent messages we never saw
                self.gaps += 1
                self.gap_messages += seq - self.high_seq
                self.high_seq = seq
                self.next_scan_ns = 0    # a new hole: the request path looks at it now
            return 0
        end = seq + count
        if tw_likely(seq <= self.next_seq):
            if tw_likely(end > self.next_seq):
                if end > self.high_seq:
                    self.high_seq = end
                if tw_unlikely(line == LINE_RETRANS):
                    self.next_scan_ns = 0
                return self._apply_run(pkt + MOLD_HEADER_LEN, pkt + n, seq, count, rx_ns, line)
            self.dup_packets[line] += 1
            self.dup_messages[line] += count
            return MOLD_E_DUPLICATE
        # Beyond the next expected sequence number: a new gap or a fill inside a known one.
        if seq > self.high_seq:
            self.gaps += 1
            self.gap_messages += seq - self.high_seq
            self.next_scan_ns = 0
        elif line == LINE_RETRANS:
            self.next_scan_ns = 0        # an answer (maybe partial): re-request the rest at once
        if end > self.high_seq:
            self.high_seq = end
        return self._buffer_run(pkt + MOLD_HEADER_LEN, pkt + n, seq, count, rx_ns, line)

    cdef int _apply_run(self, const uint8_t *p, const uint8_t *end, uint64_t seq, uint32_t count,
                        uint64_t rx_ns, int line) noexcept nogil:
        """In-order packet: skip the already-applied head, apply the rest straight to the sink."""
        # Not datapath/mold_walk.pxd: the session applies (here) or copies (_buffer_run) each block in
        # the same pass that bounds-checks it, and keeps the whole blocks before a truncated one; a
        # separate walk first would read every live packet twice on the hot path.
        cdef uint32_t i, length
        cdef uint64_t s = seq
        cdef int applied = 0
        cdef MoldSlot *slot
        # The packet's TWTS send stamp, for the sink (latency stamps of the messages it publishes). Read
        # before the walk, which confirms it after (a look-alike inside the last message is counted there).
        if end - p >= TWTS_TRAILER_LEN and memcmp(end - TWTS_TRAILER_LEN, b"TWTS", 4) == 0:
            self.sink.send_ns = tw_be64(end - TWTS_TRAILER_LEN + 4)
        else:
            self.sink.send_ns = 0
        for i in range(count):
            if tw_unlikely(p + 2 > end):
                self.bad_packets += 1
                return MOLD_E_TRUNCATED if applied == 0 else applied
            length = tw_be16(p)
            if tw_unlikely(p + 2 + length > end):
                self.bad_packets += 1
                return MOLD_E_TRUNCATED if applied == 0 else applied
            if s < self.next_seq:
                self.dup_messages[line] += 1
            else:
                if tw_unlikely(self.buffered != 0):
                    slot = &self.ring[s & self.ring_mask]
                    if slot.seq == s:            # an earlier copy was buffered: this one wins, drop it
                        slot.seq = 0
                        self.buffered -= 1
                        self.dup_messages[slot.line] += 1
                if tw_likely(length != 0 and TW_ITCH_LEN[p[2]] == length):
                    self._deliver(p + 2, length, s, rx_ns)
                    applied += 1
                else:
                    self.bad_messages += 1
                self.wins[line] += 1
                self.next_seq = s + 1
            p += 2 + length
            s += 1
        if end - p == TWTS_TRAILER_LEN and memcmp(p, b"TWTS", 4) == 0:
            self._latency(tw_be64(p + 4))
        elif tw_unlikely(end != p):
            self.trailing_bytes += 1
        if self.buffered != 0:
            applied += self._drain()
        return applied

    cdef int _buffer_run(self, const uint8_t *p, const uint8_t *end, uint64_t seq, uint32_t count,
                         uint64_t rx_ns, int line) noexcept nogil:
        """Packet beyond a gap: copy its messages into the ring (first copy of a seq wins)."""
        cdef uint32_t i, length
        cdef uint64_t s = seq
        cdef uint64_t limit = self.next_seq + self.ring_size
        cdef int stored = 0, applied = 0
        cdef bint made_room = False
        cdef MoldSlot *slot = NULL
        cdef MoldSlot *last = NULL
        for i in range(count):
            if tw_unlikely(p + 2 > end):
                self.bad_packets += 1
                return MOLD_E_TRUNCATED if stored == 0 else 0
            length = tw_be16(p)
            if tw_unlikely(p + 2 + length > end):
                self.bad_packets += 1
                return MOLD_E_TRUNCATED if stored == 0 else 0
            last = NULL
            if tw_unlikely(s >= limit):
                # The ring is full: give up the oldest gap(s) instead of dropping what arrived (rare path).
                applied += self._make_room(s)
                limit = self.next_seq + self.ring_size
                made_room = True
            if s < self.next_seq:            # applied meanwhile (cannot happen: the drain stops at s)
                self.dup_messages[line] += 1
            else:
                slot = &self.ring[s & self.ring_mask]
                if slot.seq == s:
                    self.dup_messages[line] += 1
                else:
                    if TW_DEBUG:
                        if slot.seq != 0:            # a slot of another live seq: the window logic is broken
                            self.invariant_violations += 1
                    slot.seq = s
                    slot.send_ns = 0
                    slot.rx_ns = rx_ns
                    slot.line = <uint8_t>line
                    if length != 0 and length <= SLOT_DATA and TW_ITCH_LEN[p[2]] == length:
                        slot.length = <uint16_t>length
                        memcpy(slot.data, p + 2, length)
                    else:
                        slot.length = SLOT_INVALID
                    self.buffered += 1
                    stored += 1
                    last = slot
            p += 2 + length
            s += 1
        if self.buffered > self.buffered_peak:
            self.buffered_peak = self.buffered
        if end - p == TWTS_TRAILER_LEN and memcmp(p, b"TWTS", 4) == 0:
            if last != NULL:
                last.send_ns = tw_be64(p + 4)
        elif tw_unlikely(end != p):
            self.trailing_bytes += 1
        if made_room and self.buffered != 0:
            applied += self._drain()
        if stored == 0:
            self.dup_packets[line] += 1
            return MOLD_E_DUPLICATE
        return applied

    cdef int _make_room(self, uint64_t s) noexcept nogil:
        """Give up the oldest holes until ``s`` fits in the ring; apply what they held back.

        Waiting for a hole would cost the messages that did arrive beyond the ring window (dropped,
        requested, given up in turn). The given-up ranges are queued for ``poll`` (unrecoverable_ranges,
        on_gap_event); counted in ``unrecoverable`` and ``overflow``.
        """
        cdef uint64_t x, stop
        cdef uint64_t *grown
        cdef int applied = 0
        while s >= self.next_seq + self.ring_size:
            x = self.next_seq
            if self.buffered != 0:
                stop = self.next_seq + self.ring_size
                while x < stop and self.ring[x & self.ring_mask].seq != x:
                    x += 1
            else:
                x = s
            if x > self.next_seq:
                self._note_lost(self.next_seq)
                self.unrecoverable += x - self.next_seq
                self.overflow += x - self.next_seq
                if self.early_n == self.early_cap:
                    grown = <uint64_t *>realloc(self.early, (self.early_cap * 2 + 32) * 2 * sizeof(uint64_t))
                    if grown != NULL:
                        self.early = grown
                        self.early_cap = self.early_cap * 2 + 32
                if self.early_n < self.early_cap:
                    self.early[2 * self.early_n] = self.next_seq
                    self.early[2 * self.early_n + 1] = x
                    self.early_n += 1
                self.next_seq = x
                self.next_scan_ns = 0
            if self.buffered != 0:
                applied += self._drain()
        return applied

    cdef void _note_lost(self, uint64_t lo) noexcept nogil:
        if self.not_exact_since == 0 or lo < self.not_exact_since:
            self.not_exact_since = lo

    cdef int _drain(self) noexcept nogil:
        """Apply buffered messages from next_seq on while the ring holds them."""
        cdef int applied = 0
        cdef MoldSlot *slot
        while self.buffered != 0:
            slot = &self.ring[self.next_seq & self.ring_mask]
            if slot.seq != self.next_seq:
                break
            if tw_unlikely(slot.length == SLOT_LOST):
                self.unrecoverable += 1
            elif tw_unlikely(slot.length == SLOT_INVALID):
                self.bad_messages += 1
                self.wins[slot.line] += 1
            else:
                self.sink.send_ns = slot.send_ns
                self._deliver(slot.data, slot.length, slot.seq, slot.rx_ns)
                self.wins[slot.line] += 1
                applied += 1
                if slot.send_ns != 0:
                    self._latency(slot.send_ns)
            slot.seq = 0
            self.buffered -= 1
            self.next_seq += 1
        if TW_DEBUG:
            if self.buffered > self.ring_size or (self.next_seq > self.high_seq and self.high_seq != 0):
                self.invariant_violations += 1
        return applied

    cdef int on_burst(self, Frame *frames, int n, int line) noexcept nogil:
        cdef int i, r, applied = 0
        for i in range(n):
            if i + 1 < n:
                tw_prefetch(frames[i + 1].data)
            r = self.on_packet(frames[i].data, frames[i].length, frames[i].rx_ns, line)
            if r > 0:
                applied += r
        return applied

    cdef void _reset_sequence(self, uint64_t first) noexcept nogil:
        cdef uint64_t i
        if self.buffered != 0:
            for i in range(self.ring_size):
                self.ring[i].seq = 0
        self.buffered = 0
        memset(self.reqs, 0, sizeof(self.reqs))
        self.next_seq = first
        self.high_seq = first
        self.eos_seen = False
        self.end_seq = 0
        self.next_scan_ns = 0
        self.fresh = True
        self.join_candidate = 0

    cdef bint _confirm_session(self, const uint8_t *name, uint64_t seq, uint32_t count) noexcept nogil:
        """Another session name on an unpinned session: follow it now after End of Session (the day's
        normal change) or before the first packet was applied; mid-stream only once ``session_confirm``
        chained packets of that name came with none of the followed session between (a server restarted
        without End of Session). Until then each is suspect: one forged packet must not reset the state."""
        cdef uint64_t nxt
        if self.next_seq == 0 or self.fresh or (self.eos_seen and self.next_seq >= self.end_seq):
            self.cand_count = 0
            return True
        nxt = seq + (count if count != MOLD_END_OF_SESSION else 0)
        if nxt < seq:
            return False
        if self.cand_count != 0 and memcmp(name, self.cand_session, MOLD_SESSION_LEN) == 0:
            if seq == self.cand_next:            # chained: the next packet of the candidate session
                self.cand_count += 1
                self.cand_next = nxt
            elif seq < self.cand_next:           # the other line's copy of a packet already counted
                return False
            else:                                # a gap in the candidate: start over from this packet
                self.cand_count = 1
                self.cand_next = nxt
        else:
            memcpy(self.cand_session, name, MOLD_SESSION_LEN)
            self.cand_count = 1
            self.cand_next = nxt
        if self.cand_count >= self.session_confirm:
            self.cand_count = 0
            return True
        return False

    cdef inline bint _count_possible(self, const uint8_t *pkt, uint32_t n, uint64_t seq, uint32_t count) noexcept nogil:
        """False for a count the packet cannot be: more blocks than its bytes hold (2 bytes of length
        each, at least), or End of Session with messages (only a 12-byte TWTS trailer may follow) or below
        the highest sequence number already seen (it would end the session early)."""
        if count == MOLD_END_OF_SESSION:
            if n != MOLD_HEADER_LEN and (n != MOLD_HEADER_LEN + TWTS_TRAILER_LEN
                                         or memcmp(pkt + MOLD_HEADER_LEN, b"TWTS", 4) != 0):
                return False
            if self.has_session and self.next_seq != 0 and not self.fresh:
                if seq < self.high_seq or (self.eos_seen and seq != self.end_seq):
                    return False
            return True
        return <uint64_t>count * 2 <= <uint64_t>(n - MOLD_HEADER_LEN)

    cdef void _change_session(self, const uint8_t *name, uint64_t seq) noexcept nogil:
        """A new session name on an unpinned session: abandon the old one (pending gaps counted lost)."""
        if self.high_seq > self.next_seq and not (self.eos_seen and self.next_seq >= self.end_seq):
            self.unrecoverable += self.high_seq - self.next_seq
            self._note_lost(self.next_seq)
        memcpy(self.prev_session, self.session, MOLD_SESSION_LEN)
        self.has_prev_session = True
        memcpy(self.session, name, MOLD_SESSION_LEN)
        self.session_changes += 1
        self.next_seq = 0            # re-joined by on_packet with start_seq (or the packet's seq)

    # ---------------------------------------------------------- Python entry ----
    def feed(self, const uint8_t[::1] packet, uint64_t rx_ns=0, int line=LINE_A):
        """Feed one packet (bytes-like); returns messages applied or an MOLD_E_* code (see ``describe``)."""
        if line < 0 or line >= NLINES:
            raise ValueError(f"line must be 0 (A), 1 (B) or 2 (retransmission), not {line}")
        if packet.shape[0] == 0:
            return self.on_packet(<const uint8_t *>b"", 0, rx_ns, line)
        return self.on_packet(&packet[0], <uint32_t>packet.shape[0], rx_ns, line)

    def pump_source(self, PacketSource source, int line=LINE_A):
        """One burst (up to 32 frames) from ``source`` into the session; returns frames read (<0: SRC_E_*)."""
        cdef Frame frames[BURST_SIZE]
        cdef int n
        if line < 0 or line >= NLINES:
            raise ValueError(f"bad line {line}")
        with nogil:
            n = _pump_once(self, source, frames, line)
        return n

    def run_slice(self, PacketSource a=None, PacketSource b=None, PacketSource retrans=None, fds=(),
                  uint64_t slice_ns=10_000_000, int idle_wait_ms=1, bint busy=False):
        """Pump line A, line B and the re-request answers (``retrans``, e.g. ``UdpSource.adopt`` of the
        requester's socket) in C without the GIL for up to ``slice_ns``.

        Returns early with a reason code so the caller can run the Python-level parts:
        RUN_ENDED (1) End of Session reached and applied, RUN_POLL (2) a gap is open and its scan is
        due (call ``poll``), RUN_LATENCY (3) the latency buffer is half full (drain it), RUN_SLICE (0)
        the slice elapsed; or a negative SRC_E_* code from a source. When idle and not ``busy`` it
        sleeps in poll(2) on ``fds`` (the inputs' file descriptors) for up to ``idle_wait_ms``.
        """
        cdef Frame frames[BURST_SIZE]
        cdef pollfd pfds[4]
        cdef int nfds = 0, n, got, k, rc = C_RUN_SLICE
        cdef uint64_t now, deadline
        for fd in fds:
            if nfds < 4 and fd is not None and fd >= 0:
                pfds[nfds].fd = fd
                pfds[nfds].events = POLLIN
                pfds[nfds].revents = 0
                nfds += 1
        with nogil:
            deadline = now_realtime_ns() + slice_ns
            while True:
                got = 0
                if a is not None:
                    n = _pump_once(self, a, frames, LINE_A)
                    if n < 0:
                        rc = n
                        break
                    got += n
                if b is not None:
                    n = _pump_once(self, b, frames, LINE_B)
                    if n < 0:
                        rc = n
                        break
                    got += n
                if retrans is not None:
                    for k in range(4):               # up to 4 bursts of answers per round
                        n = _pump_once(self, retrans, frames, LINE_RETRANS)
                        if n <= 0:                   # an answer socket's error is not the feed's: ignored
                            break
                        got += n
                        if n < BURST_SIZE:
                            break
                if self.eos_seen and self.next_seq >= self.end_seq and self.next_seq != 0:
                    rc = C_RUN_ENDED
                    break
                if self.lat_n * 2 > self.lat_cap:
                    rc = C_RUN_LATENCY
                    break
                now = now_realtime_ns()
                if self.early_n != 0 or (self.next_seq != 0 and self.next_seq < self.high_seq
                                         and now >= self.next_scan_ns):
                    rc = C_RUN_POLL
                    break
                if now >= deadline:
                    rc = C_RUN_SLICE
                    break
                if got == 0 and nfds > 0 and not busy:
                    poll(pfds, nfds, idle_wait_ms)
        return rc

    # ---------------------------------------------------------- request path ----
    @property
    def session_name(self):
        return bytes(self.session[:MOLD_SESSION_LEN]) if self.has_session else None

    @property
    def previous_session_name(self):
        """The session followed before the last session change (None before any)."""
        return bytes(self.prev_session[:MOLD_SESSION_LEN]) if self.has_prev_session else None

    @property
    def ended(self):
        """End of Session received and every message up to it applied (or given up)."""
        return self.eos_seen and self.next_seq >= self.end_seq

    @property
    def gap_open(self):
        return self.next_seq != 0 and self.next_seq < self.high_seq

    cdef int _request(self, uint64_t lo, uint64_t count):
        pkt = (bytes(self.session[:MOLD_SESSION_LEN]) + (<object>lo).to_bytes(8, "big")
               + (<object>min(count, <uint64_t>0xFFFF)).to_bytes(2, "big"))
        try:
            self.context.send_request(pkt)
        except Exception as exc:      # a dead socket must not kill the feed: counted and retried
            self.request_errors += 1
            if self.on_gap_event is not None:
                self.on_gap_event("request_error", lo, lo + count, repr(exc))
            return MOLD_E_REQUEST_IO
        self.requests_sent += 1
        return 0

    cdef int _scan(self, uint64_t *los, uint64_t *his, int cap) noexcept nogil:
        """Holes (runs of empty ring slots) in [next_seq, min(high_seq, next_seq + ring_size))."""
        cdef uint64_t s = self.next_seq
        cdef uint64_t limit = self.high_seq
        cdef int n = 0
        if limit > self.next_seq + self.ring_size:
            limit = self.next_seq + self.ring_size
        while s < limit and n < cap:
            if self.ring[s & self.ring_mask].seq == s:
                s += 1
                continue
            los[n] = s
            while s < limit and self.ring[s & self.ring_mask].seq != s:
                s += 1
            his[n] = s
            n += 1
        return n

    cdef void _give_up(self, uint64_t lo, uint64_t hi) noexcept nogil:
        cdef uint64_t s
        cdef MoldSlot *slot
        self._note_lost(lo)
        for s in range(lo, hi):
            slot = &self.ring[s & self.ring_mask]
            if slot.seq != s:
                slot.seq = s
                slot.length = SLOT_LOST
                slot.send_ns = 0
                slot.line = LINE_RETRANS
                self.buffered += 1

    def poll(self, now_ns=None):
        """Run the gap-recovery state machine; returns requests sent by this call.

        Cheap when no gap is open. Call it after every burst (or at least every ``scan_ns``).
        """
        cdef uint64_t now
        cdef uint64_t los[2 * MAX_GAP_REQUESTS]
        cdef uint64_t his[2 * MAX_GAP_REQUESTS]
        cdef uint64_t pos, sub_hi, cap_hi, tmo
        cdef int nholes, h, i, found, sent = 0
        cdef bint used[MAX_GAP_REQUESTS]
        cdef bint table_full = False, progress
        cdef uint64_t next_event
        cdef GapRequest old[MAX_GAP_REQUESTS]
        cdef GapRequest *e
        cdef bint recovery
        if self.early_n != 0:
            self.flush_given_up()
        if self.next_seq == 0 or self.next_seq >= self.high_seq:
            if self.next_seq != 0:
                memset(self.reqs, 0, sizeof(self.reqs))
            return 0
        now = self.context.clock_ns() if now_ns is None else now_ns
        if now < self.next_scan_ns:
            return 0
        self.next_scan_ns = now + self.scan_ns
        recovery = getattr(self.context, "recovery", True)
        nholes = self._scan(los, his, 2 * MAX_GAP_REQUESTS)
        memset(used, 0, sizeof(used))
        memcpy(old, self.reqs, sizeof(self.reqs))
        # Each entry tracks exactly one hole (or the first max_request messages of one): at every scan
        # it is trimmed to the hole it matches. A piece split off a requested range (a line filled its
        # middle) inherits the request's state, so it is neither requested twice nor forgotten.
        for h in range(nholes):
            pos = los[h]
            while pos < his[h]:
                found = -1
                cap_hi = pos + self.max_request
                for i in range(MAX_GAP_REQUESTS):
                    e = &self.reqs[i]
                    if e.state == REQ_FREE or used[i]:
                        continue
                    if e.lo <= pos < e.hi:
                        found = i
                        break
                    if pos < e.lo < cap_hi:
                        cap_hi = e.lo
                if found < 0:
                    for i in range(MAX_GAP_REQUESTS):
                        if self.reqs[i].state == REQ_FREE and not used[i]:
                            found = i
                            break
                    if found < 0:
                        table_full = True
                        break        # table full: the rest waits for the next scan
                    e = &self.reqs[found]
                    e.lo = pos
                    e.hi = min(his[h], cap_hi)
                    e.state = REQ_PENDING
                    e.first_seen_ns = now
                    e.attempts = 0
                    e.deadline_ns = 0
                    for i in range(MAX_GAP_REQUESTS):
                        if old[i].state != REQ_FREE and old[i].lo <= pos < old[i].hi:
                            e.state = old[i].state
                            e.first_seen_ns = old[i].first_seen_ns
                            e.attempts = old[i].attempts
                            e.deadline_ns = old[i].deadline_ns
                            break
                    e.req_lo = pos
                e = &self.reqs[found]
                used[found] = True
                sub_hi = min(his[h], e.hi)
                progress = e.state == REQ_SENT and pos > e.req_lo
                e.lo = pos
                e.hi = sub_hi
                if e.state == REQ_PENDING:
                    if now - e.first_seen_ns >= self.window_ns and not recovery:
                        # Nothing to ask: given up once neither line filled it within the window.
                        self._give_up(pos, sub_hi)
                        self.unrecoverable_ranges.append((pos, sub_hi))
                        if self.on_gap_event is not None:
                            self.on_gap_event("unrecoverable", pos, sub_hi, "no re-request server")
                        pos = sub_hi
                        e.state = REQ_FREE
                        continue
                    if now - e.first_seen_ns >= self.window_ns:
                        e.state = REQ_SENT
                        e.attempts = 1
                        e.req_lo = pos
                        e.deadline_ns = now + self.timeout_ns
                        if self._request(pos, sub_hi - pos) == 0:
                            sent += 1
                        if self.on_gap_event is not None:
                            self.on_gap_event("request", pos, sub_hi)
                elif progress:
                    # Partial answer (the server fits fewer messages in one packet): ask for the rest now.
                    e.req_lo = pos
                    e.deadline_ns = now + self.timeout_ns
                    if self._request(pos, sub_hi - pos) == 0:
                        sent += 1
                elif now >= e.deadline_ns:
                    if e.attempts >= self.max_attempts:
                        self._give_up(pos, sub_hi)
                        self.unrecoverable_ranges.append((pos, sub_hi))
                        if self.on_gap_event is not None:
                            self.on_gap_event("unrecoverable", pos, sub_hi, f"{e.attempts} requests unanswered")
                        pos = sub_hi
                        e.state = REQ_FREE
                        continue
                    tmo = self.timeout_ns << min(e.attempts, 30)
                    e.attempts += 1
                    self.retries += 1
                    e.req_lo = pos
                    e.deadline_ns = now + min(tmo, self.max_timeout_ns)
                    if self._request(pos, sub_hi - pos) == 0:
                        sent += 1
                    if self.on_gap_event is not None:
                        self.on_gap_event("retry", pos, sub_hi)
                pos = sub_hi
        # Next scan: the earliest window end / deadline of the table (new holes and answers reset it
        # to 0 in on_packet), never sooner than scan_ns; every scan_ns while holes wait for a free entry.
        next_event = now + self.max_timeout_ns
        for i in range(MAX_GAP_REQUESTS):
            e = &self.reqs[i]
            if not used[i]:
                e.state = REQ_FREE
            elif e.state == REQ_PENDING:
                next_event = min(next_event, e.first_seen_ns + self.window_ns)
            elif e.state == REQ_SENT:
                next_event = min(next_event, e.deadline_ns)
        if table_full or nholes == 2 * MAX_GAP_REQUESTS:
            next_event = now
        self.next_scan_ns = max(next_event, now + self.scan_ns)
        if self.buffered != 0:
            self._drain()
        return sent

    def flush_given_up(self):
        """Move the ranges given up early (ring full, on the nogil path) to ``unrecoverable_ranges``
        (kept in order) and report each through ``on_gap_event``. ``poll`` and ``counters`` call it."""
        cdef uint64_t i, n = self.early_n
        if n == 0:
            return
        self.early_n = 0
        ranges = [(self.early[2 * i], self.early[2 * i + 1]) for i in range(n)]
        self.unrecoverable_ranges.extend(ranges)
        self.unrecoverable_ranges.sort()
        if self.on_gap_event is not None:
            for lo, hi in ranges:
                self.on_gap_event("unrecoverable", lo, hi,
                                  f"given up early: the reorder buffer of {self.ring_size} messages was full")

    def replace_sink(self, MessageSink sink):
        """Swap in another sink (a snapshot's fresh books, brought up to ``next_seq - 1``): every message
        from ``next_seq`` on, buffered ones included, goes to it. Python level, between slices only."""
        if sink is None:
            raise ValueError("replace_sink: a MessageSink, not None")
        self.sink = sink

    def clear_not_exact(self, uint64_t upto):
        """A snapshot made the books exact up to ``upto - 1``: clear the mark when nothing was given up at or
        after ``upto`` (a later give-up keeps its own mark). Returns the mark left (0: exact)."""
        self.flush_given_up()
        left = [max(lo, upto) for lo, hi in self.unrecoverable_ranges if hi > upto]
        self.not_exact_since = min(left) if left else 0
        return self.not_exact_since

    def pending_requests(self):
        """The request table: [(lo, hi, state, attempts)], for diagnostics and tests."""
        cdef int i
        out = []
        for i in range(MAX_GAP_REQUESTS):
            if self.reqs[i].state != REQ_FREE:
                out.append((self.reqs[i].lo, self.reqs[i].hi, ("free", "pending", "sent")[self.reqs[i].state],
                            self.reqs[i].attempts))
        return sorted(out)

    # -------------------------------------------------------------- results ----
    def drain_latency(self):
        """Wire-to-book samples (ns) recorded since the last call, as a uint64 NumPy array."""
        cdef uint64_t n = self.lat_n
        out = np.empty(n, dtype=np.uint64)
        cdef uint64_t[::1] view = out
        if n:
            memcpy(&view[0], self.lat, n * sizeof(uint64_t))
        self.lat_n = 0
        return out

    def counters(self):
        """Every counter as a dict (summary, --json, Prometheus)."""
        self.flush_given_up()
        return {
            "messages": self.messages, "bad_messages": self.bad_messages, "bad_packets": self.bad_packets,
            "packets_a": self.packets[LINE_A], "packets_b": self.packets[LINE_B],
            "packets_retrans": self.packets[LINE_RETRANS],
            "duplicate_packets_a": self.dup_packets[LINE_A], "duplicate_packets_b": self.dup_packets[LINE_B],
            "duplicate_packets_retrans": self.dup_packets[LINE_RETRANS],
            "duplicates_a": self.dup_messages[LINE_A], "duplicates_b": self.dup_messages[LINE_B],
            "duplicates_retrans": self.dup_messages[LINE_RETRANS],
            "wins_a": self.wins[LINE_A], "wins_b": self.wins[LINE_B],
            "recovered": self.wins[LINE_RETRANS],
            "gaps": self.gaps, "gap_messages": self.gap_messages,
            "requests_sent": self.requests_sent, "request_errors": self.request_errors, "retries": self.retries,
            "unrecoverable": self.unrecoverable, "overflow": self.overflow,
            "wrong_session": self.wrong_session, "session_changes": self.session_changes,
            "heartbeats": self.heartbeats, "sink_errors": self.sink_errors,
            "trailing_bytes": self.trailing_bytes, "buffered": self.buffered,
            "buffered_peak": self.buffered_peak, "next_seq": self.next_seq, "high_seq": self.high_seq,
            "end_of_session": bool(self.eos_seen), "latency_dropped": self.lat_dropped,
            "invariant_violations": self.invariant_violations, "implausible_seq": self.implausible_seq,
            "late_join_skipped": self.late_join_skipped, "not_exact_since": self.not_exact_since,
            "suspect_session": self.suspect_session, "impossible_count": self.impossible_count,
        }

    def by_type(self):
        """Messages applied per ITCH type letter."""
        cdef int t
        return {chr(t): self.type_counts[t] for t in range(256) if self.type_counts[t]}

    @property
    def packets_total(self):
        """Packets seen on every line (cheap progress check for run loops)."""
        return self.packets[LINE_A] + self.packets[LINE_B] + self.packets[LINE_RETRANS]

    @property
    def recovered(self):
        return self.wins[LINE_RETRANS]
