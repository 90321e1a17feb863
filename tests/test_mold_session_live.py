"""MoldUDP64 over real kernel sockets: server in namespace A, listener in namespace B, joined by a veth.

Loss is injected at the sender (seeded, per line); the listener recovers through the re-request
server; the final books must equal replaying the same day from the file (every symbol's depth).
Bounded waits only: every run has a timeout and fails with the session counters when it expires.
"""
from __future__ import annotations

import pytest

from netns_util import veth_pair

pytestmark = pytest.mark.netns

GROUP_A = "239.77.1.1"
GROUP_B = "239.77.1.2"
PORT = 31001
RUN_TIMEOUT_S = 20


@pytest.fixture(scope="module")
def gen_day(tmp_path_factory):
    from lab.daygen import generate_day

    path = tmp_path_factory.mktemp("mold") / "day.itch"
    generate_day(str(path), 20000, 20, 11)
    return path


def book_snapshot(books):
    """Every book's full depth, BBO and symbol: equal snapshots = identical books."""
    out = {}
    for loc in books.locates():
        out[loc] = (books.symbol(loc), books.bbo(loc), books.depth(loc, 100000))
    return out, books.live_orders


def replay_books(path):
    from book.builder import BookBuilder

    b = BookBuilder()
    b.apply_binaryfile(open(path, "rb").read())
    return b


def run_live(net, day, lines=1, loss=0.0, seed=1, rate=400_000, window_ns=2_000_000, drop_first=0,
             timeout_ns=30_000_000):
    """Serve ``day`` from A to B; returns (session, books, digest sink, listener, server, drop map)."""
    from book.builder import BookBuilder
    from datapath.registry import open_source
    from feedhandlers.mold_session import MoldContext, MoldSession, UdpRequester
    from testing.digest import DigestSink
    from feedhandlers.live import Listener, line
    from lab.moldserve import MoldServer

    groups = [(GROUP_A, PORT), (GROUP_B, PORT)][:lines]
    with net.enter(net.ns_a):
        srv = MoldServer(day, groups, iface=net.if_a, retrans_bind=(net.ip_a, 0), rate=rate, loss=loss, seed=seed,
                         retrans_drop_first=drop_first)
    drops = srv.sender.record_drops()
    with net.enter(net.ns_b):
        srcs = [open_source("udp", port=PORT, group=g, interface=net.if_b, timeout_ms=0) for g, _ in groups]
        req = UdpRequester(srv.retrans_address)
    books = BookBuilder()
    sink = DigestSink(books)
    session = MoldSession(sink, MoldContext(send_request=req), window_ns=window_ns, timeout_ns=timeout_ns)
    listener = Listener(session, [line(s, i) for i, s in enumerate(srcs)], req)
    try:
        srv.start()
        reason = listener.run(until_eos=True, timeout_s=RUN_TIMEOUT_S)
        assert reason == "end of session", f"listener stopped: {reason}; {session.counters()}; {srv.counters()}"
        assert srv.wait(5)
    finally:
        srv.stop()
        req.close()
        for s in srcs:
            s.close()
    return session, books, sink, listener, srv, drops


def message_counts_of_packets(srv):
    import numpy as np

    return np.diff(srv.first)


def test_gap_recovery_with_sender_loss_books_match_file(gen_day):
    from lab.moldserve import MoldDay
    from testing.digest import DigestSink

    day = MoldDay.load(str(gen_day))
    ref = DigestSink()
    ref.feed_binaryfile(day.data)
    with veth_pair() as net:
        session, books, sink, listener, srv, drops = run_live(net, day, lines=1, loss=0.05, seed=3)
    c = session.counters()
    lost_msgs = int((message_counts_of_packets(srv) * drops[:, 0]).sum())
    assert srv.sender.dropped > 0 and lost_msgs > 0
    assert c["unrecoverable"] == 0 and c["gaps"] > 0 and c["requests_sent"] > 0
    assert c["recovered"] >= lost_msgs                       # every dropped message came back by request
    assert sink.digest == ref.digest and sink.count == day.messages
    assert book_snapshot(books) == book_snapshot(replay_books(gen_day))
    books.validate(raise_on_error=True)
    lat = listener.latency()
    assert lat["count"] > 0 and lat["p50"] > 0


def test_ab_independent_loss_recovers_only_what_both_lost(gen_day):
    from lab.moldserve import MoldDay
    from testing.digest import DigestSink

    day = MoldDay.load(str(gen_day))
    ref = DigestSink()
    ref.feed_binaryfile(day.data)
    with veth_pair() as net:
        # a generous window: a copy on the other line is always preferred to a request
        session, books, sink, listener, srv, drops = run_live(net, day, lines=2, loss=0.15, seed=9,
                                                               window_ns=200_000_000, timeout_ns=300_000_000)
    c = session.counters()
    per_pkt = message_counts_of_packets(srv)
    both = int((per_pkt * (drops[:, 0] & drops[:, 1])).sum())
    only_one = int((per_pkt * (drops[:, 0] ^ drops[:, 1])).sum())
    assert both > 0 and only_one > 0, "loss pattern must exercise both cases"
    assert c["unrecoverable"] == 0
    assert sink.digest == ref.digest and sink.count == day.messages
    assert c["wins_a"] > 0 and c["wins_b"] > 0
    assert c["recovered"] == both, c                         # nothing requested that one line carried
    assert c["duplicates_a"] + c["duplicates_b"] > 0
    assert book_snapshot(books) == book_snapshot(replay_books(gen_day))


def test_unanswered_requests_are_retried(gen_day):
    from lab.moldserve import MoldDay

    day = MoldDay.load(str(gen_day))
    with veth_pair() as net:
        session, books, sink, listener, srv, drops = run_live(net, day, lines=1, loss=0.02, seed=5, drop_first=2,
                                                               timeout_ns=20_000_000)
    c = session.counters()
    assert srv.retrans.counters.requests >= 3
    assert c["retries"] >= 1 and c["unrecoverable"] == 0 and sink.count == day.messages


def test_plain_socket_lines_through_adopted_udp_sources(gen_day):
    """Lines read by UdpSource.adopt from plain Python sockets (sockets opened outside the registry)."""
    import socket

    from datapath.udp_source import UdpSource
    from feedhandlers.mold_session import MoldContext, MoldSession, UdpRequester
    from testing.digest import DigestSink
    from feedhandlers.live import Line, Listener
    from lab.moldserve import MoldDay, MoldServer

    day = MoldDay.load(str(gen_day))
    ref = DigestSink()
    ref.feed_binaryfile(day.data)
    with veth_pair() as net:
        with net.enter(net.ns_a):
            srv = MoldServer(day, [(GROUP_A, PORT), (GROUP_B, PORT)], iface=net.if_a, retrans_bind=(net.ip_a, 0),
                             rate=400_000, loss=0.1, seed=2)
        socks = []
        with net.enter(net.ns_b):
            for g in (GROUP_A, GROUP_B):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
                s.bind((g, PORT))
                s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(g) + socket.inet_aton(net.ip_b))
                socks.append(s)
            req = UdpRequester(srv.retrans_address)
        sink = DigestSink()
        session = MoldSession(sink, MoldContext(send_request=req))
        listener = Listener(session, [Line(UdpSource.adopt(s.fileno()), i, s.fileno()) for i, s in enumerate(socks)], req)
        try:
            srv.start()
            reason = listener.run(until_eos=True, timeout_s=RUN_TIMEOUT_S)
        finally:
            srv.stop()
            req.close()
            for s in socks:
                s.close()
    assert reason == "end of session", session.counters()
    assert sink.digest == ref.digest and session.counters()["unrecoverable"] == 0
    assert listener.latency()["count"] > 0


def predicted_drops(seed, loss, npackets, ndest):
    """The sender's loss model (xorshift64* per packet and destination), in Python."""
    m = (1 << 64) - 1
    x = (seed * 0x9E3779B97F4A7C15 + 1) & m
    thr = int(loss * 18446744073709551615.0)
    out = []
    for _ in range(npackets):
        row = []
        for _ in range(ndest):
            x ^= x >> 12
            x ^= (x << 25) & m
            x ^= x >> 27
            row.append(int(((x * 0x2545F4914F6CDD1D) & m) < thr))
        out.append(row)
    return out


def test_tail_loss_recovered_from_end_of_session(gen_day):
    """The last data packet is lost: only End of Session's sequence number reveals the gap."""
    import numpy as np

    from lab.moldserve import MoldDay
    from lab.sender import plan_packets
    from testing.digest import DigestSink

    day = MoldDay.load(str(gen_day))
    npk = len(plan_packets(day.offs, 1400, True)) - 1
    seed = next(s for s in range(1, 1000) if predicted_drops(s, 0.3, npk, 1)[-1][0])
    ref = DigestSink()
    ref.feed_binaryfile(day.data)
    with veth_pair() as net:
        session, books, sink, listener, srv, drops = run_live(net, day, lines=1, loss=0.3, seed=seed)
    assert np.array_equal(drops, np.array(predicted_drops(seed, 0.3, npk, 1), dtype=np.uint8))
    assert drops[-1, 0] == 1
    c = session.counters()
    assert sink.digest == ref.digest and c["unrecoverable"] == 0 and session.ended
