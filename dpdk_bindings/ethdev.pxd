# cython: language_level=3
"""DPDK ports and mbuf pools as Python objects (contract of dpdk_bindings/ethdev.pyx).

``Mempool`` owns an ``rte_pktmbuf_pool``; ``Port`` owns the configuration and life cycle of one
ethdev port (configure, queues, start/stop/close) and reads its stats. Receive loops take the
port id and queue from a ``Port`` and call ``rte_eth_rx_burst`` themselves (datapath/dpdk_source).
"""
from libc.stdint cimport uint16_t, uint32_t, uint64_t

from dpdk_bindings.rte cimport rte_mempool


cdef class Mempool:
    # ------------------------------------------------------------ state ----
    cdef rte_mempool *ptr           # NULL once freed
    cdef readonly str name
    cdef readonly unsigned n        # mbufs in the pool
    cdef readonly unsigned cache_size
    cdef readonly unsigned data_room

    # ------------------------------------------------------------ calls ----
    cpdef void free(self)


cdef class Port:
    # ------------------------------------------------------------ state ----
    cdef readonly uint16_t port_id
    cdef readonly str name           # ethdev name (net_pcap0, 0000:3b:00.0, ...)
    cdef readonly uint16_t rx_queues
    cdef readonly uint16_t tx_queues
    cdef readonly uint16_t rx_desc   # descriptors per Rx queue (after the driver's adjustment)
    cdef readonly Mempool pool
    cdef readonly bint configured
    cdef readonly bint started
    cdef readonly bint closed
