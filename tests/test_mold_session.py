"""MoldUDP64 session layer, deterministic: injected clock and request sender (no sockets, no sleeps).

Covers in-order pass-through, gaps (arbitration window, request bytes, count cap, partial answers),
timeout / retry with backoff / give-up, the reorder-buffer limit, A/B first-copy-wins, heartbeat
tail gaps, End of Session, session changes, malformed packets, result codes, and a property test
against a naive reference (any interleaving of two lossy lines + answers gives the file's stream).
"""
from __future__ import annotations

import os
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedhandlers.mold_session import MoldContext, MoldSession, describe, request_packet, MOLD_CODES
from core import codes as codes_mod
from testing.digest import DigestSink

S = b"SESSION001"
EXAMPLES = int(os.environ.get("TW_HYP_EXAMPLES", "40"))     # more for a soak run
RITCH = "itch50/RITCH_synthetic_3stocks.NASDAQ_ITCH50"


@pytest.fixture(scope="module")
def day(data_dir):
    raw = (data_dir / RITCH).read_bytes()
    msgs, off = [], 0
    while off < len(raw):
        n = struct.unpack_from(">H", raw, off)[0]
        msgs.append(raw[off:off + 2 + n])
        off += 2 + n
    ref = DigestSink()
    ref.feed_binaryfile(raw)
    return raw, msgs, ref


def pkt(seq, blocks, session=S, trailer=b""):
    return session + struct.pack(">QH", seq, len(blocks)) + b"".join(blocks) + trailer


def hb(seq, session=S):
    return session + struct.pack(">QH", seq, 0)


def eos(seq, session=S):
    return session + struct.pack(">QH", seq, 0xFFFF)


class Clock:
    def __init__(self):
        self.t = 1_000_000_000

    def __call__(self):
        return self.t


class Harness:
    """A session with a manual clock, a recording request sender and an oracle re-request server."""

    def __init__(self, msgs, answer_max=None, **kw):
        self.msgs = msgs
        self.clock = Clock()
        self.requests = []
        self.sink = DigestSink()
        kw.setdefault("window_ns", 1000)
        kw.setdefault("timeout_ns", 10_000)
        kw.setdefault("scan_ns", 0)
        self.s = MoldSession(self.sink, MoldContext(self.clock, self.requests.append), **kw)
        self.answer_max = answer_max

    def packets(self, size=10, start=1):
        return [(seq, self.msgs[seq - 1:seq - 1 + size]) for seq in range(start, len(self.msgs) + 1, size)]

    def feed(self, seq, blocks, line=0, **kw):
        return self.s.feed(pkt(seq, blocks, **kw), line=line)

    def advance(self, ns):
        self.clock.t += ns
        return self.s.poll()

    def answer_all(self):
        """Answer every recorded request from the oracle (as a server would), then clear."""
        reqs, self.requests[:] = list(self.requests), []
        for r in reqs:
            assert len(r) == 20 and r[:10] == S
            seq, count = struct.unpack(">QH", r[10:])
            n = min(count, self.answer_max or count)
            self.s.feed(pkt(seq, self.msgs[seq - 1:seq - 1 + n]), line=2)
        return reqs


# ------------------------------------------------------------------ in order ----
def test_in_order_pass_through_matches_file(day):
    raw, msgs, ref = day
    h = Harness(msgs)
    for seq, blocks in h.packets(25):
        assert h.feed(seq, blocks) == len(blocks)
    h.s.feed(eos(len(msgs) + 1))
    assert h.s.ended
    assert h.sink.digest == ref.digest and h.sink.count == len(msgs)
    c = h.s.counters()
    assert c["gaps"] == 0 and c["requests_sent"] == 0 and c["buffered_peak"] == 0
    assert c["wins_a"] == len(msgs) and sum(h.s.by_type().values()) == len(msgs)
    assert h.advance(10**9) == 0 and h.requests == []


def test_partial_overlap_and_duplicates_counted(day):
    _, msgs, _ = day
    h = Harness(msgs[:40])
    assert h.feed(1, msgs[0:10]) == 10
    assert h.feed(6, msgs[5:15]) == 5                  # first 5 already applied
    assert h.feed(1, msgs[0:10]) == -803               # MOLD_E_DUPLICATE
    c = h.s.counters()
    assert c["duplicates_a"] == 15 and c["duplicate_packets_a"] == 1 and c["messages"] == 15


# ---------------------------------------------------------------------- gaps ----
def test_gap_waits_window_then_requests_exact_range(day):
    _, msgs, ref = day
    h = Harness(msgs, window_ns=5000)
    pk = h.packets(10)
    h.feed(*pk[0])
    h.feed(*pk[2])                                     # 11..20 lost
    assert h.s.counters()["gaps"] == 1 and h.s.counters()["gap_messages"] == 10
    assert h.s.gap_open and h.s.next_seq == 11 and h.s.buffered == 10
    assert h.advance(1) == 0                           # hole seen: pending (A/B window)
    assert h.s.pending_requests() == [(11, 21, "pending", 0)]
    assert h.advance(4000) == 0 and h.requests == []
    assert h.advance(1000) == 1
    assert h.requests == [request_packet(S, 11, 10)] == [S + struct.pack(">QH", 11, 10)]
    h.answer_all()
    assert h.s.next_seq == 31 and h.s.buffered == 0 and not h.s.gap_open
    assert h.s.counters()["recovered"] == 10 and h.s.messages == 30


def test_request_count_capped_and_several_in_flight(day):
    _, msgs, ref = day
    h = Harness(msgs, max_request=40, window_ns=0)
    h.feed(1, msgs[0:10])
    h.feed(211, msgs[210:220])                         # 11..210 lost: 200 messages
    h.advance(1)
    counts = [struct.unpack(">QH", r[10:]) for r in h.requests]
    assert counts == [(11, 40), (51, 40), (91, 40), (131, 40), (171, 40)]
    h.answer_all()
    assert h.s.next_seq == 221 and h.s.counters()["recovered"] == 200


def test_partial_answer_rerequests_rest_without_waiting(day):
    _, msgs, _ = day
    h = Harness(msgs, answer_max=7, window_ns=0, max_request=90)
    h.feed(1, msgs[0:10])
    h.feed(61, msgs[60:70])                            # 11..60 lost
    h.advance(1)
    assert len(h.requests) == 1
    rounds = 0
    while h.s.gap_open:
        h.answer_all()
        h.advance(1)                                   # far below the timeout: progress re-requests at once
        rounds += 1
        assert rounds < 20
    assert h.s.counters()["retries"] == 0 and h.s.next_seq == 71
    assert h.s.counters()["requests_sent"] == 8         # ceil(50 / 7)


def test_timeout_retry_backoff_then_give_up(day):
    _, msgs, _ = day
    h = Harness(msgs, window_ns=0, timeout_ns=1000, max_timeout_ns=3000, max_attempts=4)
    events = []
    h.s.on_gap_event = lambda kind, lo, hi, *rest: events.append((kind, lo, hi))
    h.feed(1, msgs[0:10])
    h.feed(21, msgs[20:30])
    h.advance(1)
    sent_at = [h.clock.t]
    # nobody answers: retries after 1000, then 2000, then 3000 (capped), then give up after the 4th
    for _ in range(20000):
        n_before = len(h.requests)
        h.advance(50)
        if len(h.requests) > n_before:
            sent_at.append(h.clock.t)
        if h.s.counters()["unrecoverable"]:
            break
    gaps = [b - a for a, b in zip(sent_at, sent_at[1:])]
    assert len(sent_at) == 4 and gaps == [1000, 2000, 3000], sent_at
    assert h.s.unrecoverable_ranges == [(11, 21)]
    c = h.s.counters()
    assert c["unrecoverable"] == 10 and c["retries"] == 3 and c["requests_sent"] == 4
    assert h.s.next_seq == 31 and h.s.messages == 20    # the stream continues past the loss
    assert [e[0] for e in events] == ["request", "retry", "retry", "retry", "unrecoverable"]
    # a late answer for the given-up range is a duplicate, not a crash
    assert h.s.feed(pkt(11, msgs[10:20]), line=2) == -803


def test_request_sender_failure_counted_and_retried(day):
    _, msgs, _ = day
    calls = []

    def flaky(p):
        calls.append(p)
        if len(calls) == 1:
            raise OSError("network unreachable")

    clock = Clock()
    sink = DigestSink()
    s = MoldSession(sink, MoldContext(clock, flaky), window_ns=0, timeout_ns=1000, scan_ns=0)
    s.feed(pkt(1, msgs[0:5]))
    s.feed(pkt(11, msgs[10:15]))
    s.poll()
    assert s.counters()["request_errors"] == 1 and s.counters()["requests_sent"] == 0
    clock.t += 1000
    s.poll()
    assert len(calls) == 2 and s.counters()["requests_sent"] == 1
    assert describe(-808) == MOLD_CODES[-808] == ("MOLD_E_REQUEST_IO", "the request sender failed")


# ----------------------------------------------------------------------- A/B ----
def test_ab_other_line_fills_within_window_no_request(day):
    _, msgs, ref = day
    h = Harness(msgs, window_ns=10_000)
    rnd = random.Random(5)
    both = 0
    for seq, blocks in h.packets(12):
        a_lost, b_lost = rnd.random() < 0.2, rnd.random() < 0.2
        if a_lost and b_lost:
            b_lost = False                              # at least one line carries every packet here
        both += len(blocks) if not a_lost and not b_lost else 0
        if not a_lost:
            h.feed(seq, blocks, line=0)
        if not b_lost:
            h.feed(seq, blocks, line=1)
        h.advance(100)                                  # B trails A by far less than the window
    h.s.feed(eos(len(msgs) + 1))
    assert h.s.ended and h.requests == []
    assert h.sink.digest == ref.digest
    c = h.s.counters()
    assert c["wins_a"] + c["wins_b"] == len(msgs) and c["wins_b"] > 0 and c["recovered"] == 0
    assert c["duplicates_a"] + c["duplicates_b"] == both     # every second copy dropped, per line


def test_ab_both_lines_lose_is_requested(day):
    _, msgs, ref = day
    h = Harness(msgs[:100], window_ns=2000)
    pk = h.packets(10)
    for i, (seq, blocks) in enumerate(pk):
        if i != 3:
            h.feed(seq, blocks, line=0)
        if i not in (3, 6):
            h.feed(seq, blocks, line=1)
    h.advance(1)
    h.advance(2000)
    assert [struct.unpack(">QH", r[10:]) for r in h.requests] == [(31, 10)]
    h.answer_all()
    h.s.feed(eos(101), line=1)
    assert h.s.ended and h.s.counters()["recovered"] == 10
    assert h.s.counters()["duplicates_b"] == 80 and h.s.counters()["wins_a"] == 90


# ------------------------------------------------------------ buffer limits ----
def test_ring_full_gives_up_the_oldest_gap_not_the_arrived_messages(day):
    _, msgs, ref = day
    h = Harness(msgs[:400], ring_size=64, window_ns=0, max_request=100)
    assert h.s.ring_size == 64
    events = []
    h.s.on_gap_event = lambda kind, lo, hi, *rest: events.append((kind, lo, hi) + rest)
    h.feed(1, msgs[0:10])
    codes = [h.feed(seq, msgs[seq - 1:seq + 9]) for seq in range(21, 401, 10)]   # 11..20 lost, never answered
    assert codes_mod.MOLD_E_OVERFLOW not in codes and codes[5] == 60            # seq 71 needs room: 11..20 given up, 21..80 applied
    c = h.s.counters()
    assert c["overflow"] == 10 and c["unrecoverable"] == 10 and h.s.unrecoverable_ranges == [(11, 21)]
    assert h.s.buffered == 0 and c["buffered_peak"] <= 64 and h.s.next_seq == 401 and c["not_exact_since"] == 11
    assert events[-1][:3] == ("unrecoverable", 11, 21) and "reorder buffer of 64 messages" in events[-1][3]
    h.answer_all()                                        # a late answer is a duplicate
    h.s.feed(eos(401))
    assert h.s.ended and h.sink.count == 390


# --------------------------------------------------- heartbeat / end of session ----
def test_heartbeat_reveals_tail_gap(day):
    _, msgs, _ = day
    h = Harness(msgs[:30], window_ns=0)
    h.feed(1, msgs[0:10])
    assert h.s.feed(hb(11)) == 0 and not h.s.gap_open
    assert h.s.feed(hb(21)) == 0                         # 11..20 were sent and lost: tail gap
    assert h.s.gap_open and h.s.counters()["gaps"] == 1 and h.s.counters()["heartbeats"] == 2
    h.advance(1)
    assert [struct.unpack(">QH", r[10:]) for r in h.requests] == [(11, 10)]
    h.answer_all()
    assert h.s.next_seq == 21 and not h.s.gap_open


def test_end_of_session_waits_for_tail(day):
    _, msgs, _ = day
    h = Harness(msgs[:30], window_ns=0)
    h.feed(1, msgs[0:20])
    h.s.feed(eos(31))
    assert h.s.eos_seen and not h.s.ended and h.s.end_seq == 31
    h.advance(1)
    h.answer_all()
    assert h.s.ended and h.sink.count == 30


# ----------------------------------------------------------- sessions ----
def test_session_change_resets_and_drops_old_session(day):
    """session_confirm=1: one packet of a new name is enough (the default asks for 8 chained ones
    mid-stream: tests/test_mold_session_forged.py)."""
    _, msgs, _ = day
    h = Harness(msgs, session_confirm=1)
    h.feed(1, msgs[0:10])
    h.feed(21, msgs[20:30])                              # leaves a gap in the old session
    new = b"SESSION002"
    assert h.s.feed(pkt(1, msgs[0:5], session=new)) == 5
    c = h.s.counters()
    assert c["session_changes"] == 1 and h.s.session_name == new and h.s.next_seq == 6
    assert c["unrecoverable"] == 20 and h.s.buffered == 0    # 11..30 of the old session abandoned
    assert h.s.feed(pkt(31, msgs[30:40])) == -805            # late packet of the old session
    assert h.s.counters()["wrong_session"] == 1
    h.advance(1)
    assert h.requests == []


def test_pinned_session_ignores_others(day):
    _, msgs, _ = day
    clock = Clock()
    s = MoldSession(DigestSink(), MoldContext(clock, lambda p: None), session=b"SESSION001")
    assert s.feed(pkt(1, msgs[:3], session=b"OTHERSESS1")) == -805
    assert s.feed(pkt(1, msgs[:3])) == 3 and s.counters()["wrong_session"] == 1


def test_late_join_start_seq_zero(day):
    _, msgs, _ = day
    h = Harness(msgs, start_seq=0)
    assert h.feed(501, msgs[500:510]) == 10
    assert h.s.next_seq == 511 and not h.s.gap_open


# --------------------------------------------------------------- malformed ----
def test_malformed_packets_counted_and_dropped(day):
    _, msgs, _ = day
    h = Harness(msgs[:20])
    assert h.s.feed(b"SHORT") == -801
    assert describe(-801) == ("MOLD_E_SHORT", "packet shorter than the 20-byte MoldUDP64 header")
    # count says 3, only 2 blocks and half of the third: the first two are applied, the rest is a gap
    trunc = pkt(1, msgs[0:3])[:-5]
    trunc = trunc[:18] + struct.pack(">H", 3) + trunc[20:]
    assert h.s.feed(trunc) == 2
    assert h.s.counters()["bad_packets"] == 2 and h.s.next_seq == 3     # the short one + this one
    assert describe(-802)[0] == "MOLD_E_TRUNCATED"
    # an unknown type / wrong length consumes its sequence number but is not applied
    bad = struct.pack(">H", 5) + b"Zabcd"
    assert h.feed(3, [bad, msgs[3]]) == 1
    assert h.s.counters()["bad_messages"] == 1 and h.s.next_seq == 5
    # bytes after the last message that are not a TWTS trailer
    assert h.feed(5, [msgs[4]], trailer=b"junk") == 1 and h.s.counters()["trailing_bytes"] == 1
    assert describe(3) == ("OK", "3 messages applied") and describe(-99)[0] == "UNKNOWN(-99)"


def test_bist_sample_is_not_itch50(data_dir):
    """Real MoldUDP64 packets carrying Borsa Istanbul ITCH: framed, every message refused, no crash."""
    raw = (data_dir / "bad_input" / "bist_itch_moldudp64_sample.dat").read_bytes()
    s = MoldSession(DigestSink(), MoldContext(Clock(), lambda p: None), start_seq=0, scan_ns=0)
    off, codes = 0, []
    while off + 20 <= len(raw):
        count = struct.unpack_from(">H", raw, off + 18)[0]
        p = off + 20
        for _ in range(count):
            if p + 2 > len(raw):
                break
            p += 2 + struct.unpack_from(">H", raw, p)[0]
        codes.append(s.feed(raw[off:min(p, len(raw))]))
        off = p
    c = s.counters()
    assert s.messages == 0 and c["bad_messages"] > 0
    assert c["bad_packets"] == 1 and codes[-1] in (-802, 0)    # the last packet is truncated


def test_twts_latency_sample(day):
    _, msgs, _ = day
    h = Harness(msgs[:20])
    import time
    stamp = time.time_ns() - 5_000
    assert h.feed(1, msgs[0:10], trailer=b"TWTS" + struct.pack(">Q", stamp)) == 10
    lat = h.s.drain_latency()
    assert len(lat) == 1 and 5_000 <= int(lat[0]) < 10**10
    # buffered packet: the sample is taken when its last message is applied, not when it arrived
    h.feed(16, msgs[15:20], trailer=b"TWTS" + struct.pack(">Q", stamp))
    assert len(h.s.drain_latency()) == 0
    h.feed(11, msgs[10:15])
    assert len(h.s.drain_latency()) == 1 and h.s.next_seq == 21


# ------------------------------------------------------------ property tests ----
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 30), loss_a=st.floats(0, 0.5),
       loss_b=st.floats(0, 0.5), reorder=st.integers(0, 6), answer_max=st.integers(1, 100),
       ring=st.sampled_from([32, 256, 65536]))
def test_any_two_lossy_lines_give_the_file_stream(day, seed, size, loss_a, loss_b, reorder, answer_max, ring):
    """Naive reference = the file's messages in order. Any loss/reorder/duplication on two lines plus
    re-request answers (possibly partial) must apply exactly that stream: same digest, nothing lost."""
    _, msgs, _ = day
    msgs = msgs[:1500]
    ref = DigestSink()
    ref.feed_binaryfile(b"".join(msgs))
    rnd = random.Random(seed)
    h = Harness(msgs, answer_max=answer_max, window_ns=500, timeout_ns=5000, ring_size=ring, max_attempts=50)
    events = []
    for seq, blocks in h.packets(size):
        if rnd.random() >= loss_a:
            events.append((0, seq, blocks))
        if rnd.random() >= loss_b:
            events.append((1, seq, blocks))
        if rnd.random() < 0.05:
            events.append((rnd.randrange(2), seq, blocks))       # duplicate copy
    for i in range(len(events)):                                 # local reordering
        j = min(len(events) - 1, i + rnd.randrange(reorder + 1))
        events[i], events[j] = events[j], events[i]
    for k, (line, seq, blocks) in enumerate(events):
        h.feed(seq, blocks, line=line)
        if k % 7 == 0:
            h.advance(200)
            if rnd.random() < 0.5:
                h.answer_all()
    h.s.feed(eos(len(msgs) + 1), line=rnd.randrange(2))
    for _ in range(5000):
        if h.s.ended:
            break
        h.advance(1000)
        h.answer_all()
    assert h.s.ended, h.s.counters()
    c = h.s.counters()
    # Nothing is lost for good except what a full ring forced to give up early (max_attempts=50: no
    # give-up by retries); whatever did arrive is applied, in order, with its sequence number.
    lost = {q for lo, hi in h.s.unrecoverable_ranges for q in range(lo, hi)}
    assert c["unrecoverable"] == c["overflow"] == len(lost)
    assert (h.sink.digest, h.sink.count) == digest_without(msgs, lost)
    assert c["wins_a"] + c["wins_b"] + c["recovered"] == len(msgs) - len(lost)
    if ring == 65536:
        assert not lost
    assert c["invariant_violations"] == 0            # counted only by the TW_DEBUG build


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=120), max_size=30), st.integers(0, 2))
def test_fuzz_random_packets_never_crash(packets, line):
    clock = Clock()
    s = MoldSession(DigestSink(), MoldContext(clock, lambda p: None), ring_size=64, scan_ns=0, window_ns=0)
    for p in packets:
        r = s.feed(S + p if len(p) % 2 else p, line=line)
        assert r >= 0 or -811 <= r <= -801 and r not in (-807, -808)     # never the poll-only codes
        clock.t += 1000
        s.poll()
    c = s.counters()
    assert c["buffered"] <= 64 and c["invariant_violations"] == 0


def test_requested_hole_split_by_other_line_keeps_its_request(day):
    """A line fills the middle of a requested hole: both pieces stay covered by that request (no new
    window, no duplicate request) and are retried at its deadline, each on its own."""
    _, msgs, _ = day
    h = Harness(msgs[:60], window_ns=0, timeout_ns=10_000)
    h.feed(1, msgs[0:10])
    h.feed(41, msgs[40:50])
    h.advance(1)
    assert [struct.unpack(">QH", r[10:]) for r in h.requests] == [(11, 30)]
    h.requests.clear()
    h.feed(21, msgs[20:30], line=1)                      # line B fills the middle
    assert h.advance(5_000) == 0 and h.requests == []     # nothing to do before the deadline
    h.advance(5_000)                                     # the request's deadline: each piece retried
    assert sorted(struct.unpack(">QH", r[10:]) for r in h.requests) == [(11, 10), (31, 10)]
    assert h.s.pending_requests() == [(11, 21, "sent", 2), (31, 41, "sent", 2)]
    h.answer_all()
    assert h.s.next_seq == 51 and h.s.counters()["recovered"] == 20 and h.s.counters()["wins_b"] == 10


def test_implausible_sequence_numbers_refused(day):
    """A corrupt sequence number must not open a 2^60-message gap; a late join re-anchors instead."""
    _, msgs, _ = day
    h = Harness(msgs, max_jump=1000)
    assert h.feed(1, msgs[0:10]) == 10
    assert h.feed(1 << 60, msgs[0:3]) == -809                        # far beyond: dropped
    assert h.s.feed(S + struct.pack(">QH", (1 << 64) - 2, 5) + b"".join(msgs[:5])) == -809   # wraps
    assert describe(-809)[0] == "MOLD_E_IMPLAUSIBLE_SEQ"
    c = h.s.counters()
    assert c["implausible_seq"] == 2 and h.s.high_seq == 11 and not h.s.gap_open
    assert h.feed(11, msgs[10:20]) == 10
    # late join: the first packet after joining is 5000 ahead of start_seq=1 -> follow from there
    # late join: the first packets after joining are 5000 ahead of start_seq=1 -> follow from there once a
    # second packet agrees (one far-ahead datagram alone is suspect: dropped and counted)
    late = Harness(msgs, max_jump=1000)
    assert late.feed(5001, msgs[5000:5010]) == -809
    assert late.feed(5001, msgs[5000:5010], line=1) == 10              # line B's copy confirms it
    assert late.s.next_seq == 5011 and late.s.counters()["late_join_skipped"] == 5000 and not late.s.gap_open
    single = Harness(msgs, max_jump=1000)
    assert single.feed(5001, msgs[5000:5010]) == -809
    assert single.feed(5011, msgs[5010:5020]) == 10                    # the next packet confirms it
    c = single.s.counters()
    assert c["late_join_skipped"] == 5010 and c["implausible_seq"] == 1 and not single.s.gap_open


def test_one_forged_datagram_before_the_feed_changes_no_counter(day):
    """A lone 20-byte packet with count 0xFFFE and sequence 2^63 before the real feed: dropped as
    suspect, not a late join (no 2^63 skipped) and no 65,534-message gap."""
    _, msgs, ref = day
    h = Harness(msgs, window_ns=0)
    assert h.s.feed(S + struct.pack(">QH", 1 << 63, 0xFFFE)) == -809
    for seq, blocks in h.packets(25):
        assert h.feed(seq, blocks) == len(blocks)
    h.s.feed(eos(len(msgs) + 1))
    h.advance(10**9)
    assert h.s.ended and h.sink.digest == ref.digest and h.requests == []
    c = h.s.counters()
    assert c["implausible_seq"] == 1 and c["late_join_skipped"] == 0 and c["unrecoverable"] == 0
    assert c["gaps"] == 0 and c["gap_messages"] == 0 and c["high_seq"] == len(msgs) + 1
    # the same datagram mid-stream (and a forged End of Session) is dropped the same way
    assert h.s.feed(S + struct.pack(">QH", 1 << 63, 0xFFFF)) == -809
    assert h.s.counters()["implausible_seq"] == 2 and h.s.end_seq == len(msgs) + 1
    # forged with another session name: the real session is still the one followed (no session change)
    other = Harness(msgs)
    assert other.s.feed(b"FORGED0001" + struct.pack(">QH", 1 << 63, 0xFFFE)) == -809
    assert other.feed(1, msgs[0:10]) == 10
    assert other.s.session_name == S and other.s.counters()["session_changes"] == 0


# --------------------------------------------- gaps that cannot be recovered ----
def digest_without(msgs, lost):
    """Reference digest of the file's messages minus the sequence numbers in ``lost`` (kept seqs)."""
    ref, run, first = DigestSink(), [], 1
    for i, m in enumerate(msgs, 1):
        if i in lost:
            if run:
                ref.feed_binaryfile(b"".join(run), first_seq=first)
            run, first = [], i + 1
        else:
            run.append(m)
    if run:
        ref.feed_binaryfile(b"".join(run), first_seq=first)
    return ref.digest, ref.count


def _lossy_day(msgs, seed, loss, size=10):
    """Packets of ``size`` messages with seeded loss: (kept packets, lost sequence numbers)."""
    rnd = random.Random(seed)
    kept, lost = [], set()
    for seq in range(1, len(msgs) + 1, size):
        blocks = msgs[seq - 1:seq - 1 + size]
        if rnd.random() < loss:
            lost.update(range(seq, seq + len(blocks)))
        else:
            kept.append((seq, blocks))
    return kept, lost


@pytest.mark.parametrize("requester", ["none", "never_answers"])
@pytest.mark.parametrize("ring", [256, 4096])
def test_unrecoverable_gaps_cost_exactly_the_lost_messages(day, requester, ring):
    """No re-request server, or one that never answers: a gap waits longer than the ring takes to fill.
    The oldest gap is given up early instead of dropping what arrived: exactly the lost messages are
    unrecoverable, every other one is applied in order, and End of Session is reached."""
    _, msgs, _ = day
    kept, lost = _lossy_day(msgs, seed=7, loss=0.02)
    assert lost
    clock = Clock()
    sent = []
    ctx = MoldContext(clock) if requester == "none" else MoldContext(clock, sent.append)
    sink = DigestSink()
    s = MoldSession(sink, ctx, ring_size=ring, window_ns=1000, timeout_ns=50_000, max_timeout_ns=1_000_000,
                    scan_ns=0)
    events = []
    s.on_gap_event = lambda kind, lo, hi, *rest: events.append((kind, lo, hi) + rest)
    for seq, blocks in kept:
        assert s.feed(pkt(seq, blocks)) >= 0
        clock.t += 100                                   # 10 messages / 100 ns: the ring fills long before
        s.poll()                                         # the retries of a never-answered gap run out
    s.feed(eos(len(msgs) + 1))
    for _ in range(100):
        if s.ended:
            break
        clock.t += 1_000_000
        s.poll()
    assert s.ended
    c = s.counters()
    assert sink.count == len(msgs) - len(lost) == c["messages"]
    assert (sink.digest, sink.count) == digest_without(msgs, lost)
    assert c["unrecoverable"] == len(lost) and c["buffered"] == 0
    given_up = set()
    for lo, hi in s.unrecoverable_ranges:
        given_up.update(range(lo, hi))
    assert given_up == lost and s.unrecoverable_ranges == sorted(s.unrecoverable_ranges)
    assert c["not_exact_since"] == min(lost)
    kinds = {e[0] for e in events}
    assert kinds == {"unrecoverable"} if requester == "none" else "unrecoverable" in kinds
    details = " ".join(e[3] for e in events if e[0] == "unrecoverable")
    if requester == "none":
        assert sent == [] and c["requests_sent"] == 0 and "requests unanswered" not in details
        assert "no re-request server" in details
    else:
        assert c["overflow"] > 0 and "reorder buffer" in details     # the early give-up was needed


def test_no_recovery_gives_up_after_the_window(day):
    _, msgs, _ = day
    clock = Clock()
    s = MoldSession(DigestSink(), MoldContext(clock), window_ns=1000, scan_ns=0)
    s.feed(pkt(1, msgs[0:10]))
    s.feed(pkt(21, msgs[20:30]))
    s.poll()
    assert s.unrecoverable_ranges == [] and s.gap_open           # the other line may still fill it
    clock.t += 1000
    s.poll()
    assert s.unrecoverable_ranges == [(11, 21)] and s.next_seq == 31 and s.counters()["retries"] == 0
