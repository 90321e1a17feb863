"""Packet sources by name, for `tickwire listen --source NAME` and configuration files.

Each entry names a factory ``module:Class.open_source`` (``datapath.batch.PacketSource.open_source``,
overridden where opening needs more than the constructor) that takes keyword options and returns an
open source. Imports are lazy: a machine without DPDK can still list and use
the other sources, and asking for a missing one gives a clear error naming what is missing.
"""
from __future__ import annotations

import importlib

from datapath.source_codes import KSRC_E_BAD_OPTION, SourceError

SOURCES: dict[str, str] = {
    "pcap": "datapath.pcap_source:PcapSource.open_source",
    "udp": "datapath.udp_source:UdpSource.open_source",
    "afpacket": "datapath.afpacket_source:AfPacketSource.open_source",
    "afxdp": "datapath.afxdp_source:AfXdpSource.open_source",
    "dpdk": "datapath.dpdk_source:DpdkSource.open_source",
    "verbs": "datapath.verbs_source:VerbsSource.open_source",
}


class SourceUnavailable(RuntimeError):
    """The source cannot exist on this machine (missing library, device or kernel facility), or cannot be
    opened here (``SourceOpenFailed``)."""


class SourceOpenFailed(SourceError, SourceUnavailable):
    """A SourceError other than a bad option (no interface, permission, UMEM, XDP program, ...) raised by
    ``open_source``: also a SourceUnavailable, so `tickwire listen` exits 3 ("the source cannot be opened",
    docs/mold_soup.md) while a bad option (KSRC_E_BAD_OPTION, an OSError) stays exit 2. Same code, name,
    message and errno as the source's error (its ``__cause__``)."""


def open_source(name: str, **options):
    """Open the packet source ``name`` with its options; raises SourceUnavailable with the reason (a
    SourceOpenFailed for a source's SourceError other than KSRC_E_BAD_OPTION, which is raised as is)."""
    try:
        target = SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}") from None
    module_name, path = target.split(":")
    try:
        factory = importlib.import_module(module_name)
    except ImportError as e:
        raise SourceUnavailable(f"source {name!r} is not built or its library is missing: {e}") from e
    for attr in path.split("."):
        factory = getattr(factory, attr)
    try:
        return factory(**options)
    except SourceError as e:
        if e.code == KSRC_E_BAD_OPTION or isinstance(e, SourceUnavailable):
            raise
        raise SourceOpenFailed(e.code, e.message, e._err) from e
