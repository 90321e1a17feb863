"""LineWatch (tickwire listen --stale-after): a quiet line and a re-request server that does not answer
are reported, and when they are back; injected clock, no sockets."""
from __future__ import annotations

import struct

from feedhandlers.mold_session import MoldContext, MoldSession
from testing.digest import DigestSink
from feedhandlers.live import LineWatch

S = b"SESSION001"
MSG = b"\x00\x0cS" + b"\x00" * 10 + b"O"            # one 12-byte System Event block
SEC = 1_000_000_000


def pkt(seq, n):
    return S + struct.pack(">QH", seq, n) + MSG * n


def hb(seq):
    return S + struct.pack(">QH", seq, 0)


class Clock:
    t = 1_000 * SEC

    def __call__(self):
        return self.t


def setup(send=None, lines=(0, 1)):
    clock = Clock()
    requests = []
    s = MoldSession(DigestSink(), MoldContext(clock, send or requests.append), window_ns=0, scan_ns=0,
                    timeout_ns=SEC // 2, max_timeout_ns=SEC, max_attempts=20)
    events = []
    w = LineWatch(s, lines, 3.0, clock_ns=clock, on_event=lambda *e: events.append(e), watch_server=True)
    return s, w, clock, requests, events


def test_stale_line_reported_once_then_back():
    s, w, clock, _, events = setup()
    s.feed(pkt(1, 5), line=0)
    s.feed(pkt(1, 5), line=1)
    w.check()                                        # a packet is noticed when the watch looks
    for _ in range(5):                               # line A carries heartbeats; line B is silent
        clock.t += SEC
        s.feed(hb(6), line=0)
        w.check()
    assert events == [("stale", "B", 3.0)]          # once, at 3 s
    clock.t += SEC // 2
    s.feed(hb(6), line=1)
    w.check()
    assert events[-1] == ("back", "B", 5.5)
    c = w.counters()
    assert c["stale_line_events"] == {"A": 0, "B": 1} and c["stale_lines_now"] == []
    # everything stops: both lines reported, each once
    for _ in range(10):
        clock.t += SEC
        w.check()
    assert [e[:2] for e in events[2:]] == [("stale", "A"), ("stale", "B")]


def test_server_down_reported_and_recovery_resumes_when_back():
    s, w, clock, requests, events = setup(lines=(0,))
    s.feed(pkt(1, 5))
    s.feed(pkt(11, 5))                               # 6..10 lost
    s.poll()
    assert len(requests) == 1
    for _ in range(7):                               # nobody answers: retries, then "down" after 3 s
        clock.t += SEC // 2
        s.feed(hb(16))
        s.poll()
        w.check()
    assert [e[0] for e in events] == ["server_down"] and w.server_down and w.counters()["retrans_down_events"] == 1
    seq, count = struct.unpack(">QH", requests[-1][10:])
    assert (seq, count) == (6, 5)
    s.feed(pkt(seq, count), line=2)                  # the server is back: its answer fills the gap
    w.check()
    assert events[-1][0] == "server_up" and not w.server_down
    assert s.next_seq == 16 and s.counters()["unrecoverable"] == 0 and s.counters()["recovered"] == 5
    # a later gap is requested and answered as usual: no new "down"
    s.feed(pkt(21, 5))
    s.poll()
    clock.t += SEC
    w.check()
    seq, count = struct.unpack(">QH", requests[-1][10:])
    s.feed(pkt(seq, count), line=2)
    w.check()
    assert s.next_seq == 26 and [e[0] for e in events] == ["server_down", "server_up"]


def test_no_requests_no_server_verdict_and_zero_disables():
    s, w, clock, requests, events = setup()
    s.feed(pkt(1, 5))
    clock.t += 10 * SEC
    s.feed(hb(6))
    w.check()
    assert requests == [] and not w.server_down and events == [("stale", "B", 10.0)]
    off = LineWatch(s, (0,), 0, clock_ns=clock, on_event=lambda *e: events.append(e), watch_server=True)
    clock.t += 100 * SEC
    off.check()
    assert len(events) == 1


def test_silence_after_end_of_session_is_not_stale():
    s, w, clock, _, events = setup(lines=(0,))
    s.feed(pkt(1, 5))
    s.feed(S + struct.pack(">QH", 6, 0xFFFF))
    assert s.ended
    clock.t += 60 * SEC
    w.check()
    assert events == []
