# cython: language_level=3
"""C declarations of DPDK 22.11 (Debian bookworm ``libdpdk-dev``): EAL, lcore, errno, log, cycles,
mempool, mbuf, ethdev.

The one Cython module of declarations for the DPDK library. Only what tickwire uses is declared;
structs list only the fields we read or write (Cython does not need the whole layout: the C
compiler sees the real headers). Many hot functions are ``static inline`` in the headers
(``rte_eth_rx_burst``, ``rte_pktmbuf_free``, ``rte_rdtsc``): declared here, Cython calls the inline.
Macros get a tiny ``static inline`` C wrapper (``tw_``-prefixed) in the verbatim C below.

Build flags come from ``pkg-config libdpdk`` (setup.py ``EXTRA``), which also force-includes
``rte_config.h``.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t
from libc.stdio cimport FILE

# ---------------------------------------------------------------- EAL ----
cdef extern from "rte_eal.h" nogil:
    int rte_eal_init(int argc, char **argv)
    # Initialise the EAL from argv (argv[0] = program name). Returns the number of parsed
    # arguments, or -1 with ``rte_errno`` set. Can succeed only once per process.
    int rte_eal_cleanup()
    # Release the EAL's resources (hugepages, threads). No DPDK call may follow.
    int rte_eal_process_type()
    int rte_eal_has_hugepages()
    int rte_eal_iova_mode()

# -------------------------------------------------------------- lcore ----
cdef extern from "rte_lcore.h" nogil:
    unsigned rte_lcore_id()
    # Id of the calling lcore (LCORE_ID_ANY for a non-EAL thread).
    unsigned rte_socket_id()
    unsigned rte_lcore_count()
    unsigned rte_get_main_lcore()
    unsigned rte_lcore_to_socket_id(unsigned lcore_id)
    int rte_lcore_is_enabled(unsigned lcore_id)
    const unsigned LCORE_ID_ANY
    const int SOCKET_ID_ANY

# -------------------------------------------------------------- errno ----
cdef extern from *:
    """
    #include <rte_errno.h>
    /* rte_errno is a per-lcore macro, not a variable Cython can name. */
    static inline int tw_rte_errno(void) { return rte_errno; }
    static inline void tw_rte_errno_set(int v) { rte_errno = v; }
    """
    int tw_rte_errno() noexcept nogil
    void tw_rte_errno_set(int v) noexcept nogil

cdef extern from "rte_errno.h" nogil:
    const char *rte_strerror(int errnum)
    # Message of an errno or of a DPDK-specific code (E_RTE_SECONDARY, E_RTE_NO_CONFIG).
    enum:
        E_RTE_SECONDARY
        E_RTE_NO_CONFIG

# ---------------------------------------------------------------- log ----
cdef extern from "rte_log.h" nogil:
    int rte_openlog_stream(FILE *f)
    # Send DPDK's log to ``f`` (NULL: back to the default, stdout + syslog after EAL init).
    FILE *rte_log_get_stream()
    void rte_log_set_global_level(uint32_t level)
    uint32_t rte_log_get_global_level()
    enum:
        RTE_LOG_EMERG
        RTE_LOG_ALERT
        RTE_LOG_CRIT
        RTE_LOG_ERR
        RTE_LOG_WARNING
        RTE_LOG_NOTICE
        RTE_LOG_INFO
        RTE_LOG_DEBUG

# ------------------------------------------------------------- cycles ----
cdef extern from "rte_cycles.h" nogil:
    uint64_t rte_rdtsc()
    # The TSC (static inline: one ``rdtsc``).
    uint64_t rte_rdtsc_precise()
    uint64_t rte_get_tsc_hz()
    # TSC frequency the EAL calibrated at init (Hz).
    uint64_t rte_get_timer_cycles()
    uint64_t rte_get_timer_hz()
    void rte_delay_us_block(unsigned int us)

# ----------------------------------------------------------- prefetch ----
cdef extern from "rte_prefetch.h" nogil:
    void rte_prefetch0(const void *p)
    # Prefetch into all cache levels (static inline).
    void rte_prefetch1(const void *p)
    void rte_prefetch_non_temporal(const void *p)

# ------------------------------------------------------------ mempool ----
cdef extern from "rte_mempool.h" nogil:
    struct rte_mempool:
        char *name
        unsigned size               # max number of objects
        uint32_t cache_size
        uint32_t elt_size
        int socket_id

    void rte_mempool_free(rte_mempool *mp)
    rte_mempool *rte_mempool_lookup(const char *name)
    unsigned rte_mempool_avail_count(const rte_mempool *mp)
    unsigned rte_mempool_in_use_count(const rte_mempool *mp)
    enum:
        RTE_MEMPOOL_CACHE_MAX_SIZE

# --------------------------------------------------------------- mbuf ----
cdef extern from "rte_mbuf.h" nogil:
    struct rte_mbuf:
        void *buf_addr
        uint16_t data_off           # payload starts at buf_addr + data_off
        uint16_t refcnt
        uint16_t nb_segs            # 1 for every frame that fits the data room
        uint16_t port
        uint64_t ol_flags
        uint32_t packet_type
        uint32_t pkt_len            # whole frame, all segments
        uint16_t data_len           # this segment
        uint16_t vlan_tci
        uint16_t buf_len
        rte_mempool *pool
        rte_mbuf *next

    rte_mempool *rte_pktmbuf_pool_create(const char *name, unsigned n, unsigned cache_size,
                                         uint16_t priv_size, uint16_t data_room_size, int socket_id)
    # Pool of ``n`` mbufs (best n = 2^q - 1) with ``data_room_size`` bytes each (headroom included).
    # NULL with rte_errno on failure (ENOMEM, EEXIST, ...).
    void rte_pktmbuf_free(rte_mbuf *m)
    # Free a (possibly chained) mbuf back to its pool (static inline).
    void rte_pktmbuf_free_bulk(rte_mbuf **mbufs, unsigned int count)
    # Free ``count`` mbufs (NULL entries allowed); batches the pool puts.
    rte_mbuf *rte_pktmbuf_alloc(rte_mempool *mp)
    enum:
        RTE_MBUF_DEFAULT_BUF_SIZE   # 2048 + RTE_PKTMBUF_HEADROOM
        RTE_MBUF_DEFAULT_DATAROOM
        RTE_PKTMBUF_HEADROOM
    uint64_t RTE_MBUF_F_RX_VLAN_STRIPPED
    uint64_t RTE_MBUF_F_RX_IP_CKSUM_BAD
    uint64_t RTE_MBUF_F_RX_L4_CKSUM_BAD

cdef extern from *:
    """
    #include <rte_mbuf.h>
    /* rte_pktmbuf_mtod is a macro: first byte of the frame in the first segment. */
    static inline const uint8_t *tw_mbuf_data(const struct rte_mbuf *m) {
        return (const uint8_t *)m->buf_addr + m->data_off;
    }
    """
    const uint8_t *tw_mbuf_data(const rte_mbuf *m) noexcept nogil

# ------------------------------------------------------------- ethdev ----
cdef extern from "rte_ether.h" nogil:
    enum:
        RTE_ETHER_ADDR_LEN
        RTE_ETHER_MAX_LEN
    struct rte_ether_addr:
        uint8_t addr_bytes[6]

cdef extern from "rte_ethdev.h" nogil:
    enum:
        RTE_MAX_ETHPORTS
        RTE_ETH_NAME_MAX_LEN
        RTE_ETH_LINK_UP
        RTE_ETH_LINK_DOWN

    enum rte_eth_rx_mq_mode:
        RTE_ETH_MQ_RX_NONE
        RTE_ETH_MQ_RX_RSS

    uint64_t RTE_ETH_RSS_IP
    uint64_t RTE_ETH_RSS_UDP

    struct rte_eth_rxmode:
        rte_eth_rx_mq_mode mq_mode
        uint32_t mtu
        uint64_t offloads

    struct rte_eth_rss_conf:
        uint8_t *rss_key
        uint8_t rss_key_len
        uint64_t rss_hf

    ctypedef struct tw_eth_rx_adv_conf:     # an anonymous struct in rte_eth_conf: never named in C
        rte_eth_rss_conf rss_conf

    struct rte_eth_conf:
        uint32_t link_speeds
        rte_eth_rxmode rxmode
        tw_eth_rx_adv_conf rx_adv_conf

    struct rte_eth_desc_lim:
        uint16_t nb_max
        uint16_t nb_min
        uint16_t nb_align

    struct rte_eth_dev_info:
        const char *driver_name
        unsigned int if_index       # 0 when the port has no kernel interface
        uint16_t min_mtu
        uint16_t max_mtu
        uint32_t min_rx_bufsize
        uint32_t max_rx_pktlen
        uint16_t max_rx_queues
        uint16_t max_tx_queues
        uint32_t max_mac_addrs
        uint64_t rx_offload_capa
        uint64_t flow_type_rss_offloads
        rte_eth_desc_lim rx_desc_lim
        uint32_t speed_capa
        uint16_t nb_rx_queues
        uint16_t nb_tx_queues

    struct rte_eth_stats:
        uint64_t ipackets           # received successfully
        uint64_t opackets
        uint64_t ibytes
        uint64_t obytes
        uint64_t imissed            # dropped by the HW/driver: no Rx descriptor free (we were too slow)
        uint64_t ierrors            # erroneous frames received
        uint64_t oerrors
        uint64_t rx_nombuf          # Rx mbuf allocation failures (pool too small)

    struct rte_eth_link:
        uint32_t link_speed         # Mbps
        uint16_t link_duplex
        uint16_t link_autoneg
        uint16_t link_status

    struct rte_eth_rxconf:
        uint8_t rx_drop_en
        uint64_t offloads

    uint16_t rte_eth_dev_count_avail()
    int rte_eth_dev_is_valid_port(uint16_t port_id)
    int rte_eth_dev_get_port_by_name(const char *name, uint16_t *port_id)
    # Port id of a device name (e.g. ``net_pcap0``, a PCI address); -ENODEV/-EINVAL when none.
    int rte_eth_dev_get_name_by_port(uint16_t port_id, char *name)
    int rte_eth_dev_info_get(uint16_t port_id, rte_eth_dev_info *dev_info)
    int rte_eth_dev_socket_id(uint16_t port_id)
    int rte_eth_dev_configure(uint16_t port_id, uint16_t nb_rx_queue, uint16_t nb_tx_queue,
                              const rte_eth_conf *eth_conf)
    int rte_eth_dev_adjust_nb_rx_tx_desc(uint16_t port_id, uint16_t *nb_rx_desc, uint16_t *nb_tx_desc)
    int rte_eth_rx_queue_setup(uint16_t port_id, uint16_t rx_queue_id, uint16_t nb_rx_desc,
                               unsigned int socket_id, const rte_eth_rxconf *rx_conf, rte_mempool *mb_pool)
    int rte_eth_tx_queue_setup(uint16_t port_id, uint16_t tx_queue_id, uint16_t nb_tx_desc,
                               unsigned int socket_id, const void *tx_conf)
    int rte_eth_dev_start(uint16_t port_id)
    int rte_eth_dev_stop(uint16_t port_id)
    int rte_eth_dev_close(uint16_t port_id)
    int rte_eth_stats_get(uint16_t port_id, rte_eth_stats *stats)
    int rte_eth_stats_reset(uint16_t port_id)
    int rte_eth_promiscuous_enable(uint16_t port_id)
    int rte_eth_promiscuous_disable(uint16_t port_id)
    int rte_eth_promiscuous_get(uint16_t port_id)
    int rte_eth_allmulticast_enable(uint16_t port_id)
    int rte_eth_macaddr_get(uint16_t port_id, rte_ether_addr *mac_addr)
    int rte_eth_link_get_nowait(uint16_t port_id, rte_eth_link *link)
    int rte_eth_dev_set_mtu(uint16_t port_id, uint16_t mtu)

    uint16_t rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, rte_mbuf **rx_pkts,
                              const uint16_t nb_pkts)
    # Receive up to ``nb_pkts`` frames (static inline: one indirect call into the PMD).
    # Returns how many; never an error code.
    uint16_t rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, rte_mbuf **tx_pkts, uint16_t nb_pkts)

# -------------------------------------------------------------- vdev ----
cdef extern from "rte_bus_vdev.h" nogil:
    int rte_vdev_init(const char *name, const char *args)
    # Create a virtual device after EAL init (same syntax as ``--vdev name,args``).
    int rte_vdev_uninit(const char *name)
