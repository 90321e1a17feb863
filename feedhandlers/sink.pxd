# cython: language_level=3
"""Contract between framers (binaryFILE, MoldUDP64, SoupBinTCP) and message consumers (book builders).

A framer validates each message (known ITCH 5.0 type, length equal to the spec length) before it
calls ``on_message``; a sink may therefore read every field of the type without bounds checks.
One virtual (vtable) call per message, no Python object.
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef class MessageSink:
    # ------------------------------------------------------------ state ----
    cdef public uint64_t rx_ns
    """Receive timestamp (ns, CLOCK_REALTIME) of the packet being framed; 0 for files. Set by the framer."""
    cdef public uint64_t send_ns
    """Send stamp (ns, CLOCK_REALTIME) of the packet being framed, from its TWTS trailer (tickwire's
    sender); 0 when the packet has none. Set by MoldSession (in-order packets: every message of the
    packet; a message applied from the gap ring: the last message of its packet only)."""

    # ------------------------------------------------------------ calls ----
    cdef int on_message(self, const uint8_t *msg, uint32_t length, uint64_t seq) noexcept nogil
    """Consume one validated ITCH message.

    Parameters
    ----------
    msg : pointer to the message's first byte (its type), ``length`` bytes long.
    length : equals the type's spec length.
    seq : MoldUDP64 sequence number, or the 1-based ordinal of the message in a file.

    Returns
    -------
    int : >= 0 when applied (sinks may return flags), < 0 a result code of the sink (counted, never fatal).
    """
