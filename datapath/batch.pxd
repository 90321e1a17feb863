# cython: language_level=3
"""The one batch interface of every packet source (pcap, UDP socket, AF_PACKET, AF_XDP, DPDK, verbs).

A source hands the feed handler a burst of zero-copy frames: each a pointer into the source's own
memory (mmap ring, UMEM, mbuf, socket buffer), a length and a receive timestamp. The frames of a
burst stay valid until the next ``rx_burst`` or ``rx_release``; the consumer must not keep pointers
beyond that. The payload is the UDP payload (a MoldUDP64 packet): raw sources parse and filter
Ethernet/IPv4/UDP with datapath/packet.pxd before handing frames out, and count what they drop.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

# rx_burst's negative results (values, messages: core/codes.pxd)
from core.codes cimport SRC_E_CLOSED, SRC_E_IO, SRC_E_END

# ------------------------------------------------------------- constants ----
cdef enum:
    BURST_SIZE = 32          # frames per burst, as DPDK l2fwd

# ----------------------------------------------------------- result codes ----
cdef enum:
    SRC_OK = 0

# ------------------------------------------------------------------ frame ----
cdef struct Frame:
    const uint8_t *data      # first byte of the UDP payload (MoldUDP64 header)
    uint32_t length          # payload bytes
    uint32_t src_ip          # sender (host order), for A/B line diagnostics; 0 when unknown
    uint64_t rx_ns           # receive timestamp, ns since the epoch (CLOCK_REALTIME or NIC time)


cdef class PacketSource:
    # ------------------------------------------------------------ counters ----
    cdef public uint64_t rx_packets      # frames handed to the consumer
    cdef public uint64_t rx_bytes        # payload bytes handed to the consumer
    cdef public uint64_t dropped_filter  # frames dropped: not IPv4/UDP or not the wanted group/port
    cdef public uint64_t dropped_bad     # frames dropped: malformed headers
    cdef public uint64_t kernel_drops    # drops the kernel/driver reports (ring full, ...)
    cdef public int last_errno

    # --------------------------------------------------------------- calls ----
    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil
    """Fill up to ``max_frames`` frames; return how many (0 = nothing now), or a negative SRC_E_* code."""
    cdef void rx_release(self) noexcept nogil
    """Give the frames of the last burst back to the source (ring slots, mbufs)."""
    # The Python layer (batch.pyx), once for every source: ``open_source`` (classmethod, the registry's
    # factory), ``recv`` / ``recv_held`` / ``release``, ``drain``, ``counters``, ``close``, context manager;
    # a source overrides ``rx_error`` when a failed burst has its own exception, ``close`` always.
