"""DpdkSource against a naive reference parser on thousands of fuzzed frames (one net_pcap run).

The frames are valid MoldUDP64/UDP frames (0-2 VLAN tags, IP options), frames to other
destinations, byte-flipped and truncated copies of them, random bytes and jumbo frames larger than
one mbuf. A straightforward Python parser written from the header layouts decides each frame's fate;
DPDK's receive path must agree exactly: the same payloads in the same order, the same count per
drop reason, no crash, every mbuf back in the pool.
"""
from __future__ import annotations

import collections
import random
import struct
from pathlib import Path

from dpdk_helper import run_scenario

GROUP, PORT = (239 << 24) | (1 << 16) | (2 << 8) | 3, 31337
EAL = ["--no-huge", "-m", "256", "--no-shconf", "--no-pci", "--no-telemetry", "-l", "0"]
DATA_ROOM = 2048          # bytes of frame one default mbuf holds (2048 + 128 headroom)


def be16(b: bytes, o: int) -> int:
    return (b[o] << 8) | b[o + 1]


def reference(frame: bytes) -> tuple[str, bytes | None]:
    """(reason, payload): reason "ok" or the drop reason; a plain reading of Ethernet/IPv4/UDP."""
    if len(frame) > DATA_ROOM:
        frame = frame[:DATA_ROOM]            # the receive path sees the first mbuf segment only
    n = len(frame)
    if n < 14:
        return "short", None
    off = 12
    et = be16(frame, off)
    while et in (0x8100, 0x88A8):
        if n < off + 6:
            return "short", None
        off += 4
        et = be16(frame, off)
    if et != 0x0800:
        return "not_ipv4", None
    ip = frame[off + 2:]
    if len(ip) < 20:
        return "short", None
    if ip[0] >> 4 != 4:
        return "not_ipv4", None
    ihl, total = (ip[0] & 15) * 4, be16(ip, 2)
    if ihl < 20 or total < ihl or total > len(ip):
        return "bad_ip", None
    if be16(ip, 6) & 0x3FFF:
        return "fragment", None
    if ip[9] != 17:
        return "not_udp", None
    if total < ihl + 8:
        return "short", None
    ulen = be16(ip, ihl + 4)
    if ulen < 8 or ulen > total - ihl:
        return "bad_udp", None
    if int.from_bytes(ip[16:20], "big") != GROUP or be16(ip, ihl + 2) != PORT:
        return "filtered", None
    return "ok", ip[ihl + 8:ihl + ulen]


def checksum(h: bytes) -> int:
    s = sum(struct.unpack(f"!{len(h) // 2}H", h))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def valid_frame(rng: random.Random, dst: int = GROUP, dport: int = PORT, size: int | None = None) -> bytes:
    payload = rng.randbytes(size if size is not None else rng.randrange(0, 300))
    udp = struct.pack("!HHHH", rng.randrange(1024, 65536), dport, 8 + len(payload), 0) + payload
    opts = b"\x01" * 4 * rng.choice([0, 0, 0, 1, 2])
    ihl = 5 + len(opts) // 4
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(udp), rng.randrange(65536), 0, 8, 17, 0,
                      rng.randbytes(4), dst.to_bytes(4, "big")) + opts
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    tags = b"".join(struct.pack("!HH", tpid, rng.randrange(4096))
                    for tpid in [(0x88A8, 0x8100), (0x8100,), ()][rng.randrange(3)])
    frame = bytes.fromhex("01005e010203") + rng.randbytes(6) + tags + b"\x08\x00" + hdr + udp
    if rng.random() < 0.2:
        frame += b"\x00" * rng.randrange(1, 30)      # Ethernet padding / trailer
    return frame


def fuzz_frames(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        r = rng.random()
        if r < 0.3:
            f = valid_frame(rng)
        elif r < 0.4:
            f = valid_frame(rng, dst=rng.choice([GROUP, GROUP + 1]), dport=rng.choice([PORT, PORT + 1]))
        elif r < 0.65:
            f = bytearray(valid_frame(rng))
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(min(len(f), 64))
                f[i] ^= 1 << rng.randrange(8)
            f = bytes(f)
        elif r < 0.85:
            f = valid_frame(rng)
            f = f[:rng.randrange(1, len(f))]
        elif r < 0.99:
            f = rng.randbytes(rng.randrange(1, 200))
        else:
            f = valid_frame(rng, size=rng.randrange(2100, 4000))      # needs a second mbuf
        out.append(f)
    return out


def write_pcap(path: Path, frames: list[bytes]) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr)


def test_fuzzed_frames_match_the_reference(tmp_path):
    frames = fuzz_frames(seed=2024, count=3000)
    path = tmp_path / "fuzz.pcap"
    write_pcap(path, frames)
    verdicts = [reference(f) for f in frames]
    want = [p.hex() for why, p in verdicts if why == "ok"]
    reasons = collections.Counter(why for why, _ in verdicts if why != "ok")
    assert len(want) > 500 and len(reasons) >= 6          # the fuzz reaches every branch

    r = run_scenario({"eal": EAL + ["--vdev", f"net_pcap0,rx_pcap={path}"], "ports": ["net_pcap0"],
                      "group": "239.1.2.3", "dst_port": PORT, "idle": 0.5, "max_seconds": 60})
    assert r["ok"], r
    port = r["ports"][0]
    c = port["counters"]
    assert c["rx_frames"] == len(frames), "net_pcap delivered every frame, the malformed ones too"
    assert port["payloads"] == want
    assert c["drop_reasons"] == dict(reasons)
    jumbo = sum(1 for f in frames if len(f) > DATA_ROOM)
    assert c["segmented"] == jumbo > 0
    assert port["pool"][1] == 0                            # every mbuf freed


# Hypothesis drives the frame mix; each example is one EAL process, so few examples.
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 400),
       raw=st.lists(st.binary(min_size=1, max_size=120), max_size=20))
def test_property_any_frame_mix_matches_the_reference(tmp_path, seed, count, raw):
    frames = fuzz_frames(seed, count) + raw
    random.Random(seed).shuffle(frames)
    path = tmp_path / f"prop_{seed}_{count}.pcap"
    write_pcap(path, frames)
    verdicts = [reference(f) for f in frames]
    r = run_scenario({"eal": EAL + ["--vdev", f"net_pcap0,rx_pcap={path}"], "ports": ["net_pcap0"],
                      "group": "239.1.2.3", "dst_port": PORT, "idle": 0.3, "wait_first": 10,
                      "max_seconds": 60})
    assert r["ok"], r
    port = r["ports"][0]
    assert port["payloads"] == [p.hex() for why, p in verdicts if why == "ok"]
    assert port["counters"]["drop_reasons"] == dict(collections.Counter(w for w, _ in verdicts if w != "ok"))
    assert port["counters"]["rx_frames"] == len(frames)
