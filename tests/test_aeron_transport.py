"""messaging.transport on a real Aeron media driver (a child process, threading shared, loopback only):
IPC and UDP unicast pub/sub, ordering and no loss under back-pressure (RETRY_BOUNDED) or every loss
counted (FAIL_FAST), not-connected counted, fragmented messages reassembled, a SIGKILLed publisher
seen as an unavailable image, no driver -> AERON_E_NO_DRIVER. Every loop uses the backoff idle strategy
(2 cores: nothing may busy-spin against the driver)."""
from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.codes import (AERON_E_ADMIN_ACTION, AERON_E_BACK_PRESSURED, AERON_E_CLOSED, AERON_E_NO_DRIVER, AERON_E_NOT_CONNECTED,
                        AERON_E_TOO_LONG)
from messaging.channels import AeronError, Policy, StreamSpec
from messaging.driver import ensure_driver
from messaging.transport import AeronClient, IdleStrategy, header_values_size, image_constants_size

ROOT = Path(__file__).resolve().parents[1]
HELPER = ROOT / "tests" / "aeron_helper.py"

#: Aeron settings of the test driver: small log buffers, short liveness (a killed client is noticed in ~2 s).
DRIVER_ENV = {"AERON_IPC_TERM_BUFFER_LENGTH": "1m", "AERON_TERM_BUFFER_LENGTH": "1m",
              "AERON_CLIENT_LIVENESS_TIMEOUT": "2s", "AERON_IMAGE_LIVENESS_TIMEOUT": "2s",
              "AERON_PUBLICATION_LINGER_TIMEOUT": "200ms", "AERON_PUBLICATION_UNBLOCK_TIMEOUT": "5s"}


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = Path("/dev/shm") / f"tw-aeron-test-{os.getpid()}"
    env = dict(os.environ, **DRIVER_ENV)
    handle = ensure_driver(str(d), "shared", env=env)
    assert handle is not None
    yield str(d)
    assert handle.stop() == 0


@pytest.fixture
def client(driver):
    with AeronClient(driver, idle="backoff") as c:
        yield c


_ids = iter(range(100, 10_000))


def stream(channel="aeron:ipc", policy=Policy.RETRY_BOUNDED, retry_ns=1_000_000):
    return StreamSpec("test", channel, next(_ids), policy, retry_ns)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, what, timeout=30.0):
    """Polls ``cond`` (backoff) until true; the timeout only guards against a hang."""
    idle = IdleStrategy.parse("sleep:1ms")
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        idle.idle_py(0)


def receive(sub, n, timeout=60.0):
    got = []
    wait_for(lambda: sub.poll(lambda b, sid: got.append((b, sid)), 64) >= 0 and len(got) >= n,
             f"{n} messages", timeout)
    return got


def test_no_driver_is_a_clean_error(tmp_path):
    with pytest.raises(AeronError) as e:
        AeronClient(str(tmp_path / "nothing"))
    assert e.value.code == AERON_E_NO_DRIVER
    assert "no Aeron media driver is active" in str(e.value) and "\n" not in str(e.value)


def test_layouts_are_aeron_1_53():
    assert header_values_size() == 44          # packed(4): 32-byte frame + int32 + size_t
    assert image_constants_size() == 72


@pytest.mark.parametrize("media", ["ipc", "udp"])
def test_pub_sub_whole_messages_session_and_image_events(client, media):
    channel = "aeron:ipc" if media == "ipc" else f"aeron:udp?endpoint=127.0.0.1:{free_udp_port()}"
    s = stream(channel)
    sub = client.subscription(s)
    pub = client.publication(s)
    wait_for(lambda: pub.is_connected and sub.image_count == 1, "connected")
    big = bytes(range(256)) * 400                              # 102,400 bytes: ~73 fragments of the 1408 MTU
    assert pub.offer_bytes(b"first") > 0
    assert pub.claim_bytes(b"claimed") > 0
    assert pub.offer_bytes(big) > 0
    got = receive(sub, 3)
    assert [b for b, _ in got] == [b"first", b"claimed", big]
    assert {sid for _, sid in got} == {pub.session_id}          # header values read at 1.53's layout
    ev = sub.drain_image_events()
    assert len(ev) == 1 and ev[0][:2] == ("available", pub.session_id)
    assert ev[0][2] == "aeron:ipc" if media == "ipc" else ev[0][2].startswith("127.0.0.1:")
    assert sub.messages == 3
    assert pub.counters()["offered"] == 3 and pub.counters()["failed"] == 0


def test_claim_above_max_payload_is_refused_and_counted(client):
    s = stream()
    sub = client.subscription(s)
    pub = client.publication(s)
    wait_for(lambda: pub.is_connected, "connected")
    assert pub.claim_bytes(b"x" * 2000) == AERON_E_TOO_LONG     # claims are single-frame (MTU 1408)
    assert pub.counters()["error"] == 1 and pub.counters()["failed"] == 1
    assert sub is not None


@pytest.mark.parametrize("policy", [Policy.FAIL_FAST, Policy.RETRY_BOUNDED])
def test_not_connected_is_counted(client, policy):
    pub = client.publication(stream(policy=policy, retry_ns=2_000_000))
    assert pub.offer_bytes(b"nobody") == AERON_E_NOT_CONNECTED
    c = pub.counters()
    assert c["failed"] == 1 and c["offered"] == 0
    if policy == Policy.FAIL_FAST:
        assert c["not_connected"] == 1                          # one attempt, counted at once
    else:
        assert c["not_connected"] >= 2                          # every retry within the bound is counted


def test_closed_publication(client):
    pub = client.publication(stream())
    pub.close()
    assert pub.offer_bytes(b"x") == AERON_E_CLOSED and pub.counters()["closed"] == 1


def test_fail_fast_back_pressure_returns_at_once(client):
    s = stream("aeron:ipc?term-length=64k", Policy.FAIL_FAST)
    sub = client.subscription(s)                                # never polled
    pub = client.publication(s)
    wait_for(lambda: pub.is_connected, "connected")
    codes = [pub.offer_bytes(b"y" * 100) for _ in range(2000)]  # 2000 x 160 B framed > the 32 KiB window
    fails = [c for c in codes if c < 0]
    assert fails and set(fails) <= {AERON_E_BACK_PRESSURED, AERON_E_ADMIN_ACTION}
    assert AERON_E_BACK_PRESSURED in fails
    c = pub.counters()
    assert c["failed"] == len(fails) == c["back_pressured"] + c["admin_action"]
    assert c["offered"] == 2000 - len(fails)
    assert sub.image_count == 1


def _run_publisher(driver, channel, stream_id, n, policy, retry_ns, size=16):
    return subprocess.Popen([sys.executable, str(HELPER), "publish", driver, channel, str(stream_id), str(n),
                             policy.name, str(retry_ns), str(size)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _slow_drain(sub, proc):
    """Reads every message until the publisher's image goes away after it exits, sleeping 1 ms every
    4096 messages (a slow subscriber); the sequence numbers in order of arrival."""
    seqs = []
    ended = False
    idle = IdleStrategy.parse("backoff")

    def on(b, sid):
        seqs.append(struct.unpack_from("<Q", b)[0])
        if len(seqs) % 4096 == 0:
            time.sleep(0.001)

    while True:
        n = sub.poll(on, 256)
        idle.idle_py(n)
        if not ended:
            ended = any(kind == "unavailable" for kind, _, _ in sub.drain_image_events())
        elif n == 0:
            break
        if proc.poll() not in (None, 0):
            pytest.fail(f"publisher failed: {proc.stderr.read()}")
    return seqs


@pytest.mark.slow
@pytest.mark.parametrize("media", ["ipc", "udp"])
def test_retry_bounded_one_million_in_order_no_loss(client, driver, media):
    channel = ("aeron:ipc?term-length=64k" if media == "ipc"
               else f"aeron:udp?endpoint=127.0.0.1:{free_udp_port()}|term-length=64k")
    s = stream(channel, Policy.RETRY_BOUNDED, 10_000_000_000)
    sub = client.subscription(s)
    n = 1_000_000
    proc = _run_publisher(driver, s.channel, s.stream_id, n, Policy.RETRY_BOUNDED, s.retry_ns)
    seqs = _slow_drain(sub, proc)
    counters = json.loads(proc.communicate()[0])
    assert proc.returncode == 0
    assert len(seqs) == n and seqs == list(range(n))
    assert counters["offered"] == n and counters["failed"] == 0
    assert counters["back_pressured"] > 0                       # the subscriber was slow: it did push back


@pytest.mark.slow
def test_fail_fast_one_million_losses_counted(client, driver):
    s = stream("aeron:ipc?term-length=64k", Policy.FAIL_FAST, 0)
    sub = client.subscription(s)
    n = 1_000_000
    proc = _run_publisher(driver, s.channel, s.stream_id, n, Policy.FAIL_FAST, 0)
    seqs = _slow_drain(sub, proc)
    counters = json.loads(proc.communicate()[0])
    assert proc.returncode == 0
    assert all(a < b for a, b in zip(seqs, seqs[1:]))          # in order, no duplicate
    assert counters["failed"] == n - len(seqs) > 0              # every missing message was counted
    assert counters["offered"] == len(seqs)
    assert counters["failed"] == counters["back_pressured"] + counters["admin_action"]


@pytest.mark.parametrize("media", ["ipc", "udp"])
def test_sigkilled_publisher_is_an_unavailable_image(client, driver, media):
    channel = "aeron:ipc" if media == "ipc" else f"aeron:udp?endpoint=127.0.0.1:{free_udp_port()}"
    s = stream(channel)
    sub = client.subscription(s)
    proc = subprocess.Popen([sys.executable, str(HELPER), "hold", driver, channel, str(s.stream_id)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        session = int(proc.stdout.readline())
        got = receive(sub, 1)
        assert got == [(b"hello", session)]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        events = []
        wait_for(lambda: events.extend(sub.drain_image_events()) or
                 any(k == "unavailable" for k, _, _ in events), "unavailable image")
        assert [(k, sid) for k, sid, _ in events] == [("available", session), ("unavailable", session)]
        assert sub.image_count == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_client_close_closes_its_publishers(driver):
    c = AeronClient(driver)
    pub = c.publication(stream())
    sub = c.subscription(stream())
    c.close()
    assert c.is_closed and pub.is_closed
    assert pub.offer_bytes(b"x") == AERON_E_CLOSED
    with pytest.raises(AeronError):
        sub.poll(lambda b, s: None)


def test_callback_exception_is_raised_from_poll(client):
    s = stream()
    sub = client.subscription(s)
    pub = client.publication(s)
    wait_for(lambda: pub.is_connected, "connected")
    pub.offer_bytes(b"1")
    pub.offer_bytes(b"2")

    def boom(b, sid):
        raise ValueError(b)

    with pytest.raises(ValueError):
        wait_for(lambda: sub.poll(boom, 10) > 0, "a message")


@pytest.mark.parametrize("text,spec", [("busy-spin", "busy-spin"), ("yield", "yield"), ("sleep:1ms", "sleep:1000000ns"),
                                       ("backoff", "backoff:10,5,1000ns,1000000ns"), ("backoff:1,2,3us,4ms", "backoff:1,2,3000ns,4000000ns")])
def test_idle_strategy_from_config(text, spec):
    s = IdleStrategy.parse(text)
    assert s.spec == spec
    s.idle_py(1)
    if text != "busy-spin":
        s.idle_py(0)


@pytest.mark.parametrize("bad", ["spin:3", "sleep:fast", "backoff:1,2", "backoff:1,2,5ms,1ms", "sleep:0", "", 3])
def test_idle_strategy_bad_config(bad):
    from messaging.channels import AeronConfigError
    with pytest.raises(AeronConfigError) as e:
        IdleStrategy.parse(bad, key="services.feed.idle")
    assert str(e.value).startswith("AERON_E_CONFIG (-1313): services.feed.idle: ")


def test_driver_gone_closes_the_client_without_exiting(tmp_path):
    """Aeron's default error handler would print and exit() the process when the driver goes silent:
    tickwire's records the error, the client closes, offers return AERON_E_CLOSED."""
    d = str(Path("/dev/shm") / f"tw-aeron-gone-{os.getpid()}")
    handle = ensure_driver(d, env=dict(os.environ, **DRIVER_ENV))
    try:
        c = AeronClient(d, timeout_ms=1000)
        pub = c.publication(stream())
        handle.proc.kill()
        handle.proc.wait()
        wait_for(lambda: c.is_closed, "client closed after the driver timeout")
        count, code, message = c.errors
        assert count >= 1 and "keepalive" in message                 # Aeron: driver timeout (its errcode 1000)
        assert pub.offer_bytes(b"x") == AERON_E_CLOSED and pub.counters()["closed"] == 1
        c.close()
    finally:
        handle.stop()
        import shutil
        shutil.rmtree(d, ignore_errors=True)
