"""The live market-data source: the feed service's SBE streams on Aeron -> full-depth books -> a handler.

``MarketDataClient(aeron_client, streams, *, symbols=None, clock=time.time_ns)`` implements
``strategy.ports.MarketDataSource`` over the streams ``market_data``, ``snapshot_request`` and ``snapshot``
(``streams``: name -> ``messaging.channels.StreamSpec``, e.g. ``ApplianceConfig.streams``).

API (kept stable for the strategy host):

- ``run(handler, symbols=None) -> dict``: ``poll`` until ``stop()``; returns ``counters()``.
- ``poll(handler=None, limit=256) -> int``: one duty cycle (fragments read + snapshots applied); delivers
  to ``handler`` (a ``strategy.ports.Handler``) when given.
- ``stop()``; ``close()`` (the subscriptions and the request publication; not the Aeron client).
- ``live`` (books exact and in sequence), ``books`` ({locate: (bids, asks)}, each {price: (shares, orders)}),
  ``locates()``, ``symbol(locate)``, ``depth(locate, levels)`` (the ``BookBuilder`` reading API, so
  ``tickwire.commands.book.write_csv`` writes the client's books), ``book(symbol) -> Book``.
- ``timing``: the TimingStamps of the last BboUpdate (send, rx, book, md_pub ns) plus ``strat_rx_ns``, the
  receive time of that message by this client: an order sent in reaction carries them on.
- ``status() -> str`` ("live ...", "no market data for 3.0 s", "feed gone: ..."); ``counters() -> dict``.

Sequence rules (docs/appliance.md): the client subscribes to ``market_data`` and buffers; once the stream is
connected it sends a ``SnapshotRequest``; when a complete set of ``BookSnapshot`` (``count`` of them, the same
``last_stream_seq`` S) has arrived, the books are replaced by it, buffered messages with ``stream_seq <= S``
are dropped and the rest applied in order: live. A ``stream_seq`` jump while live (FAIL_FAST loss on the
Aeron hop) is recovered the same way. A request unanswered for ``retry_s`` is sent again. Malformed or
unexpected messages are refused by ``sbe_check`` and counted, never raised.

Delivery: ``handle_clock(exch_ts)`` then ``handle_book(Book)`` for each BboUpdate of a wanted symbol (full
depth, best first), ``handle_trade(Trade)`` for each Trade, ``handle_status(Status)`` for TradingStatus,
FeedStatus, a gap on the Aeron hop (``FeedState.GAP``), its recovery (``RECOVERED``) and the feed's image
going away (``DOWN``). Nothing is delivered while the books are not live; once a snapshot set is installed
(late join, recovery) each wanted symbol's book is delivered once, as it is then.
"""
from __future__ import annotations

import os
import struct
import time

from messaging import sbe
from messaging import sbe_codec as _codec
from strategy.ports import Book, FeedState, MarketDataSource, Side, Status, Trade, TradingState

_STATE = {0: TradingState.UNKNOWN, 1: TradingState.HALTED, 2: TradingState.PAUSED, 3: TradingState.QUOTATION_ONLY,
          4: TradingState.TRADING}
_FEED = {1: FeedState.UP, 2: FeedState.DOWN, 3: FeedState.GAP, 4: FeedState.RECOVERED, 5: FeedState.GIVEN_UP}
_SIDE = {0: Side.NONE, 1: Side.BUY, 2: Side.SELL}
INIT, WAITING, LIVE = "init", "waiting", "live"
_check = _codec.check
_SEQ = struct.Struct("<Q")                           # stream_seq: @24 of every market-data block, @32 of the buffer
_DECODE = {1: _codec.decode_SymbolDirectory, 2: _codec.decode_TradingStatus, 3: _codec.decode_BboUpdate,
           4: _codec.decode_DepthUpdate, 10: _codec.decode_Trade, 12: _codec.decode_FeedStatus,
           13: _codec.decode_Heartbeat}


def _sym(v) -> str:
    return v.rstrip("\x00 ") if isinstance(v, str) else v


class MarketDataClient(MarketDataSource):
    def __init__(self, aeron_client, streams, *, symbols=None, clock=time.time_ns, retry_s: float = 1.0,
                 quiet_s: float = 3.0):
        self.client = aeron_client
        self.clock = clock
        self.wanted = set(symbols) if symbols else None
        self.retry_ns = int(retry_s * 1e9)
        self.quiet_ns = int(quiet_s * 1e9)
        self.md = aeron_client.subscription(streams["market_data"])
        self.snap = aeron_client.subscription(streams["snapshot"])
        self.req = aeron_client.publication(streams["snapshot_request"])
        self.books: dict[int, tuple[dict, dict]] = {}
        self.names: dict[int, str] = {}
        self.states: dict[int, int] = {}
        self.mode = INIT
        self.expected = 0                 # next stream_seq when live
        self.buffer: list = []            # (stream_seq, Message) while not live
        self.sets: dict[int, dict] = {}   # S -> {index: Message}
        self.request_id = 0
        self.requested_at = 0
        self.timing: dict = {}
        self.handler = None
        self._stop = False
        self._started = clock()
        self.last_rx_ns = 0
        self.feed_gone = ""
        self.sbe_counts = _codec.SbeCounters()         # sbe_check results on market_data, by code
        self.c = dict(messages=0, refused=0, unexpected=0, gaps=0, gap_messages=0, snapshots_applied=0,
                      snapshot_messages=0, snapshot_refused=0, requests=0, request_failed=0, dropped_buffered=0,
                      books=0, trades=0, statuses=0, heartbeats=0)

    # ------------------------------------------------------------------------------------------ ports
    def run(self, handler, symbols=None) -> dict:
        if symbols:
            self.wanted = set(symbols)
        self._stop = False
        while not self._stop:
            if self.poll(handler) == 0:
                self.client.idle_strategy.idle_py(0)
        return self.counters()

    def stop(self) -> None:
        self._stop = True

    def close(self) -> None:
        for x in (self.md, self.snap, self.req):
            x.close()

    # ------------------------------------------------------------------------------------------ duty cycle
    def poll(self, handler=None, limit: int = 256) -> int:
        if handler is not None:
            self.handler = handler
        work = self.md.poll_messages(self._on_md, limit)
        work += self.snap.poll_messages(self._on_snap, limit)
        for kind, sid, src in self.md.drain_image_events():
            if kind == "unavailable":
                self.feed_gone = f"feed gone (image {sid} from {src} unavailable)"
                self._deliver_status(Status(None, feed_state=FeedState.DOWN))
            else:
                self.feed_gone = ""
        if self.mode != LIVE:
            now = self.clock()
            if self.md.is_connected and (self.mode == INIT or now - self.requested_at >= self.retry_ns):
                self._request(now)
        return work

    def _request(self, now):
        self.request_id += 1
        self.requested_at = now
        self.mode = WAITING
        buf = sbe.encode("SnapshotRequest", request_id=self.request_id, client_id=os.getpid(), locate=0)
        if self.req.offer_bytes(buf) > 0:
            self.c["requests"] += 1
        else:
            self.c["request_failed"] += 1

    def _on_md(self, buf, session_id):
        tid, _ = _check(buf, self.sbe_counts)
        if tid < 0:
            self.c["refused"] += 1
            return
        if tid > 13 or tid == 11:
            self.c["unexpected"] += 1
            return
        self.c["messages"] += 1
        self.last_rx_ns = self.clock()
        seq = _SEQ.unpack_from(buf, 32)[0]
        if self.mode == LIVE:
            if seq == self.expected:
                self.expected += 1
                self._apply(tid, buf, True)
                return
            if seq < self.expected:                  # already in the snapshot the books were rebuilt from
                self.c["dropped_buffered"] += 1
                return
            self.c["gaps"] += 1
            self.c["gap_messages"] += seq - self.expected
            self.mode = INIT
            self.buffer = []
            self._deliver_status(Status(None, feed_state=FeedState.GAP, gap_from=self.expected, gap_to=seq - 1))
        self.buffer.append((seq, tid, buf))

    def _on_snap(self, buf, session_id):
        try:
            m = sbe.decode(buf)
        except sbe.SbeError:
            self.c["snapshot_refused"] += 1
            return
        if m.name != "BookSnapshot":
            self.c["snapshot_refused"] += 1
            return
        self.c["snapshot_messages"] += 1
        if self.mode == LIVE or m.count == 0:
            return
        s = m.last_stream_seq
        got = self.sets.setdefault(s, {})
        got[m.index] = m
        if len(got) >= m.count:
            del self.sets[s]
            self._install(s, got)

    def _install(self, s, snaps):
        first = self.buffer[0][0] if self.buffer else s + 1
        if first > s + 1:
            return                                   # the set is older than what we buffered: wait for ours
        self.books.clear()
        for m in snaps.values():
            if m.locate == 0:
                continue
            bids, asks = {}, {}
            for lv in m.levels:
                (bids if lv["side"] == 1 else asks)[lv["price"]] = (lv["shares"], lv["orders"])
            self.books[m.locate] = (bids, asks)
            self.names[m.locate] = _sym(m.symbol)
            self.states[m.locate] = int(m.state)
        self.c["snapshots_applied"] += 1
        for k in [k for k in self.sets if k <= s]:
            del self.sets[k]
        buf, self.buffer = self.buffer, []
        self.expected = s + 1
        self.mode = LIVE
        for seq, tid, raw in buf:
            if seq <= s:
                self.c["dropped_buffered"] += 1
                continue
            if seq != self.expected:                 # lost while buffering: recover again
                self.c["gaps"] += 1
                self.mode = INIT
                self.buffer = [x for x in buf if x[0] >= seq]
                return
            self.expected += 1
            self._apply(tid, raw, False)
        self._deliver_status(Status(None, feed_state=FeedState.RECOVERED))
        # the books as they are now, once: a strategy that joins (or recovers) sees its starting point
        # instead of waiting for the next change of each symbol (which may never come on a quiet symbol)
        if self.handler is not None:
            for loc, name in sorted(self.names.items()):
                if loc in self.books and self._wants(name):
                    self.handler.handle_book(self.book_of(loc, 0, 0))
                    self.c["books"] += 1

    # ------------------------------------------------------------------------------------------ books
    def _apply(self, tid, buf, deliver: bool):
        if 5 <= tid <= 9:                            # L3 order events: the books here are by level
            return
        m = _DECODE[tid](buf)
        if tid == 4:                                 # DepthUpdate
            loc = m["locate"]
            bids, asks = self.books.setdefault(loc, ({}, {}))
            if loc not in self.names:
                self.names[loc] = _sym(m["symbol"])
            for lv in m["levels"]:
                side = bids if lv["side"] == 1 else asks
                if lv["action"] == 3:
                    side.pop(lv["price"], None)
                else:
                    side[lv["price"]] = (lv["shares"], lv["orders"])
        elif tid == 3:                               # BboUpdate
            t = m["timing"]
            self.timing = {"send_ns": t["send_ns"], "rx_ns": t["rx_ns"], "book_ns": t["book_ns"],
                           "md_pub_ns": t["md_pub_ns"], "strat_rx_ns": self.last_rx_ns}
            sym = _sym(m["symbol"])
            if deliver and self.handler is not None and self._wants(sym):
                self.handler.handle_clock(m["exch_ts"])
                self.handler.handle_book(self.book_of(m["locate"], m["exch_ts"], m["feed_seq"]))
                self.c["books"] += 1
        elif tid == 10:                              # Trade
            sym = _sym(m["symbol"])
            if deliver and self.handler is not None and self._wants(sym):
                self.handler.handle_clock(m["exch_ts"])
                self.handler.handle_trade(Trade(sym, m["price"], m["shares"], _SIDE.get(m["side"], Side.NONE),
                                                m["match_id"], m["exch_ts"], m["feed_seq"]))
                self.c["trades"] += 1
        elif tid == 1:                               # SymbolDirectory
            self.names[m["locate"]] = _sym(m["symbol"])
            self.books.setdefault(m["locate"], ({}, {}))
        elif tid == 2:                               # TradingStatus
            sym = _sym(m["symbol"])
            self.states[m["locate"]] = m["state"]
            if deliver and self._wants(sym):
                self._deliver_status(Status(sym, trading_state=_STATE.get(m["state"], TradingState.UNKNOWN),
                                            reason=_sym(m["reason"]), ts_ns=m["exch_ts"], seq=m["feed_seq"]))
        elif tid == 12:                              # FeedStatus
            if deliver:
                self._deliver_status(Status(None, feed_state=_FEED.get(m["event"], FeedState.UP),
                                            gap_from=m["gap_from"], gap_to=m["gap_to"], seq=m["feed_seq"]))
        elif tid == 13:
            self.c["heartbeats"] += 1

    def _wants(self, sym):
        return self.wanted is None or sym in self.wanted

    def _deliver_status(self, st):
        if self.handler is not None:
            self.c["statuses"] += 1
            self.handler.handle_status(st)

    # ------------------------------------------------------------------------------------------ reading
    def messages_seen(self) -> int:
        """Market-data messages accepted (applied, buffered or dropped as already in a snapshot)."""
        return self.c["messages"]

    @property
    def live(self) -> bool:
        return self.mode == LIVE

    def locates(self):
        return sorted(loc for loc, (b, a) in self.books.items() if b or a)

    def symbol(self, locate: int) -> str:
        return self.names.get(locate, "")

    def depth(self, locate: int, levels: int):
        bids, asks = self.books.get(locate, ({}, {}))
        b = [(p, s, o) for p, (s, o) in sorted(bids.items(), reverse=True)[:levels]]
        a = [(p, s, o) for p, (s, o) in sorted(asks.items())[:levels]]
        return b, a

    def book_of(self, locate: int, ts=0, seq=0) -> Book:
        b, a = self.depth(locate, 1 << 30)
        return Book(self.names.get(locate, ""), b, a, ts, seq)

    def book(self, symbol: str) -> Book | None:
        for loc, name in self.names.items():
            if name == symbol:
                return self.book_of(loc)
        return None

    def status(self) -> str:
        if self.feed_gone:
            return self.feed_gone
        now = self.clock()
        last = self.last_rx_ns or self._started
        if now - last >= self.quiet_ns:
            return f"no market data for {(now - last) / 1e9:.1f} s"
        if self.mode != LIVE:
            return f"joining ({len(self.buffer):,} buffered, request {self.request_id})"
        return f"live at stream_seq {self.expected - 1:,}, {len(self.books):,} books, {self.c['gaps']} gaps"

    def counters(self) -> dict:
        return {**self.c, "refused_by_code": self.sbe_counts.by_code(), "mode": self.mode, "stream_seq": self.expected - 1 if self.mode == LIVE else 0,
                "buffered": len(self.buffer), "books_now": len(self.books)}
