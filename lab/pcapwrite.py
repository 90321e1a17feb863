"""Nanosecond pcap files of Ethernet/IPv4/UDP/MoldUDP64 packets: headers, checksums, a small writer.

`lab.daygen` frames millions of packets in C and only takes its header template and global
header from here; `PcapWriter` is the plain Python path for tools and tests that write a few
packets. Layouts: ../shared/specs/itch50_moldudp64_soupbintcp_layout.md (MoldUDP64) and the
libpcap file format (magic 0xa1b23c4d = nanosecond timestamps, little-endian file).
"""
from __future__ import annotations

import datetime as _dt
import ipaddress
import struct
from typing import BinaryIO, Iterable

# ------------------------------------------------------------ constants ----
PCAP_MAGIC_NS = 0xA1B23C4D
"""libpcap magic for nanosecond-resolution timestamps (written little-endian)."""
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
ETH_LEN, IP_LEN, UDP_LEN = 14, 20, 8
HEADERS_LEN = ETH_LEN + IP_LEN + UDP_LEN  # 42: bytes before the UDP payload
MOLD_HEADER_LEN = 20  # Session(10) + Sequence Number(8) + Message Count(2)
MOLD_MAX_PAYLOAD = 1400  # UDP payload budget of one MoldUDP64 packet (fits a 1500-byte MTU)
MOLD_END_OF_SESSION = 0xFFFF
MOLD_HEARTBEAT = 0x0000

DEFAULT_SESSION = b"TWSYNTH001"
DEFAULT_GROUP = "233.54.12.111"
DEFAULT_PORT = 26477
DEFAULT_SOURCE = "10.112.11.20"
DEFAULT_SOURCE_PORT = 40001
DEFAULT_SOURCE_MAC = bytes.fromhex("025457000001")  # locally administered ("TW")
DEFAULT_TTL = 32

GLOBAL_HEADER = struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
"""The 24-byte pcap file header (v2.4, nanosecond, Ethernet)."""


# -------------------------------------------------------------- helpers ----
def multicast_mac(group: str) -> bytes:
    """Ethernet address of an IPv4 multicast group: 01:00:5e + the group's low 23 bits (RFC 1112)."""
    ip = ipaddress.IPv4Address(group)
    if not ip.is_multicast:
        raise ValueError(f"{group} is not an IPv4 multicast group (224.0.0.0/4)")
    low = int(ip) & 0x7FFFFF
    return bytes((0x01, 0x00, 0x5E, (low >> 16) & 0x7F, (low >> 8) & 0xFF, low & 0xFF))


def ones_complement_sum(data: bytes, start: int = 0) -> int:
    """16-bit one's-complement sum (RFC 1071), not yet inverted."""
    if len(data) & 1:
        data = data + b"\0"
    s = start + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ipv4_checksum(header: bytes) -> int:
    """Checksum of an IPv4 header whose checksum field is zero."""
    return ~ones_complement_sum(header) & 0xFFFF


def udp_checksum(src: bytes, dst: bytes, udp: bytes) -> int:
    """UDP checksum over the IPv4 pseudo-header and ``udp`` (header with checksum 0 + payload).

    A computed 0 is sent as 0xFFFF (RFC 768: 0 means "no checksum").
    """
    pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
    c = ~ones_complement_sum(pseudo + udp) & 0xFFFF
    return c or 0xFFFF


def header_template(group: str = DEFAULT_GROUP, port: int = DEFAULT_PORT, source: str = DEFAULT_SOURCE,
                    source_port: int = DEFAULT_SOURCE_PORT, source_mac: bytes = DEFAULT_SOURCE_MAC,
                    ttl: int = DEFAULT_TTL) -> bytes:
    """The 42 bytes Ethernet+IPv4+UDP before the payload, with length/ID/checksum fields zero.

    The framer fills IPv4 total length @16, identification @18, header checksum @24,
    UDP length @38 and UDP checksum @40 per packet.
    """
    eth = multicast_mac(group) + source_mac + b"\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0x4000, ttl, 17, 0,
                     ipaddress.IPv4Address(source).packed, ipaddress.IPv4Address(group).packed)
    udp = struct.pack("!HHHH", source_port, port, 0, 0)
    return eth + ip + udp


def eastern_midnight_utc_ns(day: _dt.date) -> int:
    """Epoch ns of midnight US/Eastern on ``day`` (ITCH timestamps count ns from that midnight).

    US rule since 2007: EDT (UTC-4) from the second Sunday of March to the first Sunday of
    November, EST (UTC-5) otherwise; computed here so no tz database is needed.
    """
    def nth_sunday(year: int, month: int, n: int) -> _dt.date:
        d = _dt.date(year, month, 1)
        d += _dt.timedelta(days=(6 - d.weekday()) % 7)
        return d + _dt.timedelta(weeks=n - 1)

    edt = nth_sunday(day.year, 3, 2) <= day < nth_sunday(day.year, 11, 1)
    offset_h = 4 if edt else 5
    epoch = _dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc).timestamp()
    return (int(epoch) + offset_h * 3600) * 1_000_000_000


def mold_packet(session: bytes, seq: int, messages: Iterable[bytes] = (), count: int | None = None) -> bytes:
    """A MoldUDP64 downstream packet; ``count`` overrides the message count (0 heartbeat, 0xFFFF end)."""
    msgs = list(messages)
    if len(session) != 10:
        raise ValueError("MoldUDP64 session must be 10 bytes")
    n = len(msgs) if count is None else count
    return session + struct.pack("!QH", seq, n) + b"".join(struct.pack("!H", len(m)) + m for m in msgs)


# --------------------------------------------------------------- writer ----
class PcapWriter:
    """Write Ethernet/IPv4/UDP datagrams to a nanosecond pcap (valid IPv4 and UDP checksums)."""

    def __init__(self, f: BinaryIO, group: str = DEFAULT_GROUP, port: int = DEFAULT_PORT,
                 source: str = DEFAULT_SOURCE, source_port: int = DEFAULT_SOURCE_PORT):
        self.f = f
        self.template = bytearray(header_template(group, port, source, source_port))
        self.src = ipaddress.IPv4Address(source).packed
        self.dst = ipaddress.IPv4Address(group).packed
        self.ip_id = 0
        f.write(GLOBAL_HEADER)

    def frame(self, payload: bytes) -> bytes:
        """The Ethernet frame carrying ``payload`` as one UDP datagram."""
        h = self.template
        ip = bytearray(h[ETH_LEN:ETH_LEN + IP_LEN])
        struct.pack_into("!HH", ip, 2, IP_LEN + UDP_LEN + len(payload), self.ip_id)
        struct.pack_into("!H", ip, 10, ipv4_checksum(bytes(ip)))
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        udp = bytearray(h[ETH_LEN + IP_LEN:HEADERS_LEN])
        struct.pack_into("!H", udp, 4, UDP_LEN + len(payload))
        struct.pack_into("!H", udp, 6, udp_checksum(self.src, self.dst, bytes(udp) + payload))
        return bytes(h[:ETH_LEN]) + bytes(ip) + bytes(udp) + payload

    def write(self, ts_ns: int, payload: bytes) -> None:
        """Append one packet stamped ``ts_ns`` (epoch nanoseconds)."""
        frame = self.frame(payload)
        self.f.write(struct.pack("<IIII", ts_ns // 1_000_000_000, ts_ns % 1_000_000_000, len(frame), len(frame)))
        self.f.write(frame)
