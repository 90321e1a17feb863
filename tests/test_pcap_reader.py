"""PcapSource: pcap/pcapng variants, link types, filters, truncation; registry; pcap -> MoldFramer."""
import struct

import pytest

from core import codes
from core.codes import FeedError
from testing.collect import CollectingSink
from feedhandlers.moldudp64 import MoldFramer, build_packet
from datapath.pcap_source import PcapSource, open_source, sniff_capture

scapy_all = pytest.importorskip("scapy.all")
from scapy.all import IP, UDP, TCP, ARP, Dot1Q, Ether, Raw  # noqa: E402

REAL = "pcap/Nasdaq.Equities.TotalView.Itch.v5.0.20230822/NonCrossTrade.pcap"


# ------------------------------------------------------------ independent writers ----
def write_pcap(records, linktype=1, ns=True, big=False) -> bytes:
    e = ">" if big else "<"
    out = [struct.pack(e + "IHHiIII", 0xA1B23C4D if ns else 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for frame, ts in records:
        frac = ts % 10**9 if ns else (ts % 10**9) // 1000
        out.append(struct.pack(e + "IIII", ts // 10**9, frac, len(frame), len(frame)) + frame)
    return b"".join(out)


def block(e, btype, body) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def write_pcapng(records, linktype=1, tsresol=None, big=False, spb=False, junk_blocks=False, tsoffset=None) -> bytes:
    e = ">" if big else "<"
    out = [block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    opts = b""
    if tsresol is not None:
        opts += struct.pack(e + "HHB3x", 9, 1, tsresol)
    if tsoffset is not None:
        opts += struct.pack(e + "HHq", 14, 8, tsoffset)
    if opts:
        opts += struct.pack(e + "HH", 0, 0)
    out.append(block(e, 1, struct.pack(e + "HHI", linktype, 0, 0) + opts))
    if junk_blocks:
        out.append(block(e, 4, b"\x01\x00\x08\x00" + bytes(8)))      # name resolution block
    if tsresol is None:
        units = 10**6
    elif tsresol & 0x80:
        units = 1 << (tsresol & 0x7F)
    else:
        units = 10**tsresol
    for frame, ts in records:
        if spb:
            out.append(block(e, 3, struct.pack(e + "I", len(frame)) + frame))
        else:
            t = ts * units // 10**9
            out.append(block(e, 6, struct.pack(e + "IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(frame), len(frame)) + frame))
        if junk_blocks:
            out.append(block(e, 0xBAD, b"custom"))
    return b"".join(out)


def udp_frame(payload, dst="233.54.12.111", dport=26477, vlan=None, src="10.0.0.1") -> bytes:
    pkt = Ether(dst="01:00:5e:36:0c:6f", src="d4:af:f7:cb:20:d5")
    if vlan is not None:
        pkt = pkt / Dot1Q(vlan=vlan)
    return bytes(pkt / IP(src=src, dst=dst) / UDP(sport=1234, dport=dport) / Raw(payload))


@pytest.fixture(scope="module")
def real(data_dir):
    """(ethernet frame bytes, ts_ns, udp payload) of the real capture, via scapy."""
    out = []
    for pkt in scapy_all.rdpcap(str(data_dir / REAL)):
        out.append((bytes(pkt), int(pkt.time * 10**9), bytes(pkt[UDP].payload)))
    assert len(out) == 5
    return out


def payloads(buf, **kw):
    return [(p, ts) for p, ts, _ in PcapSource(data=buf, **kw).read_all()]


# ------------------------------------------------------------ formats ----
@pytest.mark.parametrize("ns", [True, False])
@pytest.mark.parametrize("big", [False, True])
def test_classic_pcap_variants(real, ns, big):
    buf = write_pcap([(f, ts) for f, ts, _ in real], ns=ns, big=big)
    src = PcapSource(data=buf)
    assert src.format == "pcap" and src.link_type == 1
    got = [(p, ts) for p, ts, _ in src.read_all()]
    assert [p for p, _ in got] == [p for _, _, p in real]
    assert [ts for _, ts in got] == [ts if ns else ts // 1000 * 1000 for _, ts, _ in real]
    assert sniff_capture(buf[:4]) == ("pcap", "ns" if ns else "us")


@pytest.mark.parametrize("tsresol,unit_ns", [(None, 1000), (9, 1), (6, 1000), (0x80 | 30, None)])
@pytest.mark.parametrize("big", [False, True])
def test_pcapng_variants(real, tsresol, unit_ns, big):
    buf = write_pcapng([(f, ts) for f, ts, _ in real], tsresol=tsresol, big=big, junk_blocks=True)
    src = PcapSource(data=buf)
    got = src.read_all()
    assert src.format == "pcapng" and src.link_type == 1
    assert [p for p, _, _ in got] == [p for _, _, p in real]
    for (_, ts, _), (_, want, _) in zip(got, real):
        if unit_ns:
            assert ts == want // unit_ns * unit_ns
        else:                                                     # 2^-30 s units: within one unit
            assert abs(ts - want) <= 1
    assert src.other_blocks == 1 + len(real)                      # NRB + custom blocks skipped
    assert src.records == len(real)


@pytest.mark.parametrize("big", [False, True])
def test_pcapng_sections_tsoffset_and_unsupported_interface(real, big):
    recs = [(f, ts) for f, ts, _ in real]
    buf = (write_pcapng(recs[:2], big=big, tsresol=9, tsoffset=-1_000_000_000)   # section 1: offset -1e9 s
           + write_pcapng(recs[2:3], linktype=147, big=not big)                   # section 2: unsupported link
           + write_pcapng(recs[3:], tsresol=9, big=big))                          # section 3: plain
    src = PcapSource(data=buf)
    got = src.read_all()
    assert [p for p, _, _ in got] == [p for _, _, p in real[:2]] + [p for _, _, p in real[3:]]
    assert [ts for _, ts, _ in got] == [ts - 10**18 for _, ts, _ in real[:2]] + [ts for _, ts, _ in real[3:]]
    assert src.dropped_linktype == 1 and src.dropped_filter == 1 and src.records == 5


def test_pcapng_simple_packet_blocks(real):
    buf = write_pcapng([(f, ts) for f, ts, _ in real], spb=True)
    got = PcapSource(data=buf).read_all()
    assert [p for p, _, _ in got] == [p for _, _, p in real] and {ts for _, ts, _ in got} == {0}


def test_scapy_pcapng_writer_cross_check(tmp_path, real, data_dir):
    path = tmp_path / "x.pcapng"
    pkts = scapy_all.rdpcap(str(data_dir / REAL))
    with scapy_all.PcapNgWriter(str(path)) as w:
        for p in pkts:
            w.write(p)
    got = PcapSource(path).read_all()
    assert [p for p, _, _ in got] == [p for _, _, p in real]
    assert all(abs(ts - want) < 1000 for (_, ts, _), (_, want, _) in zip(got, real))


@pytest.mark.parametrize("linktype", [101, 228, 113, 276, 0])
def test_other_link_types(real, linktype):
    recs = []
    for frame, ts, _ in real:
        ip = bytes(Ether(frame)[IP])
        if linktype in (101, 228):
            link = ip
        elif linktype == 113:
            link = struct.pack(">HHH8sH", 0, 1, 6, bytes(8), 0x0800) + ip
        elif linktype == 276:
            link = struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, bytes(8)) + ip
        else:
            link = struct.pack("<I", 2) + ip
        recs.append((link, ts))
    src = PcapSource(data=write_pcap(recs, linktype=linktype))
    assert [p for p, _, _ in src.read_all()] == [p for _, _, p in real]
    assert src.link_type == linktype


def test_vlan_and_plain_ethernet(real):
    recs = [(udp_frame(p, vlan=v), 1000 + i) for i, ((_, _, p), v) in enumerate(zip(real, [None, 141, 7, None, 99]))]
    assert [p for p, _ in payloads(write_pcap(recs))] == [p for _, _, p in real]


# ------------------------------------------------------------ filters / drops ----
def test_filters_and_drops():
    recs = [
        (udp_frame(b"a", dst="233.54.12.111", dport=26477), 1),
        (udp_frame(b"b", dst="233.54.12.112", dport=26477), 2),
        (udp_frame(b"c", dst="233.54.12.111", dport=26478), 3),
        (bytes(Ether() / IP(dst="233.54.12.111") / TCP(dport=26477) / Raw(b"d")), 4),
        (bytes(Ether() / ARP()), 5),
        (bytes(Ether() / IP(dst="233.54.12.111", flags="MF") / UDP(dport=26477) / Raw(b"e")), 6),
        (udp_frame(b"f")[:30], 7),                                # cut inside the IP header
    ]
    buf = write_pcap(recs)
    src = PcapSource(data=buf)
    assert [p for p, _, _ in src.read_all()] == [b"a", b"b", b"c"]
    c = src.counters()
    assert (c["rx_packets"], c["dropped_filter"], c["dropped_bad"], c["records"]) == (3, 2, 2, 7)
    assert [p for p, _ in payloads(buf, dst_port=26477)] == [b"a", b"b"]
    assert [p for p, _ in payloads(buf, group="233.54.12.111")] == [b"a", b"c"]
    src = PcapSource(data=buf, group="233.54.12.111", dst_port=26477)
    assert [p for p, _, _ in src.read_all()] == [b"a"] and src.dropped_filter == 4


# ------------------------------------------------------------ errors ----
def test_truncated_pcap_copies(tmp_path, data_dir):
    raw = (data_dir / REAL).read_bytes()
    starts, off = [], 24
    while off < len(raw):
        starts.append(off)
        off += 16 + struct.unpack_from("<I", raw, off + 8)[0]
    for cut in (len(raw) - 1, starts[3] + 10, starts[3] + 16, starts[3] + 40):
        p = tmp_path / f"cut{cut}.pcap"
        p.write_bytes(raw[:cut])
        src = PcapSource(p)
        sink = CollectingSink()
        with pytest.raises(FeedError) as ei:
            MoldFramer(sink).run_source(src)
        e = ei.value
        last = max(s for s in starts if s < cut)
        assert e.code == codes.PCAP_E_TRUNCATED == -302 and e.offset == last
        need = 16 if cut - last < 16 else 16 + struct.unpack_from("<I", raw, last + 8)[0]
        assert e.message == (f"{p}: truncated capture: the record at byte offset {last} needs {need} bytes, "
                             f"only {cut - last} remain in the file")
        assert len(sink) == starts.index(last)                    # every complete record was delivered


def test_truncated_pcapng(real):
    buf = write_pcapng([(f, ts) for f, ts, _ in real])
    src = PcapSource(data=buf[:-7])
    with pytest.raises(FeedError) as ei:
        src.read_all()
    assert ei.value.code == codes.PCAP_E_TRUNCATED
    assert "truncated capture: the block at byte offset" in ei.value.message


def test_bad_files(tmp_path):
    with pytest.raises(FeedError) as ei:
        PcapSource(data=b"\x00\x01\x02\x03" + bytes(40))
    assert ei.value.code == codes.PCAP_E_BAD_MAGIC and "0x00010203" in ei.value.message
    (tmp_path / "empty.pcap").write_bytes(b"")
    with pytest.raises(FeedError) as ei:
        PcapSource(tmp_path / "empty.pcap")
    assert ei.value.code == codes.PCAP_E_EMPTY
    with pytest.raises(FeedError) as ei:
        PcapSource(data=write_pcap([], linktype=147))
    assert ei.value.code == codes.PCAP_E_LINKTYPE and "147" in ei.value.message
    with pytest.raises(FeedError) as ei:
        PcapSource(data=write_pcap([])[:20])
    assert ei.value.code == codes.PCAP_E_TRUNCATED
    huge = write_pcap([(b"x" * 10, 1)])
    huge = huge[:24 + 8] + struct.pack("<I", 10**7) + huge[24 + 12:]
    with pytest.raises(FeedError) as ei:
        PcapSource(data=huge).read_all()
    assert ei.value.code == codes.PCAP_E_BAD_BLOCK
    assert PcapSource(data=write_pcap([])).read_all() == []       # header only: no packets, no error


def test_registry_factory(data_dir):
    from datapath.registry import open_source as registry_open
    src = registry_open("pcap", path=str(data_dir / REAL), dst_port=0, group=None)
    assert isinstance(src, PcapSource) and len(src.read_all()) == 5
    with pytest.raises(ValueError):
        open_source()


# ------------------------------------------------------------ pcap -> MoldFramer ----
def test_sequenced_capture_end_to_end(tmp_path, data_dir):
    raw = (data_dir / "itch50" / "12302019_SNIPPET.NASDAQ_ITCH50").read_bytes()
    msgs, off = [], 0
    while off < len(raw):
        (n,) = struct.unpack_from(">H", raw, off)
        msgs.append(raw[off + 2:off + 2 + n])
        off += 2 + n
    packets, seq = [], 1
    for i in range(0, 1000, 5):
        packets.append(build_packet(b"S1", seq, msgs[i:i + 5]))
        seq += 5
    lost = packets.pop(40)                                        # messages 201..205 lost
    packets.insert(70, packets[69])                               # a duplicate
    packets.insert(100, build_packet(b"S1", 0, count=0)[:10] + struct.pack(">QH", 496, 0))  # stale heartbeat
    recs = [(udp_frame(p), 1_600_000_000_000_000_000 + i) for i, p in enumerate(packets)]
    path = tmp_path / "seq.pcap"
    path.write_bytes(write_pcap(recs))
    from feedhandlers.reader import open_feed
    progress = []
    feed = open_feed(path)
    st = feed.run(CollectingSink(), progress=lambda d, t: progress.append((d, t)))
    assert st["format"] == "pcap" and st["packets"] == len(packets)
    assert st["messages"] == 995 and st["gaps"] == 1 and st["missing_messages"] == 5
    assert st["duplicate_packets"] == 1 and st["duplicates"] == 5 and st["heartbeats"] == 1
    assert progress[-1] == (path.stat().st_size, path.stat().st_size)
    # max_packets bounds a run and resumes where it stopped
    src, fr = PcapSource(path), MoldFramer()
    assert fr.run_source(src, max_packets=50) == 50 and fr.packets == 50
    assert fr.run_source(src) == len(packets) - 50 and fr.messages == 995
    assert lost[:10] == b"S1".ljust(10)


# ------------------------------------------------------------ the shared PacketSource layer ----
def test_python_layer_comes_from_packet_source():
    """recv / recv_held / release / drain / context manager / open_source live once on PacketSource."""
    from datapath.batch import PacketSource
    for name in ("recv", "recv_held", "release", "drain", "__enter__", "__exit__"):
        assert name not in PcapSource.__dict__, name                  # inherited, not repeated
    payloads = [build_packet(b"SESSION001", s, [b"S" + bytes(11)]) for s in (1, 2, 3)]
    data = write_pcap([(udp_frame(p), 10**9 + i) for i, p in enumerate(payloads)])
    with PcapSource(data=data) as src:
        assert isinstance(src, PacketSource)
        held = src.recv_held(2)
        assert [p for p, _, _ in held] == payloads[:2]
        src.release()
        assert [p for p, _, _ in src.recv()] == payloads[2:]
        with pytest.raises(EOFError, match="end of capture"):
            src.recv()
    from datapath.source_codes import KSRC_E_CLOSED, SourceError
    with pytest.raises(SourceError) as e:                             # closed by __exit__
        src.recv()
    assert e.value.code == KSRC_E_CLOSED
    st = PcapSource(data=data).drain()
    from core.codes import SRC_E_END
    assert (st["packets"], st["messages"], st["gaps"], st["rc"]) == (3, 3, 0, SRC_E_END)
    assert open_source.__func__ is PcapSource.open_source.__func__     # the module name the registry docs use
