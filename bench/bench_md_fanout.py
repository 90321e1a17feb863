"""Market-data fan-out: the feed service (a process) replays a recorded day (pcap source, as fast as it
goes) to 1 and to 4 subscriber processes over Aeron IPC; messages/s per subscriber and the messages each
lost (FAIL_FAST: a back-pressured offer is counted and its stream_seq skipped, never waited on).

    .venv/bin/python bench/bench_md_fanout.py [--messages N] [--symbols S] [--json]

Subscribers are compiled (bench/md_runs.pyx: count + stream_seq check, no Python per message) and idle
with backoff; the feed idles with backoff too. The media driver runs with its default IPC term length.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._util import Results, generated_day, machine  # noqa: E402


def role_sub(a):
    from messaging.channels import DEFAULT_STREAMS
    from messaging.transport import AeronClient, IdleStrategy

    from bench.md_runs import consume_md
    with AeronClient(a.dir, idle="backoff") as c:
        sub = c.subscription(DEFAULT_STREAMS["market_data"])
        print("ready", flush=True)
        r = consume_md(sub, IdleStrategy.parse("backoff"), int(2e9), int(120e9))
        print(json.dumps(r), flush=True)


def run(a, k: int, day: Path, env) -> dict:
    with tempfile.TemporaryDirectory(prefix="tw-md-fanout-") as tmp:
        cfg = Path(tmp) / "feed.toml"
        cfg.write_text(f'[appliance]\naeron_dir = "{a.dir}"\nrun_dir = "{tmp}/run"\n\n'
                       f'[feed]\nidle = "backoff"\nsource = "pcap"\npcap = "{day}"\n')
        subs = [subprocess.Popen([sys.executable, __file__, "--role", "sub", "--dir", a.dir], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, text=True) for _ in range(k)]
        for s in subs:
            assert s.stdout.readline().strip() == "ready"
        feed = subprocess.Popen([sys.executable, "-m", "services.feed", "--config", str(cfg)], cwd=ROOT, env=env,
                                stderr=subprocess.PIPE, text=True)
        got = [json.loads(s.stdout.readline()) for s in subs]
        for s in subs:
            s.wait()
        time.sleep(1.2)                                  # one more status file after the replay
        st = json.loads((Path(tmp) / "run" / "feed.status.json").read_text())
        feed.send_signal(signal.SIGTERM)
        _, err = feed.communicate(timeout=30)
        if feed.returncode != 0:
            raise SystemExit(f"feed exited {feed.returncode}: {err[-2000:]}")
    md = st["md"]
    per = []
    for g in got:
        span = max(g["last_ns"] - g["first_ns"], 1)
        per.append({"messages": g["count"], "msgs_per_s": g["count"] / span * 1e9, "lost": g["lost"],
                    "first_seq": g["first_seq"], "last_seq": g["last_seq"], "elapsed_s": span / 1e9})
    return {"subscribers": k, "feed_messages": st["session"]["messages"], "md_messages": md["stream_seq"],
            "md_failed": md["failed"], "failed_by_reason": st["market_data_pub"],
            "msgs_per_s_per_subscriber": min(p["msgs_per_s"] for p in per),
            "lost_per_subscriber": [p["lost"] for p in per], "per_subscriber": per}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2_000_000)
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--role", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.role:
        role_sub(a)
        return 0
    from messaging.driver import ensure_driver
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    day = generated_day(a.messages, a.symbols, a.seed, pcap=True)
    res = Results("md_fanout", f"feed service process, pcap source ({a.messages:,} ITCH messages, {a.symbols} "
                               "symbols) at full speed -> market_data on Aeron IPC (FAIL_FAST) -> k compiled "
                               "subscriber processes counting and checking stream_seq; everything idles with backoff")
    a.dir = f"/dev/shm/tw-bench-md-{os.getpid()}"
    drv = ensure_driver(a.dir, "shared")
    try:
        if not a.json:
            print(f"# {machine()}")
        for k in (1, 4):
            f = run(a, k, day, env)
            res.figures[f"fanout_{k}"] = f
            if not a.json:
                print(f"fan-out to {k} subscriber(s): {f['msgs_per_s_per_subscriber'] / 1e6:6.2f} M msgs/s each "
                      f"(slowest), lost per subscriber {f['lost_per_subscriber']}, {f['md_messages']:,} market-data "
                      f"messages from {f['feed_messages']:,} ITCH messages, {f['md_failed']:,} offers failed",
                      flush=True)
    finally:
        if drv is not None:
            drv.stop()
    res.figures["goals"] = {"fanout_1_min_msgs_per_s": 5_000_000}
    res.save()
    if a.json:
        print(json.dumps(res.figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
