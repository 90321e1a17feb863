"""Crash recovery: SIGKILL mid-run, restart from journal + snapshot, state identical to an uninterrupted
run; torn tail never replayed; snapshots verified; audit query by order, account and time range.

Run as a script (``python tests/test_journal_recovery.py CHILD JOURNAL SNAPDIR SEED N``) it is the
child process the SIGKILL test kills.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from risk_streams import RISK_TOML, setup_symbols, stream  # noqa: E402

N = 6000
BATCH = 64
SNAP_EVERY = 1500


def make_setup():
    from engine.recovery import EngineSetup
    from engine.riskconfig import RiskConfig
    return EngineSetup(symbols=setup_symbols(), risk_config=RiskConfig.from_toml_string(RISK_TOML),
                       max_orders=1 << 14, max_symbols=4)


def uninterrupted(setup, cmds):
    from engine.recovery import _run
    eng, risk, pos = setup.fresh()
    loop = setup.loop(eng, risk, pos)
    events = _run(loop, cmds, True)
    return loop, events


def child(journal_dir, snap_dir, seed, n, buffered):
    """Run the stream with journal + periodic snapshots, printing progress, until killed."""
    from engine.journal import Journal
    from engine.recovery import write_snapshot
    setup = make_setup()
    eng, risk, pos = setup.fresh()
    loop = setup.loop(eng, risk, pos, journal=Journal(journal_dir, fsync="never", segment_bytes=1 << 18,
                                                      buffered=buffered))
    cmds = stream(seed, n)
    i = 0
    next_snap = SNAP_EVERY
    while i < n:
        j = min(n, i + BATCH)
        loop.run(cmds[:j], i)           # run the batch cmds[i:j]
        loop.drain()
        i = j
        if loop.last_seq >= next_snap:
            write_snapshot(snap_dir, loop, setup)
            next_snap += SNAP_EVERY
        print(f"SEQ {loop.last_seq}", flush=True)
        time.sleep(0.002)
    print("DONE", flush=True)
    time.sleep(60)                      # stay alive: the parent kills us


# -------------------------------------------------------------------- tests ----
@pytest.mark.parametrize("seed,kill_at,buffered", [(11, 2300, 0), (12, 4700, 1)])
def test_sigkill_recovery_identical_state(tmp_path, seed, kill_at, buffered):
    from engine.recovery import recover, state_fingerprint
    jdir, sdir = tmp_path / "journal", tmp_path / "snaps"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, __file__, "CHILD", str(jdir), str(sdir), str(seed), str(N),
                             str(buffered)],
                            stdout=subprocess.PIPE, text=True, env=env)
    seen = 0
    try:
        for line in proc.stdout:
            if line.startswith("SEQ"):
                seen = int(line.split()[1])
                if seen >= kill_at:
                    break
            if line.startswith("DONE"):
                break
        os.kill(proc.pid, signal.SIGKILL)          # no close, no flush, no atexit
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert seen >= kill_at

    setup = make_setup()
    rec = recover(jdir, setup, sdir, attach_journal=True, fsync="never")
    assert rec.last_seq >= seen                       # everything whose events were released is in the journal
    assert rec.snapshot_seq >= SNAP_EVERY and rec.snapshot_seq <= rec.last_seq
    assert rec.replayed == rec.last_seq - rec.snapshot_seq

    cmds = stream(seed, N)
    ref_loop, _ = uninterrupted(setup, cmds[:rec.last_seq])
    assert state_fingerprint(rec.loop) == state_fingerprint(ref_loop)
    ref_eng, ref_risk, ref_pos = ref_loop.engine, ref_loop.risk.risk, ref_loop.positions.positions
    eng, risk, pos = rec.loop.engine, rec.loop.risk.risk, rec.loop.positions.positions
    for s in setup.symbols:
        assert eng.book(s) == ref_eng.book(s)
    assert pos.summary() == ref_pos.summary()
    assert risk.dump_state() == ref_risk.dump_state()
    eng.validate_internal_state()
    risk.validate_internal_state()

    # Continue after recovery: the rest of the stream, journaled; final state = one uninterrupted run.
    rest = cmds[rec.last_seq:]
    rec.loop.run_all(rest)
    rec.journal.close()
    full_loop, _ = uninterrupted(setup, cmds)
    assert state_fingerprint(rec.loop) == state_fingerprint(full_loop)
    # and the journal alone (no snapshot) replays to the same state
    from engine.recovery import replay
    loop2, _ = replay(jdir, setup, collect_events=False)
    assert state_fingerprint(loop2) == state_fingerprint(full_loop)


def _journal_run(tmp_path, n=800, snap_at=None):
    from engine.journal import Journal
    from engine.recovery import write_snapshot
    setup = make_setup()
    eng, risk, pos = setup.fresh()
    loop = setup.loop(eng, risk, pos, journal=Journal(tmp_path / "j", fsync="never"))
    cmds = stream(5, n)
    if snap_at:
        loop.run_all(cmds[:snap_at])
        write_snapshot(tmp_path / "s", loop, setup)
        loop.run_all(cmds[snap_at:])
    else:
        loop.run_all(cmds)
    loop.journal.journal.close()
    return setup, cmds


def test_torn_tail_command_is_not_replayed(tmp_path):
    from engine import journal as J
    from engine.recovery import recover, state_fingerprint
    setup, cmds = _journal_run(tmp_path)
    (seg,) = [p for _, p in J.list_segments(tmp_path / "j")]
    os.truncate(seg, os.path.getsize(seg) - 5)        # the last command's record is torn
    rec = recover(tmp_path / "j", setup, attach_journal=False)
    assert rec.torn is not None and rec.last_seq == len(cmds) - 1
    ref, _ = uninterrupted(setup, cmds[:-1])
    assert state_fingerprint(rec.loop) == state_fingerprint(ref)


def test_corrupt_crc_of_tail_is_truncated(tmp_path):
    from engine import journal as J
    from engine.recovery import recover
    setup, cmds = _journal_run(tmp_path, n=200)
    (seg,) = [p for _, p in J.list_segments(tmp_path / "j")]
    size = os.path.getsize(seg)
    with open(seg, "r+b") as f:
        f.seek(size - 1)
        b = f.read(1)
        f.seek(size - 1)
        f.write(bytes([b[0] ^ 0xFF]))
    rec = recover(tmp_path / "j", setup, attach_journal=True, fsync="never")
    assert rec.last_seq == 199 and rec.torn["offset"] == size - 120
    assert rec.journal.last_seq == 199
    rec.journal.close()


def test_snapshot_roundtrip_and_bad_snapshot_skipped(tmp_path):
    from engine.recovery import (latest_snapshot, read_snapshot, recover, SnapshotError, state_fingerprint,
                                 write_snapshot)
    setup, cmds = _journal_run(tmp_path, n=900, snap_at=500)
    snap = latest_snapshot(tmp_path / "s")
    assert snap.seq == 500
    orders = snap.orders()
    assert len(orders) > 0 and set(np.unique(orders["book"])) <= {0, 1}
    # priority order inside each (symbol, side) of the limit book: price better first, then arrival
    for s in np.unique(orders["symbol"]):
        for side in (1, 2):
            o = orders[(orders["symbol"] == s) & (orders["side"] == side) & (orders["book"] == 0)]
            keys = list(zip(-o["price"] if side == 1 else o["price"], o["arrival"]))
            assert keys == sorted(keys)
    rec = recover(tmp_path / "j", setup, tmp_path / "s", attach_journal=False)
    assert (rec.snapshot_seq, rec.replayed) == (500, 400)
    ref, _ = uninterrupted(setup, cmds)
    assert state_fingerprint(rec.loop) == state_fingerprint(ref)
    # corrupt the snapshot: it is skipped (with the reason) and recovery replays from the start
    path = snap.path
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x01
    open(path, "wb").write(bytes(data))
    with pytest.raises(SnapshotError, match="CRC mismatch"):
        read_snapshot(path)
    rec = recover(tmp_path / "j", setup, tmp_path / "s", attach_journal=False)
    assert rec.snapshot_seq == 0 and rec.replayed == 900
    assert rec.skipped_snapshots and "CRC mismatch" in rec.skipped_snapshots[0][1]
    assert state_fingerprint(rec.loop) == state_fingerprint(ref)


def test_snapshot_of_other_configuration_refused(tmp_path):
    from engine.recovery import EngineSetup, latest_snapshot
    setup, _ = _journal_run(tmp_path, n=300, snap_at=100)
    other = EngineSetup(symbols={0: 100}, risk_config=setup.risk_config, max_orders=setup.max_orders,
                        max_symbols=setup.max_symbols)
    skipped = []
    assert latest_snapshot(tmp_path / "s", setup=other, skipped=skipped) is None
    assert "another engine configuration" in skipped[0][1]


def test_audit_by_order_account_and_time(tmp_path):
    from engine.recovery import audit
    setup, cmds = _journal_run(tmp_path, n=1500)
    _, events = uninterrupted(setup, cmds)
    fills = events[events["kind"] == 3]
    assert len(fills) > 0
    f = fills[len(fills) // 2]
    oid = int(f["maker_order_id"])
    got = audit(tmp_path / "j", setup, order_id=oid)
    want = events[(events["order_id"] == oid) | (events["maker_order_id"] == oid) | (events["taker_order_id"] == oid)]
    assert np.array_equal(got, want)
    assert 3 in got["kind"] and got["kind"][0] == 1          # its ack comes first
    acct = int(f["maker_account_id"])
    got = audit(tmp_path / "j", setup, account=acct)
    want = events[(events["account_id"] == acct) | ((events["kind"] == 3) & (events["maker_account_id"] == acct))]
    assert np.array_equal(got, want)
    t0, t1 = int(cmds["ts_ns"][300]), int(cmds["ts_ns"][600])
    got = audit(tmp_path / "j", setup, t0_ns=t0, t1_ns=t1)
    assert np.array_equal(got, events[(events["ts_ns"] >= t0) & (events["ts_ns"] <= t1)])
    got = audit(tmp_path / "j", setup, account=acct, t0_ns=t0, t1_ns=t1)
    assert len(got) and (got["ts_ns"] >= t0).all() and (got["ts_ns"] <= t1).all()


if __name__ == "__main__" and len(sys.argv) == 7 and sys.argv[1] == "CHILD":
    child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), bool(int(sys.argv[6])))
