"""The feed service as a real process on a real media driver: `tickwire send` of a generated day over loopback
multicast -> services.feed -> subscriber processes (strategy.md_client.MarketDataClient). A subscriber from
the start, a late joiner and a slow one (FAIL_FAST losses) all end with the books `tickwire book` computes
from the same file; garbage on snapshot_request is counted and the service keeps running; SIGTERM stops it
with exit 0; a pcap source serves a late joiner. Every loop idles with backoff (2 cores)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from messaging.driver import ensure_driver

ROOT = Path(__file__).resolve().parents[1]
DRIVER_ENV = {"AERON_IPC_TERM_BUFFER_LENGTH": "1m", "AERON_TERM_BUFFER_LENGTH": "1m",
              "AERON_CLIENT_LIVENESS_TIMEOUT": "2s", "AERON_IMAGE_LIVENESS_TIMEOUT": "2s",
              "AERON_PUBLICATION_LINGER_TIMEOUT": "200ms", "AERON_PUBLICATION_UNBLOCK_TIMEOUT": "5s"}
MESSAGES = 20000
WAIT_S = 60          # generous bound on waiting for a condition (never an assertion on time)


def env():
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def py(*args):
    return [sys.executable, *map(str, args)]


@pytest.fixture(scope="module")
def driver():
    d = Path("/dev/shm") / f"tw-feed-test-{os.getpid()}"
    handle = ensure_driver(str(d), "shared", env=dict(os.environ, **DRIVER_ENV))
    assert handle is not None
    yield str(d)
    assert handle.stop() == 0


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    d = tmp_path_factory.mktemp("day")
    pcap = d / "day.pcap"
    subprocess.run(py("-m", "tickwire", "generate", pcap, "--messages", MESSAGES, "--symbols", 20, "--seed", 11,
                      "--pcap"), check=True, env=env(), cwd=ROOT, capture_output=True)
    ref = subprocess.run(py("-m", "tickwire", "book", pcap, "--levels", 1 << 30, "--csv"), check=True, env=env(),
                         cwd=ROOT, capture_output=True, text=True).stdout
    assert len(ref.splitlines()) > 100
    return pcap, ref


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp_path, driver, feed: str) -> Path:
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(f'[appliance]\naeron_dir = "{driver}"\nrun_dir = "{tmp_path}/run"\n\n[feed]\nidle = "backoff"\n{feed}')
    return cfg


def wait_line(proc, text, what):
    """Read the process's stderr until a line contains ``text``; the lines read so far."""
    lines = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{what}: no {text!r} line; stderr so far: {''.join(lines)[-2000:]}")


def status(tmp_path):
    p = tmp_path / "run" / "feed.status.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return {}


def wait_status(tmp_path, cond, what):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        st = status(tmp_path)
        if st and cond(st):
            return st
        time.sleep(0.1)
    raise AssertionError(f"{what}: last status {status(tmp_path)}")


def start_feed(cfg):
    p = subprocess.Popen(py("-m", "services.feed", "--config", cfg), cwd=ROOT, env=env(), stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, text=True)
    wait_line(p, "started", "feed")
    return p


def start_sub(cfg, out, *extra):
    p = subprocess.Popen(py(ROOT / "tests" / "md_sub_helper.py", cfg, out, *extra), cwd=ROOT, env=env(),
                         stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return p


def finish_sub(p):
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=WAIT_S + 30)
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def stop(p):
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=WAIT_S)
    return p.returncode, err


def test_live_feed_early_late_and_slow_subscribers_end_with_the_files_books(tmp_path, driver, day):
    pcap, ref = day
    port = free_udp_port()
    group = "239.192.77.1"
    cfg = write_config(tmp_path, driver, f'source = "udp"\nline_a = "{group}:{port}"\ninterface = "lo"\n')
    feed = start_feed(cfg)
    try:
        early = start_sub(cfg, tmp_path / "early.csv")
        slow = start_sub(cfg, tmp_path / "slow.csv", "--pause-after-live", 3)
        wait_line(early, "live", "early subscriber")
        wait_line(slow, "live", "slow subscriber")
        subprocess.run(py("-m", "tickwire", "send", pcap, "--to", f"{group}:{port}", "--iface", "lo",
                          "--rate", 200000), check=True, cwd=ROOT, env=env(), capture_output=True)
        st = wait_status(tmp_path, lambda s: s["session"]["messages"] >= MESSAGES, "feed applied the day")
        late = start_sub(cfg, tmp_path / "late.csv")
        wait_line(late, "live", "late joiner")
        c_early, c_slow, c_late = finish_sub(early), finish_sub(slow), finish_sub(late)
        st = status(tmp_path)
        assert feed.poll() is None
    finally:
        rc, err = stop(feed)
    assert rc == 0, err
    assert "stopping on SIGTERM" in err
    for name in ("early", "slow", "late"):
        assert (tmp_path / f"{name}.csv").read_text() == ref, (name, c_early, c_slow, c_late, st.get("md"))
    # the slow one lost messages on the Aeron hop (FAIL_FAST) and recovered them by snapshot
    assert c_slow["gaps"] >= 1 and c_slow["snapshots_applied"] >= 2, c_slow
    assert st["md"]["failed"] > 0
    assert c_late["snapshots_applied"] >= 1 and c_late["refused"] == 0
    assert c_early["refused"] == 0 and c_early["books_now"] == 20


def test_garbage_on_snapshot_request_is_counted_and_the_service_runs_on(tmp_path, driver, day):
    from messaging import sbe
    from messaging.transport import AeronClient
    from services.config import load

    pcap, ref = day
    cfg = write_config(tmp_path, driver, f'source = "pcap"\npcap = "{pcap}"\n')
    feed = start_feed(cfg)
    try:
        c = load(cfg)
        with AeronClient(driver, idle="backoff") as client:
            pub = client.publication(c.streams["snapshot_request"])
            deadline = time.monotonic() + WAIT_S
            while not pub.is_connected and time.monotonic() < deadline:
                time.sleep(0.01)
            good = sbe.encode("SnapshotRequest", request_id=1, client_id=1, locate=0)
            for bad in (b"", b"garbage!", b"\x00" * 3, good[:12], sbe.encode("Heartbeat", stream_seq=1)):
                assert pub.offer_bytes(bad) > 0
            wait_status(tmp_path, lambda s: s["snapshot_requests_refused"] >= 4
                        and s["snapshot_requests_wrong_template"] >= 1, "refusals counted")
        # still serving: a late joiner gets the file's books from the pcap source
        late = start_sub(cfg, tmp_path / "late.csv")
        wait_line(late, "live", "late joiner")
        finish_sub(late)
        assert feed.poll() is None
    finally:
        rc, err = stop(feed)
    assert rc == 0, err
    assert (tmp_path / "late.csv").read_text() == ref
    assert "Traceback" not in err


def test_symbol_subset_publishes_only_those_books(tmp_path, driver, day):
    pcap, ref = day
    header, *rows = ref.splitlines(keepends=True)
    names = sorted({r.split(",")[1] for r in rows})[:2]
    cfg = write_config(tmp_path, driver, f'source = "pcap"\npcap = "{pcap}"\nsymbols = {names!r}\n'.replace("'", '"'))
    feed = start_feed(cfg)
    try:
        sub = start_sub(cfg, tmp_path / "sub.csv")
        wait_line(sub, "live", "subscriber")
        wait_status(tmp_path, lambda s: s["md"]["feed_seq"] >= MESSAGES, "feed applied the day")
        counters = finish_sub(sub)
        st = status(tmp_path)
    finally:
        rc, err = stop(feed)
    assert rc == 0, err
    want = header + "".join(r for r in rows if r.split(",")[1] in names)
    assert (tmp_path / "sub.csv").read_text() == want
    assert st["md"]["filtered"] > 0 and counters["books_now"] == 2


def test_lost_packets_without_a_retransmission_server_are_a_feed_status_gap_given_up(tmp_path, driver, day):
    """`tickwire send --loss`: holes the session cannot recover (no re-request server) are given up; the feed
    says so on market_data (FeedStatus), in its status (books not exact since N) and keeps running."""
    from messaging import sbe
    from messaging.transport import AeronClient
    from services.config import load

    pcap, _ = day
    port = free_udp_port()
    group = "239.192.77.2"
    cfg = write_config(tmp_path, driver, f'source = "udp"\nline_a = "{group}:{port}"\ninterface = "lo"\n')
    feed = start_feed(cfg)
    events = []
    try:
        with AeronClient(driver, idle="backoff") as client:
            sub = client.subscription(load(cfg).streams["market_data"])
            deadline = time.monotonic() + WAIT_S
            while not sub.is_connected and time.monotonic() < deadline:
                time.sleep(0.01)

            def keep(buf, sid):
                if buf[2] == 12:                                   # FeedStatus
                    events.append(sbe.decode(buf))
            send = subprocess.Popen(py("-m", "tickwire", "send", pcap, "--to", f"{group}:{port}", "--iface", "lo",
                                       "--rate", 100000, "--loss", 0.02, "--seed", 3), cwd=ROOT, env=env(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + WAIT_S
            while (send.poll() is None or not events) and time.monotonic() < deadline:
                if sub.poll(keep, 256) == 0:                       # keep up: the feed publishes FAIL_FAST
                    time.sleep(0.0005)
            assert send.wait() == 0
            wait_status(tmp_path, lambda s: s["session"]["unrecoverable"] > 0 and s["feed_status_sent"] > 0,
                        "gap given up")
        assert feed.poll() is None
    finally:
        rc, err = stop(feed)
    assert rc == 0, err
    given_up = [e for e in events if int(e.event) == 5]
    assert given_up and given_up[0].gap_from <= given_up[0].gap_to
    assert "given up" in err and "books not exact since" in err


def test_gaps_recovered_from_the_retransmission_server_are_feed_status_and_books_stay_exact(tmp_path, driver, day):
    """`tickwire mold serve --loss`: the session re-requests the holes; the feed publishes FeedStatus gap opened
    and recovered, and a subscriber's books are the file's."""
    pcap, ref = day
    port, rport = free_udp_port(), free_udp_port()
    group = "239.192.77.3"
    cfg = write_config(tmp_path, driver, f'source = "udp"\nline_a = "{group}:{port}"\ninterface = "lo"\n'
                                         f'retrans = "127.0.0.1:{rport}"\n')
    feed = start_feed(cfg)
    try:
        sub = start_sub(cfg, tmp_path / "sub.csv")
        wait_line(sub, "live", "subscriber")
        serve = subprocess.run(py("-m", "tickwire", "mold", "serve", pcap, "--group", f"{group}:{port}", "--iface",
                                  "lo", "--retrans-port", rport, "--retrans-addr", "127.0.0.1", "--rate", 100000,
                                  "--loss", 0.01, "--seed", 5, "--linger", 2), cwd=ROOT, env=env(), capture_output=True,
                               text=True)
        assert serve.returncode == 0, serve.stderr
        st = wait_status(tmp_path, lambda s: s["session"]["messages"] >= MESSAGES and not s["session"]["unrecoverable"]
                         and s["md"]["feed_seq"] >= MESSAGES, "feed applied the day")
        counters = finish_sub(sub)
    finally:
        rc, err = stop(feed)
    assert rc == 0, err
    assert st["session"]["gaps"] > 0 and st["session"]["unrecoverable"] == 0
    ev = counters["feed_events"]
    assert ev.get("GAP@feed", 0) >= 1 and ev.get("RECOVERED@feed", 0) >= 1, counters
    assert (tmp_path / "sub.csv").read_text() == ref
