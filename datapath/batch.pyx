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


# The DATAPATH rx and parse codes as seen by C (tests/test_codes.py compares them with core.codes).
from core.codes cimport (PKT_E_SHORT, PKT_E_NOT_IPV4, PKT_E_NOT_UDP, PKT_E_FRAGMENT, PKT_E_BAD_IP, PKT_E_BAD_UDP,
                         PKT_E_FILTERED)

C_CODES = {
    "SRC_E_CLOSED": SRC_E_CLOSED, "SRC_E_IO": SRC_E_IO, "SRC_E_END": SRC_E_END, "SRC_E_UNSUPPORTED": SRC_E_UNSUPPORTED,
    "PKT_E_SHORT": PKT_E_SHORT, "PKT_E_NOT_IPV4": PKT_E_NOT_IPV4, "PKT_E_NOT_UDP": PKT_E_NOT_UDP,
    "PKT_E_FRAGMENT": PKT_E_FRAGMENT, "PKT_E_BAD_IP": PKT_E_BAD_IP, "PKT_E_BAD_UDP": PKT_E_BAD_UDP,
    "PKT_E_FILTERED": PKT_E_FILTERED,
}
