# cython: language_level=3
"""ITCH 5.0 binaryFILE framer (hot path) and the Python views of messages (tools, tests).

Validation per frame (the ``MessageSink`` contract): a known ITCH 5.0 type whose framed length
equals the spec length goes to ``sink.on_message``; an unknown type byte is skipped by its length
and counted (``unknown_types``, per type byte); a known type of another length is skipped and
counted (``malformed``). Every frame, valid or not, consumes one ordinal: the ``seq`` given to the
sink is the 1-based frame number in the stream.

Not-ITCH-5.0 heuristic: each of the first ``probe_frames`` frames (default 8) must be a known type
of exact spec length; the first one that is not stops the framer with ITCH_E_NOT_ITCH50. A zero
length prefix there followed by a byte that is no ITCH 5.0 type is also ITCH_E_NOT_ITCH50 (that is
what a MoldUDP64 capture or random bytes look like); followed by a known type it is
ITCH_E_ZERO_LENGTH (or a recovery in ``recover_zero_lengths`` mode).

Lost framing: past the probe window, a length prefix above the longest ITCH 5.0 message
(``ITCH_MAX_LEN``, 50) stops the framer with ITCH_E_LOST_FRAMING and the frame's offset: skipping
such a "frame" would walk on from an arbitrary byte and could resynchronise by chance on garbage.
"""
cimport cython
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

from core.compiler cimport tw_unlikely, tw_likely, tw_prefetch, TW_DEBUG
from core.endian cimport tw_be16
from feedhandlers.itch_wire cimport TW_ITCH_LEN, ITCH_MAX_LEN
from core.codes cimport *
from feedhandlers.sink cimport MessageSink

from core.codes import FeedError
from feedhandlers.itch_messages import (ItchMessage, MESSAGE_CLASSES, MESSAGE_NAMES, SPEC_LENGTH,
                                        decode_message)

__all__ = ["ItchFramer", "decode_message", "iter_messages", "ItchMessage", "MESSAGE_CLASSES",
           "MESSAGE_NAMES", "SPEC_LENGTH", "spec_length", "c_codes"]


def spec_length(t) -> int:
    """Spec length (without prefix) of a type given as str or int; 0 when not an ITCH 5.0 type."""
    cdef int b = ord(t) if isinstance(t, str) else int(t)
    if b < 0 or b > 255:
        return 0
    return TW_ITCH_LEN[b]


def c_codes() -> dict:
    """The feed-side result codes (ITCH, MOLD, PCAP, READ) as the C side sees them (tests compare with core.codes)."""
    return {
        "ITCH_E_TRUNCATED": ITCH_E_TRUNCATED, "ITCH_E_ZERO_LENGTH": ITCH_E_ZERO_LENGTH,
        "ITCH_E_NOT_ITCH50": ITCH_E_NOT_ITCH50, "ITCH_E_ZERO_LENGTH_UNKNOWN": ITCH_E_ZERO_LENGTH_UNKNOWN,
        "ITCH_E_STOPPED": ITCH_E_STOPPED, "ITCH_E_UNKNOWN_TYPE": ITCH_E_UNKNOWN_TYPE,
        "ITCH_E_BAD_LENGTH": ITCH_E_BAD_LENGTH, "ITCH_E_LOST_FRAMING": ITCH_E_LOST_FRAMING,
        "MOLD_E_SHORT": MOLD_E_SHORT, "MOLD_E_TRUNCATED": MOLD_E_TRUNCATED,
        "MOLD_E_DUPLICATE": MOLD_E_DUPLICATE, "MOLD_E_HELD": MOLD_E_HELD,
        "MOLD_E_WRONG_SESSION": MOLD_E_WRONG_SESSION, "MOLD_E_OVERFLOW": MOLD_E_OVERFLOW,
        "MOLD_E_UNRECOVERABLE": MOLD_E_UNRECOVERABLE, "MOLD_E_REQUEST_IO": MOLD_E_REQUEST_IO,
        "MOLD_E_IMPLAUSIBLE_SEQ": MOLD_E_IMPLAUSIBLE_SEQ, "MOLD_E_SUSPECT_SESSION": MOLD_E_SUSPECT_SESSION,
        "MOLD_E_IMPOSSIBLE_COUNT": MOLD_E_IMPOSSIBLE_COUNT,
        "PCAP_E_BAD_MAGIC": PCAP_E_BAD_MAGIC, "PCAP_E_TRUNCATED": PCAP_E_TRUNCATED,
        "PCAP_E_BAD_BLOCK": PCAP_E_BAD_BLOCK, "PCAP_E_LINKTYPE": PCAP_E_LINKTYPE, "PCAP_E_EMPTY": PCAP_E_EMPTY,
        "PCAP_E_VERSION": PCAP_E_VERSION,
        "READ_E_GZIP_TRUNCATED": READ_E_GZIP_TRUNCATED, "READ_E_GZIP_BAD": READ_E_GZIP_BAD,
        "READ_E_FORMAT": READ_E_FORMAT, "READ_E_NO_MESSAGES": READ_E_NO_MESSAGES,
    }


# error_detail flag: the detail is (type << 16 | length) of a frame, not a bare type byte
cdef uint64_t FRAME_DETAIL = (<uint64_t>1) << 32


cdef inline size_t frame_need(const uint8_t *p, size_t avail, bint recover) noexcept nogil:
    """Total bytes of the frame starting at ``p`` once known (0 = need more header bytes).

    For a zero prefix that cannot be framed (no recovery, or an unknown type) and for a prefix above
    the longest message (lost framing) it returns 3, so that ``walk`` over those 3 bytes reports the
    error with the right code and offset.
    """
    cdef uint16_t L
    cdef uint8_t spec
    if avail < 2:
        return 0
    L = tw_be16(p)
    if tw_likely(L != 0):
        if tw_unlikely(L > ITCH_MAX_LEN):
            return 3 if avail >= 3 else 0
        return 2 + <size_t>L
    if avail < 3:
        return 0
    spec = TW_ITCH_LEN[p[2]]
    if recover and spec != 0:
        return 2 + <size_t>spec
    return 3


@cython.final
cdef class ItchFramer:
    """binaryFILE framer into a ``MessageSink``.

    Parameters
    ----------
    sink : MessageSink, default a null sink (framing-only runs).
    recover_zero_lengths : bool
        When a length prefix is 0, frame the message by its type byte's spec length and count it in
        ``zero_length_recovered`` instead of stopping with ITCH_E_ZERO_LENGTH.
    probe_frames : int
        Leading frames that must be ITCH 5.0 types of spec length (ITCH_E_NOT_ITCH50 otherwise);
        0 disables the check (e.g. for a stream resumed mid-way that starts with a bad frame).
    """

    def __cinit__(self):
        self.carry = <uint8_t *> malloc(ITCH_CARRY_CAP)
        if self.carry == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.carry)

    def __init__(self, MessageSink sink=None, *, bint recover_zero_lengths=False, int probe_frames=ITCH_PROBE_FRAMES):
        self.sink = sink if sink is not None else MessageSink()
        self.sink.rx_ns = 0
        self.recover_zero_lengths = recover_zero_lengths
        self.probe_frames = max(0, probe_frames)
        memset(self.counts, 0, sizeof(self.counts))
        memset(self.unknown_counts, 0, sizeof(self.unknown_counts))

    # ----------------------------------------------------------- hot path ----
    cdef int fail(self, int code, uint64_t off, uint64_t detail) noexcept nogil:
        if self.error == 0:
            self.error = code
            self.error_offset = off
            self.error_detail = detail
        return code

    cdef int walk(self, const uint8_t *buf, size_t n, size_t *used) noexcept nogil:
        cdef size_t off = 0
        cdef uint32_t L
        cdef uint8_t t, spec
        cdef const uint8_t *m
        cdef uint64_t seq = self.frames
        cdef uint64_t delivered = 0
        cdef uint64_t probe = <uint64_t> self.probe_frames
        cdef uint64_t *counts = self.counts
        cdef int rc = 0
        while off + 2 <= n:
            L = tw_be16(buf + off)
            if tw_unlikely(L - 1 >= ITCH_MAX_LEN):          # 0 or above the longest message: one compare
                if L != 0:
                    if seq >= probe:
                        rc = self.fail(ITCH_E_LOST_FRAMING, self.offset + off, L)
                        break
                    if off + 3 > n:
                        break                               # the type byte goes into the not-ITCH-5.0 error
                    rc = self.fail(ITCH_E_NOT_ITCH50, self.offset + off, FRAME_DETAIL | (<uint64_t>buf[off + 2] << 16) | L)
                    break
                if off + 3 > n:
                    break                                   # need the type byte to classify it
                spec = TW_ITCH_LEN[buf[off + 2]]
                if spec == 0 and seq < probe:
                    rc = self.fail(ITCH_E_NOT_ITCH50, self.offset + off, buf[off + 2])
                    break
                if not self.recover_zero_lengths:
                    rc = self.fail(ITCH_E_ZERO_LENGTH, self.offset + off, buf[off + 2])
                    break
                if spec == 0:
                    rc = self.fail(ITCH_E_ZERO_LENGTH_UNKNOWN, self.offset + off, buf[off + 2])
                    break
                L = spec
                if off + 2 + L <= n:                        # counted once, when the frame is complete
                    self.zero_length_recovered += 1
            if off + 2 + L > n:                             # partial frame: the caller carries it
                if seq < probe and off + 3 <= n and TW_ITCH_LEN[buf[off + 2]] != L:
                    rc = self.fail(ITCH_E_NOT_ITCH50, self.offset + off, FRAME_DETAIL | (<uint64_t>buf[off + 2] << 16) | L)
                break
            m = buf + off + 2
            tw_prefetch(m + 1024)                           # ~25 messages ahead: out-of-cache files
            t = m[0]
            seq += 1
            if tw_likely(TW_ITCH_LEN[t] == L):
                counts[t] += 1
                delivered += 1
                if tw_unlikely(self.sink.on_message(m, L, seq) < 0):
                    self.sink_errors += 1
            else:
                if seq <= probe:
                    seq -= 1
                    rc = self.fail(ITCH_E_NOT_ITCH50, self.offset + off, FRAME_DETAIL | (<uint64_t>t << 16) | L)
                    break
                if TW_ITCH_LEN[t] == 0:
                    self.unknown_types += 1
                    self.unknown_counts[t] += 1
                else:
                    self.malformed += 1
            off += 2 + L
        self.frames = seq
        self.messages += delivered
        self.offset += off
        used[0] = off
        if TW_DEBUG:
            if self.frames != self.messages + self.unknown_types + self.malformed:
                return self.fail(ITCH_E_STOPPED, self.offset, 0xDEB)
        return rc

    cdef int feed_ptr(self, const uint8_t *buf, size_t n) noexcept nogil:
        cdef size_t pos = 0, used = 0, total, take
        cdef int rc
        if tw_unlikely(self.error != 0):
            return self.error
        self.bytes_in += n
        while self.carry_len != 0:                          # complete the frame carried over
            if self.carry_len < 3 and pos < n:
                take = min(<size_t>3 - self.carry_len, n - pos)
                memcpy(self.carry + self.carry_len, buf + pos, take)
                self.carry_len += take
                pos += take
            total = frame_need(self.carry, self.carry_len, self.recover_zero_lengths)
            if total == 0:
                return 0
            if self.frames < <uint64_t>self.probe_frames and tw_be16(self.carry) != 0 and self.carry_len >= 3 \
                    and TW_ITCH_LEN[self.carry[2]] != tw_be16(self.carry):
                return self.fail(ITCH_E_NOT_ITCH50, self.offset,
                                 FRAME_DETAIL | (<uint64_t>self.carry[2] << 16) | tw_be16(self.carry))
            if self.carry_len < total:
                take = min(total - self.carry_len, n - pos)
                memcpy(self.carry + self.carry_len, buf + pos, take)
                self.carry_len += take
                pos += take
                if self.carry_len < total:
                    return 0                                # the whole chunk went into the carry
            rc = self.walk(self.carry, total, &used)
            if rc < 0:
                return rc
            if used == 0:                                   # unreachable: a complete frame always frames
                return self.fail(ITCH_E_STOPPED, self.offset, 0)
            # a 3-byte header copy can overshoot a 3-byte frame; keep what the walk did not frame
            self.carry_len -= <uint32_t> used
            if self.carry_len:
                memcpy(self.carry, self.carry + used, self.carry_len)
        rc = self.walk(buf + pos, n - pos, &used)
        if rc < 0:
            return rc
        pos += used
        if pos < n:                                         # copy only the partial tail
            memcpy(self.carry, buf + pos, n - pos)
            self.carry_len = <uint32_t>(n - pos)
        return 0

    # ------------------------------------------------------------- Python ----
    def feed(self, buffer) -> int:
        """Frame the next chunk of the stream (any bytes-like, any size); return valid messages so far.

        Raises FeedError (ITCH_E_ZERO_LENGTH, ITCH_E_NOT_ITCH50, ...) with the byte offset.
        Messages before the failing frame have been delivered.
        """
        cdef const uint8_t[::1] mv = buffer
        cdef size_t n = mv.shape[0]
        cdef const uint8_t *p = &mv[0] if n else NULL
        cdef int rc = 0
        if n:
            with nogil:
                rc = self.feed_ptr(p, n)
        elif self.error:
            rc = self.error
        if rc < 0:
            raise self.exception()
        return self.messages

    def finish(self) -> dict:
        """Declare the end of the stream; raise FeedError(ITCH_E_TRUNCATED) if it ends inside a frame.

        Returns ``stats()``.
        """
        cdef size_t total
        if self.error:
            raise self.exception()
        if self.carry_len:
            if self.carry_len >= 2 and tw_be16(self.carry) > ITCH_MAX_LEN and self.frames >= <uint64_t>self.probe_frames:
                self.fail(ITCH_E_LOST_FRAMING, self.offset, tw_be16(self.carry))
                raise self.exception()
            total = frame_need(self.carry, self.carry_len, self.recover_zero_lengths)
            self.fail(ITCH_E_TRUNCATED, self.offset, total)
            raise self.exception()
        return self.stats()

    def exception(self):
        """The FeedError describing the sticky error (None when there is none)."""
        if self.error == 0:
            return None
        cdef uint64_t d = self.error_detail
        cdef int code = self.error
        if code == ITCH_E_TRUNCATED:
            if d:
                need = f"{d} bytes"
            elif self.carry_len < 2:
                need = "a 2-byte length prefix"
            else:
                need = "the type byte after its zero length prefix"
            msg = f"stream ends inside a frame: the frame needs {need}, only {self.carry_len} remain (truncated?)"
        elif code == ITCH_E_ZERO_LENGTH:
            msg = (f"zero length prefix (followed by type byte {_tb(d)}); NASDAQ binaryFILE never has one. "
                   f"Open with recover_zero_lengths=True to frame by each type's spec length")
        elif code == ITCH_E_LOST_FRAMING:
            msg = (f"length prefix {d}: a {d}-byte frame, longer than any ITCH 5.0 message (at most "
                   f"{ITCH_MAX_LEN} bytes); the framing is lost after frame {self.frames} (damaged file?)")
        elif code == ITCH_E_ZERO_LENGTH_UNKNOWN:
            msg = f"zero length prefix followed by {_tb(d)}, not an ITCH 5.0 type: cannot recover the framing"
        elif code == ITCH_E_NOT_ITCH50:
            if not (d & FRAME_DETAIL):
                what = f"a zero length prefix followed by {_tb(d)}"
            else:
                what = f"a {d & 0xFFFF}-byte frame of type {_tb(d >> 16)}"
                if TW_ITCH_LEN[(d >> 16) & 0xFF]:
                    what += f" (spec length {TW_ITCH_LEN[(d >> 16) & 0xFF]})"
            msg = (f"not an ITCH 5.0 binaryFILE stream: frame {self.frames + 1} is {what}; "
                   f"the first {self.probe_frames} frames must be ITCH 5.0 types of spec length")
        else:
            msg = None
        return FeedError(code, msg, self.error_offset)

    def counts_by_type(self) -> dict:
        """Valid messages delivered per type, as {"A": n, ...} (types seen only)."""
        return {chr(i): self.counts[i] for i in range(256) if self.counts[i]}

    def unknown_by_type(self) -> dict:
        """Skipped frames of non-ITCH-5.0 type bytes, as {type_byte_int: n}."""
        return {i: self.unknown_counts[i] for i in range(256) if self.unknown_counts[i]}

    @property
    def pending(self) -> int:
        """Bytes of a partial frame carried to the next feed()."""
        return self.carry_len

    def stats(self) -> dict:
        return {
            "messages": self.messages, "frames": self.frames, "by_type": self.counts_by_type(),
            "malformed": self.malformed, "unknown_types": self.unknown_types,
            "unknown_by_type": self.unknown_by_type(), "zero_length_recovered": self.zero_length_recovered,
            "sink_errors": self.sink_errors, "bytes": self.offset,
        }


def _tb(v) -> str:
    v = int(v) & 0xFF
    return f"0x{v:02x} ({chr(v)!r})"


def iter_messages(buffer, *, bint recover_zero_lengths=False, bint strict=False):
    """Yield the decoded messages of a binaryFILE buffer (tools and tests; ~1 us/message).

    Unknown types and malformed lengths are skipped (``strict=True``: raise FeedError instead).
    Raises FeedError on a zero length prefix (unless ``recover_zero_lengths``), on a length prefix above
    the longest ITCH 5.0 message (ITCH_E_LOST_FRAMING) and on truncation.
    """
    cdef const uint8_t[::1] mv = buffer
    cdef size_t n = mv.shape[0], off = 0
    cdef uint32_t L
    cdef uint8_t spec
    while off < n:
        if off + 2 > n:
            raise FeedError(ITCH_E_TRUNCATED, f"stream ends inside a length prefix at byte offset {off}", off)
        L = tw_be16(&mv[off])
        if L == 0:
            if off + 3 > n:
                raise FeedError(ITCH_E_TRUNCATED, f"stream ends after a zero length prefix at byte offset {off}", off)
            spec = TW_ITCH_LEN[mv[off + 2]]
            if not recover_zero_lengths:
                raise FeedError(ITCH_E_ZERO_LENGTH, f"zero length prefix at byte offset {off}", off)
            if spec == 0:
                raise FeedError(ITCH_E_ZERO_LENGTH_UNKNOWN,
                                f"zero length prefix at byte offset {off} followed by {_tb(mv[off + 2])}", off)
            L = spec
        elif L > ITCH_MAX_LEN:
            raise FeedError(ITCH_E_LOST_FRAMING, f"length prefix {L} at byte offset {off}: longer than any ITCH 5.0 "
                                                 f"message (at most {ITCH_MAX_LEN} bytes)", off)
        if off + 2 + L > n:
            raise FeedError(ITCH_E_TRUNCATED, f"stream ends inside the frame at byte offset {off}: it needs "
                                              f"{2 + L} bytes, only {n - off} remain", off)
        if TW_ITCH_LEN[mv[off + 2]] == L:
            yield decode_message(buffer, off + 2, L)
        elif strict:
            decode_message(buffer, off + 2, L)              # raises with the precise reason
        off += 2 + L
