# cython: language_level=3
"""AF_PACKET TPACKET_V3 source: the kernel fills an mmap'd ring of blocks, we walk them in place.

No copy to user space and no system call per packet: the kernel writes whole frames into blocks of a
shared ring and flips a block's status to TP_STATUS_USER when it is full or its retire timeout
expires; the source parses Ethernet/IPv4/UDP in place, hands out pointers to the UDP payloads and
gives a block back (TP_STATUS_KERNEL) once all its frames were consumed.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from datapath.batch cimport Frame, PacketSource, BURST_SIZE
from core.linux cimport tpacket_block_desc


cdef class AfPacketSource(PacketSource):
    # ------------------------------------------------------------- socket ----
    cdef int fd
    cdef readonly object interface
    cdef readonly object igmp             # IgmpJoin holding the group membership (None = not joined)
    cdef readonly int ifindex
    cdef readonly bint busy_poll          # spin on the block status; else poll() up to timeout_ms
    cdef readonly int timeout_ms
    cdef readonly object fanout           # (mode name, group id) or None
    cdef readonly bint bpf_filter         # classic BPF "ip and udp dst port P" attached in the kernel
    cdef readonly bint hw_timestamps      # PACKET_TIMESTAMP asks for the NIC's raw hardware stamps
    # --------------------------------------------------------------- ring ----
    cdef uint8_t *ring                    # mmap of block_nr * block_size bytes
    cdef size_t ring_size
    cdef readonly uint32_t block_size
    cdef readonly uint32_t block_nr
    cdef readonly uint32_t frame_size
    cdef readonly uint32_t retire_ms
    # ------------------------------------------------------------- walker ----
    cdef uint32_t blk                     # ring index of the block being walked
    cdef tpacket_block_desc *cur          # that block while user-owned, else NULL
    cdef uint8_t *next_pkt                # next tpacket3_hdr in it
    cdef uint32_t left                    # frames of the current block not yet walked
    cdef uint32_t done_first              # first walked-out block not yet returned
    cdef uint32_t done_count              # walked-out blocks waiting for rx_release
    cdef uint32_t releases                # blocks returned, for PACKET_STATISTICS sampling
    # ------------------------------------------------------------- filter ----
    cdef uint32_t want_ip                 # host order; 0 = any destination address
    cdef uint16_t want_port               # 0 = any port
    cdef int want_vlan                    # -1 = any; else VLAN id the frame must carry
    # ------------------------------------------------------------- counts ----
    cdef public uint64_t freeze_count     # tp_freeze_q_cnt: times the ring was full (queue frozen)
    cdef public uint64_t blocks           # blocks walked
    cdef public uint64_t hw_stamped       # frames delivered with a hardware receive stamp
    cdef public uint64_t debug_ring_errors  # TW_DEBUG: frames found outside their block (always 0 in release)

    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil
    cdef void rx_release(self) noexcept nogil
    cdef _attach_filter(self, int port)
    cdef void _return_blocks(self) noexcept nogil
    cdef int _stats(self) noexcept nogil
