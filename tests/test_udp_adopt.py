"""UdpSource.adopt (a socket opened elsewhere as a packet source) and the drain walk, over loopback.

No namespaces: unicast on 127.0.0.1 and AF_UNIX socket pairs only, ports chosen by the kernel.
"""
from __future__ import annotations

import socket

import pytest

from datapath.udp_source import UdpSource
from feedhandlers.moldudp64 import build_packet

MSG = b"S" + bytes(11)          # a 12-byte System Event message


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_adopted_unix_socket_reads_bursts_and_stays_open():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        src = UdpSource.adopt(a.fileno())
        assert src.recv() == [] and not src.owns_fd             # never blocks
        b.send(b"x" * 30)
        b.send(b"y" * 40)
        got = src.recv()
        assert [(p, ip) for p, ip, _ in got] == [(b"x" * 30, 0), (b"y" * 40, 0)]
        assert all(ns > 1_600_000_000 * 10**9 for _, _, ns in got)   # kernel stamp or the burst's time
        assert src.rx_packets == 2 and src.rx_bytes == 70
        src.close()
        a.send(b"still open")                                   # close() left the adopted fd alone
        assert b.recv(100) == b"still open"
    finally:
        a.close()
        b.close()


def test_adopt_refuses_a_bad_fd():
    from datapath.source_codes import SourceError

    with pytest.raises(SourceError):
        UdpSource.adopt(-1)


def test_drain_walks_moldudp64_packets():
    """drain's minimal decode is the shared packet walk: messages, gaps, short and truncated packets."""
    port = free_port()
    with UdpSource(port, bind_addr="127.0.0.1", timeout_ms=0) as src:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pkts = [build_packet(b"S", 1, [MSG] * 3, trailer_ns=7), build_packet(b"S", 4, [MSG] * 2),
                build_packet(b"S", 9, [MSG]),                                  # gap: 6..8 missing
                b"short", build_packet(b"S", 10, [MSG] * 2)[:-3],              # 1 whole block, then cut
                build_packet(b"S", 12, count=0), build_packet(b"S", 12, count=0xFFFF)]
        for p in pkts:
            tx.sendto(p, ("127.0.0.1", port))
        tx.close()
        st = src.drain(max_packets=len(pkts), seconds=5)
    assert st["packets"] == len(pkts) and st["messages"] == 3 + 2 + 1 + 1
    assert st["gaps"] == 1 and st["bad"] == 2


def test_session_recovers_through_an_adopted_request_socket(tmp_path):
    """A lossy MoldUDP64 server on loopback; the listener reads the re-request answers with UdpSource.adopt."""
    from feedhandlers.mold_session import MoldContext, MoldSession, UdpRequester
    from testing.digest import DigestSink
    from lab.daygen import generate_day
    from lab.moldserve import MoldDay, MoldServer
    from feedhandlers.live import Listener, line

    generate_day(str(tmp_path / "d.itch"), 20000, 20, 5)
    day = MoldDay.load(str(tmp_path / "d.itch"))
    ref = DigestSink()
    ref.feed_binaryfile(day.data)
    port = free_port()
    rx = UdpSource(port, bind_addr="127.0.0.1", timeout_ms=0)
    srv = MoldServer(day, [("127.0.0.1", port)], retrans_bind=("127.0.0.1", 0), rate=400_000, loss=0.1, seed=3)
    req = UdpRequester(srv.retrans_address)
    sink = DigestSink()
    session = MoldSession(sink, MoldContext(send_request=req))
    try:
        srv.start()
        reason = Listener(session, [line(rx, 0)], req).run(until_eos=True, timeout_s=60)
    finally:
        srv.stop()
        req.close()
        rx.close()
    c = session.counters()
    assert reason == "end of session", c
    assert c["messages"] == day.messages and sink.digest == ref.digest
    assert c["recovered"] > 0 and c["unrecoverable"] == 0
