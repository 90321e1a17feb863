# cython: language_level=3
"""The reference DPDK receive loop: ``rte_eth_rx_burst`` + ``rte_pktmbuf_free_bulk`` and nothing else.

The floor a DPDK receive path cannot beat on a given port; bench/bench_dpdk.py compares
datapath.dpdk_source (parse, filter, frames, framer) against it on the same device.
"""
from libc.stdint cimport uint16_t, uint64_t

from dpdk_bindings.rte cimport rte_mbuf, rte_eth_rx_burst, rte_pktmbuf_free_bulk, rte_rdtsc, rte_get_tsc_hz


def raw_rx(uint16_t port_id, uint16_t queue=0, uint64_t max_packets=0, double max_seconds=0.0):
    """Receive and free until ``max_packets`` (exactly: the last bursts ask for what is left) or
    ``max_seconds``. Returns ``(packets, empty_polls, seconds)``."""
    cdef rte_mbuf *bufs[32]
    cdef uint64_t got = 0, empty = 0, hz = rte_get_tsc_hz(), t0, limit, now
    cdef uint16_t n, want
    cdef uint64_t bursts = 0
    limit = <uint64_t>(max_seconds * hz) if max_seconds > 0 else 0
    with nogil:
        t0 = rte_rdtsc()
        now = t0
        while True:
            want = 32
            if max_packets and max_packets - got < 32:
                want = <uint16_t>(max_packets - got)
            n = rte_eth_rx_burst(port_id, queue, bufs, want)
            if n:
                rte_pktmbuf_free_bulk(bufs, n)
                got += n
                if max_packets and got >= max_packets:
                    now = rte_rdtsc()
                    break
            else:
                empty += 1
            bursts += 1
            if limit and (bursts & 63) == 0:
                now = rte_rdtsc()
                if now - t0 >= limit:
                    break
        if not limit or now == t0:
            now = rte_rdtsc()
    return got, empty, (now - t0) / <double>hz
