"""AfXdpSource (AF_XDP, copy mode on veth) against the real kernel, in namespaces the tests create."""
import socket
import time

import pytest

from netns_util import ether_udp, mold_packet, netns_pair, send_raw, send_udp  # noqa: F401  (fixture)

from datapath.afxdp_source import AfXdpSource, xdp_object_path
from datapath.registry import open_source
from datapath.source_codes import (KSRC_E_BAD_OPTION, KSRC_E_CLOSED, KSRC_E_NO_INTERFACE, KSRC_E_UMEM, KSRC_E_XSK,
                                   KSRC_E_XDP_PROGRAM, KSRC_E_XSK_BUSY, SourceError)

pytestmark = pytest.mark.netns
PORT = 26600
GROUP = "239.200.3.1"


def seqs(got):
    return [int.from_bytes(p[10:18], "big") for p, _, _ in got]


def collect(src, count, deadline_s=20.0):
    got = []
    end = time.monotonic() + deadline_s
    while len(got) < count and time.monotonic() < end:
        got.extend(src.recv())
    return got


def attached_prog(net):
    return "prog/xdp" in net.run(net.ns_b, "ip", "-d", "link", "show", net.if_b).stdout


def test_xdp_object_builds():
    assert xdp_object_path().stat().st_size > 1000


@pytest.mark.parametrize("mode", ["auto", "skb"])
def test_feed_to_xsk_other_traffic_to_stack(netns_pair, mode):
    net = netns_pair
    with net.enter(net.ns_b):
        src = AfXdpSource(net.if_b, port=PORT, xdp_mode=mode, timeout_ms=20)
        stack = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stack.bind((net.ip_b, PORT + 1))
        stack.settimeout(10)
    with src, stack:
        assert not src.zero_copy                                         # veth: copy mode only
        assert src.program.mode == ("native" if mode == "auto" else "skb")
        assert attached_prog(net)
        t0 = time.time_ns()
        n = 1500
        sender = send_udp(net, net.ns_a, net.ip_b, PORT, 1, n, size=150, pace_every=100, wait=False)
        got = collect(src, n)
        sender.wait(timeout=60)
        t1 = time.time_ns()
        assert sorted(seqs(got)) == list(range(1, n + 1))               # exactly once
        for payload, src_ip, rx_ns in got:
            assert payload == mold_packet(int.from_bytes(payload[10:18], "big"), 150)
            assert src_ip == int.from_bytes(socket.inet_aton(net.ip_a), "big")
            assert t0 <= rx_ns <= t1
        # Other UDP port and ICMP still reach the kernel stack through XDP_PASS.
        send_udp(net, net.ns_a, net.ip_b, PORT + 1, 77, 3)
        assert [int.from_bytes(stack.recvfrom(2048)[0][10:18], "big") for _ in range(3)] == [77, 78, 79]
        ping = net.run(net.ns_a, "ping", "-c", "2", "-i", "0.2", "-W", "5", net.ip_b, check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert src.recv() == []
        c = src.counters()
        assert c["rx_packets"] == n and c["rx_bytes"] == n * 150
        assert c["xdp_redirected"] == n and c["xdp_passed"] >= 3
        assert c["kernel_drops"] == 0 and c["dropped_bad"] == 0
        assert src.debug_bad_desc == 0                                   # TW_DEBUG descriptor check
    assert not attached_prog(net)                                       # detached on close


def test_group_filter_and_registry(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        src = open_source("afxdp", interface=net.if_b, port=PORT, group=GROUP, busy_poll=True, napi_busy_poll_us=50)
    with src:
        assert src.napi_busy_poll
        send_udp(net, net.ns_a, "239.200.3.2", PORT, 500, 20)            # other group: passed
        send_udp(net, net.ns_a, GROUP, PORT, 1, 50)
        assert seqs(collect(src, 50)) == list(range(1, 51))
        c = src.counters()
        assert c["xdp_redirected"] == 50 and c["xdp_passed"] >= 20
        assert GROUP in net.run(net.ns_b, "ip", "maddr", "show", "dev", net.if_b).stdout   # IGMP join held
    assert GROUP not in net.run(net.ns_b, "ip", "maddr", "show", "dev", net.if_b).stdout


def test_vlan_and_malformed_frames(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        src = AfXdpSource(net.if_b, port=PORT, timeout_ms=20)
    with src:
        def frame(seq, **kw):
            return ether_udp(net.mac_b, net.mac_a, net.ip_a, net.ip_b, 40000, PORT, mold_packet(seq, 80), **kw)
        send_raw(net, net.ns_a, net.if_a, [frame(1, vlan=100), frame(2), frame(3, udp_len=3000)])
        got = collect(src, 2, deadline_s=5)
        assert sorted(seqs(got)) == [1, 2]
        time.sleep(0.05)
        assert src.recv() == []
        assert src.dropped_bad == 1                                      # redirected, then rejected by the parser


def test_coalesced_wakeups_deliver_every_packet_in_batches(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        with pytest.raises(SourceError) as e:
            AfXdpSource(net.if_b, port=PORT, coalesce_us=-1)
        assert e.value.code == KSRC_E_BAD_OPTION and "coalesce_us" in str(e.value)
        src = AfXdpSource(net.if_b, port=PORT, timeout_ms=20, coalesce_us=500)
    with src:
        assert src.coalesce_us == 500
        n = 2000
        sender = send_udp(net, net.ns_a, net.ip_b, PORT, 1, n, size=120, pace_every=200, wait=False)
        bursts = []
        end = time.monotonic() + 20
        while sum(bursts) < n and time.monotonic() < end:
            got = src.recv()
            if got:
                bursts.append(len(got))
                assert all(p == mold_packet(int.from_bytes(p[10:18], "big"), 120) for p, _, _ in got)
        sender.wait(timeout=60)
        assert sum(bursts) == n and src.counters()["kernel_drops"] == 0
        assert len(bursts) < n                  # a wake-up waits 500 us before reading: batches, not single packets


def test_burst_release_and_fill_ring_exhaustion(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        src = AfXdpSource(net.if_b, port=PORT, num_frames=64, rx_size=64, timeout_ms=20)
    with src:
        send_udp(net, net.ns_a, net.ip_b, PORT, 1, 40)
        time.sleep(0.05)
        held = src.recv_held(32)
        assert seqs(held) == list(range(1, 33))
        assert src.held_frames() == 32                                   # chunks still ours
        rest = src.recv_held(32)                                         # next burst recycles the first
        assert seqs(rest) == list(range(33, 41))
        assert src.held_frames() == 8
        src.release()
        assert src.held_frames() == 0
        # Hold nothing and read nothing while 300 packets arrive: 64 chunks, the rest is dropped and counted.
        send_udp(net, net.ns_a, net.ip_b, PORT, 1000, 300)
        time.sleep(0.05)
        got = collect(src, 300, deadline_s=1.0)
        s = seqs(got)
        assert 0 < len(s) < 300 and len(s) == len(set(s))
        c = src.counters()
        assert c["kernel_drops"] > 0 and len(s) + c["kernel_drops"] >= 300


def test_queue_busy_and_reopen(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        a = AfXdpSource(net.if_b, port=PORT)
        with pytest.raises(SourceError) as e:
            AfXdpSource(net.if_b, port=PORT, busy_deadline_s=0.3)
        assert e.value.code == KSRC_E_XSK_BUSY and "still busy" in str(e.value)
        assert a.program.users == 1
        a.close()
        b = AfXdpSource(net.if_b, port=PORT)                             # re-create at once: retried if EBUSY
    with b:
        send_udp(net, net.ns_a, net.ip_b, PORT, 1, 10)
        assert seqs(collect(b, 10)) == list(range(1, 11))


def test_errors_have_codes(netns_pair):
    net = netns_pair
    with net.enter(net.ns_b):
        with pytest.raises(SourceError) as e:
            AfXdpSource("nosuch0", port=PORT)
        assert e.value.code == KSRC_E_NO_INTERFACE and "'nosuch0' not found" in str(e.value)
        with pytest.raises(SourceError) as e:
            AfXdpSource(net.if_b, port=PORT, frame_size=1000)
        assert e.value.code == KSRC_E_BAD_OPTION and "2048 or 4096" in str(e.value)
        if int(open("/proc/sys/vm/nr_hugepages").read()) == 0:
            with pytest.raises(SourceError) as e:
                AfXdpSource(net.if_b, port=PORT, hugepages=True)
            assert e.value.code == KSRC_E_UMEM and "vm.nr_hugepages" in str(e.value) and e.value.errno != 0
        else:                                                            # huge pages reserved: it opens
            AfXdpSource(net.if_b, port=PORT, hugepages=True, num_frames=1024).close()
        with pytest.raises(SourceError) as e:
            AfXdpSource(net.if_b, port=PORT, queue=7)                    # veth here has one RX queue
        assert e.value.code == KSRC_E_XSK and e.value.errno != 0
        assert not attached_prog(net)                                    # failed open leaves nothing behind
        a = AfXdpSource(net.if_b, port=PORT)
        with pytest.raises(SourceError) as e:
            AfXdpSource(net.if_b, port=PORT + 5, queue=0)
        assert e.value.code == KSRC_E_BAD_OPTION and "one feed" in str(e.value)
    a.close()
    with pytest.raises(SourceError) as e:
        a.recv()
    assert e.value.code == KSRC_E_CLOSED


def test_two_queues_share_one_program():
    from netns_util import veth_pair
    with veth_pair(queues=2) as net:
        with net.enter(net.ns_b):
            q0 = AfXdpSource(net.if_b, port=PORT, queue=0, timeout_ms=5)
            q1 = AfXdpSource(net.if_b, port=PORT, queue=1, timeout_ms=5)
        assert q0.program is q1.program and q0.program.users == 2
        for k in range(6):                                               # several flows: both queues may see some
            send_udp(net, net.ns_a, net.ip_b, PORT, 1 + k * 50, 50, src_port=42000 + k)
        got0, got1 = [], []
        end = time.monotonic() + 20
        while len(got0) + len(got1) < 300 and time.monotonic() < end:
            got0.extend(q0.recv())
            got1.extend(q1.recv())
        assert sorted(seqs(got0) + seqs(got1)) == list(range(1, 301))    # each packet once, on its queue's socket
        q0.close()
        assert attached_prog(net) and q1.program.users == 1              # still steering for queue 1
        send_udp(net, net.ns_a, net.ip_b, PORT, 1000, 20)
        q1.close()
        assert not attached_prog(net)


HOLDER = """
import sys, time
from datapath.afxdp_source import AfXdpSource
src = AfXdpSource(sys.argv[1], port=int(sys.argv[2]))
print("ready", flush=True)
time.sleep(120)
"""


def start_holder(net):
    """A process in namespace B that attaches the program and owns it until killed."""
    p = net.python_popen(net.ns_b, HOLDER, net.if_b, str(PORT), text=True)
    line = p.stdout.readline()
    assert line.strip() == "ready", p.stderr.read() if p.poll() is not None else line
    return p


def test_program_of_killed_process_is_replaced(netns_pair):
    net = netns_pair
    holder = start_holder(net)
    holder.kill()                                                        # SIGKILL: no clean-up ran
    holder.wait(timeout=10)
    assert attached_prog(net)                                            # its program is still attached
    ping = net.run(net.ns_a, "ping", "-c", "1", "-W", "5", net.ip_b, check=False)
    assert ping.returncode == 0                                          # ... and still passes the stack
    with net.enter(net.ns_b):
        src = AfXdpSource(net.if_b, port=PORT, timeout_ms=20)
    with src:
        assert src.program.replaced_stale                                # the leftover was detached first
        send_udp(net, net.ns_a, net.ip_b, PORT, 1, 20)
        assert seqs(collect(src, 20)) == list(range(1, 21))
    assert not attached_prog(net)


def test_live_owner_in_another_process_is_not_touched(netns_pair):
    net = netns_pair
    holder = start_holder(net)
    try:
        with net.enter(net.ns_b), pytest.raises(SourceError) as e:
            AfXdpSource(net.if_b, port=PORT)
        assert e.value.code == KSRC_E_XDP_PROGRAM and f"another tickwire process (pid " in str(e.value)
        assert attached_prog(net)
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_dropped_without_close_detaches(netns_pair):
    import gc
    net = netns_pair
    with net.enter(net.ns_b):
        src = AfXdpSource(net.if_b, port=PORT)
    assert attached_prog(net)
    del src
    gc.collect()
    assert not attached_prog(net)
