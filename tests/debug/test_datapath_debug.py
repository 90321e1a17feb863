"""Kernel sources on the loopback interface, on the release AND TW_DEBUG builds (no namespaces needed).

UdpSource (unicast 127.0.0.1) and AfPacketSource (TPACKET_V3 ring on ``lo``, whose frames the kernel sees
twice: PACKET_IGNORE_OUTGOING must keep exactly one copy) receive every datagram once, byte-identical; the
TW_DEBUG ring bounds check stays at 0.
"""
import os
import random
import socket
import time

import pytest

from datapath import afpacket_source, udp_source


def _payload(i):
    return b"TWDEBUG001" + i.to_bytes(8, "big") + b"\x00\x01" + bytes((i * 7 + k) & 0xFF for k in range(40))


def _collect(src, n, deadline_s=10):
    got, end = [], time.monotonic() + deadline_s
    while len(got) < n and time.monotonic() < end:
        got.extend(src.recv())
    return got


def test_udp_loopback():
    port = random.randint(40000, 60000)
    with udp_source.UdpSource(port, bind_addr="127.0.0.1", timeout_ms=20) as src:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(200):
            s.sendto(_payload(i), ("127.0.0.1", port))
        got = _collect(src, 200)
        assert [p for p, _, _ in got] == [_payload(i) for i in range(200)]
        assert all(ip == 0x7F000001 and ts > 0 for _, ip, ts in got)
        assert src.dropped_bad == 0 and src.kernel_drops == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="AF_PACKET needs CAP_NET_RAW (CI runs as root)")
def test_afpacket_ring_on_loopback_once_each():
    port = random.randint(40000, 60000)
    with afpacket_source.AfPacketSource("lo", port=port, block_size=1 << 16, block_nr=64, timeout_ms=20) as src:
        # 64 blocks: the 1 ms retire timer may close a block every few packets while nothing reads.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(300):
            s.sendto(_payload(i), ("127.0.0.1", port))
            if i % 50 == 49:
                time.sleep(0.002)
        got = _collect(src, 300)
        time.sleep(0.01)
        got.extend(src.recv())
        assert sorted(p for p, _, _ in got) == sorted(_payload(i) for i in range(300))   # once each
        assert src.debug_ring_errors == 0
        c = src.counters()
        assert c["dropped_bad"] == 0 and c["kernel_drops"] == 0
    assert afpacket_source.DEBUG == (os.environ.get("TICKWIRE_DEBUG", "0") not in ("", "0"))   # the build under test
