"""AfPacketSource (TPACKET_V3 ring) against the real kernel, on a veth pair between two namespaces."""
import time

import pytest

from netns_util import ether_udp, mold_packet, netns_pair, send_raw, send_udp  # noqa: F401

from datapath.afpacket_source import AfPacketSource
from datapath.registry import open_source
from datapath.source_codes import (KSRC_E_BAD_OPTION, KSRC_E_CLOSED, KSRC_E_FANOUT, KSRC_E_NO_INTERFACE,
                                   SourceError)

pytestmark = pytest.mark.netns
GROUP = "239.200.2.1"
PORT = 26500


def ip_int(a):
    return int.from_bytes(bytes(map(int, a.split("."))), "big")


def collect(src, count, deadline_s=20.0):
    """Receive until ``count`` payloads arrived or the correctness deadline passed (never a perf bound)."""
    got = []
    end = time.monotonic() + deadline_s
    while len(got) < count and time.monotonic() < end:
        got.extend(src.recv())
    return got


def seqs(got):
    return [int.from_bytes(p[10:18], "big") for p, _, _ in got]


def test_ring_receives_feed_filters_noise(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        src = AfPacketSource(net.if_b, port=PORT, group=GROUP, timeout_ms=20)
    with src:
        t0 = time.time_ns()
        n = 2000
        send_udp(net, net.ns_a, GROUP, PORT + 1, 10_000, 100)          # noise: other port
        send_udp(net, net.ns_a, "239.200.2.9", PORT, 20_000, 50)       # noise: other group
        sender = send_udp(net, net.ns_a, GROUP, PORT, 1, n, size=200, src_port=40000, pace_every=100, wait=False)
        got = collect(src, n)
        sender.wait(timeout=60)
        t1 = time.time_ns()
        assert len(got) == n
        assert sorted(seqs(got)) == list(range(1, n + 1))               # exactly once
        assert seqs(got) == list(range(1, n + 1))                       # one flow: in order
        for payload, src_ip, rx_ns in got:
            assert payload == mold_packet(int.from_bytes(payload[10:18], "big"), 200)
            assert src_ip == ip_int(net.ip_a)
            assert t0 <= rx_ns <= t1
        time.sleep(0.01)
        assert src.recv() == []
        c = src.counters()
        assert c["rx_packets"] == n and c["rx_bytes"] == n * 200
        assert c["dropped_filter"] >= 150                                # the noise, counted
        assert c["dropped_bad"] == 0 and c["kernel_drops"] == 0
        assert c["blocks"] >= 1
        assert src.debug_ring_errors == 0                                # TW_DEBUG walk check (0 in release)
        assert GROUP in net.run(net.ns_b, "ip", "maddr", "show", "dev", net.if_b).stdout   # IGMP join held
    assert GROUP not in net.run(net.ns_b, "ip", "maddr", "show", "dev", net.if_b).stdout   # left on close


def test_bpf_filter_keeps_noise_in_kernel(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        src = open_source("afpacket", interface=net.if_b, port=PORT, bpf_filter=True, busy_poll=True)
    with src:
        send_udp(net, net.ns_a, GROUP, PORT + 1, 10_000, 100)
        send_udp(net, net.ns_a, net.ip_b, PORT, 1, 300)
        got = collect(src, 300)
        assert seqs(got) == list(range(1, 301))
        assert src.dropped_filter == 0                                  # noise never reached the ring


def test_release_semantics_and_ring_full_drops(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        # Tiny ring: 4 blocks of one page; held blocks fill it and the kernel must drop.
        src = AfPacketSource(net.if_b, port=PORT, block_size=4096, block_nr=4, frame_size=2048, timeout_ms=20)
    with src:
        send_udp(net, net.ns_a, net.ip_b, PORT, 1, 5, size=100)
        time.sleep(0.05)                                                # > retire timeout
        held = src.recv_held(2)
        assert seqs(held) == [1, 2]
        assert src.user_blocks() >= 1                                   # block still ours: frames valid
        assert held[0][0] == mold_packet(1, 100)
        rest = src.recv_held(32)                                        # walks out the block
        assert seqs(rest) == [3, 4, 5]
        assert src.user_blocks() >= 1                                   # not given back before release
        src.release()
        assert src.user_blocks() == 0                                   # all frames consumed: returned
        # Now do not read while 1500 packets arrive: the ring fills, the kernel counts drops.
        send_udp(net, net.ns_a, net.ip_b, PORT, 100, 1500, size=1000)
        time.sleep(0.05)
        got = collect(src, 1500, deadline_s=1.0)
        s = seqs(got)
        assert len(s) == len(set(s)) and 0 < len(s) < 1500
        c = src.counters()
        assert c["kernel_drops"] > 0 and c["freeze_count"] >= 1
        assert len(s) + c["kernel_drops"] >= 1500


@pytest.mark.parametrize("mode", ["lb", "hash"])
def test_fanout_two_sockets_share_feed(netns_pair, mode):
    net = netns_pair
    with net.enter(net.ns_b):
        a = AfPacketSource(net.if_b, port=PORT, fanout=(mode, 77), timeout_ms=5)
        b = AfPacketSource(net.if_b, port=PORT, fanout=(mode, 77), timeout_ms=5)
    with a, b:
        per_flow = 200
        for k in range(8):                                              # 8 flows (source ports)
            send_udp(net, net.ns_a, net.ip_b, PORT, 1 + k * per_flow, per_flow, src_port=41000 + k)
        total = 8 * per_flow
        ga, gb = [], []
        end = time.monotonic() + 20
        while len(ga) + len(gb) < total and time.monotonic() < end:
            ga.extend(a.recv())
            gb.extend(b.recv())
        sa, sb = set(seqs(ga)), set(seqs(gb))
        assert sa.isdisjoint(sb)                                        # each packet to one socket
        assert sa | sb == set(range(1, total + 1))                      # all packets between them
        assert len(ga) == len(sa) and len(gb) == len(sb)
        if mode == "lb":
            assert sa and sb
        else:                                                           # a flow never splits
            for k in range(8):
                flow = set(range(1 + k * per_flow, 1 + (k + 1) * per_flow))
                assert flow <= sa or flow <= sb


def test_vlan_tagged_and_malformed_frames(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        tagged = AfPacketSource(net.if_b, port=PORT, vlan=100, timeout_ms=20)
        untagged_only = AfPacketSource(net.if_b, port=PORT, vlan=0, timeout_ms=20)
        anyv = AfPacketSource(net.if_b, port=PORT, timeout_ms=20)
    with tagged, untagged_only, anyv:
        def frame(seq, vlan=None, **kw):
            return ether_udp(net.mac_b, net.mac_a, net.ip_a, net.ip_b, 40000, PORT, mold_packet(seq, 80),
                             vlan=vlan, **kw)
        frames = [frame(i, vlan=100) for i in range(1, 21)]             # 802.1Q tag 100
        frames += [frame(i, vlan=200) for i in range(100, 105)]         # other VLAN
        frames += [frame(i) for i in range(500, 510)]                   # untagged
        frames += [frame(900, udp_len=4000), frame(901, udp_len=3)]     # malformed UDP length
        frames += [frame(902)[:30]]                                     # truncated inside IPv4
        send_raw(net, net.ns_a, net.if_a, frames)
        assert seqs(collect(tagged, 20, deadline_s=5)) == list(range(1, 21))
        assert tagged.recv() == []
        assert seqs(collect(untagged_only, 10, deadline_s=5)) == list(range(500, 510))
        got = collect(anyv, 35, deadline_s=5)
        assert sorted(seqs(got)) == list(range(1, 21)) + list(range(100, 105)) + list(range(500, 510))
        assert got[0][0] == mold_packet(1, 80)
        assert anyv.dropped_bad == 3                                    # counted, never delivered
        assert tagged.dropped_filter >= 15


def test_drain_busy_poll(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        # veth has no hardware clock: asking for hardware stamps falls back to software ones, counted.
        src = AfPacketSource(net.if_b, port=PORT, busy_poll=True, timestamps="hardware")
    with src:
        assert src.hw_timestamps
        send_udp(net, net.ns_a, net.ip_b, PORT, 1, 800, size=90)
        st = src.drain(max_packets=800, seconds=20)
        assert st["packets"] == 800 and st["messages"] == 800 and st["gaps"] == 0 and st["rc"] == 0
        assert st["empty_polls"] >= 0
        assert src.counters()["hw_stamped"] == 0


def test_errors_have_codes(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        with pytest.raises(SourceError) as e:
            AfPacketSource("nosuch0", port=PORT)
        assert e.value.code == KSRC_E_NO_INTERFACE and "'nosuch0' not found" in str(e.value)
        with pytest.raises(SourceError) as e:
            AfPacketSource(net.if_b, block_size=1000)
        assert e.value.code == KSRC_E_BAD_OPTION and "multiple of the page size" in str(e.value)
        with pytest.raises(SourceError) as e:
            AfPacketSource(net.if_b, fanout=("bogus", 1))
        assert e.value.code == KSRC_E_BAD_OPTION and "fanout" in str(e.value)
        with pytest.raises(SourceError) as e:
            AfPacketSource(net.if_b, timestamps="ptp")
        assert e.value.code == KSRC_E_BAD_OPTION and "'software' or 'hardware'" in str(e.value)
        with pytest.raises(SourceError) as e:
            AfPacketSource(net.if_b, bpf_filter=True)
        assert e.value.code == KSRC_E_BAD_OPTION and "bpf_filter needs a port" in str(e.value)
        with pytest.raises(SourceError) as e:                           # join needs a multicast group
            AfPacketSource(net.if_b, port=PORT, group="10.1.2.3", join=True)
        assert e.value.code == KSRC_E_BAD_OPTION and "not an IPv4 multicast address" in str(e.value)
        from datapath.igmp import IgmpJoin
        with pytest.raises(SourceError) as e:
            IgmpJoin("nosuch0", GROUP)
        assert e.value.code == KSRC_E_NO_INTERFACE
        a = AfPacketSource(net.if_b, port=PORT, fanout=("hash", 9))
        with pytest.raises(SourceError) as e:                           # same group, other mode
            AfPacketSource(net.if_b, port=PORT, fanout=("lb", 9))
        assert e.value.code == KSRC_E_FANOUT and e.value.errno != 0
        a.close()
    with pytest.raises(SourceError) as e:
        a.recv()
    assert e.value.code == KSRC_E_CLOSED
