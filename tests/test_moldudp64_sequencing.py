"""MoldFramer: crafted packets for every sequencing rule; exact counters."""
import struct

import pytest

from core import codes
from testing.collect import CollectingSink
from feedhandlers.moldudp64 import MoldFramer, build_packet, split_packets

S1 = b"SESSION001"
S2 = b"SESSION002"


@pytest.fixture(scope="module")
def msgs(data_dir) -> list:
    raw = (data_dir / "itch50" / "RITCH_synthetic_3stocks.NASDAQ_ITCH50").read_bytes()
    out, off = [], 0
    while off < len(raw) and len(out) < 64:
        (n,) = struct.unpack_from(">H", raw, off)
        out.append(raw[off + 2:off + 2 + n])
        off += 2 + n
    return out


def framer(**kw):
    sink = CollectingSink()
    return MoldFramer(sink, **kw), sink


def test_in_order(msgs):
    fr, sink = framer()
    assert fr.feed_packet(build_packet(S1, 1, msgs[0:3]), rx_ns=111) == 3
    assert fr.feed_packet(build_packet(S1, 4, msgs[3:5]), rx_ns=222) == 2
    assert sink.seqs() == [1, 2, 3, 4, 5]
    assert sink.messages() == msgs[0:5]
    assert sink.rx_times() == [111, 111, 111, 222, 222]
    st = fr.stats()
    assert (st["packets"], st["data_packets"], st["messages"], st["gaps"], st["duplicates"]) == (2, 2, 5, 0, 0)
    assert fr.expected_seq == 6 and fr.session == S1 and fr.last_seq == 4


def test_gap_counts_and_skips_ahead(msgs):
    fr, sink = framer()
    fr.feed_packet(build_packet(S1, 1, msgs[0:3]))
    assert fr.feed_packet(build_packet(S1, 7, msgs[3:5])) == 2
    fr.feed_packet(build_packet(S1, 20, msgs[5:6]))
    assert sink.seqs() == [1, 2, 3, 7, 8, 20]
    assert (fr.gaps, fr.missing_messages, fr.expected_seq) == (2, 3 + 11, 21)


def test_expected_seq_given_detects_initial_gap(msgs):
    fr, sink = framer(expected_seq=1)
    fr.feed_packet(build_packet(S1, 5, msgs[0:2]))
    assert (fr.gaps, fr.missing_messages, fr.expected_seq) == (1, 4, 7)


def test_whole_duplicate_dropped(msgs):
    fr, sink = framer()
    fr.feed_packet(build_packet(S1, 1, msgs[0:3]))
    assert fr.feed_packet(build_packet(S1, 1, msgs[0:3])) == codes.MOLD_E_DUPLICATE
    assert fr.feed_packet(build_packet(S1, 2, msgs[1:3])) == codes.MOLD_E_DUPLICATE
    assert sink.seqs() == [1, 2, 3]
    assert (fr.duplicate_packets, fr.duplicate_messages, fr.expected_seq) == (2, 5, 4)


def test_partial_overlap_delivers_only_the_new_tail(msgs):
    fr, sink = framer()
    fr.feed_packet(build_packet(S1, 1, msgs[0:3]))
    assert fr.feed_packet(build_packet(S1, 2, msgs[1:6])) == 3
    assert sink.seqs() == [1, 2, 3, 4, 5, 6]
    assert sink.messages() == msgs[0:6]
    assert (fr.duplicate_packets, fr.duplicate_messages, fr.expected_seq) == (0, 2, 7)


def test_heartbeats(msgs):
    fr, sink = framer()
    fr.feed_packet(build_packet(S1, 1, msgs[0:2]))
    assert fr.feed_packet(build_packet(S1, 3)) == 0               # next expected: no gap
    assert (fr.heartbeats, fr.gaps) == (1, 0)
    fr.feed_packet(build_packet(S1, 2))                           # behind: ignored
    assert (fr.heartbeats, fr.gaps, fr.expected_seq) == (2, 0, 3)
    fr.feed_packet(build_packet(S1, 6))                           # ahead: messages 3..5 were lost
    assert (fr.heartbeats, fr.gaps, fr.missing_messages, fr.expected_seq) == (3, 1, 3, 6)
    assert len(sink) == 2 and fr.data_packets == 1


def test_first_packet_heartbeat_sets_expectation(msgs):
    fr, sink = framer()
    fr.feed_packet(build_packet(S1, 10))
    fr.feed_packet(build_packet(S1, 10, msgs[:1]))
    assert (fr.gaps, fr.expected_seq, sink.seqs()) == (0, 11, [10])


def test_end_of_session(msgs):
    fr, sink = framer()
    fr.feed_packet(build_packet(S1, 1, msgs[0:2]))
    assert fr.feed_packet(build_packet(S1, 3, count=0xFFFF)) == 0
    assert (fr.end_of_session, fr.session_ended, fr.gaps, fr.expected_seq) == (1, True, 0, 3)
    fr.feed_packet(build_packet(S1, 5, count=0xFFFF))             # announces 2 more than we saw
    assert (fr.end_of_session, fr.gaps, fr.missing_messages) == (2, 1, 2)


def test_session_change_resets_expectation(msgs):
    fr, sink = framer()
    fr.feed_packet(build_packet(S1, 100, msgs[0:2]))
    fr.feed_packet(build_packet(S1, 102, count=0xFFFF))
    assert fr.feed_packet(build_packet(S2, 1, msgs[2:4])) == 2    # seq 1 < 102, yet new: not a duplicate
    assert (fr.session_changes, fr.duplicate_messages, fr.gaps, fr.session_ended) == (1, 0, 0, False)
    assert sink.seqs() == [100, 101, 1, 2] and fr.session == S2 and fr.expected_seq == 3


def test_truncated_packet_dropped_whole_then_filled(msgs):
    fr, sink = framer()
    fr.feed_packet(build_packet(S1, 1, msgs[0:2]))
    full = build_packet(S1, 3, msgs[2:5])
    for cut in (len(full) - 1, len(full) - len(msgs[4]) - 2, len(full) - len(msgs[4]) - 1, 21):
        assert fr.feed_packet(full[:cut]) == codes.MOLD_E_TRUNCATED
    assert fr.feed_packet(build_packet(S1, 3, msgs[2:4], count=5)) == codes.MOLD_E_TRUNCATED
    assert (fr.truncated_packets, len(sink), fr.expected_seq, fr.gaps) == (5, 2, 3, 0)
    assert fr.feed_packet(full) == 3                              # the retransmission fills it
    assert sink.seqs() == [1, 2, 3, 4, 5]


def test_short_packet():
    fr, sink = framer()
    assert fr.feed_packet(b"SESSION0010000") == codes.MOLD_E_SHORT
    assert fr.feed_packet(b"") == codes.MOLD_E_SHORT
    assert (fr.short_packets, fr.packets, fr.have_session) == (2, 2, False)


def test_invalid_messages_consume_sequence_numbers(msgs):
    fr, sink = framer()
    unknown = b"Z" + bytes(9)
    bad_len = msgs[5][:1] + bytes(3)
    empty = b""
    n = fr.feed_packet(build_packet(S1, 1, [msgs[0], unknown, bad_len, empty, msgs[1]]))
    assert n == 2
    assert sink.seqs() == [1, 5]
    assert (fr.unknown_types, fr.malformed, fr.messages, fr.expected_seq) == (1, 2, 2, 6)
    assert fr.unknown_by_type() == {ord("Z"): 1}
    assert sum(fr.counts_by_type().values()) == fr.messages


def test_twts_trailer(msgs):
    fr, sink = framer()
    fr.feed_packet(build_packet(S1, 1, msgs[0:2], trailer_ns=1_700_000_000_123_456_789))
    assert fr.last_send_ns == 1_700_000_000_123_456_789 and fr.bad_trailers == 0 and len(sink) == 2
    fr.feed_packet(build_packet(S1, 3, msgs[2:3]))
    assert fr.last_send_ns == 0
    fr.feed_packet(build_packet(S1, 4, trailer_ns=5))             # heartbeat with a trailer
    assert fr.last_send_ns == 5 and fr.heartbeats == 1
    fr.feed_packet(build_packet(S1, 4, msgs[3:4]) + b"junk")      # other trailing bytes: counted, delivered
    fr.feed_packet(build_packet(S1, 5, msgs[4:5]) + b"TWTX" + bytes(8))
    assert fr.bad_trailers == 2 and fr.last_send_ns == 0 and len(sink) == 5


def test_unsequenced_seq_zero(msgs):
    fr, sink = framer()
    for i in range(3):
        assert fr.feed_packet(build_packet(b"\0" * 10, 0, msgs[i:i + 1])) == 1
    assert (fr.unsequenced_packets, fr.duplicate_messages) == (3, 0)
    assert sink.seqs() == [0, 0, 0] and fr.gaps == 0


def test_bist_moldudp64_framing(data_dir):
    raw = (data_dir / "bad_input" / "bist_itch_moldudp64_sample.dat").read_bytes()
    parts = split_packets(raw)
    assert len(parts) == 3 and sum(n for _, n in parts) == len(raw)
    fr, sink = framer()
    seqs, results = [], []
    for off, n in parts:
        results.append(fr.feed_packet(raw[off:off + n]))
        seqs.append(struct.unpack_from(">Q", raw, off + 10)[0])
    assert seqs == [1, 16, 29]
    assert results == [0, 0, codes.MOLD_E_TRUNCATED]             # BIST messages: none is valid ITCH 5.0
    st = fr.stats()
    assert st["truncated_packets"] == 1 and st["data_packets"] == 2 and st["gaps"] == 0
    assert st["unknown_types"] + st["malformed"] == 15 + 13        # every slot accounted, seq consumed
    assert st["messages"] == 0 and len(sink) == 0
    assert st["expected_seq"] == 29
    assert fr.feed_stream(raw) == [codes.MOLD_E_DUPLICATE, codes.MOLD_E_DUPLICATE, codes.MOLD_E_TRUNCATED]


def test_gap_hold_keeps_expectation_until_filled(msgs):
    from feedhandlers.moldudp64 import GAP_HOLD
    fr, sink = framer(gap_action=GAP_HOLD)
    fr.feed_packet(build_packet(S1, 1, msgs[0:2]))
    assert fr.feed_packet(build_packet(S1, 5, msgs[4:6])) == codes.MOLD_E_HELD
    assert fr.feed_packet(build_packet(S1, 7)) == codes.MOLD_E_HELD          # heartbeat past the gap
    assert (fr.gaps, fr.missing_messages, fr.held_packets, fr.expected_seq) == (2, 6, 2, 3)
    assert fr.feed_packet(build_packet(S1, 3, msgs[2:4])) == 2               # the missing ones
    assert fr.feed_packet(build_packet(S1, 5, msgs[4:6])) == 2               # the held packet again
    assert sink.seqs() == [1, 2, 3, 4, 5, 6] and fr.expected_seq == 7
    assert fr.packets == fr.data_packets + fr.held_packets
