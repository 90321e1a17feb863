# cython: language_level=3
"""DPDK poll-mode packet source: one ethdev Rx queue as a ``PacketSource`` (contract).

``rx_burst`` pulls up to 32 mbufs with ``rte_eth_rx_burst``, prefetches the next mbuf's data,
parses Ethernet/VLAN/IPv4/UDP in place (datapath/packet.pxd), filters on group/port and hands out
frames that point into the mbufs (zero copy). The mbufs of a burst go back to the pool in one
``rte_pktmbuf_free_bulk`` at ``rx_release`` (or at the next ``rx_burst``).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from datapath.batch cimport Frame, PacketSource, BURST_SIZE
from dpdk_bindings.rte cimport rte_mbuf
from dpdk_bindings.ethdev cimport Port

# ----------------------------------------------------------- constants ----
cdef enum:
    NREASONS = 8            # drop-reason counters, indexed by PKT_E_SHORT + 1 - PKT_E_* (core/codes.pxd)

# ------------------------------------------------------------ clock ----
cdef struct TscClock:
    # rx_ns = base_ns + ((tsc - base_tsc) * mult) >> 32, re-anchored on CLOCK_REALTIME every ~second
    uint64_t base_tsc
    uint64_t base_ns
    uint64_t mult           # (1e9 << 32) / tsc_hz
    uint64_t reanchor       # TSC ticks between re-anchors (about one second)
    bint realtime           # 1: clock_gettime(CLOCK_REALTIME) per burst instead of the TSC


cdef class DpdkSource(PacketSource):
    # ------------------------------------------------------------ state ----
    cdef readonly Port port
    cdef readonly uint16_t port_id
    cdef readonly uint16_t queue
    cdef readonly uint32_t group            # wanted destination IPv4 (host order), 0 = any
    cdef readonly uint16_t dst_port         # wanted destination UDP port, 0 = any
    cdef readonly bint owns_port            # close() closes the port too
    cdef bint open_
    cdef uint16_t pending                   # mbufs of the last burst not yet freed
    cdef rte_mbuf *mbufs[BURST_SIZE]
    cdef TscClock clock

    # ----------------------------------------------------------- counters ----
    cdef public uint64_t rx_frames          # every frame rte_eth_rx_burst returned (accepted or not)
    cdef public uint64_t bursts             # non-empty rte_eth_rx_burst calls
    cdef public uint64_t empty_polls        # rte_eth_rx_burst calls that returned nothing
    cdef public uint64_t segmented          # multi-segment mbufs (frame larger than the data room): bad
    cdef public uint64_t debug_violations   # TW_DEBUG build only: a burst/frame broke an invariant
    cdef uint64_t reasons[NREASONS]         # drops by PKT_E_* code

    # -------------------------------------------------------------- calls ----
    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil
    cdef void rx_release(self) noexcept nogil
    cdef uint64_t now_ns(self) noexcept nogil
    cdef void _anchor(self) noexcept nogil
    """Receive time of the current burst (TSC clock, or CLOCK_REALTIME when asked)."""

