"""DpdkSource over DPDK's net_pcap virtual device: real NASDAQ pcaps and a crafted mixed capture.

Each scenario runs in its own interpreter (tests/dpdk_helper.py): the EAL can be initialised once
per process. The EAL runs without hugepages or PCI (``--no-huge -m MB --no-shconf --no-pci``), so
these tests need DPDK's libraries (tuning/system-deps.sh) but no NIC and no privileges beyond
reading the files. Payloads are compared byte for byte with scapy's dissection of the same file.
"""
from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dpdk_helper import ROOT, parse_result, run_scenario

# scapy is a test dependency (pyproject [test]): missing, this module fails rather than skips.
from scapy.all import ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, IPv6, IPOption, Raw, Padding, rdpcap, wrpcap, raw  # noqa: E402

GROUP = "233.54.12.111"
PORT = 26477
EAL = ["--no-huge", "-m", "256", "--no-shconf", "--no-pci", "--no-telemetry", "-l", "0"]

# ITCH 5.0 spec lengths of a few message types: MoldUDP64 blocks of realistic sizes.
ITCH_LENGTHS = {b"A": 36, b"F": 40, b"E": 31, b"X": 23, b"D": 19, b"U": 35, b"P": 44, b"S": 12}


def udp_payload(pkt) -> bytes:
    """scapy's view of a frame's UDP payload: exactly the UDP length, without Ethernet padding."""
    u = pkt[UDP]
    return raw(u)[8:u.len]


def mold_packet(rng: random.Random, seq: int, count: int) -> bytes:
    msgs = []
    for _ in range(count):
        t = rng.choice(list(ITCH_LENGTHS))
        msgs.append(t + rng.randbytes(ITCH_LENGTHS[t] - 1))
    return (b"TWTEST0001" + seq.to_bytes(8, "big") + count.to_bytes(2, "big")
            + b"".join(len(m).to_bytes(2, "big") + m for m in msgs))


def craft_capture(path: Path, seed: int = 7):
    """Hundreds of MoldUDP64 packets to GROUP:PORT (plain, 802.1Q, QinQ, IP options, padded,
    heartbeats) interleaved with noise to filter and malformed frames to count as bad.

    Returns (labels, expected reasons, total messages, gaps): one label per frame, "want" or the
    drop reason expected.
    """
    rng = random.Random(seed)
    frames, labels = [], []
    seq = 1
    messages = 0
    gaps = 0
    eth = dict(src="02:00:00:00:00:01", dst="01:00:5e:36:0c:6f")
    for i in range(400):
        count = rng.choice([0, 1, 1, 2, 3, 5]) if i % 50 else 0      # count 0: heartbeat
        if i == 200:
            seq += 5                                                  # one deliberate sequence gap
            gaps += 1
        payload = mold_packet(rng, seq, count)
        seq += count
        messages += count
        ip = IP(src=f"10.9.{i // 250}.{i % 250 + 1}", dst=GROUP, ttl=8)
        if i % 31 == 3:
            ip = IP(src="10.9.9.9", dst=GROUP, options=IPOption(b"\x01\x01\x01\x00"))   # IHL 6
        l4 = UDP(sport=40000 + i % 7, dport=PORT) / Raw(payload)
        if i % 7 == 0:
            f = Ether(**eth) / Dot1Q(vlan=100 + i % 3) / ip / l4
        elif i % 29 == 0:
            f = Ether(type=0x88A8, **eth) / Dot1Q(vlan=10, type=0x8100) / Dot1Q(vlan=20) / ip / l4
        else:
            f = Ether(**eth) / ip / l4
        if len(payload) < 20 or i % 41 == 0:
            f = f / Padding(b"\x00" * 24)                              # Ethernet padding after UDP
        frames.append(f)
        labels.append("want")

    noise = []
    for k in range(5):
        noise.append((Ether() / ARP(pdst="10.9.0.1"), "not_ipv4"))
        noise.append((Ether() / IPv6(dst="ff02::1") / UDP(dport=PORT) / Raw(b"v6"), "not_ipv4"))
        noise.append((Ether(**eth) / IP(dst=GROUP) / TCP(dport=PORT) / Raw(b"tcp"), "not_udp"))
    for k in range(3):
        noise.append((Ether(**eth) / IP(dst=GROUP) / ICMP() / Raw(b"ping"), "not_udp"))
    for k in range(10):
        noise.append((Ether(**eth) / IP(dst=GROUP) / UDP(dport=PORT + 1 + k) / Raw(b"other port"), "filtered"))
        noise.append((Ether(**eth) / IP(dst="233.54.12.112") / UDP(dport=PORT) / Raw(b"other group"), "filtered"))
    for k in range(3):
        noise.append((Ether(**eth) / IP(dst=GROUP, ihl=3) / UDP(dport=PORT) / Raw(b"bad ihl"), "bad_ip"))
        noise.append((Ether(**eth) / IP(dst=GROUP, len=1000) / UDP(dport=PORT) / Raw(b"ip len"), "bad_ip"))
        noise.append((Ether(**eth) / IP(dst=GROUP) / UDP(dport=PORT, len=500) / Raw(b"udp len"), "bad_udp"))
    for k in range(2):
        noise.append((Ether(**eth, type=0x0800) / Raw(b"\x45\x00\x00\x30" + b"\x00" * 6), "short"))
        noise.append((Ether(**eth) / IP(dst=GROUP, flags="MF") / UDP(dport=PORT) / Raw(b"frag"), "fragment"))
    for f, why in noise:
        pos = rng.randrange(len(frames) + 1)
        frames.insert(pos, f)
        labels.insert(pos, why)
    wrpcap(str(path), frames)
    return labels, collections.Counter(l for l in labels if l != "want"), messages, gaps


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("dpdk") / "mixed.pcap"
    labels, reasons, messages, gaps = craft_capture(path)
    pkts = rdpcap(str(path))
    assert len(pkts) == len(labels)
    expected = []
    for p, label in zip(pkts, labels):
        if label == "want":
            # scapy agrees these are UDP to the group and port.
            assert p.haslayer(UDP) and p[IP].dst == GROUP and p[UDP].dport == PORT
            expected.append(udp_payload(p).hex())
    return path, expected, reasons, messages, gaps


def real_pcaps(data_dir: Path) -> list[Path]:
    files = sorted((data_dir / "pcap").rglob("*.pcap"))
    assert files, f"no pcap under {data_dir / 'pcap'}"
    return files


# ----------------------------------------------------------------- tests ----
def test_real_nasdaq_pcaps_every_payload_once_and_identical(data_dir):
    # 38 files: net_pcap takes one rx_pcap per Rx queue (at most 16 per device), so three devices
    # with up to 16 queues each, one DpdkSource per queue sharing its port (multi-queue path too).
    files = real_pcaps(data_dir)
    groups = [files[i:i + 16] for i in range(0, len(files), 16)]
    vdevs, ports = [], []
    for d, group in enumerate(groups):
        vdevs += ["--vdev", f"net_pcap{d}," + ",".join(f"rx_pcap={f}" for f in group)]
        ports.append([f"net_pcap{d}", len(group)])
    spec = {"eal": EAL + vdevs, "ports": ports, "mbufs": 4095, "rx_desc": 128, "idle": 0.5, "max_seconds": 30}
    r = run_scenario(spec, timeout=120)
    assert r["ok"], r
    assert len(r["ports"]) == len(files)
    total = 0
    for f, src in zip(files, r["ports"]):
        want = [udp_payload(p).hex() for p in rdpcap(str(f)) if p.haslayer(UDP)]
        assert src["payloads"] == want, f"{f.name}: DPDK payloads differ from scapy's"
        c = src["counters"]
        assert c["rx_packets"] == len(want) and c["dropped_bad"] == 0 and c["dropped_filter"] == 0, (f.name, c)
        assert c["imissed"] == 0 and c["ierrors"] == 0
        total += len(want)
    assert total == 178      # shared/data/README.md: 38 files, 178 packets


def test_crafted_capture_payloads_once_noise_counted(capture):
    path, expected, reasons, _, _ = capture
    spec = {"eal": EAL + ["--vdev", f"net_pcap0,rx_pcap={path}"], "ports": ["net_pcap0"],
            "group": GROUP, "dst_port": PORT, "idle": 0.5, "max_seconds": 30}
    r = run_scenario(spec)
    assert r["ok"], r
    port = r["ports"][0]
    assert port["driver"] == "net_pcap"
    # Exactly once, byte-identical, in capture order (net_pcap keeps the file's order).
    assert port["payloads"] == expected
    c = port["counters"]
    assert c["rx_packets"] == len(expected) == 400
    assert c["rx_bytes"] == sum(len(p) // 2 for p in expected)
    assert c["rx_frames"] == len(expected) + sum(reasons.values())
    filtered = sum(n for k, n in reasons.items() if k in ("not_ipv4", "not_udp", "filtered"))
    assert c["dropped_filter"] == filtered == 38
    assert c["dropped_bad"] == sum(reasons.values()) - filtered == 13
    assert c["drop_reasons"] == dict(reasons)
    assert c["imissed"] == 0 and c["rx_nombuf"] == 0 and c["debug_violations"] == 0
    # Every mbuf went back to the pool.
    avail, in_use = port["pool"]
    assert in_use == 0 and avail == 16383
    lo, hi = port["rx_ns"]
    assert 0 < lo <= hi and abs(hi / 1e9 - time.time()) < 3600


def test_crafted_capture_no_filter_accepts_every_udp(capture):
    path, expected, reasons, _, _ = capture
    spec = {"eal": EAL + ["--vdev", f"net_pcap0,rx_pcap={path}"], "ports": ["net_pcap0"],
            "idle": 0.5, "max_seconds": 30}
    r = run_scenario(spec)
    c = r["ports"][0]["counters"]
    # Without a group/port filter, the 20 "other port/group" UDP frames are accepted too.
    assert c["rx_packets"] == len(expected) + reasons["filtered"]
    assert c["dropped_filter"] == reasons["not_ipv4"] + reasons["not_udp"]


def test_registry_opens_dpdk_source(capture):
    path, expected, _, _, _ = capture
    spec = {"mode": "registry", "eal": EAL + ["--vdev", f"net_pcap0,rx_pcap={path}"], "ports": ["net_pcap0"],
            "group": GROUP, "dst_port": PORT, "idle": 0.5, "max_seconds": 30}
    r = run_scenario(spec)
    assert r["ok"], r
    assert r["ports"][0]["payloads"] == expected


def test_nogil_poll_loop_walks_moldudp64_and_restores_affinity(capture):
    path, expected, _, messages, gaps = capture
    # -l 0,1: the EAL pins its main thread to lcore 0's CPU set; poll pins to CPU 1 and restores.
    spec = {"mode": "poll", "eal": EAL[:-2] + ["-l", "0-1", "--vdev", f"net_pcap0,rx_pcap={path}"],
            "ports": ["net_pcap0"], "group": GROUP, "dst_port": PORT, "idle": 0.5, "max_seconds": 30,
            "cpu": os.cpu_count() - 1}
    r = run_scenario(spec)
    assert r["ok"], r
    p = r["poll"]
    assert p["packets"] == len(expected)
    assert p["messages"] == messages
    assert p["gaps"] == gaps == 1
    assert p["bad"] == 0 and p["code"] == 0 and p["stopped_by"] == "limit"
    assert p["affinity_after"] == p["affinity_before"]


def test_sigterm_stops_the_poll_loop(tmp_path):
    # net_null delivers an endless stream of zeroed frames (counted as not IPv4): the loop would
    # run for max_seconds; SIGTERM must end it at once through the force_quit flag.
    spec = {"mode": "poll", "eal": EAL + ["--vdev", "net_null0"], "ports": ["net_null0"], "max_seconds": 60}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in sys.path if p]))
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "dpdk_helper.py"), json.dumps(spec)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "TWREADY"
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    r = parse_result(out, err, proc.returncode)
    assert r["ok"] and proc.returncode == 0, r
    p = r["poll"]
    assert p["stopped_by"] == "signal"
    assert p["seconds"] < 30
    c = p["counters"]
    assert c["rx_frames"] > 0 and c["rx_packets"] == 0 and c["dropped_filter"] == c["rx_frames"]


def test_tickwire_listen_over_dpdk_builds_the_books(tmp_path):
    # End to end: a generated MoldUDP64 day through net_pcap -> DpdkSource -> MoldSession -> books.
    day = tmp_path / "day.pcap"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), str(ROOT)] + [p for p in sys.path if p]))
    subprocess.run([sys.executable, "-m", "tickwire", "generate", str(day), "--messages", "5000", "--symbols", "20",
                    "--seed", "3", "--pcap"], check=True, capture_output=True, env=env, timeout=120)
    eal = " ".join(EAL + ["--vdev", f"net_pcap0,rx_pcap={day}"])
    p = subprocess.run([sys.executable, "-m", "tickwire", "listen", "--source", "dpdk", "--dpdk-args", eal,
                        "--group", f"{GROUP}:{PORT}", "--idle-timeout", "1", "--timeout", "30", "--json"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["messages"] == 5000
    assert summary["gaps"] == 0 and summary["malformed"] == 0 and summary["crossed_books"] == 0


def test_poll_with_a_python_handler(capture):
    path, expected, _, _, _ = capture
    code = f"""
import json
from datapath import dpdk_source
from dpdk_bindings import eal
src = dpdk_source.open_source({EAL + ["--vdev", f"net_pcap0,rx_pcap={path}"]!r}, "net_pcap0", {GROUP!r}, {PORT})
got = []
r = dpdk_source.poll(src, lambda payload, src_ip, rx_ns: got.append(payload.hex()), idle_seconds=0.5, max_seconds=30)
print(json.dumps({{"got": got, "packets": r["packets"], "stopped_by": r["stopped_by"]}}))
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), str(ROOT)] + [p for p in sys.path if p]))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["got"] == expected and r["packets"] == len(expected) and r["stopped_by"] == "limit"
