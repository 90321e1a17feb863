"""ibverbs raw packet QP source through ``pyverbs`` (rdma-core's Python bindings).

A NIC with raw packet QP support (NVIDIA/Mellanox ConnectX-4 and later, via mlx5) can deliver
Ethernet frames straight into registered user memory, steered by a flow rule in the NIC
(``ibv_create_flow``: destination MAC/IP/UDP port), bypassing the kernel stack entirely, as
DPDK's mlx5 PMD and libvma do. This module sets that up:

    device -> protection domain -> completion queue -> RAW_PACKET QP (INIT -> RTR)
    -> memory region of ``depth`` x ``buf_size`` receive buffers posted to the QP
    -> flow rule (Ethernet [dst MAC], IPv4 [dst group], UDP [dst port]) steering the feed to the QP.

``recv()`` polls the CQ for a burst, parses Ethernet/IPv4/UDP and re-posts the buffers.

Availability: ``open_source`` first looks for RDMA devices in /sys/class/infiniband; without one it
raises :class:`datapath.registry.SourceUnavailable` naming what is missing. pyverbs is imported only
then (``pip install pyverbs`` builds rdma-core: cmake, libibverbs-dev, libnl-3-dev, libnl-route-3-dev).

Limits: this path is Python-level (pyverbs objects per completion, one copy out of the MR), so it is
a bring-up/diagnostic source, not the hot path. It is NOT a ``datapath.batch.PacketSource``: it has no
C ``rx_burst`` / ``rx_release``, so no feed handler (``MoldSession``, ``tickwire listen``) can run on it;
it shares only the Python surface (``open_source``, ``recv``, ``counters``, ``close``, context manager).
A production verbs source would be a Cython PacketSource against libibverbs/mlx5dv (striding RQ, CQE
compression) with frames pointing into the MR, like the AF_XDP source.
"""
from __future__ import annotations

import ipaddress
import os
import struct
from pathlib import Path

from datapath.registry import SourceUnavailable
from datapath.source_codes import KSRC_E_BAD_OPTION, KSRC_E_CLOSED, SourceError

SYS_IB = Path("/sys/class/infiniband")
NO_DEVICE = ("no RDMA device: ibverbs needs a NIC with raw packet QP support, e.g. ConnectX; "
             "found none in /sys/class/infiniband")


def rdma_devices(sys_ib: Path = SYS_IB) -> list[str]:
    """Names of the RDMA devices the kernel exposes (``mlx5_0``, ...); [] when none."""
    try:
        return sorted(p.name for p in sys_ib.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def device_netdev(device: str, port: int = 1, sys_ib: Path = SYS_IB) -> str | None:
    """The Ethernet interface behind an RDMA device port (``/sys/class/infiniband/DEV/device/net``)."""
    net = sys_ib / device / "device" / "net"
    try:
        names = sorted(p.name for p in net.iterdir())
    except OSError:
        return None
    return names[port - 1] if 0 < port <= len(names) else (names[0] if names else None)


def _pyverbs():
    try:
        import pyverbs.enums as e
        from pyverbs.cq import CQ
        from pyverbs.device import Context
        from pyverbs.flow import Flow, FlowAttr
        from pyverbs.mr import MR
        from pyverbs.pd import PD
        from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
        from pyverbs.spec import EthSpec, Ipv4ExtSpec, TcpUdpSpec
        from pyverbs.wr import SGE, RecvWR
    except ImportError as ex:
        raise SourceUnavailable(
            f"pyverbs is not installed ({ex}): pip install pyverbs (builds rdma-core; needs cmake, "
            "libibverbs-dev, libnl-3-dev, libnl-route-3-dev) or use Debian's python3-pyverbs") from ex
    return dict(e=e, CQ=CQ, Context=Context, Flow=Flow, FlowAttr=FlowAttr, MR=MR, PD=PD, QP=QP,
                QPAttr=QPAttr, QPCap=QPCap, QPInitAttr=QPInitAttr, EthSpec=EthSpec,
                Ipv4ExtSpec=Ipv4ExtSpec, TcpUdpSpec=TcpUdpSpec, SGE=SGE, RecvWR=RecvWR)


class VerbsSource:
    """Raw packet QP receiving the feed's UDP packets (see module docstring).

    Parameters
    ----------
    port : int           UDP destination port to steer (required).
    group : str          destination IPv4 (multicast group) to steer; None = any.
    interface : str      Ethernet interface of the NIC (``enp1s0f0np0``): picks the RDMA device behind it.
    device : str         RDMA device (``mlx5_0``); default the one behind ``interface``, else the first.
    ib_port : int        device port number (1-based).
    dst_mac : str        destination MAC to match (for multicast: 01:00:5e + low 23 bits of the group,
                         derived automatically when ``group`` is multicast); None = any.
    depth : int          receive buffers posted (and CQ size).
    buf_size : int       bytes per receive buffer (>= MTU + 18).
    """

    def __init__(self, port: int, group: str | None = None, interface: str | None = None,
                 device: str | None = None, ib_port: int = 1, dst_mac: str | None = None, depth: int = 512,
                 buf_size: int = 2048, busy_poll: bool = False, timeout_ms: int = 0):
        if not 0 < port < 65536:
            raise SourceError(KSRC_E_BAD_OPTION, f"port {port} out of range 1..65535")
        devices = rdma_devices()
        if not devices:
            raise SourceUnavailable(NO_DEVICE)
        if device is not None and device not in devices:
            raise SourceUnavailable(f"no RDMA device {device!r}; found {', '.join(devices)} in {SYS_IB}")
        if device is None and interface is not None:
            device = next((d for d in devices if device_netdev(d, ib_port) == interface), None)
            if device is None:
                raise SourceUnavailable(f"interface {interface!r} is not an RDMA-capable NIC port "
                                        f"(devices: {', '.join(f'{d}->{device_netdev(d, ib_port)}' for d in devices)})")
        pv = _pyverbs()
        e = pv["e"]
        self.device = device or devices[0]
        self.port, self.group, self.depth, self.buf_size = port, group, depth, buf_size
        self.rx_packets = self.rx_bytes = self.dropped_filter = self.dropped_bad = self.kernel_drops = 0
        self.want_ip = int(ipaddress.IPv4Address(group)) if group else 0
        if group and dst_mac is None and ipaddress.IPv4Address(group).is_multicast:
            low = self.want_ip & 0x7FFFFF
            dst_mac = "01:00:5e:%02x:%02x:%02x" % (low >> 16, (low >> 8) & 0xFF, low & 0xFF)
        self._pv = pv
        self.ctx = pv["Context"](name=self.device)
        self.pd = pv["PD"](self.ctx)
        self.cq = pv["CQ"](self.ctx, depth)
        cap = pv["QPCap"](max_send_wr=1, max_recv_wr=depth, max_send_sge=1, max_recv_sge=1)
        init = pv["QPInitAttr"](qp_type=e.IBV_QPT_RAW_PACKET, scq=self.cq, rcq=self.cq, cap=cap)
        self.qp = pv["QP"](self.pd, init)                       # CAP_NET_RAW needed for RAW_PACKET
        attr = pv["QPAttr"](qp_state=e.IBV_QPS_INIT, port_num=ib_port)
        self.qp.modify(attr, e.IBV_QP_STATE | e.IBV_QP_PORT)
        attr = pv["QPAttr"](qp_state=e.IBV_QPS_RTR)
        self.qp.modify(attr, e.IBV_QP_STATE)
        self.mr = pv["MR"](self.pd, depth * buf_size, e.IBV_ACCESS_LOCAL_WRITE)
        for i in range(depth):
            self._post(i)
        specs = [pv["EthSpec"](dst_mac=dst_mac, ether_type=0x0800),
                 pv["Ipv4ExtSpec"](dst_ip=group, proto=17) if group else pv["Ipv4ExtSpec"](proto=17),
                 pv["TcpUdpSpec"](e.IBV_FLOW_SPEC_UDP, dst_port=port)]
        fattr = pv["FlowAttr"](num_of_specs=len(specs), port=ib_port)
        fattr.specs.extend(specs)
        self.flow = pv["Flow"](self.qp, fattr)
        self._open = True

    @classmethod
    def open_source(cls, **options) -> "VerbsSource":
        """Registry factory; raises SourceUnavailable when there is no RDMA device or no pyverbs."""
        return cls(**options)

    def _post(self, i: int) -> None:
        pv = self._pv
        sge = pv["SGE"](self.mr.buf + i * self.buf_size, self.buf_size, self.mr.lkey)
        self.qp.post_recv(pv["RecvWR"](wr_id=i, num_sge=1, sg=[sge]))

    def recv(self, max_frames: int = 32) -> list[tuple[bytes, int, int]]:
        """One burst as ``[(payload, src_ip, rx_ns), ...]`` (rx_ns: host CLOCK_REALTIME at the poll)."""
        if not self._open:
            raise SourceError(KSRC_E_CLOSED)
        e = self._pv["e"]
        n, wcs = self.cq.poll(num_entries=max_frames)
        now = __import__("time").time_ns()
        out = []
        for wc in wcs[:max(n, 0)]:
            i = wc.wr_id
            if wc.status != e.IBV_WC_SUCCESS:
                self.dropped_bad += 1
            else:
                frame = self.mr.read(wc.byte_len, i * self.buf_size)
                got = parse_udp(frame, self.want_ip, self.port)
                if isinstance(got, tuple):
                    out.append((got[0], got[1], now))
                    self.rx_bytes += len(got[0])
                elif got == "filter":
                    self.dropped_filter += 1
                else:
                    self.dropped_bad += 1
            self._post(i)
        self.rx_packets += len(out)
        return out

    def counters(self) -> dict:
        return {"rx_packets": self.rx_packets, "rx_bytes": self.rx_bytes, "dropped_filter": self.dropped_filter,
                "dropped_bad": self.dropped_bad, "kernel_drops": self.kernel_drops}

    def close(self) -> None:
        if getattr(self, "_open", False):
            for obj in ("flow", "qp", "mr", "cq", "pd", "ctx"):
                o = getattr(self, obj, None)
                if o is not None:
                    o.close()
            self._open = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_udp(frame: bytes, want_ip: int, want_port: int):
    """Ethernet(/VLAN)/IPv4/UDP -> (payload, src_ip) | "filter" | "bad" (the Python twin of packet.pxd)."""
    off = 12
    if len(frame) < 14:
        return "bad"
    et = struct.unpack_from("!H", frame, off)[0]
    while et in (0x8100, 0x88A8):
        off += 4
        if len(frame) < off + 2:
            return "bad"
        et = struct.unpack_from("!H", frame, off)[0]
    if et != 0x0800:
        return "filter"
    ip = off + 2
    if len(frame) < ip + 20 or frame[ip] >> 4 != 4:
        return "bad"
    ihl = (frame[ip] & 0xF) * 4
    total, frag, proto = struct.unpack_from("!H", frame, ip + 2)[0], struct.unpack_from("!H", frame, ip + 6)[0], frame[ip + 9]
    if ihl < 20 or total < ihl + 8 or ip + total > len(frame) or frag & 0x3FFF:
        return "bad"
    if proto != 17:
        return "filter"
    src, dst = struct.unpack_from("!II", frame, ip + 12)
    dport, ulen = struct.unpack_from("!HH", frame, ip + ihl + 2)
    if ulen < 8 or ulen > total - ihl:
        return "bad"
    if (want_ip and dst != want_ip) or (want_port and dport != want_port):
        return "filter"
    return frame[ip + ihl + 8: ip + ihl + ulen], src


open_source = VerbsSource.open_source
