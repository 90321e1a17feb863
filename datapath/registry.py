"""Packet sources by name, for `tickwire listen --source NAME` and configuration files.

Each entry names a factory ``module:function`` that takes keyword options and returns an open
``datapath.batch.PacketSource``. Imports are lazy: a machine without DPDK can still list and use
the other sources, and asking for a missing one gives a clear error naming what is missing.
"""
from __future__ import annotations

import importlib

SOURCES: dict[str, str] = {
    "pcap": "datapath.pcap_source:open_source",
    "udp": "datapath.udp_source:open_source",
    "afpacket": "datapath.afpacket_source:open_source",
    "afxdp": "datapath.afxdp_source:open_source",
    "dpdk": "datapath.dpdk_source:open_source",
    "verbs": "datapath.verbs_source:open_source",
}


class SourceUnavailable(RuntimeError):
    """The source cannot exist on this machine (missing library, device or kernel facility)."""


def open_source(name: str, **options):
    """Open the packet source ``name`` with its options; raises SourceUnavailable with the reason."""
    try:
        target = SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; known: {', '.join(sorted(SOURCES))}") from None
    module_name, func = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise SourceUnavailable(f"source {name!r} is not built or its library is missing: {e}") from e
    return getattr(module, func)(**options)
