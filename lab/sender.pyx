# cython: language_level=3
"""MoldUDP64 packet building and the paced ``sendmmsg`` sender (``tickwire send``, ``tickwire mold serve``).

A day (binaryFILE: [u16 BE length][message]...) is indexed once (``index_messages``), packed into
MoldUDP64 packets of at most ``max_payload`` bytes (``plan_packets`` + ``build_packets``: the
binaryFILE message block framing IS the MoldUDP64 message block framing, so a packet is a header
plus one contiguous slice of the file). ``MoldSender`` sends prebuilt packets in bursts of 32 with
``sendmmsg`` (two iovecs per packet: the packet in place and its 12-byte ``TWTS`` trailer), paced
on a schedule (recorded pace x speed, or a fixed message rate) or as fast as possible, optionally
dropping a seeded fraction of data packets per destination (loss injection, independent per line),
with heartbeats while idle and End of Session at the end. The loop runs without the GIL.

TWTS stamp: the packet's INTENDED send time on a paced run (so a late sender shows up as latency:
no coordinated omission), the actual send time at max rate.
"""
cimport cython
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.string cimport memcpy, memset
from libc.stdlib cimport calloc, free
from libc.errno cimport errno, EINTR, EAGAIN

from core.endian cimport tw_be16, tw_be64, tw_be48, tw_put_be16, tw_put_be64
from core.linux cimport (timespec_, clock_gettime, nanosleep, CLOCK_REALTIME, sockaddr, sockaddr_in, htons, AF_INET,
                         iovec, msghdr, mmsghdr, sendmmsg, sendto, tw_cpu_relax, now_realtime_ns)
from datapath.mold_walk cimport MoldWalk, mold_walk

import numpy as np

cdef enum:
    BURST = 32
    MAX_DESTS = 4
    TRAILER = 12
    HDR = 20


cdef inline void sleep_ns(uint64_t ns) noexcept nogil:
    cdef timespec_ ts
    ts.tv_sec = <long>(ns // 1000000000ULL)
    ts.tv_nsec = <long>(ns % 1000000000ULL)
    nanosleep(&ts, NULL)


# ------------------------------------------------------------------ planning ----
def index_messages(const uint8_t[::1] data):
    """Offsets of every message's length prefix in a binaryFILE buffer, plus the end: int64[n + 1].

    Raises ValueError on a zero length prefix or a truncated last message (with the offset), as a
    server must never send a day it cannot frame.
    """
    cdef int64_t n = data.shape[0], off = 0, count = 0, length
    while off + 2 <= n:
        length = tw_be16(&data[off])
        if length == 0:
            raise ValueError(f"zero length prefix at byte {off} (message {count + 1}): not a binaryFILE day")
        if off + 2 + length > n:
            raise ValueError(f"message {count + 1} at byte {off} is truncated ({length} bytes announced, "
                             f"{n - off - 2} left)")
        off += 2 + length
        count += 1
    if off != n:
        raise ValueError(f"{n - off} stray byte(s) at the end of the day (offset {off})")
    out = np.empty(count + 1, dtype=np.int64)
    cdef int64_t[::1] o = out
    cdef int64_t i = 0
    off = 0
    while i < count:
        o[i] = off
        off += 2 + tw_be16(&data[off])
        i += 1
    o[count] = off
    return out


def plan_packets(const int64_t[::1] offs, int max_payload=1400, bint trailer=True, int max_count=0xFFFE):
    """Greedy packing: index of each packet's first message, int64[npackets + 1] (last = message count).

    A packet holds messages while 20 + blocks (+ 12 trailer) <= ``max_payload`` bytes.
    """
    cdef int64_t n = offs.shape[0] - 1, i = 0, first, npk = 0
    cdef int64_t room = max_payload - HDR - (TRAILER if trailer else 0)
    if room < 52:
        raise ValueError(f"max_payload {max_payload} cannot hold the largest ITCH message")
    out = np.empty(n + 1, dtype=np.int64)
    cdef int64_t[::1] o = out
    while i < n:
        first = i
        o[npk] = first
        npk += 1
        i += 1
        while i < n and offs[i + 1] - offs[first] <= room and i - first < max_count:
            i += 1
    o[npk] = n
    return out[:npk + 1].copy()


def packet_times(const uint8_t[::1] data, const int64_t[::1] offs, const int64_t[::1] first):
    """ITCH timestamp (ns since midnight) of each packet's first message: the recorded pace."""
    cdef int64_t npk = first.shape[0] - 1, k
    out = np.empty(npk, dtype=np.int64)
    cdef int64_t[::1] o = out
    for k in range(npk):
        o[k] = <int64_t>tw_be48(&data[offs[first[k]] + 2 + 5])
    return out


def build_packets(const uint8_t[::1] data, const int64_t[::1] offs, const int64_t[::1] first,
                  bytes session, uint64_t first_seq=1):
    """All MoldUDP64 packets of a plan in one buffer: (uint8 buffer, int64 packet offsets [npk + 1])."""
    cdef int64_t npk = first.shape[0] - 1, k, a, b, size = 0, pos = 0
    name = session[:10].ljust(10, b" ")
    cdef const uint8_t *s = name
    for k in range(npk):
        size += HDR + offs[first[k + 1]] - offs[first[k]]
    buf = np.empty(max(size, 1), dtype=np.uint8)
    pkt_offs = np.empty(npk + 1, dtype=np.int64)
    cdef uint8_t[::1] B = buf
    cdef int64_t[::1] P = pkt_offs
    for k in range(npk):
        a = offs[first[k]]
        b = offs[first[k + 1]]
        P[k] = pos
        memcpy(&B[pos], s, 10)
        tw_put_be64(&B[pos + 10], first_seq + <uint64_t>first[k])
        tw_put_be16(&B[pos + 18], <uint16_t>(first[k + 1] - first[k]))
        if b > a:
            memcpy(&B[pos + HDR], &data[a], b - a)
        pos += HDR + (b - a)
    P[npk] = pos
    return buf[:size], pkt_offs


def packet_messages(const uint8_t[::1] buf, const int64_t[::1] pkt_offs):
    """Messages (whole blocks) of each packet in ``buf`` (packets at ``pkt_offs``): int64[npackets].

    Heartbeats, End of Session and packets shorter than the header count 0 (datapath/mold_walk.pxd).
    """
    cdef int64_t npk = pkt_offs.shape[0] - 1, k
    cdef MoldWalk w
    out = np.zeros(max(npk, 0), dtype=np.int64)
    cdef int64_t[::1] o = out
    for k in range(npk):
        if pkt_offs[k + 1] > pkt_offs[k]:
            mold_walk(&buf[pkt_offs[k]], <uint32_t>(pkt_offs[k + 1] - pkt_offs[k]), &w)
            o[k] = w.blocks
    return out


# ------------------------------------------------------------------- sender ----
@cython.final
cdef class MoldSender:
    """Sends prebuilt MoldUDP64 packets on a UDP socket fd to 1..4 destinations (lines).

    Parameters
    ----------
    buf, pkt_offs : packets (``build_packets``, or raw payloads from a pcap) and their offsets.
    fd : a UDP socket (multicast TTL / interface already set by the caller).
    dests : [(ipv4, port)] destinations; each gets every packet (A/B lines), loss drawn per dest.
    loss : fraction of DATA packets dropped per destination (heartbeats / End of Session never, a
        capture's own included; those get no TWTS trailer either).
    seed : loss PRNG seed (xorshift64*), so a run's drops are reproducible.
    trailer : append the 12-byte TWTS send stamp to every data packet.
    """
    cdef const uint8_t[::1] buf
    cdef const int64_t[::1] offs
    cdef int fd
    cdef sockaddr_in dest[MAX_DESTS]
    cdef int ndest
    cdef uint64_t loss_threshold
    cdef uint64_t rng
    cdef bint trailer
    cdef public bint stopping
    cdef uint8_t trailers[BURST][TRAILER]
    cdef mmsghdr msgs[BURST * MAX_DESTS]
    cdef iovec iov[BURST * MAX_DESTS][2]
    cdef uint8_t[::1] drop_log              # optional: 1 per (packet, destination) dropped by the loss model
    cdef bint log_drops
    cdef readonly int64_t npackets
    cdef readonly int64_t position          # next packet to send
    # counters
    cdef readonly uint64_t sent_packets     # datagrams sent (packets x destinations)
    cdef readonly uint64_t dropped          # datagrams dropped by the loss model
    cdef readonly uint64_t send_errors      # datagrams the kernel refused (ENOBUFS, ...)
    cdef readonly uint64_t heartbeats_sent
    cdef readonly uint64_t late_packets     # paced packets sent more than 100 us after their intended time
    cdef readonly uint64_t messages_sent
    cdef readonly bint recorded_eos         # a packet of the input is an End of Session (a capture's own)

    def __init__(self, const uint8_t[::1] buf, const int64_t[::1] pkt_offs, int fd, dests,
                 double loss=0.0, uint64_t seed=1, bint trailer=True):
        import socket
        if not 1 <= len(dests) <= MAX_DESTS:
            raise ValueError(f"1..{MAX_DESTS} destinations, not {len(dests)}")
        if not 0.0 <= loss < 1.0:
            raise ValueError(f"loss must be in [0, 1), not {loss}")
        self.buf = buf
        self.offs = pkt_offs
        self.npackets = pkt_offs.shape[0] - 1
        self.fd = fd
        self.ndest = len(dests)
        memset(self.dest, 0, sizeof(self.dest))
        for i, (host, port) in enumerate(dests):
            packed = socket.inet_aton(host)
            self.dest[i].sin_family = AF_INET
            self.dest[i].sin_port = htons(port)
            memcpy(&self.dest[i].sin_addr.s_addr, <const char *>packed, 4)
        self.loss_threshold = <uint64_t>(loss * 18446744073709551615.0) if loss > 0 else 0
        self.rng = seed * 0x9E3779B97F4A7C15ULL + 1
        self.trailer = trailer
        memset(self.msgs, 0, sizeof(self.msgs))
        cdef int64_t k
        for k in range(self.npackets):
            if self._control_count(k) == 0xFFFF:
                self.recorded_eos = True
                break

    cdef inline uint64_t _rand(self) noexcept nogil:
        cdef uint64_t x = self.rng
        x ^= x >> 12
        x ^= x << 25
        x ^= x >> 27
        self.rng = x
        return x * 0x2545F4914F6CDD1DULL

    cdef inline int _control_count(self, int64_t k) noexcept nogil:
        """0 (heartbeat) / 0xFFFF (End of Session) for a recorded control packet, else -1."""
        cdef uint16_t c
        if self.offs[k + 1] - self.offs[k] < HDR:
            return -1
        c = tw_be16(&self.buf[self.offs[k] + 18])
        return c if c == 0 or c == 0xFFFF else -1

    cdef inline uint32_t _count(self, int64_t k) noexcept nogil:
        """Messages of packet k (0 for heartbeats and End of Session of a capture sent as recorded)."""
        cdef MoldWalk w
        if self.offs[k + 1] - self.offs[k] < HDR:
            return 0
        mold_walk(&self.buf[self.offs[k]], <uint32_t>(self.offs[k + 1] - self.offs[k]), &w)
        return w.blocks

    cdef int _send_burst(self, int64_t first, int64_t last, uint64_t stamp_base, const int64_t *sched,
                         bint paced) noexcept nogil:
        """Send packets [first, last) to every destination; returns datagrams handed to the kernel."""
        cdef int64_t k
        cdef int d, m = 0, r, done = 0
        cdef bint control
        cdef uint64_t stamp, now = now_realtime_ns()
        for k in range(first, last):
            control = self._control_count(k) >= 0     # a capture's heartbeat / End of Session: sent as is
            stamp = stamp_base + <uint64_t>sched[k] if paced else now
            if paced and now > stamp + 100000:
                self.late_packets += 1
            memcpy(self.trailers[k - first], b"TWTS", 4)
            tw_put_be64(&self.trailers[k - first][4], stamp)
            for d in range(self.ndest):
                if self.loss_threshold != 0 and not control and self._rand() < self.loss_threshold:
                    self.dropped += 1
                    if self.log_drops:
                        self.drop_log[k * self.ndest + d] = 1
                    continue
                self.iov[m][0].iov_base = <void *>&self.buf[self.offs[k]]
                self.iov[m][0].iov_len = self.offs[k + 1] - self.offs[k]
                self.iov[m][1].iov_base = <void *>self.trailers[k - first]
                self.iov[m][1].iov_len = TRAILER
                self.msgs[m].msg_hdr.msg_name = &self.dest[d]
                self.msgs[m].msg_hdr.msg_namelen = sizeof(sockaddr_in)
                self.msgs[m].msg_hdr.msg_iov = self.iov[m]
                self.msgs[m].msg_hdr.msg_iovlen = 2 if self.trailer and not control else 1
                m += 1
            self.messages_sent += self._count(k)
        while done < m:
            r = sendmmsg(self.fd, &self.msgs[done], m - done, 0)
            if r < 0:
                if errno == EINTR:
                    continue
                self.send_errors += 1        # this datagram is lost (like a drop on the wire); go on
                done += 1
                continue
            done += r
        self.sent_packets += m
        return m

    cdef void _control(self, uint64_t seq, uint16_t count) noexcept nogil:
        cdef uint8_t pkt[HDR]
        cdef int d
        if self.npackets == 0:
            return
        memcpy(pkt, &self.buf[self.offs[0]], 10)
        tw_put_be64(pkt + 10, seq)
        tw_put_be16(pkt + 18, count)
        for d in range(self.ndest):
            if sendto(self.fd, pkt, HDR, 0, <sockaddr *>&self.dest[d], sizeof(sockaddr_in)) < 0:
                self.send_errors += 1
        if count == 0:
            self.heartbeats_sent += 1

    def next_seq(self):
        """Sequence number after the last packet's messages (what heartbeats / End of Session carry)."""
        if self.npackets == 0:
            return 1
        cdef int64_t k = self.npackets - 1
        return tw_be64(&self.buf[self.offs[k] + 10]) + self._count(k)

    def send_control(self, uint64_t seq, uint16_t count):
        """One heartbeat (0) / End of Session (0xFFFF) packet to every destination."""
        with nogil:
            self._control(seq, count)

    def run(self, sched_ns=None, uint64_t heartbeat_ns=1_000_000_000, int eos=3, int64_t start=0,
            int64_t stop=-1, uint64_t start_ns=0):
        """Send packets [start, stop); returns when done or after ``stop()``.

        ``sched_ns``: int64 intended send time of each packet relative to the start (None: max rate).
        ``heartbeat_ns``: heartbeat when nothing was sent for that long (0: never).
        ``eos``: End of Session packets at the end (0: none), 1 ms apart.
        ``start_ns``: wall-clock start (default now + 1 ms).
        """
        cdef int64_t n = self.npackets if stop < 0 or stop > self.npackets else stop
        cdef int64_t i = start, j
        cdef const int64_t[::1] sched
        cdef const int64_t *sp = NULL
        cdef bint paced = sched_ns is not None
        cdef uint64_t t0, now, due, last_send, hb_seq
        cdef int e
        cdef int64_t base = 0
        if paced:
            sched = np.ascontiguousarray(sched_ns, dtype=np.int64)
            if sched.shape[0] < n:
                raise ValueError(f"schedule has {sched.shape[0]} entries for {n} packets")
            sp = &sched[0]
            base = sched[start] if start < n else 0
        t0 = start_ns if start_ns else now_realtime_ns() + 1000000
        self.stopping = False
        with nogil:
            last_send = now_realtime_ns()
            while i < n and not self.stopping:
                now = now_realtime_ns()
                if paced:
                    due = t0 + <uint64_t>(sp[i] - base)
                    if due > now:
                        if heartbeat_ns and now - last_send >= heartbeat_ns:
                            self._control(tw_be64(&self.buf[self.offs[i] + 10]), 0)
                            last_send = now
                            continue
                        if due - now > 200000:
                            sleep_ns(min(due - now - 100000, <uint64_t>50000000))
                        else:
                            tw_cpu_relax()
                        continue
                elif now < t0:
                    continue
                j = i + 1
                while j < n and j - i < BURST and (not paced or t0 + <uint64_t>(sp[j] - base) <= now):
                    j += 1
                self._send_burst(i, j, t0 - <uint64_t>base, sp, paced)
                last_send = now
                i = j
            self.position = i
            if i >= self.npackets and eos > 0 and not self.recorded_eos:   # a capture's own EOS went out once
                hb_seq = 0
                for e in range(eos):
                    if e:
                        sleep_ns(1000000)
                    with gil:
                        hb_seq = self.next_seq()
                    self._control(hb_seq, 0xFFFF)
        return self.counters()

    def stop(self):
        self.stopping = True

    def record_drops(self):
        """Start logging loss-model drops; returns the uint8 array [npackets, ndest] (1 = dropped)."""
        arr = np.zeros((self.npackets, self.ndest), dtype=np.uint8)
        self.drop_log = arr.reshape(-1)
        self.log_drops = True
        return arr

    def counters(self):
        return {"sent_packets": self.sent_packets, "dropped": self.dropped, "send_errors": self.send_errors,
                "heartbeats_sent": self.heartbeats_sent, "late_packets": self.late_packets,
                "messages_sent": self.messages_sent, "position": self.position, "npackets": self.npackets,
                "recorded_eos": bool(self.recorded_eos)}
