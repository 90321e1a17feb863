"""Open/configuration errors of the kernel-path sources (UDP, AF_PACKET, AF_XDP, verbs).

The receive loops return ``SRC_E_*`` codes (``datapath/batch.pxd``) and never raise; opening a
source is the Python layer, which raises :class:`SourceError` with a ``KSRC_E_*`` code, its NAME,
a message specific to the occurrence and the ``errno`` the kernel gave (0 if none). Values and
messages of every code: ``core/codes.pxd`` (area DATAPATH, -600..-699).
"""
from __future__ import annotations

import errno as _errno
import os

from core import codes as _codes
from core.codes import (KSRC_E_BAD_OPTION, KSRC_E_BIND, KSRC_E_CLOSED, KSRC_E_FANOUT, KSRC_E_FILTER,  # noqa: F401
                        KSRC_E_JOIN, KSRC_E_NO_INTERFACE, KSRC_E_RING, KSRC_E_SOCKET, KSRC_E_SOCKOPT,
                        KSRC_E_UMEM, KSRC_E_XDP_PROGRAM, KSRC_E_XSK, KSRC_E_XSK_BUSY, SRC_E_CLOSED, SRC_E_END,
                        SRC_E_IO, code_message, code_name)

#: code -> (NAME, message) of the KSRC_E_* codes
CODES: dict[int, tuple[str, str]] = {c.value: (c.name, c.message) for c in _codes.CODES.values()
                                     if c.name.startswith("KSRC_E_")}


class SourceError(_codes.TickwireError, OSError):
    """A kernel-path source could not be opened or configured (a TickwireError and an OSError).

    Attributes
    ----------
    code : int      negative KSRC_E_* code
    name : str      its NAME, e.g. ``"KSRC_E_NO_INTERFACE"``
    message : str   what went wrong here (interface, option, call)
    errno : int     the kernel's errno (0 when the error is not a system call's)
    """

    def __init__(self, code: int, message: str = "", err: int = 0):
        self.code = int(code)
        self.name = code_name(self.code)
        self.message = message or code_message(self.code)
        self.offset = None
        self._err = err
        OSError.__init__(self, err or None, self._text())
        self.errno = err

    def __str__(self) -> str:          # OSError's would prefix "[Errno n]"
        return self._text()

    def _text(self) -> str:
        text = super()._text()
        if self._err:
            text += f": [{_errno.errorcode.get(self._err, self._err)}] {os.strerror(self._err)}"
        return text

    def __reduce__(self):
        return (SourceError, (self.code, self.message, self._err))


#: What each privileged step of opening a kernel-path source needs (``permission_hint``).
_NEEDS = {
    "socket": "CAP_NET_RAW (raw / AF_PACKET / AF_XDP sockets)",
    "xsk_umem__create": "CAP_NET_RAW (the AF_XDP socket it creates) and CAP_IPC_LOCK or an RLIMIT_MEMLOCK "
                        "above the UMEM size (ulimit -l)",
    "xsk_socket__create": "CAP_NET_RAW, and CAP_NET_ADMIN to bind to the interface queue",
    "attach": "CAP_NET_ADMIN (attach an XDP program) and CAP_BPF or CAP_SYS_ADMIN (load it and its maps)",
    "bpf_map": "CAP_BPF or CAP_SYS_ADMIN (BPF map access)",
}


def permission_hint(step: str, err: int) -> str:
    """``"; needs ..."`` naming what is missing when ``step`` (a key of ``_NEEDS``) failed with a
    permission errno (EPERM / EACCES; ENOBUFS / ENOMEM at ``xsk_umem__create`` is the locked-memory
    limit); ``""`` for any other errno, so a message can always append it."""
    err = abs(int(err or 0))
    if step == "xsk_umem__create" and err in (_errno.ENOBUFS, _errno.ENOMEM):
        return "; the UMEM exceeds the locked-memory limit: raise RLIMIT_MEMLOCK (ulimit -l) or grant CAP_IPC_LOCK"
    if err in (_errno.EPERM, _errno.EACCES) and step in _NEEDS:
        return f"; permission denied: needs {_NEEDS[step]} (run as root or grant the capability)"
    return ""
