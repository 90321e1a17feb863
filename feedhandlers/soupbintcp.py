"""SoupBinTCP 3.00 client, and TotalView-ITCH over SoupBinTCP (the TCP replay/recovery path).

Framing: ``u16 BE length`` (of type + payload) + 1-byte type + payload.

Server -> client: '+' debug, 'A' login accepted (Session Alpha 10 padded on the left, Sequence Number
Numeric 20 padded on the left), 'J' login rejected (reason 'A' not authorized, 'S' session not
available), 'S' sequenced data (sequence numbers implicit: the first 'S' after 'A' carries the
accepted sequence number), 'H' server heartbeat, 'Z' end of session.
Client -> server: 'L' login request (Username 6 and Password 10 padded on the right, Requested
Session 10 padded on the left (blank = current), Requested Sequence Number 20 padded on the left
(1 = from the start, 0 = only new messages)), 'U' unsequenced data, 'R' client heartbeat, 'O' logout.
Either side sends a heartbeat after ``heartbeat_s`` (1 s) without sending; a peer silent for
``timeout_s`` (15 s) is dead.

The packet layouts below serve both sides; the server (``SoupServer``, tests and labs) lives in
``lab/soupserve.py``. ``SoupClient`` logs in, delivers the sequenced ITCH
messages to a MessageSink through ``feedhandlers.soup_wire.SoupDecoder`` (validation + delivery in
Cython, no Python object per message), keeps the next expected sequence number and re-logs in from
it after a disconnect. Plain sockets with ``select``:
SoupBinTCP is a recovery / replay path, not the multicast hot path.
"""
from __future__ import annotations

import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from core import codes as _codes
from core.codes import (SOUP_E_CONNECT, SOUP_E_DISCONNECTED, SOUP_E_NOT_AUTHORIZED, SOUP_E_PEER_DEAD,
                        SOUP_E_PROTOCOL, SOUP_E_RECONNECTS, SOUP_E_SESSION_UNAVAILABLE)

# ----------------------------------------------------------------- result codes ----
# SOUP_E_* (-1001..), imported above: values and messages in core/codes.pxd.
class SoupError(_codes.TickwireError, RuntimeError):
    """A SoupBinTCP failure with a SOUP_E_* code; str() = 'NAME (code): message (detail)'."""

    def __init__(self, code: int, detail: str = ""):
        self.reason = _codes.code_message(code)
        self.detail = detail
        super().__init__(code, self.reason + (f" ({detail})" if detail else ""))

    def __reduce__(self):
        return (SoupError, (self.code, self.detail))


# ---------------------------------------------------------------------- packets ----
def packet(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">H", len(payload) + 1) + kind + payload


def alpha_right(value: bytes | str, width: int) -> bytes:
    """Alpha field padded on the right (Username, Password)."""
    v = value.encode() if isinstance(value, str) else value
    return v[:width].ljust(width, b" ")


def alpha_left(value: bytes | str, width: int) -> bytes:
    """Alpha / Numeric field padded on the left (Session, Sequence Number)."""
    v = value.encode() if isinstance(value, str) else value
    return v.strip()[:width].rjust(width, b" ")


def login_request(user: str, password: str, session: bytes = b"", sequence: int = 1) -> bytes:
    return packet(b"L", alpha_right(user, 6) + alpha_right(password, 10) + alpha_left(session, 10)
                  + alpha_left(str(sequence), 20))


def parse_login_request(payload: bytes) -> tuple[str, str, bytes, int]:
    if len(payload) != 46:
        raise SoupError(SOUP_E_PROTOCOL, f"login request of {len(payload)} bytes, expected 46")
    seq_text = payload[26:46].strip()
    if seq_text and not seq_text.isdigit():
        raise SoupError(SOUP_E_PROTOCOL, f"requested sequence number {seq_text!r} is not numeric")
    return (payload[0:6].decode("ascii", "replace").strip(), payload[6:16].decode("ascii", "replace").strip(),
            payload[16:26].strip(), int(seq_text or b"0"))


def login_accepted(session: bytes, sequence: int) -> bytes:
    return packet(b"A", alpha_left(session, 10) + alpha_left(str(sequence), 20))


def parse_login_accepted(payload: bytes) -> tuple[bytes, int]:
    if len(payload) != 30:
        raise SoupError(SOUP_E_PROTOCOL, f"login accepted of {len(payload)} bytes, expected 30")
    seq = payload[10:30].strip()
    if not seq.isdigit():
        raise SoupError(SOUP_E_PROTOCOL, f"login accepted sequence number {seq!r} is not numeric")
    return payload[0:10].strip(), int(seq)


class PacketReader:
    """Reassembles SoupBinTCP packets from a byte stream."""

    def __init__(self):
        self.buf = bytearray()
        self.off = 0

    def feed(self, data: bytes) -> None:
        if self.off and self.off == len(self.buf):
            self.buf.clear()
            self.off = 0
        elif self.off > (1 << 20):
            del self.buf[:self.off]
            self.off = 0
        self.buf += data

    def next(self) -> tuple[bytes, bytes] | None:
        """(type, payload) of the next complete packet, or None."""
        if len(self.buf) - self.off < 2:
            return None
        n = (self.buf[self.off] << 8) | self.buf[self.off + 1]
        if n == 0:
            raise SoupError(SOUP_E_PROTOCOL, "zero-length packet")
        if len(self.buf) - self.off < 2 + n:
            return None
        kind = bytes(self.buf[self.off + 2:self.off + 3])
        payload = bytes(self.buf[self.off + 3:self.off + 2 + n])
        self.off += 2 + n
        return kind, payload


# ----------------------------------------------------------------------- client ----
@dataclass
class SoupClientCounters:
    logins: int = 0
    reconnects: int = 0
    heartbeats_sent: int = 0
    heartbeats_received: int = 0
    debug_packets: int = 0
    unsequenced_sent: int = 0
    end_of_session: int = 0
    bytes_received: int = 0
    debug_text: list = field(default_factory=list)


class SoupClient:
    """SoupBinTCP client delivering TotalView-ITCH sequenced data to a MessageSink.

    ``sequence`` is the first sequence number wanted; afterwards ``next_seq`` is the next expected
    one, and a re-login (after a disconnect or a dead peer) asks for exactly that, in the session
    the server accepted first.
    """

    def __init__(self, server: tuple[str, int], user: str, password: str = "", session: bytes = b"",
                 sequence: int = 1, sink=None, heartbeat_s: float = 1.0, timeout_s: float = 15.0,
                 connect_timeout: float = 5.0, stop_seq: int = 0):
        from feedhandlers.soup_wire import SoupDecoder

        self.server = server
        self.user = user
        self.password = password
        self.session = session.strip()
        self.decoder = SoupDecoder(sink, sequence) if sink is not None else SoupDecoder(None, sequence)
        self.decoder.stop_seq = stop_seq        # a snapshot: deliver up to stop_seq - 1 exactly, then stop
        self.reached = False
        self.heartbeat_s = heartbeat_s
        self.timeout_s = timeout_s
        self.connect_timeout = connect_timeout
        self.sock: socket.socket | None = None
        self.reader = PacketReader()
        self.counters_ = SoupClientCounters()
        self.accepted_seq = 0
        self.ended = False
        self.stop_reason = ""
        self.elapsed_s = 0.0
        self._last_tx = 0.0
        self._last_rx = 0.0

    # ------------------------------------------------------------ session ----
    @property
    def next_seq(self) -> int:
        return self.decoder.next_seq

    def connect(self) -> bytes:
        """Connect and log in from ``next_seq``; returns the session name. Raises SoupError."""
        self.close()
        try:
            self.sock = socket.create_connection(self.server, timeout=self.connect_timeout)
        except OSError as e:
            raise SoupError(SOUP_E_CONNECT, f"{self.server[0]}:{self.server[1]}: {e}") from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = PacketReader()
        self._send(login_request(self.user, self.password, self.session, self.next_seq))
        deadline = time.monotonic() + self.timeout_s
        while True:
            pkt = self.reader.next()
            if pkt is not None:
                kind, payload = pkt
                if kind == b"+":
                    self.counters_.debug_packets += 1
                    if len(self.counters_.debug_text) < 100:
                        self.counters_.debug_text.append(payload.decode("ascii", "replace"))
                    continue
                if kind == b"A":
                    session, seq = parse_login_accepted(payload)
                    self.session = session
                    self.accepted_seq = seq
                    self.decoder.next_seq = seq
                    self.counters_.logins += 1
                    self._last_rx = time.monotonic()
                    self.sock.setblocking(False)
                    self._process()          # sequenced data that came in the same segment as 'A'
                    return session
                if kind == b"J":
                    reason = payload[:1]
                    self.close()
                    if reason == b"S":
                        raise SoupError(SOUP_E_SESSION_UNAVAILABLE, f"session {self.session.decode()!r}")
                    raise SoupError(SOUP_E_NOT_AUTHORIZED, f"user {self.user!r}")
                self.close()
                raise SoupError(SOUP_E_PROTOCOL, f"{kind!r} before the login answer")
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise SoupError(SOUP_E_PEER_DEAD, "no login answer")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                self.close()
                raise SoupError(SOUP_E_DISCONNECTED, "during login")
            self.reader.feed(data)

    def _send(self, data: bytes) -> None:
        if self.sock is None:
            raise SoupError(SOUP_E_DISCONNECTED, "not connected")
        self.sock.settimeout(self.timeout_s)
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.close()
            raise SoupError(SOUP_E_DISCONNECTED, f"send: {e}") from None
        self.sock.setblocking(False)
        self._last_tx = time.monotonic()

    def send_unsequenced(self, payload: bytes) -> None:
        self._send(packet(b"U", payload))
        self.counters_.unsequenced_sent += 1

    def heartbeat(self) -> None:
        self._send(packet(b"R"))
        self.counters_.heartbeats_sent += 1

    def logout(self) -> None:
        """Send 'O' and close."""
        if self.sock is not None:
            try:
                self._send(packet(b"O"))
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    # --------------------------------------------------------------- pump ----
    def _process(self) -> None:
        """Deliver buffered 'S' packets (Cython) and handle the control packets in between."""
        r = self.reader
        while True:
            r.off = self.decoder.scan(r.buf, r.off, len(r.buf))
            if self.decoder.stop_seq and self.decoder.next_seq >= self.decoder.stop_seq:
                self.reached = True          # what follows is beyond the snapshot: left unread
                return
            pkt = r.next()
            if pkt is None:
                return
            kind, payload = pkt
            if kind == b"H":
                self.counters_.heartbeats_received += 1
            elif kind == b"Z":
                self.counters_.end_of_session += 1
                self.ended = True
            elif kind == b"+":
                self.counters_.debug_packets += 1
                if len(self.counters_.debug_text) < 100:
                    self.counters_.debug_text.append(payload.decode("ascii", "replace"))
            elif kind == b"S":          # an 'S' the scanner left (zero-length): count it as a bad message
                self.decoder.next_seq += 1
            else:
                raise SoupError(SOUP_E_PROTOCOL, f"unexpected server packet {kind!r}")

    def poll(self, wait_s: float = 0.05) -> int:
        """Receive what is there (waiting up to ``wait_s``), deliver it, heartbeat when due.

        Returns bytes received; raises SoupError(SOUP_E_DISCONNECTED / SOUP_E_PEER_DEAD).
        """
        if self.sock is None:
            raise SoupError(SOUP_E_DISCONNECTED, "not connected")
        now = time.monotonic()
        if now - self._last_tx >= self.heartbeat_s:
            self.heartbeat()
        wait = max(0.0, min(wait_s, self.heartbeat_s - (now - self._last_tx)))
        r, _, _ = select.select([self.sock], [], [], wait)
        got = 0
        if r:
            try:
                data = self.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError as e:
                self.close()
                raise SoupError(SOUP_E_DISCONNECTED, str(e)) from None
            if data is not None:
                if not data:
                    self.close()
                    raise SoupError(SOUP_E_DISCONNECTED, f"at sequence {self.next_seq}")
                got = len(data)
                self.counters_.bytes_received += got
                self._last_rx = time.monotonic()
                self.reader.feed(data)
                self._process()
        if time.monotonic() - self._last_rx > self.timeout_s:
            self.close()
            raise SoupError(SOUP_E_PEER_DEAD, f"nothing for {self.timeout_s:g} s")
        return got

    def run(self, timeout: float | None = None, until_end_of_session: bool = True,
            max_messages: int | None = None, reconnect: bool = True, max_reconnects: int = 5,
            reconnect_delay_s: float = 0.05) -> str:
        """Log in (if needed) and deliver until End of Session / ``max_messages`` / ``timeout``.

        On a disconnect or a dead peer, re-log in from ``next_seq`` (up to ``max_reconnects`` times).
        Returns the stop reason; raises SoupError on a rejected login or when reconnects run out.
        """
        t0 = time.monotonic()
        failures = 0
        try:
            if self.sock is None:
                self.connect()
            while True:
                if self.reached:
                    self.stop_reason = "sequence reached"
                    break
                if until_end_of_session and self.ended:
                    self.stop_reason = "end of session"
                    break
                if max_messages is not None and self.decoder.messages >= max_messages:
                    self.stop_reason = "max messages"
                    break
                if timeout is not None and time.monotonic() - t0 >= timeout:
                    self.stop_reason = "timeout"
                    break
                try:
                    self.poll(0.05)
                    failures = 0 if self.sock is not None else failures
                except SoupError as e:
                    if e.code not in (SOUP_E_DISCONNECTED, SOUP_E_PEER_DEAD) or not reconnect:
                        raise
                    failures += 1
                    if failures > max_reconnects:
                        raise SoupError(SOUP_E_RECONNECTS, f"{max_reconnects} re-logins failed; last: {e}") from e
                    time.sleep(reconnect_delay_s)
                    try:
                        self.connect()
                        self.counters_.reconnects += 1
                    except SoupError as e2:
                        if e2.code in (SOUP_E_NOT_AUTHORIZED, SOUP_E_SESSION_UNAVAILABLE):
                            raise
        finally:
            self.elapsed_s = time.monotonic() - t0
        return self.stop_reason

    # ------------------------------------------------------------ results ----
    def counters(self) -> dict:
        c = {k: v for k, v in vars(self.counters_).items() if k != "debug_text"}
        c.update(messages=self.decoder.messages, bad_messages=self.decoder.bad_messages,
                 next_seq=self.next_seq, session=self.session.decode("ascii", "replace"))
        return c

    def stats(self) -> dict:
        """The replay-summary ``stats`` dict."""
        return {"messages": self.decoder.messages, "by_type": self.decoder.by_type(),
                "malformed": self.decoder.bad_messages, "bytes": self.counters_.bytes_received}


# ------------------------------------------------------------ MoldUDP64 recovery ----
class SoupRecovery:
    """MoldUDP64 gap recovery over SoupBinTCP: a ``MoldSession`` request sender whose answers come back
    as ordinary MoldUDP64 packets on ``fileno()`` (a local datagram socket the listener pumps as the
    retransmission line, exactly like the answers of a UDP re-request server).

    Each request (Session, Sequence, Count) is served by a short SoupBinTCP login at that sequence
    number (blank requested session: the server's current one), reading ``Count`` sequenced messages
    (or up to End of Session), then a logout. A worker thread does the TCP work, so the feed handler
    never blocks on it. Use it where the exchange offers a TCP replay service instead of (or after)
    a MoldUDP64 re-request server.
    """

    def __init__(self, server: tuple[str, int], user: str, password: str = "", timeout_s: float = 5.0,
                 max_payload: int = 1400):
        import queue

        self.server = server
        self.user = user
        self.password = password
        self.timeout_s = timeout_s
        self.max_payload = max_payload
        self.rsock, self.wsock = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.rsock.setblocking(False)
        self.wsock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.queue: "queue.Queue" = queue.Queue()
        self.requests = 0
        self.fetched = 0
        self.errors = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="soup-recovery", daemon=True)
        self._thread.start()

    def __call__(self, request: bytes) -> None:
        if len(request) != 20:
            raise ValueError(f"MoldUDP64 request of {len(request)} bytes, expected 20")
        session = request[:10]
        seq, count = struct.unpack_from(">QH", request, 10)
        self.requests += 1
        self.queue.put((session, seq, count))

    def fileno(self) -> int:
        return self.rsock.fileno()

    def fetch(self, seq: int, count: int) -> list[bytes]:
        """Messages ``seq`` .. ``seq + count - 1`` (fewer at End of Session) over one SoupBinTCP login."""
        sock = socket.create_connection(self.server, timeout=self.timeout_s)
        try:
            sock.sendall(login_request(self.user, self.password, b"", seq))
            reader = PacketReader()
            out: list[bytes] = []
            accepted = False
            deadline = time.monotonic() + self.timeout_s
            while len(out) < count:
                pkt = reader.next()
                if pkt is None:
                    if time.monotonic() > deadline:
                        raise SoupError(SOUP_E_PEER_DEAD, f"recovery of {count} messages from {seq}")
                    data = sock.recv(65536)
                    if not data:
                        raise SoupError(SOUP_E_DISCONNECTED, f"recovery from {seq}")
                    reader.feed(data)
                    continue
                kind, payload = pkt
                if kind == b"A":
                    _session, first = parse_login_accepted(payload)
                    if first != seq:
                        raise SoupError(SOUP_E_PROTOCOL, f"asked for sequence {seq}, server starts at {first}")
                    accepted = True
                elif kind == b"J":
                    raise SoupError(SOUP_E_SESSION_UNAVAILABLE if payload[:1] == b"S" else SOUP_E_NOT_AUTHORIZED)
                elif kind == b"S" and accepted:
                    out.append(payload)
                elif kind == b"Z":
                    break
            try:
                sock.sendall(packet(b"O"))
            except OSError:
                pass
            return out
        finally:
            sock.close()

    def _work(self) -> None:
        import queue

        while not self._stop.is_set():
            try:
                session, seq, count = self.queue.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                msgs = self.fetch(seq, count)
            except (OSError, SoupError) as e:
                self.errors += 1
                self.last_error = str(e)
                continue                 # the session times out and asks again
            self.fetched += len(msgs)
            i = 0
            while i < len(msgs):         # as MoldUDP64 packets of at most max_payload bytes
                size, j = 20, i
                while j < len(msgs) and size + 2 + len(msgs[j]) <= self.max_payload:
                    size += 2 + len(msgs[j])
                    j += 1
                j = max(j, i + 1)
                body = b"".join(struct.pack(">H", len(m)) + m for m in msgs[i:j])
                try:
                    self.wsock.send(session + struct.pack(">QH", seq + i, j - i) + body)
                except OSError as e:
                    self.errors += 1
                    self.last_error = str(e)
                i = j

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.rsock.close()
        self.wsock.close()
