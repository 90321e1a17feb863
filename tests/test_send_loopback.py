"""`tickwire send` / MoldSender over 127.0.0.1 unicast (no namespaces): a capture that already ends with
End of Session, and the whole generate --pcap -> send -> listen path."""
from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
S = b"LOOPBACK01"


def tw(*args):
    return [sys.executable, "-m", "tickwire", *map(str, args)]


def env():
    return {**os.environ, "PYTHONPATH": ROOT}


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recv_until_quiet(rx, quiet_s=0.3):
    rx.settimeout(quiet_s)
    got = []
    try:
        while True:
            got.append(rx.recv(2048))
    except socket.timeout:
        pass
    return got


def test_capture_ending_with_end_of_session_sends_it_once_and_never_drops_control():
    """Packets as a capture holds them: data, a heartbeat, data, End of Session. The recorded End of
    Session goes out once (no extra ones), carries no trailer, counts no message; loss never drops it
    (nor the heartbeat)."""
    from lab.moldserve import open_send_socket
    from lab.sender import MoldSender

    msg = b"\x00\x0cS" + b"\x00" * 10 + b"O"                   # a 12-byte System Event, length-prefixed
    pkts = [S + struct.pack(">QH", 1, 2) + msg * 2, S + struct.pack(">QH", 3, 0),
            S + struct.pack(">QH", 3, 1) + msg, S + struct.pack(">QH", 4, 0xFFFF)]
    offs = np.zeros(len(pkts) + 1, dtype=np.int64)
    offs[1:] = np.cumsum([len(p) for p in pkts])
    buf = np.frombuffer(b"".join(pkts), dtype=np.uint8)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = open_send_socket("lo", 1)
    try:
        for loss, seed in ((0.0, 1), (0.9, 5)):
            snd = MoldSender(buf, offs, tx.fileno(), [("127.0.0.1", rx.getsockname()[1])], loss=loss, seed=seed)
            assert snd.recorded_eos
            c = snd.run(None, heartbeat_ns=0, eos=3)
            got = recv_until_quiet(rx)
            assert c["messages_sent"] == 3 and c["recorded_eos"]
            eos = [g for g in got if len(g) >= 20 and struct.unpack(">H", g[18:20])[0] == 0xFFFF]
            assert eos == [pkts[3]]                                 # once, as recorded, no TWTS trailer
            assert pkts[1] in got                                   # the recorded heartbeat is never dropped
            if loss == 0.0:
                assert got == [pkts[0] + got[0][-12:], pkts[1], pkts[2] + got[2][-12:], pkts[3]]
                assert got[0][-12:-8] == b"TWTS"
    finally:
        rx.close()
        tx.close()


def test_generate_pcap_send_listen_over_loopback_unicast(tmp_path):
    """generate --pcap (ends with End of Session) -> send -> listen on 127.0.0.1: every message applied,
    0 unrecoverable, stops at End of Session, exit 0; --book-csv is byte for byte `tickwire book`'s CSV."""
    pcap = tmp_path / "day.pcap"
    subprocess.run(tw("generate", pcap, "--pcap", "--messages", 20000, "--symbols", 20), check=True, env=env(),
                   cwd=ROOT, capture_output=True, timeout=120)
    port = free_udp_port()
    csv = tmp_path / "books.csv"
    listener = subprocess.Popen(tw("listen", "--group", f"127.0.0.1:{port}", "--until-end-of-session",
                                   "--timeout", 60, "--json", "--book-csv", csv, "--levels", 3),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            line = listener.stderr.readline()
            if not line or line.startswith("listening"):
                break
        # --rate: the loopback socket buffer must not overflow (that would be loss, not what is tested)
        p = subprocess.run(tw("send", pcap, "--to", f"127.0.0.1:{port}", "--rate", 400000, "--json"),
                           env=env(), cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        sent = json.loads(p.stdout)
        out, err = listener.communicate(timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
    assert listener.returncode == 0, err
    got = json.loads(out)
    assert sent["messages_sent"] == 20000 and sent["recorded_eos"]
    assert got["messages"] == 20000 and got["unrecoverable"] == 0 and got["stop_reason"] == "end of session"
    assert got["session"]["packets_a"] == sent["sent_packets"]       # the recorded End of Session only
    assert got["books_not_exact_since"] is None
    assert got["filtered"]["lines"]["A"] == {"not_the_feed": 0, "malformed_frames": 0, "kernel_drops": 0}
    assert got["filtered_text"] == "" and "filtered:" not in err
    book = subprocess.run(tw("book", pcap, "--levels", 3), env=env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert book.returncode == 0, book.stderr
    assert csv.read_text() == book.stdout and book.stdout.count("\n") > 20


def test_listen_bad_book_csv_or_levels_fail_before_listening(tmp_path):
    for extra, why in ((["--book-csv", tmp_path / "no" / "such" / "dir.csv"], "--book-csv"),
                       (["--levels", 0], "argument --levels: 0 is out of range")):
        p = subprocess.run(tw("listen", "--group", f"127.0.0.1:{free_udp_port()}", "--timeout", 5, *extra),
                           env=env(), cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and why in p.stderr and "listening" not in p.stderr


def test_listen_failing_early_leaves_an_existing_book_csv_as_it_was(tmp_path):
    """--book-csv is checked before listening but written only at the end: a run that cannot open its
    source (no such interface) does not empty the file a previous run wrote."""
    f = tmp_path / "books.csv"
    f.write_text("locate,symbol,side,level,price,shares,orders\n1,AAPL,B,1,190.0000,100,1\n")
    before = f.read_text()
    p = subprocess.run(tw("listen", "--group", f"239.192.0.9:{free_udp_port()}", "--iface", "nosuchif0",
                          "--timeout", 5, "--book-csv", f), env=env(), cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
    assert f.read_text() == before
