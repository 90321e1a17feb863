# cython: language_level=3
"""pcap / pcapng file as a PacketSource: zero-copy Frames pointing into the mmapped file.

Formats: classic pcap (magic 0xa1b2c3d4 microseconds, 0xa1b23c4d nanoseconds, either byte order)
and pcapng (SHB/IDB/EPB/SPB, per-interface if_tsresol, several sections). Link types: Ethernet
(with up to two VLAN tags), raw IPv4 (101, 228), Linux cooked SLL (113) and SLL2 (276), BSD
null/loopback (0). Each frame's payload is the UDP payload (a MoldUDP64 packet); rx_ns is the
capture timestamp in ns since the epoch.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t

from datapath.batch cimport Frame, PacketSource

# ------------------------------------------------------------- constants ----
cdef enum:
    PCAP_MAX_IF = 64                # pcapng interfaces per section
    PCAP_MAX_RECORD = 262144        # larger captured lengths are corrupt records
    PCAP_TOP_DEST = 8               # filtered destinations counted one by one (the rest: dest_other)
    FMT_PCAP = 1
    FMT_PCAPNG = 2


cdef class PcapSource(PacketSource):
    # ------------------------------------------------------------ file ----
    cdef object mm                   # mmap.mmap (or the bytes given as data=)
    cdef public object path          # file path (None for data=)
    cdef const uint8_t[::1] view
    cdef const uint8_t *base
    cdef readonly uint64_t size      # file bytes
    cdef readonly uint64_t position  # offset of the next record/block
    cdef readonly int fmt            # FMT_PCAP / FMT_PCAPNG
    cdef bint swapped                # file byte order differs from the host's (little-endian)
    cdef bint closed

    # ------------------------------------------------------------ classic pcap ----
    cdef uint32_t linktype
    cdef uint64_t frac_mul           # ns per timestamp fraction unit (1000 for us, 1 for ns)

    # ------------------------------------------------------------ pcapng ----
    cdef uint32_t n_if
    cdef uint16_t if_linktype[PCAP_MAX_IF]
    cdef uint8_t if_tsresol[PCAP_MAX_IF]
    cdef int64_t if_tsoffset_ns[PCAP_MAX_IF]   # if_tsoffset (seconds) in ns

    # ------------------------------------------------------------ filter ----
    cdef uint32_t dst_ip             # 0 = any (host order)
    cdef uint16_t dst_port           # 0 = any

    # ------------------------------------------------------------ counters / errors ----
    cdef readonly uint64_t records   # packet records/blocks read (before filtering)
    cdef readonly uint64_t other_blocks  # pcapng blocks that carry no packet (NRB, ISB, custom, ...)
    cdef readonly uint64_t dropped_linktype  # packets on an interface of an unsupported link type
    # dropped_filter = dropped_linktype + dropped_not_udp + dropped_dest; dropped_snaplen is part of dropped_bad
    cdef readonly uint64_t dropped_not_udp   # frames that are not IPv4 or not UDP
    cdef readonly uint64_t dropped_dest      # UDP datagrams to another group/port than the filter's
    cdef readonly uint64_t dropped_snaplen   # rejected frames whose record was cut (captured < original length)
    cdef uint32_t orig_len                   # original length of the current record (pcapng SPB: its own)
    cdef uint32_t dest_ip[PCAP_TOP_DEST]     # filtered destinations, first seen first, with their counts
    cdef uint16_t dest_port[PCAP_TOP_DEST]
    cdef uint64_t dest_n[PCAP_TOP_DEST]
    cdef uint32_t n_dest
    cdef uint64_t dest_other                 # filtered datagrams to a destination past the first PCAP_TOP_DEST
    cdef readonly int error          # sticky PCAP_E_* code (0 = none)
    cdef readonly uint64_t error_offset
    cdef uint64_t error_need, error_have

    # ------------------------------------------------------------ calls ----
    cdef int fail(self, int code, uint64_t off, uint64_t need, uint64_t have) noexcept nogil
    cdef int next_packet(self, const uint8_t **data, uint32_t *caplen, uint32_t *linktype, uint64_t *ts_ns) noexcept nogil
    """Advance to the next packet record: 1 = packet, 0 = end of file, < 0 = PCAP_E_* (sticky)."""
    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil
    cdef void rx_release(self) noexcept nogil
    cdef void note_dest(self, uint32_t ip, uint16_t port) noexcept nogil
    """Count a datagram dropped by the group/port filter under its destination."""
