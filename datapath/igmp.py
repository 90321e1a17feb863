"""Multicast group membership for the raw sources (AF_PACKET, AF_XDP).

A raw source sees frames below the IP stack, so nothing joins the feed's group for it: on a real NIC the
hardware MAC filter drops the group's frames and the switch (IGMP snooping) never forwards them. An
``IgmpJoin`` holds a plain UDP socket that joins the group on the interface (the kernel sends the IGMP
reports, programs the NIC's multicast MAC filter and answers queries) for as long as the source lives.
The socket is bound to an ephemeral port, so the stack never queues the feed's datagrams on it.
"""
from __future__ import annotations

import ipaddress
import socket
import struct

from datapath.source_codes import KSRC_E_BAD_OPTION, KSRC_E_JOIN, KSRC_E_NO_INTERFACE, SourceError

IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)     # <linux/in.h>; not exported by Python


class IgmpJoin:
    """Membership of ``group`` (optionally from ``source`` only) on ``interface`` until ``close()``."""

    def __init__(self, interface: str, group: str, source: str | None = None):
        try:
            g = ipaddress.IPv4Address(group)
        except ValueError:
            raise SourceError(KSRC_E_BAD_OPTION, f"group {group!r} is not an IPv4 address") from None
        if not g.is_multicast:
            raise SourceError(KSRC_E_BAD_OPTION, f"group {group!r} is not an IPv4 multicast address")
        try:
            ifindex = socket.if_nametoindex(interface)
        except OSError as e:
            raise SourceError(KSRC_E_NO_INTERFACE, f"interface {interface!r} not found (IGMP join)", e.errno) from None
        self.interface, self.group, self.source = interface, group, source
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            self.sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            self.sock.bind(("0.0.0.0", 0))
            if source is None:
                mreqn = g.packed + b"\0\0\0\0" + struct.pack("@i", ifindex)
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
            else:
                # ip_mreq_source: multiaddr, interface (by address), sourceaddr
                addr = _interface_addr(self.sock, interface)
                mreq = g.packed + socket.inet_aton(addr) + socket.inet_aton(source)
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_SOURCE_MEMBERSHIP, mreq)
        except OSError as e:
            self.sock.close()
            raise SourceError(KSRC_E_JOIN, f"join {group} on {interface} (no multicast route? "
                              f"ip route add 224.0.0.0/4 dev {interface})", e.errno or 0) from None

    def close(self) -> None:
        """Leave the group (the kernel sends the IGMP leave)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __repr__(self) -> str:
        return f"IgmpJoin({self.interface!r}, {self.group!r}, source={self.source!r})"


def _interface_addr(sock: socket.socket, interface: str) -> str:
    import fcntl
    SIOCGIFADDR = 0x8915
    req = struct.pack("256s", interface.encode()[:15])
    return socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, req)[20:24])
