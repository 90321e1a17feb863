# cython: language_level=3
"""DPDK ethdev ports: lookup, info, configure/start/stop/close, stats, promiscuous mode, MAC.

Every failing call raises :class:`PortError` with a PORT_E_* code, DPDK's errno and rte_strerror.
Typical use (after ``dpdk_bindings.eal.init``)::

    port = Port.open("net_pcap0", rx_queues=1, mbufs=16383)   # configure + queues + start
    ... rte_eth_rx_burst(port.port_id, 0, ...) ...
    port.stats()["imissed"]
    port.close()
"""
import time

from libc.errno cimport EBUSY
from libc.string cimport memset
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

from dpdk_bindings.rte cimport (
    rte_mempool, rte_pktmbuf_pool_create, rte_mempool_free, rte_mempool_avail_count,
    rte_mempool_in_use_count, tw_rte_errno, rte_socket_id, SOCKET_ID_ANY, RTE_PKTMBUF_HEADROOM,
    rte_eth_dev_count_avail, rte_eth_dev_is_valid_port, rte_eth_dev_get_port_by_name,
    rte_eth_dev_get_name_by_port, rte_eth_dev_info_get, rte_eth_dev_info, rte_eth_dev_socket_id,
    rte_eth_conf, rte_eth_dev_configure, rte_eth_dev_adjust_nb_rx_tx_desc, rte_eth_rx_queue_setup,
    rte_eth_tx_queue_setup, rte_eth_dev_start, rte_eth_dev_stop, rte_eth_dev_close, rte_eth_stats,
    rte_eth_stats_get, rte_eth_promiscuous_enable, rte_eth_promiscuous_disable,
    rte_eth_promiscuous_get, rte_eth_allmulticast_enable, rte_ether_addr, rte_eth_macaddr_get,
    rte_eth_link, rte_eth_link_get_nowait, RTE_ETH_NAME_MAX_LEN, RTE_MAX_ETHPORTS,
    RTE_ETH_MQ_RX_NONE, RTE_ETH_MQ_RX_RSS, RTE_ETH_RSS_IP, RTE_ETH_RSS_UDP,
)
from dpdk_bindings import eal as _eal
from dpdk_bindings.eal import DpdkError, strerror

# ----------------------------------------------------------- result codes ----
# PORT_E_* (-711..): values and messages in core/codes.pxd.
from core import codes as _codes
from core.codes import (PORT_E_NO_PORT, PORT_E_CONFIGURE, PORT_E_QUEUE, PORT_E_START, PORT_E_MEMPOOL, PORT_E_STATE,
                        PORT_E_CALL)

#: code -> (NAME, message)
CODES = {c.value: (c.name, c.message) for c in _codes.CODES.values() if c.name.startswith("PORT_E_")}


class PortError(DpdkError):
    """An ethdev / mempool call failed (codes PORT_E_*)."""


cdef inline int _check(int rc, int code, str what) except -1:
    """Raise PortError(code) when a DPDK call returned a negative errno."""
    if rc < 0:
        raise PortError(code, f"{what} -> {strerror(-rc)}", -rc)
    return rc


# ---------------------------------------------------------------- ports ----
def port_count():
    """Number of usable ethdev ports."""
    _eal.require()
    return rte_eth_dev_count_avail()


def port_name(int port_id):
    """Ethdev name of a port id."""
    _eal.require()
    cdef char buf[RTE_ETH_NAME_MAX_LEN]
    _check(rte_eth_dev_get_name_by_port(port_id, buf), PORT_E_NO_PORT, f"port {port_id}")
    return (<bytes>buf).decode()


def ports():
    """``{port_id: name}`` of every valid port."""
    _eal.require()
    cdef int i
    return {i: port_name(i) for i in range(RTE_MAX_ETHPORTS) if rte_eth_dev_is_valid_port(i)}


def port_by_name(str name):
    """Port id of an ethdev name (``net_pcap0``, ``net_af_xdp0``, ``0000:3b:00.0``)."""
    _eal.require()
    cdef uint16_t pid = 0
    cdef int rc = rte_eth_dev_get_port_by_name(name.encode(), &pid)
    if rc < 0:
        known = ports()
        detail = f"no port named {name!r}; ports: {known or 'none'}"
        msg = _eal._eal_message(_eal.init_output())
        if "probe" in msg or "failed" in msg:
            detail += f"; EAL said: {msg}"
        raise PortError(PORT_E_NO_PORT, detail, -rc)
    return pid


def resolve_port(port):
    """Port id from an id (int or digits) or an ethdev name."""
    _eal.require()
    if isinstance(port, str) and not port.isdigit():
        return port_by_name(port)
    pid = int(port)
    if not rte_eth_dev_is_valid_port(pid):
        raise PortError(PORT_E_NO_PORT, f"no port with id {pid}; ports: {ports() or 'none'}", 19)
    return pid


def port_info(int port_id):
    """Driver, kernel ifindex, queue and descriptor limits, MTU range of a port."""
    _eal.require()
    cdef rte_eth_dev_info di
    memset(&di, 0, sizeof(di))
    _check(rte_eth_dev_info_get(port_id, &di), PORT_E_CALL, f"rte_eth_dev_info_get({port_id})")
    return {
        "port_id": port_id, "name": port_name(port_id),
        "driver": (<bytes>di.driver_name).decode() if di.driver_name != NULL else "",
        "if_index": di.if_index, "socket": rte_eth_dev_socket_id(port_id),
        "max_rx_queues": di.max_rx_queues, "max_tx_queues": di.max_tx_queues,
        "rx_desc_min": di.rx_desc_lim.nb_min, "rx_desc_max": di.rx_desc_lim.nb_max,
        "min_rx_bufsize": di.min_rx_bufsize, "max_rx_pktlen": di.max_rx_pktlen,
        "min_mtu": di.min_mtu, "max_mtu": di.max_mtu,
        "rx_offload_capa": di.rx_offload_capa, "rss_offloads": di.flow_type_rss_offloads,
        "nb_rx_queues": di.nb_rx_queues,
    }


# -------------------------------------------------------------- mempool ----
cdef class Mempool:
    """A pool of packet mbufs (``rte_pktmbuf_pool_create``).

    Parameters
    ----------
    name : unique pool name (DPDK pools are global, by name).
    n : mbufs; best 2^q - 1 (ring-based pools). Must cover every Rx descriptor of the queues that
        use it plus the bursts in flight plus per-lcore caches; net_af_xdp needs 16383 (its UMEM).
    cache_size : per-lcore cache (<= 512 and <= n / 1.5).
    data_room : bytes per mbuf including the 128-byte headroom (2048 + 128 holds a 1518-byte frame).
    socket : NUMA socket (-1: any).
    """

    def __cinit__(self, str name, unsigned n=16383, unsigned cache_size=256,
                  unsigned data_room=2048 + RTE_PKTMBUF_HEADROOM, int socket=SOCKET_ID_ANY):
        _eal.require()
        self.name = name
        self.n = n
        self.cache_size = min(cache_size, 512, n * 2 // 3)
        self.data_room = data_room
        self.ptr = rte_pktmbuf_pool_create(name.encode(), n, self.cache_size, 0, data_room, socket)
        if self.ptr == NULL:
            err = tw_rte_errno()
            raise PortError(PORT_E_MEMPOOL,
                            f"rte_pktmbuf_pool_create({name!r}, n={n}, cache={self.cache_size}, "
                            f"data_room={data_room}) -> {strerror(err)}", err)

    def avail(self):
        """Free mbufs in the pool."""
        return rte_mempool_avail_count(self.ptr) if self.ptr != NULL else 0

    def in_use(self):
        """Mbufs taken (by Rx rings, bursts in flight, caches)."""
        return rte_mempool_in_use_count(self.ptr) if self.ptr != NULL else 0

    cpdef void free(self):
        """Give the pool's memory back; only after every port using it is closed."""
        if self.ptr != NULL:
            rte_mempool_free(self.ptr)
            self.ptr = NULL


# ----------------------------------------------------------------- port ----
cdef class Port:
    """One ethdev port: configure N Rx queues (RSS when N > 1), one pool, start/stop/close, stats.

    Use ``Port.open(...)`` for the usual sequence, or ``Port(port)`` then ``configure`` and ``start``.
    """

    def __cinit__(self, port):
        self.port_id = resolve_port(port)
        self.name = port_name(self.port_id)

    @classmethod
    def open(cls, port, *, rx_queues=1, rx_desc=1024, mbufs=16383, mempool_cache=256,
             data_room=2048 + RTE_PKTMBUF_HEADROOM, promiscuous=True, pool_name=None, busy_retry_s=3.0):
        """Resolve, configure (pool + queues), optionally enable promiscuous mode, start."""
        cdef Port p = cls(port)
        p.configure(rx_queues=rx_queues, rx_desc=rx_desc, mbufs=mbufs, mempool_cache=mempool_cache,
                    data_room=data_room, pool_name=pool_name, busy_retry_s=busy_retry_s)
        p.start()
        if promiscuous:
            p.set_promiscuous(True)
        return p

    def configure(self, *, rx_queues=1, rx_desc=1024, mbufs=16383, mempool_cache=256,
                  data_room=2048 + RTE_PKTMBUF_HEADROOM, pool_name=None, Mempool pool=None,
                  double busy_retry_s=3.0):
        """Create the mbuf pool (unless ``pool`` is given) and set up ``rx_queues`` Rx queues
        (RSS over IP/UDP when more than one) and as many Tx queues (some PMDs want them paired)."""
        if self.closed:
            raise PortError(PORT_E_STATE, f"port {self.name} is closed")
        if self.started:
            raise PortError(PORT_E_STATE, f"port {self.name} is started; stop it before configure")
        cdef rte_eth_dev_info di
        memset(&di, 0, sizeof(di))
        _check(rte_eth_dev_info_get(self.port_id, &di), PORT_E_CALL, f"rte_eth_dev_info_get({self.name})")
        if rx_queues < 1 or rx_queues > di.max_rx_queues:
            raise PortError(PORT_E_CONFIGURE, f"{self.name}: rx_queues={rx_queues}, the port has 1..{di.max_rx_queues}", 22)
        cdef uint16_t nq = rx_queues
        cdef uint16_t ntx = min(nq, max(di.max_tx_queues, 1))
        cdef rte_eth_conf conf
        memset(&conf, 0, sizeof(conf))
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE
        if nq > 1:
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS
            conf.rx_adv_conf.rss_conf.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & di.flow_type_rss_offloads
        _check(rte_eth_dev_configure(self.port_id, nq, ntx, &conf), PORT_E_CONFIGURE,
               f"rte_eth_dev_configure({self.name}, rx={nq}, tx={ntx})")
        cdef uint16_t nrx = rx_desc, ntxd = 512
        _check(rte_eth_dev_adjust_nb_rx_tx_desc(self.port_id, &nrx, &ntxd), PORT_E_CONFIGURE,
               f"rte_eth_dev_adjust_nb_rx_tx_desc({self.name})")
        cdef int sock = rte_eth_dev_socket_id(self.port_id)
        if sock < 0:
            sock = <int>rte_socket_id()
        if pool is None:
            pool = Mempool(pool_name or f"tw_rx_{self.port_id}", mbufs, mempool_cache, data_room, sock)
        self.pool = pool
        cdef uint16_t q
        cdef int rc
        for q in range(nq):
            # net_af_xdp binds its socket here; right after another socket on the same queue closed,
            # the kernel answers EBUSY for a second or two: retry until busy_retry_s.
            deadline = time.monotonic() + busy_retry_s
            while True:
                rc = rte_eth_rx_queue_setup(self.port_id, q, nrx, sock, NULL, pool.ptr)
                if rc != -EBUSY or time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
            _check(rc, PORT_E_QUEUE,
                   f"rte_eth_rx_queue_setup({self.name}, queue={q}, desc={nrx}, pool={pool.name} of {pool.n})")
        for q in range(ntx):
            _check(rte_eth_tx_queue_setup(self.port_id, q, ntxd, sock, NULL), PORT_E_QUEUE,
                   f"rte_eth_tx_queue_setup({self.name}, queue={q})")
        self.rx_queues = nq
        self.tx_queues = ntx
        self.rx_desc = nrx
        self.configured = True
        return self

    def start(self):
        """``rte_eth_dev_start``; the port receives from now on."""
        if not self.configured or self.closed:
            raise PortError(PORT_E_STATE, f"port {self.name}: configure before start")
        if not self.started:
            _check(rte_eth_dev_start(self.port_id), PORT_E_START, f"rte_eth_dev_start({self.name})")
            self.started = True
            _eal.on_cleanup(self.close)
        return self

    def stop(self):
        """``rte_eth_dev_stop`` (idempotent)."""
        if self.started and not self.closed:
            self.started = False
            _check(rte_eth_dev_stop(self.port_id), PORT_E_CALL, f"rte_eth_dev_stop({self.name})")

    def close(self):
        """Stop, ``rte_eth_dev_close`` and free the pool (idempotent). The port id is gone afterwards."""
        if self.closed:
            return
        self.stop()
        self.closed = True
        if self.configured:
            rte_eth_dev_close(self.port_id)
        if self.pool is not None:
            self.pool.free()

    # -------------------------------------------------------------- stats ----
    def stats(self):
        """Port counters: ipackets, ibytes, imissed (dropped: no free Rx descriptor), ierrors,
        rx_nombuf (no mbuf for a descriptor), opackets, obytes, oerrors."""
        if self.closed:
            raise PortError(PORT_E_STATE, f"port {self.name} is closed")
        cdef rte_eth_stats st
        memset(&st, 0, sizeof(st))
        _check(rte_eth_stats_get(self.port_id, &st), PORT_E_CALL, f"rte_eth_stats_get({self.name})")
        return {"ipackets": st.ipackets, "ibytes": st.ibytes, "imissed": st.imissed, "ierrors": st.ierrors,
                "rx_nombuf": st.rx_nombuf, "opackets": st.opackets, "obytes": st.obytes, "oerrors": st.oerrors}

    # ---------------------------------------------------------- settings ----
    def set_promiscuous(self, bint on):
        """Promiscuous mode on/off. Drivers without it (net_pcap, net_null) return ENOTSUP: ignored."""
        cdef int rc = rte_eth_promiscuous_enable(self.port_id) if on else rte_eth_promiscuous_disable(self.port_id)
        if rc < 0 and rc != -95:         # -ENOTSUP
            _check(rc, PORT_E_CALL, f"promiscuous {'on' if on else 'off'} ({self.name})")
        return rc == 0

    @property
    def promiscuous(self):
        """1 on, 0 off, -1 unknown."""
        return rte_eth_promiscuous_get(self.port_id)

    def enable_allmulticast(self):
        """Receive every multicast group (feeds are multicast; NICs filter by MAC otherwise)."""
        cdef int rc = rte_eth_allmulticast_enable(self.port_id)
        return rc == 0

    @property
    def mac(self):
        """The port's MAC address as ``aa:bb:cc:dd:ee:ff``."""
        cdef rte_ether_addr a
        _check(rte_eth_macaddr_get(self.port_id, &a), PORT_E_CALL, f"rte_eth_macaddr_get({self.name})")
        return ":".join(f"{a.addr_bytes[i]:02x}" for i in range(6))

    def link(self):
        """``{"up", "speed_mbps", "full_duplex", "autoneg"}`` without waiting."""
        cdef rte_eth_link l
        memset(&l, 0, sizeof(l))
        _check(rte_eth_link_get_nowait(self.port_id, &l), PORT_E_CALL, f"rte_eth_link_get_nowait({self.name})")
        return {"up": bool(l.link_status), "speed_mbps": l.link_speed,
                "full_duplex": bool(l.link_duplex), "autoneg": bool(l.link_autoneg)}

    def info(self):
        return port_info(self.port_id)

    def pool_counts(self):
        """``(avail, in_use)`` of the port's pool."""
        return (self.pool.avail(), self.pool.in_use()) if self.pool is not None else (0, 0)

    def __repr__(self):
        state = "closed" if self.closed else "started" if self.started else "configured" if self.configured else "new"
        return f"<Port {self.port_id} {self.name} {state} rxq={self.rx_queues} desc={self.rx_desc}>"
