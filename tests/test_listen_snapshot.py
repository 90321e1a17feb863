"""Books touched by a given-up gap are marked, and a late SoupBinTCP snapshot makes them exact again
(issue 9 §1). Real parts on loopback (no namespaces): `tickwire generate` writes a day, `tickwire send`
sends it as MoldUDP64 to 127.0.0.1 with loss and no re-request server, `tickwire listen` gives the lost
messages up; `tickwire soup serve` (the lab's SoupBinTCP server) serves the same day for --snapshot.
"""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import time

import pytest

from tests.test_send_loopback import ROOT, env, free_udp_port, tw

MESSAGES = 20000


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    path = tmp_path_factory.mktemp("snap") / "day.itch"
    subprocess.run(tw("generate", path, "--messages", MESSAGES, "--symbols", 20, "--seed", 7), check=True, env=env(),
                   cwd=ROOT, capture_output=True, timeout=120)
    book = subprocess.run(tw("book", path, "--levels", 3), env=env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert book.returncode == 0, book.stderr
    return path, book.stdout


def _ready(proc, prefix, timeout=60.0):
    end, seen = time.monotonic() + timeout, []
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(prefix):
            return line
    proc.kill()
    raise AssertionError(f"never ready ({prefix}): {''.join(seen)}")


def _listen_with_loss(day_path, tmp_path, *extra, loss=0.01):
    """send DAY --loss to a listener with no re-request server; returns (returncode, JSON, stderr, CSV text)."""
    port = free_udp_port()
    out_csv = tmp_path / "books.csv"
    listener = subprocess.Popen(tw("listen", "--group", f"127.0.0.1:{port}", "--until-end-of-session",
                                   "--timeout", 60, "--json", "--book-csv", out_csv, "--levels", 3, "--top", 3,
                                   "--window-us", 100, *extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
    try:
        _ready(listener, "listening")
        p = subprocess.run(tw("send", day_path, "--to", f"127.0.0.1:{port}", "--rate", 400000, "--loss", loss,
                              "--seed", 3, "--json"), env=env(), cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        out, err = listener.communicate(timeout=90)
    finally:
        if listener.poll() is None:
            listener.kill()
    return listener.returncode, json.loads(out), err, out_csv.read_text() if out_csv.exists() else None


def test_given_up_gap_marks_every_book_in_json_csv_and_exit_status(day, tmp_path):
    path, book_csv = day
    rc, got, err, text = _listen_with_loss(path, tmp_path)
    assert rc == 1, err
    assert got["unrecoverable"] > 0 and got["messages"] + got["unrecoverable"] == MESSAGES
    since = got["books_not_exact_since"]
    assert since == got["unrecoverable_ranges"][0][0] == got["session"]["not_exact_since"]
    marked = got["books_not_exact"]
    assert marked and all(m["since"] == since for m in marked) and len(marked) == got["books"]
    assert all(sym["not_exact_since"] == since for sym in got["most_active"])
    assert got["snapshots"] == []
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == "locate,symbol,side,level,price,shares,orders,not_exact_since".split(",")
    assert all(r[-1] == str(since) for r in rows[1:])
    # without the column, the layout is `tickwire book`'s (same columns, same order)
    assert rows[0][:-1] == next(csv.reader(io.StringIO(book_csv)))


def test_late_soupbintcp_snapshot_makes_the_books_exact_again(day, tmp_path):
    path, book_csv = day
    srv = subprocess.Popen(tw("soup", "serve", path, "--port", 0, "--duration", 120), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
    try:
        line = _ready(srv, "SoupBinTCP:")
        host, port = re.search(r" on ([\d.]+):(\d+) ", line).groups()
        rc, got, err, text = _listen_with_loss(path, tmp_path, "--snapshot", f"soup:{host}:{port}")
    finally:
        srv.terminate()
        srv.communicate(timeout=30)
    # the live path lost messages and says so (counters unchanged by the snapshot) ...
    assert got["unrecoverable"] > 0 and got["messages"] + got["unrecoverable"] == MESSAGES
    assert got["session"]["unrecoverable"] == got["unrecoverable"]
    # ... and the snapshot rebuilt the books up to the live sequence number: exact, unmarked, exit 0
    assert got["snapshots"] and got["snapshots"][-1]["upto"] == MESSAGES, got["snapshots"]
    assert "error" not in got["snapshots"][-1]
    assert got["books_not_exact_since"] is None and got["books_not_exact"] == []
    assert rc == 0, err
    assert "books exact again" in err
    assert text == book_csv                                   # byte for byte `tickwire book`'s CSV


def test_snapshot_server_that_is_not_there_keeps_the_marks(day, tmp_path):
    path, _ = day
    rc, got, err, text = _listen_with_loss(path, tmp_path, "--snapshot", f"soup:127.0.0.1:{free_udp_port()}")
    assert rc == 1 and got["books_not_exact_since"] and got["snapshots"] and got["snapshots"][-1]["error"]
    assert "snapshot from soup:" in err and "failed" in err and "Traceback" not in err
    assert text.splitlines()[0].endswith(",not_exact_since")


def test_snapshot_argument_is_checked():
    for bad in ("127.0.0.1:1", "http:127.0.0.1:1", "soup:nonsense", "soup:127.0.0.1:70000"):
        p = subprocess.run(tw("listen", "--snapshot", bad), env=env(), cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 2 and "--snapshot" in p.stderr and "Traceback" not in p.stderr, (bad, p.stderr)


def test_text_summary_says_the_mark_per_book_and_the_snapshots():
    from rich.console import Console

    from book.builder import BookBuilder
    from tickwire.summary import render, summarize

    extra = {"gaps_recovered": 0, "unrecoverable": 3, "requests_sent": 0, "books_not_exact_since": 41,
             "books_not_exact": [{"locate": 1, "symbol": "A", "since": 41}, {"locate": 2, "symbol": "B", "since": 41}],
             "snapshots": [{"upto": 99, "server": "127.0.0.1:9", "messages": 0, "elapsed_s": 0.1, "error": "refused"}]}
    summary = summarize({"messages": 0}, BookBuilder(), 1.0, source="t", extra=extra)
    summary["most_active"] = [{"locate": 1, "symbol": "A", "messages": 5, "not_exact_since": 41, "bids": [], "asks": [],
                               "bbo": {"bid_px": 0, "bid_sz": 0, "bid_orders": 0, "ask_px": 0, "ask_sz": 0,
                                       "ask_orders": 0}}]
    con = Console(record=True, width=200)
    render(summary, con)
    text = " ".join(con.export_text().split())           # a table title wraps at the table's width
    assert "books not exact since" in text and "sequence 41: every book (2;" in text
    assert "NOT EXACT since sequence 41" in text
    assert "up to sequence 99 from 127.0.0.1:9: failed (refused)" in text


def test_mid_run_snapshot_swaps_books_under_a_live_session(data_dir):
    """In process, real parts: a MoldSession (no re-request server) loses one packet, gives it up, then a
    second packet is missing while later ones wait in the ring; the snapshot (the lab SoupBinTCP server
    on loopback) rebuilds the books up to next_seq - 1 and is swapped in; the missing packet then arrives
    (line B) and the run goes on. The final books are the file's, and the mark is gone."""
    import struct

    from book.builder import BookBuilder
    from feedhandlers.mold_session import MoldContext, MoldSession
    from lab.moldserve import MoldDay
    from lab.soupserve import SoupServer
    from tickwire.commands.book import write_csv
    from tickwire.commands.listen import soup_snapshot
    from tickwire.commands.replay import replay

    day = MoldDay.load(str(data_dir / "itch50/RITCH_synthetic_3stocks.NASDAQ_ITCH50"))
    raw = bytes(day.data)
    offs = [int(o) for o in day.offs]
    name = b"TWSESSION1"

    def pkt(seq, n):
        return name + struct.pack(">QH", seq, n) + raw[offs[seq - 1]:offs[seq - 1 + n]]

    clock = [10**9]
    s = MoldSession(BookBuilder(), MoldContext(clock_ns=lambda: clock[0]), window_ns=0, scan_ns=0)
    total, size = day.messages, 10
    starts = list(range(1, total + 1, size))
    lost, late = starts[50], starts[300]                      # 501..510 given up; 3001..3010 comes late
    for i, seq in enumerate(starts):
        n = min(size, total - seq + 1)
        if seq in (lost, late):
            continue
        s.feed(pkt(seq, n))
        if seq == starts[60]:
            clock[0] += 10**6
            s.poll()                                          # the hole at 501 is given up (no server)
            assert s.not_exact_since == lost
        if seq == starts[320]:
            break
    assert s.gap_open and s.next_seq == late and s.buffered > 0
    with SoupServer(day, session=name, heartbeat_s=0.05, timeout_s=5.0) as srv:
        ok, info = soup_snapshot(srv.address, "tw", "", s, s.next_seq)
    assert ok, info
    s.replace_sink(info["sink"])
    assert s.clear_not_exact(late) == 0
    s.feed(pkt(late, size), line=1)                          # the late packet: ring drains into the new books
    for seq in starts[321:]:
        s.feed(pkt(seq, min(size, total - seq + 1)))
    s.feed(name + struct.pack(">QH", total + 1, 0xFFFF))
    assert s.ended and s.not_exact_since == 0 and s.counters()["unrecoverable"] == size
    _, file_books, _ = replay(str(data_dir / "itch50/RITCH_synthetic_3stocks.NASDAQ_ITCH50"))
    a, b = io.StringIO(), io.StringIO()
    write_csv(info["books"], 5, a)
    write_csv(file_books, 5, b)
    assert a.getvalue() == b.getvalue() and a.getvalue().count("\n") > 3
