"""`tickwire listen` end to end, as a user runs it: `tickwire mold serve` in namespace A (lossy, paced),
`tickwire listen` in namespace B (one line, or A/B), JSON summary checked against the file."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time

import pytest

from netns_util import veth_pair

pytestmark = pytest.mark.netns
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = 31201
RETRANS = 31202


@pytest.fixture(scope="module")
def gen_day(tmp_path_factory):
    from lab.daygen import generate_day

    path = tmp_path_factory.mktemp("listen") / "day.itch"
    generate_day(str(path), 15000, 10, 21)
    return path


@pytest.fixture(scope="module")
def expected(gen_day):
    from tickwire.commands.replay import replay
    from tickwire.summary import summarize

    from testing.digest import DigestSink
    import numpy as np

    ref = DigestSink()
    ref.feed_binaryfile(np.fromfile(gen_day, dtype=np.uint8))
    stats, books, elapsed = replay(str(gen_day))
    return ref, summarize(stats, books, elapsed, source="file", top=10)


def tw(*args):
    return ["env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "tickwire", *map(str, args)]


def wait_ready(proc, timeout=30.0):
    """Read the listener's stderr until its 'listening' line (it has joined the groups)."""
    end = time.monotonic() + timeout
    lines = []
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("listening"):
            return
    proc.kill()
    raise AssertionError(f"listener never became ready: {''.join(lines)}{proc.stderr.read()}")


def run_pair(net, day, listen_args, serve_args, source="udp"):
    listener = net.popen(net.ns_b, *tw("listen", "--source", source, "--iface", net.if_b,
                                       "--retrans", f"{net.ip_a}:{RETRANS}", "--until-end-of-session",
                                       "--timeout", 30, "--json", "--digest", "--top", 10, *listen_args),
                         text=True)
    wait_ready(listener)
    server = net.popen(net.ns_a, *tw("mold", "serve", day, "--iface", net.if_a, "--retrans-port", RETRANS,
                                     "--retrans-addr", net.ip_a, "--rate", 300000, "--linger", 1.5,
                                     "--heartbeat-ms", 100, "--json", *serve_args), text=True)
    out, err = listener.communicate(timeout=60)
    assert listener.returncode in (0, 1), err
    s_out, s_err = server.communicate(timeout=60)
    assert server.returncode == 0, s_err
    return json.loads(out), json.loads(s_out.strip().splitlines()[-1])


def test_listen_one_line_with_loss_equals_replay(gen_day, expected):
    ref, want = expected
    with veth_pair() as net:
        got, served = run_pair(net, gen_day, ["--group", f"239.77.3.1:{PORT}"],
                               ["--group", f"239.77.3.1:{PORT}", "--loss", "0.05", "--seed", "4"])
    assert got["stop_reason"] == "end of session"
    assert got["messages"] == want["messages"] and got["digest"] == f"{ref.digest:016x}"
    assert got["unrecoverable"] == 0 and got["gaps_recovered"] > 0 and served["dropped"] > 0
    assert served["retrans_messages"] >= got["gaps_recovered"] > 0
    for key in ("by_type", "books", "live_orders", "crossed_books", "most_active", "unknown_refs"):
        assert got[key] == want[key], key
    assert got["latency_ns"]["count"] > 0 and got["latency_ns"]["p99"] >= got["latency_ns"]["p50"] > 0


def test_listen_ab_lines(gen_day, expected):
    ref, want = expected
    with veth_pair() as net:
        got, served = run_pair(net, gen_day,
                               ["--group", f"239.77.3.1:{PORT}", "--line-b", f"239.77.3.2:{PORT}",
                                "--window-us", 100000],
                               ["--group", f"239.77.3.1:{PORT}", "--group", f"239.77.3.2:{PORT}",
                                "--loss", "0.1", "--seed", "6"])
    assert got["stop_reason"] == "end of session" and got["unrecoverable"] == 0
    assert got["digest"] == f"{ref.digest:016x}" and got["most_active"] == want["most_active"]
    wins = got["line_wins"]
    assert wins["A"] > 0 and wins["B"] > 0 and wins["A"] + wins["B"] + wins["retrans"] == want["messages"]
    assert got["duplicates_dropped"]["A"] + got["duplicates_dropped"]["B"] > 0


@pytest.mark.parametrize("source", ["afpacket", "afxdp"])
def test_listen_raw_sources_with_loss(gen_day, expected, source):
    """Same feed through the AF_PACKET (TPACKET_V3) and AF_XDP sources of the registry: same books."""
    ref, want = expected
    with veth_pair() as net:
        got, served = run_pair(net, gen_day, ["--group", f"239.77.3.1:{PORT}"],
                               ["--group", f"239.77.3.1:{PORT}", "--loss", "0.05", "--seed", "8"], source=source)
    assert got["stop_reason"] == "end of session" and got["unrecoverable"] == 0
    assert got["digest"] == f"{ref.digest:016x}" and got["most_active"] == want["most_active"]
    assert got["gaps_recovered"] > 0 and got["sources"][0]["rx_packets"] > 0


def test_listen_recovers_over_soupbintcp(gen_day, expected):
    """`--soup-recovery`: MoldUDP64 gaps filled from a SoupBinTCP replay server instead of UDP re-requests."""
    ref, want = expected
    with veth_pair() as net:
        soup = net.popen(net.ns_a, *tw("soup", "serve", gen_day, "--bind", net.ip_a, "--port", 31203,
                                       "--duration", 30), text=True)
        ready = soup.stderr.readline()          # printed once the server listens
        assert ready.startswith("SoupBinTCP:"), ready + soup.stderr.read()
        got, served = run_pair(net, gen_day, ["--group", f"239.77.3.1:{PORT}", "--soup-recovery",
                                              f"{net.ip_a}:31203", "--request-timeout-ms", 500],
                               ["--group", f"239.77.3.1:{PORT}", "--loss", "0.05", "--seed", "12",
                                "--retrans-port", 31299])
        soup.kill()
    assert got["stop_reason"] == "end of session" and got["unrecoverable"] == 0
    assert got["gaps_recovered"] > 0 and served["retrans_requests"] == 0
    assert got["digest"] == f"{ref.digest:016x}" and got["most_active"] == want["most_active"]


def test_listen_dpdk_net_pcap_vdev(tmp_path):
    """The DPDK source (net_pcap virtual device replaying a generated capture, no NIC, no hugepages)
    through the session layer into the books: the same message stream as the pcap source."""
    import subprocess

    from lab.daygen import generate_day

    pcap = tmp_path / "day.pcap"
    generate_day(str(pcap), 8000, 8, 5, pcap=True)
    env = {**os.environ, "PYTHONPATH": ROOT}
    base = [sys.executable, "-m", "tickwire", "listen", "--group", "233.54.12.111:26477", "--json", "--digest"]
    ref = subprocess.run(base + ["--source", "pcap", "--pcap", str(pcap)], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, env=env)
    assert ref.returncode == 0, ref.stderr
    want = json.loads(ref.stdout)
    eal = f"--no-pci --no-huge -m 256 --file-prefix twlisten{os.getpid()} --vdev net_pcap0,rx_pcap={pcap}"
    try:
        p = subprocess.run(base + ["--source", "dpdk", "--dpdk-args", eal, "--idle-timeout", "0.5", "--timeout", "30"],
                           capture_output=True, text=True, timeout=90, cwd=ROOT, env=env)
    finally:                          # the EAL runtime directory of this run's --file-prefix
        shutil.rmtree(f"/var/run/dpdk/twlisten{os.getpid()}", ignore_errors=True)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout[p.stdout.index("{"):])
    assert want["messages"] == got["messages"] == 8000
    assert got["digest"] == want["digest"] and got["most_active"] == want["most_active"]
    assert got["gaps"] == 0 and got["unrecoverable"] == 0


def test_listen_reports_unrecoverable_ranges(gen_day):
    """No re-request server answers: every lost range is given up, reported on stderr and in the JSON
    (ranges add up to the count), the stream continues after each, and the exit status is 1."""
    import re

    with veth_pair() as net:
        listener = net.popen(net.ns_b, *tw("listen", "--iface", net.if_b, "--group", f"239.77.3.5:{PORT}",
                                           "--retrans", f"{net.ip_a}:31999", "--until-end-of-session",
                                           "--timeout", 30, "--max-attempts", 2, "--request-timeout-ms", 10,
                                           "--json"), text=True)
        wait_ready(listener)
        net.run(net.ns_a, *tw("send", gen_day, "--to", f"239.77.3.5:{PORT}", "--iface", net.if_a, "--rate",
                              300000, "--loss", 0.05, "--seed", 2), timeout=60)
        out, err = listener.communicate(timeout=60)
    assert listener.returncode == 1, err
    got = json.loads(out)
    ranges = got["unrecoverable_ranges"]
    assert ranges and got["unrecoverable"] == sum(hi - lo for lo, hi in ranges)
    assert got["messages"] + got["unrecoverable"] == 15000 and got["stop_reason"] == "end of session"
    reported = re.findall(r"messages (\d+)\.\.(\d+) \((\d+)\) unrecoverable \(([^)]*)\); skipped", err)
    assert [[int(a), int(b) + 1] for a, b, _, _ in reported] == ranges
    assert {why for *_, why in reported} == {"2 requests unanswered"}
    assert got["books_not_exact_since"] == ranges[0][0]
