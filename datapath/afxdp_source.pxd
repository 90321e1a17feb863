# cython: language_level=3
"""AF_XDP source: an XDP program steers the feed's UDP packets into a UMEM shared with user space.

The XDP program (datapath/bpf/tw_xdp_udp.c) redirects IPv4/UDP packets to the feed's port into the
AF_XDP socket of their RX queue and passes everything else to the kernel stack. Frames are read in
place from the UMEM: zero-copy where the driver supports it, one kernel copy otherwise (veth, SKB
mode). ``rx_release`` hands the burst's UMEM frames back through the fill ring.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from datapath.batch cimport Frame, PacketSource, BURST_SIZE
from datapath.libxdp cimport xsk_umem, xsk_socket, xsk_ring_prod, xsk_ring_cons


cdef class XdpProgram:
    """The loaded/attached steering program of one interface (shared by the sources on its queues)."""
    cdef void *prog                       # struct xdp_program *
    cdef readonly int ifindex
    cdef readonly str interface
    cdef readonly str mode                # "native" or "skb"
    cdef readonly int xsks_map_fd
    cdef readonly int cfg_map_fd
    cdef readonly int stats_map_fd
    cdef readonly int users
    cdef readonly object key
    cdef readonly tuple cfg               # (dst_ip, port) it steers
    cdef int netns_fd                     # the namespace it was attached in (detach goes back there)
    cdef int lock_fd                      # owner lock (flock) of (netns, ifindex), held while attached
    cdef readonly bint replaced_stale     # a tw_xdp_udp left by a killed process was detached first


cdef class AfXdpSource(PacketSource):
    # -------------------------------------------------------------- socket ----
    cdef xsk_umem *umem
    cdef xsk_socket *xsk
    cdef int fd
    cdef xsk_ring_prod fill
    cdef xsk_ring_cons comp
    cdef xsk_ring_cons rx
    cdef readonly XdpProgram program
    cdef readonly object igmp             # IgmpJoin holding the group membership (None = not joined)
    cdef readonly str interface
    cdef readonly int queue
    cdef readonly bint zero_copy          # the kernel bound the socket in zero-copy mode
    cdef readonly bint busy_poll
    cdef readonly int timeout_ms
    cdef readonly bint napi_busy_poll     # SO_PREFER_BUSY_POLL set: empty polls drive NAPI via recvfrom
    cdef readonly int coalesce_us         # blocking mode: after a wake-up, let a batch collect this long
    # ---------------------------------------------------------------- UMEM ----
    cdef uint8_t *area                    # mmap'd UMEM: num_frames * frame_size
    cdef size_t area_size
    cdef readonly uint32_t frame_size
    cdef readonly uint32_t num_frames
    # ------------------------------------------------------------- release ----
    cdef uint64_t held[BURST_SIZE]        # UMEM addresses of the last burst, back to the fill ring
    cdef uint32_t held_n
    # -------------------------------------------------------------- filter ----
    cdef uint32_t want_ip
    cdef uint16_t want_port
    cdef public uint64_t debug_bad_desc   # TW_DEBUG: RX descriptors outside the UMEM (always 0 in release)

    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil
    cdef void rx_release(self) noexcept nogil
    cdef void _refill(self) noexcept nogil
