"""The order-entry client of the gateway: ``strategy.ports.OrderPort`` over Aeron (SBE order entry).

API (kept stable for ``services/strategy_host.py``)::

    c = OrderEntryClient(aeron_client, user, credential, streams, *, heartbeat_ms=250, clock=time.time_ns,
                         symbols=None)
    c.login(timeout_s=5.0) -> bool          # LoginAccepted (True) / LoginRejected or no answer (False,
                                            #   c.login_reason says why); after a drop, login() again resumes:
                                            #   next_expected_seq = last report seq + 1 -> the gateway resends
    c.bind(handler)                         # handler.handle_execution(Execution) (OrderPort), or set
    c.on_execution = fn                     #   fn(Execution) instead
    c.on_stamps = fn                        # fn(stamps, kind): the report's TimingStamps as a tuple in
                                            #   analytics.latency.STAMPS order, er_rx (receive time) last
    c.md_stamps = (send, rx, book, md_pub, strat_rx)   # default md_stamps of the orders sent from now on
    c.send_new(cl_ord_id, symbol, side, qty, price, ord_type, tif, flags, md_stamps=None) -> bool
    c.send_cancel(cl_ord_id) / send_modify(cl_ord_id, qty, price) / send_mass_cancel(symbol | None) -> bool
    c.poll(limit=64) -> int                 # reports delivered; also sends heartbeats, watches the gateway
    c.logout(); c.counters() -> dict; c.close()
    c.attach_fast(fast)                     # hand the session to a strategy.fast.FastStrategy (its
                                            #   FastStrategy.attach(c) calls this): seq, session_id and
                                            #   logged_in then live in it (one counter for both), and every
                                            #   report delivered is passed to fast.deliver_report(raw)

``streams``: ``{name: messaging.channels.StreamSpec}`` with ``order_entry`` and ``exec_reports`` (default
``messaging.channels.DEFAULT_STREAMS``). ``symbols``: the gateway's symbols (list: the id is the position,
as ``[gateway].symbols``; or ``{name: id}``); ``send_new`` takes a symbol name. ``md_stamps``: the
market-data TimingStamps of the book that caused the order (``send`` .. ``strat_rx``, 5 values), copied
into the order so the gateway hands them back in its reports; ``order_tx`` is stamped here.

Sequence numbers: the client's numbering runs on across logins (the Login takes the next one; the gateway
then expects the one after it), so messages of an earlier login that the Aeron log delivers again to a
restarted gateway are refused as duplicates, never applied twice. Reports carry
the session's own seq (persistent across logins and gateway restarts); a duplicate (seq already seen) is
dropped and counted, a gap (seq skipped) is counted and a ``ResendRequest`` asks for the missing ones, the
reports after the gap being dropped until the resend brings them in order: every report is delivered
exactly once, in order. The gateway counts as gone when nothing came from it for 4 of its heartbeat
intervals, and at least ``SILENT_MIN_S`` (``connected`` false; ``login()`` again).
"""
from __future__ import annotations

import secrets
import struct
import time

from messaging import sbe
from messaging.sbe_schema import LoginRejectReason
from strategy.ports import ExecKind, Execution, Liquidity, OrderPort, Side

_KINDS = {"Ack": ExecKind.ACK, "Reject": ExecKind.REJECT, "Fill": ExecKind.FILL, "Cancelled": ExecKind.CANCELLED,
          "Expired": ExecKind.EXPIRED, "ModifyAck": ExecKind.MODIFY_ACK, "ModifyReject": ExecKind.MODIFY_REJECT,
          "CancelReject": ExecKind.CANCEL_REJECT}
_TIMING = ("send_ns", "rx_ns", "book_ns", "md_pub_ns", "strat_rx_ns", "order_tx_ns", "gw_rx_ns", "risk_ns",
           "match_ns", "er_pub_ns")
SYMBOL_ANY = 0xFFFFFFFF

# Fast paths (struct, checked against the schema's block lengths by tests/test_gateway_client.py) for the
# messages of every order: the generic messaging.sbe codec takes 8..15 µs a message in Python.
_HDR = struct.Struct("<HHHH")
_NEW = struct.Struct("<HHHHQQQqqQ10QIIIIBBBBB")          # header + NewOrder (23)
_CANCEL = struct.Struct("<HHHHQQ10QI")                   # header + Cancel (24)
_MODIFY = struct.Struct("<HHHHQQq10QII")                 # header + Modify (25)
# template id -> (struct of the block, field names); every report's block ends with session_id
_REPORTS = {
    42: (struct.Struct("<QQqQ10QIIIBI"), ("seq", "order_id", "price", "ts", "t", "qty", "leaves", "symbol_id",
                                          "side", "session_id")),
    43: (struct.Struct("<QQQ10Qi24sI"), ("seq", "order_id", "ts", "t", "code", "code_name", "session_id")),
    44: (struct.Struct("<QQQqQ10QIIIBBI"), ("seq", "order_id", "match_id", "price", "ts", "t", "qty", "leaves",
                                            "symbol_id", "side", "liquidity", "session_id")),
    45: (struct.Struct("<QQQ10QIIBI"), ("seq", "order_id", "ts", "t", "qty", "leaves", "reason", "session_id")),
    46: (struct.Struct("<QQQ10QIBI"), ("seq", "order_id", "ts", "t", "qty", "reason", "session_id")),
    47: (struct.Struct("<QQqQ10QIII"), ("seq", "order_id", "price", "ts", "t", "qty", "leaves", "session_id")),
    48: (struct.Struct("<QQQ10Qi24sI"), ("seq", "order_id", "ts", "t", "code", "code_name", "session_id")),
    49: (struct.Struct("<QQQ10Qi24sI"), ("seq", "order_id", "ts", "t", "code", "code_name", "session_id")),
}
_TID_KIND = {42: ExecKind.ACK, 43: ExecKind.REJECT, 44: ExecKind.FILL, 45: ExecKind.CANCELLED, 46: ExecKind.EXPIRED,
             47: ExecKind.MODIFY_ACK, 48: ExecKind.MODIFY_REJECT, 49: ExecKind.CANCEL_REJECT}
SCHEMA_ID, VERSION = 7, 1
#: the gateway counts as gone after 4 of its heartbeat intervals without a message, and never sooner than this
SILENT_MIN_S = 3.0


class _Report:
    """A decoded execution report (fast path): attribute access like messaging.sbe.Message."""
    __slots__ = ("name", "fields")

    def __init__(self, name, fields):
        self.name = name
        self.fields = fields

    def __getattr__(self, k):
        try:
            return self.fields[k]
        except KeyError:
            raise AttributeError(k) from None


def _decode_report(raw):
    """(kind, _Report) of an execution report, or None for anything else (session messages, refusals)."""
    if len(raw) < 8:
        return None
    block, tid, schema, version = _HDR.unpack_from(raw, 0)
    spec = _REPORTS.get(tid)
    if spec is None or schema != SCHEMA_ID or version < 1 or block < spec[0].size or len(raw) < 8 + block:
        return None
    st, names = spec
    v = st.unpack_from(raw, 8)
    f = {}
    i = 0
    for nm in names:
        if nm == "t":
            f["timing"] = dict(zip(_TIMING, v[i:i + 10]))
            i += 10
        else:
            f[nm] = v[i]
            i += 1
    if "code_name" in f:
        f["code_name"] = f["code_name"].rstrip(b"\0").decode("ascii", "replace")
    return _TID_KIND[tid], _Report(_KINDS_BY_TID[tid], f)


_KINDS_BY_TID = {42: "Ack", 43: "Reject", 44: "Fill", 45: "Cancelled", 46: "Expired", 47: "ModifyAck",
                 48: "ModifyReject", 49: "CancelReject"}


class OrderEntryClient(OrderPort):
    """One order-entry session of ``user`` (see the module docstring for the whole API)."""

    def __init__(self, aeron_client, user: str, credential: str, streams=None, *, heartbeat_ms: int = 250,
                 clock=time.time_ns, symbols=None):
        from messaging.channels import DEFAULT_STREAMS
        streams = dict(DEFAULT_STREAMS, **(streams or {}))
        self.user, self._credential = user, credential
        self.heartbeat_ms = int(heartbeat_ms)
        self.clock = clock
        if symbols is None:
            symbols = {}
        self.symbols = dict(symbols) if isinstance(symbols, dict) else {s: i for i, s in enumerate(symbols)}
        self.names = {v: k for k, v in self.symbols.items()}
        self.pub = aeron_client.publication(streams["order_entry"], exclusive=True)
        self.sub = aeron_client.subscription(streams["exec_reports"])
        self.fast = None                # a strategy.fast.FastStrategy holding the session state (attach_fast)
        self._session_id = 0
        self._logged_in = False
        self.login_reason = ""
        self._seq = 0                   # last client seq sent (runs on across logins)
        self._raw = None                # the report being delivered (for the fast path)
        self.last_seq = 0               # last report seq delivered (persistent)
        self.on_execution = None
        self.on_stamps = None
        self.md_stamps = None           # stamps of the market data being handled: orders without their own carry these
        self._gap_pending = False
        self._last_tx = 0
        self._last_rx = time.monotonic()
        self._gw_hb_s = 1.0
        self._nonce = 0
        self._answer = None
        self._orders: dict[int, tuple] = {}   # cl_ord_id -> (symbol, side)
        self.c = {"sent": 0, "send_failed": 0, "reports": 0, "duplicates": 0, "gaps": 0, "resend_requests": 0,
                  "foreign": 0, "heartbeats_sent": 0, "heartbeats_rx": 0, "logouts_rx": 0, "session_rejects": 0,
                  "gateway_silent": 0, "malformed": 0}

    # ------------------------------------------------------------------------------ session state ----
    # seq, session_id and logged_in live in the fast strategy once one is attached: its orders take seq
    # numbers from the same counter as this client's session messages.
    def attach_fast(self, fast) -> None:
        fast.seq, fast.session_id, fast.logged_in = self._seq, self._session_id, self._logged_in
        self.fast = fast

    @property
    def seq(self) -> int:
        return self.fast.seq if self.fast is not None else self._seq

    @seq.setter
    def seq(self, v: int) -> None:
        if self.fast is not None:
            self.fast.seq = v
        else:
            self._seq = v

    @property
    def session_id(self) -> int:
        return self.fast.session_id if self.fast is not None else self._session_id

    @session_id.setter
    def session_id(self, v: int) -> None:
        if self.fast is not None:
            self.fast.session_id = v
        else:
            self._session_id = v

    @property
    def logged_in(self) -> bool:
        return bool(self.fast.logged_in) if self.fast is not None else self._logged_in

    @logged_in.setter
    def logged_in(self, v: bool) -> None:
        if self.fast is not None:
            self.fast.logged_in = bool(v)
        else:
            self._logged_in = bool(v)

    # ------------------------------------------------------------------------------ session ----
    def _send(self, name, **fields) -> bool:
        r = self.pub.offer_bytes(sbe.encode(name, **fields))
        if r < 0:
            self.c["send_failed"] += 1
            return False
        self._last_tx = time.monotonic()
        return True

    def login(self, timeout_s: float = 5.0) -> bool:
        """Log in (again): True when accepted; resent reports then arrive through ``poll``."""
        deadline = time.monotonic() + timeout_s
        while not self.pub.is_connected:
            if time.monotonic() > deadline:
                self.login_reason = "no gateway subscribed to order_entry"
                return False
            time.sleep(0.001)
        self.logged_in = False
        self._nonce = secrets.randbits(63) or 1
        self._answer = None
        self.seq += 1
        if not self._send("Login", seq=self.seq, next_expected_seq=self.last_seq + 1, client_nonce=self._nonce, ts=time.time_ns(),
                          user=self.user, credential=self._credential, heartbeat_ms=self.heartbeat_ms):
            self.login_reason = "the Login could not be published"
            return False
        while self._answer is None:
            if time.monotonic() > deadline:
                self.login_reason = "no answer from the gateway"
                return False
            if not self.sub.poll(self._on_message, 64):
                time.sleep(0.0002)
        m = self._answer
        if m.name == "LoginRejected":
            self.login_reason = LoginRejectReason(int(m.reason)).name
            return False
        self.session_id = m.session_id
        self._gw_hb_s = max(m.heartbeat_ms, 1) / 1000.0
        self._last_rx = time.monotonic()
        self.logged_in = True
        self.login_reason = ""
        return True

    def logout(self) -> bool:
        if not self.logged_in:
            return False
        self.logged_in = False
        return self._send("Logout", seq=self.seq, session_id=0, reason=1)

    @property
    def connected(self) -> bool:
        return self.logged_in

    # ------------------------------------------------------------------------------ OrderPort ----
    def _next(self):
        self.seq += 1
        return self.seq

    def _stamps(self, md_stamps):
        """The 10 TimingStamps of an order: the market data's five, order_tx now, the gateway's zero."""
        if md_stamps is None:
            md_stamps = self.md_stamps
        md = tuple(int(v) for v in md_stamps[:5]) if md_stamps else (0, 0, 0, 0, 0)
        if len(md) < 5:
            md = md + (0,) * (5 - len(md))
        return md + (self.clock(), 0, 0, 0, 0)

    def _offer(self, b) -> bool:
        r = self.pub.offer_bytes(b)
        if r < 0:
            self.c["send_failed"] += 1
            return False
        self._last_tx = time.monotonic()
        return True

    def send_new(self, cl_ord_id, symbol, side, qty, price, ord_type, tif, flags, md_stamps=None, *,
                 stop_price=0, display_qty=0, expire_ns=0, link_id=0, stp=0) -> bool:
        if not self.logged_in:
            return False
        sid = self.symbols.get(symbol, symbol if isinstance(symbol, int) else None)
        if sid is None:
            return False
        self._orders[cl_ord_id] = (symbol, Side(int(side)))
        try:
            b = _NEW.pack(149, 23, SCHEMA_ID, VERSION, self._next(), cl_ord_id, link_id, price, stop_price, expire_ns,
                          *self._stamps(md_stamps), qty, display_qty, 0, sid, int(side), int(ord_type), int(tif),
                          int(flags), int(stp))
        except struct.error:
            self.seq -= 1
            return False
        ok = self._offer(b)
        if not ok:
            self.seq -= 1
        else:
            self.c["sent"] += 1
        return ok

    def send_cancel(self, cl_ord_id, md_stamps=None) -> bool:
        if not self.logged_in:
            return False
        ok = self._offer(_CANCEL.pack(100, 24, SCHEMA_ID, VERSION, self._next(), cl_ord_id,
                                      *self._stamps(md_stamps), 0))
        if not ok:
            self.seq -= 1
        return ok

    def send_modify(self, cl_ord_id, qty, price, md_stamps=None) -> bool:
        if not self.logged_in:
            return False
        ok = self._offer(_MODIFY.pack(112, 25, SCHEMA_ID, VERSION, self._next(), cl_ord_id, price,
                                      *self._stamps(md_stamps), qty, 0))
        if not ok:
            self.seq -= 1
        return ok

    def send_mass_cancel(self, symbol=None) -> bool:
        if not self.logged_in:
            return False
        sid = SYMBOL_ANY if symbol is None else self.symbols.get(symbol)
        if sid is None:
            return False
        ok = self._send("MassCancel", seq=self._next(), account_id=0, symbol_id=sid, side=0)
        if not ok:
            self.seq -= 1
        return ok

    def send_raw(self, b) -> int:
        """Publish arbitrary bytes on order_entry (tests: malformed messages). Position or AERON_E_* code."""
        return self.pub.offer_bytes(b)

    # ------------------------------------------------------------------------------ reports ----
    def poll(self, limit: int = 64) -> int:
        """Deliver waiting reports (returns how many), send a heartbeat when due, watch the gateway."""
        self._delivered = 0
        self.sub.poll(self._on_message, limit)
        now = time.monotonic()
        if self.logged_in:
            if now - self._last_tx >= self.heartbeat_ms / 1000.0:
                if self._send("SessionHeartbeat", seq=self.seq, ts=self.clock(), session_id=0):
                    self.c["heartbeats_sent"] += 1
            if now - self._last_rx > max(4 * self._gw_hb_s, SILENT_MIN_S):
                self.c["gateway_silent"] += 1
                self.logged_in = False
        return self._delivered

    def _on_message(self, raw, _aeron_sid):
        rx = self.clock()
        fast = _decode_report(raw)
        if fast is not None:
            kind, m = fast
            if m.session_id != self.session_id or not self.session_id:
                self.c["foreign"] += 1
                return
            self._last_rx = time.monotonic()
            self._raw = raw
            self._report(m, kind, rx)
            self._raw = None
            return
        try:
            m = sbe.decode(raw, None)
        except Exception:           # noqa: BLE001 - counted
            self.c["malformed"] += 1
            return
        name = m.name
        if name in ("LoginAccepted", "LoginRejected"):
            if m.client_nonce == self._nonce and self._answer is None:
                self._answer = m
            return
        if m.session_id != self.session_id or not self.session_id:
            self.c["foreign"] += 1
            return
        self._last_rx = time.monotonic()
        if name == "SessionHeartbeat":
            self.c["heartbeats_rx"] += 1
            if m.seq > self.last_seq and not self._gap_pending:
                self._gap(m.seq)
            return
        if name == "Logout":
            self.c["logouts_rx"] += 1
            self.logged_in = False
            return
        kind = _KINDS.get(name)
        if kind is None:
            return
        self._raw = raw
        self._report(m, kind, rx)
        self._raw = None

    def _report(self, m, kind, rx):
        seq = m.seq
        if seq == 0:                # a session-level refusal (bad seq, bad order id): not in the report stream
            self.c["session_rejects"] += 1
            self._deliver(m, kind, rx)
            return
        if seq <= self.last_seq:
            self.c["duplicates"] += 1
            return
        if seq > self.last_seq + 1:
            if not self._gap_pending:
                self._gap(seq)
            return
        self._gap_pending = False
        self.last_seq = seq
        self._deliver(m, kind, rx)

    def _gap(self, seen):
        self.c["gaps"] += 1
        self._gap_pending = True
        if self.logged_in and self._send("ResendRequest", seq=self.seq, from_seq=self.last_seq + 1):
            self.c["resend_requests"] += 1

    def _deliver(self, m, kind, rx):
        get = m.fields.get
        cl = m.order_id
        sym, side = self._orders.get(cl, ("", Side.NONE))
        if get("symbol_id", None) is not None and get("symbol_id", None) in self.names:
            sym = self.names[get("symbol_id")]
        ex = Execution.make(kind, cl, reason=int(get("code", 0) or get("reason", 0) or 0),
                            order_id=(m.session_id << 40) | cl if kind != ExecKind.REJECT else 0,
                            symbol=sym, side=Side(int(get("side", side) or side)),
                            price=int(get("price", 0)), qty=int(get("qty", 0)), leaves=int(get("leaves", 0)),
                            liquidity=Liquidity(int(get("liquidity", 0))), match_id=int(get("match_id", 0)),
                            ts_ns=int(get("ts", 0)))
        self.c["reports"] += 1
        self._delivered = getattr(self, "_delivered", 0) + 1
        if self.on_stamps is not None:
            t = get("timing", None)
            if t:
                self.on_stamps(tuple(int(t[k]) for k in _TIMING) + (rx,), kind)
        if self.fast is not None and self._raw is not None:
            self.fast.deliver_report(self._raw)
        if self.on_execution is not None:
            self.on_execution(ex)
        elif self.handler is not None:
            self.handler.handle_execution(ex)

    def counters(self) -> dict:
        d = dict(self.c)
        d.update({"session_id": self.session_id, "logged_in": self.logged_in, "last_seq": self.last_seq,
                  "seq": self.seq, "publisher": self.pub.counters()})
        return d

    def close(self):
        self.pub.close()
        self.sub.close()
