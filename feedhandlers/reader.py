"""One entry point for every recorded feed: ``open_feed(path).run(sink, progress)``.

``tickwire replay PATH`` calls this. The format is sniffed from the first bytes:

========================  ======================================================  =================
first bytes               format                                                  framing
========================  ======================================================  =================
``1f 8b``                 ``binaryfile.gz``: gzip binaryFILE (multi-member ok)    ItchFramer
pcap magic (4 variants)   ``pcap``: Ethernet/IP/UDP/MoldUDP64 capture             PcapSource -> MoldFramer
``0a 0d 0d 0a``           ``pcapng``                                              PcapSource -> MoldFramer
anything else             ``binaryfile``: [u16 length][message] ...               ItchFramer
========================  ======================================================  =================

``format="moldudp64"`` reads a file of back-to-back MoldUDP64 packets (no UDP framing).
A file that is none of these is refused by the framer's not-ITCH-5.0 check (ITCH_E_NOT_ITCH50).

Example::

    from feedhandlers.reader import open_feed
    stats = open_feed("12302019.NASDAQ_ITCH50.gz").run(book_builder, progress=lambda done, total: ...)
    print(stats["messages"], stats["by_type"])
"""
from __future__ import annotations

import os
import time
import zlib

from feedhandlers.binaryfile import DEFAULT_CHUNK, GZIP_MAGIC, STATS_KEYS, BinaryFileReader, empty_stats
from core.codes import READ_E_FORMAT, FeedError
from feedhandlers.sink import MessageSink

__all__ = ["open_feed", "sniff_format", "STATS_KEYS", "PcapFeed", "MoldStreamFeed", "BinaryFileReader"]

FORMATS = ("binaryfile", "binaryfile.gz", "pcap", "pcapng", "moldudp64")


def sniff_format(path) -> str:
    """The format of ``path``: one of ``FORMATS`` (raises FeedError READ_E_FORMAT when unusable)."""
    from datapath.pcap_source import sniff_capture
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        raise FeedError(READ_E_FORMAT, f"{os.fspath(path)}: empty file", 0)
    if head[:2] == GZIP_MAGIC:
        try:
            inner = zlib.decompressobj(31).decompress(open(path, "rb").read(1 << 16), 8)
        except zlib.error:
            inner = b""
        if sniff_capture(inner):
            raise FeedError(READ_E_FORMAT, f"{os.fspath(path)}: gzip-compressed capture; decompress it first "
                                           f"(gunzip) so it can be mmapped", 0)
        return "binaryfile.gz"
    cap = sniff_capture(head)
    if cap:
        return cap[0]
    return "binaryfile"


class PcapFeed:
    """A pcap/pcapng capture: PcapSource (UDP payloads) -> MoldFramer (sequencing) -> sink."""

    def __init__(self, path, *, dst_port: int = 0, group: str | None = None, expected_seq: int = 0,
                 progress_every: int = 1024):
        from datapath.pcap_source import PcapSource
        self.path = os.fspath(path)
        self.source = PcapSource(self.path, dst_port=dst_port, group=group)
        self.filter = f"{group or '*'}:{dst_port or '*'}" if group or dst_port else "any"
        self.format = self.source.format
        self.expected_seq = expected_seq
        self.progress_every = progress_every
        self.framer = None

    def run(self, sink: MessageSink | None = None, progress=None) -> dict:
        """Replay every packet into ``sink``; ``progress(bytes_done, bytes_total)`` every ~32k packets."""
        from feedhandlers.moldudp64 import MoldFramer
        src = self.source
        fr = self.framer = MoldFramer(sink, expected_seq=self.expected_seq)
        cb = (lambda: progress(src.position, src.size)) if progress is not None else None
        t0 = time.perf_counter()
        try:
            fr.run_source(src, callback=cb, bursts_per_call=self.progress_every)
        except FeedError as e:
            e.stats = self._stats(fr, t0)
            raise
        return self._stats(fr, t0)

    def _stats(self, fr, t0) -> dict:
        s = empty_stats(self.format, self.path)
        s.update(fr.stats())
        s["mold_bytes"] = s["bytes"]
        s["bytes"] = self.source.position
        s["bytes_total"] = self.source.size
        s["source"] = self.source.counters()
        s["filter"] = self.filter
        s["elapsed_s"] = time.perf_counter() - t0
        return s

    def close(self):
        self.source.close()


class MoldStreamFeed:
    """A file of back-to-back MoldUDP64 packets (no Ethernet/IP/UDP), e.g. a raw payload dump."""

    def __init__(self, path, *, expected_seq: int = 0):
        self.path = os.fspath(path)
        self.format = "moldudp64"
        self.expected_seq = expected_seq
        self.framer = None

    def run(self, sink: MessageSink | None = None, progress=None) -> dict:
        from feedhandlers.moldudp64 import MoldFramer
        fr = self.framer = MoldFramer(sink, expected_seq=self.expected_seq)
        t0 = time.perf_counter()
        with open(self.path, "rb") as f:
            data = f.read()
        results = fr.feed_stream(data)
        if progress is not None:
            progress(len(data), len(data))
        s = empty_stats(self.format, self.path)
        s.update(fr.stats())
        s["bytes_total"] = len(data)
        s["packet_results"] = results
        s["elapsed_s"] = time.perf_counter() - t0
        return s

    def close(self):
        pass


def open_feed(path, *, format: str | None = None, recover_zero_lengths: bool = False, probe_frames: int = 8,
              dst_port: int = 0, group: str | None = None, expected_seq: int = 0, chunk_size: int = DEFAULT_CHUNK):
    """Open a recorded feed; the result has ``run(sink=None, progress=None) -> stats`` and ``format``.

    Parameters
    ----------
    path : file to replay.
    format : force one of ``FORMATS`` instead of sniffing.
    recover_zero_lengths, probe_frames : binaryFILE framing options (see ItchFramer).
    dst_port, group : capture filter on the UDP destination (0 / None = any).
    expected_seq : MoldUDP64 first expected sequence number (0 = the first packet's).
    chunk_size : binaryFILE slice / gzip chunk in bytes.

    ``run`` returns a dict with at least ``STATS_KEYS``; a fatal error raises FeedError carrying the
    stats so far in ``.stats``.
    """
    fmt = format or sniff_format(path)
    if fmt in ("binaryfile", "binaryfile.gz"):
        return BinaryFileReader(path, compressed=(fmt == "binaryfile.gz"), recover_zero_lengths=recover_zero_lengths,
                                probe_frames=probe_frames, chunk_size=chunk_size)
    if fmt in ("pcap", "pcapng"):
        return PcapFeed(path, dst_port=dst_port, group=group, expected_seq=expected_seq)
    if fmt == "moldudp64":
        return MoldStreamFeed(path, expected_seq=expected_seq)
    raise FeedError(READ_E_FORMAT, f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
