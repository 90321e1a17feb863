"""The fast strategy path in both modes as real processes on a real media driver: a recorded day (pcap)
through services.feed, orders of strategy.examples.fast_taker.FastTaker over Aeron IPC to services.gateway.

- separate process: ``services.strategy_host`` runs the FastStrategy (market data read by its nogil
  fragment handler);
- in process: ``[feed] strategy`` makes the feed service call it on each book change in its own thread.

Both: the strategy logs in, its orders reach the gateway and are acknowledged (every order gets its reports,
the first of each is a latency row with the hops that exist), SIGTERM stops every process with exit 0.
Every loop idles with backoff (2 cores)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from access.credentials import hash_credential
from messaging.driver import ensure_driver

ROOT = Path(__file__).resolve().parents[1]
DRIVER_ENV = {"AERON_IPC_TERM_BUFFER_LENGTH": "1m", "AERON_TERM_BUFFER_LENGTH": "1m",
              "AERON_CLIENT_LIVENESS_TIMEOUT": "2s", "AERON_IMAGE_LIVENESS_TIMEOUT": "2s",
              "AERON_PUBLICATION_LINGER_TIMEOUT": "200ms", "AERON_PUBLICATION_UNBLOCK_TIMEOUT": "5s"}
WAIT_S = 60          # generous bound on waiting for a condition (never an assertion on time)
PASSWORD = "fast-pw"
STRATEGY = """symbols = ["*"]
[params]
qty = 100
min_spread_ticks = 2
max_position = 100000
min_interval_us = 0
"""
_ids = iter(range(9100, 9900, 20))


def env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "FAST_PW": PASSWORD}


@pytest.fixture(scope="module")
def driver():
    d = Path("/dev/shm") / f"tw-fast-test-{os.getpid()}"
    handle = ensure_driver(str(d), "shared", env=dict(os.environ, **DRIVER_ENV))
    assert handle is not None
    yield str(d)
    assert handle.stop() == 0


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    d = tmp_path_factory.mktemp("day")
    pcap = d / "day.pcap"
    subprocess.run([sys.executable, "-m", "tickwire", "generate", str(pcap), "--messages", "20000", "--symbols", "20",
                    "--seed", "11", "--pcap"], check=True, env=env(), cwd=ROOT, capture_output=True)
    csv = subprocess.run([sys.executable, "-m", "tickwire", "book", str(pcap), "--csv"], check=True, env=env(),
                         cwd=ROOT, capture_output=True, text=True).stdout
    symbols = sorted({line.split(",")[1] for line in csv.splitlines()[1:]})
    assert len(symbols) >= 10
    return pcap, symbols


def write_config(tmp: Path, driver, pcap, symbols, *, in_process: bool) -> Path:
    base = next(_ids)
    names = ("market_data", "snapshot_request", "snapshot", "order_entry", "exec_reports", "drop_copy")
    streams = "".join(f'\n[streams.{n}]\nchannel = "aeron:ipc"\nstream_id = {base + k}\n' for k, n in enumerate(names))
    (tmp / "taker.toml").write_text(STRATEGY)
    feed_strategy = ('strategy = "strategy.examples.fast_taker:FastTaker"\nstrategy_config = "taker.toml"\n'
                     'strategy_user = "fast"\nstrategy_credential_env = "FAST_PW"\n') if in_process else ""
    host = ('\n[[strategy]]\nname = "taker"\nclass = "strategy.examples.fast_taker:FastTaker"\n'
            'config = "taker.toml"\nuser = "fast"\ncredential_env = "FAST_PW"\nidle = "backoff"\n') if not in_process else ""
    cfg = tmp / "appliance.toml"
    cfg.write_text(
        f'[appliance]\naeron_dir = "{driver}"\nrun_dir = "{tmp}/run"\n{streams}\n'
        f'[feed]\nidle = "backoff"\nsource = "pcap"\npcap = "{pcap}"\n{feed_strategy}\n'
        f'[gateway]\nidle = "backoff"\nsymbols = {json.dumps(symbols)}\njournal = "{tmp}/journal"\n'
        f'cancel_on_disconnect = true\n\n[[gateway.user]]\nname = "fast"\naccount = "ACC-FAST"\nfirm = "F1"\n'
        f'credential = "{hash_credential(PASSWORD, n=1024)}"\n{host}')
    return cfg


def start(tmp, name, *args):
    log = open(tmp / f"{name}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env(), stdout=log, stderr=log)


def status(tmp, name):
    try:
        return json.loads((tmp / "run" / f"{name}.status.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_status(tmp, name, cond, what, procs):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for n, p in procs.items():
            assert p.poll() is None, f"{n} exited {p.returncode}: {(tmp / f'{n}.log').read_text()[-2000:]}"
        st = status(tmp, name)
        if st and cond(st):
            return st
        time.sleep(0.1)
    raise AssertionError(f"{what}: last status of {name}: {status(tmp, name)}")


def counters(st):
    return st.get("counters", st)


def stop_all(tmp, procs):
    for n in reversed(list(procs)):
        p = procs[n]
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            assert p.wait(30) == 0, (tmp / f"{n}.log").read_text()[-3000:]


def check_latency(path, in_process: bool):
    from analytics.latency import STAMPS
    rows = np.load(path)
    assert len(rows) > 0
    col = {k: i for i, k in enumerate(STAMPS)}
    for k in ("rx", "book", "order_tx", "gw_rx", "er_rx"):      # send: a pcap has no TWTS stamps
        assert (rows[:, col[k]] > 0).all(), k
    for k in ("md_pub", "strat_rx"):
        assert (rows[:, col[k]] > 0).all() != in_process, k      # in process: no market-data hop, not stamped


@pytest.mark.parametrize("in_process", [False, True], ids=["separate-process", "in-process"])
def test_orders_reach_the_gateway_and_are_acked(driver, day, tmp_path, in_process):
    pcap, symbols = day
    cfg = write_config(tmp_path, driver, pcap, symbols, in_process=in_process)
    procs = {"gateway": start(tmp_path, "gateway", "services.gateway", "--config", str(cfg))}
    try:
        wait_status(tmp_path, "gateway", lambda s: True, "gateway up", procs)
        if in_process:
            procs["feed"] = start(tmp_path, "feed", "services.feed", "--config", str(cfg))
            who = "feed"
            fast = lambda s: counters(s).get("strategy", {}).get("fast", {})      # noqa: E731
        else:
            procs["taker"] = start(tmp_path, "taker", "services.strategy_host", "--config", str(cfg), "--name", "taker")
            wait_status(tmp_path, "taker", lambda s: True, "strategy host up", procs)
            procs["feed"] = start(tmp_path, "feed", "services.feed", "--config", str(cfg))
            who = "taker"
            fast = lambda s: counters(s).get("fast", {})                            # noqa: E731
        wait_status(tmp_path, "feed", lambda s: counters(s).get("ended") == "end of input", "day replayed", procs)
        st = wait_status(tmp_path, who, lambda s: fast(s).get("sent", 0) > 0
                         and fast(s).get("reports", 0) >= 2 * fast(s)["sent"], "every IOC answered", procs)
        f = fast(st)
        assert f["not_logged_in"] == 0 and f["claim_failed"] == 0 and f["unknown_symbol"] == 0
        assert f["bbos"] > f["sent"]      # md_gaps: FAIL_FAST losses of a replay at full speed are allowed
    finally:
        try:
            stop_all(tmp_path, procs)
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.kill()
    g = counters(status(tmp_path, "gateway"))
    assert g["orders"] >= f["sent"] and g["acks"] >= f["sent"], g          # every order the strategy sent acked
    assert g["engine_rejects"] == 0 and g.get("sbe_refused", 0) == 0, g     # seq numbers and encoding accepted
    assert g["logins"] == 1 and g["logouts"] == 1, g                        # one session, logged out at SIGTERM
    assert not [k for k in g if k.startswith("GW_E_")], g                     # no message refused (seq, session)
    check_latency(tmp_path / "run" / f"{who}.latency.npy", in_process)


def test_in_process_login_refused_is_one_line_and_exit_3(driver, day, tmp_path):
    pcap, symbols = day
    cfg = write_config(tmp_path, driver, pcap, symbols, in_process=True)
    procs = {"gateway": start(tmp_path, "gateway", "services.gateway", "--config", str(cfg))}
    try:
        wait_status(tmp_path, "gateway", lambda s: True, "gateway up", procs)
        feed = subprocess.run([sys.executable, "-m", "services.feed", "--config", str(cfg)], cwd=ROOT,
                              env=dict(env(), FAST_PW="wrong"), capture_output=True, text=True, timeout=WAIT_S)
        assert feed.returncode == 3, feed.stderr
        assert "cannot start: feed.strategy: login as fast refused or unanswered: BAD_CREDENTIAL" in feed.stderr
        assert "Traceback" not in feed.stderr
    finally:
        stop_all(tmp_path, procs)
