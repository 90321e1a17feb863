"""A market-data subscriber process for the feed tests and benchmark: ``python tests/md_sub_helper.py CONFIG OUT_CSV
[--pause-after-live S]``. Prints "live" on stderr once its books are live; on SIGTERM it drains what is left,
writes its books as `tickwire book` CSV to OUT_CSV and its counters as JSON on stdout."""
from __future__ import annotations

import argparse
import io
import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from messaging.transport import AeronClient  # noqa: E402
from services.config import load  # noqa: E402
from strategy.md_client import MarketDataClient  # noqa: E402
from strategy.ports import Handler  # noqa: E402
from tickwire.commands.book import write_csv  # noqa: E402


class FeedEvents(Handler):
    """Counts the feed-wide Status events by FeedState name, "@feed" for FeedStatus messages (they carry the
    feed's sequence number), "@hop" for the client's own (a gap on the Aeron hop, a snapshot installed)."""

    def __init__(self):
        self.feed = {}

    def handle_book(self, book): pass
    def handle_trade(self, trade): pass
    def handle_execution(self, ex): pass
    def handle_clock(self, now_ns): pass

    def handle_status(self, st):
        if st.symbol is None:
            key = f"{st.feed_state.name}@{'feed' if st.seq else 'hop'}"
            self.feed[key] = self.feed.get(key, 0) + 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("config")
    p.add_argument("out")
    p.add_argument("--pause-after-live", type=float, default=0.0)
    a = p.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    cfg = load(a.config)
    client = AeronClient(cfg.aeron_dir, idle="backoff")
    md = MarketDataClient(client, cfg.streams)
    events = FeedEvents()
    said = False
    while not stop:
        if md.poll(events) == 0:
            time.sleep(0.0005)
        if md.live and not said:
            said = True
            print("live", file=sys.stderr, flush=True)
            if a.pause_after_live:
                time.sleep(a.pause_after_live)      # a slow subscriber: the feed's FAIL_FAST offers fail meanwhile
    # Drain: the feed is idle by now and sends a Heartbeat each idle second, which carries its latest
    # stream_seq: after one heartbeat in sequence (or a snapshot set taken after a gap it revealed) the
    # books hold everything published.
    hb, snaps = md.c["heartbeats"], md.c["snapshots_applied"]
    deadline = time.monotonic() + 60
    while not (md.live and (md.c["heartbeats"] > hb or md.c["snapshots_applied"] > snaps)) \
            and time.monotonic() < deadline:
        if md.poll(events) == 0:
            time.sleep(0.002)
    out = io.StringIO()
    write_csv(md, 1 << 30, out)
    Path(a.out).write_text(out.getvalue())
    print(json.dumps({**md.counters(), "feed_events": events.feed}), flush=True)
    md.close()
    client.close()


if __name__ == "__main__":
    main()
