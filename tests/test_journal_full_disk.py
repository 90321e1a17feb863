"""Real write failures of the journal: what the loop, ``Journal.close`` and `tickwire match` do.

A full disk is a small tmpfs each test mounts (root only; CI runs as root) and unmounts afterwards;
a failing ``pwrite`` is a file-size limit (``RLIMIT_FSIZE``, EFBIG) set in a child process.
"""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from engine import journal as J
from engine.loop import EngineLoop, LoopStopped
from engine_harness import command
from test_journal_cli import ROOT, tw


@pytest.fixture
def small_fs(tmp_path):
    """Mount a tmpfs on a fresh directory; ``small_fs(size)`` returns its path."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mounted = []

    def mount(size: str):
        d = tmp_path / f"fs{len(mounted)}"
        d.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], check=True)
        mounted.append(d)
        return d

    yield mount
    for d in mounted:
        subprocess.run(["umount", str(d)], check=True)


def orders(first, n):
    """``n`` resting buy orders (no fills), seq = order id = first .. first + n - 1."""
    a = np.concatenate([command(oid=i, side="buy", price=10000, qty=1, account=1) for i in range(first, first + n)])
    a["seq"] = a["order_id"]
    return a


def new_loop(journal):
    lp = EngineLoop(journal=journal)
    lp.engine.add_symbol(0)
    return lp


def test_failed_segment_roll_stops_the_loop_and_withholds_the_batch(small_fs):
    d = small_fs("64k") / "j"
    # segment == preallocation: a segment's blocks are all taken when it is created, so the disk
    # fills at a roll (sticky JOURNAL_PREALLOCATE); 136 records of 120 B fill a 16 KiB segment.
    hook = J.open_hook(d, fsync="commit", segment_bytes=16384, prealloc_bytes=16384)
    lp = new_loop(hook)
    released = []
    first = 1
    with pytest.raises(LoopStopped) as e:
        while first < 5000:
            lp.run(orders(first, 50))
            released.append(lp.drain())
            first += 50
    assert (e.value.code, e.value.name) == (-216, "JOURNAL_PREALLOCATE")
    assert lp.fatal == -216 and hook.journal.failed == -216 and hook.journal.last_errno == errno.ENOSPC
    assert len(lp.drain()) == 0                            # the failed batch's events are withheld
    released = np.concatenate(released)
    assert len(released) == first - 1 and released["seq"].max() == first - 1
    hook.journal.close()
    seqs, _, _ = J.read_records(d)
    assert len(seqs) and released["seq"].max() <= seqs[-1] < first + 49   # nothing seen that no journal holds
    assert list(seqs) == list(range(1, int(seqs[-1]) + 1))
    assert J.scan_journal(d)["torn"] is None               # the segment that could not be created is gone
    with pytest.raises(LoopStopped) as e:
        lp.run(orders(first + 50, 1))
    assert e.value.code == -202


def test_failed_append_rejects_the_command_and_the_loop_goes_on(small_fs):
    fs = small_fs("64k")
    filler = fs / "filler"
    filler.write_bytes(b"\1" * (48 << 10))                 # 16 KiB left
    hook = J.open_hook(fs / "j", fsync="commit", segment_bytes=1 << 20, prealloc_bytes=4096)
    lp = new_loop(hook)
    lp.run(orders(1, 150))
    ev = lp.drain()
    acked = ev["seq"][ev["kind"] == 1]
    rejected = ev[ev["kind"] == 2]
    assert len(acked) + len(rejected) == 150 and 100 < len(acked) < 150
    assert (rejected["reason"] == -201).all()              # JOURNAL_FAILED: not journaled, not applied
    assert hook.journal.failed == 0 and hook.journal.last_errno == errno.ENOSPC
    assert lp.fatal == 0 and lp.engine.stats()["live"] == len(acked)
    filler.unlink()                                       # space again: the next commands are accepted
    lp.run(orders(151, 10))
    assert (lp.drain()["kind"] == 1).all()
    hook.journal.close()
    assert list(J.read_records(fs / "j")[0]) == list(acked) + list(range(151, 161))


def test_match_on_a_full_tmpfs_exits_4_with_one_line(small_fs, tmp_path):
    d = small_fs("256k") / "j"                             # smaller than the first segment's preallocation
    src = tmp_path / "in.csv"
    src.write_text("seq,action,order_id,account,symbol,side,type,tif,qty,price,stop_price,display_qty,expire_ns\n"
                   + "".join(f"{i},new,{i},7,AAPL,buy,limit,day,1,10.00,,,\n" for i in range(1, 101)))
    r = tw("match", str(src), "--journal", str(d))
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 1
    assert "JOURNAL_PREALLOCATE (-216)" in r.stderr and os.strerror(errno.ENOSPC) in r.stderr
    seqs, _, _ = J.read_records(d)
    durable = int(seqs[-1]) if len(seqs) else 0
    printed = [int(line.split(",")[0]) for line in r.stdout.splitlines()[1:]]
    assert all(s <= durable for s in printed)
    assert tw("journal", "check", str(d)).returncode == 0


WRITE_FAILS = textwrap.dedent("""
    import resource, signal, sys
    import numpy as np
    from engine import journal as J
    from engine.loop import EngineLoop, LoopStopped
    from engine_harness import command
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write past the limit then fails with EFBIG
    d, what = sys.argv[1], sys.argv[2]
    hook = J.open_hook(d, fsync="never", prealloc_bytes=1 << 20)
    lp = EngineLoop(journal=hook)
    lp.engine.add_symbol(0)
    def orders(first, n):
        a = np.concatenate([command(oid=i, side="buy", price=10000, qty=1, account=1) for i in range(first, first + n)])
        a["seq"] = a["order_id"]
        return a
    lp.run(orders(1, 10))                             # the segment (1 MiB preallocated) and 10 records
    print(len(lp.drain()))
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
    if what == "commit":
        try:
            lp.run(orders(11, 40))                    # the batch's pwrite crosses 4 KiB
        except LoopStopped as e:
            print(e.code, lp.fatal, len(lp.drain()))
        try:
            hook.journal.close()
            print("closed")
        except J.JournalError as e:
            print("close raised", e.code)
    else:
        for i in range(11, 51):                       # buffered, not committed: close() writes them
            hook.journal.append_bytes(orders(i, 1).tobytes(), seq=i)
        try:
            hook.journal.close()
        except J.JournalError as e:
            print("close raised", e.code, e)
""")


@pytest.mark.parametrize("what", ["commit", "close"])
def test_failed_write_at_commit_or_close_is_reported(tmp_path, what):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", WRITE_FAILS, str(tmp_path / "j"), what], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "10"
    if what == "commit":
        # JOURNAL_WRITE stops the loop, the batch's 40 acks are withheld; close after a failure is quiet
        assert out[1:] == ["-214 -214 0", "closed"]
    else:
        assert out[1].startswith("close raised -214") and os.strerror(errno.EFBIG) in out[1]
    seqs, _, _ = J.read_records(tmp_path / "j")
    assert 10 <= len(seqs) < 50 and list(seqs) == list(range(1, len(seqs) + 1))
