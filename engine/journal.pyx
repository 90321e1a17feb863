# cython: language_level=3
"""Crash-safe command journal (format in journal.pxd, design in docs/journal.md).

Writer: one ``pwrite`` per record into a preallocated segment (the page cache
holds it once ``append`` returns, so a SIGKILL loses nothing), then
``fdatasync`` per the policy. Reader/opener: walks records verifying CRC32C;
a bad region with no valid record after it is a torn tail (truncated on open,
never replayed); a bad region followed by a valid record is mid-journal
corruption, a hard error naming file and offset.
"""
import os
import mmap

import numpy as np

from core import codes as _codes
cimport numpy as cnp

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

from engine.crc32c cimport tw_crc32c, tw_crc32c_sw, tw_crc32c_hw, tw_crc32c_has_hw

cnp.import_array()

cdef extern from *:
    """
    #include <errno.h>
    #include <fcntl.h>
    #include <stdio.h>
    #include <time.h>
    #include <unistd.h>
    #include <string.h>
    #include <stdint.h>
    static inline uint32_t tw_le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
    static inline uint64_t tw_le64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
    static inline void tw_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
    static inline void tw_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
    static inline uint64_t tw_mono_ns(void) {
        struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
    }
    static inline uint64_t tw_real_ns(void) {
        struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts); return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
    }
    /* pwrite everything or fail: returns 0, or errno. */
    static int tw_pwrite_all(int fd, const void *buf, size_t n, uint64_t off) {
        const char *p = (const char *)buf;
        while (n) {
            ssize_t w = pwrite(fd, p, n, (off_t)off);
            if (w < 0) { if (errno == EINTR) continue; return errno; }
            if (w == 0) return EIO;
            p += w; n -= (size_t)w; off += (uint64_t)w;
        }
        return 0;
    }
    static int tw_fdatasync(int fd) { return fdatasync(fd) == 0 ? 0 : errno; }
    static int tw_fsync(int fd) { return fsync(fd) == 0 ? 0 : errno; }
    /* Preallocate [0, size): real blocks, so later writes do not allocate; ftruncate where unsupported. */
    static int tw_preallocate(int fd, uint64_t size) {
        int rc = posix_fallocate(fd, 0, (off_t)size);
        if (rc == EOPNOTSUPP || rc == EINVAL) rc = ftruncate(fd, (off_t)size) == 0 ? 0 : errno;
        return rc;
    }
    static int tw_ftruncate(int fd, uint64_t size) { return ftruncate(fd, (off_t)size) == 0 ? 0 : errno; }
    static int tw_open_segment(int dir_fd, uint64_t first_seq) {
        char name[64];
        snprintf(name, sizeof name, "journal-%012llu.twj", (unsigned long long)first_seq);
        return openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    /* Remove a segment file that holds no record (its creation failed half-way); returns 0 or errno. */
    static int tw_unlink_segment(int dir_fd, uint64_t first_seq) {
        char name[64];
        snprintf(name, sizeof name, "journal-%012llu.twj", (unsigned long long)first_seq);
        return unlinkat(dir_fd, name, 0) == 0 ? 0 : errno;
    }
    static int tw_errno(void) { return errno; }
    /* Rewrite journal.head (newest segment's first seq) atomically: temp file, [fdatasync], rename.
       Returns 0 or errno. A failure only leaves the previous head, which names an older segment:
       that weakens the missing-last-segment check, it never makes a false error. */
    static int tw_write_head(int dir_fd, const uint8_t *rec, size_t n, int do_sync) {
        int fd = openat(dir_fd, "journal.head.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return errno;
        int rc = tw_pwrite_all(fd, rec, n, 0);
        if (!rc && do_sync && fdatasync(fd) != 0) rc = errno;
        close(fd);
        if (!rc && renameat(dir_fd, "journal.head.tmp", dir_fd, "journal.head") != 0) rc = errno;
        if (!rc && do_sync && fsync(dir_fd) != 0) rc = errno;
        return rc;
    }
    static const char TW_JMAGIC[9] = "TWJRNL01";
    static const char TW_JHEAD[9] = "TWJHEAD1";
    #define TW_SEQ_WINDOW (1ull << 40)   /* a resync candidate's seq lies within this of the last good one */
    """
    uint32_t tw_le32(const uint8_t *p) noexcept nogil
    uint64_t tw_le64(const uint8_t *p) noexcept nogil
    void tw_put32(uint8_t *p, uint32_t v) noexcept nogil
    void tw_put64(uint8_t *p, uint64_t v) noexcept nogil
    uint64_t tw_mono_ns() noexcept nogil
    uint64_t tw_real_ns() noexcept nogil
    int tw_pwrite_all(int fd, const void *buf, size_t n, uint64_t off) noexcept nogil
    int tw_fdatasync(int fd) noexcept nogil
    int tw_fsync(int fd) noexcept nogil
    int tw_preallocate(int fd, uint64_t size) noexcept nogil
    int tw_ftruncate(int fd, uint64_t size) noexcept nogil
    int tw_open_segment(int dir_fd, uint64_t first_seq) noexcept nogil
    int tw_unlink_segment(int dir_fd, uint64_t first_seq) noexcept nogil
    int tw_errno() noexcept nogil
    int tw_write_head(int dir_fd, const uint8_t *rec, size_t n, int do_sync) noexcept nogil
    int close(int fd) noexcept nogil
    const char TW_JMAGIC[9]
    const char TW_JHEAD[9]
    const uint64_t SEQ_WINDOW "TW_SEQ_WINDOW"

MAGIC = b"TWJRNL01"
HEAD_MAGIC = b"TWJHEAD1"
HEAD_NAME = "journal.head"
VERSION = JOURNAL_VERSION
SEGMENT_HEADER = JOURNAL_SEGMENT_HEADER
RECORD_OVERHEAD = JOURNAL_RECORD_OVERHEAD
POLICIES = {"never": FSYNC_NEVER, "always": FSYNC_ALWAYS, "batch": FSYNC_BATCH, "commit": FSYNC_COMMIT}

#: code -> (NAME, message) of the JOURNAL_* codes (core/codes.pxd; messaging.records.CODES holds them too).
CODES = {c.value: (c.name, c.message) for c in _codes.CODES.values() if c.name.startswith("JOURNAL_")}


class JournalError(_codes.TickwireError):
    """A journal result code as an exception: ``code``, ``name``, ``reason`` (the code's message),
    ``message`` (the reason and the detail of this occurrence)."""

    def __init__(self, code, detail="", offset=None):
        self.reason = _codes.code_message(code)
        self.detail = detail
        super().__init__(code, self.reason + (f": {detail}" if detail else ""), offset)

    def __reduce__(self):
        return (JournalError, (self.code, self.detail, self.offset))


class JournalCorruption(JournalError):
    """Journal content that must not be replayed nor silently dropped (``path``, ``offset``)."""

    def __init__(self, code, path, offset, detail=""):
        self.path = str(path)
        self.corruption = detail
        super().__init__(code, f"{path} at offset {offset}" + (f" ({detail})" if detail else ""), int(offset))

    def __reduce__(self):
        return (JournalCorruption, (self.code, self.path, self.offset, self.corruption))


def crc32c(data, uint32_t crc=0):
    """CRC32C of a bytes-like object (hardware when available), continuing from ``crc``."""
    cdef const uint8_t[::1] v = memoryview(data).cast("B")
    return tw_crc32c(crc, &v[0] if v.shape[0] else NULL, v.shape[0])


def crc32c_software(data, uint32_t crc=0):
    """Table-driven CRC32C (the fallback path), for tests."""
    cdef const uint8_t[::1] v = memoryview(data).cast("B")
    return tw_crc32c_sw(crc, &v[0] if v.shape[0] else NULL, v.shape[0])


def crc32c_hardware(data, uint32_t crc=0):
    """SSE4.2 CRC32C; raises when the CPU lacks SSE4.2."""
    if not tw_crc32c_has_hw():
        raise RuntimeError("CPU has no SSE4.2 crc32 instruction")
    cdef const uint8_t[::1] v = memoryview(data).cast("B")
    return tw_crc32c_hw(crc, &v[0] if v.shape[0] else NULL, v.shape[0])


def crc32c_has_hardware():
    return bool(tw_crc32c_has_hw())


def segment_name(first_seq):
    return f"journal-{int(first_seq):012d}.twj"


def list_segments(path):
    """Segment files of a journal directory, sorted by first seq: [(first_seq, full path)]."""
    out = []
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return out
    for name in names:
        if name.startswith("journal-") and name.endswith(".twj"):
            try:
                out.append((int(name[8:len(name) - 4]), os.path.join(path, name)))
            except ValueError:
                pass
    out.sort()
    return out


# ------------------------------------------------------------ scanning ----
cdef struct ScanResult:
    uint64_t end            # offset just after the last valid record
    uint64_t last_seq       # seq of the last valid record (the input prev when none)
    uint64_t count          # valid records
    int status              # 0 clean end, 1 torn tail at bad_offset, or JOURNAL_CORRUPT / JOURNAL_SEQ_ORDER
    uint64_t bad_offset     # first byte of the bad region (torn / corrupt)
    uint64_t resync_offset  # JOURNAL_CORRUPT: offset of the valid record found after the bad region
    uint64_t last_off       # offset of the last valid record (when count > 0)


cdef inline int _record_at(const uint8_t *b, uint64_t size, uint64_t off, uint64_t prev_seq,
                           uint32_t max_payload, uint64_t *seq_out, uint64_t *next_out) noexcept nogil:
    """1 valid record with seq > prev_seq, 2 valid CRC but seq not increasing, 0 not a record."""
    if off + JOURNAL_RECORD_OVERHEAD > size:
        return 0
    cdef uint32_t length = tw_le32(b + off)
    if length == 0 or length > max_payload or off + JOURNAL_RECORD_OVERHEAD + length > size:
        return 0
    cdef uint64_t seq = tw_le64(b + off + 4)
    if tw_le32(b + off + 20 + length) != tw_crc32c(0, b + off, 20 + length):
        return 0
    seq_out[0] = seq
    next_out[0] = off + JOURNAL_RECORD_OVERHEAD + length
    return 1 if seq > prev_seq else 2


cdef bint _all_zero(const uint8_t *b, uint64_t start, uint64_t size) noexcept nogil:
    cdef uint64_t i = start
    while i < size and (i & 7):
        if b[i]:
            return False
        i += 1
    while i + 8 <= size:
        if tw_le64(b + i):
            return False
        i += 8
    while i < size:
        if b[i]:
            return False
        i += 1
    return True


cdef ScanResult _scan(const uint8_t *b, uint64_t size, uint64_t start, uint64_t prev_seq,
                      uint64_t first_seq, uint32_t max_payload) noexcept nogil:
    """Walk the records of one segment body from ``start``."""
    cdef ScanResult r
    cdef uint64_t off = start, seq = 0, nxt = 0, y, cand, s2, n2
    cdef int k
    r.count = 0
    r.status = 0
    r.bad_offset = 0
    r.resync_offset = 0
    r.last_off = 0
    r.last_seq = prev_seq
    while True:
        k = _record_at(b, size, off, r.last_seq, max_payload, &seq, &nxt)
        if k == 1:
            if r.count == 0 and first_seq and seq != first_seq:
                r.status = JOURNAL_SEQ_ORDER
                r.bad_offset = off
                break
            r.last_seq = seq
            r.last_off = off
            r.count += 1
            off = nxt
            continue
        if k == 2:
            r.status = JOURNAL_SEQ_ORDER
            r.bad_offset = off
            break
        if _all_zero(b, off, size):
            break                                  # clean end (preallocated zeros or end of file)
        # Garbage at `off`: corruption if any valid record follows, else a torn tail.
        r.bad_offset = off
        r.status = 1
        y = off + 1
        while y + JOURNAL_RECORD_OVERHEAD <= size:
            cand = tw_le64(b + y + 4)
            if cand > r.last_seq and cand - r.last_seq < SEQ_WINDOW:
                if _record_at(b, size, y, r.last_seq, max_payload, &s2, &n2) == 1:
                    r.status = JOURNAL_CORRUPT
                    r.resync_offset = y
                    break
            y += 1
        break
    r.end = off
    return r


cdef class _Segment:
    """One segment file's scan result (Python-level bookkeeping at open/replay)."""
    cdef public object path
    cdef public uint64_t first_seq, end, last_seq, count, size, bad_offset, resync_offset, last_off
    cdef public uint64_t prev_seq           # chain fields of a version-2 header
    cdef public uint32_t prev_crc, last_crc, version
    cdef public int64_t last_ts
    cdef public int status
    cdef public bint header_ok


cdef _Segment _scan_file(str path, uint64_t prev_seq, uint32_t max_payload):
    cdef _Segment s = _Segment()
    cdef const uint8_t[::1] v
    cdef ScanResult r
    s.path = path
    s.size = os.path.getsize(path)
    s.header_ok = False
    s.status = 0
    s.count = 0
    s.end = 0
    s.last_seq = prev_seq
    if s.size < JOURNAL_SEGMENT_HEADER:
        s.status = 1            # torn segment creation (header never fully written)
        s.bad_offset = 0
        return s
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        v = mm
        if (bytes(mm[:8]) != MAGIC
                or tw_le32(&v[8]) not in (JOURNAL_VERSION, JOURNAL_VERSION_UNCHAINED)
                or tw_le32(&v[12]) != JOURNAL_SEGMENT_HEADER
                or tw_le32(&v[60]) != tw_crc32c(0, &v[0], 60)):
            s.status = 1
            s.bad_offset = 0
            if not _all_zero(&v[0], JOURNAL_SEGMENT_HEADER, s.size):
                s.status = JOURNAL_BAD_HEADER        # records behind a bad header: never drop them silently
            return s
        s.header_ok = True
        s.first_seq = tw_le64(&v[16])
        s.version = tw_le32(&v[8])
        if s.version >= 2:
            s.prev_seq = tw_le64(&v[36])
            s.prev_crc = tw_le32(&v[44])
        with nogil:
            r = _scan(&v[0], s.size, JOURNAL_SEGMENT_HEADER, prev_seq, s.first_seq, max_payload)
        s.end = r.end
        s.last_seq = r.last_seq
        s.count = r.count
        s.status = r.status
        s.bad_offset = r.bad_offset
        s.resync_offset = r.resync_offset
        s.last_off = r.last_off
        s.last_ts = <int64_t>tw_le64(&v[r.last_off + 12]) if r.count else 0
        s.last_crc = tw_le32(&v[r.last_off + 20 + tw_le32(&v[r.last_off])]) if r.count else 0
    finally:
        v = None
        mm.close()
    return s


def read_head(path):
    """First seq of the newest segment as ``journal.head`` records it, or None (absent or unreadable)."""
    try:
        with open(os.path.join(path, HEAD_NAME), "rb") as f:
            raw = f.read(64)
    except OSError:
        return None
    if len(raw) != 20 or raw[:8] != HEAD_MAGIC or int.from_bytes(raw[16:20], "little") != crc32c(raw[:16]):
        return None
    return int.from_bytes(raw[8:16], "little")


def _head_record(uint64_t first_seq):
    rec = HEAD_MAGIC + int(first_seq).to_bytes(8, "little")
    return rec + int(crc32c(rec)).to_bytes(4, "little")


def scan_journal(path, bint repair=False, uint32_t max_payload=1 << 20):
    """Verify a journal directory; with ``repair`` truncate a torn tail (never replayed).

    Returns
    -------
    dict : ``segments`` [(first_seq, path, end, count)], ``last_seq``, ``records``, ``last_crc``,
    ``torn`` None or {"path", "offset", "after_seq", "discarded_bytes", "removed_segments"}
    (``discarded_bytes``: non-zero bytes from ``offset`` on, i.e. what a repair cuts).

    Raises
    ------
    JournalCorruption : a bad record followed by valid ones (mid-journal), a bad segment header
    that is not the tail, sequence disorder, or a missing segment (JOURNAL_SEGMENT_MISSING: the chain
    of version-2 headers is broken, or ``journal.head`` names a segment that is not there).
    """
    segs = list_segments(path)
    scanned = []
    cdef uint64_t prev = 0
    cdef uint32_t prev_crc = 0
    cdef _Segment s
    torn_at = None
    for i, (name_seq, p) in enumerate(segs):
        s = _scan_file(p, prev, max_payload)
        if s.header_ok and s.first_seq != name_seq:
            raise JournalCorruption(JOURNAL_BAD_HEADER, p, 16, f"header first_seq {s.first_seq} != file name")
        if s.header_ok and s.version >= 2 and (s.prev_seq != prev or s.prev_crc != prev_crc):
            _chain_broken(s, i, prev, segs)
        if s.status == JOURNAL_CORRUPT:
            raise JournalCorruption(JOURNAL_CORRUPT, p, s.bad_offset,
                                    f"valid record follows at offset {s.resync_offset}")
        if s.status == JOURNAL_SEQ_ORDER:
            raise JournalCorruption(JOURNAL_SEQ_ORDER, p, s.bad_offset)
        if s.status == JOURNAL_BAD_HEADER:
            raise JournalCorruption(JOURNAL_BAD_HEADER, p, 0, "segment body holds data")
        scanned.append(s)
        prev = s.last_seq
        if s.count:
            prev_crc = s.last_crc
        if s.status == 1:
            torn_at = i
            break
    head = read_head(path)
    if head is not None and head not in {q for q, _ in segs} and (not segs or head > segs[len(segs) - 1][0]):
        raise JournalCorruption(JOURNAL_SEGMENT_MISSING, os.path.join(path, segment_name(head)), 0,
                                f"last segment missing: {HEAD_NAME} names it as the newest; the journal "
                                f"ends at seq {prev} in " + (segs[len(segs) - 1][1] if segs else "no segment"))
    torn = None
    if torn_at is not None:
        s = scanned[torn_at]
        later = segs[torn_at + 1:]
        for _, p in later:   # any record after a torn region means records were lost in the middle
            t = _scan_file(p, 0, max_payload)
            if t.count:
                raise JournalCorruption(JOURNAL_SEGMENT_GAP if s.header_ok else JOURNAL_BAD_HEADER, s.path,
                                        s.bad_offset, f"{p} holds {t.count} records")
        torn = {"path": s.path, "offset": int(s.bad_offset if s.header_ok else 0), "after_seq": int(prev),
                "discarded_bytes": 0, "removed_segments": [p for _, p in later]}
        if s.header_ok:
            with open(s.path, "rb") as f:
                f.seek(s.bad_offset)
                torn["discarded_bytes"] = len(f.read().rstrip(b"\0"))
        else:                         # torn creation of the newest segment: no records in it
            with open(s.path, "rb") as f:
                torn["discarded_bytes"] = len(f.read().rstrip(b"\0"))
            torn["removed_segments"].insert(0, s.path)
        if repair:
            if s.header_ok:
                with open(s.path, "r+b") as f:
                    f.truncate(s.bad_offset)
                    os.fsync(f.fileno())
            else:
                scanned.pop()
            for p in torn["removed_segments"]:
                os.unlink(p)
            if head is not None and torn["removed_segments"]:   # the head must not name a removed segment
                _write_head(path, scanned[len(scanned) - 1].first_seq if scanned else None)
            _fsync_dir(path)
    return {
        "segments": [(int(x.first_seq), x.path, int(x.end), int(x.count)) for x in scanned],
        "last_ts_ns": int(next((x.last_ts for x in reversed(scanned) if x.count), 0)),
        "last_seq": int(prev),
        "last_crc": int(prev_crc),
        "records": int(sum(x.count for x in scanned)),
        "torn": torn,
    }


def _chain_broken(_Segment s, Py_ssize_t i, uint64_t prev, segs):
    """Raise JOURNAL_SEGMENT_MISSING for segment ``i`` whose header does not chain to what precedes it."""
    if i == 0:
        where = f"first segment(s) missing: the journal's first file chains to seq {s.prev_seq}"
    elif s.prev_seq > prev:
        where = (f"middle segment(s) missing between {os.path.basename(segs[i - 1][1])} (ends at seq {prev}) and "
                 f"this one (chains to seq {s.prev_seq})")
    else:
        where = (f"chain broken after {os.path.basename(segs[i - 1][1])}: header names seq {s.prev_seq} "
                 f"crc {s.prev_crc:#010x}, the segment before ends at seq {prev}")
    raise JournalCorruption(JOURNAL_SEGMENT_MISSING, s.path, 36, where)


def _write_head(path, first_seq):
    """Point ``journal.head`` at ``first_seq`` (None: remove it), atomically."""
    final = os.path.join(path, HEAD_NAME)
    if first_seq is None:
        os.unlink(final)
        return
    with open(final + ".tmp", "wb") as f:
        f.write(_head_record(first_seq))
        f.flush()
        os.fsync(f.fileno())
    os.replace(final + ".tmp", final)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -------------------------------------------------------------- reading ----
cdef Py_ssize_t _collect(const uint8_t *b, uint64_t start, uint64_t end, uint64_t from_seq, uint64_t to_seq,
                         uint64_t[::1] offs, Py_ssize_t n) noexcept nogil:
    """Offsets of the records in [from_seq, to_seq] of one verified segment body, appended at offs[n:]."""
    cdef uint64_t off = start, seq
    cdef uint32_t length
    while off < end:
        length = tw_le32(b + off)
        seq = tw_le64(b + off + 4)
        if seq > to_seq:
            break
        if seq >= from_seq:
            offs[n] = off
            n += 1
        off += JOURNAL_RECORD_OVERHEAD + length
    return n


def iter_records(path, from_seq=1, to_seq=None, uint32_t max_payload=1 << 20):
    """Yield ``(seq, ts_ns, payload bytes)`` of a verified journal, in order.

    Stops before a torn tail (without modifying the files; ``Journal()`` truncates
    it on open); raises JournalCorruption on mid-journal corruption.
    """
    info = scan_journal(path, repair=False, max_payload=max_payload)
    cdef uint64_t lo = from_seq, hi = to_seq if to_seq is not None else 0xFFFFFFFFFFFFFFFF
    for first_seq, p, end, count in info["segments"]:
        if not count:
            continue
        with open(p, "rb") as f:
            data = f.read(end)
        off = JOURNAL_SEGMENT_HEADER
        while off < end:
            length = int.from_bytes(data[off:off + 4], "little")
            seq = int.from_bytes(data[off + 4:off + 12], "little")
            if seq > hi:
                return
            if seq >= lo:
                ts = int.from_bytes(data[off + 12:off + 20], "little", signed=True)
                yield seq, ts, data[off + 20:off + 20 + length]
            off += JOURNAL_RECORD_OVERHEAD + length


def read_records(path, from_seq=1, to_seq=None, record_size=None, uint32_t max_payload=1 << 20):
    """All records in [from_seq, to_seq] as arrays: ``(seq u8[n], ts_ns i8[n], payload u1[n, record_size])``.

    Every payload must be ``record_size`` bytes (e.g. 96 for a Command; view
    the result with ``payload.view(COMMAND_DTYPE)[:, 0]``).
    """
    info = scan_journal(path, repair=False, max_payload=max_payload)
    cdef uint64_t lo = from_seq, hi = to_seq if to_seq is not None else 0xFFFFFFFFFFFFFFFF
    cdef Py_ssize_t n, i, k
    cdef uint64_t c_end
    cdef const uint8_t[::1] v
    cdef uint64_t[::1] offs
    seqs, tss, pays = [], [], []
    for first_seq, p, end, count in info["segments"]:
        if not count:
            continue
        with open(p, "rb") as f:
            data = f.read(end)
        v = data
        offs_arr = np.empty(count, np.uint64)
        offs = offs_arr
        c_end = end
        with nogil:
            n = _collect(&v[0], JOURNAL_SEGMENT_HEADER, c_end, lo, hi, offs, 0)
        if n == 0:
            continue
        offs_arr = offs_arr[:n].astype(np.int64)
        raw = np.frombuffer(data, np.uint8)
        lens = raw[offs_arr[:, None] + np.arange(4)].view("<u4").ravel()
        size = int(lens[0]) if record_size is None else int(record_size)
        if (lens != size).any():
            raise JournalError(JOURNAL_BAD_LENGTH, f"{p}: payload lengths differ from record_size {size}")
        seqs.append(raw[offs_arr[:, None] + np.arange(4, 12)].copy().view("<u8").ravel())
        tss.append(raw[offs_arr[:, None] + np.arange(12, 20)].copy().view("<i8").ravel())
        pays.append(raw[offs_arr[:, None] + np.arange(20, 20 + size)])
    if not seqs:
        size = 0 if record_size is None else int(record_size)
        return np.empty(0, np.uint64), np.empty(0, np.int64), np.empty((0, size), np.uint8)
    return np.concatenate(seqs), np.concatenate(tss), np.ascontiguousarray(np.concatenate(pays))


# -------------------------------------------------------------- writing ----
cdef class Journal:
    """Appender of one journal directory; opening verifies it and truncates a torn tail.

    Parameters
    ----------
    path : directory (created when missing).
    fsync : "always" (fdatasync per record), "batch" (every ``fsync_every`` records
        or ``fsync_interval_us`` microseconds, whichever first), "commit" (one fdatasync per
        ``commit()``, i.e. per engine-loop batch: group commit) or "never" (page cache only).
    segment_bytes : roll to a new segment file beyond this size.
    prealloc_bytes : extend a segment in steps of this size (posix_fallocate).
    max_payload : largest payload accepted.
    buffered : write-behind: records collect in a ``write_buffer``-byte buffer and are written with
        one ``pwrite`` at ``commit()`` (the loop calls it before releasing a batch's events), at
        ``sync()``, when the buffer is full, and at ``close()``. A crash loses only records of a
        batch whose events were never released. Off for policy "always".
    """

    def __cinit__(self):
        self.fd = -1
        self.dir_fd = -1
        self.buf = NULL
        self.wbuf = NULL

    def __init__(self, path, fsync="batch", fsync_every=64, fsync_interval_us=1000,
                 segment_bytes=64 << 20, prealloc_bytes=4 << 20, max_payload=4096, buffered=False,
                 write_buffer=256 << 10):
        if fsync not in POLICIES:
            raise ValueError(f"fsync policy must be one of {sorted(POLICIES)}, not {fsync!r}")
        if int(fsync_every) < 1:
            raise ValueError("fsync_every must be >= 1")
        if int(segment_bytes) < JOURNAL_SEGMENT_HEADER + JOURNAL_RECORD_OVERHEAD + int(max_payload):
            raise ValueError("segment_bytes too small for one record of max_payload")
        self.path = os.fspath(path)
        os.makedirs(self.path, exist_ok=True)
        self.policy = POLICIES[fsync]
        self.sync_every = fsync_every
        self.sync_interval_ns = <uint64_t>fsync_interval_us * 1000
        self.segment_bytes = segment_bytes
        self.prealloc_bytes = max(int(prealloc_bytes), 4096)
        self.max_payload = max_payload
        self.buf = <unsigned char *>malloc(self.max_payload + JOURNAL_RECORD_OVERHEAD)
        if self.buf == NULL:
            raise MemoryError()
        # "always" means one write + fdatasync per record: never buffered.
        self.buffered = bool(buffered) and self.policy != FSYNC_ALWAYS
        if self.buffered:
            self.wcap = max(int(write_buffer), self.max_payload + JOURNAL_RECORD_OVERHEAD)
            self.wbuf = <unsigned char *>malloc(self.wcap)
            if self.wbuf == NULL:
                raise MemoryError()
        # One writer per directory: an exclusive flock on the directory, released by the kernel
        # when the process dies (SIGKILL included), so recovery can always take it.
        import fcntl
        self.dir_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(self.dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            close(self.dir_fd)
            self.dir_fd = -1
            raise JournalError(JOURNAL_LOCKED, self.path) from None
        info = scan_journal(self.path, repair=True, max_payload=self.max_payload)
        self.recovery = info
        self.last_seq = info["last_seq"]
        if info["segments"]:
            first_seq, p, end, count = info["segments"][len(info["segments"]) - 1]
            self.fd = os.open(p, os.O_WRONLY | os.O_CLOEXEC)
            self.seg_first_seq = first_seq
            self.offset = end
            self.flushed = end
            self.allocated = os.fstat(self.fd).st_size
            self.last_ts_ns = info["last_ts_ns"]
        self.last_crc = info["last_crc"]
        self.failed = 0

    def __dealloc__(self):
        # No flush or sync here: a finaliser cannot report a failure (close() does); what was
        # committed is in the file already.
        if self.fd >= 0:
            close(self.fd)
        if self.dir_fd >= 0:
            close(self.dir_fd)
        if self.buf != NULL:
            free(self.buf)
        if self.wbuf != NULL:
            free(self.wbuf)

    # ------------------------------------------------------------ hot path ----
    cdef int64_t append(self, const void *payload, uint32_t length, uint64_t seq, int64_t ts_ns) noexcept nogil:
        cdef int rc
        cdef uint64_t rec = JOURNAL_RECORD_OVERHEAD + length, now
        cdef uint32_t crc
        cdef unsigned char *dst
        if self.dir_fd < 0:
            return JOURNAL_CLOSED
        if self.failed:
            return JOURNAL_FAILED_STICKY
        if length == 0 or length > self.max_payload:
            return JOURNAL_BAD_LENGTH
        if seq == 0:
            seq = self.last_seq + 1
        elif seq <= self.last_seq:
            return JOURNAL_SEQ_NOT_INCREASING
        if self.fd < 0 or (self.offset + rec > self.segment_bytes and self.offset > JOURNAL_SEGMENT_HEADER):
            rc = self._roll(seq)
            if rc < 0:
                return rc
        if self.offset + rec > self.allocated:
            rc = self._extend(self.offset + rec)
            if rc < 0:
                return rc
        if self.buffered:
            if self.offset - self.flushed + rec > self.wcap:
                rc = self.flush_buffer()
                if rc < 0:
                    return rc
            dst = self.wbuf + (self.offset - self.flushed)
        else:
            dst = self.buf
        tw_put32(dst, length)
        tw_put64(dst + 4, seq)
        tw_put64(dst + 12, <uint64_t>ts_ns)
        memcpy(dst + 20, payload, length)
        crc = tw_crc32c(0, dst, 20 + length)
        tw_put32(dst + 20 + length, crc)
        if not self.buffered:
            rc = tw_pwrite_all(self.fd, dst, rec, self.offset)
            if rc:
                self.last_errno = rc
                self.failed = JOURNAL_WRITE     # a partial record may be on disk: reopen truncates it as torn
                return JOURNAL_WRITE
            self.flushed = self.offset + rec
        self.offset += rec
        self.last_seq = seq
        self.last_ts_ns = ts_ns
        self.last_crc = crc
        self.appends += 1
        self.bytes_written += rec
        if self.policy == FSYNC_ALWAYS:
            rc = self.sync()
            if rc < 0:
                return rc
        elif self.policy == FSYNC_COMMIT:
            self.unsynced += 1
        elif self.policy == FSYNC_BATCH:
            now = tw_mono_ns()
            if self.unsynced == 0:
                self.unsynced_since_ns = now
            self.unsynced += 1
            if self.unsynced >= self.sync_every or now - self.unsynced_since_ns >= self.sync_interval_ns:
                rc = self.sync()
                if rc < 0:
                    return rc
        return <int64_t>seq

    cdef int flush_buffer(self) noexcept nogil:
        cdef int rc
        if self.offset > self.flushed and self.fd >= 0:
            rc = tw_pwrite_all(self.fd, self.wbuf, self.offset - self.flushed, self.flushed)
            if rc:
                self.last_errno = rc
                self.failed = JOURNAL_WRITE
                return JOURNAL_WRITE
            self.flushed = self.offset
        return JR_OK

    cdef int sync(self) noexcept nogil:
        cdef int rc
        if self.fd < 0:
            return JR_OK
        rc = self.flush_buffer()
        if rc < 0:
            return rc
        rc = tw_fdatasync(self.fd)
        if rc:
            # After a failed fsync the kernel may have dropped the dirty pages: never retry (fsyncgate).
            self.last_errno = rc
            self.failed = JOURNAL_FSYNC
            return JOURNAL_FSYNC
        self.syncs += 1
        self.unsynced = 0
        return JR_OK

    cdef int poll(self) noexcept nogil:
        if self.policy == FSYNC_BATCH and self.unsynced and not self.failed:
            if tw_mono_ns() - self.unsynced_since_ns >= self.sync_interval_ns:
                return self.sync()
        return JR_OK

    cdef int commit(self) noexcept nogil:
        cdef int rc
        if self.failed:
            return self.failed
        rc = self.flush_buffer()
        if rc < 0:
            return rc
        if self.policy == FSYNC_COMMIT and self.unsynced:
            return self.sync()
        return self.poll()

    cdef int _extend(self, uint64_t need) noexcept nogil:
        cdef uint64_t size = self.allocated
        cdef int rc
        while size < need:
            size += self.prealloc_bytes
        if size > self.segment_bytes and need <= self.segment_bytes:
            size = self.segment_bytes
        rc = tw_preallocate(self.fd, size)
        if rc:
            # Not sticky here: nothing was written, so a later retry (space freed) is safe. A failure
            # while creating a segment is made sticky by _roll.
            self.last_errno = rc
            return JOURNAL_PREALLOCATE
        self.allocated = size
        return JR_OK

    cdef int _roll(self, uint64_t first_seq) noexcept nogil:
        cdef uint8_t hdr[64]
        cdef uint8_t head[20]
        cdef int rc, fd
        if self.fd >= 0:
            rc = self.flush_buffer()
            if rc < 0:
                return rc
            if self.policy != FSYNC_NEVER and self.unsynced:
                rc = self.sync()
                if rc < 0:
                    return rc
            # Result ignored: the trim only gives back the unused preallocation (zeros after the data
            # read as a clean end), and close cannot lose data that was written (and synced per policy).
            tw_ftruncate(self.fd, self.offset)
            close(self.fd)
            self.fd = -1
        fd = tw_open_segment(self.dir_fd, first_seq)
        if fd < 0:
            self.last_errno = tw_errno()
            self.failed = JOURNAL_SEGMENT
            return JOURNAL_SEGMENT
        memset(hdr, 0, 64)
        memcpy(hdr, TW_JMAGIC, 8)
        tw_put32(hdr + 8, JOURNAL_VERSION)
        tw_put32(hdr + 12, JOURNAL_SEGMENT_HEADER)
        tw_put64(hdr + 16, first_seq)
        tw_put64(hdr + 24, tw_real_ns())
        tw_put32(hdr + 32, self.max_payload)
        tw_put64(hdr + 36, self.last_seq)      # chain: a deleted segment breaks the next one's link
        tw_put32(hdr + 44, self.last_crc)
        tw_put32(hdr + 60, tw_crc32c(0, hdr, 60))
        self.fd = fd
        self.allocated = 0
        self.offset = JOURNAL_SEGMENT_HEADER
        self.flushed = JOURNAL_SEGMENT_HEADER
        rc = self._extend(self.prealloc_bytes if self.prealloc_bytes < self.segment_bytes else self.segment_bytes)
        if rc < 0:
            return self._abandon_segment(first_seq, rc)
        rc = tw_pwrite_all(fd, hdr, 64, 0)
        if rc:
            self.last_errno = rc
            return self._abandon_segment(first_seq, JOURNAL_WRITE)
        if self.policy != FSYNC_NEVER:
            # The new file and its directory entry must be durable before records in it are acknowledged.
            rc = tw_fdatasync(fd)
            if rc == 0:
                rc = tw_fsync(self.dir_fd)
            if rc:
                self.last_errno = rc
                return self._abandon_segment(first_seq, JOURNAL_FSYNC)
        self.seg_first_seq = first_seq
        self.segments_created += 1
        memcpy(head, TW_JHEAD, 8)
        tw_put64(head + 8, first_seq)
        tw_put32(head + 16, tw_crc32c(0, head, 16))
        # Result ignored: a stale head names an older segment, which only weakens the missing-last-segment
        # check (docs/journal.md); the segment itself is ready and durable per policy.
        tw_write_head(self.dir_fd, head, 20, self.policy != FSYNC_NEVER)
        return JR_OK

    cdef int _abandon_segment(self, uint64_t first_seq, int code) noexcept nogil:
        """A new segment could not be made ready: drop it (it holds no record) and fail sticky with ``code``."""
        close(self.fd)              # result ignored: nothing of this file is kept
        self.fd = -1
        # Result ignored: a leftover empty or header-only file is removed as torn segment creation
        # by the next open; the journal is failed either way.
        tw_unlink_segment(self.dir_fd, first_seq)
        self.failed = code
        return code

    # ------------------------------------------------------------ Python API ----
    def append_bytes(self, payload, seq=0, ts_ns=0):
        """Append one payload (bytes-like); returns its seq, raises JournalError on a code."""
        cdef const uint8_t[::1] v = memoryview(payload).cast("B")
        cdef int64_t r
        if v.shape[0] == 0:
            raise JournalError(JOURNAL_BAD_LENGTH, "empty payload")
        r = self.append(&v[0], v.shape[0], seq, ts_ns)
        if r < 0:
            raise JournalError(r, os.strerror(self.last_errno) if self.last_errno else "")
        return r

    def bench_appends(self, payload, Py_ssize_t n, int64_t interval_ns=0, Py_ssize_t commit_every=0):
        """Benchmark helper: ``n`` appends of ``payload``; per-append latency (ns, int64 array).

        ``interval_ns`` > 0: appends are scheduled at fixed intended times and latency is measured
        from the intended time (no coordinated omission: a stall delays the following appends and
        they all count it). ``commit_every`` > 0: ``commit()`` after that many appends (group commit),
        its time charged to the append that triggers it.
        """
        cdef const uint8_t[::1] v = memoryview(payload).cast("B")
        out = np.empty(n, np.int64)
        cdef int64_t[::1] lat = out
        cdef Py_ssize_t i
        cdef uint64_t t0, start, intended, t1
        cdef int64_t r
        with nogil:
            start = tw_mono_ns()
            for i in range(n):
                intended = start + <uint64_t>(i * interval_ns) if interval_ns > 0 else 0
                if interval_ns > 0:
                    while tw_mono_ns() < intended:
                        pass
                t0 = tw_mono_ns()
                r = self.append(&v[0], v.shape[0], 0, <int64_t>t0)
                if r >= 0 and commit_every > 0 and (i + 1) % commit_every == 0:
                    r = self.commit()
                t1 = tw_mono_ns()
                if r < 0:
                    break
                lat[i] = <int64_t>(t1 - (intended if interval_ns > 0 else t0))
        if r < 0:
            raise JournalError(r, os.strerror(self.last_errno) if self.last_errno else "")
        return out

    def fsync(self):
        """fdatasync now (any policy)."""
        cdef int rc = self.sync()
        if rc < 0:
            raise JournalError(rc, os.strerror(self.last_errno))

    def poll_sync(self):
        """Batch policy: fdatasync if the interval elapsed (call from an idle loop)."""
        cdef int rc = self.poll()
        if rc < 0:
            raise JournalError(rc, os.strerror(self.last_errno))

    def flush(self):
        """Buffered mode: write the buffered records now (they then survive a process crash)."""
        cdef int rc = self.flush_buffer()
        if rc < 0:
            raise JournalError(rc, os.strerror(self.last_errno) if self.last_errno else "")

    def commit_batch(self):
        """What the loop calls after a batch (see ``commit``); raises JournalError on failure."""
        cdef int rc = self.commit()
        if rc < 0:
            raise JournalError(rc, os.strerror(self.last_errno) if self.last_errno else "")

    def close(self):
        """Write the buffer, fdatasync (unless policy never), give back the unused preallocation, close.

        Raises
        ------
        JournalError : the final write or fdatasync failed (the journal is closed all the same); a
            journal that had failed before closes without raising (its code was reported then).
        """
        cdef int rc = 0
        if self.fd >= 0:
            if not self.failed:
                rc = self.flush_buffer()
            if rc == 0 and self.policy != FSYNC_NEVER and not self.failed:
                rc = self.sync()
            # Trim and close results ignored: zeros after the data read as a clean end, and the data
            # is already written (and synced per policy) or its failure is reported below.
            tw_ftruncate(self.fd, self.flushed)
            close(self.fd)
            self.fd = -1
        if self.dir_fd >= 0:
            close(self.dir_fd)      # result ignored: a directory fd holds no data (releases the flock)
            self.dir_fd = -1
        if rc < 0:
            raise JournalError(rc, os.strerror(self.last_errno) if self.last_errno else "")

    @property
    def closed(self):
        return self.dir_fd < 0

    @property
    def write_offset(self):
        return self.offset

    @property
    def unsynced_records(self):
        return self.unsynced

    def stats(self):
        return {"appends": self.appends, "bytes": self.bytes_written, "syncs": self.syncs,
                "segments_created": self.segments_created, "last_seq": self.last_seq,
                "failed": self.failed, "last_errno": self.last_errno}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_hook(path, fsync="batch", buffered=True, **kw):
    """A ``Journal`` on ``path`` wrapped as the engine loop's JournalHook (``engine.hooks.JournalAdapter``).

    Buffered by default: the loop commits every batch before releasing its events.
    """
    from engine.hooks import JournalAdapter
    return JournalAdapter(Journal(path, fsync=fsync, buffered=buffered, **kw))
