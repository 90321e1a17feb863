"""Regression corpus: damaged inputs made by seeded functions from generated days (no stored blobs).

Each function takes the bytes of a good input (a generated binaryFILE day or nanosecond pcap from
``generate_day``) or a seed and returns the damaged bytes; the same arguments always give the same
bytes. Used by tests/test_replay_trust.py (issue 9: files into the books).
"""
from __future__ import annotations

import random
import struct

from lab.daygen import generate_day
from lab.pcapwrite import GLOBAL_HEADER, HEADERS_LEN

PCAP_GLOBAL = 24
PCAP_RECORD = 16
MOLD_SEQ = HEADERS_LEN + 10          # the sequence number's offset in an Ethernet/IPv4/UDP/MoldUDP64 frame


def day(path, messages: int = 20_000, symbols: int = 30, seed: int = 5, pcap: bool = False, **kw) -> bytes:
    """A generated day written to ``path``; returns its bytes."""
    generate_day(str(path), messages, symbols, seed, pcap=pcap, **kw)
    return open(path, "rb").read()


def frame_offset(itch: bytes, index: int) -> int:
    """Byte offset of binaryFILE frame ``index`` (0-based)."""
    off = 0
    for _ in range(index):
        off += 2 + struct.unpack_from(">H", itch, off)[0]
    return off


def set_length_prefix(itch: bytes, index: int, value: int) -> tuple[bytes, int]:
    """Frame ``index``'s 2-byte length prefix set to ``value``; returns (bytes, its offset)."""
    off = frame_offset(itch, index)
    b = bytearray(itch)
    struct.pack_into(">H", b, off, value)
    return bytes(b), off


def pcap_records(pcap: bytes):
    """(record offset, captured length, original length) of each record of a little-endian pcap."""
    off = PCAP_GLOBAL
    while off + PCAP_RECORD <= len(pcap):
        incl, orig = struct.unpack_from("<II", pcap, off + 8)
        yield off, incl, orig
        off += PCAP_RECORD + incl


def flip_first_sequence(pcap: bytes, seed: int) -> tuple[bytes, int]:
    """One bit of the first record's MoldUDP64 sequence number flipped (a bit of its upper 6 bytes,
    chosen by ``seed``, so that the damaged number is far above the real ones); returns (bytes, bit)."""
    bit = random.Random(seed).randrange(16, 64)
    b = bytearray(pcap)
    at = PCAP_GLOBAL + PCAP_RECORD + MOLD_SEQ
    seq, = struct.unpack_from(">Q", b, at)
    struct.pack_into(">Q", b, at, seq ^ (1 << bit))
    return bytes(b), bit


def cut_by_snaplen(pcap: bytes, seed: int, count: int, snaplen: int = 96) -> tuple[bytes, list[int]]:
    """``count`` records longer than ``snaplen`` (chosen by ``seed``) cut to ``snaplen`` captured bytes,
    original length kept (as ``tcpdump -s 96`` writes them); returns (bytes, the cut record indexes)."""
    recs = list(pcap_records(pcap))
    longer = [i for i, (_, incl, _) in enumerate(recs) if incl > snaplen]
    cut = sorted(random.Random(seed).sample(longer, count))
    wanted = set(cut)
    out = [pcap[:PCAP_GLOBAL]]
    for i, (off, incl, orig) in enumerate(recs):
        ts = pcap[off:off + 8]
        body = pcap[off + PCAP_RECORD:off + PCAP_RECORD + incl]
        if i in wanted:
            body = body[:snaplen]
        out.append(ts + struct.pack("<II", len(body), orig) + body)
    return b"".join(out), cut


def non_udp_capture(seed: int, frames: int = 300) -> bytes:
    """A nanosecond Ethernet pcap of ARP, IPv6 and IPv4/TCP frames only: not one UDP datagram."""
    rng = random.Random(seed)
    out = [GLOBAL_HEADER]
    for i in range(frames):
        kind = rng.choice(("arp", "ipv6", "tcp"))
        mac = bytes(rng.getrandbits(8) for _ in range(12))
        if kind == "arp":
            frame = mac + b"\x08\x06" + bytes(28)
        elif kind == "ipv6":
            frame = mac + b"\x86\xdd" + b"\x60" + bytes(39) + bytes(rng.getrandbits(8) for _ in range(20))
        else:
            payload = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 20 + len(payload), i, 0x4000, 64, 6, 0,
                             bytes((10, 0, 0, 1)), bytes((10, 0, 0, 2)))
            frame = mac + b"\x08\x00" + ip + bytes(20) + payload
        out.append(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame)
    return b"".join(out)
