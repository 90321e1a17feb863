"""Fuzzing every decoder (hypothesis): random bytes and mutated real files.

Properties: never a crash or a hang; every outcome is either a result or a FeedError with a code of
the right family; counters add up; and the fast paths agree with naive Python references
(binaryFILE framing and MoldUDP64 sequencing written here from the rules in docs/feedhandlers.md).
"""
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from core import codes
from core.codes import FeedError
from testing.collect import CollectingSink
from feedhandlers.itch import ItchFramer, decode_message, spec_length
from feedhandlers.moldudp64 import MoldFramer, build_packet
from datapath.pcap_source import PcapSource

from conftest import DATA

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ITCH_CODES = {codes.ITCH_E_TRUNCATED, codes.ITCH_E_ZERO_LENGTH, codes.ITCH_E_NOT_ITCH50,
              codes.ITCH_E_ZERO_LENGTH_UNKNOWN, codes.ITCH_E_LOST_FRAMING}
PCAP_CODES = {codes.PCAP_E_BAD_MAGIC, codes.PCAP_E_TRUNCATED, codes.PCAP_E_BAD_BLOCK, codes.PCAP_E_LINKTYPE,
              codes.PCAP_E_EMPTY, codes.PCAP_E_VERSION}

SNIPPET = (DATA / "itch50" / "12302019_SNIPPET.NASDAQ_ITCH50").read_bytes()[:6000]
PCAP = (DATA / "pcap/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/AddOrderWithMPID.pcap").read_bytes()


def mutate(data: st.DataObject, buf: bytes) -> bytes:
    """Bit flips, byte overwrites (length fields included), truncation and splices."""
    b = bytearray(buf)
    for _ in range(data.draw(st.integers(0, 8))):
        kind = data.draw(st.sampled_from(["flip", "byte", "len", "cut", "dup"]))
        if not b:
            break
        i = data.draw(st.integers(0, len(b) - 1))
        if kind == "flip":
            b[i] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "byte":
            b[i] = data.draw(st.integers(0, 255))
        elif kind == "len" and i + 2 <= len(b):
            b[i:i + 2] = struct.pack(">H", data.draw(st.sampled_from([0, 1, 2, 0xFFFF, 36, 40, 12])))
        elif kind == "cut":
            del b[i:]
        elif kind == "dup":
            j = data.draw(st.integers(i, min(len(b), i + 64)))
            b[i:i] = b[i:j]
    return bytes(b)


# ---------------------------------------------------------------- binaryFILE ----
def ref_frame(buf: bytes, recover: bool):
    """Naive binaryFILE framing with probe_frames=0: (delivered, unknown, malformed, error, offset)."""
    off, out, unknown, malformed = 0, [], 0, 0
    while off < len(buf):
        if off + 2 > len(buf):
            return out, unknown, malformed, codes.ITCH_E_TRUNCATED, off
        (n,) = struct.unpack_from(">H", buf, off)
        if n == 0:
            if off + 3 > len(buf):
                return out, unknown, malformed, codes.ITCH_E_TRUNCATED, off
            if not recover:
                return out, unknown, malformed, codes.ITCH_E_ZERO_LENGTH, off
            n = spec_length(buf[off + 2])
            if n == 0:
                return out, unknown, malformed, codes.ITCH_E_ZERO_LENGTH_UNKNOWN, off
        elif n > 50:                                       # longer than any ITCH 5.0 message
            return out, unknown, malformed, codes.ITCH_E_LOST_FRAMING, off
        if off + 2 + n > len(buf):
            return out, unknown, malformed, codes.ITCH_E_TRUNCATED, off
        m = buf[off + 2:off + 2 + n]
        if spec_length(m[0]) == n:
            out.append(m)
        elif spec_length(m[0]) == 0:
            unknown += 1
        else:
            malformed += 1
        off += 2 + n
    return out, unknown, malformed, 0, None


def run_framer(buf, cuts, **kw):
    sink = CollectingSink()
    fr = ItchFramer(sink, **kw)
    err = None
    try:
        for a, b in zip([0] + cuts, cuts + [len(buf)]):
            fr.feed(buf[a:b])
        fr.finish()
    except FeedError as e:
        err = e
    return fr, sink, err


def check_counters(fr):
    st = fr.stats()
    assert st["frames"] == st["messages"] + st["unknown_types"] + st["malformed"]
    assert sum(st["by_type"].values()) == st["messages"]
    assert sum(st["unknown_by_type"].values()) == st["unknown_types"]
    assert st["bytes"] <= fr.bytes_in


@FUZZ
@given(st.data(), st.booleans())
def test_framer_matches_reference_on_mutated_file(data, recover):
    buf = mutate(data, SNIPPET)
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(buf) - 1)), max_size=6)))) if len(buf) > 1 else []
    fr, sink, err = run_framer(buf, cuts, recover_zero_lengths=recover, probe_frames=0)
    out, unknown, malformed, code, off = ref_frame(buf, recover)
    assert sink.messages() == out
    assert (fr.unknown_types, fr.malformed) == (unknown, malformed)
    if code:
        assert err is not None and err.code == code and err.offset == off, (err, code, off)
    else:
        assert err is None
    check_counters(fr)


@FUZZ
@given(st.binary(max_size=3000), st.booleans(), st.integers(0, 16))
def test_framer_random_bytes(buf, recover, probe):
    fr, sink, err = run_framer(buf, [], recover_zero_lengths=recover, probe_frames=probe)
    assert err is None or err.code in ITCH_CODES
    check_counters(fr)
    if err is None and probe and fr.frames:
        # accepted: the leading frames really were ITCH 5.0 types of spec length
        assert fr.messages >= min(probe, fr.frames)


@FUZZ
@given(st.binary(min_size=0, max_size=80))
def test_decode_message_random(buf):
    try:
        m = decode_message(buf)
    except FeedError as e:
        assert e.code in (codes.ITCH_E_UNKNOWN_TYPE, codes.ITCH_E_BAD_LENGTH)
    else:
        assert len(buf) == spec_length(buf[0]) and m.type == chr(buf[0])
        assert m.timestamp < 1 << 48


# ---------------------------------------------------------------- MoldUDP64 ----
def ref_mold(packets):
    """Naive MoldUDP64 sequencing (the rules of moldudp64.pyx) -> (delivered [(seq, msg)], counters)."""
    c = dict(short=0, trunc=0, gaps=0, missing=0, dup_pk=0, dup_msg=0, hb=0, eos=0, data=0, unknown=0, malformed=0,
             sessions=0)
    out, session, exp = [], None, 0
    for p in packets:
        if len(p) < 20:
            c["short"] += 1
            continue
        sess, seq, count = p[:10], *struct.unpack_from(">QH", p, 10)
        msgs, off, ok = [], 20, True
        if count != 0xFFFF:
            for _ in range(count):
                if off + 2 > len(p) or off + 2 + struct.unpack_from(">H", p, off)[0] > len(p):
                    ok = False
                    break
                (n,) = struct.unpack_from(">H", p, off)
                msgs.append(p[off + 2:off + 2 + n])
                off += 2 + n
        if not ok:
            c["trunc"] += 1
            continue
        if session is None:
            session = sess
        elif sess != session:
            c["sessions"] += 1
            session, exp = sess, 0
        skip = 0
        if seq == 0:
            if count == 0:
                c["hb"] += 1
                continue
            if count == 0xFFFF:
                c["eos"] += 1
                continue
        else:
            e = exp or seq
            if seq > e:
                c["gaps"] += 1
                c["missing"] += seq - e
                e = seq
            if count in (0, 0xFFFF):
                exp = e
                c["hb" if count == 0 else "eos"] += 1
                continue
            if seq < e:
                if seq + count <= e:
                    c["dup_pk"] += 1
                    c["dup_msg"] += count
                    exp = e
                    continue
                skip = e - seq
                c["dup_msg"] += skip
            exp = seq + count
        c["data"] += 1
        for i, m in enumerate(msgs):
            if i < skip:
                continue
            if m and spec_length(m[0]) == len(m):
                out.append((seq + i if seq else 0, m))
            elif m and spec_length(m[0]) == 0:
                c["unknown"] += 1
            else:
                c["malformed"] += 1
    return out, c


def real_messages():
    out, off = [], 0
    while off < len(SNIPPET) and len(out) < 40:
        (n,) = struct.unpack_from(">H", SNIPPET, off)
        out.append(SNIPPET[off + 2:off + 2 + n])
        off += 2 + n
    return out


MSGS = real_messages()


@st.composite
def packet_streams(draw):
    """Plausible streams (in order, gaps, replays, overlaps, heartbeats, sessions) then mutated."""
    packets, seq, session = [], draw(st.integers(0, 3)), b"A"
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["data", "data", "data", "gap", "replay", "hb", "eos", "session"]))
        if kind == "gap":
            seq += draw(st.integers(1, 5))
        elif kind == "replay":
            seq = max(0, seq - draw(st.integers(1, 6)))
        elif kind == "session":
            session, seq = draw(st.sampled_from([b"A", b"B", b"C"])), draw(st.integers(0, 2))
        if kind == "hb":
            packets.append(build_packet(session, seq))
        elif kind == "eos":
            packets.append(build_packet(session, seq, count=0xFFFF))
        else:
            n = draw(st.integers(1, 5))
            start = draw(st.integers(0, len(MSGS) - n))
            packets.append(build_packet(session, seq, MSGS[start:start + n]))
            seq += n if seq else 0
    data = draw(st.data())
    return [mutate(data, p) if draw(st.integers(0, 4)) == 0 else p for p in packets]


@FUZZ
@given(packet_streams())
def test_mold_framer_matches_reference(packets):
    sink = CollectingSink()
    fr = MoldFramer(sink)
    for p in packets:
        rc = fr.feed_packet(p)
        assert isinstance(rc, int)
    out, c = ref_mold(packets)
    assert list(zip(sink.seqs(), sink.messages())) == out
    st_ = fr.stats()
    assert (st_["short_packets"], st_["truncated_packets"], st_["gaps"], st_["missing_messages"],
            st_["duplicate_packets"], st_["duplicates"], st_["heartbeats"], st_["end_of_session"],
            st_["data_packets"], st_["unknown_types"], st_["malformed"], st_["session_changes"]) == (
        c["short"], c["trunc"], c["gaps"], c["missing"], c["dup_pk"], c["dup_msg"], c["hb"], c["eos"], c["data"],
        c["unknown"], c["malformed"], c["sessions"])
    assert st_["packets"] == len(packets) == (st_["short_packets"] + st_["truncated_packets"] + st_["data_packets"]
                                             + st_["heartbeats"] + st_["end_of_session"] + st_["duplicate_packets"]
                                             + st_["held_packets"])
    assert sum(st_["by_type"].values()) == st_["messages"] == len(sink)


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=20))
def test_mold_framer_random_packets(packets):
    fr = MoldFramer(CollectingSink())
    for p in packets:
        fr.feed_packet(p)
    s = fr.stats()
    assert s["packets"] == len(packets)
    assert sum(s["by_type"].values()) == s["messages"]


# ---------------------------------------------------------------- pcap ----
def drain(buf):
    try:
        src = PcapSource(data=buf)
    except FeedError as e:
        assert e.code in PCAP_CODES
        return
    fr = MoldFramer(CollectingSink())
    try:
        fr.run_source(src)
    except FeedError as e:
        assert e.code in PCAP_CODES and e.offset is not None and e.offset < len(buf)
    c = src.counters()
    assert c["records"] == c["rx_packets"] + c["dropped_filter"] + c["dropped_bad"]
    assert fr.packets == c["rx_packets"] and c["position"] <= len(buf)


def to_pcapng(pcap: bytes) -> bytes:
    """The classic capture re-written as pcapng (SHB, IDB with if_tsresol=9, EPBs)."""
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHB3xHH", 9, 1, 9, 0, 0))]
    off = 24
    while off + 16 <= len(pcap):
        sec, frac, incl, orig = struct.unpack_from("<IIII", pcap, off)
        t = sec * 10**9 + frac
        out.append(block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, incl, orig) + pcap[off + 16:off + 16 + incl]))
        off += 16 + incl
    return b"".join(out)


PCAPNG = to_pcapng(PCAP)


def test_pcapng_seed_is_valid():
    assert [p for p, _, _ in PcapSource(data=PCAPNG).read_all()] == [p for p, _, _ in PcapSource(data=PCAP).read_all()]


@FUZZ
@given(st.data(), st.booleans())
def test_pcap_mutated(data, ng):
    drain(mutate(data, PCAPNG if ng else PCAP))


@FUZZ
@given(st.binary(max_size=400), st.sampled_from([b"", b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4",
                                                 b"\x0a\x0d\x0d\x0a"]))
def test_pcap_random(buf, magic):
    drain(magic + buf)
