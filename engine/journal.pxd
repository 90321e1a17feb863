# cython: language_level=3
"""Crash-safe command journal: sequenced, CRC32C-framed records in segment files.

Contract used by the engine loop: every inbound command is appended (and, per
the fsync policy, made durable) before the events it causes are released.
Format, torn-tail rules and fsync policies: docs/journal.md.

Segment file ``journal-<first_seq:012d>.twj``::

    @0  magic     8s   b"TWJRNL01"
    @8  version   u32  2 (1: no chain fields, still read)
    @12 hdr_size  u32  64
    @16 first_seq u64  sequence of the segment's first record
    @24 created   u64  CLOCK_REALTIME ns at creation
    @32 max_payload u32
    @36 prev_seq  u64  chain: last seq of the journal before this segment (0: the journal's first segment)
    @44 prev_crc  u32  chain: crc field of that record (0 when prev_seq is 0)
    @48 reserved  12 bytes (zero)
    @60 hdr_crc   u32  CRC32C of bytes 0..59

``journal.head`` (rewritten atomically after each new segment): b"TWJHEAD1", first_seq u64 of the
newest segment, CRC32C u32 of the 16 bytes before: a deleted last segment is then detectable.

Record (little-endian, unaligned)::

    @0  length  u32  payload length
    @4  seq     u64  strictly increasing over the whole journal
    @12 ts_ns   u64  command timestamp (engine clock)
    @20 payload length bytes (a messaging.records Command)
    @20+length crc u32  CRC32C of bytes 0 .. 20+length-1 (header + payload)
"""
from core.codes cimport (JOURNAL_CLOSED, JOURNAL_FAILED_STICKY, JOURNAL_BAD_LENGTH, JOURNAL_SEQ_NOT_INCREASING,
                         JOURNAL_WRITE, JOURNAL_FSYNC, JOURNAL_PREALLOCATE, JOURNAL_SEGMENT, JOURNAL_LOCKED,
                         JOURNAL_BAD_HEADER, JOURNAL_CORRUPT, JOURNAL_SEQ_ORDER, JOURNAL_SEGMENT_GAP,
                         JOURNAL_SEGMENT_MISSING)
from libc.stdint cimport int64_t, uint32_t, uint64_t


# ------------------------------------------------------------ codes ----
cdef enum:
    JOURNAL_SEGMENT_HEADER = 64         # bytes of a segment header
    JOURNAL_RECORD_OVERHEAD = 24        # length + seq + ts + crc
    JOURNAL_VERSION = 2                 # 2: segments chained (prev_seq, prev_crc); 1 is still read
    JOURNAL_VERSION_UNCHAINED = 1

    FSYNC_NEVER = 0                     # page cache only: survives a process crash, not a power loss
    FSYNC_ALWAYS = 1                    # fdatasync after every record
    FSYNC_BATCH = 2                     # fdatasync every N records or T microseconds, whichever first
    FSYNC_COMMIT = 3                    # group commit: one fdatasync per commit() (per loop batch)

    JR_OK = 0                           # the negative results are core/codes.pxd's JOURNAL_* (-210..)
    # JOURNAL_WRITE / JOURNAL_FSYNC / JOURNAL_PREALLOCATE leave the errno in last_errno; a failed write
    # or fsync is sticky (``failed``); read/open errors (-220..) are raised as JournalCorruption with
    # file and offset.


# ----------------------------------------------------------- Journal ----
cdef class Journal:
    # ------------------------------------------------------------ state ----
    cdef int fd                         # open segment, -1 when closed
    cdef int dir_fd                     # journal directory (fsynced after a segment is created)
    cdef readonly object path           # directory (str)
    cdef readonly int policy            # FSYNC_*
    cdef readonly uint32_t sync_every   # FSYNC_BATCH: records per fdatasync
    cdef readonly uint64_t sync_interval_ns  # FSYNC_BATCH: max age of the oldest unsynced record
    cdef readonly uint64_t segment_bytes     # roll to a new segment beyond this size
    cdef readonly uint64_t prealloc_bytes    # extend the file by this step (posix_fallocate)
    cdef readonly uint32_t max_payload
    cdef uint64_t seg_first_seq         # first seq of the open segment
    cdef uint64_t offset                # write offset in the open segment
    cdef uint64_t allocated             # preallocated size of the open segment
    cdef readonly uint64_t last_seq     # last appended seq (0 = empty journal)
    cdef readonly int64_t last_ts_ns    # ts of the last appended record
    cdef uint32_t last_crc              # crc field of the last appended record (the next segment's prev_crc)
    cdef uint32_t unsynced              # records written since the last fdatasync
    cdef uint64_t unsynced_since_ns     # CLOCK_MONOTONIC of the oldest unsynced record
    cdef unsigned char *buf             # record build buffer (max_payload + overhead)
    cdef unsigned char *wbuf            # buffered mode: records not yet written, file bytes [flushed, offset)
    cdef uint64_t wcap                  # capacity of wbuf
    cdef uint64_t flushed               # file offset up to which records have been written
    cdef readonly bint buffered         # write-behind until commit() / sync() / a full buffer
    cdef readonly int failed            # sticky JOURNAL_* once a write/fsync failed, else 0
    cdef readonly int last_errno
    # counters
    cdef readonly uint64_t appends
    cdef readonly uint64_t bytes_written
    cdef readonly uint64_t syncs
    cdef readonly uint64_t segments_created
    cdef readonly object recovery       # dict: what open() found (records, torn tail truncated, ...)

    # ------------------------------------------------------------ calls ----
    cdef int64_t append(self, const void *payload, uint32_t length, uint64_t seq, int64_t ts_ns) noexcept nogil
    """Append one record; ``seq == 0`` takes ``last_seq + 1``.

    Returns
    -------
    int64 : the record's seq (> 0), or a JOURNAL_* code (< 0); nothing is written on error.
    """
    cdef int sync(self) noexcept nogil
    """fdatasync the open segment now. Returns JR_OK or JOURNAL_FSYNC (sticky)."""
    cdef int poll(self) noexcept nogil
    """FSYNC_BATCH: fdatasync if the oldest unsynced record is older than the interval (call when idle)."""
    cdef int commit(self) noexcept nogil
    """End of a loop batch, before its events are released: writes buffered records, then
    FSYNC_COMMIT syncs, FSYNC_BATCH polls."""
    cdef int flush_buffer(self) noexcept nogil
    """Buffered mode: write the buffered records (one pwrite). JR_OK or JOURNAL_WRITE (sticky)."""
    cdef int _roll(self, uint64_t first_seq) noexcept nogil
    cdef int _extend(self, uint64_t need) noexcept nogil
    cdef int _abandon_segment(self, uint64_t first_seq, int code) noexcept nogil
