"""The feed service: packets -> MoldSession (A/B, recovery) -> BookBuilder -> market data on Aeron.

``python -m services.feed --config FILE`` (``services.runtime.service_main``). The source comes from
``[feed]``: ``udp`` (or another ``datapath.registry`` source) on ``line_a`` [+ ``line_b``], with re-requests to
``retrans``; or ``pcap`` (a recorded MoldUDP64 capture, as fast as possible, from the moment a subscriber
is connected to ``market_data``). The hot path is
``services.md_publisher.MdPublisher`` (Cython): per applied ITCH message the market-data messages in claimed
Aeron buffers, FAIL_FAST (docs/appliance.md). Between two slices of packets (``MoldSession.run_slice``,
whole packets only) the service serves ``SnapshotRequest``s on ``snapshot_request`` (one ``BookSnapshot``
per symbol on ``snapshot``, consistent: nothing is applied while the set is written), sends a ``Heartbeat``
when nothing was published for a second, and ``FeedStatus`` when a line goes stale / comes back and when a
gap opens, is recovered or is given up. Malformed messages on ``snapshot_request`` are refused and counted.

In-process strategy (``[feed] strategy = "module:Class"``, a ``strategy.fast.FastStrategy``): the
publisher calls it on each BBO change and trade in this thread, with the block it publishes (no
market-data hop); its orders still go over Aeron IPC to the gateway, through an
``strategy.oe_client.OrderEntryClient`` on this service's Aeron client that logs in as
``strategy_user`` at start and is polled between two slices (reports, heartbeats). The first report of
each order is a row of ``analytics.latency`` (``RUN_DIR/NAME.latency.npy`` at stop). A pcap source
starts when a market_data subscriber is there or the strategy is logged in.
"""
from __future__ import annotations

import time

HEARTBEAT_NS = 1_000_000_000
#: How long start() waits for the gateway's answer to the in-process strategy's login.
LOGIN_TIMEOUT_S = 10.0
SLICE_NS = 2_000_000
# messaging.sbe_schema.FeedEvent / Line values
EV_LINE_UP, EV_LINE_DOWN, EV_GAP_OPENED, EV_GAP_RECOVERED, EV_GAP_GIVEN_UP = 1, 2, 3, 4, 5
LINE_OF = {"A": 1, "B": 2, "retrans": 0}


class FeedService:
    """One feed: ``start`` opens Aeron, the sources and the session; ``do_work`` runs one slice."""

    def __init__(self, cfg, name: str = "feed"):
        self.cfg = cfg
        self.fc = cfg.feed
        self.name = name
        self.client = None
        self.sources = []
        self.requester = None
        self.session = None
        self.pub = None
        self.watch = None
        self.ended = ""
        self.requests = 0
        self.requests_refused = 0
        self.requests_wrong_template = 0
        self.feed_status_sent = 0
        self.heartbeats = 0
        self._pending = []
        self._gap_was_open = False
        self._last_seq = 0
        self._last_pub_ns = time.time_ns()
        self._last_pkt = time.monotonic()
        self._packets = 0
        self._next_periodic = 0.0
        self._replaying = False
        self.strategy = None            # in-process FastStrategy
        self.oe = None
        self._oe_final = {}
        self.recorder = None

    # ------------------------------------------------------------------------------------------ start
    def start(self):
        from book.builder import BookBuilder
        from datapath.registry import open_source
        from datapath.udp_source import UdpSource
        from feedhandlers.live import LineWatch, line
        from feedhandlers.mold_session import MoldContext, MoldSession, UdpRequester
        from messaging.transport import AeronClient
        from services.md_publisher import MdPublisher

        fc, cfg = self.fc, self.cfg
        self.client = AeronClient(cfg.aeron_dir, idle=fc.idle, name=f"tickwire-{self.name}")
        st = cfg.streams
        md = self.client.publication(st["market_data"], exclusive=True)
        snap = self.client.publication(st["snapshot"], exclusive=True)
        self.req_sub = self.client.subscription(st["snapshot_request"])
        self.pub = MdPublisher(md, snap, BookBuilder(), symbols=list(fc.symbols) or None)
        self.md_pub, self.snap_pub = md, snap
        if fc.retrans and fc.source != "pcap":
            self.requester = UdpRequester(tuple(fc.retrans))
            ctx = MoldContext(send_request=self.requester)
        else:
            ctx = MoldContext()
        self.ctx = ctx
        if fc.strategy:
            self._start_strategy()
        self.session = MoldSession(self.pub, ctx, start_seq=fc.start_seq)
        self.session.on_gap_event = self._gap_event
        if fc.source == "pcap":
            if fc.speed and fc.speed > 0:
                raise ValueError("feed.speed: pacing a pcap source is not implemented in the feed service "
                                 "(replay it with `tickwire send --speed X` and use source = \"udp\")")
            self.sources.append(open_source("pcap", path=cfg.resolve(fc.pcap)))
        else:
            for hp in (fc.line_a, fc.line_b):
                if hp is None:
                    continue
                host, port = hp
                opts = {"port": port, "group": host, "interface": fc.interface, "timeout_ms": 0}
                if fc.source != "udp":
                    opts.pop("timeout_ms")
                self.sources.append(open_source(fc.source, **opts))
        self.lines = [line(s, i) for i, s in enumerate(self.sources)]
        self.rt = UdpSource.adopt(self.requester.fileno()) if self.requester else None
        fds = [ln.fd for ln in self.lines] + ([self.requester.fileno()] if self.requester else [])
        self.fds = tuple(fds) if all(f is not None for f in fds) else ()
        if fc.source != "pcap":
            self.watch = LineWatch(self.session, range(len(self.lines)), fc.stale_after_s, clock_ns=ctx.clock_ns,
                                   on_event=self._line_event, watch_server=self.requester is not None)

    def _start_strategy(self):
        import os
        from pathlib import Path

        from analytics.latency import LatencyRecorder
        from strategy.loader import load_class, load_config
        from strategy.oe_client import OrderEntryClient

        fc, cfg = self.fc, self.cfg
        cls = load_class(fc.strategy)
        self.strategy = cls(load_config(cfg.resolve(fc.strategy_config)) if fc.strategy_config else {"symbols": ["*"]})
        if fc.strategy_credential_env:
            cred = os.environ.get(fc.strategy_credential_env)
            if not cred:
                raise ValueError(f"feed.strategy_credential_env: environment variable {fc.strategy_credential_env} "
                                 "is not set")
        else:
            path = cfg.resolve(fc.strategy_credential_file)
            if os.stat(path).st_mode & 0o077:
                raise ValueError(f"feed.strategy_credential_file: {path} is readable by others: chmod 600")
            cred = Path(path).read_text().strip()
        gw_symbols = list(cfg.gateway.symbols) if cfg.gateway else sorted(self.strategy.symbols or ())
        self.strategy.set_gateway_symbols(gw_symbols)
        self.recorder = LatencyRecorder()
        self.oe = OrderEntryClient(self.client, fc.strategy_user, cred, cfg.streams, symbols=gw_symbols)
        self.strategy.attach(self.oe)
        self.oe.on_stamps = self._on_stamps
        if not self.oe.login(timeout_s=LOGIN_TIMEOUT_S):
            raise RuntimeError(f"feed.strategy: login as {fc.strategy_user} refused or unanswered: "
                               f"{self.oe.login_reason}")
        self.pub.set_strategy(self.strategy)

    def _on_stamps(self, stamps, kind):
        from strategy.ports import ExecKind
        if kind in (ExecKind.ACK, ExecKind.REJECT) and stamps[5]:
            self.recorder.add(stamps)

    # ------------------------------------------------------------------------------------------ events
    def _say(self, text):
        from services.runtime import say
        say(self.name, text)

    def _line_event(self, kind, name, seconds):
        if kind in ("stale", "back"):
            self._say(f"line {name} {'stale: no packet for' if kind == 'stale' else 'back after'} {seconds:.1f} s")
            self._status(EV_LINE_DOWN if kind == "stale" else EV_LINE_UP, LINE_OF.get(name, 0))
        else:
            self._say(f"re-request server {'down' if kind == 'server_down' else 'answering again'} ({seconds:.1f} s)")

    def _gap_event(self, kind, lo, hi, *detail):
        if kind == "unrecoverable":
            self._say(f"feed messages {lo}..{hi - 1} given up ({detail[0] if detail else ''}): books not exact "
                      f"since {self.session.not_exact_since}")
            self._status(EV_GAP_GIVEN_UP, 0, lo, hi - 1)

    def _status(self, event, line=0, lo=0, hi=0):
        if self.pub.feed_status(event, line, lo, hi, self.session.next_seq):
            self.feed_status_sent += 1

    def _on_request(self, buf, session_id):
        from messaging import sbe
        try:
            m = sbe.decode(buf)
        except sbe.SbeError:
            self.requests_refused += 1
            return
        if m.name != "SnapshotRequest":
            self.requests_wrong_template += 1
            return
        self.requests += 1
        self._pending.append((int(m.request_id), int(m.locate)))

    # ------------------------------------------------------------------------------------------ duty cycle
    def do_work(self) -> int:
        from core.codes import SRC_E_END, code_name
        from feedhandlers.mold_session import RUN_POLL

        s = self.session
        work = 0
        if self.fc.source == "pcap" and not self._replaying:
            # A recorded day is replayed once a subscriber is there (nothing published to nobody).
            self._replaying = bool(self.md_pub.is_connected) or (self.oe is not None and self.oe.logged_in)
            if not self._replaying:
                self.req_sub.poll_messages(self._on_request, 16)
                return 0
        if not self.ended:
            a = self.lines[0].reader if self.lines else None
            b = self.lines[1].reader if len(self.lines) > 1 else None
            rc = s.run_slice(a, b, self.rt, self.fds, SLICE_NS, 1, False)
            if rc < 0:
                self.ended = "end of input" if rc == SRC_E_END else f"source error {code_name(rc)} ({rc})"
                self._say(f"source: {self.ended}")
            elif rc == RUN_POLL:
                s.poll()
            s.drain_latency()
        pk = s.packets_total
        if pk != self._packets:
            work += pk - self._packets
            self._packets = pk
            self._last_pkt = time.monotonic()
        if self.watch is not None:
            self.watch.check()
        gap = bool(s.gap_open)
        if gap != self._gap_was_open:
            self._gap_was_open = gap
            if gap:
                self._status(EV_GAP_OPENED, 0, s.next_seq, max(s.high_seq - 1, s.next_seq))
            else:
                self._status(EV_GAP_RECOVERED, 0, 0, 0)
        if self.oe is not None:                      # the in-process strategy's reports and heartbeats
            work += self.oe.poll(64)
        # snapshot requests, between two packets
        self.req_sub.poll_messages(self._on_request, 16)
        if self._pending:
            served = set()
            for rid, loc in self._pending:
                if (rid, loc) in served:
                    continue
                served.add((rid, loc))
                self.pub.publish_snapshot(rid, loc)
            work += len(self._pending)
            self._pending.clear()
        if self.fc.snapshot_interval_ms:
            now = time.monotonic()
            if now >= self._next_periodic:
                self._next_periodic = now + self.fc.snapshot_interval_ms / 1000
                self.pub.publish_snapshot(0, 0)
        seq = self.pub.stream_seq
        now_ns = time.time_ns()
        if seq != self._last_seq:
            self._last_seq = seq
            self._last_pub_ns = now_ns
        elif now_ns - self._last_pub_ns >= HEARTBEAT_NS:
            if self.pub.heartbeat():
                self.heartbeats += 1
            self._last_seq = self.pub.stream_seq
            self._last_pub_ns = now_ns
        return work

    # ------------------------------------------------------------------------------------------ reporting
    def status(self) -> str:
        c = self.pub.counters() if self.pub else {}
        s = self.session
        text = (f"{s.messages:,} feed msgs, {c.get('published', 0):,} published, {c.get('failed', 0):,} failed"
                f", {c.get('snapshot_sets', 0):,} snapshot sets") if s else "not started"
        if s is not None and s.not_exact_since:
            text += f", books not exact since {s.not_exact_since:,}"
        if self.strategy is not None:
            fc = self.strategy.counters()
            text += f"; strategy {fc['sent']:,} orders, {fc['reports']:,} reports"
            if self.oe is None or not self.oe.logged_in:
                text += " (not logged in)"
        if self.fc.source == "pcap" and not self._replaying:
            text += "; pcap: waiting for a market_data subscriber"
        elif self.ended:
            text += f"; source: {self.ended}"
        else:
            idle = time.monotonic() - self._last_pkt
            if idle >= 1.0:
                text += f"; no packets for {idle:.1f} s"
        return text

    def counters(self) -> dict:
        out = {"name": self.name, "ended": self.ended, "snapshot_requests": self.requests,
               "snapshot_requests_refused": self.requests_refused,
               "snapshot_requests_wrong_template": self.requests_wrong_template,
               "feed_status_sent": self.feed_status_sent, "heartbeats": self.heartbeats}
        if self.pub is not None:
            out["md"] = self.pub.counters()
            out["market_data_pub"] = self.md_pub.counters()
            out["snapshot_pub"] = self.snap_pub.counters()
        if self.session is not None:
            out["session"] = self.session.counters()
        if self.watch is not None:
            out["lines"] = self.watch.counters()
        if self.strategy is not None:
            out["strategy"] = {"class": self.fc.strategy, "mode": "fast, in process", **self.strategy.summary(),
                               "fast": self.strategy.counters(),
                               "order_entry": self.oe.counters() if self.oe is not None else self._oe_final,
                               "latency_rows": self.recorder.n}
        return out

    def close(self):
        if self.oe is not None:
            try:
                if self.oe.logged_in:
                    self.oe.logout()
                if self.recorder is not None and self.recorder.n:
                    self.recorder.save(self.cfg.run_path(f"{self.name}.latency.npy"))
            finally:
                self._oe_final = self.oe.counters()
                self.pub.set_strategy(None)
                self.oe.close()
                self.oe = None
        for src in self.sources:
            try:
                src.close()
            except Exception:  # noqa: BLE001 - closing goes on
                pass
        if self.requester is not None:
            self.requester.close()
        if self.client is not None:
            self.client.close()
            self.client = None


def factory(cfg, name=None):
    if cfg.feed is None:
        raise LookupError("the file has no [feed] section")
    return FeedService(cfg, name or "feed"), cfg.feed.core, cfg.feed.idle


def main(argv=None) -> int:
    from services.runtime import service_main
    return service_main("services.feed", factory, argv)


if __name__ == "__main__":
    raise SystemExit(main())
