"""A SoupBinTCP 3.00 server for tests and labs: a recorded day replayed as TotalView-ITCH sequenced data.

``SoupServer`` serves a day's ITCH messages (``lab.moldserve.MoldDay``) to any number of clients:
each logs in with a requested sequence number and receives sequenced data ('S') from it, then End
of Session ('Z'). Plain blocking sockets with ``select`` and one thread per connection. The packet
layouts and the client side (``SoupClient``, ``SoupRecovery``, the decoder) are product code in
``feedhandlers/soupbintcp.py``; this module only adds the server.

Used by ``tickwire soup serve`` and by the SoupBinTCP / recovery tests.
"""
from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass

from feedhandlers.soupbintcp import (SOUP_E_PROTOCOL, PacketReader, SoupError, login_accepted, packet,
                                     parse_login_request)


@dataclass
class SoupServerCounters:
    connections: int = 0
    logins_accepted: int = 0
    rejected_not_authorized: int = 0
    rejected_session: int = 0
    logouts: int = 0
    heartbeats_sent: int = 0
    heartbeats_received: int = 0
    messages_sent: int = 0
    unsequenced_received: int = 0
    end_of_session_sent: int = 0
    timeouts: int = 0
    protocol_errors: int = 0
    forced_disconnects: int = 0


class SoupServer:
    """Replays a day's ITCH messages over SoupBinTCP 3.00 to any number of clients.

    Parameters
    ----------
    day : lab.moldserve.MoldDay (messages indexed by sequence number).
    session : session name given in Login Accepted.
    users : {user: password}; None accepts any login.
    heartbeat_s, timeout_s : SoupBinTCP timers (1 s / 15 s by the spec; tests shorten them).
    end_of_session : send 'Z' once the whole day was sent (else keep heartbeating).
    chunk : messages per send.
    disconnect_after : test hook, close each connection after sending this many sequenced messages.
    pause_after : test hook, stop sending sequenced data after this many messages (heartbeats only).
    """

    def __init__(self, day, session: bytes = b"TWSESSION1", users: dict | None = None,
                 bind: tuple[str, int] = ("127.0.0.1", 0), heartbeat_s: float = 1.0, timeout_s: float = 15.0,
                 end_of_session: bool = True, chunk: int = 512, disconnect_after: int | None = None,
                 pause_after: int | None = None, on_unsequenced=None):
        from lab.soup_encode import encode_sequenced  # noqa: F401 (fail early when not built)

        self.day = day
        self.session = session.strip()[:10]
        self.users = users
        self.heartbeat_s = heartbeat_s
        self.timeout_s = timeout_s
        self.end_of_session = end_of_session
        self.chunk = chunk
        self.disconnect_after = disconnect_after
        self.pause_after = pause_after
        self.on_unsequenced = on_unsequenced
        self.counters = SoupServerCounters()
        self._lock = threading.Lock()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(bind)
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        return self.listener.getsockname()

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.counters, name, getattr(self.counters, name) + n)

    def start(self) -> "SoupServer":
        t = threading.Thread(target=self._accept_loop, name="soup-accept", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in list(self._threads):
            t.join(timeout=2)
        self.listener.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            self._count("connections")
            t = threading.Thread(target=self._serve, args=(conn,), name="soup-conn", daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._session(conn)
        except SoupError:
            self._count("protocol_errors")
        except OSError:
            pass
        finally:
            conn.close()

    def _session(self, conn: socket.socket) -> None:
        from lab.soup_encode import encode_sequenced

        reader = PacketReader()
        last_rx = time.monotonic()
        # ---- login
        while True:
            if self._stop.is_set():
                return
            r, _, _ = select.select([conn], [], [], 0.05)
            if r:
                data = conn.recv(65536)
                if not data:
                    return
                reader.feed(data)
                last_rx = time.monotonic()
                pkt = reader.next()
                if pkt is not None:
                    break
            if time.monotonic() - last_rx > self.timeout_s:
                self._count("timeouts")
                return
        kind, payload = pkt
        if kind != b"L":
            raise SoupError(SOUP_E_PROTOCOL, f"first packet {kind!r}, expected a login request")
        user, password, session, seq = parse_login_request(payload)
        if self.users is not None and self.users.get(user) != password:
            self._count("rejected_not_authorized")
            conn.sendall(packet(b"J", b"A"))
            return
        if session and session != self.session:
            self._count("rejected_session")
            conn.sendall(packet(b"J", b"S"))
            return
        total = self.day.messages
        pos = total if seq == 0 or seq > total + 1 else max(seq, 1) - 1      # 0-based next message
        conn.sendall(login_accepted(self.session, pos + 1))
        self._count("logins_accepted")
        sent_here = 0
        last_tx = time.monotonic()
        z_sent = False
        conn.setblocking(False)
        out = b""
        while not self._stop.is_set():
            now = time.monotonic()
            limit = total
            if self.pause_after is not None:
                limit = min(limit, self.pause_after)
            if not out and pos < limit:
                hi = min(pos + self.chunk, limit)
                if self.disconnect_after is not None:
                    hi = min(hi, pos + max(self.disconnect_after - sent_here, 0))
                if hi > pos:
                    out = encode_sequenced(self.day.data, self.day.offs, pos, hi)
                    self._count("messages_sent", hi - pos)
                    sent_here += hi - pos
                    pos = hi
            if not out and pos >= total and self.end_of_session and not z_sent:
                out = packet(b"Z")
                z_sent = True
                self._count("end_of_session_sent")
            if not out and now - last_tx >= self.heartbeat_s:
                out = packet(b"H")
                self._count("heartbeats_sent")
            wl = [conn] if out else []
            r, w, _ = select.select([conn], wl, [], 0.01 if not out else 0.05)
            if w and out:
                try:
                    n = conn.send(out)
                except BlockingIOError:
                    n = 0
                out = out[n:]
                last_tx = time.monotonic()
            elif not out and self.disconnect_after is not None and sent_here >= self.disconnect_after:
                self._count("forced_disconnects")
                return
            if r:
                data = conn.recv(65536)
                if not data:
                    return
                reader.feed(data)
                last_rx = time.monotonic()
                while (pkt := reader.next()) is not None:
                    kind, payload = pkt
                    if kind == b"R":
                        self._count("heartbeats_received")
                    elif kind == b"U":
                        self._count("unsequenced_received")
                        if self.on_unsequenced is not None:
                            self.on_unsequenced(payload)
                    elif kind == b"O":
                        self._count("logouts")
                        return
                    else:
                        raise SoupError(SOUP_E_PROTOCOL, f"unexpected client packet {kind!r} after login")
            if time.monotonic() - last_rx > self.timeout_s:
                self._count("timeouts")
                return
