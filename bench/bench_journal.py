"""Journal cost per fsync policy: records/s and per-append latency percentiles (HdrHistogram).

For each policy (never / batch / commit / always, and never / commit with the write-behind buffer
that the engine loop uses, flushed at each commit of 64 records) two runs on the project's disk (var/bench/journal):

- back-to-back: appends as fast as possible; records/s and the service time of each append;
- fixed rate: appends scheduled at a rate the policy can sustain, latency measured from the INTENDED time, so a
  stall (an fdatasync, a preallocation step) is charged to every append it delays (no
  coordinated omission).

Records are 96-byte Commands (120 bytes framed). Each run starts with a warm-up that is not
recorded. Default run: about a minute. ``--records``, ``--rate-scale``, ``--dir`` to change.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hdrh.histogram import HdrHistogram  # noqa: E402

from bench._util import ROOT, Results, machine  # noqa: E402

# (name, Journal kwargs, commit every N appends, fixed rate per second, share of --records)
POLICIES = [
    ("never", dict(fsync="never"), 0, 100_000, 1),
    ("batch 64 / 1 ms", dict(fsync="batch", fsync_every=64, fsync_interval_us=1000), 0, 5_000, 1),
    ("commit / 64", dict(fsync="commit"), 64, 5_000, 1),
    ("never, buffered", dict(fsync="never", buffered=True), 64, 100_000, 1),
    ("commit buffered", dict(fsync="commit", buffered=True), 64, 5_000, 1),
    ("always", dict(fsync="always"), 0, 100, 50),
]


def hist(lat):
    h = HdrHistogram(1, 10_000_000_000, 3)
    for v in lat:
        h.record_value(max(1, int(v)))
    return h


def line(name, mode, n, secs, h) -> dict:
    rate = f"{n / secs:12,.0f}" if secs else " " * 12
    print(f"{name:<17} {mode:<12} {n:>8} {rate} "
          + " ".join(f"{h.get_value_at_percentile(p) / 1000:9.1f}" for p in (50, 99, 99.9))
          + f" {h.get_max_value() / 1000:10.1f}", flush=True)
    return {"records": n, "records_per_s": n / secs if secs else None,
            **{f"p{p:g}_us": h.get_value_at_percentile(p) / 1000 for p in (50, 99, 99.9)}, "max_us": h.get_max_value() / 1000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=50_000, help="records per run (policy 'always': 1/50)")
    ap.add_argument("--rate-scale", type=float, default=1.0,
                    help="multiply the fixed rates (never 100k/s, batch and commit 5k/s, always 100/s)")
    ap.add_argument("--dir", default=str(ROOT / "var" / "bench" / "journal"), help="where to write")
    args = ap.parse_args()

    from engine.journal import Journal, crc32c
    res = Results("journal", "per policy: a warm-up of up to 2,000 appends (not recorded), then one back-to-back run "
                             "and one run at a fixed rate measured from the intended time; HdrHistogram")
    payload = bytes(range(96))
    base = Path(args.dir)
    print(f"# bench_journal: {machine()}")
    print(f"# dir {base} ({os.statvfs(base.parent if base.parent.exists() else ROOT).f_bsize} B blocks); "
          f"96 B payload, 120 B framed; crc32c {'SSE4.2' if crc32c(b'') == 0 and _hw() else 'software'}")
    print(f"{'policy':<17} {'mode':<12} {'records':>8} {'records/s':>12} "
          f"{'p50 us':>9} {'p99 us':>9} {'p99.9 us':>9} {'max us':>10}")
    for name, kw, commit_every, rate, share in POLICIES:
        n = max(100, args.records // share)
        rate = max(1, int(rate * args.rate_scale))
        for mode in ("back-to-back", f"{rate}/s"):
            d = base / name.replace(" ", "_").replace("/", "").replace(",", "")
            shutil.rmtree(d, ignore_errors=True)
            j = Journal(d, prealloc_bytes=16 << 20, **kw)
            j.bench_appends(payload, min(2000, n // 5), 0, commit_every)          # warm-up
            interval = 0 if mode == "back-to-back" else 1_000_000_000 // rate
            t0 = time.perf_counter()
            lat = j.bench_appends(payload, n, interval, commit_every)
            secs = time.perf_counter() - t0
            j.close()
            fig = line(name, mode, n, secs if not interval else 0, hist(lat))
            res.figures[f"{name}/{'back-to-back' if not interval else 'fixed'}"] = fig | ({"rate": rate} if interval else {})
            if interval and secs > 1.5 * n / rate:
                print(f"#   {name}: could not keep {rate}/s ({n / secs:,.0f}/s achieved)")
            shutil.rmtree(d, ignore_errors=True)
    res.save()
    return 0


def _hw():
    from engine.journal import crc32c_has_hardware
    return crc32c_has_hardware()


if __name__ == "__main__":
    sys.exit(main())
