# cython: language_level=3
"""UDP socket source (see udp_source.pxd): recvmmsg bursts, SO_TIMESTAMPNS, SO_RXQ_OVFL drops."""
import errno as _errno
import ipaddress
import os
import socket as _socket

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memcpy

from datapath.batch cimport Frame, PacketSource, BURST_SIZE, SRC_E_CLOSED, SRC_E_IO
from core.linux cimport *
from core.compiler cimport tw_likely, tw_unlikely, TW_DEBUG

from datapath.source_codes import (SourceError, KSRC_E_NO_INTERFACE, KSRC_E_SOCKET, KSRC_E_BIND,
                                   KSRC_E_JOIN, KSRC_E_SOCKOPT, KSRC_E_BAD_OPTION, KSRC_E_CLOSED)

DEBUG = bool(TW_DEBUG)       # built with the TW_DEBUG invariant checks


cdef uint32_t _ip4(object addr, str what) except? 0:
    """Dotted quad -> network-order s_addr; SourceError on a bad address."""
    try:
        packed = ipaddress.IPv4Address(addr).packed
    except ValueError:
        raise SourceError(KSRC_E_BAD_OPTION, f"{what} {addr!r} is not an IPv4 address") from None
    cdef uint32_t v
    memcpy(&v, <const char *>packed, 4)
    return v


cdef class UdpSource(PacketSource):
    """Receive a UDP feed (multicast group or unicast port) through a kernel socket.

    Parameters
    ----------
    port : int
        UDP destination port of the feed.
    group : str, optional
        Multicast group to join (e.g. ``"233.54.12.1"``); None for unicast.
    interface : str, optional
        Interface to join on (by name, ``IP_ADD_MEMBERSHIP`` with ``imr_ifindex``).
    interface_addr : str, optional
        Or the local address of that interface (``imr_address``).
    source : str, optional
        Source-specific multicast: accept the group only from this sender (IP_ADD_SOURCE_MEMBERSHIP).
    bind_addr : str, optional
        Address to bind (default: the group for multicast, so other groups on the port stay out;
        0.0.0.0 for unicast).
    rcvbuf : int
        SO_RCVBUF request in bytes (SO_RCVBUFFORCE first when root, so net.core.rmem_max does not cap it).
    busy_poll : bool
        True: ``rx_burst`` never blocks (the caller spins). False: it waits up to ``timeout_ms``.
    timeout_ms : int
        Blocking mode: longest wait per ``rx_burst`` (returns 0 on timeout).
    buffer_size : int
        Bytes per datagram buffer; a longer datagram is truncated by the kernel and counted in dropped_bad.
    so_busy_poll_us : int
        SO_BUSY_POLL (kernel NAPI busy polling on a blocking receive), 0 = off.
    reuseport : bool
        SO_REUSEPORT, so several processes can bind the same group/port (each gets a copy of
        multicast datagrams).
    """

    def __cinit__(self):
        self.fd = -1
        self.owns_fd = True
        self.bufs = NULL

    def __init__(self, int port, group=None, interface=None, interface_addr=None, source=None,
                 bind_addr=None, int rcvbuf=8 << 20, bint busy_poll=False, int timeout_ms=100,
                 int buffer_size=2048, int so_busy_poll_us=0, bint reuseport=True):
        cdef int one = 1, zero = 0, v, i
        cdef socklen_t vlen
        cdef sockaddr_in sa
        cdef ip_mreqn mreq
        cdef ip_mreq_source smreq
        cdef unsigned int ifindex = 0
        if not 0 < port < 65536:
            raise SourceError(KSRC_E_BAD_OPTION, f"port {port} out of range 1..65535")
        if buffer_size < 64 or buffer_size > 65536:
            raise SourceError(KSRC_E_BAD_OPTION, f"buffer_size {buffer_size} out of range 64..65536")
        self.port, self.group, self.interface = port, group, interface
        self.busy_poll, self.timeout_ms, self.buffer_size = busy_poll, timeout_ms, buffer_size
        if interface is not None:
            ifindex = if_nametoindex(interface.encode())
            if ifindex == 0:
                raise SourceError(KSRC_E_NO_INTERFACE, f"interface {interface!r} not found "
                                  f"(network namespace of pid {os.getpid()})", errno)
        if group is not None and not ipaddress.IPv4Address(group).is_multicast:
            raise SourceError(KSRC_E_BAD_OPTION, f"group {group!r} is not an IPv4 multicast address")

        self.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)
        if self.fd < 0:
            raise SourceError(KSRC_E_SOCKET, "socket(AF_INET, SOCK_DGRAM)", errno)
        try:
            self._opt(SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR")
            if reuseport:
                self._opt(SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT")
            self._opt(SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS")
            self._opt(SOL_SOCKET, SO_RXQ_OVFL, 1, "SO_RXQ_OVFL")
            if so_busy_poll_us:
                self._opt(SOL_SOCKET, SO_BUSY_POLL, so_busy_poll_us, "SO_BUSY_POLL")
            # SO_RCVBUFFORCE ignores net.core.rmem_max (needs CAP_NET_ADMIN); fall back to SO_RCVBUF.
            if setsockopt(self.fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(int)) != 0:
                self._opt(SOL_SOCKET, SO_RCVBUF, rcvbuf, "SO_RCVBUF")
            vlen = sizeof(int)
            getsockopt(self.fd, SOL_SOCKET, SO_RCVBUF, &v, &vlen)
            self.rcvbuf = v
            if group is not None:
                # Without this Linux delivers every group joined by ANY socket on the host to a
                # socket bound to INADDR_ANY:port; binding to the group plus this keeps it exact.
                self._opt(IPPROTO_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL")

            memset(&sa, 0, sizeof(sa))
            sa.sin_family = AF_INET
            sa.sin_port = htons(port)
            sa.sin_addr.s_addr = _ip4(bind_addr if bind_addr is not None else (group or "0.0.0.0"), "bind_addr")
            if bind(self.fd, <sockaddr *>&sa, sizeof(sa)) != 0:
                raise SourceError(KSRC_E_BIND, f"bind({bind_addr or group or '0.0.0.0'}:{port})", errno)

            if group is not None:
                if source is not None:
                    memset(&smreq, 0, sizeof(smreq))
                    smreq.imr_multiaddr.s_addr = _ip4(group, "group")
                    smreq.imr_sourceaddr.s_addr = _ip4(source, "source")
                    smreq.imr_interface.s_addr = _ip4(interface_addr or "0.0.0.0", "interface_addr")
                    if ifindex and interface_addr is None:
                        raise SourceError(KSRC_E_BAD_OPTION, "source-specific join needs interface_addr "
                                          "(IP_ADD_SOURCE_MEMBERSHIP selects the interface by address)")
                    if setsockopt(self.fd, IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, &smreq, sizeof(smreq)) != 0:
                        raise SourceError(KSRC_E_JOIN, f"join {group} from {source} on {interface_addr}", errno)
                else:
                    memset(&mreq, 0, sizeof(mreq))
                    mreq.imr_multiaddr.s_addr = _ip4(group, "group")
                    mreq.imr_address.s_addr = _ip4(interface_addr or "0.0.0.0", "interface_addr")
                    mreq.imr_ifindex = ifindex
                    if setsockopt(self.fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof(mreq)) != 0:
                        raise SourceError(KSRC_E_JOIN, f"join {group} on {interface or interface_addr or 'default route'}"
                                          " (no multicast route? add one: ip route add 224.0.0.0/4 dev IFACE)", errno)
            elif interface is not None:
                ifname = interface.encode()
                if setsockopt(self.fd, SOL_SOCKET, SO_BINDTODEVICE, <const char *>ifname, len(ifname)) != 0:
                    raise SourceError(KSRC_E_SOCKOPT, f"SO_BINDTODEVICE {interface}", errno)

            self._alloc_buffers()
        except BaseException:
            self.close()
            raise

    @staticmethod
    def adopt(int fd, int buffer_size=2048):
        """A source on a datagram socket opened (and closed) by someone else: never blocks.

        For sockets that are not a feed line, such as the re-request socket of
        ``feedhandlers.mold_session.UdpRequester`` or the answer socket of ``SoupRecovery`` (AF_UNIX):
        the session reads their answers as one more line. ``close()`` frees the buffers only.
        Frames without a kernel timestamp get the time of the burst; ``src_ip`` is 0 for non-IPv4 peers.
        """
        cdef UdpSource self = UdpSource.__new__(UdpSource)
        cdef int one = 1
        if fd < 0:
            raise SourceError(KSRC_E_BAD_OPTION, f"fd {fd} is not an open socket")
        if buffer_size < 64 or buffer_size > 65536:
            raise SourceError(KSRC_E_BAD_OPTION, f"buffer_size {buffer_size} out of range 64..65536")
        self.fd = fd
        self.owns_fd = False
        self.busy_poll, self.timeout_ms, self.buffer_size = True, 0, buffer_size
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(int))    # best effort: not every family has it
        setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(int))
        self._alloc_buffers()
        return self

    cdef _alloc_buffers(self):
        cdef int i
        self.bufs = <uint8_t *>malloc(BURST_SIZE * self.buffer_size)
        if self.bufs == NULL:
            raise MemoryError()
        memset(self.bufs, 0, BURST_SIZE * self.buffer_size)     # touch every page now, not on the first burst
        memset(self.msgs, 0, sizeof(self.msgs))
        for i in range(BURST_SIZE):
            self.iov[i].iov_base = self.bufs + i * self.buffer_size
            self.iov[i].iov_len = self.buffer_size
            self.msgs[i].msg_hdr.msg_iov = &self.iov[i]
            self.msgs[i].msg_hdr.msg_iovlen = 1
            self.msgs[i].msg_hdr.msg_name = &self.names[i]
            self.msgs[i].msg_hdr.msg_control = self.ctrl[i]

    cdef _opt(self, int level, int name, int value, str what):
        if setsockopt(self.fd, level, name, &value, sizeof(int)) != 0:
            raise SourceError(KSRC_E_SOCKOPT, f"setsockopt {what}={value}", errno)

    def close(self):
        """Close the socket (leaves the group; an adopted one stays open) and free the buffers; rx_burst
        then returns SRC_E_CLOSED."""
        if self.fd >= 0:
            if self.owns_fd:
                close(self.fd)
            self.fd = -1
        if self.bufs != NULL:
            free(self.bufs)
            self.bufs = NULL

    def __dealloc__(self):
        self.close()

    def fileno(self):
        return self.fd

    # ------------------------------------------------------------ receive ----
    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil:
        cdef int n, i, err
        cdef pollfd pfd
        cdef msghdr *h
        cdef cmsghdr *c
        cdef timespec_ *ts
        cdef uint32_t ovfl
        cdef uint64_t burst_ns = 0
        if tw_unlikely(self.fd < 0):
            return SRC_E_CLOSED
        if max_frames > BURST_SIZE:
            max_frames = BURST_SIZE
        for i in range(max_frames):          # the kernel overwrites these lengths on every receive
            self.msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in)
            self.msgs[i].msg_hdr.msg_controllen = UDP_CTRL_SIZE
        n = recvmmsg(self.fd, self.msgs, max_frames, MSG_DONTWAIT, NULL)
        if n < 0:
            err = errno
            if err == EAGAIN or err == EINTR:
                if self.busy_poll or self.timeout_ms == 0:
                    return 0
                pfd.fd = self.fd
                pfd.events = POLLIN
                pfd.revents = 0
                if poll(&pfd, 1, self.timeout_ms) <= 0:
                    return 0
                n = recvmmsg(self.fd, self.msgs, max_frames, MSG_DONTWAIT, NULL)
                if n < 0:
                    err = errno
                    if err == EAGAIN or err == EINTR:
                        return 0
                    self.last_errno = err
                    return SRC_E_IO
            else:
                self.last_errno = err
                return SRC_E_IO
        cdef int out = 0
        for i in range(n):
            h = &self.msgs[i].msg_hdr
            if tw_unlikely(h.msg_flags & MSG_TRUNC):
                self.dropped_bad += 1
                continue
            frames[out].data = <const uint8_t *>self.iov[i].iov_base
            frames[out].length = self.msgs[i].msg_len
            frames[out].src_ip = ntohl(self.names[i].sin_addr.s_addr) if h.msg_namelen >= sizeof(sockaddr_in) else 0
            frames[out].rx_ns = 0
            c = CMSG_FIRSTHDR(h)
            while c != NULL:
                if c.cmsg_level == SOL_SOCKET:
                    if c.cmsg_type == SCM_TIMESTAMPNS:
                        ts = <timespec_ *>CMSG_DATA(c)
                        frames[out].rx_ns = <uint64_t>ts.tv_sec * 1000000000 + <uint64_t>ts.tv_nsec
                    elif c.cmsg_type == SO_RXQ_OVFL:
                        memcpy(&ovfl, CMSG_DATA(c), 4)
                        if ovfl != self.ovfl_last:   # cumulative count of datagrams the socket dropped
                            self.kernel_drops += <uint32_t>(ovfl - self.ovfl_last)
                            self.ovfl_last = ovfl
                c = CMSG_NXTHDR(h, c)
            if tw_unlikely(frames[out].rx_ns == 0):          # no SCM_TIMESTAMPNS (an adopted AF_UNIX socket)
                if burst_ns == 0:
                    burst_ns = now_realtime_ns()
                frames[out].rx_ns = burst_ns
            self.rx_bytes += frames[out].length
            out += 1
        self.rx_packets += out
        return out

    cdef void rx_release(self) noexcept nogil:
        pass                                  # buffers are reused by the next recvmmsg

    # ------------------------------------------------------------- Python ----
    def __repr__(self):
        return (f"UdpSource(group={self.group!r}, port={self.port}, interface={self.interface!r}, "
                f"busy_poll={self.busy_poll}, fd={self.fd})")

