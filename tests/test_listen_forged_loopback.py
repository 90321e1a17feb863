"""`tickwire listen` over 127.0.0.1 with forged packets among the real ones (issue 9 §1): a packet of
another session mid-stream and an impossible count are counted and said, change nothing else; a
session change confirmed by chained packets is followed and said on stderr."""
from __future__ import annotations

import json
import socket
import struct
import subprocess

from tests.test_send_loopback import ROOT, env, free_udp_port, tw

MSG = b"\x00\x0cS" + b"\x00" * 10 + b"O"            # a 12-byte System Event, length-prefixed
S, T = b"LOOPBACK01", b"NEWSESSION"


def data(session, seq, n=1):
    return session + struct.pack(">QH", seq, n) + MSG * n


def run(packets, *extra):
    port = free_udp_port()
    listener = subprocess.Popen(tw("listen", "--group", f"127.0.0.1:{port}", "--until-end-of-session", "--timeout", 30,
                                   "--json", "--window-us", 100, *extra), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)
    try:
        while True:
            line = listener.stderr.readline()
            if not line or line.startswith("listening"):
                break
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for p in packets:
                tx.sendto(p, ("127.0.0.1", port))
        out, err = listener.communicate(timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
    return listener.returncode, json.loads(out), err


def test_forged_session_and_count_mid_stream_change_nothing():
    pk = [data(S, seq) for seq in range(1, 11)]
    pk.insert(5, data(b"FORGED0001", 6, 3))                              # another session, mid-stream
    pk.insert(7, S + struct.pack(">QH", 8, 0xFFFE))                      # count the packet cannot hold
    pk.insert(9, S + struct.pack(">QH", 9, 0xFFFF) + MSG)                # End of Session carrying a message
    pk.append(S + struct.pack(">QH", 11, 0xFFFF))
    rc, got, err = run(pk)
    assert rc == 0, err
    c = got["session"]
    assert got["messages"] == 10 and got["unrecoverable"] == 0 and got["gaps"] == 0
    assert (c["suspect_session"], c["impossible_count"], c["session_changes"]) == (1, 2, 0)
    assert (got["filtered"]["suspect_session"], got["filtered"]["impossible_count"]) == (1, 2)
    assert "1 packets of an unconfirmed new session name" in err and "2 packets with an impossible message count" in err


def test_confirmed_session_change_is_followed_and_said():
    pk = [data(S, seq) for seq in range(1, 11)] + [data(T, seq) for seq in range(1, 21)]
    pk.append(T + struct.pack(">QH", 21, 0xFFFF))
    rc, got, err = run(pk, "--session-confirm", 8)
    c = got["session"]
    assert c["session_changes"] == 1 and c["suspect_session"] == 7
    assert "session changed from 'LOOPBACK01' to 'NEWSESSION'" in err
    # T's 7 packets dropped while unconfirmed are a gap; no re-request server: given up, said, exit 1
    assert got["unrecoverable"] == 7 and got["unrecoverable_ranges"] == [[1, 8]] and rc == 1
    assert got["messages"] == 10 + 13 and got["stop_reason"] == "end of session"
