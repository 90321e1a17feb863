"""NASDAQ binaryFILE readers (plain and gzip) driving an ItchFramer into a MessageSink.

* Plain files are mmapped and framed zero-copy, in slices of ``chunk_size`` bytes so that
  ``progress`` can be called (the framer carries a frame cut by a slice boundary).
* ``.gz`` files (any file starting with the gzip magic) are decompressed with zlib in chunks of
  ``chunk_size`` output bytes and streamed through the same framer: memory stays bounded whatever
  the day's size. Multi-member gzip (concatenated .gz) is supported; a stream that ends before a
  member's end-of-stream marker raises READ_E_GZIP_TRUNCATED, corrupt data READ_E_GZIP_BAD.
"""
from __future__ import annotations

import mmap
import os
import time
import zlib

from core.codes import READ_E_GZIP_BAD, READ_E_GZIP_TRUNCATED, FeedError
from feedhandlers.itch import ItchFramer
from feedhandlers.sink import MessageSink

DEFAULT_CHUNK = 4 << 20      # framing slice / decompressed chunk: progress granularity, bounded memory
GZIP_MAGIC = b"\x1f\x8b"

#: Keys every reader's ``run`` returns (values 0 when the format has no such notion).
STATS_KEYS = (
    "format", "path", "messages", "by_type", "malformed", "unknown_types", "unknown_by_type", "sink_errors",
    "bytes", "bytes_total", "packets", "gaps", "missing_messages", "duplicates", "duplicate_packets",
    "heartbeats", "end_of_session", "session_changes", "truncated_packets", "zero_length_recovered", "elapsed_s",
)


def empty_stats(fmt: str, path: str) -> dict:
    s = {k: 0 for k in STATS_KEYS}
    s.update(format=fmt, path=path, by_type={}, unknown_by_type={}, elapsed_s=0.0)
    return s


class BinaryFileReader:
    """A binaryFILE day file (plain or gzip) as a message feed.

    Parameters
    ----------
    path : the file.
    compressed : None = sniff the gzip magic; True/False to force.
    recover_zero_lengths, probe_frames : passed to :class:`feedhandlers.itch.ItchFramer`.
    chunk_size : bytes per framing slice / decompressed chunk (progress granularity).
    """

    def __init__(self, path, *, compressed: bool | None = None, recover_zero_lengths: bool = False,
                 probe_frames: int = 8, chunk_size: int = DEFAULT_CHUNK):
        self.path = os.fspath(path)
        self.size = os.path.getsize(self.path)
        if compressed is None:
            with open(self.path, "rb") as f:
                compressed = f.read(2) == GZIP_MAGIC
        self.compressed = compressed
        self.format = "binaryfile.gz" if compressed else "binaryfile"
        self.recover_zero_lengths = recover_zero_lengths
        self.probe_frames = probe_frames
        self.chunk_size = max(1, int(chunk_size))
        self.framer = None

    def run(self, sink: MessageSink | None = None, progress=None) -> dict:
        """Frame the whole file into ``sink``; return the stats dict (``STATS_KEYS``).

        ``progress(bytes_done, bytes_total)`` is called after each chunk (file bytes; compressed bytes for
        gzip). Raises FeedError (with ``.stats`` set to the stats so far) on a fatal error.
        """
        fr = self.framer = ItchFramer(sink, recover_zero_lengths=self.recover_zero_lengths,
                                      probe_frames=self.probe_frames)
        t0 = time.perf_counter()
        extra = {}
        try:
            if self.compressed:
                extra = self._run_gzip(fr, progress)
            else:
                self._run_plain(fr, progress)
            fr.finish()
        except FeedError as e:
            e.stats = self._stats(fr, t0, extra)
            raise
        return self._stats(fr, t0, extra)

    def _stats(self, fr: ItchFramer, t0: float, extra: dict) -> dict:
        s = empty_stats(self.format, self.path)
        fs = fr.stats()
        for k in ("messages", "by_type", "malformed", "unknown_types", "unknown_by_type", "sink_errors", "bytes",
                  "zero_length_recovered"):
            s[k] = fs[k]
        s["frames"] = fs["frames"]
        s["bytes_total"] = self.size
        s["elapsed_s"] = time.perf_counter() - t0
        s.update(extra)
        return s

    def _run_plain(self, fr: ItchFramer, progress) -> None:
        if self.size == 0:
            return
        with open(self.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            mv = memoryview(mm)
            try:
                step = self.chunk_size
                for off in range(0, self.size, step):
                    fr.feed(mv[off:off + step])
                    if progress is not None:
                        progress(min(off + step, self.size), self.size)
            finally:
                mv.release()

    def _run_gzip(self, fr: ItchFramer, progress) -> dict:
        step = self.chunk_size
        members = 0
        d = zlib.decompressobj(31)
        started = False            # bytes given to the current member's decompressor
        comp_off = 0               # compressed bytes read so far
        with open(self.path, "rb") as f:
            while True:
                data = f.read(1 << 20)
                if not data:
                    break
                base = comp_off
                comp_off += len(data)
                while data:
                    if not started:
                        if members and not data.strip(b"\0"):
                            data = b""                       # zero padding after a member (as gzip(1) allows)
                            break
                        if not GZIP_MAGIC.startswith(data[:2]):   # (a magic cut by the read boundary is fine)
                            raise FeedError(READ_E_GZIP_BAD, f"{self.path}: bytes after gzip member {members} are not "
                                                             f"a gzip member", comp_off - len(data))
                        started = True
                    try:
                        out = d.decompress(data, step)
                    except zlib.error as e:
                        raise FeedError(READ_E_GZIP_BAD, f"{self.path}: {e} (member {members + 1})",
                                        comp_off - len(data)) from None
                    if out:
                        fr.feed(out)
                    if d.eof:
                        members += 1
                        data = d.unused_data
                        d = zlib.decompressobj(31)
                        started = False
                    else:
                        data = d.unconsumed_tail
                        if not data:
                            break
                        if not out:              # no progress is impossible with input left; guard anyway
                            raise FeedError(READ_E_GZIP_BAD, f"{self.path}: decompressor stalled", base)
                if progress is not None:
                    progress(comp_off, self.size)
            if started:
                # drain what zlib buffered, then the member must have ended
                try:
                    out = d.flush()
                except zlib.error:
                    out = b""
                if out:
                    fr.feed(out)
                raise FeedError(READ_E_GZIP_TRUNCATED,
                                f"{self.path}: gzip member {members + 1} ends without its end-of-stream marker "
                                f"after {comp_off} compressed bytes ({fr.bytes_in} bytes decompressed): truncated "
                                f"download?", comp_off)
        return {"gzip_members": members, "compressed_bytes": comp_off}
