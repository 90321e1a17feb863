# cython: language_level=3
"""C declarations of the Linux API tickwire uses (glibc + linux uapi headers), declared once for every package.

Sockets, ``recvmmsg`` / ``sendmmsg`` and control messages, IPv4 multicast, AF_PACKET
(TPACKET_V3 rings, fanout, statistics, classic BPF), ``mmap``, ``poll``, ``clock_gettime``,
``if_nametoindex``, scheduling. Only what is used is declared; names and types follow the
headers so the C compiler checks every use.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t

# ------------------------------------------------------------------ errno ----
cdef extern from "<errno.h>" nogil:
    int errno
    enum:
        EAGAIN
        EWOULDBLOCK
        EINTR
        EBUSY
        ENODEV
        ENXIO
        EINVAL
        EPERM
        ENOMEM
        EOPNOTSUPP
        ENOBUFS

cdef extern from "<string.h>" nogil:
    char *strerror(int errnum)

cdef extern from "<unistd.h>" nogil:
    int close(int fd)
    long sysconf(int name)
    enum:
        _SC_PAGESIZE

# ---------------------------------------------------------------- sockets ----
cdef extern from "<sys/types.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef long ssize_t

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void *iov_base
        size_t iov_len

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned short sa_family_t
    struct sockaddr:
        sa_family_t sa_family
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    struct timespec_ "timespec":
        long tv_sec
        long tv_nsec
    enum:
        AF_INET
        AF_PACKET
        SOCK_DGRAM
        SOCK_RAW
        SOCK_NONBLOCK
        SOCK_CLOEXEC
        SOL_SOCKET
        SO_REUSEADDR
        SO_REUSEPORT
        SO_RCVBUF
        SO_RCVBUFFORCE
        SO_TIMESTAMPNS
        SCM_TIMESTAMPNS
        SO_RXQ_OVFL
        SO_BUSY_POLL
        SO_PREFER_BUSY_POLL
        SO_BUSY_POLL_BUDGET
        SO_ATTACH_FILTER
        SO_BINDTODEVICE
        MSG_DONTWAIT
        MSG_TRUNC
        MSG_WAITFORONE
    int socket(int domain, int type, int protocol)
    int bind(int fd, const sockaddr *addr, socklen_t len)
    int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
    ssize_t recvfrom(int fd, void *buf, size_t n, int flags, sockaddr *addr, socklen_t *addrlen)
    int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
    int recvmmsg(int fd, mmsghdr *msgvec, unsigned int vlen, int flags, timespec_ *timeout)
    int sendmmsg(int fd, mmsghdr *msgvec, unsigned int vlen, int flags)
    ssize_t sendto(int fd, const void *buf, size_t n, int flags, const sockaddr *addr, socklen_t addrlen)
    cmsghdr *CMSG_FIRSTHDR(msghdr *m)
    cmsghdr *CMSG_NXTHDR(msghdr *m, cmsghdr *c)
    unsigned char *CMSG_DATA(cmsghdr *c)
    size_t CMSG_SPACE(size_t n)

# ------------------------------------------------------------------- IPv4 ----
cdef extern from "<netinet/in.h>" nogil:
    ctypedef uint32_t in_addr_t
    struct in_addr:
        in_addr_t s_addr
    struct sockaddr_in:
        sa_family_t sin_family
        uint16_t sin_port
        in_addr sin_addr
    struct ip_mreqn:
        in_addr imr_multiaddr
        in_addr imr_address
        int imr_ifindex
    struct ip_mreq_source:
        in_addr imr_multiaddr
        in_addr imr_interface
        in_addr imr_sourceaddr
    enum:
        IPPROTO_IP
        IPPROTO_UDP
        IP_ADD_MEMBERSHIP
        IP_ADD_SOURCE_MEMBERSHIP
        IP_MULTICAST_ALL
        INADDR_ANY
    uint16_t htons(uint16_t)
    uint16_t ntohs(uint16_t)
    uint32_t htonl(uint32_t)
    uint32_t ntohl(uint32_t)

cdef extern from "<net/if.h>" nogil:
    unsigned int if_nametoindex(const char *ifname)

# --------------------------------------------------------------- AF_PACKET ----
cdef extern from "<linux/if_ether.h>" nogil:
    enum:
        ETH_P_ALL
        ETH_P_IP

cdef extern from "<linux/if_packet.h>" nogil:
    struct sockaddr_ll:
        unsigned short sll_family
        uint16_t sll_protocol
        int sll_ifindex
        unsigned short sll_hatype
        unsigned char sll_pkttype
        unsigned char sll_halen
        unsigned char sll_addr[8]
    struct tpacket_req3:
        unsigned int tp_block_size
        unsigned int tp_block_nr
        unsigned int tp_frame_size
        unsigned int tp_frame_nr
        unsigned int tp_retire_blk_tov
        unsigned int tp_sizeof_priv
        unsigned int tp_feature_req_word
    struct tpacket_stats_v3:
        unsigned int tp_packets
        unsigned int tp_drops
        unsigned int tp_freeze_q_cnt
    struct tpacket_hdr_variant1:
        uint32_t tp_rxhash
        uint32_t tp_vlan_tci
        uint16_t tp_vlan_tpid
        uint16_t tp_padding
    struct tpacket3_hdr:
        uint32_t tp_next_offset
        uint32_t tp_sec
        uint32_t tp_nsec
        uint32_t tp_snaplen
        uint32_t tp_len
        uint32_t tp_status
        uint16_t tp_mac
        uint16_t tp_net
        tpacket_hdr_variant1 hv1
    struct tpacket_hdr_v1:
        uint32_t block_status
        uint32_t num_pkts
        uint32_t offset_to_first_pkt
        uint32_t blk_len
        uint64_t seq_num
    union tpacket_bd_header_u:
        tpacket_hdr_v1 bh1
    struct tpacket_block_desc:
        uint32_t version
        uint32_t offset_to_priv
        tpacket_bd_header_u hdr
    enum:
        SOL_PACKET
        PACKET_RX_RING
        PACKET_STATISTICS
        PACKET_VERSION
        PACKET_FANOUT
        PACKET_IGNORE_OUTGOING
        PACKET_TIMESTAMP
        PACKET_ADD_MEMBERSHIP
        PACKET_MR_PROMISC
        PACKET_FANOUT_HASH
        PACKET_FANOUT_LB
        PACKET_FANOUT_CPU
        PACKET_FANOUT_QM
        PACKET_FANOUT_FLAG_DEFRAG
        TPACKET_V3
        TP_STATUS_KERNEL
        TP_STATUS_USER
        TP_STATUS_VLAN_VALID
        TP_STATUS_LOSING
        TP_STATUS_TS_RAW_HARDWARE
        TP_FT_REQ_FILL_RXHASH
    struct packet_mreq:
        int mr_ifindex
        unsigned short mr_type
        unsigned short mr_alen
        unsigned char mr_address[8]

cdef extern from "<linux/net_tstamp.h>" nogil:
    enum:
        SOF_TIMESTAMPING_RAW_HARDWARE
        SOF_TIMESTAMPING_SOFTWARE

# -------------------------------------------------------------- classic BPF ----
cdef extern from "<linux/filter.h>" nogil:
    struct sock_filter:
        uint16_t code
        uint8_t jt
        uint8_t jf
        uint32_t k
    struct sock_fprog:
        unsigned short len
        sock_filter *filter

# ------------------------------------------------------------- mmap / poll ----
cdef extern from "<sys/mman.h>" nogil:
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void *addr, size_t length)
    void *MAP_FAILED
    enum:
        PROT_READ
        PROT_WRITE
        MAP_SHARED
        MAP_PRIVATE
        MAP_ANONYMOUS
        MAP_POPULATE
        MAP_LOCKED
        MAP_HUGETLB

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    enum:
        POLLIN
        POLLERR
    int poll(pollfd *fds, unsigned long nfds, int timeout)

# ------------------------------------------------------------------ clocks ----
cdef extern from "<time.h>" nogil:
    enum:
        CLOCK_REALTIME
        CLOCK_MONOTONIC
    int clock_gettime(int clk, timespec_ *ts)
    int nanosleep(const timespec_ *req, timespec_ *rem)

# ------------------------------------------------------ memory ordering ----
# The rings are shared with the kernel: status words are read with acquire and written with release
# semantics, as the kernel's smp_load_acquire/smp_store_release pairs expect.
cdef extern from *:
    """
    #include <stdint.h>
    static inline uint32_t tw_load_acquire_u32(const volatile uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
    static inline void tw_store_release_u32(volatile uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
    static inline void tw_cpu_relax(void) {
    #if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
    #endif
    }
    """
    uint32_t tw_load_acquire_u32(const uint32_t *p) noexcept nogil
    void tw_store_release_u32(uint32_t *p, uint32_t v) noexcept nogil
    void tw_cpu_relax() noexcept nogil


cdef inline uint64_t now_realtime_ns() noexcept nogil:
    """CLOCK_REALTIME in ns (the clock the kernel stamps packets with)."""
    cdef timespec_ ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <uint64_t>ts.tv_sec * 1000000000 + <uint64_t>ts.tv_nsec
