"""UdpSource against the real kernel: multicast and unicast over a veth pair between two namespaces."""
import time

import pytest

from netns_util import mold_packet, netns_pair, send_udp  # noqa: F401  (fixture)

from datapath.registry import open_source
from datapath.source_codes import (KSRC_E_BAD_OPTION, KSRC_E_CLOSED, KSRC_E_NO_INTERFACE, SourceError)
from datapath.udp_source import UdpSource

pytestmark = pytest.mark.netns
GROUP = "239.200.1.1"
OTHER_GROUP = "239.200.1.2"
PORT = 26400


def collect(src, count, deadline_s=20.0):
    """Receive until ``count`` datagrams arrived or the (generous, correctness-only) deadline passed."""
    got = []
    end = time.monotonic() + deadline_s
    while len(got) < count and time.monotonic() < end:
        got.extend(src.recv())
    return got


def test_multicast_over_veth_exactly_once_byte_identical(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        src = UdpSource(PORT, group=GROUP, interface=net.if_b, timeout_ms=50)
    with src:
        t0 = time.time_ns()
        n = 3000
        sender = send_udp(net, net.ns_a, GROUP, PORT, 1, n, size=120, wait=False)
        got = collect(src, n)
        sender.wait(timeout=60)
        t1 = time.time_ns()
        extra = src.recv()                         # nothing beyond what was sent
        assert extra == []
        assert len(got) == n
        seqs = [int.from_bytes(p[10:18], "big") for p, _, _ in got]
        assert sorted(seqs) == list(range(1, n + 1))          # every datagram exactly once
        for payload, src_ip, rx_ns in got:
            seq = int.from_bytes(payload[10:18], "big")
            assert payload == mold_packet(seq, 120)           # byte-identical
            assert src_ip == int.from_bytes(bytes(map(int, net.ip_a.split("."))), "big")
            assert t0 <= rx_ns <= t1                          # kernel receive time, CLOCK_REALTIME
        rx = [r for _, _, r in got]
        assert rx == sorted(rx)                               # one socket, one queue: in order
        c = src.counters()
        assert c["rx_packets"] == n and c["rx_bytes"] == n * 120
        assert c["kernel_drops"] == 0 and c["dropped_bad"] == 0


def test_other_group_on_same_port_stays_out(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        src = UdpSource(PORT, group=GROUP, interface=net.if_b, timeout_ms=50)
        other = UdpSource(PORT, group=OTHER_GROUP, interface=net.if_b, timeout_ms=50)
    with src, other:
        send_udp(net, net.ns_a, OTHER_GROUP, PORT, 1000, 50)
        send_udp(net, net.ns_a, GROUP, PORT, 1, 20)
        got = collect(src, 20)
        assert sorted(int.from_bytes(p[10:18], "big") for p, _, _ in got) == list(range(1, 21))
        assert src.recv() == []
        assert len(collect(other, 50)) == 50


def test_unicast_busy_poll_and_registry(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        src = open_source("udp", port=PORT + 1, busy_poll=True)
    with src:
        assert src.recv() == []                   # busy-poll: returns at once when empty
        send_udp(net, net.ns_a, net.ip_b, PORT + 1, 7, 40, size=64)
        got = []
        end = time.monotonic() + 20
        while len(got) < 40 and time.monotonic() < end:
            got.extend(src.recv())
        assert [int.from_bytes(p[10:18], "big") for p, _, _ in got] == list(range(7, 47))


def test_truncated_datagram_counted_not_delivered(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        src = UdpSource(PORT, group=GROUP, interface=net.if_b, buffer_size=100, timeout_ms=50)
    with src:
        send_udp(net, net.ns_a, GROUP, PORT, 1, 3, size=400)
        send_udp(net, net.ns_a, GROUP, PORT, 10, 2, size=80)
        got = collect(src, 2, deadline_s=5)
        assert [int.from_bytes(p[10:18], "big") for p, _, _ in got] == [10, 11]
        assert src.dropped_bad == 3


def test_drain_walks_moldudp64(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        src = UdpSource(PORT, group=GROUP, interface=net.if_b, timeout_ms=20)
    with src:
        send_udp(net, net.ns_a, GROUP, PORT, 1, 500, size=90)
        st = src.drain(max_packets=500, seconds=20)
        assert st["packets"] == 500 and st["messages"] == 500
        assert st["gaps"] == 0 and st["bad"] == 0 and st["rc"] == 0


def test_errors_have_codes(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        with pytest.raises(SourceError) as e:
            UdpSource(PORT, group=GROUP, interface="nosuch0")
        assert e.value.code == KSRC_E_NO_INTERFACE and e.value.name == "KSRC_E_NO_INTERFACE"
        assert "'nosuch0' not found" in str(e.value)
        with pytest.raises(SourceError) as e:
            UdpSource(PORT, group="10.1.2.3")
        assert e.value.code == KSRC_E_BAD_OPTION and "not an IPv4 multicast address" in str(e.value)
        with pytest.raises(SourceError) as e:
            UdpSource(0)
        assert e.value.code == KSRC_E_BAD_OPTION and "port 0 out of range" in str(e.value)
        src = UdpSource(PORT, group=GROUP, interface=net.if_b)
    src.close()
    with pytest.raises(SourceError) as e:
        src.recv()
    assert e.value.code == KSRC_E_CLOSED


def test_source_specific_join_and_two_readers(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        ssm = UdpSource(PORT, group="232.200.1.1", source=net.ip_a, interface_addr=net.ip_b, timeout_ms=50,
                        so_busy_poll_us=50)
        wrong = UdpSource(PORT + 5, group="232.200.1.1", source="10.9.9.9", interface_addr=net.ip_b, timeout_ms=20)
        a = UdpSource(PORT + 6, group=GROUP, interface=net.if_b, timeout_ms=50)
        b = UdpSource(PORT + 6, group=GROUP, interface=net.if_b, timeout_ms=50)    # SO_REUSEPORT: both get copies
    with ssm, wrong, a, b:
        send_udp(net, net.ns_a, "232.200.1.1", PORT, 1, 30)
        send_udp(net, net.ns_a, "232.200.1.1", PORT + 5, 1, 5)
        assert sorted(int.from_bytes(p[10:18], "big") for p, _, _ in collect(ssm, 30)) == list(range(1, 31))
        assert collect(wrong, 1, deadline_s=0.3) == []            # other sender: not joined
        send_udp(net, net.ns_a, GROUP, PORT + 6, 1, 25)
        assert len(collect(a, 25)) == 25 and len(collect(b, 25)) == 25
        with net.enter(net.ns_b), pytest.raises(SourceError) as e:
            UdpSource(PORT, group="232.200.1.1", source=net.ip_a, interface=net.if_b)
        assert e.value.code == KSRC_E_BAD_OPTION and "needs interface_addr" in str(e.value)
