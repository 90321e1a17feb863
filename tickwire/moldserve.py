"""A MoldUDP64 feed server for tests and labs: a recorded day as a live multicast session.

``MoldServer`` packs a day's ITCH messages (binaryFILE, .gz, or the MoldUDP64 payloads of a pcap)
into ~1400-byte MoldUDP64 packets, sends them paced (fixed message rate, or the recorded pace x
speed) or as fast as possible to one or more groups (A/B lines, independent seeded loss per line),
sends heartbeats while idle and End of Session at the end, and answers re-request packets from
memory with a ``Retransmitter`` (every message of the day indexed by sequence number).

Used by ``tickwire mold serve`` and by the session-layer tests (over loopback or a veth pair).
"""
from __future__ import annotations

import gzip
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import numpy as np

DEFAULT_SESSION = b"TWSESSION1"
MAX_PAYLOAD = 1400


# --------------------------------------------------------------------- inputs ----
def _open_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"\x1f\x8b":
        with gzip.open(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
               b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1)}


def is_pcap(raw: bytes) -> bool:
    return raw[:4] in PCAP_MAGICS or raw[:4] == b"\x0a\x0d\x0d\x0a"


def read_pcap_payloads(raw: bytes) -> tuple[list[bytes], list[int]]:
    """UDP payloads and capture times (ns) of a classic pcap (Ethernet/VLAN or raw IPv4 link types).

    Non-UDP frames are skipped. pcapng is refused with a clear error (convert with ``editcap -F pcap``).
    """
    if raw[:4] == b"\x0a\x0d\x0d\x0a":
        raise ValueError("pcapng is not supported by the sender: convert it with `editcap -F pcap IN OUT`")
    if raw[:4] not in PCAP_MAGICS:
        raise ValueError("not a pcap file (bad magic)")
    endian, tick = PCAP_MAGICS[raw[:4]]
    linktype = struct.unpack_from(endian + "I", raw, 20)[0]
    off = 24
    payloads, times = [], []
    rec = struct.Struct(endian + "IIII")
    while off + 16 <= len(raw):
        sec, frac, incl, _orig = rec.unpack_from(raw, off)
        off += 16
        frame = raw[off:off + incl]
        off += incl
        if len(frame) < incl:
            break                     # truncated last record
        if linktype == 1:             # Ethernet (+ VLAN tags)
            p, et = 12, None
            while p + 2 <= len(frame):
                et = struct.unpack_from(">H", frame, p)[0]
                if et in (0x8100, 0x88A8):
                    p += 4
                    continue
                break
            if et != 0x0800:
                continue
            ip = frame[p + 2:]
        elif linktype in (101, 228):  # raw IPv4
            ip = frame
        elif linktype == 113:         # Linux cooked
            if len(frame) < 16 or struct.unpack_from(">H", frame, 14)[0] != 0x0800:
                continue
            ip = frame[16:]
        else:
            raise ValueError(f"pcap link type {linktype} is not supported (Ethernet, raw IP, Linux cooked)")
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        ulen = struct.unpack_from(">H", ip, ihl + 4)[0]
        payloads.append(bytes(ip[ihl + 8:ihl + ulen]))
        times.append(sec * 1_000_000_000 + frac * tick)
    return payloads, times


def mold_messages(payload: bytes) -> bytes:
    """The message blocks of one MoldUDP64 packet ([u16 length][message]...), trailer dropped."""
    if len(payload) < 20:
        return b""
    count = struct.unpack_from(">H", payload, 18)[0]
    if count in (0, 0xFFFF):
        return b""
    p = 20
    for _ in range(count):
        if p + 2 > len(payload):
            break
        n = struct.unpack_from(">H", payload, p)[0]
        if p + 2 + n > len(payload):
            break
        p += 2 + n
    return payload[20:p]


@dataclass
class MoldDay:
    """A day's messages in binaryFILE framing plus the offset of each (message seq = index + 1)."""

    data: np.ndarray                  # uint8
    offs: np.ndarray                  # int64[n + 1]
    source: str = ""

    @classmethod
    def load(cls, path: str) -> "MoldDay":
        from tickwire.sender import index_messages

        raw = _open_bytes(path)
        if is_pcap(raw):
            raw = cls._capture_messages(path, raw)
        data = np.frombuffer(raw, dtype=np.uint8)
        return cls(data, index_messages(data), path)

    @staticmethod
    def _capture_messages(path: str, raw: bytes) -> bytes:
        """A capture's ITCH messages as binaryFILE bytes, through the project's readers (pcap and pcapng;
        MoldFramer drops the duplicate copies of a capture that holds both A/B lines); the built-in
        classic-pcap walk when the readers are not built."""
        try:
            from testing.collect import CollectingSink
            from feedhandlers.reader import open_feed
        except ImportError:
            payloads, _ = read_pcap_payloads(raw)
            return b"".join(mold_messages(p) for p in payloads)
        sink = CollectingSink()
        feed = open_feed(path)
        try:
            feed.run(sink)
        finally:
            close = getattr(feed, "close", None)
            if close:
                close()
        return b"".join(len(m).to_bytes(2, "big") + m for m in sink.messages())

    @classmethod
    def from_bytes(cls, raw: bytes, source: str = "<bytes>") -> "MoldDay":
        from tickwire.sender import index_messages

        data = np.frombuffer(raw, dtype=np.uint8)
        return cls(data, index_messages(data), source)

    @property
    def messages(self) -> int:
        return len(self.offs) - 1

    def block(self, seq: int, count: int, max_bytes: int) -> tuple[int, bytes]:
        """Up to ``count`` message blocks from ``seq`` fitting in ``max_bytes``: (messages, bytes)."""
        lo = seq - 1
        hi = min(lo + count, self.messages)
        start = int(self.offs[lo])
        # Largest k with offs[lo + k] - start <= max_bytes.
        k = int(np.searchsorted(self.offs[lo:hi + 1], start + max_bytes, side="right")) - 1
        k = max(0, min(k, hi - lo))
        return k, self.data[start:int(self.offs[lo + k])].tobytes()


# ------------------------------------------------------------------ sockets ----
def open_send_socket(iface: str | None = None, ttl: int = 1, loopback: bool = True,
                     sndbuf: int = 4 << 20) -> socket.socket:
    """A UDP socket for multicast sending: TTL, loopback, outgoing interface (name or IPv4 address)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1 if loopback else 0)
    if iface:
        try:
            addr = socket.inet_aton(iface)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, addr)
        except OSError:
            index = socket.if_nametoindex(iface)          # OSError names the missing interface
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, struct.pack("4s4si", b"", b"", index))
    return s


def parse_hostport(text: str, default_port: int | None = None) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        if default_port is None:
            raise ValueError(f"{text!r}: expected HOST:PORT")
        return text, default_port
    return host, int(port)


# ------------------------------------------------------------- retransmitter ----
@dataclass
class RetransCounters:
    requests: int = 0
    bad_requests: int = 0           # not 20 bytes
    wrong_session: int = 0
    out_of_range: int = 0           # seq 0, beyond the last message, or count 0
    packets: int = 0
    messages: int = 0
    send_errors: int = 0


class Retransmitter:
    """Answers MoldUDP64 request packets from memory (a thread, or ``serve_once`` in a loop).

    Request: Session(10) Sequence(8) Count(2), unicast. Answer: an ordinary downstream packet
    (unicast to the requester) with as many of the requested messages as fit in ``max_payload``;
    the client asks again for the rest. Requests for another session or out of range are counted
    and ignored (a request beyond the end gets a heartbeat-like answer carrying the next seq).
    """

    def __init__(self, day: MoldDay, session: bytes = DEFAULT_SESSION, bind: tuple[str, int] = ("0.0.0.0", 0),
                 max_payload: int = MAX_PAYLOAD, drop_first: int = 0, sock: socket.socket | None = None):
        self.day = day
        self.session = session[:10].ljust(10, b" ")
        self.max_payload = max_payload
        self.sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if sock is None:
            self.sock.bind(bind)
        self.sock.settimeout(0.05)
        self.counters = RetransCounters()
        self.drop_first = drop_first          # tests: ignore the first N requests (retry paths)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def answer(self, req: bytes) -> bytes | None:
        c = self.counters
        c.requests += 1
        if len(req) != 20:
            c.bad_requests += 1
            return None
        if req[:10] != self.session:
            c.wrong_session += 1
            return None
        seq, count = struct.unpack_from(">QH", req, 10)
        if seq == 0 or count == 0 or seq > self.day.messages:
            c.out_of_range += 1
            if seq > self.day.messages:
                return self.session + struct.pack(">QH", self.day.messages + 1, 0)
            return None
        k, blocks = self.day.block(seq, count, self.max_payload - 20)
        c.packets += 1
        c.messages += k
        return self.session + struct.pack(">QH", seq, k) + blocks

    def serve_once(self) -> bool:
        try:
            req, addr = self.sock.recvfrom(2048)
        except (socket.timeout, BlockingIOError):
            return False
        if self.drop_first > 0:
            self.drop_first -= 1
            self.counters.requests += 1
            return True
        out = self.answer(req)
        if out is not None:
            try:
                self.sock.sendto(out, addr)
            except OSError:
                self.counters.send_errors += 1
        return True

    def start(self) -> "Retransmitter":
        self._thread = threading.Thread(target=self._run, name="mold-retrans", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.serve_once()
            except OSError:
                if self._stop.is_set():
                    break
                raise

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.sock.close()


# -------------------------------------------------------------------- server ----
@dataclass
class MoldServer:
    """A day served as a MoldUDP64 session: sender (C loop, no GIL) + retransmitter thread.

    ``groups``: one destination per line ([A] or [A, B]); each line gets independent loss.
    Pacing: ``rate`` messages/s, or ``speed`` x the recorded pace, or neither (max rate).
    """

    day: MoldDay
    groups: list[tuple[str, int]]
    session: bytes = DEFAULT_SESSION
    iface: str | None = None
    ttl: int = 1
    retrans_bind: tuple[str, int] = ("0.0.0.0", 0)
    rate: float | None = None
    speed: float | None = None
    loss: float = 0.0
    seed: int = 1
    heartbeat_ms: int = 1000
    max_payload: int = MAX_PAYLOAD
    eos: int = 3
    trailer: bool = True
    retransmit: bool = True
    retrans_drop_first: int = 0
    sender: object = field(default=None, init=False)
    retrans: Retransmitter | None = field(default=None, init=False)
    result: dict | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _error: BaseException | None = field(default=None, init=False)

    def __post_init__(self):
        from tickwire.sender import MoldSender, build_packets, packet_times, plan_packets

        self.session = self.session[:10].ljust(10, b" ")
        first = plan_packets(self.day.offs, self.max_payload, self.trailer)
        self.first = first
        self.buf, self.pkt_offs = build_packets(self.day.data, self.day.offs, first, self.session)
        if self.rate:
            self.schedule = (first[:-1].astype(np.float64) * (1e9 / self.rate)).astype(np.int64)
        elif self.speed:
            t = packet_times(self.day.data, self.day.offs, first)
            self.schedule = ((t - t[0]).astype(np.float64) / self.speed).astype(np.int64) if len(t) else t
        else:
            self.schedule = None
        self.sock = open_send_socket(self.iface, self.ttl)
        self.sender = MoldSender(self.buf, self.pkt_offs, self.sock.fileno(), self.groups, loss=self.loss,
                                 seed=self.seed, trailer=self.trailer)
        if self.retransmit:
            self.retrans = Retransmitter(self.day, self.session, self.retrans_bind, self.max_payload,
                                         drop_first=self.retrans_drop_first)

    @property
    def packets(self) -> int:
        return len(self.pkt_offs) - 1

    @property
    def retrans_address(self) -> tuple[str, int] | None:
        return self.retrans.address if self.retrans else None

    def start(self) -> "MoldServer":
        if self.retrans:
            self.retrans.start()
        self._thread = threading.Thread(target=self._send, name="mold-send", daemon=True)
        self._thread.start()
        return self

    def _send(self) -> None:
        try:
            hb = self.heartbeat_ms * 1_000_000 if self.heartbeat_ms > 0 else 0
            self.result = self.sender.run(self.schedule, heartbeat_ns=hb, eos=self.eos)
        except BaseException as e:          # reported by wait()
            self._error = e

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the sender to finish (End of Session sent); True when done."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._error:
            raise self._error
        return not self._thread.is_alive()

    def heartbeat(self) -> None:
        """One heartbeat now (carrying the next sequence number to be sent)."""
        pos = self.sender.position
        seq = self.sender.next_seq() if pos >= self.packets else struct.unpack_from(
            ">Q", self.buf, int(self.pkt_offs[pos]) + 10)[0]
        self.sender.send_control(seq, 0)

    def stop(self) -> None:
        if self.sender is not None:
            self.sender.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.retrans:
            self.retrans.stop()
        self.sock.close()

    def counters(self) -> dict:
        out = dict(self.sender.counters())
        if self.retrans:
            out.update({f"retrans_{k}": v for k, v in vars(self.retrans.counters).items()})
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
