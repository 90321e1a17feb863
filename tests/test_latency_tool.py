"""`tickwire latency`: per-hop percentiles from recorded stamps, checked against NumPy on known rows."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analytics import latency as L

ROOT = Path(__file__).resolve().parents[1]


def rows(n=2000, seed=3):
    rng = np.random.default_rng(seed)
    t0 = 1_700_000_000_000_000_000
    steps = rng.integers(50, 50_000, size=(n, len(L.STAMPS) - 1))
    out = np.zeros((n, len(L.STAMPS)), dtype=np.uint64)
    out[:, 0] = t0 + np.arange(n) * 1000
    out[:, 1:] = out[:, :1] + np.cumsum(steps, axis=1).astype(np.uint64)   # uint64 + int64 would be float64
    return out


def test_percentiles_match_numpy_within_hdr_precision():
    r = rows()
    s = L.summarize(r)
    for hop in s["hops"]:
        d, neg = L.hop_values(r, hop["from"], hop["to"])
        assert hop["count"] == len(r) and neg == 0
        srt = np.sort(d)
        for p in L.PERCENTILES:
            k = int(np.ceil(p / 100 * len(srt))) - 1        # rank of the percentile; HDR may round to a neighbour
            lo, hi = srt[max(k - 1, 0)], srt[min(k + 1, len(srt) - 1)]
            assert lo * (1 - 1e-3) - 1 <= hop[f"p{p:g}"] <= hi * (1 + 1e-3) + 1, (hop["hop"], p)
        assert hop["max"] == d.max()


def test_missing_and_backwards_stamps_are_counted_not_recorded():
    r = rows(100)
    r[:10, L.STAMPS.index("gw_rx")] = 0                       # hop not stamped
    r[10:15, L.STAMPS.index("risk")] = r[10:15, L.STAMPS.index("gw_rx")] - 5   # clock stepped back
    s = {h["hop"]: h for h in L.summarize(r)["hops"]}
    assert s["order over Aeron"]["count"] == 90
    assert s["risk"]["count"] == 85 and s["risk"]["negative"] == 5


def test_recorder_never_grows():
    rec = L.LatencyRecorder(3)
    for i in range(5):
        rec.add([i + 1] * len(L.STAMPS))
    assert rec.n == 3 and rec.dropped == 2


def tw(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "tickwire", "latency", *args], capture_output=True, text=True, env=env)


def test_command_writes_table_json_and_png(tmp_path):
    rec = L.LatencyRecorder(1000)
    for row in rows(1000):
        rec.add(row)
    f = rec.save(tmp_path / "mm.latency.npy")
    r = tw(str(f))
    assert r.returncode == 0, r.stderr
    assert "tick-to-trade (send -> order sent)" in r.stdout and "p99.9 us" in r.stdout
    assert (tmp_path / "mm.latency.json").stat().st_size > 100
    png = (tmp_path / "mm.latency.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.mark.parametrize("content, rc, why", [
    (None, 2, "no such file"), (b"not numpy", 1, "not a latency file"),
])
def test_command_refuses_bad_files(tmp_path, content, rc, why):
    f = tmp_path / "x.latency.npy"
    if content is not None:
        f.write_bytes(content)
    r = tw(str(f))
    assert r.returncode == rc and why in r.stderr and "Traceback" not in r.stderr


def test_wrong_shape_is_refused(tmp_path):
    np.save(tmp_path / "y.npy", np.zeros((4, 3), dtype=np.uint64))
    r = tw(str(tmp_path / "y.npy"))
    assert r.returncode == 1 and "want N x 11" in r.stderr
