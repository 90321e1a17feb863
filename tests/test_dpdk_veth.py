"""DpdkSource on a real kernel link: net_af_packet and net_af_xdp over a veth pair in namespaces.

Each test creates two network namespaces joined by a veth (tests/netns_util.py) and removes them
afterwards, also on failure. The DPDK process runs inside namespace B on B's end of the veth
(``ip netns exec``); a plain UDP socket in namespace A sends MoldUDP64 packets to a multicast group
(no ARP needed, so AF_XDP, which takes every frame of its queue away from the kernel, still gets
them) plus packets to another port, which must be filtered. Nothing touches eth0 or the root
namespace's network. AF_XDP on veth runs in copy mode; the test covers libxdp's single-program
fallback (``ip netns exec`` has no bpffs) and the dispatcher with a bpffs mounted in the test's own
mount namespace.
"""
from __future__ import annotations

import collections
import json
import os
import select
import sys
import time

import pytest

from dpdk_helper import ROOT, parse_result
from netns_util import veth_pair

pytestmark = pytest.mark.netns

GROUP = "239.192.17.3"
PORT = 30017
N = 300
EAL = ["--no-huge", "-m", "512", "--no-shconf", "--no-pci", "--no-telemetry", "-l", "0"]

SENDER = """
import socket, sys, time
group, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 4)
for i in range(n):
    body = b"A" + i.to_bytes(4, "big") + bytes(i % 251 for _ in range(i % 97))
    pkt = b"TWVETH0001" + (i + 1).to_bytes(8, "big") + (1).to_bytes(2, "big") + len(body).to_bytes(2, "big") + body
    s.sendto(pkt, (group, port))
    if i % 10 == 0:
        s.sendto(b"noise to another port", (group, port + 1))
    time.sleep(0.0003)
"""


def expected_payloads() -> list[str]:
    out = []
    for i in range(N):
        body = b"A" + i.to_bytes(4, "big") + bytes(i % 251 for _ in range(i % 97))
        out.append((b"TWVETH0001" + (i + 1).to_bytes(8, "big") + (1).to_bytes(2, "big")
                    + len(body).to_bytes(2, "big") + body).hex())
    return out


def run_in_namespace(net, vdev: str, mbufs: int, bpffs: bool = False) -> dict:
    spec = {"eal": EAL + ["--vdev", vdev], "ports": [vdev.split(",")[0]], "group": GROUP, "dst_port": PORT,
            "mbufs": mbufs, "expect": N, "settle": 0.3, "wait_first": 15, "max_seconds": 30}
    env_path = os.pathsep.join([str(ROOT)] + [p for p in sys.path if p])
    argv = ["env", f"PYTHONPATH={env_path}", sys.executable, str(ROOT / "tests" / "dpdk_helper.py"), json.dumps(spec)]
    if bpffs:
        # `ip netns exec` already gave this process its own mount namespace: a bpffs mounted here
        # is private to it and disappears with it.
        argv = ["sh", "-c", 'mount -t bpf bpf /sys/fs/bpf && exec "$@"', "sh", *argv]
    proc = net.popen(net.ns_b, *argv, text=True)
    ready = select.select([proc.stdout], [], [], 30)[0]
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "TWREADY":
        out, err = proc.communicate(timeout=30)
        return parse_result(line + out, err, proc.returncode)
    net.python(net.ns_a, SENDER, GROUP, str(PORT), str(N), timeout=60)
    out, err = proc.communicate(timeout=60)
    return parse_result(out, err, proc.returncode)


def check(r: dict, driver: str) -> dict:
    assert r["ok"], r
    port = r["ports"][0]
    assert port["driver"] == driver
    got = port["payloads"]
    want = expected_payloads()
    # Every datagram exactly once and byte-identical (the veth keeps their order).
    assert collections.Counter(got) == collections.Counter(want)
    assert got == want
    c = port["counters"]
    assert c["rx_packets"] == N
    # The other-port datagrams, plus whatever IPv6 housekeeping the namespace's kernel sent.
    assert c["dropped_filter"] >= N // 10
    assert c["drop_reasons"].get("filtered", 0) == N // 10
    assert c["dropped_bad"] == 0
    assert c["imissed"] == 0
    return c


def test_af_packet_on_veth():
    with veth_pair() as net:
        r = run_in_namespace(net, f"net_af_packet0,iface={net.if_b}", mbufs=4095)
        check(r, "net_af_packet")


@pytest.mark.parametrize("bpffs", [False, True], ids=["no-bpffs", "bpffs"])
def test_af_xdp_on_veth_copy_mode(bpffs):
    with veth_pair() as net:
        r = run_in_namespace(net, f"net_af_xdp0,iface={net.if_b},start_queue=0,queue_count=1", mbufs=16383,
                             bpffs=bpffs)
        check(r, "net_af_xdp")
        if not bpffs:
            assert "Falling back to loading single prog without dispatcher" in r["stderr"]
        else:
            assert "No bpffs found" not in r["stderr"]


def test_af_xdp_rebinds_the_queue_right_after_the_previous_process():
    # A restarted feed handler binds the same queue at once; the kernel may still answer EBUSY for
    # a moment (the old socket is torn down asynchronously): Port.configure retries.
    with veth_pair() as net:
        vdev = f"net_af_xdp0,iface={net.if_b},start_queue=0,queue_count=1"
        check(run_in_namespace(net, vdev, mbufs=16383), "net_af_xdp")
        check(run_in_namespace(net, vdev, mbufs=16383), "net_af_xdp")
