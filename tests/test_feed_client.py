"""strategy.md_client.MarketDataClient against hand-made market data on a real media driver (the test plays
the feed): late join (buffer, request, snapshot set with index/count, drop <= S, apply the rest), a stream_seq
gap recovered by a new snapshot, delivery to a handler, malformed messages refused and counted."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from messaging import sbe
from messaging.channels import DEFAULT_STREAMS
from messaging.driver import ensure_driver
from messaging.transport import AeronClient
from strategy.md_client import MarketDataClient
from strategy.ports import FeedState, Handler

DRIVER_ENV = {"AERON_IPC_TERM_BUFFER_LENGTH": "1m", "AERON_CLIENT_LIVENESS_TIMEOUT": "2s",
              "AERON_IMAGE_LIVENESS_TIMEOUT": "2s", "AERON_PUBLICATION_LINGER_TIMEOUT": "200ms"}


@pytest.fixture(scope="module")
def driver():
    d = Path("/dev/shm") / f"tw-mdclient-test-{os.getpid()}"
    handle = ensure_driver(str(d), "shared", env=dict(os.environ, **DRIVER_ENV))
    assert handle is not None
    yield str(d)
    assert handle.stop() == 0


class Rec(Handler):
    def __init__(self):
        self.books, self.trades, self.statuses = [], [], []

    def handle_book(self, book): self.books.append(book)
    def handle_trade(self, trade): self.trades.append(trade)
    def handle_status(self, status): self.statuses.append(status)
    def handle_execution(self, ex): pass
    def handle_clock(self, now_ns): pass


def until(cond, client, h, what):
    deadline = time.monotonic() + 30
    while not cond():
        assert time.monotonic() < deadline, what
        if client.poll(h) == 0:
            time.sleep(0.001)


def depth(seq, px, shares, orders, action=1, side=1, locate=1):
    return sbe.encode("DepthUpdate", stream_seq=seq, feed_seq=seq, symbol="AAA", locate=locate,
                      levels=[{"price": px, "shares": shares, "orders": orders, "side": side, "action": action}])


def snapshot(s, rid, levels, index=0, count=1, locate=1, symbol="AAA"):
    return sbe.encode("BookSnapshot", last_stream_seq=s, request_id=rid, index=index, count=count, locate=locate,
                      symbol=symbol, levels=levels)


def test_late_join_gap_recovery_delivery_and_refusals(driver):
    with AeronClient(driver, idle="backoff") as feed, AeronClient(driver, idle="backoff") as sub:
        md = feed.publication(DEFAULT_STREAMS["market_data"])
        snap = feed.publication(DEFAULT_STREAMS["snapshot"])
        req = feed.subscription(DEFAULT_STREAMS["snapshot_request"])
        c = MarketDataClient(sub, DEFAULT_STREAMS)
        h = Rec()
        got = []

        def take_requests():
            req.poll(lambda b, sid: got.append(sbe.decode(b)), 10)
            return bool(got)

        until(lambda: md.is_connected, c, h, "subscriber connected")
        for seq in (1, 2, 3):
            assert md.offer_bytes(depth(seq, 100_000 + seq, 100, 1)) > 0
        until(take_requests, c, h, "a SnapshotRequest")
        assert got[0].name == "SnapshotRequest" and got[0].request_id == 1
        for seq in (4, 5):                                      # published after S = 3: applied after it
            assert md.offer_bytes(depth(seq, 100_000 + seq, 100, 1)) > 0
        until(lambda: c.messages_seen() >= 5, c, h, "buffered 5")
        # a two-symbol set, S = 3: AAA has 3 levels (from messages 1..3), BBB one; index/count complete it
        assert snap.offer_bytes(snapshot(3, 1, [{"price": 100_00 + i, "shares": 100, "orders": 1, "side": 1}
                                                for i in ()], 0, 2)) > 0
        assert not c.live
        assert snap.offer_bytes(snapshot(3, 1, [{"price": 50_000, "shares": 7, "orders": 2, "side": 2}], 1, 2,
                                         locate=2, symbol="BBB")) > 0
        until(lambda: c.live, c, h, "live after the set")
        assert c.counters()["dropped_buffered"] == 3
        assert c.depth(1, 10) == ([(100_005, 100, 1), (100_004, 100, 1)], [])
        assert c.depth(2, 10) == ([], [(50_000, 7, 2)])
        # going live delivers each book once, as the snapshot set left it
        assert sorted((b.symbol, b.bids, b.asks) for b in h.books) == [
            ("AAA", [(100_005, 100, 1), (100_004, 100, 1)], []), ("BBB", [], [(50_000, 7, 2)])]
        h.books.clear()
        # a BboUpdate is delivered with the full book and its stamps
        assert md.offer_bytes(sbe.encode("BboUpdate", stream_seq=6, symbol="AAA", locate=1, bid_px=100_005,
                                          timing={"send_ns": 1, "rx_ns": 2, "book_ns": 3, "md_pub_ns": 4})) > 0
        until(lambda: h.books, c, h, "a book")
        assert h.books[-1].bids[0] == (100_005, 100, 1) and c.timing["md_pub_ns"] == 4 and c.timing["strat_rx_ns"] > 0
        # a gap (7 lost): GAP status, a new request, recovery
        got.clear()
        assert md.offer_bytes(depth(8, 100_008, 100, 1)) > 0
        until(take_requests, c, h, "a second request")
        assert any(s.feed_state == FeedState.GAP and s.gap_from == 7 and s.gap_to == 7 for s in h.statuses)
        assert snap.offer_bytes(snapshot(8, got[-1].request_id, [{"price": 1, "shares": 1, "orders": 1,
                                                                  "side": 1}])) > 0
        until(lambda: c.live, c, h, "live again")
        assert c.depth(1, 10) == ([(1, 1, 1)], []) and c.counters()["gaps"] == 1
        # malformed messages are refused and counted
        for bad in (b"", b"junk", b"\x00" * 7, depth(9, 1, 1, 1)[:20]):
            assert md.offer_bytes(bad) > 0
            assert snap.offer_bytes(bad) > 0
        until(lambda: c.counters()["refused"] >= 4 and c.counters()["snapshot_refused"] >= 4, c, h, "refusals")
        assert c.live
        # the feed's publication goes away: "feed gone" and a DOWN status
        md.close()
        until(lambda: c.status().startswith("feed gone"), c, h, "feed gone")
        assert h.statuses[-1].feed_state == FeedState.DOWN
        c.close()
