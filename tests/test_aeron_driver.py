"""`tickwire driver` and messaging.driver as real processes: start, refuse a second driver at the same
directory (exit 3, one line), stop cleanly on SIGTERM and SIGINT (exit 0, directory removed), and
ensure_driver starting one only when none runs."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from messaging.driver import ensure_driver, is_active
from messaging.transport import AeronClient

ROOT = Path(__file__).resolve().parents[1]


def tickwire(*argv, **kw):
    return subprocess.Popen([sys.executable, "-m", "tickwire", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


@pytest.fixture
def aeron_dir():
    d = Path("/dev/shm") / f"tw-driver-test-{os.getpid()}-{time.monotonic_ns()}"
    yield str(d)
    assert not is_active(str(d))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_driver_start_refuse_second_stop(aeron_dir, sig):
    first = tickwire("driver", "--dir", aeron_dir)
    try:
        line = first.stdout.readline()
        assert line.startswith(f"media driver at {aeron_dir} (threading shared")
        assert is_active(aeron_dir)
        with AeronClient(aeron_dir) as c:                       # services can connect to it
            assert not c.is_closed
        second = tickwire("driver", "--dir", aeron_dir)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 3
        assert err.count("\n") == 1 and "AERON_E_DRIVER_ACTIVE" in err and aeron_dir in err
        assert out == ""
        first.send_signal(sig)
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert out == "" and err == ""                          # nothing once a second unless --verbose
        assert not Path(aeron_dir).exists()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def test_driver_usage_error():
    p = tickwire("driver", "--threading", "many")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and err.count("\n") == 1 and "--threading" in err


def test_ensure_driver(aeron_dir):
    handle = ensure_driver(aeron_dir)
    try:
        assert handle is not None and is_active(aeron_dir)
        assert ensure_driver(aeron_dir) is None                 # one is running: nothing started
    finally:
        assert handle.stop() == 0
    assert not Path(aeron_dir).exists()


def test_driver_that_cannot_start_is_one_line():
    p = tickwire("driver", "--dir", "/proc/tickwire-no/aeron")        # /proc: no directory can be made
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1
    assert err.count("\n") == 1 and err.startswith("tickwire driver: AERON_E_DRIVER_START (-1312): ")
    assert "could not recreate aeron dir" in err
