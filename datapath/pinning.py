"""CPU pinning, real-time scheduling and a stoppable busy-poll loop for the packet sources.

A receive loop that busy-polls owns its core: pin it (``pin_thread``) to an isolated core
(``isolated_cpus``, from the ``isolcpus=``/``nohz_full=`` kernel command line) on the NIC's NUMA node
(``nic_numa_node``), optionally under SCHED_FIFO (``set_fifo``). ``choose_cpu`` does that choice.

The loops themselves are nogil C (``source.drain(..., stop=flag)``), so a Python signal handler in
the same thread would never run: :class:`StopFlag` is an ``int`` in C memory that the loop reads
every iteration, and :func:`run_busy_loop` runs the loop in a pinned worker thread while the main
thread waits for SIGINT/SIGTERM and sets the flag. Stopping is therefore clean (the loop finishes
its burst, releases it, and returns its statistics).
"""
from __future__ import annotations

import ctypes
import os
import signal
import threading
from pathlib import Path
from typing import Callable, Iterable

SYS_CPU = Path("/sys/devices/system/cpu")
SYS_NET = Path("/sys/class/net")


class PinningError(OSError):
    """Pinning or scheduling request refused; the message says what to change."""


# ---------------------------------------------------------------- sysfs ----
def parse_cpulist(text: str) -> list[int]:
    """``"0-3,8,10-11"`` -> ``[0, 1, 2, 3, 8, 10, 11]`` (the kernel's cpulist format; empty -> [])."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            step = 1
            if ":" in hi:                       # "0-15:2/4" style is not produced by sysfs lists
                raise ValueError(f"unsupported cpulist item {part!r}")
            cpus.extend(range(int(lo), int(hi) + 1, step))
        else:
            cpus.append(int(part))
    return sorted(set(cpus))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def isolated_cpus() -> list[int]:
    """CPUs isolated from the scheduler (``isolcpus=``), from /sys/devices/system/cpu/isolated."""
    return parse_cpulist(_read(SYS_CPU / "isolated") or "")


def online_cpus() -> list[int]:
    return parse_cpulist(_read(SYS_CPU / "online") or "") or list(range(os.cpu_count() or 1))


def nic_numa_node(interface: str) -> int | None:
    """NUMA node of a NIC (``/sys/class/net/IF/device/numa_node``); None for virtual devices or no NUMA."""
    if not (SYS_NET / interface).exists():
        raise PinningError(f"no interface {interface!r} in this network namespace ({SYS_NET})")
    v = _read(SYS_NET / interface / "device" / "numa_node")
    if v is None or int(v) < 0:
        return None
    return int(v)


def nic_local_cpus(interface: str) -> list[int]:
    """CPUs local to the NIC (``device/local_cpulist``); [] for virtual devices."""
    return parse_cpulist(_read(SYS_NET / interface / "device" / "local_cpulist") or "")


def choose_cpu(interface: str | None = None, exclude: Iterable[int] = ()) -> int:
    """A core for a receive loop: isolated + NIC-local first, then isolated, then NIC-local, then the
    highest allowed CPU (CPU 0 takes most housekeeping interrupts)."""
    allowed = sorted(os.sched_getaffinity(0))
    excl = set(exclude)
    local = set(nic_local_cpus(interface)) if interface else set()
    iso = set(isolated_cpus())
    for pool in (iso & local, iso, local, set(allowed)):
        cands = sorted(c for c in pool if c in allowed and c not in excl) if pool else []
        if cands:
            return cands[-1]
    raise PinningError(f"no CPU left to choose (allowed {allowed}, excluded {sorted(excl)})")


# ----------------------------------------------------------- scheduling ----
def pin_thread(cpu: int | Iterable[int]) -> set[int]:
    """Pin the CALLING thread to ``cpu`` (an int or a set); returns the previous affinity."""
    cpus = {cpu} if isinstance(cpu, int) else set(cpu)
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, cpus)          # pid 0 = this thread (Linux affinity is per thread)
    except OSError as e:
        raise PinningError(e.errno, f"cannot pin to CPU {sorted(cpus)}: {e.strerror} "
                           f"(online: {online_cpus()}, cgroup cpuset may exclude it)") from None
    return before


def pin_process(cpus: Iterable[int]) -> None:
    """Pin every thread of this process to ``cpus``."""
    cpus = set(cpus)
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except ProcessLookupError:
            pass                               # thread exited meanwhile


def set_fifo(priority: int = 50) -> None:
    """SCHED_FIFO at ``priority`` (1..99) for the calling thread. Needs CAP_SYS_NICE (root).

    Caution: a busy-polling FIFO thread never yields; keep it on an isolated core, or the kernel's
    RT throttling (sched_rt_runtime_us) will pause it and its core's kworkers starve.
    """
    if not 1 <= priority <= 99:
        raise PinningError(f"SCHED_FIFO priority {priority} out of range 1..99")
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except PermissionError:
        raise PinningError("SCHED_FIFO needs CAP_SYS_NICE (run as root or grant the capability)") from None


def set_normal() -> None:
    """Back to SCHED_OTHER for the calling thread."""
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def current_policy() -> str:
    return {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR",
            getattr(os, "SCHED_BATCH", -1): "SCHED_BATCH", getattr(os, "SCHED_IDLE", -2): "SCHED_IDLE"}.get(
        os.sched_getscheduler(0), "OTHER")


# ------------------------------------------------------------ stop flag ----
class StopFlag:
    """An int in C memory that nogil loops poll (``source.drain(stop=flag)``); set from any thread."""

    def __init__(self) -> None:
        self._v = ctypes.c_int(0)
        self.address = ctypes.addressof(self._v)
        self.signal = 0

    def set(self, signum: int = 0) -> None:
        self.signal = signum
        self._v.value = 1

    def clear(self) -> None:
        self.signal = 0
        self._v.value = 0

    def __bool__(self) -> bool:
        return self._v.value != 0

    @property
    def is_set(self) -> bool:
        return self._v.value != 0


class on_signals:
    """Context manager: SIGINT/SIGTERM set ``flag`` instead of raising; previous handlers restored on exit.

    Must be entered in the main thread (Python delivers signals there).
    """

    def __init__(self, flag: StopFlag, signals=(signal.SIGINT, signal.SIGTERM)):
        self.flag, self.signals, self.prev = flag, signals, {}

    def __enter__(self) -> StopFlag:
        for s in self.signals:
            self.prev[s] = signal.signal(s, lambda signum, frame: self.flag.set(signum))
        return self.flag

    def __exit__(self, *exc) -> None:
        for s, h in self.prev.items():
            signal.signal(s, h)


def run_busy_loop(loop: Callable[[StopFlag], object], cpu: int | None = None, fifo: int | None = None,
                  stop: StopFlag | None = None, timeout: float | None = None):
    """Run ``loop(stop)`` in a worker thread pinned to ``cpu`` (optionally SCHED_FIFO ``fifo``).

    The calling (main) thread waits, turning SIGINT/SIGTERM into ``stop.set()``; ``timeout`` seconds
    also set it. Returns what ``loop`` returned; re-raises its exception.
    """
    stop = StopFlag() if stop is None else stop
    result: dict = {}

    def worker():
        try:
            if cpu is not None:
                pin_thread(cpu)
            if fifo is not None:
                set_fifo(fifo)
            result["value"] = loop(stop)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            result["error"] = e
        finally:
            stop.set(stop.signal)

    t = threading.Thread(target=worker, name="tw-rx", daemon=True)
    ctx = on_signals(stop) if threading.current_thread() is threading.main_thread() else None
    if ctx:
        ctx.__enter__()
    try:
        t.start()
        waited = 0.0
        while t.is_alive():
            t.join(0.05)
            waited += 0.05
            if timeout is not None and waited >= timeout:
                stop.set()
        t.join()
    finally:
        if ctx:
            ctx.__exit__(None, None, None)
    if "error" in result:
        raise result["error"]
    return result.get("value")
