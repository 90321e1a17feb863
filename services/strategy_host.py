"""The strategy host: one ``strategy.Strategy`` as its own process, live on the appliance's streams.

``python -m services.strategy_host --config APPLIANCE.toml --name NAME`` runs the ``[[strategy]]`` named
NAME (``tickwire run`` starts it); ``tickwire strategy run MODULE:CLASS --config FILE --user U`` runs one
without an appliance file. The same strategy class runs in a backtest (``strategy.backtest``).
A ``strategy.fast.FastStrategy`` class runs in ``FastStrategyHost`` instead (market data read by its
nogil fragment handler, orders encoded in claimed buffers; docs/strategy.md, "The fast path").

Wiring: market data from ``strategy.md_client.MarketDataClient`` (late join by snapshot, gap recovery),
orders through ``strategy.oe_client.OrderEntryClient`` (login, sequence numbers, heartbeats, resend);
both drive the strategy's callbacks from this process's duty loop, so a strategy never sees two
callbacks at once. Each order carries the stamps of the market data it answers, each execution
report the order's, and the first report of every order (ACK or REJECT) is one row of
``analytics.latency`` (written to ``RUN_DIR/NAME.latency.npy`` when the host stops).

On SIGTERM the host cancels the strategy's open orders (and waits up to a second for the answers),
logs out, and writes its summary (orders, fills, rejects by reason, positions and P&L) into
``RUN_DIR/NAME.status.json``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from services.runtime import service_main
from strategy.ports import ExecKind

#: How long start() waits for the gateway's answer to the login.
LOGIN_TIMEOUT_S = 10.0
#: How long close() waits for the cancels of the open orders to be acknowledged.
CANCEL_WAIT_S = 1.0


def read_credential(scfg, cfg) -> str:
    """The strategy's credential, from its environment variable or its file (never from the TOML)."""
    if scfg.credential_env:
        v = os.environ.get(scfg.credential_env)
        if not v:
            raise ValueError(f"strategy {scfg.name}: environment variable {scfg.credential_env} is not set "
                             f"(credential_env)")
        return v
    if scfg.credential_file:
        path = cfg.resolve(scfg.credential_file)
        mode = os.stat(path).st_mode & 0o077
        if mode:
            raise ValueError(f"strategy {scfg.name}: {path} is readable by others (mode {oct(mode)}): chmod 600")
        return Path(path).read_text().strip()
    raise ValueError(f"strategy {scfg.name}: no credential_env or credential_file")


class StrategyHost:
    def __init__(self, cfg, scfg, *, strategy=None, credential: str | None = None):
        self.cfg = cfg
        self.scfg = scfg
        self.name = scfg.name
        self.strategy = strategy
        self.credential = credential
        self.aeron = self.md = self.oe = self.handler = None
        self.recorder = None
        self.md_sub = None
        self.started_ns = time.monotonic_ns()
        self.last_md_ns = self.started_ns
        self.md_quiet_said = False

    # ------------------------------------------------------------------ lifecycle ----
    def start(self) -> None:
        from analytics.latency import LatencyRecorder
        from messaging.channels import default_dir
        from messaging.transport import AeronClient
        from strategy.loader import load_class, load_config
        from strategy.md_client import MarketDataClient
        from strategy.oe_client import OrderEntryClient

        if self.strategy is None:
            cls = load_class(self.scfg.cls)
            self.strategy = cls(load_config(self.cfg.resolve(self.scfg.config)) if self.scfg.config else {})
        if self.credential is None and self.scfg.user:
            self.credential = read_credential(self.scfg, self.cfg)
        self.recorder = LatencyRecorder()
        self.aeron = AeronClient(dir=self.cfg.aeron_dir or default_dir(), idle=self.scfg.idle)
        streams = self.cfg.streams
        symbols = sorted(self.strategy.symbols) if self.strategy.symbols is not None else None
        self.md = MarketDataClient(self.aeron, streams, symbols=symbols)
        if self.scfg.user:
            gw_symbols = self.cfg.gateway.symbols if self.cfg.gateway else None
            self.oe = OrderEntryClient(self.aeron, self.scfg.user, self.credential, streams, symbols=gw_symbols)
            self.strategy.bind(self.oe)
            self.oe.on_stamps = self._on_stamps
            if not self.oe.login(timeout_s=LOGIN_TIMEOUT_S):
                raise RuntimeError(f"login as {self.scfg.user} refused or unanswered: {self.oe.login_reason}")
        self.handler = _Stamping(self.strategy, self.md, self.oe)
        self.strategy.start()

    def do_work(self) -> int:
        n = self.md.poll(self.handler, 64)
        if n:
            self.last_md_ns = time.monotonic_ns()
        if self.oe is not None:
            n += self.oe.poll(64)
        self.strategy.handle_clock(time.time_ns())
        return n

    def _on_stamps(self, stamps, kind) -> None:
        """The first report of a new order (ACK / REJECT) is one latency row (the 11 analytics stamps)."""
        if kind in (ExecKind.ACK, ExecKind.REJECT) and stamps[5]:     # order_tx: sent by this client
            self.recorder.add(stamps)

    def status(self) -> str:
        s = self.strategy.summary()
        o = s["orders"]
        quiet = (time.monotonic_ns() - self.last_md_ns) / 1e9
        text = (f"orders {o['orders']} fills {o['fills']} rejects {o['rejects']} open {s['open_orders']} "
                f"P&L ${s['pnl'] / 10_000:,.2f}")
        if quiet >= 3.0:
            text += f"; no market data for {quiet:.0f} s"
        if self.oe is not None and not self.oe.logged_in:
            text += "; not logged in"
        if s["halted"]:
            text += f"; halted: {s['halted']}"
        if not self.strategy.feed_exact:
            text += "; books not exact (feed status): no new entries"
        return text

    def counters(self) -> dict:
        out = {"name": self.name, "class": self.scfg.cls, "strategy": self.strategy.summary() if self.strategy else {},
               "feed_exact": bool(self.strategy.feed_exact) if self.strategy else None}
        if self.md is not None:
            out["market_data"] = self.md.counters()
        if self.oe is not None:
            out["order_entry"] = self.oe.counters()
        if self.recorder is not None:
            out["latency_rows"] = self.recorder.n
            out["latency_rows_dropped"] = self.recorder.dropped
        return out

    def close(self) -> None:
        try:
            if self.strategy is not None and self.oe is not None and self.oe.logged_in:
                self.strategy.cancel_all()
                deadline = time.monotonic() + CANCEL_WAIT_S
                while self.strategy.orders and time.monotonic() < deadline:
                    if not self.oe.poll(64):
                        time.sleep(0.001)
                self.strategy.stop()
                self.oe.logout()
            elif self.strategy is not None:
                self.strategy.stop()
        finally:
            if self.recorder is not None and self.recorder.n:
                self.recorder.save(self.cfg.run_path(f"{self.name}.latency.npy"))
            for c in (self.md, self.oe, self.aeron):
                if c is not None:
                    c.close()


class _Stamping:
    """The strategy as the market-data handler, with the stamps of the book being handled set on the order
    port first, so an order sent from ``on_book`` carries them (tick-to-trade); other callbacks clear them."""

    __slots__ = ("s", "md", "oe")

    def __init__(self, strategy, md, oe):
        self.s, self.md, self.oe = strategy, md, oe

    def handle_book(self, book):
        if self.oe is not None:
            t = self.md.timing
            self.oe.md_stamps = (t.get("send_ns", 0), t.get("rx_ns", 0), t.get("book_ns", 0), t.get("md_pub_ns", 0),
                                 t.get("strat_rx_ns", 0)) if t else None
        self.s.handle_book(book)
        if self.oe is not None:
            self.oe.md_stamps = None

    def handle_trade(self, trade):
        self.s.handle_trade(trade)

    def handle_status(self, status):
        self.s.handle_status(status)

    def handle_execution(self, ex):
        self.s.handle_execution(ex)

    def handle_clock(self, now_ns):
        self.s.handle_clock(now_ns)


class FastStrategyHost(StrategyHost):
    """A ``strategy.fast.FastStrategy``: market data read by its own nogil fragment handler (no Python
    object per message, no book: the BboUpdate is the decision's input), orders claimed and encoded in
    Cython; the session (login, heartbeats, resends, the reports' seq checks) in ``OrderEntryClient``."""

    def start(self) -> None:
        from analytics.latency import LatencyRecorder
        from messaging.channels import default_dir
        from messaging.transport import AeronClient
        from strategy.loader import load_class, load_config
        from strategy.oe_client import OrderEntryClient

        if self.strategy is None:
            cls = load_class(self.scfg.cls)
            self.strategy = cls(load_config(self.cfg.resolve(self.scfg.config)) if self.scfg.config else {})
        if self.credential is None and self.scfg.user:
            self.credential = read_credential(self.scfg, self.cfg)
        if not self.scfg.user:
            raise ValueError(f"strategy {self.name}: a FastStrategy needs a user (it sends orders)")
        self.recorder = LatencyRecorder()
        self.aeron = AeronClient(dir=self.cfg.aeron_dir or default_dir(), idle=self.scfg.idle)
        streams = self.cfg.streams
        gw_symbols = (self.cfg.gateway.symbols if self.cfg.gateway and self.cfg.gateway.symbols
                      else sorted(self.strategy.symbols or ()))
        self.strategy.set_gateway_symbols(gw_symbols)
        self.oe = OrderEntryClient(self.aeron, self.scfg.user, self.credential, streams, symbols=gw_symbols)
        self.strategy.attach(self.oe)
        self.oe.on_stamps = self._on_stamps
        if not self.oe.login(timeout_s=LOGIN_TIMEOUT_S):
            raise RuntimeError(f"login as {self.scfg.user} refused or unanswered: {self.oe.login_reason}")
        self.md_sub = self.aeron.subscription(streams["market_data"])     # after the login: no order refused

    def do_work(self) -> int:
        n = self.strategy.poll_md(self.md_sub, 256)
        if n > 0:
            self.last_md_ns = time.monotonic_ns()
        return max(n, 0) + self.oe.poll(64)

    def status(self) -> str:
        c = self.strategy.counters()
        text = (f"fast: {c['bbos']:,} BBOs, {c['sent']:,} orders, {c['reports']:,} reports, "
                f"{c['md_gaps']} gaps on market_data")
        quiet = (time.monotonic_ns() - self.last_md_ns) / 1e9
        if quiet >= 3.0:
            text += f"; no market data for {quiet:.0f} s"
        if self.md_sub is not None and not self.md_sub.image_count:
            text += "; no feed publishing market_data"
        if not self.oe.logged_in:
            text += "; not logged in"
        return text

    def counters(self) -> dict:
        out = {"name": self.name, "class": self.scfg.cls, "mode": "fast, separate process"}
        if self.strategy is not None:
            out["strategy"] = self.strategy.summary()
            out["fast"] = self.strategy.counters()
        if self.oe is not None:
            out["order_entry"] = self.oe.counters()
        if self.recorder is not None:
            out["latency_rows"] = self.recorder.n
            out["latency_rows_dropped"] = self.recorder.dropped
        return out

    def close(self) -> None:
        # IOCs only in the example; a fast strategy's resting orders are the gateway's cancel_on_disconnect's
        try:
            if self.oe is not None and self.oe.logged_in:
                self.oe.send_mass_cancel(None)
                deadline = time.monotonic() + CANCEL_WAIT_S / 4
                while time.monotonic() < deadline:
                    if not self.oe.poll(64):
                        time.sleep(0.001)
                self.oe.logout()
        finally:
            if self.recorder is not None and self.recorder.n:
                self.recorder.save(self.cfg.run_path(f"{self.name}.latency.npy"))
            for c in (self.md_sub, self.oe, self.aeron):
                if c is not None:
                    c.close()


def is_fast(cls_ref: str) -> bool:
    """Whether MODULE:CLASS names a strategy.fast.FastStrategy subclass."""
    from strategy.fast import FastStrategy
    from strategy.loader import load_class
    return issubclass(load_class(cls_ref), FastStrategy)


def factory(cfg, name):
    for s in cfg.strategies:
        if s.name == name:
            host = FastStrategyHost if is_fast(s.cls) else StrategyHost
            return host(cfg, s), s.core, s.idle
    known = ", ".join(s.name for s in cfg.strategies) or "none"
    raise LookupError(f"no [[strategy]] named {name!r} in {cfg.path} (known: {known})")


if __name__ == "__main__":
    raise SystemExit(service_main("services.strategy_host", factory))
