"""Forged MoldUDP64 packets inside the plausibility window (issue 9 §1): each is counted as suspect and
dropped, the session's state and every other counter stay as they were.

* a session name that changes mid-stream (not after End of Session): suspect until it is confirmed by
  ``session_confirm`` consecutive, chained packets of the new name; the old session is not reset silently;
* an impossible message count: more messages than the packet's bytes can hold (each block takes at
  least its 2-byte length), or count 0xFFFF (End of Session) on a packet that carries messages, or an End
  of Session below what the session already saw.
Deterministic: injected clock and request sender (tests/test_mold_session.py's harness).
"""
from __future__ import annotations

import struct

from feedhandlers.mold_session import describe
from tests.test_mold_session import S, Harness, day, eos, pkt  # noqa: F401  (day: fixture)

OTHER = b"FORGED0001"


def _clean(h, msgs, start=1):
    for seq, blocks in h.packets(25, start=start):
        assert h.feed(seq, blocks) == len(blocks)
    h.s.feed(eos(len(msgs) + 1))
    h.advance(10**9)


def test_one_packet_of_another_session_mid_stream_is_suspect(day):
    _, msgs, ref = day
    h = Harness(msgs, window_ns=0)
    assert h.feed(1, msgs[0:25]) == 25
    r = h.s.feed(pkt(26, msgs[25:30], session=OTHER))
    assert r == -810 and describe(r)[0] == "MOLD_E_SUSPECT_SESSION"
    c = h.s.counters()
    assert c["suspect_session"] == 1 and c["session_changes"] == 0 and c["unrecoverable"] == 0
    assert h.s.session_name == S and h.s.next_seq == 26 and c["messages"] == 25 and c["high_seq"] == 26
    _clean(h, msgs, start=26)
    c = h.s.counters()
    assert h.s.ended and h.sink.digest == ref.digest and h.requests == []
    assert (c["suspect_session"], c["session_changes"], c["unrecoverable"], c["gaps"], c["not_exact_since"]) \
        == (1, 0, 0, 0, 0)


def test_forged_session_with_a_gap_open_does_not_abandon_it(day):
    """The old behaviour: one packet of another name abandoned the open gap (counted unrecoverable) and
    restarted at sequence 1 of the 'new' session."""
    _, msgs, _ = day
    h = Harness(msgs, window_ns=0)
    h.feed(1, msgs[0:10])
    h.feed(21, msgs[20:30])                                  # 11..20 missing
    assert h.s.feed(pkt(1, msgs[0:5], session=OTHER)) == -810
    assert h.s.feed(pkt(6, msgs[5:10], session=OTHER)) == -810
    c = h.s.counters()
    assert c["suspect_session"] == 2 and c["unrecoverable"] == 0 and h.s.next_seq == 11 and h.s.buffered == 10
    h.advance(1)
    h.answer_all()
    assert h.s.next_seq == 31 and h.s.counters()["recovered"] == 10


def test_new_session_after_end_of_session_is_followed(day):
    _, msgs, _ = day
    h = Harness(msgs[:30], window_ns=0)
    h.feed(1, msgs[0:30])
    h.s.feed(eos(31))
    assert h.s.ended
    assert h.s.feed(pkt(1, msgs[0:5], session=OTHER)) == 5
    c = h.s.counters()
    assert c["session_changes"] == 1 and c["suspect_session"] == 0 and h.s.session_name == OTHER
    assert c["unrecoverable"] == 0 and h.s.next_seq == 6
    assert h.s.feed(pkt(31, msgs[0:3])) == -805             # a late packet of the old session


def test_mid_stream_change_confirmed_by_consecutive_packets(day):
    """A server restarted without End of Session: the new name is followed once ``session_confirm``
    chained packets of it came with none of the old one between; then the abandoned gap is counted."""
    _, msgs, _ = day
    h = Harness(msgs, window_ns=0, session_confirm=3)
    h.feed(1, msgs[0:10])
    h.feed(21, msgs[20:30])                                  # 11..20 missing in the old session
    assert h.s.feed(pkt(1, msgs[0:5], session=OTHER)) == -810
    assert h.s.feed(pkt(6, msgs[5:10], session=OTHER)) == -810
    assert h.s.feed(pkt(31, msgs[30:32])) == 0               # the old session is alive: candidate dropped
    assert h.s.feed(pkt(11, msgs[10:15], session=OTHER)) == -810
    assert h.s.feed(pkt(16, msgs[15:20], session=OTHER)) == -810   # chained: 2 of 3
    assert h.s.feed(pkt(21, msgs[20:25], session=OTHER)) == 0       # third chained packet: followed
    c = h.s.counters()
    assert c["session_changes"] == 1 and h.s.session_name == OTHER and c["suspect_session"] == 4
    # the old session's 11..32 (a hole, then what waited behind it) are abandoned, and said so
    assert c["unrecoverable"] == 22 and c["not_exact_since"] == 11
    # the new session starts at start_seq: its packets dropped while unconfirmed (1..20) are a gap to request
    assert h.s.next_seq == 1 and h.s.high_seq == 26 and h.s.gap_open
    h.advance(1)
    assert [struct.unpack(">QH", r[10:]) for r in h.requests] == [(1, 20)] and h.requests[0][:10] == OTHER


def test_count_larger_than_the_packet_can_hold_is_suspect(day):
    """Count 0xFFFE on a 20-byte packet (or 100 messages in 30 bytes) within the window: no 65,534-message
    gap, nothing requested, nothing given up."""
    _, msgs, ref = day
    h = Harness(msgs, window_ns=0, max_jump=1000)
    assert h.feed(1, msgs[0:25]) == 25
    r = h.s.feed(S + struct.pack(">QH", 30, 0xFFFE))
    assert r == -811 and describe(r)[0] == "MOLD_E_IMPOSSIBLE_COUNT"
    assert h.s.feed(S + struct.pack(">QH", 26, 100) + msgs[25]) == -811
    c = h.s.counters()
    assert c["impossible_count"] == 2 and c["high_seq"] == 26 and c["gaps"] == 0 and not h.s.gap_open
    assert c["bad_packets"] == 0 and c["implausible_seq"] == 0 and c["packets_a"] == 1
    _clean(h, msgs, start=26)
    c = h.s.counters()
    assert h.s.ended and h.sink.digest == ref.digest and h.requests == []
    assert (c["unrecoverable"], c["gaps"], c["gap_messages"], c["impossible_count"]) == (0, 0, 0, 2)


def test_end_of_session_count_with_messages_is_suspect(day):
    """Count 0xFFFF is End of Session, which carries no message: one that does is forged (a sender that
    sends a recorded End of Session as data would also show here)."""
    _, msgs, ref = day
    h = Harness(msgs, window_ns=0)
    assert h.feed(1, msgs[0:25]) == 25
    assert h.s.feed(S + struct.pack(">QH", 26, 0xFFFF) + b"".join(msgs[25:30])) == -811
    assert h.s.feed(S + struct.pack(">QH", 26, 0xFFFF) + b"NOTATWTSSTMP") == -811     # 12 bytes, not a trailer
    assert not h.s.eos_seen and h.s.counters()["impossible_count"] == 2
    # an End of Session below what was already seen would end the session early: suspect too
    assert h.feed(26, msgs[25:50]) == 25
    assert h.s.feed(eos(30)) == -811
    assert not h.s.eos_seen and not h.s.ended and h.s.counters()["impossible_count"] == 3
    # the real one, with or without the TWTS trailer, ends it
    _clean(h, msgs, start=51)
    assert h.s.ended and h.sink.digest == ref.digest
    assert h.s.counters()["impossible_count"] == 3 and h.s.counters()["unrecoverable"] == 0
    t = Harness(msgs[:10], window_ns=0)
    t.feed(1, msgs[0:10])
    assert t.s.feed(eos(11) + b"TWTS" + struct.pack(">Q", 123)) == 0 and t.s.ended
