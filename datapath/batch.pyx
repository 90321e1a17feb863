# cython: language_level=3
"""Base packet source: closed, empty. Concrete sources override ``rx_burst`` / ``rx_release`` / ``close``.

The Python layer every source shares lives here once: the registry factory ``open_source``, the
copying helpers ``recv`` / ``recv_held`` / ``release`` (tools and tests), the nogil ``drain`` loop,
``counters`` and the context manager.
"""
import os

from libc.stdint cimport uint64_t

from datapath.source_util cimport frames_to_list, drain_py

from datapath.source_codes import KSRC_E_CLOSED, SourceError


cdef class PacketSource:
    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil:
        return SRC_E_CLOSED

    cdef void rx_release(self) noexcept nogil:
        pass

    @classmethod
    def open_source(cls, **options):
        """Registry factory (``datapath.registry``): an open source of this class from its keyword options."""
        return cls(**options)

    def recv(self, int max_frames=BURST_SIZE):
        """One burst as ``[(payload, src_ip, rx_ns), ...]`` (copies), then released; for tools and tests.

        Raises
        ------
        ``rx_error(code)`` when ``rx_burst`` returns a negative code.
        """
        out = self.recv_held(max_frames)
        self.rx_release()
        return out

    def recv_held(self, int max_frames=BURST_SIZE):
        """A burst WITHOUT release: its frames stay the caller's until ``release()`` or the next burst (tests)."""
        cdef Frame frames[BURST_SIZE]
        cdef int n
        if max_frames > BURST_SIZE or max_frames < 1:
            max_frames = BURST_SIZE
        with nogil:
            n = self.rx_burst(frames, max_frames)
        if n < 0:
            raise self.rx_error(n)
        return frames_to_list(frames, n)

    def release(self):
        """``rx_release()`` from Python."""
        self.rx_release()

    def rx_error(self, int code):
        """The exception ``recv`` raises for a negative ``rx_burst`` code.

        SourceError(KSRC_E_CLOSED) for SRC_E_CLOSED, else OSError with ``last_errno``.
        """
        if code == SRC_E_CLOSED:
            return SourceError(KSRC_E_CLOSED)
        return OSError(self.last_errno, f"rx_burst: {os.strerror(self.last_errno)}")

    def drain(self, uint64_t max_packets=0, double seconds=0.0, double idle_seconds=0.0, stop=None):
        """Receive (nogil, bursts of 32, MoldUDP64 header walk) until ``max_packets``, ``seconds``,
        ``idle_seconds`` without traffic (after the first packet) or ``stop`` (a pinning.StopFlag) is set.
        Returns the statistics dict (packets, bytes, messages, gaps, bad, bursts, empty_polls, rc, ...)."""
        return drain_py(self, max_packets, seconds, idle_seconds, stop)

    def counters(self):
        """Counters as a dict (for summaries and Prometheus)."""
        return {
            "rx_packets": self.rx_packets, "rx_bytes": self.rx_bytes,
            "dropped_filter": self.dropped_filter, "dropped_bad": self.dropped_bad,
            "kernel_drops": self.kernel_drops,
        }

    def close(self):
        """Release what the source holds (idempotent); ``rx_burst`` then returns SRC_E_CLOSED."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# The DATAPATH rx and parse codes as seen by C (tests/test_codes.py compares them with core.codes).
from core.codes cimport (PKT_E_SHORT, PKT_E_NOT_IPV4, PKT_E_NOT_UDP, PKT_E_FRAGMENT, PKT_E_BAD_IP, PKT_E_BAD_UDP,
                         PKT_E_FILTERED)

C_CODES = {
    "SRC_E_CLOSED": SRC_E_CLOSED, "SRC_E_IO": SRC_E_IO, "SRC_E_END": SRC_E_END,
    "PKT_E_SHORT": PKT_E_SHORT, "PKT_E_NOT_IPV4": PKT_E_NOT_IPV4, "PKT_E_NOT_UDP": PKT_E_NOT_UDP,
    "PKT_E_FRAGMENT": PKT_E_FRAGMENT, "PKT_E_BAD_IP": PKT_E_BAD_IP, "PKT_E_BAD_UDP": PKT_E_BAD_UDP,
    "PKT_E_FILTERED": PKT_E_FILTERED,
}
