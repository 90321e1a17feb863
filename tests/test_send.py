"""MoldUDP64 packing and the sendmmsg sender: layouts, bad days, seeded loss, real pcaps, real sockets (veth)."""
from __future__ import annotations

import glob
import os
import socket
import struct
import subprocess
import sys

import numpy as np
import pytest

from netns_util import veth_pair

RITCH = "itch50/RITCH_synthetic_3stocks.NASDAQ_ITCH50"
GROUP = "239.77.2.1"
PORT = 31101


@pytest.fixture(scope="module")
def ritch(data_dir):
    return (data_dir / RITCH).read_bytes()


def walk_blocks(payload, count):
    p, out = 20, []
    for _ in range(count):
        n = struct.unpack_from(">H", payload, p)[0]
        out.append(payload[p:p + 2 + n])
        p += 2 + n
    return out, payload[p:]


# ------------------------------------------------------------------ planning ----
def test_index_and_pack_cover_the_day_exactly(ritch):
    from lab.sender import build_packets, index_messages, packet_times, plan_packets

    data = np.frombuffer(ritch, dtype=np.uint8)
    offs = index_messages(data)
    assert len(offs) == 12013 and offs[-1] == len(ritch)
    first = plan_packets(offs, 1400, True)
    buf, poffs = build_packets(data, offs, first, b"ABC")
    assert first[0] == 0 and first[-1] == 12012 and np.all(np.diff(first) > 0)
    sizes = np.diff(poffs)
    assert sizes.max() + 12 <= 1400                       # room for the TWTS trailer
    seqs, blocks = [], []
    for k in range(len(poffs) - 1):
        p = buf[poffs[k]:poffs[k + 1]].tobytes()
        assert p[:10] == b"ABC       "
        seq, count = struct.unpack_from(">QH", p, 10)
        assert seq == first[k] + 1 and count == first[k + 1] - first[k]
        b, rest = walk_blocks(p, count)
        assert rest == b""
        blocks += b
    assert b"".join(blocks) == ritch                     # every message once, in order
    t = packet_times(data, offs, first)
    assert len(t) == len(first) - 1 and np.all(t >= 0)


def test_bad_days_are_refused_with_the_reason(data_dir, ritch):
    from lab.sender import index_messages, plan_packets

    zero = (data_dir / "bad_input" / "zero_length_prefixes.TEST_ITCH_50").read_bytes()
    with pytest.raises(ValueError, match=r"zero length prefix at byte 0 \(message 1\): not a binaryFILE day"):
        index_messages(np.frombuffer(zero, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"message 12012 at byte 465034 is truncated \(12 bytes announced, 7 left\)"):
        index_messages(np.frombuffer(ritch[:-5], dtype=np.uint8))
    with pytest.raises(ValueError, match="cannot hold the largest ITCH message"):
        plan_packets(np.array([0, 14], dtype=np.int64), 60, True)


def test_real_pcaps_read_as_moldudp64_payloads(data_dir):
    from lab.moldserve import capture_payloads
    from lab.sender import packet_messages

    files = sorted(glob.glob(str(data_dir / "pcap" / "*" / "*.pcap")))
    assert len(files) == 38
    total = 0
    for f in files:
        payloads, times = capture_payloads(f)
        assert payloads and len(payloads) == len(times) and times == sorted(times)
        offs = np.concatenate([[0], np.cumsum([len(p) for p in payloads])]).astype(np.int64)
        assert packet_messages(np.frombuffer(b"".join(payloads), dtype=np.uint8), offs).tolist() == [1] * len(payloads)
        for p in payloads:
            count = struct.unpack_from(">H", p, 18)[0]
            blocks, rest = walk_blocks(p, count)
            assert count == 1 and rest == b""
        total += len(payloads)
    assert total == 178


def test_packet_messages_counts_whole_blocks_only():
    from feedhandlers.moldudp64 import build_packet
    from lab.sender import packet_messages

    m = b"S" + bytes(11)
    pkts = [build_packet(b"S", 1, [m, m, m], trailer_ns=5), build_packet(b"S", 4, count=0),
            build_packet(b"S", 4, count=0xFFFF), b"short", build_packet(b"S", 4, [m, m])[:-3]]
    offs = np.concatenate([[0], np.cumsum([len(p) for p in pkts])]).astype(np.int64)
    assert packet_messages(np.frombuffer(b"".join(pkts), dtype=np.uint8), offs).tolist() == [3, 0, 0, 0, 1]


# ------------------------------------------------------------------- sockets ----
def recv_all(sock, until_eos=True, limit=100000):
    out = []
    while len(out) < limit:
        try:
            d = sock.recv(2048)
        except socket.timeout:
            break
        out.append(d)
        if until_eos and len(d) == 20 and d[18:20] == b"\xff\xff":
            break
    return out


def join(net, group=GROUP, port=PORT):
    with net.enter(net.ns_b):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind((group, port))
        mreq = socket.inet_aton(group) + socket.inet_aton(net.ip_b)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        s.settimeout(5)
    return s


def sender_for(net, ritch, loss=0.0, seed=1, dests=((GROUP, PORT),)):
    from lab.moldserve import MoldDay, open_send_socket
    from lab.sender import MoldSender, build_packets, plan_packets

    day = MoldDay.from_bytes(ritch)
    first = plan_packets(day.offs, 1400, True)
    buf, poffs = build_packets(day.data, day.offs, first, b"SENDTEST")
    with net.enter(net.ns_a):
        sock = open_send_socket(net.if_a, 1)
    return MoldSender(buf, poffs, sock.fileno(), list(dests), loss=loss, seed=seed), sock, buf, poffs, first


def test_sender_max_rate_stamps_and_end_of_session(ritch):
    with veth_pair() as net:
        rx = join(net)
        snd, sock, buf, poffs, first = sender_for(net, ritch)
        c = snd.run(None, eos=2)
        got = recv_all(rx)
        sock.close()
        rx.close()
    npk = len(poffs) - 1
    assert c["sent_packets"] == npk and c["messages_sent"] == 12012 and c["dropped"] == 0
    data = [g for g in got if len(g) > 20]
    assert len(data) == npk                               # veth: nothing lost
    for k, d in enumerate(data):
        assert d[:-12] == buf[poffs[k]:poffs[k + 1]].tobytes()
        assert d[-12:-8] == b"TWTS" and struct.unpack(">Q", d[-8:])[0] > 1_600_000_000 * 10**9
    assert got[-1] == b"SENDTEST  " + struct.pack(">QH", 12013, 0xFFFF)


def test_seeded_loss_is_reproducible_and_per_line(ritch):
    with veth_pair() as net:
        maps = []
        for seed in (7, 7, 8):
            snd, sock, *_ = sender_for(net, ritch, loss=0.3, seed=seed, dests=((GROUP, PORT), ("239.77.2.2", PORT)))
            m = snd.record_drops()
            snd.run(None, eos=0)
            maps.append(m.copy())
            assert snd.dropped == int(m.sum())
            sock.close()
    assert np.array_equal(maps[0], maps[1]) and not np.array_equal(maps[0], maps[2])
    a, b = maps[0][:, 0], maps[0][:, 1]
    assert not np.array_equal(a, b)                      # independent lines
    assert 0.15 < maps[0].mean() < 0.45


def test_send_cli_pcap_as_recorded(data_dir):
    """`tickwire send PCAP`: the pcap's payloads go out unchanged (plus the trailer), in order."""
    from lab.moldserve import capture_payloads

    pcap = sorted(glob.glob(str(data_dir / "pcap" / "Nasdaq*" / "*.pcap")))[0]
    payloads, _ = capture_payloads(pcap)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with veth_pair() as net:
        rx = join(net)
        p = net.run(net.ns_a, "env", f"PYTHONPATH={root}", sys.executable, "-m", "tickwire", "send", pcap,
                    "--to", f"{GROUP}:{PORT}", "--iface", net.if_a, "--speed", "1000", "--no-eos", "--json",
                    timeout=60)
        got = recv_all(rx, until_eos=False, limit=len(payloads))
        rx.close()
    assert [g[:-12] for g in got] == payloads
    assert all(g[-12:-8] == b"TWTS" for g in got)
    assert '"sent_packets": 5' in p.stdout


def test_send_cli_errors_are_clear(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bad = tmp_path / "bad.itch"
    bad.write_bytes(b"\x00\x00\x00\x00")
    p = subprocess.run([sys.executable, "-m", "tickwire", "send", str(bad), "--to", "127.0.0.1:9"],
                       capture_output=True, text=True, timeout=60, cwd=root, env={**os.environ, "PYTHONPATH": root})
    assert p.returncode == 1 and "zero length prefix at byte 0" in p.stderr


def test_server_day_from_pcap_equals_binaryfile(tmp_path):
    """`mold serve` of a pcap re-sequences the capture's messages: same messages as the binaryFILE day."""
    from lab.daygen import generate_day
    from lab.moldserve import MoldDay

    generate_day(str(tmp_path / "d.itch"), 3000, 5, 2)
    generate_day(str(tmp_path / "d.pcap"), 3000, 5, 2, pcap=True)
    a = MoldDay.load(str(tmp_path / "d.itch"))
    b = MoldDay.load(str(tmp_path / "d.pcap"))
    assert a.messages == b.messages == 3000
    assert a.data.tobytes() == b.data.tobytes()
    k, blocks = a.block(10, 1000, 1380)                  # a retransmission answer: what fits in 1380 bytes
    assert 0 < k < 1000 and len(blocks) <= 1380 and blocks == a.data[a.offs[9]:a.offs[9 + k]].tobytes()


def to_pcapng(src, dst):
    """The packets of classic pcap ``src`` rewritten as pcapng (scapy's writer: independent of the reader)."""
    scapy_all = pytest.importorskip("scapy.all")
    with scapy_all.PcapNgWriter(str(dst)) as w:
        for p in scapy_all.rdpcap(str(src)):
            w.write(p)


def test_pcapng_day_served_and_sent_like_the_pcap(tmp_path):
    """pcapng captures are read by the product's PcapSource: `mold serve` / `soup serve` get the same day as
    from the pcap, and `tickwire send` sends its payloads unchanged (unicast on loopback)."""
    from lab.daygen import generate_day
    from lab.moldserve import MoldDay, capture_payloads

    generate_day(str(tmp_path / "d.itch"), 2000, 5, 3)
    generate_day(str(tmp_path / "d.pcap"), 2000, 5, 3, pcap=True)
    to_pcapng(tmp_path / "d.pcap", tmp_path / "d.pcapng")
    assert (tmp_path / "d.pcapng").read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    day = MoldDay.load(str(tmp_path / "d.pcapng"))
    assert day.data.tobytes() == MoldDay.load(str(tmp_path / "d.itch")).data.tobytes()
    payloads, _ = capture_payloads(str(tmp_path / "d.pcapng"))
    assert payloads == capture_payloads(str(tmp_path / "d.pcap"))[0]

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        p = subprocess.Popen([sys.executable, "-m", "tickwire", "send", str(tmp_path / "d.pcapng"), "--to",
                              f"127.0.0.1:{rx.getsockname()[1]}", "--rate", "100000", "--no-eos", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root,
                             env={**os.environ, "PYTHONPATH": root})
        got = recv_all(rx, until_eos=False, limit=len(payloads))      # while it sends: no socket-buffer overflow
        out, err = p.communicate(timeout=60)
    finally:
        rx.close()
    assert p.returncode == 0, err
    # data packets get the TWTS trailer; the capture's own End of Session goes out as recorded (and once)
    control = [len(x) == 20 and x[18:20] in (b"\x00\x00", b"\xff\xff") for x in payloads]
    assert control[-1] and sum(control) == 1
    assert [g if c else g[:-12] for g, c in zip(got, control)] == payloads and len(got) == len(payloads)
    assert all(g[-12:-8] == b"TWTS" for g, c in zip(got, control) if not c)
    assert f'"sent_packets": {len(payloads)}' in out and '"messages_sent": 2000' in out
