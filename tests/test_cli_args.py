"""Every nonsense argument of every `tickwire` command: one line on stderr naming the argument and why,
the documented exit status (2 for usage errors), never a traceback (issue 9, section 6).

Each case runs the CLI as a real subprocess (``python -m tickwire``), as a user would.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest

from tests.conftest import DATA, ROOT

DAY = str(DATA / "itch50" / "12302019_SNIPPET.NASDAQ_ITCH50")
BIG = 2 ** 70

# (argv, exit status, substring the stderr line must hold). Placeholders: {day} an ITCH day, {dir} a
# directory, {plain} a plain text file, {missing} a missing path, {pcap99} a pcap of version 9.9,
# {csv} a good match CSV, {bighdr} a CSV whose header line is 10 MB, {out} an output path.
CASES = [
    # replay / book
    (["replay", "{dir}"], 2, "is a directory"),
    (["book", "{dir}"], 2, "is a directory"),
    (["replay", "{missing}"], 2, "no such file"),
    (["book", "{missing}"], 2, "no such file"),
    (["replay", ""], 2, "empty path"),
    (["replay", "{day}", "--top", str(BIG)], 2, "--top"),
    (["replay", "{day}", "--top", "-1"], 2, "--top"),
    (["replay", "{day}", "--top", "x"], 2, "--top"),
    (["replay", "{day}", "--port", "70000"], 2, "--port"),
    (["replay", "{day}", "--port", "-1"], 2, "--port"),
    (["replay", "{day}", "--group", "nonsense"], 2, "--group"),
    (["book", "{day}", "--levels", str(2 ** 40)], 2, "--levels"),
    (["book", "{day}", "--levels", "0"], 2, "--levels"),
    (["book", "{day}", "--levels", "-3"], 2, "--levels"),
    (["book", "{day}", "--symbol", "NOPE"], 1, "NOPE not in the day's directory"),
    (["book", "{day}", "--symbol", ""], 2, "--symbol"),
    (["book", "{day}", "--port", "0"], 2, "--port"),
    (["replay", "{pcap99}"], 1, "PCAP_E_VERSION"),
    (["book", "{pcap99}"], 1, "PCAP_E_VERSION"),
    # journal (DIR not a directory: 3, docs/journal.md)
    (["journal", "check", "{plain}"], 3, "not a directory"),
    (["journal", "dump", "{plain}"], 3, "not a directory"),
    (["journal", "repair", "{plain}"], 3, "not a directory"),
    (["journal", "check", "{missing}"], 3, "no such directory"),
    (["journal", "dump", "{dir}", "--from", "-5"], 2, "--from"),
    (["journal", "dump", "{dir}", "--from", "0"], 2, "--from"),
    (["journal", "dump", "{dir}", "--to", "-1"], 2, "--to"),
    (["journal", "dump", "{dir}", "--from", str(BIG)], 2, "--from"),
    # generate
    (["generate", "{out}", "--messages", str(BIG)], 2, "--messages"),
    (["generate", "{out}", "--messages", "0"], 2, "--messages"),
    (["generate", "{out}", "--messages", "-5"], 2, "--messages"),
    (["generate", "{out}", "--symbols", "0"], 2, "--symbols"),
    (["generate", "{out}", "--symbols", "70000"], 2, "--symbols"),
    (["generate", "{out}", "--pcap", "--port", "70000"], 2, "--port"),
    (["generate", "{out}", "--pcap", "--port", "-1"], 2, "--port"),
    (["generate", "{out}", "--pcap", "--port", "0"], 2, "--port"),
    (["generate", "{out}", "--pcap", "--pcap-window-us", "-5"], 2, "--pcap-window-us"),
    (["generate", "{out}", "--pcap", "--pcap-window-us", str(BIG)], 2, "--pcap-window-us"),
    (["generate", "{out}", "--pcap", "--group", "10.0.0.1"], 2, "--group"),
    (["generate", "{out}", "--pcap", "--session", "X" * 40], 2, "--session"),
    (["generate", "{out}", "--pcap", "--session", ""], 2, "--session"),
    (["generate", "{out}", "--date", "yesterday"], 2, "yesterday"),
    (["generate", "{dir}", "--messages", "100000"], 2, "directory"),
    # mold serve
    (["mold", "serve", "{day}", "--group", "239.1.1.1:99999"], 2, "--group"),
    (["mold", "serve", "{day}", "--group", "239.1.1.1:0"], 2, "--group"),
    (["mold", "serve", "{day}", "--group", "239.1.1.1:x"], 2, "--group"),
    (["mold", "serve", "{day}", "--rate", "-5"], 2, "--rate"),
    (["mold", "serve", "{day}", "--rate", "0"], 2, "--rate"),
    (["mold", "serve", "{day}", "--speed", "0"], 2, "--speed"),
    (["mold", "serve", "{day}", "--speed", "nan"], 2, "--speed"),
    (["mold", "serve", "{day}", "--loss", "1.5"], 2, "--loss"),
    (["mold", "serve", "{day}", "--loss", "-0.1"], 2, "--loss"),
    (["mold", "serve", "{day}", "--ttl", "256"], 2, "--ttl"),
    (["mold", "serve", "{day}", "--retrans-port", "70000"], 2, "--retrans-port"),
    (["mold", "serve", "{day}", "--retrans-addr", "nonsense"], 2, "--retrans-addr"),
    (["mold", "serve", "{day}", "--session", "X" * 40], 2, "--session"),
    (["mold", "serve", "{day}", "--heartbeat-ms", "-1"], 2, "--heartbeat-ms"),
    (["mold", "serve", "{day}", "--max-payload", "0"], 2, "--max-payload"),
    (["mold", "serve", "{day}", "--max-payload", "70000"], 2, "--max-payload"),
    (["mold", "serve", "{day}", "--linger", "-1"], 2, "--linger"),
    (["mold", "serve", "{dir}"], 2, "is a directory"),
    (["mold", "serve", "{missing}"], 2, "no such file"),
    # soup serve
    (["soup", "serve", "{day}", "--port", "-1"], 2, "--port"),
    (["soup", "serve", "{day}", "--port", "70000"], 2, "--port"),
    (["soup", "serve", "{day}", "--session", "X" * 40], 2, "--session"),
    (["soup", "serve", "{day}", "--heartbeat-s", "0"], 2, "--heartbeat-s"),
    (["soup", "serve", "{day}", "--timeout-s", "-1"], 2, "--timeout-s"),
    (["soup", "serve", "{day}", "--duration", "-1"], 2, "--duration"),
    (["soup", "serve", "{day}", "--user", "nopassword"], 2, "--user"),
    (["soup", "serve", "{dir}"], 2, "is a directory"),
    # send
    (["send", "{day}", "--to", "127.0.0.1:9", "--heartbeat-ms", "-1"], 2, "--heartbeat-ms"),
    (["send", "{day}", "--to", "127.0.0.1:9", "--speed", "-1"], 2, "--speed"),
    (["send", "{day}", "--to", "127.0.0.1:9", "--speed", "0"], 2, "--speed"),
    (["send", "{day}", "--to", "127.0.0.1:9", "--rate", "-5"], 2, "--rate"),
    (["send", "{day}", "--to", "127.0.0.1:9", "--rate", "0"], 2, "--rate"),
    (["send", "{day}", "--to", "127.0.0.1:9", "--session", "X" * 40], 2, "--session"),
    (["send", "{day}", "--to", "127.0.0.1:9", "--loss", "2"], 2, "--loss"),
    (["send", "{day}", "--to", "127.0.0.1:9", "--ttl", "-1"], 2, "--ttl"),
    (["send", "{day}", "--to", "127.0.0.1"], 2, "--to"),
    (["send", "{day}", "--to", "127.0.0.1:70000"], 2, "--to"),
    (["send", "{day}", "--to", "127.0.0.1:0"], 2, "--to"),
    (["send", "{dir}", "--to", "127.0.0.1:9"], 2, "is a directory"),
    # listen (argument validation only)
    (["listen", "--source", "soup", "--soup", "nonsense"], 2, "--soup"),
    (["listen", "--source", "soup", "--soup", "127.0.0.1:99999"], 2, "--soup"),
    (["listen", "--timeout", "-1"], 2, "--timeout"),
    (["listen", "--group", "nonsense"], 2, "--group"),
    (["listen", "--group", "239.1.1.1:99999"], 2, "--group"),
    (["listen", "--line-b", "239.1.1.2"], 2, "--line-b"),
    (["listen", "--retrans", "127.0.0.1:0"], 2, "--retrans"),
    (["listen", "--soup-recovery", ":30002"], 2, "--soup-recovery"),
    (["listen", "--iface", ""], 2, "--iface"),
    (["listen", "--pcap", "/"], 2, "--pcap"),
    (["listen", "--session", "ELEVENCHARS"], 2, "--session"),
    (["listen", "--start-seq", "-1"], 2, "--start-seq"),
    (["listen", "--start-seq", "0"], 2, "--start-seq"),          # sequence numbers start at 1 (--join-live)
    (["listen", "--join-live", "--start-seq", "5"], 2, "--join-live"),
    (["listen", "--window-us", "-5"], 2, "--window-us"),
    (["listen", "--request-timeout-ms", "0"], 2, "--request-timeout-ms"),
    (["listen", "--max-attempts", "0"], 2, "--max-attempts"),
    (["listen", "--max-request", "70000"], 2, "--max-request"),
    (["listen", "--ring", "0"], 2, "--ring"),
    (["listen", "--ring", str(2**40)], 2, "--ring"),
    (["listen", "--idle-timeout", "-1"], 2, "--idle-timeout"),
    (["listen", "--stale-after", "nan"], 2, "--stale-after"),
    (["listen", "--levels", "0"], 2, "--levels"),
    (["listen", "--warmup", "-3"], 2, "--warmup"),
    (["listen", "--core", "-1"], 2, "--core"),
    (["listen", "--top", "-1"], 2, "--top"),
    # match (1 bad settings, 2 usage, 3 unusable header: README)
    (["match", "{csv}", "--max-orders", "0"], 2, "--max-orders"),
    (["match", "{csv}", "--max-orders", str(2 ** 31)], 2, "--max-orders"),
    (["match", "{csv}", "--batch", "0"], 2, "--batch"),
    (["match", "{csv}", "--snapshot-every", "-1"], 2, "--snapshot-every"),
    (["match", "{dir}"], 1, "directory"),
    (["match", "{missing}"], 1, "No such file"),
    (["match", "{bighdr}"], 3, "header"),
    (["match", "{csv}", "--symbols", ",,,"], 2, "--symbols"),
    (["match", "{csv}", "--tick", "AAPL"], 1, "--tick"),
    (["match", "{csv}", "--default-tick", "-1"], 1, "--default-tick"),
    (["match", "{csv}", "--positions", "{dir}"], 1, "--positions"),
    (["match", "{csv}", "--risk", "{dir}"], 1, "--risk"),
    (["match", "{csv}", "--risk", "{missing}"], 1, "--risk"),
    (["match", "{csv}", "--journal", "{plain}"], 5, "--journal"),
    (["match", "{csv}", "--fresh"], 1, "--journal"),
    # runtime failures the commands report themselves (exit 1: input or system error)
    (["generate", "{missing}/sub/out", "--messages", "100000"], 2, "No such file"),
    (["mold", "serve", "{day}", "--iface", "tw-no-such-if0", "--linger", "0"], 1, "interface"),
    (["send", "{day}", "--to", "239.1.1.1:9", "--iface", "tw-no-such-if0"], 1, "interface"),
    (["soup", "serve", "{day}", "--bind", "nonsense.invalid", "--duration", "0"], 1, "nonsense.invalid"),
    (["listen", "--source", "nonsense"], 2, "unknown source"),
    (["listen", "--source", "pcap", "--timeout", "1"], 2, "path=FILE"),
]


def _ids():
    return [" ".join(a).replace("/", "_")[:80] + f"-{i}" for i, (a, _, _) in enumerate(CASES)]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_args")
    (d / "dir").mkdir()
    (d / "plain").write_text("not a journal\n")
    pcap = d / "v99.pcap"
    r = subprocess.run([sys.executable, "-m", "tickwire", "generate", str(pcap), "--pcap", "--messages", "20000",
                        "--symbols", "10"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    raw = bytearray(pcap.read_bytes())
    raw[4:8] = struct.pack("<HH", 9, 9)           # version 9.9 (little-endian magic d4 c3 b2 a1 / 4d 3c b2 a1)
    pcap.write_bytes(bytes(raw))
    (d / "in.csv").write_text("seq,action,order_id,account,symbol,side,type,tif,qty,price,stop_price,display_qty,"
                              "expire_ns\n1,new,1,7,AAPL,sell,limit,day,100,190.01,,,\n")
    (d / "bighdr.csv").write_text("seq," + "x" * (10 << 20) + "\n1\n")
    return {"day": DAY, "dir": str(d / "dir"), "plain": str(d / "plain"), "missing": str(d / "missing"),
            "pcap99": str(pcap), "csv": str(d / "in.csv"), "bighdr": str(d / "bighdr.csv"), "out": str(d / "out.itch")}


def run_cli(argv, timeout=60):
    return subprocess.run([sys.executable, "-m", "tickwire", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("argv,rc,needle", CASES, ids=_ids())
def test_nonsense_argument_one_line_and_exit_status(paths, argv, rc, needle):
    argv = [a.format(**paths) for a in argv]
    p = run_cli(argv)
    lines = p.stderr.splitlines()
    assert "Traceback" not in p.stderr, p.stderr[-3000:]
    assert p.returncode == rc, (p.returncode, p.stderr[-2000:])
    assert len(lines) == 1, p.stderr[-2000:]
    assert needle in lines[0], lines[0]
    assert lines[0].startswith("tickwire") and len(lines[0]) < 1000, lines[0][:1000]


def test_internal_error_is_one_line_exit_70_traceback_on_request(monkeypatch):
    """An unexpected exception: 'internal error' and one line, exit 70; TICKWIRE_DEBUG_TRACEBACK=1 adds it."""
    code = ("import sys, tickwire.cli as c, tickwire.commands.replay as r\n"
            "def boom(args): raise ZeroDivisionError('boom')\n"
            "r.run = boom\n"
            f"sys.exit(c.main(['replay', {DAY!r}]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TICKWIRE_DEBUG_TRACEBACK", None)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert p.returncode == 70
    assert p.stderr.splitlines() == ["tickwire replay: internal error: ZeroDivisionError: boom"]
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                       env={**env, "TICKWIRE_DEBUG_TRACEBACK": "1"})
    assert p.returncode == 70 and "Traceback" in p.stderr and "ZeroDivisionError: boom" in p.stderr


def test_permission_hints_name_the_missing_capability():
    import errno

    from datapath.source_codes import permission_hint

    assert "CAP_NET_RAW" in permission_hint("xsk_umem__create", errno.EPERM)
    assert "RLIMIT_MEMLOCK" in permission_hint("xsk_umem__create", errno.ENOBUFS)
    assert "CAP_NET_ADMIN" in permission_hint("attach", errno.EPERM)
    assert "CAP_BPF" in permission_hint("attach", errno.EPERM)
    assert permission_hint("xsk_umem__create", errno.EINVAL) == ""


def test_source_open_failure_exits_3_bad_option_2():
    """docs/mold_soup.md: 3 when the source cannot be opened, 2 on bad options."""
    from datapath.registry import SourceUnavailable, open_source
    from datapath.source_codes import SourceError

    with pytest.raises(SourceUnavailable) as e:                 # what `listen` maps to exit 3
        open_source("afpacket", interface="tw-no-such-if0", port=30001)
    assert isinstance(e.value, SourceError) and e.value.name == "KSRC_E_NO_INTERFACE"
    with pytest.raises(SourceError) as e:
        open_source("afxdp", interface="lo", port=70000)
    assert not isinstance(e.value, SourceUnavailable) and e.value.name == "KSRC_E_BAD_OPTION"
