"""Text lines of a pipe or terminal as they arrive, and whether more are already waiting.

``tickwire match -`` at the end of a pipe: the CSV reader takes lines from ``PipeLines`` and the
matcher asks ``idle()`` after each row; when nothing more is waiting it runs the batch it has and
prints its events at once, instead of blocking for a full batch of rows.
"""
from __future__ import annotations

import codecs
import os
import select
import stat


def is_stream(fd: int) -> bool:
    """True for a pipe, socket or terminal (input that may pause), False for a regular file."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


class PipeLines:
    """Iterator of the lines (``\\n`` kept, undecodable bytes as U+FFFD) read from ``fd``.

    Parameters
    ----------
    fd : file descriptor to read (not closed here).
    chunk : bytes per ``read``; a read returns what is there, it does not wait for a full chunk.
    """

    def __init__(self, fd: int, chunk: int = 1 << 16):
        self.fd = fd
        self.chunk = chunk
        self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""          # decoded text not yet returned (no complete line when idle)
        self._eof = False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        while True:
            k = self._buf.find("\n")
            if k >= 0:
                line, self._buf = self._buf[:k + 1], self._buf[k + 1:]
                return line
            if self._eof:
                if self._buf:
                    line, self._buf = self._buf, ""
                    return line
                raise StopIteration
            data = os.read(self.fd, self.chunk)
            if not data:
                self._eof = True
                self._buf += self._dec.decode(b"", final=True)
            else:
                self._buf += self._dec.decode(data)

    def idle(self) -> bool:
        """True when no complete line is buffered and nothing can be read without waiting."""
        if self._eof or "\n" in self._buf:
            return False
        readable, _, _ = select.select([self.fd], [], [], 0)
        return not readable

    def close(self) -> None:
        """Nothing to release (the descriptor belongs to the caller); for ``with``-style use."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
