# cython: language_level=3
"""Base packet source: closed, empty. Concrete sources override ``rx_burst`` / ``rx_release``."""


cdef class PacketSource:
    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil:
        return SRC_E_CLOSED

    cdef void rx_release(self) noexcept nogil:
        pass

    def counters(self):
        """Counters as a dict (for summaries and Prometheus)."""
        return {
            "rx_packets": self.rx_packets, "rx_bytes": self.rx_bytes,
            "dropped_filter": self.dropped_filter, "dropped_bad": self.dropped_bad,
            "kernel_drops": self.kernel_drops,
        }
