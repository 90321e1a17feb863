# cython: language_level=3
"""DPDK poll-mode packet source (``tickwire listen --source dpdk``).

Receive path (per ``rx_burst``): one ``rte_eth_rx_burst`` of up to 32 mbufs; for each mbuf,
prefetch the next one's data, parse Ethernet/VLAN/IPv4/UDP in place, filter on the wanted
group/port, and hand out a Frame pointing into the mbuf. Every mbuf of the burst (accepted or
not) is freed in one ``rte_pktmbuf_free_bulk`` at ``rx_release`` or the next ``rx_burst``. No
Python object, no allocation, no system call on this path (the receive time comes from the TSC).

Drops are counted, never fatal: ``dropped_filter`` (not IPv4/UDP, or not the wanted group/port),
``dropped_bad`` (malformed headers, fragments, frames larger than one mbuf) and per reason in
``counters()["drop_reasons"]``; ``kernel_drops`` is the port's ``imissed`` (the NIC had no free Rx
descriptor: the poller was too slow), refreshed by ``counters()``.

Stopping: ``install_signal_handlers()`` sets a C flag on SIGINT/SIGTERM (DPDK l2fwd's
``force_quit``) that ``poll`` checks between bursts; ``request_stop()`` sets it from another thread.
"""
import os
import time

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memset
from cpython.bytes cimport PyBytes_FromStringAndSize
from posix.time cimport clock_gettime, timespec, CLOCK_REALTIME

from datapath.batch cimport Frame, PacketSource, BURST_SIZE, SRC_OK, SRC_E_CLOSED
from datapath.packet cimport (
    UdpView, udp_parse_ether, udp_accept, PKT_OK, PKT_E_FILTERED, PKT_E_NOT_IPV4, PKT_E_NOT_UDP,
    PKT_E_SHORT, PKT_E_FRAGMENT, PKT_E_BAD_IP, PKT_E_BAD_UDP,
)
from datapath.source_util cimport drain, DrainStats
from core.compiler cimport tw_unlikely, tw_likely, TW_DEBUG
from dpdk_bindings.rte cimport (
    rte_mbuf, rte_eth_rx_burst, rte_pktmbuf_free_bulk, rte_prefetch0, tw_mbuf_data, rte_rdtsc,
    rte_get_tsc_hz,
)
from dpdk_bindings.ethdev cimport Port
from dpdk_bindings import eal as _eal
from dpdk_bindings import ethdev as _ethdev

cdef extern from *:
    """
    #include <signal.h>
    #include <string.h>
    /* Set by SIGINT/SIGTERM (DPDK l2fwd's force_quit); the poll loop checks it between bursts. */
    static volatile int tw_dpdk_force_quit = 0;
    static struct sigaction tw_old_int, tw_old_term;
    static int tw_quit_installed = 0;
    static void tw_quit_handler(int sig) { (void)sig; tw_dpdk_force_quit = 1; }
    static int tw_install_quit(void) {
        struct sigaction sa;
        if (tw_quit_installed) return 0;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = tw_quit_handler;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGINT, &sa, &tw_old_int) != 0) return -1;
        if (sigaction(SIGTERM, &sa, &tw_old_term) != 0) { sigaction(SIGINT, &tw_old_int, NULL); return -1; }
        tw_quit_installed = 1;
        return 0;
    }
    static void tw_restore_quit(void) {
        if (!tw_quit_installed) return;
        sigaction(SIGINT, &tw_old_int, NULL);
        sigaction(SIGTERM, &tw_old_term, NULL);
        tw_quit_installed = 0;
    }
    """
    volatile int tw_dpdk_force_quit
    int tw_install_quit() noexcept nogil
    void tw_restore_quit() noexcept nogil

# Drop reasons by PKT_E_SHORT + 1 - PKT_E_* (index 0 unused).
REASONS = ("", "short", "not_ipv4", "not_udp", "fragment", "bad_ip", "bad_udp", "filtered")


cdef inline uint64_t _realtime_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <uint64_t>ts.tv_sec * 1000000000 + <uint64_t>ts.tv_nsec


cdef class DpdkSource(PacketSource):
    """Receive MoldUDP64/UDP payloads from one Rx queue of a started DPDK port.

    Parameters
    ----------
    port : a started :class:`dpdk_bindings.ethdev.Port`.
    queue : Rx queue of that port this source polls (one source per queue, one thread each).
    group : wanted destination IPv4 address (dotted string or host-order int); None/0 = any.
    dst_port : wanted destination UDP port; 0 = any.
    clock : ``"tsc"`` (TSC scaled to CLOCK_REALTIME, re-anchored every second) or ``"realtime"``
        (one ``clock_gettime`` per burst).
    owns_port : ``close()`` also closes the port.
    """

    def __cinit__(self, Port port, int queue=0, group=None, int dst_port=0, str clock="tsc",
                  bint owns_port=False):
        if port is None or not port.started:
            raise _ethdev.PortError(_ethdev.PORT_E_STATE, "DpdkSource needs a started port")
        if queue < 0 or queue >= port.rx_queues:
            raise _ethdev.PortError(_ethdev.PORT_E_QUEUE, f"queue {queue}: port {port.name} has {port.rx_queues} Rx queue(s)", 22)
        if clock not in ("tsc", "realtime"):
            raise ValueError(f"clock must be 'tsc' or 'realtime', not {clock!r}")
        self.port = port
        self.port_id = port.port_id
        self.queue = queue
        self.group = _ipv4(group)
        self.dst_port = dst_port
        self.owns_port = owns_port
        self.pending = 0
        memset(self.reasons, 0, sizeof(self.reasons))
        cdef uint64_t hz = rte_get_tsc_hz()
        self.clock.realtime = clock == "realtime" or hz == 0
        if hz:
            self.clock.mult = ((<uint64_t>1000000000) << 32) // hz
            self.clock.reanchor = hz
        self._anchor()
        self.open_ = True

    cdef void _anchor(self) noexcept nogil:
        self.clock.base_tsc = rte_rdtsc()
        self.clock.base_ns = _realtime_ns()

    cdef uint64_t now_ns(self) noexcept nogil:
        cdef uint64_t d
        if self.clock.realtime:
            return _realtime_ns()
        d = rte_rdtsc() - self.clock.base_tsc
        if tw_unlikely(d >= self.clock.reanchor):
            self._anchor()
            return self.clock.base_ns
        return self.clock.base_ns + ((d * self.clock.mult) >> 32)

    # --------------------------------------------------------------- burst ----
    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil:
        cdef uint16_t nb, i, want
        cdef int k = 0, rc
        cdef rte_mbuf *m
        cdef const uint8_t *data
        cdef UdpView v
        cdef uint64_t now, nbytes = 0
        if self.pending:
            self.rx_release()
        if tw_unlikely(not self.open_):
            return SRC_E_CLOSED
        want = <uint16_t>(max_frames if max_frames < BURST_SIZE else BURST_SIZE)
        nb = rte_eth_rx_burst(self.port_id, self.queue, self.mbufs, want)
        if nb == 0:
            self.empty_polls += 1
            return 0
        self.bursts += 1
        self.rx_frames += nb
        self.pending = nb
        now = self.now_ns()
        rte_prefetch0(tw_mbuf_data(self.mbufs[0]))
        for i in range(nb):
            m = self.mbufs[i]
            if i + 1 < nb:
                rte_prefetch0(tw_mbuf_data(self.mbufs[i + 1]))
            data = tw_mbuf_data(m)
            # Parse the first segment only: a frame spanning segments fails the IPv4 length check.
            rc = udp_parse_ether(data, m.data_len, &v)
            if tw_likely(rc == PKT_OK):
                rc = udp_accept(&v, self.group, self.dst_port)
            if tw_likely(rc == PKT_OK):
                if TW_DEBUG:
                    # The payload lies inside this mbuf's first segment; the PMD gave what we asked.
                    if (v.payload < data or v.payload + v.length > data + m.data_len or nb > want
                            or m.data_len > m.pkt_len):
                        self.debug_violations += 1
                frames[k].data = v.payload
                frames[k].length = v.length
                frames[k].src_ip = v.src_ip
                frames[k].rx_ns = now
                nbytes += v.length
                k += 1
            else:
                self.reasons[PKT_E_SHORT + 1 - rc] += 1
                if rc == PKT_E_FILTERED or rc == PKT_E_NOT_IPV4 or rc == PKT_E_NOT_UDP:
                    self.dropped_filter += 1
                else:
                    self.dropped_bad += 1
                    if m.nb_segs > 1:
                        self.segmented += 1
        self.rx_packets += k
        self.rx_bytes += nbytes
        if k == 0:
            self.rx_release()
        return k

    cdef void rx_release(self) noexcept nogil:
        if self.pending:
            rte_pktmbuf_free_bulk(self.mbufs, self.pending)
            self.pending = 0

    # -------------------------------------------------------------- python ----
    def rx_error(self, int code):
        """The exception ``recv`` raises: PortError(PORT_E_STATE) (the only failure is a closed source)."""
        return _ethdev.PortError(_ethdev.PORT_E_STATE, f"rx_burst -> {code} (source closed)")

    @classmethod
    def open_source(cls, dpdk_args=None, port=0, group=None, dst_port=0, mbufs=16383, *, queue=0, rx_queues=1,
                    rx_desc=1024, mempool_cache=256, promiscuous=True, allmulticast=True, clock="tsc", **unknown):
        """Open a DPDK source for ``datapath.registry`` (``"dpdk"``): EAL init (once), port start, source.

        Parameters
        ----------
        dpdk_args : EAL arguments (list, shell-like string or config dict; see dpdk_bindings.eal).
            Ignored when the EAL is already up with the same arguments.
        port : ethdev name (``net_pcap0``, ``0000:3b:00.0``) or port id.
        group, dst_port : destination filter (multicast group / UDP port); None/0 = any.
        mbufs : mbufs in the port's pool (16383 suits every PMD, net_af_xdp included).
        queue, rx_queues : the queue this source polls, of ``rx_queues`` configured (RSS when > 1).
        rx_desc, mempool_cache : Rx ring size (adjusted to the driver's limits) and pool cache.
        promiscuous, allmulticast : port modes (ignored where the driver lacks them).
        clock : ``"tsc"`` or ``"realtime"`` receive timestamps.
        """
        if unknown:
            raise TypeError(f"unknown dpdk source option(s): {', '.join(sorted(unknown))}")
        if dpdk_args is not None or not _eal.is_initialized():
            _eal.init(dpdk_args)
        p = _ethdev.Port.open(port, rx_queues=rx_queues, rx_desc=rx_desc, mbufs=mbufs,
                              mempool_cache=mempool_cache, promiscuous=promiscuous)
        if allmulticast:
            p.enable_allmulticast()
        try:
            return cls(p, queue, group, dst_port, clock, True)
        except Exception:
            p.close()
            raise

    def counters(self):
        """Source counters plus the port's (imissed, ierrors, rx_nombuf) and drops by reason."""
        out = PacketSource.counters(self)
        if self.open_ and not self.port.closed:
            st = self.port.stats()
            self.kernel_drops = st["imissed"]
            out.update(kernel_drops=st["imissed"], imissed=st["imissed"], ierrors=st["ierrors"],
                       rx_nombuf=st["rx_nombuf"], port_ipackets=st["ipackets"])
        out.update(rx_frames=self.rx_frames, bursts=self.bursts, empty_polls=self.empty_polls,
                   segmented=self.segmented, debug_violations=self.debug_violations,
                   drop_reasons={REASONS[i]: self.reasons[i] for i in range(1, len(REASONS)) if self.reasons[i]})
        return out

    def close(self):
        """Free the pending burst; close the port when this source owns it (idempotent)."""
        if self.open_:
            self.rx_release()
            self.open_ = False
            if self.owns_port:
                self.port.close()

    def __repr__(self):
        return (f"<DpdkSource {self.port.name} q{self.queue} group={_fmt_ip(self.group)} port={self.dst_port} "
                f"{'open' if self.open_ else 'closed'}>")


# ----------------------------------------------------------------- helpers ----
def _ipv4(group):
    if group is None or group == 0 or group == "":
        return 0
    if isinstance(group, int):
        return group
    parts = [int(x) for x in str(group).split(".")]
    if len(parts) != 4 or any(p < 0 or p > 255 for p in parts):
        raise ValueError(f"not an IPv4 address: {group!r}")
    return (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]


def _fmt_ip(uint32_t a):
    return "any" if a == 0 else f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"


# -------------------------------------------------------------- stop flag ----
def install_signal_handlers():
    """SIGINT/SIGTERM set the stop flag (C handlers: they work while a loop runs without the GIL)."""
    if tw_install_quit() != 0:
        raise OSError("sigaction failed")


def restore_signal_handlers():
    """Put back the handlers ``install_signal_handlers`` replaced (Python's KeyboardInterrupt...)."""
    tw_restore_quit()


def request_stop():
    """Set the stop flag (from another thread or a signal handler)."""
    global tw_dpdk_force_quit
    tw_dpdk_force_quit = 1


def stop_requested():
    return bool(tw_dpdk_force_quit)


def clear_stop():
    global tw_dpdk_force_quit
    tw_dpdk_force_quit = 0


def pin_to_cpu(cpu):
    """Pin the calling thread to one CPU (``os.sched_setaffinity``); returns the previous set."""
    before = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {int(cpu)})
    return before


# -------------------------------------------------------------- poll loop ----
def poll(DpdkSource src, handler=None, *, cpu=None, uint64_t max_packets=0, double max_seconds=0.0,
         double idle_seconds=0.0, bint signals=True):
    """Busy-poll ``src`` until a packet count, a deadline, an idle period, a signal or ``request_stop``.

    Parameters
    ----------
    handler : None for the nogil loop (MoldUDP64 header walk: messages, sequence gaps; no GIL), or a
        Python callable ``handler(payload: bytes, src_ip: int, rx_ns: int)`` per frame (copies:
        tests and tools only).
    cpu : pin the polling thread to this CPU first (isolate it: see docs/dpdk.md).
    max_packets : stop after this many accepted frames (0: no limit).
    max_seconds : stop after this long (0: no limit).
    idle_seconds : stop when nothing arrived for this long after the first frame (finite sources).
    signals : install the SIGINT/SIGTERM stop-flag handlers for the duration.

    Returns
    -------
    dict : packets, bytes, messages, gaps, bad, bursts, empty_polls, seconds, stopped_by, counters.
    """
    cdef DrainStats st
    cdef Frame frames[BURST_SIZE]
    cdef int n, i, rc = 0
    cdef uint64_t max_ns = <uint64_t>(max_seconds * 1e9), idle_ns = <uint64_t>(idle_seconds * 1e9)
    cdef uint64_t t0, last = 0, now, got = 0
    memset(&st, 0, sizeof(st))
    before = pin_to_cpu(cpu)
    if signals:
        install_signal_handlers()
    clear_stop()
    start = time.monotonic()
    try:
        if handler is None:
            with nogil:
                rc = drain(src, max_packets, max_ns, idle_ns, &tw_dpdk_force_quit, &st)
        else:
            t0 = src.now_ns()
            while not tw_dpdk_force_quit:
                n = src.rx_burst(frames, BURST_SIZE)
                now = src.now_ns()
                if n > 0:
                    for i in range(n):
                        handler(PyBytes_FromStringAndSize(<const char *>frames[i].data, frames[i].length),
                                frames[i].src_ip, frames[i].rx_ns)
                        st.bytes += frames[i].length
                    src.rx_release()
                    st.packets += n
                    st.bursts += 1
                    got += n
                    last = now
                    if max_packets and got >= max_packets:
                        break
                elif n == 0:
                    st.empty_polls += 1
                    if idle_ns and last and now - last >= idle_ns:
                        break
                    if max_ns and now - t0 >= max_ns:
                        break
                else:
                    rc = n
                    break
                if max_ns and now - t0 >= max_ns:
                    break
    finally:
        stopped_by_signal = bool(tw_dpdk_force_quit)
        if signals:
            restore_signal_handlers()
        if cpu is not None:
            os.sched_setaffinity(0, before)
    seconds = time.monotonic() - start
    return {"packets": st.packets, "bytes": st.bytes, "messages": st.messages, "gaps": st.gaps,
            "bad": st.bad, "bursts": st.bursts, "empty_polls": st.empty_polls, "seconds": seconds,
            "code": rc, "stopped_by": "signal" if stopped_by_signal else "limit",
            "counters": src.counters()}


# ------------------------------------------------------------ registry ----
open_source = DpdkSource.open_source
