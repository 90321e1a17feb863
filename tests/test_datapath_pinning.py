"""datapath.pinning: cpulists, sysfs lookups, thread pinning, SCHED_FIFO, the stoppable busy loop."""
import os
import signal
import threading
import time

import pytest

from netns_util import netns_pair, send_udp  # noqa: F401  (fixture)

from datapath import pinning
from datapath.afpacket_source import AfPacketSource
from datapath.udp_source import UdpSource


@pytest.mark.parametrize("text,cpus", [("", []), ("3", [3]), ("0-3", [0, 1, 2, 3]),
                                       ("0-1,4,6-7\n", [0, 1, 4, 6, 7]), ("5,2,2", [2, 5])])
def test_parse_cpulist(text, cpus):
    assert pinning.parse_cpulist(text) == cpus


def test_sysfs_lookups():
    assert set(pinning.isolated_cpus()) <= set(pinning.online_cpus())
    assert pinning.online_cpus()
    assert pinning.nic_numa_node("lo") is None                   # virtual device: no NUMA node
    assert pinning.nic_local_cpus("lo") == []
    with pytest.raises(pinning.PinningError, match="no interface 'nosuch0'"):
        pinning.nic_numa_node("nosuch0")
    cpu = pinning.choose_cpu("lo")
    assert cpu in os.sched_getaffinity(0)


def test_pin_thread_and_fifo_in_worker():
    out = {}
    target = sorted(os.sched_getaffinity(0))[-1]

    def worker():
        pinning.pin_thread(target)
        out["aff"] = os.sched_getaffinity(0)
        pinning.set_fifo(10)
        out["policy"] = pinning.current_policy()
        pinning.set_normal()
        out["after"] = pinning.current_policy()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert out == {"aff": {target}, "policy": "SCHED_FIFO", "after": "SCHED_OTHER"}
    assert os.sched_getaffinity(0) != {target} or os.cpu_count() == 1    # the main thread was not moved
    with pytest.raises(pinning.PinningError, match="out of range"):
        pinning.set_fifo(0)
    with pytest.raises(pinning.PinningError, match="cannot pin to CPU"):
        pinning.pin_thread(4096)


def test_stop_flag_from_sigterm_stops_nogil_loop(netns_pair):
    """SIGTERM -> main thread handler -> StopFlag -> the pinned nogil drain returns with its stats."""
    net = netns_pair
    with net.enter(net.ns_b):
        src = AfPacketSource(net.if_b, port=26700, busy_poll=True)
    with src:
        def sender_then_term():
            send_udp(net, net.ns_a, net.ip_b, 26700, 1, 200)
            end = time.monotonic() + 20
            while src.rx_packets < 200 and time.monotonic() < end:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGTERM)

        th = threading.Thread(target=sender_then_term)
        th.start()
        stop = pinning.StopFlag()
        st = pinning.run_busy_loop(lambda flag: src.drain(stop=flag), cpu=pinning.choose_cpu(), stop=stop)
        th.join()
        assert stop.is_set and stop.signal == signal.SIGTERM
        assert st["rc"] == 0 and st["packets"] == 200 and st["gaps"] == 0
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL                # handlers restored


def test_run_busy_loop_reraises_and_times_out(netns_pair):
    def boom(flag):
        raise ValueError("loop failed")
    with pytest.raises(ValueError, match="loop failed"):
        pinning.run_busy_loop(boom)
    net = netns_pair
    with net.enter(net.ns_b):
        src = UdpSource(26701, busy_poll=True)
    with src:
        st = pinning.run_busy_loop(lambda flag: src.drain(stop=flag), timeout=0.2)
        assert st["rc"] == 0 and st["packets"] == 0 and st["empty_polls"] > 0
