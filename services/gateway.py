"""The order gateway service: order-entry sessions -> risk -> matching -> journal -> execution reports.

``python -m services.gateway --config FILE`` (``services.runtime.service_main``). Rules: docs/appliance.md
("Order entry: sessions"); messages: docs/messages.md. The hot path (order messages -> engine Commands,
events -> SBE reports, report logs) is ``services/gateway_loop.pyx``; this module is the control plane:
logins (scrypt check against ``[[gateway.user]]``), logouts, heartbeats, resends, disconnects (heartbeat
timeout, image gone, a report that could not be published), the journal, snapshots and the restart.

Restart: the journal (``[gateway].journal``) holds every command before its events are released. At start
the gateway replays it from seq 1 (deterministic: the same events), which rebuilds both the engine and
every session's execution reports with their seq numbers; a client logging in again with
``next_expected_seq`` gets the reports from there, exactly once, before anything new. Snapshots are
written every ``snapshot_every`` commands (``engine.recovery``: audits, ``tickwire journal`` tools); the
restart does not start from one because the resendable reports need every event since seq 1.
"""
from __future__ import annotations

import os
import time

from messaging import sbe
from messaging.sbe_schema import LoginRejectReason, LogoutReason

#: a Login stamped this long before the gateway started is still taken (clocks of other hosts)
LOGIN_SKEW_NS = 0
#: poll at most this many fragments per duty cycle (the command batch is as large)
BATCH = 256


def _now() -> int:
    return time.time_ns()


class GatewayService:
    def __init__(self, cfg, name: str = "gateway"):
        self.cfg = cfg
        self.g = cfg.gateway
        self.name = name
        self.users = {u.name: (i + 1, u) for i, u in enumerate(self.g.users)}
        self.client = self.sub = self.er = self.dc = None
        self.core = None
        self.journal = None
        self.loop = None
        self.setup = None
        self.counts = {"logins": 0, "login_rejected": 0, "logouts": 0, "heartbeat_timeouts": 0,
                       "images_lost": 0, "publish_disconnects": 0, "resent": 0, "disconnect_cancels": 0,
                       "control_malformed": 0, "snapshots": 0, "stale_logins": 0}
        self.login_rejects: dict[str, int] = {}
        self.recovered = {}
        self._hb_ns = max(self.g.heartbeat_timeout_ms, 4) * 1_000_000 // 4
        self._next_hb = 0
        self._next_check = 0
        self._last_snap = 0
        self._t0 = time.monotonic()
        self._orders_at = (time.monotonic(), 0)
        self.rate = 0.0

    # ------------------------------------------------------------------------------ start ----
    def _engine_setup(self):
        from engine.recovery import EngineSetup
        from engine.riskconfig import RiskConfig
        symbols = {s: i for i, s in enumerate(self.g.symbols)}
        risk = None
        if self.g.risk:
            risk = RiskConfig.from_toml(self.cfg.resolve(self.g.risk), symbols=symbols)
        return EngineSetup(symbols={i: 1 for i in symbols.values()}, risk_config=risk,
                           positions=risk is not None, max_orders=min(self.g.max_orders, 1 << 22),
                           max_symbols=max(len(symbols), 1), high_water=1 << 16), risk

    def _account_ids(self, risk):
        """(account_id, firm_id) of each user: the risk file's names (engine.names), else our own table."""
        from engine.names import NameTable
        accounts = risk.account_names if risk is not None else NameTable("account", top=1 << 20)
        firms = risk.firm_names if risk is not None else NameTable("firm", top=1 << 16)
        return {u.name: (accounts.id(u.account), firms.id(u.firm)) for u in self.g.users}

    def start(self):
        from engine.recovery import recover
        from messaging.channels import DEFAULT_STREAMS
        from messaging.transport import AeronClient
        from services.gateway_loop import GatewayCore
        self._started_ns = _now() - LOGIN_SKEW_NS
        self.setup, risk = self._engine_setup()
        jdir = self.cfg.resolve(self.g.journal)
        os.makedirs(jdir, exist_ok=True)
        t0 = time.monotonic()
        rec = recover(jdir, self.setup, snapshot_dir=None, attach_journal=True, collect_events=True,
                      fsync="batch", buffered=True, max_payload=4096)
        self.journal, self.loop = rec.journal, rec.loop
        from engine.recovery import journal_commands
        cmds = journal_commands(jdir) if rec.replayed else None
        streams = dict(DEFAULT_STREAMS, **(self.cfg.streams or {}))
        self.client = AeronClient(self.cfg.aeron_dir, idle=self.g.idle, name="tickwire-gateway")
        self.sub = self.client.subscription(streams["order_entry"])
        self.er = self.client.publication(streams["exec_reports"])
        self.dc = self.client.publication(streams["drop_copy"])
        self.core = GatewayCore(len(self.g.users), self.loop, self.er, self.dc, BATCH)
        for uname, (acc, firm) in self._account_ids(risk).items():
            self.core.set_account(self.users[uname][0], acc, firm)
        if cmds is not None and len(cmds):
            self.core.rebuild(cmds, rec.events)
        self._last_snap = int(self.loop.last_seq)
        self.recovered = {"commands": int(rec.replayed), "last_seq": int(rec.last_seq),
                          "reports": int(self.core.reports), "torn": bool(rec.torn),
                          "seconds": round(time.monotonic() - t0, 3)}

    # ------------------------------------------------------------------------------ duty cycle ----
    def do_work(self) -> int:
        core = self.core
        n, ctl = core.poll(self.sub, BATCH)
        for aeron_sid, raw in ctl:
            self._control(aeron_sid, raw)
        core.run()
        for sid in core.take_failed():
            self.counts["publish_disconnects"] += 1
            self.core.count_code(-1609)
            self._disconnect(sid, LogoutReason.SHUTDOWN, "an execution report could not be published within "
                                                         "the bound")
        now = _now()
        if now >= self._next_check:
            self._next_check = now + 1_000_000          # housekeeping at most every ms
            self._housekeeping(now)
        return n + len(ctl)

    def _housekeeping(self, now):
        for kind, aeron_sid, _src in self.sub.drain_image_events():
            if kind == "unavailable":
                sid = self.core.session_of(aeron_sid)
                if sid:
                    self.counts["images_lost"] += 1
                    self.core.count_code(-1611)
                    self._disconnect(sid, None, "Aeron image went away")
        timeout = self.g.heartbeat_timeout_ms * 1_000_000
        send_hb = now >= self._next_hb
        if send_hb:
            self._next_hb = now + self._hb_ns
        for sid in range(1, len(self.g.users) + 1):
            info = self.core.session_info(sid)
            if not info["logged_in"]:
                continue
            if now - info["last_rx_ns"] > timeout:
                self.counts["heartbeat_timeouts"] += 1
                self.core.count_code(-1610)
                self._disconnect(sid, LogoutReason.HEARTBEAT_TIMEOUT, "heartbeat timeout")
            elif send_hb:
                self.core.offer_er(sbe.encode("SessionHeartbeat", seq=info["out_seq"], ts=now, session_id=sid))
        if self.g.snapshot_every > 0 and int(self.loop.last_seq) >= self._last_snap + self.g.snapshot_every:
            from engine.recovery import write_snapshot
            t0 = time.monotonic()
            write_snapshot(self.cfg.resolve(self.g.journal), self.loop, self.setup)
            self._last_snap = int(self.loop.last_seq)
            self.counts["snapshots"] += 1
            self.counts["snapshot_ms_last"] = round((time.monotonic() - t0) * 1e3, 1)
            # the duty loop stood still meanwhile: a session's silence during it is the gateway's, not its own
            now = _now()
            for sid in range(1, len(self.g.users) + 1):
                if self.core.session_info(sid)["logged_in"]:
                    self.core.touch(sid, now)

    def _disconnect(self, sid, reason, why):
        """Session ``sid`` is gone: unbind it, tell it (when it may still listen), cancel its orders."""
        self.core.logout(sid)
        if reason is not None:
            self.core.offer_er(sbe.encode("Logout", seq=self.core.out_seq(sid), session_id=sid, reason=reason))
        if self.g.cancel_on_disconnect:
            from messaging.records import Action
            self.counts["disconnect_cancels"] += 1
            self.core.add_command(sid, int(Action.SESSION_DISCONNECT), _now())
            self.core.run()

    def _control(self, aeron_sid, raw):
        try:
            m = sbe.decode(raw, None)
        except Exception:                                # noqa: BLE001 - counted, never fatal
            self.counts["control_malformed"] += 1
            self.core.count_code(-1606)
            return
        t = m.name
        if t == "Login":
            if m.ts < self._started_ns:
                # sent before this process started: an old Login the Aeron log delivers again after a
                # restart (an IPC subscriber joins at the slowest, maybe dead, subscriber's position)
                self.counts["stale_logins"] += 1
                return
            self._login(aeron_sid, m)
            return
        sid = self.core.session_of(aeron_sid)
        if t in ("NewOrder", "Cancel", "Modify", "MassCancel") or t not in ("Logout", "SessionHeartbeat",
                                                                             "ResendRequest"):
            self.core.feed(aeron_sid, raw)               # deferred behind a session message of its image
            return
        if not sid:
            self.core.count_code(-1603)
            return
        self.core.touch(sid, _now())
        if t == "Logout":
            self.counts["logouts"] += 1
            self._disconnect(sid, LogoutReason.REQUESTED, "logout")
        elif t == "ResendRequest":
            sent, ok = self.core.resend(sid, m.from_seq)
            self.counts["resent"] += sent
            if not ok:
                self.counts["publish_disconnects"] += 1
                self._disconnect(sid, LogoutReason.SHUTDOWN, "resend could not be published")

    def _login(self, aeron_sid, m):
        from access.credentials import verify
        user = self.users.get(m.user)
        nonce = m.client_nonce
        reason = None
        if user is None or not verify(m.credential, user[1].credential):
            reason = LoginRejectReason.BAD_CREDENTIAL
        elif (self.core.session_info(user[0])["logged_in"]
              and self.core.session_info(user[0])["aeron_sid"] != aeron_sid):
            # the same image logging in again (a client whose first answer came too late) starts over
            reason = LoginRejectReason.ALREADY_LOGGED_IN
        elif m.seq < 1:
            reason = LoginRejectReason.BAD_SEQUENCE
        if reason is not None:
            self.counts["login_rejected"] += 1
            self.login_rejects[reason.name] = self.login_rejects.get(reason.name, 0) + 1
            self.core.count_code(-1601 if reason == LoginRejectReason.BAD_CREDENTIAL else
                                 -1602 if reason == LoginRejectReason.ALREADY_LOGGED_IN else -1605)
            self.core.offer_er(sbe.encode("LoginRejected", seq=0, client_nonce=nonce, reason=reason))
            return
        sid = user[0]
        self.core.login(sid, aeron_sid, m.seq, _now())
        self.counts["logins"] += 1
        last = self.core.out_seq(sid)
        self.core.offer_er(sbe.encode("LoginAccepted", seq=last, next_expected_seq=m.seq + 1, client_nonce=nonce,
                                      session_id=sid, heartbeat_ms=max(self._hb_ns // 1_000_000, 1)))
        if m.next_expected_seq and m.next_expected_seq <= last:
            sent, ok = self.core.resend(sid, m.next_expected_seq)
            self.counts["resent"] += sent
            if not ok:
                self.counts["publish_disconnects"] += 1
                self._disconnect(sid, LogoutReason.SHUTDOWN, "resend could not be published")

    # ------------------------------------------------------------------------------ status ----
    def counters(self) -> dict:
        d = dict(self.counts)
        d.update(self.core.counters() if self.core else {})
        d["login_rejects"] = dict(self.login_rejects)
        d["sessions"] = self.sessions()
        d["last_seq"] = int(self.loop.last_seq) if self.loop is not None else 0
        d["recovered"] = self.recovered
        if self.er is not None:
            d["exec_reports"] = self.er.counters()
            d["drop_copy"] = self.dc.counters()
        if self.loop is not None:
            d["engine"] = {k: v for k, v in self.loop.stats().items() if isinstance(v, int)}
        return d

    def sessions(self) -> list:
        if self.core is None:
            return []
        return [u.name for sid, u in ((s, u) for s, u in self.users.values())
                if self.core.session_info(sid)["logged_in"]]

    def status(self) -> str:
        c = self.core.counters()
        now = time.monotonic()
        t, o = self._orders_at
        if now - t >= 0.5:
            self.rate = (c["orders"] - o) / (now - t)
            self._orders_at = (now, c["orders"])
        live = self.sessions()
        rejects = {k: v for k, v in c.items() if k.startswith(("GW_E_", "SBE_E_"))}
        rj = ", ".join(f"{k} {v}" for k, v in rejects.items()) or "none"
        bp = self.er.counters()["back_pressured"] + self.dc.counters()["back_pressured"]
        who = f"sessions {len(live)} ({', '.join(live)})" if live else "no session logged in"
        return (f"{who}; orders {c['orders']} ({self.rate:.0f}/s), fills {c['fills']}, engine rejects "
                f"{c['engine_rejects']}, refused {rj}, login rejects {self.counts['login_rejected']}, "
                f"back-pressured {bp}")

    def close(self):
        if self.journal is not None and not self.journal.closed:
            try:
                self.journal.close()
            finally:
                self.journal = None
        if self.client is not None:
            self.client.close()
            self.client = None


def factory(cfg, name):
    if cfg.gateway is None:
        raise LookupError("the file has no [gateway] section")
    g = cfg.gateway
    return GatewayService(cfg, name or "gateway"), g.core, g.idle


def main(argv=None) -> int:
    from services.runtime import service_main
    return service_main("services.gateway", factory, argv)


if __name__ == "__main__":
    raise SystemExit(main())

