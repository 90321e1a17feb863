"""What every service process shares: arguments, configuration, core pinning, signals, the duty cycle,
the ready handshake with the supervisor and the once-a-second status line.

A service is a class with::

    name                      the [section] / [[strategy]] name it runs as
    start()                   open its resources (Aeron, sources, journal); raise to refuse to start
    do_work() -> int          one duty cycle: a bounded burst of work (Cython inside); returns work done
    status() -> str           one short status phrase for stderr (counters, "nothing received for 4 s")
    counters() -> dict        every counter, written to RUN_DIR/NAME.status.json once a second
    close()                   release everything (called once, also after a failed start)

``service_main`` runs it: ``python -m services.feed --config FILE [--name NAME]``. SIGTERM and SIGINT
set a flag that the duty loop reads between bursts, so a stop never cuts a burst in half (the journal
and the publications see whole batches); the process then closes and exits 0. Exit codes: 0 stopped on
a signal, 2 configuration refused, 3 could not start (reason on stderr), 4 failed while running.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_CONFIG, EXIT_START, EXIT_FAILED = 0, 2, 3, 4
#: The supervisor passes the write end of a pipe here; the service writes "READY\n" once started.
READY_FD_ENV = "TICKWIRE_READY_FD"


class Stop:
    """Set by SIGTERM / SIGINT; read by the duty loop between bursts."""

    def __init__(self):
        self.requested = False
        self.signal = 0

    def install(self):
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, self._on_signal)

    def _on_signal(self, signum, frame):
        self.requested = True
        self.signal = signum


def say(name: str, text: str) -> None:
    """One line on stderr, prefixed with the service's name (the supervisor's terminal shows every service)."""
    print(f"[{name}] {text}", file=sys.stderr, flush=True)


def pin(name: str, core: int | None) -> None:
    if core is None:
        return
    from datapath.pinning import PinningError, pin_process
    try:
        pin_process({core})
    except (PinningError, OSError) as e:
        raise RuntimeError(f"cannot pin to CPU {core}: {e}") from None


def make_idle(spec: str):
    """The configured idle strategy (messaging.transport.IdleStrategy)."""
    from messaging.transport import IdleStrategy
    return IdleStrategy.parse(spec)


def notify_ready() -> None:
    fd = os.environ.get(READY_FD_ENV)
    if fd:
        try:
            os.write(int(fd), b"READY\n")
            os.close(int(fd))
        except OSError:
            pass                                # the supervisor is gone; the service runs on regardless
        os.environ.pop(READY_FD_ENV, None)


def parse_args(prog: str, argv=None):
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--config", required=True, help="the appliance TOML file")
    p.add_argument("--name", default=None, help="which [[strategy]] / service instance to run")
    return p.parse_args(argv)


def service_main(prog: str, factory, argv=None) -> int:
    """Load the configuration, build the service with ``factory(cfg, name)``, run its duty loop."""
    args = parse_args(prog, argv)
    from services.config import ConfigError, load
    label = args.name or prog.rsplit(".", 1)[-1]
    try:
        cfg = load(args.config)
    except ConfigError as e:
        say(label, f"configuration refused: {e}")
        return EXIT_CONFIG
    stop = Stop()
    stop.install()
    try:
        svc, core, idle_spec = factory(cfg, args.name)
    except (LookupError, ValueError) as e:
        say(label, f"configuration refused: {e}")
        return EXIT_CONFIG
    label = svc.name
    status_path = Path(cfg.run_path(f"{label}.status.json"))
    try:
        pin(label, core)
        idle = make_idle(idle_spec)
        svc.start()
    except Exception as e:  # noqa: BLE001 - any reason not to start is one line and exit 3
        say(label, f"cannot start: {type(e).__name__}: {e}" if not isinstance(e, (OSError, RuntimeError,
            ValueError)) else f"cannot start: {e}")
        _close(svc, label)
        return EXIT_START
    say(label, f"started (pid {os.getpid()}, CPU {core if core is not None else 'any'}, idle {idle_spec})")
    notify_ready()
    rc = EXIT_OK
    next_status = time.monotonic() + 1.0
    try:
        while not stop.requested:
            work = svc.do_work()
            idle.idle_py(work)
            now = time.monotonic()
            if now >= next_status:
                next_status = now + 1.0
                say(label, svc.status())
                _write_status(status_path, svc)
    except Exception as e:  # noqa: BLE001
        say(label, f"failed: {type(e).__name__}: {e}")
        rc = EXIT_FAILED
    if stop.requested:
        say(label, f"stopping on {signal.Signals(stop.signal).name}")
    _write_status(status_path, svc)
    _close(svc, label)
    say(label, f"stopped: {svc.status()}")
    return rc


def _close(svc, label):
    try:
        svc.close()
    except Exception as e:  # noqa: BLE001 - closing must not hide the exit status
        say(label, f"close failed: {type(e).__name__}: {e}")


def _write_status(path: Path, svc) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(svc.counters(), default=str))
        os.replace(tmp, path)
    except OSError:
        pass                                    # status files are a convenience; the service keeps running
