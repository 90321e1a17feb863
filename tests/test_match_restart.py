"""Crash restart of `tickwire match --journal DIR` (SIGKILL at random points), chained segments,
torn tails on restart, `journal` on a missing path, trimmed segments, `match -` at the end of a pipe."""
from __future__ import annotations

import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import journal as J
from engine.csvio import OUTPUT_HEADER
from engine_streams import random_stream
from test_engine_csv import HEADER, _to_csv

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv/bin/python")
RESUME = re.compile(r"output resumes after line (\d+)")


def tw_cmd(*args):
    return [PY, "-m", "tickwire", *map(str, args)]


def tw(*args, stdin=None):
    return subprocess.run(tw_cmd(*args), capture_output=True, text=True, cwd=ROOT, timeout=120, input=stdin)


def flow(seed: int, n: int) -> str:
    """An order flow CSV with engine rejects, malformed rows and seq-out-of-order rows mixed in."""
    text, _ = _to_csv(random_stream(seed, n, invalid=0.03))
    rnd = random.Random(seed)
    lines = text.splitlines()
    out = [lines[0]]
    for k, line in enumerate(lines[1:], 1):
        out.append(line)
        x = rnd.random()
        if x < 0.004:
            out.append("x,new,1,1,S0,buy,limit,day,10,100.00,,,," + ",,,,,")     # MALFORMED: seq not an int
        elif x < 0.008 and k > 10:
            out.append(lines[rnd.randrange(1, k)])                                 # SEQ_OUT_OF_ORDER
    return "\n".join(out) + "\n"


def data_lines(text: str) -> list[str]:
    """Complete output lines after the header (a line cut by the kill is not complete)."""
    parts = text.split("\n")[:-1]          # the last element is "" or a cut line
    if not parts:
        return []
    assert parts[0] == OUTPUT_HEADER
    return parts[1:]


def run_killed(args, out_path, kill_at_bytes, kill_after_s):
    """Run `tickwire match`, SIGKILL it once its stdout file reaches ``kill_at_bytes`` (or after
    ``kill_after_s``); returns (returncode, stderr). Finishes normally when it is quicker."""
    with open(out_path, "wb") as out:
        p = subprocess.Popen(tw_cmd(*args), stdout=out, stderr=subprocess.PIPE, cwd=ROOT)
        t0 = time.monotonic()
        while p.poll() is None:
            if (kill_after_s is not None and time.monotonic() - t0 >= kill_after_s) or (
                    kill_at_bytes is not None and os.path.getsize(out_path) >= kill_at_bytes):
                p.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        _, err = p.communicate(timeout=120)
    return p.returncode, err.decode()


@pytest.mark.parametrize("seed", [3, 29])
def test_kill_anywhere_and_restart_equals_uninterrupted_run(tmp_path, seed):
    """SIGKILL `match --journal` at seeded random points and restart it until it finishes: the output
    kept by the documented rule (first N lines of what was printed, N from the restart's stderr, then
    the restart's output without its header) equals an uninterrupted run row for row, and the journal
    holds each command once, as the uninterrupted run's journal does."""
    src = tmp_path / "flow.csv"
    src.write_text(flow(seed, 10_000))
    ref = tw("match", src, "--journal", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    expected = data_lines(ref.stdout)
    assert len(expected) > 10_000
    assert tw("match", src).stdout == ref.stdout                 # journaling changes no output
    rnd = random.Random(seed)
    d = tmp_path / "j"
    args = ("match", src, "--journal", d, "--batch", rnd.choice((97, 256, 1000)), "--snapshot-every", 2500)
    kept: list[str] = []
    kills = finished = 0
    for attempt in range(40):
        out = tmp_path / f"out{attempt}.csv"
        if kills < 10:
            early = rnd.random() < 0.2              # some kills land in start-up / recovery
            left = len(ref.stdout) - sum(len(x) + 1 for x in kept)   # bytes this run still prints (about)
            rc, err = run_killed(args, out, None if early else rnd.randrange(1, max(2, left // 3)),
                                 rnd.uniform(0.05, 0.6) if early else 30)
        else:
            rc, err = run_killed(args, out, None, None)
        assert "Traceback" not in err, err
        text = out.read_text()
        m = RESUME.search(err)
        if m is None:                               # a run that says nothing starts the output over
            assert "recovered" not in err
            start = 0
        else:
            start = int(m.group(1))
        assert len(kept) >= start, (len(kept), start)
        if text or m is not None:
            kept = kept[:start] + data_lines(text)
        if rc == 0:
            finished += 1
            break
        assert rc == -signal.SIGKILL, err
        kills += 1
    assert kept == expected
    assert finished == 1 and kills >= 8
    assert tw("journal", "check", d).returncode == 0
    assert tw("journal", "dump", d).stdout == tw("journal", "dump", tmp_path / "ref").stdout
    for first, path, end, _ in J.scan_journal(str(d))["segments"]:
        assert os.path.getsize(path) == end                      # trimmed on close


def test_restart_uses_snapshot_and_reports(tmp_path):
    src = tmp_path / "flow.csv"
    src.write_text(flow(5, 3000))
    d = tmp_path / "j"
    first = tw("match", src, "--journal", d, "--batch", 100, "--snapshot-every", 500)
    assert first.returncode == 0, first.stderr
    assert any(n.startswith("snapshot-") for n in os.listdir(d))
    again = tw("match", src, "--journal", d)
    assert again.returncode == 0, again.stderr
    m = re.search(r"recovered (\d+) journaled commands \(snapshot at seq (\d+), replayed (\d+)", again.stderr)
    assert m and int(m.group(2)) > 0 and int(m.group(3)) < int(m.group(1))
    assert again.stdout == OUTPUT_HEADER + "\n"                   # everything was printed before
    assert int(RESUME.search(again.stderr).group(1)) == len(data_lines(first.stdout))


def test_restart_refuses_other_input_and_fresh_refuses_nonempty(tmp_path):
    src = tmp_path / "flow.csv"
    src.write_text(flow(7, 400))
    d = tmp_path / "j"
    assert tw("match", src, "--journal", d).returncode == 0
    other = tmp_path / "other.csv"
    other.write_text(flow(8, 400))
    r = tw("match", other, "--journal", d)
    assert r.returncode == 5 and "not the input of the interrupted run" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = tw("match", src, "--journal", d, "--fresh")
    assert r.returncode == 5 and "--fresh" in r.stderr and "not empty" in r.stderr
    r = tw("match", src, "--journal", tmp_path / "new", "--fresh")
    assert r.returncode == 0, r.stderr


def _journal(path, n, segment_bytes=1 << 16):
    with J.Journal(path, fsync="never", segment_bytes=segment_bytes, prealloc_bytes=4096) as j:
        for i in range(1, n + 1):
            j.append_bytes(i.to_bytes(8, "little") * 12, ts_ns=i)
    return [p for _, p in J.list_segments(path)]


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_missing_segment_is_an_error_with_its_position(tmp_path, which):
    segs = _journal(tmp_path, 3000, segment_bytes=64 + 120 * 500)
    assert len(segs) == 6
    victim = {"first": segs[0], "middle": segs[2], "last": segs[-1]}[which]
    os.unlink(victim)
    with pytest.raises(J.JournalCorruption) as e:
        J.scan_journal(str(tmp_path))
    assert (e.value.code, e.value.name) == (-224, "JOURNAL_SEGMENT_MISSING") and which in str(e.value)
    c = tw("journal", "check", tmp_path)
    assert c.returncode == 1 and "JOURNAL_SEGMENT_MISSING" in c.stderr and "Traceback" not in c.stderr
    if which == "middle":
        assert os.path.basename(segs[3]) in c.stderr and os.path.basename(segs[1]) in c.stderr
    if which == "last":
        assert os.path.basename(victim) in c.stderr
    assert tw("journal", "dump", tmp_path).returncode == 1
    r = tw("match", "-", "--journal", tmp_path, stdin=HEADER + "\n")
    assert r.returncode == 5 and "JOURNAL_SEGMENT_MISSING" in r.stderr


def test_chained_segments_pass_check_and_reopen(tmp_path):
    segs = _journal(tmp_path, 1200, segment_bytes=64 + 120 * 500)
    assert len(segs) == 3
    info = J.scan_journal(str(tmp_path))
    assert info["records"] == 1200 and J.read_head(str(tmp_path)) == info["segments"][-1][0]
    _journal(tmp_path, 0)                       # reopen and close: nothing changes
    with J.Journal(tmp_path, fsync="never", segment_bytes=64 + 120 * 500) as j:
        for i in range(1201, 1801):
            j.append_bytes(bytes(96), ts_ns=i)
    assert J.scan_journal(str(tmp_path))["records"] == 1800
    assert tw("journal", "check", tmp_path).returncode == 0


def _journal_with_torn_tail(tmp_path, cut_records):
    src = tmp_path / "flow.csv"
    src.write_text(flow(9, 3000))
    d = tmp_path / "j"
    assert tw("match", src, "--journal", d).returncode == 0
    (seg,) = [p for _, p in J.list_segments(str(d))]
    size = os.path.getsize(seg)
    with open(seg, "r+b") as f:                 # a bad CRC in each of the last `cut_records` records
        for k in range(cut_records):
            f.seek(size - 120 * k - 3)
            f.write(b"\xff\xff\xff")
    return src, d, seg, size


def test_restart_cuts_one_torn_record_and_says_so(tmp_path):
    src, d, seg, size = _journal_with_torn_tail(tmp_path, 1)
    r = tw("match", src, "--journal", d)
    assert r.returncode == 0, r.stderr
    assert "cut a torn tail: 120 bytes" in r.stderr and "offset %d" % (size - 120) in r.stderr
    assert len(data_lines(r.stdout)) > 0                    # the cut command is run (and printed) again
    assert tw("journal", "check", d).returncode == 0


def test_restart_refuses_to_cut_more_than_one_record(tmp_path):
    src, d, seg, size = _journal_with_torn_tail(tmp_path, 5)
    before = open(seg, "rb").read()
    r = tw("match", src, "--journal", d)
    assert r.returncode == 5 and "tickwire journal repair" in r.stderr and "600 bytes" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""
    assert open(seg, "rb").read() == before                 # nothing cut
    c = tw("journal", "check", d)
    assert c.returncode == 2 and "torn tail" in c.stdout
    assert tw("journal", "repair", d).returncode == 0
    r = tw("match", src, "--journal", d)                     # after the repair: the 5 commands run again
    assert r.returncode == 0 and "cut a torn tail" not in r.stderr, r.stderr


@pytest.mark.parametrize("action", ["check", "dump", "repair"])
def test_journal_cli_missing_path_or_file(tmp_path, action):
    missing = tmp_path / "nope"
    r = tw("journal", action, missing)
    assert r.returncode == 3 and "no such directory" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not missing.exists()
    f = tmp_path / "file"
    f.write_text("x")
    r = tw("journal", action, f)
    assert r.returncode == 3 and "not a directory" in r.stderr and "Traceback" not in r.stderr


def test_segment_trimmed_after_kill_and_restart(tmp_path):
    src = tmp_path / "flow.csv"
    src.write_text(flow(13, 6000))
    d = tmp_path / "j"
    rc, _ = run_killed(("match", src, "--journal", d, "--batch", 200), tmp_path / "o1", 60_000, 30)
    assert rc == -signal.SIGKILL
    (seg,) = [p for _, p in J.list_segments(str(d))]
    assert os.path.getsize(seg) == 4 << 20                  # killed: still preallocated
    assert tw("match", src, "--journal", d).returncode == 0
    (_, path, end, _), = J.scan_journal(str(d))["segments"]
    assert os.path.getsize(path) == end < 4 << 20


def test_match_stdin_pipe_answers_each_order(tmp_path):
    """`match -` at the end of a pipe: each order's ack comes back before the next order is written."""
    p = subprocess.Popen(tw_cmd("match", "-", "--journal", tmp_path / "j"), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        p.stdin.write((HEADER + "\n").encode())
        p.stdin.flush()
        for k in range(1, 6):
            p.stdin.write(f"{k},new,{k},7,AAPL,buy,limit,day,10,{100 + k}.00,,,\n".encode())
            p.stdin.flush()
            deadline = time.monotonic() + 20
            want = f"{k},ack,{k},7,AAPL,buy,{100 + k}.00"
            buf = b""
            while want.encode() not in buf:
                r, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.monotonic()))
                assert r, f"no ack for order {k} while the pipe stays open: {buf!r}"
                buf += os.read(p.stdout.fileno(), 65536)
        p.stdin.close()
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def named_flow(seed: int, n: int) -> str:
    """``flow`` with most accounts named (``acct1`` ...; the ids then come from the top of the range)."""
    lines = flow(seed, n).splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if cells[3] in ("1", "2"):
            cells[3] = f"acct{cells[3]}"
        out.append(",".join(cells))
    return "\n".join(out) + "\n"


def run_piped_killed(args, data: bytes, out_path, kill_at_bytes):
    """`tickwire match - ...` fed ``data`` through a pipe in small writes, SIGKILLed once its output
    reaches ``kill_at_bytes``; returns (returncode, stderr)."""
    import threading
    with open(out_path, "wb") as out:
        p = subprocess.Popen(tw_cmd(*args), stdin=subprocess.PIPE, stdout=out, stderr=subprocess.PIPE, cwd=ROOT)

        def feed():
            try:
                for i in range(0, len(data), 4000):
                    p.stdin.write(data[i:i + 4000])
                    p.stdin.flush()
                p.stdin.close()
            except (BrokenPipeError, ValueError):
                pass

        t = threading.Thread(target=feed)
        t.start()
        while p.poll() is None:
            if os.path.getsize(out_path) >= kill_at_bytes:
                p.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        _, err = p.communicate(timeout=120)
        t.join()
    return p.returncode, err.decode()


@pytest.mark.parametrize("parser", [(), ("--reference-parser",)])
def test_restart_with_names_positions_and_pipe(tmp_path, parser):
    """Account names, --positions and a piped input across a kill and a restart: the stitched output
    and the positions file equal an uninterrupted run's (the restart replays from the start for the
    positions, snapshots or not); compiled and reference parser alike."""
    src = tmp_path / "flow.csv"
    src.write_text(named_flow(11, 4000))
    ref = tw("match", src, "--positions", tmp_path / "ref.pos", "--journal", tmp_path / "ref.j", *parser)
    assert ref.returncode == 0, ref.stderr
    assert ",acct1," in ref.stdout
    expected = data_lines(ref.stdout)
    d = tmp_path / "j"
    args = ("match", "-", "--journal", d, "--batch", 150, "--snapshot-every", 700, "--positions", tmp_path / "pos",
            *parser)
    rc, err = run_piped_killed(args, src.read_bytes(), tmp_path / "o1", len(ref.stdout) // 2)
    assert rc == -signal.SIGKILL, err
    kept = data_lines((tmp_path / "o1").read_text())
    assert any(n.startswith("snapshot-") for n in os.listdir(d))
    with open(src, "rb") as f:                                      # the restart reads the same flow as a pipe
        again = subprocess.run(tw_cmd(*args), input=f.read(), capture_output=True,
                               cwd=ROOT, timeout=120)
    err = again.stderr.decode()
    assert again.returncode == 0, err
    start = int(RESUME.search(err).group(1))
    assert kept[:start] + data_lines(again.stdout.decode()) == expected
    m = re.search(r"snapshot at seq (\d+), replayed (\d+)", err)
    assert m and m.group(1) == "0" and int(m.group(2)) > 0          # --positions: replayed from the start
    assert len((tmp_path / "ref.pos").read_text().splitlines()) > 3
    assert (tmp_path / "pos").read_text() == (tmp_path / "ref.pos").read_text()
    assert tw("journal", "dump", d).stdout == tw("journal", "dump", tmp_path / "ref.j").stdout
