# cython: language_level=3
"""BinaryFileSink: the messages a framer delivers, back in binaryFILE framing ([u16 BE length][message]...).

The lab's servers index a day in that framing (``lab.sender.index_messages``); this turns a capture
read by the product (``feedhandlers.reader.open_feed``: PcapSource -> MoldFramer) into such a day.
Copies every message into one growing buffer (amortised realloc, nogil): a tool, not a hot path.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport realloc, free
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize

from core.endian cimport tw_put_be16
from feedhandlers.sink cimport MessageSink


cdef class BinaryFileSink(MessageSink):
    """Appends ``[u16 BE length][message]`` per ``on_message`` (returns -1, counted by the framer, when out of memory)."""
    cdef uint8_t *buf
    cdef size_t len, cap
    cdef readonly uint64_t messages
    cdef readonly bint oom                # a message could not be stored: the day is incomplete

    def __dealloc__(self):
        free(self.buf)

    cdef int on_message(self, const uint8_t *msg, uint32_t length, uint64_t seq) noexcept nogil:
        cdef size_t need = self.len + 2 + length, cap
        cdef void *p
        if need > self.cap:
            cap = need * 2 if need > (1 << 16) else (1 << 17)
            p = realloc(self.buf, cap)
            if p == NULL:
                self.oom = True
                return -1
            self.buf = <uint8_t *>p
            self.cap = cap
        tw_put_be16(self.buf + self.len, <uint16_t>length)
        memcpy(self.buf + self.len + 2, msg, length)
        self.len = need
        self.messages += 1
        return 0

    def getvalue(self) -> bytes:
        """Every message so far as binaryFILE bytes; MemoryError when one could not be stored."""
        if self.oom:
            raise MemoryError("BinaryFileSink: out of memory, messages were lost")
        return PyBytes_FromStringAndSize(<const char *>self.buf, self.len) if self.len else b""
