"""Open/configuration errors of the kernel-path sources (UDP, AF_PACKET, AF_XDP, verbs).

The receive loops return ``SRC_E_*`` codes (``datapath/batch.pxd``) and never raise; opening a
source is the Python layer, which raises :class:`SourceError` with a code from the table below,
its NAME, a message specific to the occurrence and the ``errno`` the kernel gave (0 if none).
Range: -6xx.
"""
from __future__ import annotations

import errno as _errno
import os

KSRC_E_NO_INTERFACE = -601
KSRC_E_SOCKET = -602
KSRC_E_BIND = -603
KSRC_E_JOIN = -604
KSRC_E_SOCKOPT = -605
KSRC_E_RING = -606
KSRC_E_FANOUT = -607
KSRC_E_FILTER = -608
KSRC_E_BAD_OPTION = -609
KSRC_E_XDP_PROGRAM = -610
KSRC_E_XSK_BUSY = -611
KSRC_E_XSK = -612
KSRC_E_UMEM = -613
KSRC_E_CLOSED = -615

#: code -> (NAME, message)
CODES: dict[int, tuple[str, str]] = {
    KSRC_E_NO_INTERFACE: ("KSRC_E_NO_INTERFACE", "no such network interface in this network namespace"),
    KSRC_E_SOCKET: ("KSRC_E_SOCKET", "socket() failed (AF_PACKET and AF_XDP need CAP_NET_RAW / root)"),
    KSRC_E_BIND: ("KSRC_E_BIND", "bind() failed"),
    KSRC_E_JOIN: ("KSRC_E_JOIN", "multicast join (IP_ADD_MEMBERSHIP) failed"),
    KSRC_E_SOCKOPT: ("KSRC_E_SOCKOPT", "setsockopt() failed"),
    KSRC_E_RING: ("KSRC_E_RING", "could not set up the TPACKET_V3 receive ring (PACKET_RX_RING / mmap)"),
    KSRC_E_FANOUT: ("KSRC_E_FANOUT", "PACKET_FANOUT failed (group in use with another mode, or bad mode)"),
    KSRC_E_FILTER: ("KSRC_E_FILTER", "could not attach the classic BPF filter"),
    KSRC_E_BAD_OPTION: ("KSRC_E_BAD_OPTION", "invalid source option"),
    KSRC_E_XDP_PROGRAM: ("KSRC_E_XDP_PROGRAM", "could not build, load or attach the XDP program"),
    KSRC_E_XSK_BUSY: ("KSRC_E_XSK_BUSY", "the interface queue still has an AF_XDP socket bound (EBUSY past the retry deadline)"),
    KSRC_E_XSK: ("KSRC_E_XSK", "xsk_socket__create failed"),
    KSRC_E_UMEM: ("KSRC_E_UMEM", "could not create the AF_XDP UMEM"),
    KSRC_E_CLOSED: ("KSRC_E_CLOSED", "the source is closed"),
}


def code_name(code: int) -> str:
    """NAME of a code (``"UNKNOWN(-999)"`` for a code not in the table)."""
    return CODES.get(code, (f"UNKNOWN({code})", ""))[0]


def code_message(code: int) -> str:
    """Default message of a code."""
    return CODES.get(code, ("", f"unknown result code {code}"))[1]


class SourceError(OSError):
    """A kernel-path source could not be opened or configured.

    Attributes
    ----------
    code : int      negative KSRC_E_* code
    name : str      its NAME, e.g. ``"KSRC_E_NO_INTERFACE"``
    message : str   what went wrong here (interface, option, call)
    errno : int     the kernel's errno (0 when the error is not a system call's)
    """

    def __init__(self, code: int, message: str = "", err: int = 0):
        self.code = code
        self.name = code_name(code)
        self.message = message or code_message(code)
        text = f"{self.name} ({code}): {self.message}"
        if err:
            text += f": [{_errno.errorcode.get(err, err)}] {os.strerror(err)}"
        super().__init__(err or None, text)
        self.errno = err

    def __str__(self) -> str:
        return self.args[1] if len(self.args) > 1 else self.args[0]
