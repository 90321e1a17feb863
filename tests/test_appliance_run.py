"""`tickwire run` and `tickwire demo` as real processes: the supervisor, its services, the media driver.

Each test writes an appliance file with its own Aeron directory, starts ``tickwire run`` and checks what a
user sees: the ready line, the status files, a clean stop on SIGTERM (exit 0), a service that cannot
start (exit 3, the others stopped), a critical service killed (exit 4), a strategy killed (the rest go on).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from access.credentials import hash_credential

ROOT = Path(__file__).resolve().parents[1]
PW = "s3cret-mm"


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    d = tmp_path_factory.mktemp("day")
    out = d / "day.pcap"
    r = subprocess.run([sys.executable, "-m", "tickwire", "generate", str(out), "--pcap", "--messages", "60000",
                        "--symbols", "20", "--seed", "7"], capture_output=True, text=True, env=env())
    assert r.returncode == 0, r.stderr
    itch = d / "day.itch"
    r = subprocess.run([sys.executable, "-m", "tickwire", "generate", str(itch), "--messages", "300000",
                        "--symbols", "30", "--seed", "3"], capture_output=True, text=True, env=env())
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "tickwire", "replay", str(out), "--json", "--top", "3"],
                       capture_output=True, text=True, env=env())
    syms = [m["symbol"] for m in json.loads(r.stdout)["most_active"]]
    return out, itch, syms


def env(**extra):
    return dict(os.environ, PYTHONPATH=str(ROOT), **extra)


def appliance(tmp: Path, day, *, strategy_cred_env="TW_TEST_MM", critical=False) -> Path:
    pcap, _, syms = day
    (tmp / "mm.toml").write_text(f'symbols = {json.dumps(syms)}\n[params]\nquote_size = 100\n')
    aeron = f"/dev/shm/tw-run-test-{os.getpid()}-{tmp.name}"
    text = f"""
[appliance]
name = "t"
aeron_dir = "{aeron}"
run_dir = "run"
stop_timeout_s = 10.0

[feed]
source = "pcap"
pcap = "{pcap}"
idle = "backoff"

[gateway]
symbols = {json.dumps(syms)}
journal = "run/journal"
idle = "backoff"
heartbeat_timeout_ms = 1000

[[gateway.user]]
name = "mm"
account = "MM-1"
credential = "{hash_credential(PW, n=1024)}"

[[strategy]]
name = "mm"
class = "strategy.examples.market_maker:MarketMaker"
config = "mm.toml"
user = "mm"
credential_env = "{strategy_cred_env}"
critical = {str(critical).lower()}
"""
    p = tmp / "appliance.toml"
    p.write_text(text)
    return p


def start(cfg: Path, **extra_env):
    log = cfg.parent / "run.log"
    f = open(log, "wb")
    p = subprocess.Popen([sys.executable, "-m", "tickwire", "run", str(cfg)], stdout=f, stderr=subprocess.STDOUT,
                         env=env(**extra_env), start_new_session=True)
    return p, log


def wait_for(log: Path, text: str, proc, timeout=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        body = log.read_text(errors="replace")
        if text in body:
            return body
        if proc.poll() is not None:
            return log.read_text(errors="replace")
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not seen within {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


def service_pids(log_text: str) -> dict:
    out = {}
    for line in log_text.splitlines():
        if line.startswith("[run] ") and " ready (pid " in line:
            name = line.split()[1]
            out[name] = int(line.rsplit("pid ", 1)[1].rstrip(")"))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                   # a zombie child of the supervisor counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def stop(proc, timeout=60):
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)


def test_run_starts_every_service_and_stops_cleanly_on_sigterm(tmp_path, day):
    cfg = appliance(tmp_path, day)
    proc, log = start(cfg, TW_TEST_MM=PW)
    try:
        text = wait_for(log, "running:", proc)
        assert proc.poll() is None, text
        pids = service_pids(text)
        assert set(pids) == {"gateway", "feed", "mm"}, text
        run = tmp_path / "run"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:         # the feed replays the pcap once the strategy subscribed
            st = json.loads((run / "mm.status.json").read_text()) if (run / "mm.status.json").exists() else {}
            if st.get("strategy", {}).get("orders", {}).get("orders", 0) > 0:
                break
            time.sleep(0.2)
        assert st["strategy"]["orders"]["orders"] > 0, log.read_text()[-3000:]
        assert st["order_entry"]["logged_in"] is True
    finally:
        rc = stop(proc)
    text = log.read_text()
    assert rc == 0, text[-3000:]
    for name in ("gateway", "feed", "mm"):
        assert f"[{name}] stopping on SIGTERM" in text and f"[{name}] stopped" in text
        assert not alive(pids[name])
    assert "[run] stopped" in text and "Traceback" not in text


def test_a_service_that_cannot_start_stops_the_start_up_with_exit_3(tmp_path, day):
    cfg = appliance(tmp_path, day)
    proc, log = start(cfg, TW_TEST_MM="wrong-password")
    rc = proc.wait(timeout=90)
    text = log.read_text()
    assert rc == 3, text[-3000:]
    assert "login as mm refused" in text and "cannot start" in text
    for name, pid in service_pids(text).items():
        assert not alive(pid), name
    assert "Traceback" not in text


def test_a_critical_service_killed_stops_the_appliance_with_exit_4(tmp_path, day):
    cfg = appliance(tmp_path, day)
    proc, log = start(cfg, TW_TEST_MM=PW)
    try:
        pids = service_pids(wait_for(log, "running:", proc))
        os.kill(pids["gateway"], signal.SIGKILL)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            stop(proc)
    text = log.read_text()
    assert rc == 4, text[-3000:]
    assert "gateway exited with status -9" in text
    assert not alive(pids["feed"]) and not alive(pids["mm"])


def test_a_strategy_killed_is_reported_and_the_rest_go_on(tmp_path, day):
    cfg = appliance(tmp_path, day)
    proc, log = start(cfg, TW_TEST_MM=PW)
    try:
        pids = service_pids(wait_for(log, "running:", proc))
        os.kill(pids["mm"], signal.SIGKILL)
        wait_for(log, "mm exited with status -9 (not critical", proc)
        time.sleep(1.0)
        assert proc.poll() is None and alive(pids["gateway"]) and alive(pids["feed"])
    finally:
        rc = stop(proc)
    assert rc == 0, log.read_text()[-3000:]


def test_demo_trades_and_measures(tmp_path, day):
    _, itch, _ = day
    r = subprocess.run([sys.executable, "-m", "tickwire", "demo", "--day", str(itch), "--seconds", "4", "--rate",
                        "50000", "--symbols", "3", "--run-dir", str(tmp_path / "demo"), "--json"],
                       capture_output=True, text=True, env=env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout)
    strategies = {k: v for k, v in s["services"].items() if "strategy" in v}
    assert set(strategies) == {"mm", "mo"}
    assert strategies["mm"]["strategy"]["orders"]["orders"] > 0
    assert s["services"]["gateway"]["orders"] > 0
    assert s["latency"]["rows"] > 0
    assert (tmp_path / "demo" / "latency.png").read_bytes()[:4] == b"\x89PNG"
    assert "demo: " in r.stderr and "Traceback" not in r.stderr
