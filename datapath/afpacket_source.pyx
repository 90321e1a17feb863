# cython: language_level=3
"""AF_PACKET TPACKET_V3 ring source (see afpacket_source.pxd)."""
import ipaddress
import os

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset

from datapath.batch cimport Frame, PacketSource, BURST_SIZE, SRC_E_CLOSED, SRC_E_IO
from core.linux cimport *
from datapath.packet cimport (UdpView, udp_parse_ether, udp_accept, PKT_OK, PKT_E_NOT_IPV4,
                              PKT_E_NOT_UDP, PKT_E_FILTERED)
from core.compiler cimport tw_likely, tw_unlikely, tw_prefetch, TW_DEBUG

from datapath.igmp import IgmpJoin
from datapath.source_codes import (permission_hint, SourceError, KSRC_E_NO_INTERFACE, KSRC_E_SOCKET, KSRC_E_BIND,
                                   KSRC_E_SOCKOPT, KSRC_E_RING, KSRC_E_FANOUT, KSRC_E_FILTER,
                                   KSRC_E_BAD_OPTION, KSRC_E_CLOSED)

DEBUG = bool(TW_DEBUG)       # built with the TW_DEBUG invariant checks

#: PACKET_FANOUT modes by name: hash (flow hash: one flow -> one socket), lb (round robin),
#: cpu (the CPU that received the packet), qm (the NIC queue it came from).
FANOUT_MODES = {"hash": PACKET_FANOUT_HASH, "lb": PACKET_FANOUT_LB, "cpu": PACKET_FANOUT_CPU,
                "qm": PACKET_FANOUT_QM}

cdef enum:
    STATS_EVERY = 16          # read PACKET_STATISTICS every this many returned blocks


cdef class AfPacketSource(PacketSource):
    """Receive a UDP feed from an interface through an AF_PACKET TPACKET_V3 mmap ring.

    Parameters
    ----------
    interface : str
        Interface to bind (in the caller's network namespace).
    port : int
        UDP destination port to accept (0 = any).
    group : str, optional
        Destination IPv4 address to accept (the feed's multicast group); None = any.
    vlan : int, optional
        Accept only frames tagged with this VLAN id (tag offloaded by the NIC or in-band).
    block_size, block_nr, frame_size : int
        Ring geometry: ``block_nr`` blocks of ``block_size`` bytes (a multiple of the page size);
        ``frame_size`` is the kernel's bound for one frame slot (multiple of 16, >= 80).
    retire_ms : int
        Block retire timeout: a block that holds at least one frame is handed to user space after
        this long even if not full. The ring's latency floor at low rates; 1 ms is the minimum.
    busy_poll : bool
        True: spin on the next block's status word (no system call). False: poll() up to ``timeout_ms``.
    timeout_ms : int
        poll() timeout in blocking mode; ``rx_burst`` returns 0 when it expires.
    fanout : tuple(str, int), optional
        ``(mode, group_id)``: join PACKET_FANOUT group ``group_id`` (0..65535) with mode ``hash``,
        ``lb``, ``cpu`` or ``qm``, so several sockets/processes share the interface's packets.
    bpf_filter : bool
        Attach a classic BPF filter (IPv4, UDP, not a fragment, dst port ``port``) so the kernel drops
        other traffic before it reaches the ring (it is then not counted in dropped_filter).
    promisc : bool
        Put the interface in promiscuous mode for this socket's lifetime.
    join : bool, optional
        Join ``group`` on the interface (IGMP + NIC multicast filter; datapath.igmp) for the source's
        lifetime. Default: when ``group`` is a multicast address. A raw socket does not join by itself.
    timestamps : str
        ``"software"`` (kernel receive time) or ``"hardware"``: the NIC's raw receive stamp in
        tp_sec/tp_nsec (PACKET_TIMESTAMP = SOF_TIMESTAMPING_RAW_HARDWARE; enable stamping on the NIC
        first, e.g. ``hwstamp_ctl -i IF -r 1``). Frames the NIC did not stamp keep the software time;
        ``hw_stamped`` counts the ones that carried a hardware stamp.
    """

    def __cinit__(self):
        self.fd = -1
        self.ring = NULL
        self.want_vlan = -1

    def __init__(self, str interface, int port=0, group=None, vlan=None, int block_size=1 << 18,
                 int block_nr=64, int frame_size=2048, int retire_ms=1, bint busy_poll=False,
                 int timeout_ms=100, fanout=None, bint bpf_filter=False, bint promisc=False, join=None,
                 str timestamps="software"):
        cdef int v
        cdef tpacket_req3 req
        cdef sockaddr_ll sll
        cdef packet_mreq mr
        cdef long page = sysconf(_SC_PAGESIZE)
        if not 0 <= port < 65536:
            raise SourceError(KSRC_E_BAD_OPTION, f"port {port} out of range 0..65535")
        if block_size <= 0 or block_size % page:
            raise SourceError(KSRC_E_BAD_OPTION, f"block_size {block_size} must be a positive multiple of the page size ({page})")
        if block_nr < 2:
            raise SourceError(KSRC_E_BAD_OPTION, f"block_nr {block_nr} must be at least 2")
        if frame_size < 80 or frame_size % 16 or frame_size > block_size:
            raise SourceError(KSRC_E_BAD_OPTION, f"frame_size {frame_size} must be a multiple of 16 in 80..block_size")
        if retire_ms < 1:
            raise SourceError(KSRC_E_BAD_OPTION, f"retire_ms {retire_ms} must be >= 1")
        if vlan is not None and not 0 <= vlan < 4095:
            raise SourceError(KSRC_E_BAD_OPTION, f"vlan {vlan} out of range 0..4094")
        if timestamps not in ("software", "hardware"):
            raise SourceError(KSRC_E_BAD_OPTION, f"timestamps {timestamps!r}: 'software' or 'hardware'")
        if bpf_filter and port == 0:
            raise SourceError(KSRC_E_BAD_OPTION, "bpf_filter needs a port")
        self.interface, self.busy_poll, self.timeout_ms, self.bpf_filter = interface, busy_poll, timeout_ms, bpf_filter
        self.want_port = port
        self.want_ip = int(ipaddress.IPv4Address(group)) if group is not None else 0
        self.want_vlan = -1 if vlan is None else vlan
        self.block_size, self.block_nr, self.frame_size, self.retire_ms = block_size, block_nr, frame_size, retire_ms

        self.ifindex = if_nametoindex(interface.encode())
        if self.ifindex == 0:
            raise SourceError(KSRC_E_NO_INTERFACE, f"interface {interface!r} not found "
                              f"(network namespace of pid {os.getpid()})", errno)
        if fanout is not None:
            try:
                mode_name, group_id = fanout
                mode = FANOUT_MODES[mode_name]
            except (TypeError, ValueError, KeyError):
                raise SourceError(KSRC_E_BAD_OPTION, f"fanout {fanout!r} must be (mode, group_id) with mode in "
                                  f"{sorted(FANOUT_MODES)}") from None
            if not 0 <= group_id < 65536:
                raise SourceError(KSRC_E_BAD_OPTION, f"fanout group id {group_id} out of range 0..65535")
            self.fanout = (mode_name, group_id)

        # Protocol 0 at socket(): nothing is queued before the ring exists and the bind below.
        self.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)
        if self.fd < 0:
            raise SourceError(KSRC_E_SOCKET, "socket(AF_PACKET, SOCK_RAW)" + permission_hint("socket", errno), errno)
        try:
            v = TPACKET_V3
            if setsockopt(self.fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) != 0:
                raise SourceError(KSRC_E_RING, "PACKET_VERSION TPACKET_V3", errno)
            v = 1          # our own transmissions (and the peer's looped copies) are not feed traffic
            setsockopt(self.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &v, sizeof(v))
            if bpf_filter:
                self._attach_filter(port)
            if timestamps == "hardware":
                v = SOF_TIMESTAMPING_RAW_HARDWARE
                if setsockopt(self.fd, SOL_PACKET, PACKET_TIMESTAMP, &v, sizeof(v)) != 0:
                    raise SourceError(KSRC_E_SOCKOPT, "PACKET_TIMESTAMP SOF_TIMESTAMPING_RAW_HARDWARE", errno)
                self.hw_timestamps = True
            memset(&req, 0, sizeof(req))
            req.tp_block_size = block_size
            req.tp_block_nr = block_nr
            req.tp_frame_size = frame_size
            req.tp_frame_nr = (block_size // frame_size) * block_nr
            req.tp_retire_blk_tov = retire_ms
            req.tp_feature_req_word = TP_FT_REQ_FILL_RXHASH
            if setsockopt(self.fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0:
                raise SourceError(KSRC_E_RING, f"PACKET_RX_RING {block_nr} x {block_size} B blocks, "
                                  f"frame {frame_size} B", errno)
            self.ring_size = <size_t>block_size * block_nr
            self.ring = <uint8_t *>mmap(NULL, self.ring_size, PROT_READ | PROT_WRITE,
                                         MAP_SHARED | MAP_POPULATE, self.fd, 0)
            if self.ring == <uint8_t *>MAP_FAILED:
                self.ring = NULL
                raise SourceError(KSRC_E_RING, f"mmap of the {self.ring_size} B ring", errno)
            memset(&sll, 0, sizeof(sll))
            sll.sll_family = AF_PACKET
            sll.sll_protocol = htons(ETH_P_ALL)
            sll.sll_ifindex = self.ifindex
            if bind(self.fd, <sockaddr *>&sll, sizeof(sll)) != 0:
                raise SourceError(KSRC_E_BIND, f"bind AF_PACKET to {interface} (ifindex {self.ifindex})", errno)
            if promisc:
                memset(&mr, 0, sizeof(mr))
                mr.mr_ifindex = self.ifindex
                mr.mr_type = PACKET_MR_PROMISC
                if setsockopt(self.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0:
                    raise SourceError(KSRC_E_SOCKOPT, f"PACKET_MR_PROMISC on {interface}", errno)
            if self.fanout is not None:
                v = self.fanout[1] | (FANOUT_MODES[self.fanout[0]] << 16)
                if setsockopt(self.fd, SOL_PACKET, PACKET_FANOUT, &v, sizeof(v)) != 0:
                    raise SourceError(KSRC_E_FANOUT, f"PACKET_FANOUT group {self.fanout[1]} mode {self.fanout[0]}", errno)
            if group is not None and (join if join is not None else ipaddress.IPv4Address(group).is_multicast):
                self.igmp = IgmpJoin(interface, group)
        except BaseException:
            self.close()
            raise

    cdef _attach_filter(self, int port):
        # tcpdump -dd 'ip and udp and not ip[6:2] & 0x1fff != 0 and udp dst port PORT'
        cdef sock_filter prog[11]
        cdef sock_fprog fprog
        cdef int i
        code = [(0x28, 0, 0, 12), (0x15, 0, 8, 0x0800),       # ldh [12]; jeq IPv4
                (0x30, 0, 0, 23), (0x15, 0, 6, 17),           # ldb [23]; jeq UDP
                (0x28, 0, 0, 20), (0x45, 4, 0, 0x1FFF),       # ldh [20]; jset fragment -> drop
                (0xB1, 0, 0, 14),                             # ldxb 4*([14]&0xf)
                (0x48, 0, 0, 16), (0x15, 0, 1, port),         # ldh [x+16]; jeq port
                (0x06, 0, 0, 0x40000), (0x06, 0, 0, 0)]       # accept whole frame; drop
        for i, (c, jt, jf, k) in enumerate(code):
            prog[i].code, prog[i].jt, prog[i].jf, prog[i].k = c, jt, jf, k
        fprog.len = 11
        fprog.filter = prog
        if setsockopt(self.fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) != 0:
            raise SourceError(KSRC_E_FILTER, f"SO_ATTACH_FILTER udp dst port {port}", errno)

    def close(self):
        """Unmap the ring and close the socket; rx_burst then returns SRC_E_CLOSED."""
        if self.fd >= 0:
            self._stats()
        if self.ring != NULL:
            munmap(self.ring, self.ring_size)
            self.ring = NULL
        self.cur = NULL
        self.done_count = 0
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1
        if self.igmp is not None:
            self.igmp.close()
            self.igmp = None

    def __dealloc__(self):
        self.close()

    def fileno(self):
        return self.fd

    # ------------------------------------------------------------ receive ----
    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil:
        cdef int n = 0, rc
        cdef tpacket_block_desc *bd
        cdef tpacket3_hdr *h
        cdef UdpView v
        cdef pollfd pfd
        cdef uint32_t status
        if tw_unlikely(self.ring == NULL):
            return SRC_E_CLOSED
        if self.done_count:                 # the previous burst's frames are no longer in use
            self._return_blocks()
        while n < max_frames:
            if self.cur == NULL:
                if tw_unlikely(self.done_count == self.block_nr):
                    break                   # every block walked out and not yet released: ring wrapped
                bd = <tpacket_block_desc *>(self.ring + <size_t>self.blk * self.block_size)
                status = tw_load_acquire_u32(&bd.hdr.bh1.block_status)
                if not (status & TP_STATUS_USER):
                    if n > 0 or self.busy_poll or self.timeout_ms == 0:
                        break
                    pfd.fd = self.fd
                    pfd.events = POLLIN | POLLERR
                    pfd.revents = 0
                    rc = poll(&pfd, 1, self.timeout_ms)
                    if rc < 0 and errno != EINTR:
                        self.last_errno = errno
                        return SRC_E_IO
                    status = tw_load_acquire_u32(&bd.hdr.bh1.block_status)
                    if not (status & TP_STATUS_USER):
                        break
                self.cur = bd
                self.left = bd.hdr.bh1.num_pkts
                self.next_pkt = <uint8_t *>bd + bd.hdr.bh1.offset_to_first_pkt
                self.blocks += 1
            while self.left and n < max_frames:
                h = <tpacket3_hdr *>self.next_pkt
                if TW_DEBUG:
                    # Every frame of a block lies inside the block: else the walk would read past it.
                    if (<uint8_t *>h + h.tp_mac + h.tp_snaplen > <uint8_t *>self.cur + self.block_size
                            or (self.left > 1 and h.tp_next_offset == 0)):
                        self.debug_ring_errors += 1
                        self.left = 0
                        break
                self.left -= 1
                self.next_pkt += h.tp_next_offset
                if self.left:
                    tw_prefetch(self.next_pkt)
                rc = udp_parse_ether(<uint8_t *>h + h.tp_mac, h.tp_snaplen, &v)
                if tw_likely(rc == PKT_OK):
                    rc = udp_accept(&v, self.want_ip, self.want_port)
                    if self.want_vlan >= 0 and rc == PKT_OK:
                        if h.tp_status & TP_STATUS_VLAN_VALID:
                            v.vlan = h.hv1.tp_vlan_tci & 0x0FFF
                        if v.vlan != self.want_vlan:
                            rc = PKT_E_FILTERED
                if tw_likely(rc == PKT_OK):
                    frames[n].data = v.payload
                    frames[n].length = v.length
                    frames[n].src_ip = v.src_ip
                    frames[n].rx_ns = <uint64_t>h.tp_sec * 1000000000 + h.tp_nsec
                    if self.hw_timestamps and (h.tp_status & TP_STATUS_TS_RAW_HARDWARE):
                        self.hw_stamped += 1
                    self.rx_bytes += v.length
                    n += 1
                elif rc == PKT_E_FILTERED or rc == PKT_E_NOT_IPV4 or rc == PKT_E_NOT_UDP:
                    self.dropped_filter += 1
                else:
                    self.dropped_bad += 1
            if self.left == 0:              # walked out: give back at the next release
                if self.done_count == 0:
                    self.done_first = self.blk
                self.done_count += 1
                self.cur = NULL
                self.blk += 1
                if self.blk == self.block_nr:
                    self.blk = 0
        self.rx_packets += n
        return n

    cdef void rx_release(self) noexcept nogil:
        if self.done_count:
            self._return_blocks()

    cdef void _return_blocks(self) noexcept nogil:
        cdef uint32_t i, b = self.done_first
        cdef tpacket_block_desc *bd
        for i in range(self.done_count):
            bd = <tpacket_block_desc *>(self.ring + <size_t>b * self.block_size)
            tw_store_release_u32(&bd.hdr.bh1.block_status, TP_STATUS_KERNEL)
            b += 1
            if b == self.block_nr:
                b = 0
        self.releases += self.done_count
        self.done_count = 0
        if self.releases >= STATS_EVERY:
            self.releases = 0
            self._stats()

    cdef int _stats(self) noexcept nogil:
        """Fold PACKET_STATISTICS (which resets on every read) into the counters."""
        cdef tpacket_stats_v3 st
        cdef socklen_t n = sizeof(st)
        if self.fd < 0 or getsockopt(self.fd, SOL_PACKET, PACKET_STATISTICS, &st, &n) != 0:
            return -1
        self.kernel_drops += st.tp_drops
        self.freeze_count += st.tp_freeze_q_cnt
        return 0

    # ------------------------------------------------------------- Python ----
    def user_blocks(self):
        """How many ring blocks are currently owned by user space (status TP_STATUS_USER)."""
        cdef uint32_t i, k = 0
        cdef tpacket_block_desc *bd
        if self.ring == NULL:
            return 0
        for i in range(self.block_nr):
            bd = <tpacket_block_desc *>(self.ring + <size_t>i * self.block_size)
            if tw_load_acquire_u32(&bd.hdr.bh1.block_status) & TP_STATUS_USER:
                k += 1
        return k

    def counters(self):
        """Counters, with PACKET_STATISTICS read now (kernel_drops, freeze_count)."""
        self._stats()
        d = PacketSource.counters(self)
        d["freeze_count"] = self.freeze_count
        d["blocks"] = self.blocks
        d["hw_stamped"] = self.hw_stamped
        return d

    def __repr__(self):
        return (f"AfPacketSource(interface={self.interface!r}, port={self.want_port}, ring={self.block_nr}x"
                f"{self.block_size}, fanout={self.fanout!r}, busy_poll={self.busy_poll}, fd={self.fd})")

