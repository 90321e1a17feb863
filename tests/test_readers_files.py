"""open_feed / BinaryFileReader: plain and gzip binaryFILE, sniffing, progress, stats, errors."""
import gzip

import pytest

from core import codes
from core.codes import FeedError
from testing.collect import CollectingSink
from feedhandlers.reader import STATS_KEYS, open_feed, sniff_format

SNIPPET = "itch50/12302019_SNIPPET.NASDAQ_ITCH50"
SNIPPET_TYPES = {"A": 367, "U": 225, "F": 193, "D": 167, "E": 28, "X": 6, "I": 4, "P": 4, "Q": 4, "S": 1, "C": 1}


@pytest.fixture(scope="module")
def snippet(data_dir) -> bytes:
    return (data_dir / SNIPPET).read_bytes()


def replay(path, **kw):
    sink = CollectingSink()
    progress = []
    st = open_feed(path, **kw).run(sink, progress=lambda d, t: progress.append((d, t)))
    return sink, st, progress


def test_plain_file(data_dir, snippet):
    sink, st, progress = replay(data_dir / SNIPPET, chunk_size=4096)
    assert st["format"] == "binaryfile" and st["messages"] == 1000 and st["by_type"] == SNIPPET_TYPES
    assert set(STATS_KEYS) <= set(st)
    assert st["bytes"] == st["bytes_total"] == len(snippet)
    assert len(progress) == -(-len(snippet) // 4096) and progress[-1] == (len(snippet), len(snippet))
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert len(sink) == 1000 and sink.seqs() == list(range(1, 1001))


def test_gzip_single_and_multi_member(tmp_path, data_dir, snippet):
    ref, _, _ = replay(data_dir / SNIPPET)
    one = tmp_path / "one.NASDAQ_ITCH50.gz"
    one.write_bytes(gzip.compress(snippet))
    multi = tmp_path / "multi.gz"
    multi.write_bytes(b"".join(gzip.compress(snippet[a:b]) for a, b in [(0, 7), (7, 20001), (20001, len(snippet))])
                      + bytes(16))                                 # zero padding after the last member is ok
    for path, members in ((one, 1), (multi, 3)):
        assert sniff_format(path) == "binaryfile.gz"
        sink, st, progress = replay(path, chunk_size=1000)          # small output chunks: frames cut everywhere
        assert st["format"] == "binaryfile.gz" and st["gzip_members"] == members
        assert st["messages"] == 1000 and st["by_type"] == SNIPPET_TYPES and st["bytes"] == len(snippet)
        assert sink.messages() == ref.messages()
        assert progress[-1] == (path.stat().st_size, path.stat().st_size)


def test_truncated_gzip(tmp_path, snippet):
    z = gzip.compress(snippet)
    for cut in (len(z) - 4, len(z) // 2, 11):
        p = tmp_path / f"cut{cut}.gz"
        p.write_bytes(z[:cut])
        with pytest.raises(FeedError) as ei:
            replay(p)
        e = ei.value
        assert e.code == codes.READ_E_GZIP_TRUNCATED == -401 and e.offset == cut
        assert f"gzip member 1 ends without its end-of-stream marker after {cut} compressed bytes" in e.message
        assert e.stats is not None and e.stats["messages"] <= 1000


def test_corrupt_gzip(tmp_path, snippet):
    z = bytearray(gzip.compress(snippet))
    z[200:260] = bytes(60)
    p = tmp_path / "bad.gz"
    p.write_bytes(bytes(z))
    with pytest.raises(FeedError) as ei:
        replay(p)
    assert ei.value.code == codes.READ_E_GZIP_BAD
    p.write_bytes(gzip.compress(snippet) + b"garbage!")
    with pytest.raises(FeedError) as ei:
        replay(p)
    assert ei.value.code == codes.READ_E_GZIP_BAD and "are not a gzip member" in ei.value.message


def test_gzip_with_zero_length_prefixes_and_recovery(tmp_path, data_dir):
    raw = (data_dir / "bad_input" / "zero_length_prefixes.TEST_ITCH_50").read_bytes()
    p = tmp_path / "z.gz"
    p.write_bytes(gzip.compress(raw))
    with pytest.raises(FeedError) as ei:
        replay(p)
    assert ei.value.code == codes.ITCH_E_ZERO_LENGTH and ei.value.offset == 0
    sink, st, _ = replay(p, recover_zero_lengths=True, chunk_size=777)
    assert st["messages"] == 12012 and st["zero_length_recovered"] == 12012


def test_bad_inputs_through_open_feed(tmp_path, data_dir, snippet):
    bist = data_dir / "bad_input" / "bist_itch_moldudp64_sample.dat"
    assert sniff_format(bist) == "binaryfile"
    with pytest.raises(FeedError) as ei:
        replay(bist)
    assert ei.value.code == codes.ITCH_E_NOT_ITCH50 and ei.value.offset == 0
    st = open_feed(bist, format="moldudp64").run()
    assert st["packets"] == 3 and st["truncated_packets"] == 1 and st["messages"] == 0
    assert st["packet_results"] == [0, 0, codes.MOLD_E_TRUNCATED]
    cut = tmp_path / "cut.itch"
    cut.write_bytes(snippet[:-3])
    with pytest.raises(FeedError) as ei:
        replay(cut)
    assert ei.value.code == codes.ITCH_E_TRUNCATED and ei.value.stats["messages"] == 999
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(FeedError) as ei:
        open_feed(empty)
    assert ei.value.code == codes.READ_E_FORMAT and "empty file" in ei.value.message
    with pytest.raises(FeedError) as ei:
        open_feed(cut, format="csv")
    assert ei.value.code == codes.READ_E_FORMAT


def test_gzipped_capture_refused(tmp_path, data_dir):
    raw = (data_dir / "pcap/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/OrderDelete.pcap").read_bytes()
    p = tmp_path / "x.pcap.gz"
    p.write_bytes(gzip.compress(raw))
    with pytest.raises(FeedError) as ei:
        open_feed(p)
    assert ei.value.code == codes.READ_E_FORMAT and "gunzip" in ei.value.message


def test_pcap_through_open_feed(data_dir):
    for rel in ("pcap/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/OrderDelete.pcap",
                "pcap/Psx.Equities.TotalView.Itch.v5.0.20230822/SystemEventMessage.pcap"):
        sink, st, progress = replay(data_dir / rel)
        assert st["format"] == "pcap" and set(STATS_KEYS) <= set(st)
        assert st["messages"] == st["packets"] == len(sink) and st["bytes"] == st["bytes_total"]
        assert st["source"]["dropped_filter"] == 0

