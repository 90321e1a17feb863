# cython: language_level=3
"""The MoldUDP64 packet walk, written once: header fields and the message blocks that fit.

Packet: Session(10) @0, Sequence Number u64 BE @10 (of the first message), Message Count u16 BE @18,
then Count x ``[u16 BE length][message]``; Count 0 = heartbeat, 0xFFFF = End of Session (no blocks).
Whatever follows the last block (tickwire's 12-byte TWTS trailer, or junk) starts at ``end``.

Used by the drain loop of the kernel-path sources (datapath/source_util.pxd), the framer
(feedhandlers/moldudp64.pyx: packet validation and ``split_packets``) and the lab's sender
(lab/sender.pyx ``packet_messages``). It lives in datapath because the drain loop needs it and
datapath may use only core. The session layer (feedhandlers/mold_session.pyx) keeps its own loop:
it applies or buffers each block in the same pass (see the comment there).
"""
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from core.codes cimport MOLD_E_SHORT, MOLD_E_TRUNCATED
from core.endian cimport tw_be16, tw_be64

# ------------------------------------------------------------- constants ----
cdef enum:
    MOLD_HEADER_LEN = 20          # Session(10) Sequence(8) Count(2)
    MOLD_SESSION_LEN = 10
    MOLD_HEARTBEAT = 0            # count 0: heartbeat, seq = next sequence number
    MOLD_END_OF_SESSION = 0xFFFF  # count 0xFFFF: End of Session, seq = one past the last message
    MOLD_TRAILER_LEN = 12         # b"TWTS" + u64 BE send time (ns) after the last block

# ------------------------------------------------------------------ walk ----
cdef struct MoldWalk:
    uint64_t seq                  # Sequence Number of the first message
    uint32_t count                # Message Count as sent (MOLD_HEARTBEAT, MOLD_END_OF_SESSION, or messages)
    uint32_t blocks               # message blocks that fit whole in the packet (0 for a control packet)
    uint32_t end                  # offset just past the last whole block (MOLD_HEADER_LEN when none)


cdef inline int mold_walk(const uint8_t *pkt, uint32_t n, MoldWalk *w) noexcept nogil:
    """Read the header of the ``n``-byte packet at ``pkt`` and step over its message blocks.

    Returns 0 when every announced block is whole; MOLD_E_SHORT when ``n`` < 20 (``w`` zeroed);
    MOLD_E_TRUNCATED when a block runs past ``n`` (``w.blocks`` / ``w.end`` cover the whole
    blocks before it, ``w.seq`` / ``w.count`` are the header's).
    """
    cdef uint32_t off = MOLD_HEADER_LEN, i, length
    w.blocks = 0
    if n < MOLD_HEADER_LEN:
        w.seq = 0
        w.count = 0
        w.end = 0
        return MOLD_E_SHORT
    w.seq = tw_be64(pkt + 10)
    w.count = tw_be16(pkt + 18)
    w.end = MOLD_HEADER_LEN
    if w.count == MOLD_END_OF_SESSION:
        return 0
    for i in range(w.count):
        if off + 2 > n:
            return MOLD_E_TRUNCATED
        length = tw_be16(pkt + off)
        if off + 2 + length > n:
            return MOLD_E_TRUNCATED
        off += 2 + length
        w.blocks = i + 1
        w.end = off
    return 0
