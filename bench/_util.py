"""Small helpers shared by the benchmarks: peak RSS, project paths, a generated day on demand, results as JSON."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "bench"


def peak_rss_mib() -> float:
    """Peak resident set size of this process (VmHWM), MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def generated_day(messages: int, symbols: int, seed: int, pcap: bool = False) -> Path:
    """Path of a generated day with these parameters, generating it once (cached in var/bench)."""
    VAR.mkdir(parents=True, exist_ok=True)
    path = VAR / f"day_{messages}_{symbols}_{seed}.{'pcap' if pcap else 'itch'}"
    if not path.exists() or path.stat().st_size == 0:
        cmd = [sys.executable, "-m", "tickwire", "generate", str(path), "--messages", str(messages),
               "--symbols", str(symbols), "--seed", str(seed)] + (["--pcap"] if pcap else [])
        print(f"# generating {path.name} ...", file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return path


def machine() -> str:
    """One line about the machine the figures come from."""
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"


def git_commit() -> dict:
    """The commit the benchmark ran on, and whether the tree had uncommitted changes."""
    def git(*a):
        r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    return {"commit": git("rev-parse", "HEAD") or None,
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


class Results:
    """One run of a benchmark as data: ``var/bench/<name>.json`` (directory: ``$TW_BENCH_OUT``).

    Create it when the run starts (it notes the load average then), put every figure the bench
    prints into ``figures`` under stable keys, and ``save()`` at the end. ``bench/figures.py`` renders
    the tables of README.md and docs/ from these files. ``variant`` names a non-default run of the
    same bench (``datapath-walk``), so it does not overwrite the default one.
    """

    def __init__(self, bench: str, method: str, variant: str = ""):
        import datetime
        import platform
        self.name = f"{bench}-{variant}" if variant else bench
        self.t0 = time.perf_counter()
        argv = [Path(sys.argv[0]).resolve()] + sys.argv[1:]
        try:
            argv[0] = argv[0].relative_to(ROOT)
        except ValueError:
            pass
        self.data = {
            "bench": bench, "variant": variant,
            "command": " ".join([".venv/bin/python", *map(str, argv)]),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "git": git_commit(),
            "machine": {"cpu": machine().split(",")[0], "cores": os.cpu_count(),
                        "python": sys.version.split()[0], "kernel": platform.release(),
                        "loadavg_start": list(os.getloadavg())},
            "method": method,
            "figures": {},
        }
        self.figures = self.data["figures"]

    def save(self) -> Path:
        self.data["elapsed_s"] = round(time.perf_counter() - self.t0, 1)
        out = Path(os.environ.get("TW_BENCH_OUT") or VAR)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{self.name}.json"
        path.write_text(json.dumps(_round(self.data), indent=1, default=_plain) + "\n")
        print(f"# figures written to {path}", file=sys.stderr)
        return path


def _plain(o):
    """NumPy scalars as Python numbers in the JSON."""
    return o.item() if hasattr(o, "item") else str(o)


def _round(o):
    """Floats to 6 significant digits (timer noise below that), recursively."""
    if isinstance(o, float):
        return float(f"{o:.6g}")
    if isinstance(o, dict):
        return {k: _round(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_round(v) for v in o]
    return o
