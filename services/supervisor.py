"""``tickwire run``: start the services an appliance file describes, each as its own process, and stop them.

Order: the media driver (when none runs at ``aeron_dir`` and ``driver = "auto"``), the gateway, the feed,
then the strategies. A service counts as started when it writes ``READY`` on the pipe it was given
(``services.runtime.notify_ready``); one that exits before that stops the start-up: the ones already
started are stopped in reverse order and ``run`` exits 3 with the service's reason (its own stderr line).

While running, the supervisor waits on its children. A critical service (driver, gateway, feed, a
strategy with ``critical = true``) that exits stops the appliance (exit 4); a strategy that exits is
reported and the others go on (the gateway cancels its orders: cancel-on-disconnect). SIGTERM / SIGINT
stop every service in reverse order: SIGTERM, then SIGKILL after ``stop_timeout_s``; exit 0 when every
service stopped cleanly, 4 otherwise.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.codes import TickwireError
from services.runtime import READY_FD_ENV

EXIT_OK, EXIT_CONFIG, EXIT_START, EXIT_FAILED = 0, 2, 3, 4
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Child:
    name: str
    module: str
    critical: bool
    proc: subprocess.Popen | None = None
    ready: bool = False
    reported: bool = False          # its exit while running was reported (not counted again at the stop)
    extra_args: list = field(default_factory=list)


def plan(cfg) -> list[Child]:
    """The processes of an appliance file, in start order."""
    out = []
    if cfg.gateway:
        out.append(Child("gateway", "services.gateway", True))
    if cfg.feed:
        out.append(Child("feed", "services.feed", True))
    for s in cfg.strategies:
        out.append(Child(s.name, "services.strategy_host", s.critical, extra_args=["--name", s.name]))
    return out


def _say(text: str) -> None:
    print(f"[run] {text}", file=sys.stderr, flush=True)


class Supervisor:
    def __init__(self, cfg, *, ready_timeout_s: float = 60.0, env: dict | None = None):
        self.cfg = cfg
        self.children = plan(cfg)
        self.ready_timeout_s = ready_timeout_s
        self.stop_requested = 0
        self.driver = None
        self.env = dict(os.environ if env is None else env)
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), self.env.get("PYTHONPATH", "")]))

    # ------------------------------------------------------------ signals ----
    def _on_signal(self, signum, frame):
        self.stop_requested = signum

    def install_signals(self):
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, self._on_signal)

    # ------------------------------------------------------------ start ----
    def start_driver(self) -> None:
        from messaging import driver as D
        aeron_dir = self.cfg.aeron_dir or D.default_dir()
        if D.is_active(aeron_dir):
            _say(f"media driver already running at {aeron_dir}")
            return
        if self.cfg.driver == "external":
            raise RuntimeError(f"no media driver runs at {aeron_dir} and appliance.driver = \"external\" "
                               f"(start one: tickwire driver --dir {aeron_dir})")
        self.driver = D.ensure_driver(aeron_dir, threading_mode=self.cfg.driver_threading, env=self.env)
        _say(f"media driver started at {aeron_dir}")

    def start_child(self, ch: Child) -> None:
        r, w = os.pipe()
        env = dict(self.env, **{READY_FD_ENV: str(w)})
        if self.cfg.aeron_dir:
            env["TICKWIRE_AERON_DIR"] = self.cfg.aeron_dir
        ch.proc = subprocess.Popen([sys.executable, "-m", ch.module, "--config", self.cfg.path, *ch.extra_args],
                                   env=env, pass_fds=(w,), stdin=subprocess.DEVNULL)
        os.close(w)
        deadline = time.monotonic() + self.ready_timeout_s
        buf = b""
        os.set_blocking(r, False)
        try:
            while time.monotonic() < deadline and not self.stop_requested:
                try:
                    chunk = os.read(r, 64)
                except BlockingIOError:
                    chunk = None
                if chunk:
                    buf += chunk
                    if b"READY" in buf:
                        ch.ready = True
                        return
                elif chunk == b"" or ch.proc.poll() is not None:   # pipe closed: exited or gave up
                    rc = ch.proc.wait()
                    raise RuntimeError(f"service {ch.name} exited with status {rc} before it was ready")
                time.sleep(0.01)
            if self.stop_requested:
                raise RuntimeError(f"stopped by {signal.Signals(self.stop_requested).name} during start-up")
            raise RuntimeError(f"service {ch.name} was not ready within {self.ready_timeout_s:.0f} s")
        finally:
            os.close(r)

    # ------------------------------------------------------------ stop ----
    def stop_all(self) -> bool:
        """Stop every started service, last started first; True when each exited 0."""
        clean = True
        for ch in reversed(self.children):
            if ch.proc is None:
                continue
            if ch.reported:
                continue                            # exited earlier, already reported (a strategy that is not critical)
            if ch.proc.poll() is None:
                ch.proc.send_signal(signal.SIGTERM)
                try:
                    ch.proc.wait(timeout=self.cfg.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    _say(f"{ch.name} did not stop within {self.cfg.stop_timeout_s:g} s: SIGKILL")
                    ch.proc.kill()
                    ch.proc.wait()
            if ch.proc.returncode != 0:
                clean = False
        if self.driver is not None:
            self.driver.stop()
            self.driver = None
        return clean

    # ------------------------------------------------------------ run ----
    def run(self) -> int:
        self.install_signals()
        try:
            self.start_driver()
            for ch in self.children:
                self.start_child(ch)
                _say(f"{ch.name} ready (pid {ch.proc.pid})")
        except (RuntimeError, OSError, TickwireError) as e:
            _say(f"cannot start: {e}")
            self.stop_all()
            return EXIT_START
        _say(f"appliance {self.cfg.name!r} running: {', '.join(c.name for c in self.children)} "
             f"(SIGTERM or Ctrl-C stops it)")
        failed = False
        while not self.stop_requested:
            for ch in self.children:
                if ch.proc is not None and ch.ready and ch.proc.poll() is not None:
                    ch.ready = False
                    ch.reported = True
                    _say(f"{ch.name} exited with status {ch.proc.returncode}"
                         + ("" if ch.critical else " (not critical: the others go on)"))
                    if ch.critical:
                        failed = True
            if failed:
                break
            if self.driver is not None and self.driver.proc.poll() is not None:
                _say("the media driver exited")
                failed = True
                break
            time.sleep(0.05)
        if self.stop_requested:
            _say(f"stopping on {signal.Signals(self.stop_requested).name}")
        clean = self.stop_all()
        if failed or not clean:
            _say("stopped after a failure" if failed else "stopped; a service did not exit cleanly")
            return EXIT_FAILED
        _say("stopped")
        return EXIT_OK
