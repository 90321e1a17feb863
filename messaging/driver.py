"""The Aeron media driver of the appliance: a standalone process (``tickwire driver``) or a child one.

The driver is Aeron's C media driver embedded in pip pyaeron (``pyaeron.MediaDriver``): it owns the
shared-memory log buffers and the UDP sockets; every service connects to it as a client
(``messaging.transport.AeronClient``). One driver per directory: a second one is refused
(``AERON_E_DRIVER_ACTIVE``). The driver's threads do the work; this process's main thread only
waits for SIGTERM / SIGINT, then closes the driver (its directory is deleted).

Aeron's own environment variables tune the driver (``AERON_CLIENT_LIVENESS_TIMEOUT``,
``AERON_TERM_BUFFER_LENGTH``, ...); the tests shorten the liveness timeouts that way.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from core.codes import AERON_E_DRIVER_ACTIVE, AERON_E_DRIVER_START
from messaging.channels import AeronError, default_dir

THREADING = ("shared", "dedicated", "shared_network")
#: How stale the driver's heartbeat in DIR may be for it to count as running (ms).
ACTIVE_TIMEOUT_MS = 2000


def is_active(dir: str, timeout_ms: int = ACTIVE_TIMEOUT_MS) -> bool:
    """A media driver is running at ``dir`` (its heartbeat is fresher than ``timeout_ms``)."""
    import pyaeron
    return bool(pyaeron.is_driver_active(str(dir), timeout_ms))


def start(dir: str, threading_mode: str = "shared"):
    """A ``pyaeron.MediaDriver`` running in this process at ``dir``; AeronError when one is already
    active there (AERON_E_DRIVER_ACTIVE) or the driver does not start (AERON_E_DRIVER_START)."""
    import pyaeron
    if threading_mode not in THREADING:
        raise ValueError(f"threading mode {threading_mode!r} is not one of {', '.join(THREADING)}")
    if is_active(dir):
        raise AeronError(AERON_E_DRIVER_ACTIVE, f"a media driver is already active at {dir}")
    try:
        return pyaeron.MediaDriver(dir=str(dir), threading=threading_mode, dir_delete_on_start=True,
                                   dir_delete_on_shutdown=True)
    except Exception as e:  # noqa: BLE001 - pyaeron's errors become one line with our code
        raise AeronError(AERON_E_DRIVER_START, f"media driver at {dir}: {_one_line(str(e))}") from None


def _one_line(text: str) -> str:
    """Aeron's multi-line error (a first line, then a stack of ``[function, file:line] message``) as one
    line: the first line and the outermost message."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "unknown error"
    frames = [ln.split("] ", 1)[1] for ln in lines[1:] if ln.startswith("[") and "] " in ln]
    return lines[0] + (f"; {frames[len(frames) - 1]}" if frames else "")


def serve(dir: str, threading_mode: str = "shared", verbose: bool = False, out=sys.stdout) -> int:
    """Run a driver at ``dir`` until SIGTERM or SIGINT; 0 after a clean stop."""
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        driver = start(dir, threading_mode)
        try:
            print(f"media driver at {driver.dir} (threading {threading_mode}, pid {os.getpid()}); "
                  f"SIGTERM or Ctrl-C stops it", file=out, flush=True)
            t0 = time.monotonic()
            while not stop.wait(1.0):
                if verbose:
                    print(f"media driver at {driver.dir}: up {time.monotonic() - t0:.0f} s", file=out, flush=True)
        finally:
            driver.close()
        if verbose:
            print("media driver stopped", file=out, flush=True)
        return 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class DriverProcess:
    """A media driver in a child process (``ensure_driver``): ``stop()`` ends it with SIGTERM."""

    def __init__(self, proc: subprocess.Popen, dir: str):
        self.proc = proc
        self.dir = dir

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait (SIGKILL after ``timeout`` s); the child's exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def ensure_driver(dir: str | None = None, threading_mode: str = "shared", timeout: float = 10.0,
                  env: dict | None = None) -> DriverProcess | None:
    """None when a driver is active at ``dir`` already, else a new one in a child process
    (``python -m messaging.driver``), returned once it answers; AeronError when it does not start."""
    dir = str(dir or default_dir())
    if is_active(dir):
        return None
    proc = subprocess.Popen([sys.executable, "-m", "messaging.driver", "--dir", dir, "--threading", threading_mode],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    deadline = time.monotonic() + timeout
    while not is_active(dir):
        if proc.poll() is not None:
            why = (proc.stderr.read() or b"").decode(errors="replace").strip().splitlines()
            raise AeronError(AERON_E_DRIVER_START, f"media driver at {dir} exited with {proc.returncode}"
                                                   + (f": {why[-1]}" if why else ""))
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AeronError(AERON_E_DRIVER_START, f"media driver at {dir} did not start within {timeout:g} s")
        time.sleep(0.02)
    return DriverProcess(proc, dir)


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m messaging.driver")
    p.add_argument("--dir", default=None)
    p.add_argument("--threading", default="shared", choices=THREADING)
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)
    try:
        return serve(a.dir or default_dir(), a.threading, a.verbose)
    except AeronError as e:
        print(f"media driver: {e}", file=sys.stderr)
        return 3 if e.code == AERON_E_DRIVER_ACTIVE else 1


if __name__ == "__main__":
    sys.exit(main())
