"""ItchFramer: streaming, validation counters, bad inputs (codes + messages + offsets), codes table."""
import random
import struct

import pytest

from core import codes
from core.codes import FeedError
from testing.collect import CollectingSink
from feedhandlers.itch import ItchFramer, c_codes, decode_message, iter_messages, spec_length


def frames_of(buf: bytes) -> list:
    out, off = [], 0
    while off < len(buf):
        (n,) = struct.unpack_from(">H", buf, off)
        out.append(buf[off + 2:off + 2 + n])
        off += 2 + n
    return out


def frame(msg: bytes) -> bytes:
    return struct.pack(">H", len(msg)) + msg


@pytest.fixture(scope="module")
def ritch(data_dir) -> bytes:
    return (data_dir / "itch50" / "RITCH_synthetic_3stocks.NASDAQ_ITCH50").read_bytes()


@pytest.fixture(scope="module")
def snippet(data_dir) -> bytes:
    return (data_dir / "itch50" / "12302019_SNIPPET.NASDAQ_ITCH50").read_bytes()


def run(buf, chunks=None, **kw):
    sink = CollectingSink()
    fr = ItchFramer(sink, **kw)
    if chunks is None:
        fr.feed(buf)
    else:
        for a, b in zip([0] + chunks, chunks + [len(buf)]):
            fr.feed(buf[a:b])
    st = fr.finish()
    return sink, st


# ---------------------------------------------------------------- codes ----
def test_c_codes_match_python_table():
    c = c_codes()
    for name, value in c.items():
        assert getattr(codes, name) == value
        assert codes.CODES[value][0] == name
    assert set(c) == {x.name for x in codes.CODES.values() if x.area in ("ITCH", "MOLD", "PCAP", "READ")}
    assert all(v < 0 for v in codes.CODES)


def test_feed_error_format():
    e = FeedError(codes.ITCH_E_TRUNCATED, "it ends", 42)
    assert (e.code, e.name, e.message, e.offset) == (-501, "ITCH_E_TRUNCATED", "it ends", 42)
    assert str(e) == "ITCH_E_TRUNCATED (-501) at byte offset 42: it ends"
    assert str(FeedError(codes.READ_E_FORMAT)) == "READ_E_FORMAT (-403): file format not recognised"


# ---------------------------------------------------------------- streaming ----
def test_chunk_boundaries_do_not_matter(snippet):
    ref_sink, ref = run(snippet)
    rng = random.Random(7)
    for trial in range(30):
        cuts = sorted(rng.sample(range(1, len(snippet)), rng.randint(1, 60)))
        sink, st = run(snippet, cuts)
        assert st == ref
        assert sink.messages() == ref_sink.messages() and sink.seqs() == ref_sink.seqs()
    end = sum(2 + len(m) for m in frames_of(snippet)[:80])
    sink, st = run(snippet[:end], list(range(1, end)))          # one byte at a time
    assert sink.messages() == ref_sink.messages()[:80] and st["messages"] == 80


def test_counts_unknown_malformed_and_sink_errors(ritch):
    good = frames_of(ritch)[:20]
    unknown = b"Z" + bytes(20)                                   # not an ITCH 5.0 type
    bad_len = good[10][:1] + bytes(44)                           # known type, wrong length (<= 50: not lost framing)
    stream = b"".join(frame(m) for m in good[:8]) + frame(unknown) + frame(bad_len) + frame(unknown) \
        + b"".join(frame(m) for m in good[8:])
    sink = CollectingSink(reject_type="P")
    fr = ItchFramer(sink)
    fr.feed(stream)
    st = fr.finish()
    assert st["messages"] == 20 and st["frames"] == 23
    assert st["unknown_types"] == 2 and st["unknown_by_type"] == {ord("Z"): 2}
    assert st["malformed"] == 1
    assert st["messages"] + st["unknown_types"] + st["malformed"] == st["frames"]
    assert sum(st["by_type"].values()) == st["messages"]
    assert st["sink_errors"] == sum(1 for m in good if m[:1] == b"P")
    assert sink.seqs() == list(range(1, 9)) + list(range(12, 24))   # skipped frames consume ordinals
    assert st["bytes"] == len(stream)


# ---------------------------------------------------------------- bad inputs ----
def test_zero_length_prefixes_stop_with_code_and_offset(data_dir):
    raw = (data_dir / "bad_input" / "zero_length_prefixes.TEST_ITCH_50").read_bytes()
    fr = ItchFramer(CollectingSink())
    with pytest.raises(FeedError) as ei:
        fr.feed(raw)
    e = ei.value
    assert e.code == codes.ITCH_E_ZERO_LENGTH == -502 and e.offset == 0
    assert e.message.startswith("zero length prefix (followed by type byte 0x53 ('S'))")
    assert "recover_zero_lengths=True" in str(e)
    assert fr.messages == 0
    with pytest.raises(FeedError) as again:                      # sticky: never loops, never resumes
        fr.feed(b"\x00\x0cS" + bytes(11))
    assert again.value.code == -502


def test_zero_length_after_good_frames_reports_its_offset(snippet):
    cut = sum(2 + len(m) for m in frames_of(snippet)[:20])
    bad = bytearray(snippet)
    bad[cut:cut + 2] = b"\0\0"
    sink = CollectingSink()
    fr = ItchFramer(sink)
    with pytest.raises(FeedError) as ei:
        fr.feed(bytes(bad))
    assert ei.value.code == codes.ITCH_E_ZERO_LENGTH and ei.value.offset == cut
    assert len(sink) == 20


def test_zero_length_recovery_decodes_every_message(data_dir, ritch):
    raw = (data_dir / "bad_input" / "zero_length_prefixes.TEST_ITCH_50").read_bytes()
    sink, st = run(raw, recover_zero_lengths=True)
    assert st["messages"] == 12012 and st["zero_length_recovered"] == 12012
    assert st["malformed"] == 0 and st["unknown_types"] == 0
    assert sink.messages() == frames_of(ritch)
    sink2, st2 = run(raw, list(range(1, len(raw), 997)), recover_zero_lengths=True)   # chunked too
    assert st2 == st and sink2.messages() == sink.messages()
    assert [m.type for m in iter_messages(raw, recover_zero_lengths=True)][:3] == ["S", "R", "R"]


def test_zero_length_recovery_with_unknown_type_stops():
    good = b"".join(frame(b"S" + bytes(10) + b"O") for _ in range(10))
    stream = good + b"\0\0Z" + bytes(30)
    with pytest.raises(FeedError) as ei:
        run(stream, recover_zero_lengths=True)
    assert ei.value.code == codes.ITCH_E_ZERO_LENGTH_UNKNOWN and ei.value.offset == len(good)
    assert "0x5a ('Z')" in ei.value.message


def test_bist_file_is_refused_as_not_itch50(data_dir):
    raw = (data_dir / "bad_input" / "bist_itch_moldudp64_sample.dat").read_bytes()
    for kw in ({}, {"recover_zero_lengths": True}):
        with pytest.raises(FeedError) as ei:
            run(raw, **kw)
        e = ei.value
        assert e.code == codes.ITCH_E_NOT_ITCH50 == -503 and e.offset == 0
        assert e.message == ("not an ITCH 5.0 binaryFILE stream: frame 1 is a zero length prefix followed by "
                             "0x00 ('\\x00'); the first 8 frames must be ITCH 5.0 types of spec length")


def test_random_bytes_are_refused():
    rng = random.Random(3)
    for _ in range(50):
        buf = bytes(rng.getrandbits(8) for _ in range(rng.randint(3, 5000)))
        try:
            run(buf)
        except FeedError as e:
            assert e.code in (codes.ITCH_E_NOT_ITCH50, codes.ITCH_E_ZERO_LENGTH, codes.ITCH_E_TRUNCATED)
        else:
            pytest.fail("random bytes accepted")


def test_not_itch_probe_window_and_disable(ritch):
    good = frames_of(ritch)[:12]
    bad = b"A" + bytes(10)                                       # 'A' must be 36 bytes
    stream = b"".join(frame(m) for m in good[:3]) + frame(bad) + b"".join(frame(m) for m in good[3:])
    with pytest.raises(FeedError) as ei:
        run(stream)
    assert ei.value.code == codes.ITCH_E_NOT_ITCH50
    assert ei.value.offset == sum(2 + len(m) for m in good[:3])
    assert "frame 4 is a 11-byte frame of type 0x41 ('A') (spec length 36)" in ei.value.message
    sink, st = run(stream, probe_frames=0)
    assert st["malformed"] == 1 and st["messages"] == 12
    sink, st = run(stream, probe_frames=3)                       # the bad frame is past a 3-frame window
    assert st["malformed"] == 1


def test_truncated_binaryfile_copies(tmp_path, snippet):
    offsets, off = [], 0
    for m in frames_of(snippet):
        offsets.append(off)
        off += 2 + len(m)
    for cut in (len(snippet) - 1, len(snippet) - 30, offsets[500] + 1, offsets[500] + 2, offsets[10] + 7):
        p = tmp_path / f"cut{cut}.itch"
        p.write_bytes(snippet[:cut])
        last = max(o for o in offsets if o < cut)
        sink = CollectingSink()
        fr = ItchFramer(sink)
        fr.feed(p.read_bytes())
        with pytest.raises(FeedError) as ei:
            fr.finish()
        e = ei.value
        assert e.code == codes.ITCH_E_TRUNCATED == -501
        assert e.offset == last
        assert e.message.startswith("stream ends inside a frame: the frame needs ")
        assert f"only {cut - last} remain" in e.message
        assert len(sink) == offsets.index(last)


def test_empty_stream_is_zero_messages():
    sink, st = run(b"")
    assert st["messages"] == 0 and st["bytes"] == 0


# ---------------------------------------------------------------- decode_message ----
def test_decode_message_errors():
    with pytest.raises(FeedError) as ei:
        decode_message(b"Z" + bytes(20))
    assert ei.value.code == codes.ITCH_E_UNKNOWN_TYPE
    assert ei.value.message == "message type byte 0x5a ('Z') is not an ITCH 5.0 type"
    with pytest.raises(FeedError) as ei:
        decode_message(b"A" + bytes(20))
    assert ei.value.code == codes.ITCH_E_BAD_LENGTH
    assert ei.value.message == "type 'A' message of 21 bytes, spec length is 36"
    with pytest.raises(FeedError) as ei:
        decode_message(b"")
    assert ei.value.code == codes.ITCH_E_BAD_LENGTH


def test_decode_every_type_roundtrip():
    """Each of the 23 types: a message built field by field decodes to those fields."""
    from feedhandlers.itch_messages import LAYOUT
    rng = random.Random(11)
    for t, cls, length, fields in LAYOUT:
        raw = bytearray([ord(t)]) + bytes(length - 1)
        values = {"type": t, "stock_locate": rng.randrange(1 << 16), "tracking_number": rng.randrange(1 << 16),
                  "timestamp": rng.randrange(1 << 48)}
        struct.pack_into(">HH", raw, 1, values["stock_locate"], values["tracking_number"])
        raw[5:11] = values["timestamp"].to_bytes(6, "big")
        off = 11
        for name, kind in fields:
            n = {"c": 1, "u2": 2, "u4": 4, "p4": 4, "u8": 8, "p8": 8}.get(kind) or int(kind[1:])
            if kind[0] == "a":
                v = "".join(rng.choice("ABCXYZ.-") for _ in range(rng.randint(1, n)))
                raw[off:off + n] = v.ljust(n).encode()
            elif kind == "c":
                v = rng.choice("BSYN 01")
                raw[off:off + 1] = v.encode()
            else:
                v = rng.randrange(1 << (8 * n))
                raw[off:off + n] = v.to_bytes(n, "big")
            values[name] = v
            off += n
        assert off == length == spec_length(t)
        m = decode_message(bytes(raw))
        assert m.name == cls and m.type == t
        assert m.as_dict() == values
    assert spec_length("Z") == 0 and spec_length(ord("A")) == 36


def test_iter_messages_strict_and_truncation(ritch):
    msgs = frames_of(ritch)[:5]
    stream = b"".join(frame(m) for m in msgs) + frame(b"Z" + bytes(5))
    assert len(list(iter_messages(stream))) == 5
    with pytest.raises(FeedError) as ei:
        list(iter_messages(stream, strict=True))
    assert ei.value.code == codes.ITCH_E_UNKNOWN_TYPE
    with pytest.raises(FeedError) as ei:
        list(iter_messages(stream[:-3]))
    assert ei.value.code == codes.ITCH_E_TRUNCATED and ei.value.offset == len(stream) - 8


def test_truncated_inside_prefix_messages():
    fr = ItchFramer()
    fr.feed(b"\x00")
    with pytest.raises(FeedError) as ei:
        fr.finish()
    assert ei.value.code == codes.ITCH_E_TRUNCATED and ei.value.offset == 0
    assert ei.value.message == ("stream ends inside a frame: the frame needs a 2-byte length prefix, "
                                "only 1 remain (truncated?)")
    fr = ItchFramer(recover_zero_lengths=True)
    fr.feed(frame(b"S" + bytes(10) + b"O") + b"\0\0")
    with pytest.raises(FeedError) as ei:
        fr.finish()
    assert ei.value.offset == 14 and "needs the type byte after its zero length prefix" in ei.value.message
