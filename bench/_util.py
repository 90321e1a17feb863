"""Small helpers shared by the benchmarks: peak RSS, project paths, a generated day on demand."""
from __future__ import annotations

import os
import subprocess
import sys
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
