# cython: language_level=3
"""UDP socket source: multicast (or unicast) receive with ``recvmmsg`` in bursts of 32.

The portable baseline: works on any interface, in any namespace, without privileges beyond the
group join. About 1 µs of receiver CPU per packet (two copies and a system call per burst), so it
is the fallback and the reference the ring sources are checked against.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from datapath.batch cimport Frame, PacketSource, BURST_SIZE
from core.linux cimport mmsghdr, iovec, sockaddr_in

cdef enum:
    UDP_CTRL_SIZE = 64       # control buffer per message: SCM_TIMESTAMPNS (32) + SO_RXQ_OVFL (20)


cdef class UdpSource(PacketSource):
    # ----------------------------------------------------------- socket ----
    cdef int fd
    cdef readonly bint owns_fd           # False for ``adopt``ed sockets: close() leaves them open
    cdef readonly bint busy_poll         # MSG_DONTWAIT, return 0 at once when empty
    cdef readonly int timeout_ms         # blocking mode: poll() timeout per rx_burst
    cdef readonly uint32_t buffer_size   # bytes per datagram buffer (longer datagrams are dropped_bad)
    cdef readonly object group           # multicast group (None = unicast)
    cdef readonly int port
    cdef readonly object interface
    cdef readonly int rcvbuf             # SO_RCVBUF the kernel granted (bytes)

    # ---------------------------------------------------------- buffers ----
    cdef uint8_t *bufs                   # BURST_SIZE * buffer_size, allocated once
    cdef mmsghdr msgs[BURST_SIZE]
    cdef iovec iov[BURST_SIZE]
    cdef sockaddr_in names[BURST_SIZE]
    cdef uint8_t ctrl[BURST_SIZE][UDP_CTRL_SIZE]
    cdef uint32_t ovfl_last              # last SO_RXQ_OVFL value (cumulative kernel drops)

    cdef _opt(self, int level, int name, int value, str what)
    cdef _alloc_buffers(self)
    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil
    cdef void rx_release(self) noexcept nogil
