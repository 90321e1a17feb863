"""Journal: CRC32C vectors, framing, segments, torn tail, mid-file corruption, fsync policies."""
import os
import struct

import pytest

from engine import journal as J

HDR = J.SEGMENT_HEADER
OVH = J.RECORD_OVERHEAD


# ------------------------------------------------------------------ CRC32C ----
VECTORS = [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),
    (b"a", 0xC1D04330),
    (bytes(32), 0x8A9136AA),          # RFC 3720 B.4: 32 bytes of zeros
    (b"\xff" * 32, 0x62A8AB43),       # RFC 3720 B.4: 32 bytes of 0xFF
    (bytes(range(32)), 0x46DD794E),   # RFC 3720 B.4: incrementing
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]


@pytest.mark.parametrize("data,want", VECTORS)
def test_crc32c_vectors(data, want):
    assert J.crc32c(data) == want
    assert J.crc32c_software(data) == want
    if J.crc32c_has_hardware():
        assert J.crc32c_hardware(data) == want


def test_crc32c_incremental_and_paths_agree():
    data = bytes((i * 7 + 3) & 0xFF for i in range(1000))
    for cut in (0, 1, 7, 8, 9, 500, 999, 1000):
        assert J.crc32c(data[cut:], J.crc32c(data[:cut])) == J.crc32c(data)
    for n in range(0, 40):  # every tail length of the hardware loop (8/4/1-byte steps) and misalignment
        chunk = memoryview(data)[3:3 + n]
        assert J.crc32c_software(chunk) == J.crc32c(chunk)


# ----------------------------------------------------------------- helpers ----
def payload(i, n=96):
    return struct.pack("<Q", i) + bytes([(i * 13) & 0xFF]) * (n - 8)


def write(path, n, **kw):
    kw.setdefault("fsync", "never")
    with J.Journal(path, **kw) as j:
        for i in range(1, n + 1):
            assert j.append_bytes(payload(i), ts_ns=1000 + i) == i
    return path


def seg_files(path):
    return [p for _, p in J.list_segments(path)]


# ------------------------------------------------------------------ format ----
def test_record_framing_on_disk(tmp_path):
    write(tmp_path, 2)
    (p,) = seg_files(tmp_path)
    raw = open(p, "rb").read()
    assert raw[:8] == b"TWJRNL01"
    magic, ver, hsize, first = struct.unpack_from("<8sIIQ", raw, 0)
    assert (ver, hsize, first) == (2, HDR, 1)
    assert struct.unpack_from("<QI", raw, 36) == (0, 0)     # chain: the first segment follows nothing
    assert struct.unpack_from("<I", raw, 60)[0] == J.crc32c(raw[:60])
    length, seq, ts = struct.unpack_from("<IQQ", raw, HDR)
    assert (length, seq, ts) == (96, 1, 1001)
    assert raw[HDR + 20:HDR + 116] == payload(1)
    assert struct.unpack_from("<I", raw, HDR + 116)[0] == J.crc32c(raw[HDR:HDR + 116])
    assert len(raw) == HDR + 2 * (96 + OVH)          # close() gives back the preallocation


def test_roundtrip_segments_and_reopen(tmp_path):
    write(tmp_path, 300, segment_bytes=8192, prealloc_bytes=4096, max_payload=256)
    files = seg_files(tmp_path)
    assert len(files) > 3
    assert os.path.basename(files[0]) == "journal-000000000001.twj"
    recs = list(J.iter_records(tmp_path))
    assert [r[0] for r in recs] == list(range(1, 301))
    assert all(r[2] == payload(r[0]) and r[1] == 1000 + r[0] for r in recs)
    seqs, ts, pay = J.read_records(tmp_path, 50, 60, record_size=96)
    assert seqs.tolist() == list(range(50, 61)) and ts.tolist() == [1000 + s for s in range(50, 61)]
    assert bytes(pay[3]) == payload(53)
    with J.Journal(tmp_path, fsync="never", segment_bytes=8192, max_payload=256) as j:
        assert (j.last_seq, j.last_ts_ns) == (300, 1300)
        assert j.append_bytes(payload(301), ts_ns=5) == 301
        assert j.append_bytes(payload(400), seq=400, ts_ns=6) == 400   # explicit seq: gaps allowed
        with pytest.raises(J.JournalError) as e:
            j.append_bytes(payload(1), seq=400)
        assert e.value.code == -213 and e.value.name == "JOURNAL_SEQ_NOT_INCREASING"
    assert [r[0] for r in J.iter_records(tmp_path, 299)] == [299, 300, 301, 400]


def test_append_codes(tmp_path):
    j = J.Journal(tmp_path, max_payload=128)
    with pytest.raises(J.JournalError) as e:
        j.append_bytes(b"x" * 129)
    assert (e.value.code, e.value.name) == (-212, "JOURNAL_BAD_LENGTH")
    assert "longer than max_payload" in str(e.value)
    j.close()
    with pytest.raises(J.JournalError) as e:
        j.append_bytes(b"x")
    assert (e.value.code, e.value.name) == (-210, "JOURNAL_CLOSED")
    with pytest.raises(ValueError, match="fsync policy"):
        J.Journal(tmp_path, fsync="sometimes")


# --------------------------------------------------------------- torn tail ----
def _end_of_data(path):
    return J.scan_journal(path)["segments"][-1][2]


@pytest.mark.parametrize("cut", [1, 3, 20, 50, 119])
def test_torn_tail_truncated_not_replayed(tmp_path, cut):
    write(tmp_path, 10)
    (p,) = seg_files(tmp_path)
    end = _end_of_data(tmp_path)
    os.truncate(p, end - cut)                        # the last record is partial
    info = J.scan_journal(tmp_path)                  # read-only: stops before it
    assert info["last_seq"] == 9 and info["torn"]["offset"] == end - 120
    assert [r[0] for r in J.iter_records(tmp_path)] == list(range(1, 10))
    with J.Journal(tmp_path, fsync="never") as j:    # open truncates, appends continue at 10
        assert j.recovery["torn"]["offset"] == end - 120
        assert j.last_seq == 9
        assert j.append_bytes(payload(10)) == 10
    assert [r[0] for r in J.iter_records(tmp_path)] == list(range(1, 11))
    assert J.scan_journal(tmp_path)["torn"] is None


def test_torn_tail_bad_crc_in_preallocated_file(tmp_path):
    j = J.Journal(tmp_path, fsync="never", prealloc_bytes=1 << 16)
    for i in range(1, 6):
        j.append_bytes(payload(i))
    end = j.write_offset
    (p,) = seg_files(tmp_path)
    del j                                            # "crash": no close, the preallocated zeros stay
    assert os.path.getsize(p) == 1 << 16
    with open(p, "r+b") as f:                        # flip a byte of the last record's CRC
        f.seek(end - 2)
        b = f.read(1)
        f.seek(end - 2)
        f.write(bytes([b[0] ^ 0x40]))
    with J.Journal(tmp_path, fsync="never") as j:
        assert j.last_seq == 4
        assert j.recovery["torn"]["offset"] == end - 120
        assert j.recovery["torn"]["discarded_bytes"] > 0
    assert [r[0] for r in J.iter_records(tmp_path)] == [1, 2, 3, 4]


def test_garbage_after_last_record_is_torn(tmp_path):
    j = J.Journal(tmp_path, fsync="never", prealloc_bytes=1 << 16)
    for i in range(1, 4):
        j.append_bytes(payload(i))
    end = j.write_offset
    del j
    (p,) = seg_files(tmp_path)
    with open(p, "r+b") as f:                        # half-persisted page of a record that never completed
        f.seek(end + 300)
        f.write(b"\x17" * 50)
    with J.Journal(tmp_path, fsync="never") as j:
        assert j.last_seq == 3 and j.recovery["torn"]["offset"] == end
        j.append_bytes(payload(4))
    assert [r[0] for r in J.iter_records(tmp_path)] == [1, 2, 3, 4]


# ------------------------------------------------------ mid-file corruption ----
def test_bad_crc_in_the_middle_is_a_hard_error(tmp_path):
    write(tmp_path, 10)
    (p,) = seg_files(tmp_path)
    rec3 = HDR + 2 * 120
    with open(p, "r+b") as f:
        f.seek(rec3 + 50)
        f.write(b"\x00\x01")
    for fn in (lambda: J.scan_journal(tmp_path), lambda: J.Journal(tmp_path),
               lambda: list(J.iter_records(tmp_path))):
        with pytest.raises(J.JournalCorruption) as e:
            fn()
        assert e.value.code == -221 and e.value.name == "JOURNAL_CORRUPT"
        assert e.value.offset == rec3 and e.value.path == p
        assert f"at offset {rec3}" in str(e.value) and "mid-journal corruption" in str(e.value)
    assert os.path.getsize(p) == HDR + 10 * 120      # nothing truncated


def test_corrupt_tail_of_an_earlier_segment_is_a_hard_error(tmp_path):
    write(tmp_path, 100, segment_bytes=4096, max_payload=256)
    first, second = seg_files(tmp_path)[:2]
    os.truncate(first, os.path.getsize(first) - 7)
    with pytest.raises(J.JournalCorruption) as e:
        J.Journal(tmp_path, max_payload=256)
    assert e.value.code == -223 and e.value.path == first


def test_torn_segment_creation_removed(tmp_path):
    write(tmp_path, 5)
    with open(os.path.join(tmp_path, J.segment_name(6)), "wb") as f:
        f.write(b"TWJR")                              # crash while creating the next segment
    with J.Journal(tmp_path, fsync="never") as j:
        assert j.last_seq == 5
        assert j.append_bytes(payload(6)) == 6
    assert [r[0] for r in J.iter_records(tmp_path)] == list(range(1, 7))


# ------------------------------------------------------------ fsync policies ----
def test_fsync_policies(tmp_path):
    with J.Journal(tmp_path / "a", fsync="always") as j:
        for i in range(10):
            j.append_bytes(payload(i + 1))
        assert j.stats()["syncs"] >= 10 and j.unsynced_records == 0
    with J.Journal(tmp_path / "b", fsync="batch", fsync_every=4, fsync_interval_us=10**9) as j:
        for i in range(10):
            j.append_bytes(payload(i + 1))
        assert j.stats()["syncs"] == 2 and j.unsynced_records == 2
        j.fsync()
        assert j.unsynced_records == 0
    with J.Journal(tmp_path / "c", fsync="batch", fsync_every=10**6, fsync_interval_us=0) as j:
        for i in range(5):
            j.append_bytes(payload(i + 1))           # interval 0: every append is past due
        assert j.stats()["syncs"] == 5
    with J.Journal(tmp_path / "d", fsync="never") as j:
        for i in range(10):
            j.append_bytes(payload(i + 1))
        j.poll_sync()
        assert j.stats()["syncs"] == 0
    for d in "abcd":
        assert [r[0] for r in J.iter_records(tmp_path / d)] == list(range(1, 11 if d != "c" else 6))


def test_one_writer_per_directory(tmp_path):
    j = J.Journal(tmp_path, fsync="never")
    with pytest.raises(J.JournalError) as e:
        J.Journal(tmp_path)
    assert (e.value.code, e.value.name) == (-218, "JOURNAL_LOCKED")
    assert list(J.iter_records(tmp_path)) == []      # readers need no lock
    j.close()
    J.Journal(tmp_path).close()                       # released on close


def test_buffered_mode_writes_at_commit(tmp_path):
    j = J.Journal(tmp_path, fsync="never", buffered=True, write_buffer=1024, max_payload=256)
    for i in range(1, 6):
        j.append_bytes(payload(i))
    assert list(J.iter_records(tmp_path)) == []              # still in the process
    j.commit_batch()
    assert [r[0] for r in J.iter_records(tmp_path)] == [1, 2, 3, 4, 5]
    for i in range(6, 16):                                    # 10 x 120 B > 1 KiB: a full buffer is written
        j.append_bytes(payload(i))
    seen = [r[0] for r in J.iter_records(tmp_path)]
    assert 5 < seen[-1] < 15
    j.append_bytes(payload(16))
    del j                                                     # "crash" before the commit: never acknowledged
    with J.Journal(tmp_path, fsync="never", buffered=True, max_payload=256) as j:
        assert j.last_seq == seen[-1] and j.recovery["torn"] is None
        j.append_bytes(payload(100), seq=100)
    assert [r[0] for r in J.iter_records(tmp_path)][-1] == 100  # close() writes the buffer


def test_buffered_mode_rolls_segments_and_syncs(tmp_path):
    with J.Journal(tmp_path, fsync="commit", buffered=True, segment_bytes=4096, max_payload=256) as j:
        for i in range(1, 201):
            j.append_bytes(payload(i))
            if i % 16 == 0:
                j.commit_batch()
        assert j.stats()["syncs"] >= 12
    assert len(J.list_segments(tmp_path)) > 3
    assert [r[0] for r in J.iter_records(tmp_path)] == list(range(1, 201))
    with J.Journal(tmp_path / "a", fsync="always", buffered=True) as j:
        assert not j.buffered                                  # "always": one write + fdatasync per record
