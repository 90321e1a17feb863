# cython: language_level=3
"""The order gateway's hot path (services/gateway.py is the control plane around it).

``GatewayCore.poll(sub, limit)`` polls ``order_entry`` with a nogil fragment handler: every message is
checked (``sbe_check``), its Aeron image must be bound to a logged-in session, its ``seq`` must be the
session's next one, and an order message becomes one engine ``Command`` in the batch (no Python object,
no allocation). Session messages (Login, Logout, SessionHeartbeat, ResendRequest) are copied to a side
buffer for the Python layer, and so is every later message of the same image in that poll, so a Login
followed by orders in one poll is handled in order (``control()`` / ``feed()``).

``run()`` runs the batch through ``EngineLoop.run_ptr`` (journal, risk, matching) and turns every event
into SBE execution reports: encoded in place at the end of the session's report log (kept for resends,
indexed by the session's outbound seq), then offered to ``exec_reports`` and to ``drop_copy``. A report
that cannot be published on ``exec_reports`` within the stream's bound marks the session for disconnect
(``take_failed()``); its reports stay in the log. ``rebuild`` produces the same reports from replayed
commands and events without publishing (restart).

Engine order ids are ``session_id << 40 | cl_ord_id``; reports carry the client's cl_ord_id.
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memcpy, memset
from posix.time cimport clock_gettime, timespec, CLOCK_REALTIME

import numpy as np

from core.codes cimport (GW_E_NOT_LOGGED_IN, GW_E_SEQ_GAP, GW_E_SEQ_DUPLICATE, GW_E_MALFORMED,
                         GW_E_WRONG_DIRECTION, GW_E_BAD_ORDER_ID)
from messaging.records cimport *
from messaging.sbe_wire cimport *
from messaging.transport cimport Publisher, Subscriber
from messaging.aeron_c cimport aeron_publication_is_connected
from engine.loop cimport EngineLoop, RiskHook
from engine.matching cimport MatchingEngine

DEF MAX_REPORT = 256
DEF CTL_CAP = 1 << 16
DEF ORDER_BITS = 40
DEF N_GW_CODES = 16
DEF N_NAMES = 1700

cdef uint64_t CL_MASK = (<uint64_t>1 << ORDER_BITS) - 1


cdef inline uint64_t now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <uint64_t>ts.tv_sec * 1000000000 + <uint64_t>ts.tv_nsec


cdef struct Sess:
    int logged_in
    int aeron_sid
    uint64_t in_next          # next client seq expected
    uint64_t out_seq          # last report seq given
    uint32_t account_id
    uint32_t firm_id
    uint64_t last_rx_ns
    int failed                # a report could not be published: disconnect pending
    unsigned char* log        # reports, back to back
    size_t log_len, log_cap
    uint64_t* offs            # offs[seq] = offset of report seq (offs[0] unused), offs[out_seq + 1] = log_len
    size_t offs_cap


cdef class StampRisk(RiskHook):
    """Forwards to the real risk hook and stamps when a command passed risk and when it first matched."""
    cdef RiskHook inner
    cdef uint64_t* risk_ns
    cdef uint64_t* match_ns
    cdef uint64_t base
    cdef Py_ssize_t n
    cdef uint64_t cur

    @property
    def risk(self):
        """The RiskEngine behind the wrapped adapter (engine.recovery.parts_of reads it), or None."""
        return getattr(self.inner, "risk", None) if self.inner is not None else None

    cdef int check(self, const Command *cmd) noexcept nogil:
        cdef int rc = self.inner.check(cmd) if self.inner is not None else 0
        cdef uint64_t i = cmd.seq - self.base
        self.cur = i
        if rc == 0 and self.risk_ns != NULL and i < <uint64_t>self.n:
            self.risk_ns[i] = now_ns()
        return rc

    cdef void on_event(self, const Event *ev) noexcept nogil:
        cdef uint64_t i = ev.seq - self.base
        if self.match_ns != NULL and i < <uint64_t>self.n and self.match_ns[i] == 0:
            self.match_ns[i] = now_ns()
        if self.inner is not None:
            self.inner.on_event(ev)

    cdef void prefetch(self, const Command *cmd) noexcept nogil:
        if self.inner is not None:
            self.inner.prefetch(cmd)

    cdef void prefetch_events(self, const Event *evs, Py_ssize_t n) noexcept nogil:
        if self.inner is not None:
            self.inner.prefetch_events(evs, n)


cdef void _on_fragment(void* ctx, const unsigned char* buf, Py_ssize_t length, int aeron_sid) noexcept nogil:
    (<GatewayCore>ctx).on_message(buf, length, aeron_sid)


cdef class GatewayCore:
    """Sessions, the command batch and the report logs. ``n_sessions``: users (session ids 1..n)."""
    cdef Sess* s
    cdef readonly int n_sessions
    cdef EngineLoop loop
    cdef MatchingEngine eng
    cdef StampRisk stamp
    cdef Publisher er
    cdef Publisher dc
    cdef object _cmds_arr
    cdef Command* cmds
    cdef TimingStamps_t* stamps
    cdef uint64_t* risk_ns
    cdef uint64_t* match_ns
    cdef readonly Py_ssize_t ncmd
    cdef Py_ssize_t cap
    cdef readonly uint64_t next_seq
    cdef unsigned char* ctl
    cdef Py_ssize_t ctl_len
    cdef int ctl_sids[64]
    cdef int n_ctl_sids
    cdef char names[N_NAMES][24]
    cdef bint publishing
    cdef unsigned char scratch[MAX_REPORT]
    # counters
    cdef readonly uint64_t orders, cancels, modifies, mass_cancels, fills, reports, acks, engine_rejects
    cdef readonly uint64_t ctl_dropped, unrouted, er_failed, dc_failed, dc_unsubscribed, messages, match_no
    cdef uint64_t gw_codes[N_GW_CODES]
    cdef SbeCounts sbe

    def __cinit__(self, int n_sessions, EngineLoop loop, Publisher er, Publisher dc, int batch=256):
        self.n_sessions = n_sessions
        self.s = <Sess*>calloc(n_sessions + 1, sizeof(Sess))
        self.ctl = <unsigned char*>calloc(CTL_CAP, 1)
        self.cap = batch
        from messaging.records import COMMAND_DTYPE
        self._cmds_arr = np.zeros(batch, COMMAND_DTYPE)
        cdef unsigned char[::1] raw = self._cmds_arr.view(np.uint8)
        self.cmds = <Command*>&raw[0]
        self.stamps = <TimingStamps_t*>calloc(batch, sizeof(TimingStamps_t))
        self.risk_ns = <uint64_t*>calloc(batch, sizeof(uint64_t))
        self.match_ns = <uint64_t*>calloc(batch, sizeof(uint64_t))
        if self.s == NULL or self.ctl == NULL or self.stamps == NULL or self.risk_ns == NULL or self.match_ns == NULL:
            raise MemoryError()
        self.loop = loop
        self.eng = loop.engine
        self.er = er
        self.dc = dc
        self.publishing = True
        self.next_seq = loop.last_seq + 1
        self.stamp = StampRisk()
        self.stamp.inner = loop.risk
        self.stamp.risk_ns = self.risk_ns
        self.stamp.match_ns = self.match_ns
        self.stamp.n = batch
        loop.risk = self.stamp
        from messaging.records import code_name
        cdef int i
        cdef bytes b
        memset(self.names, 0, sizeof(self.names))
        for i in range(1, N_NAMES):
            nm = code_name(-i)
            if nm and not nm.startswith("UNKNOWN") and not nm.lstrip("-").isdigit():
                b = nm.encode("ascii", "replace")[:24]
                memcpy(self.names[i], <const char*>b, len(b))

    def __dealloc__(self):
        cdef int i
        if self.s != NULL:
            for i in range(self.n_sessions + 1):
                free(self.s[i].log)
                free(self.s[i].offs)
            free(self.s)
        free(self.ctl)
        free(self.stamps)
        free(self.risk_ns)
        free(self.match_ns)

    # ---------------------------------------------------------------- sessions (Python control plane) ----
    def set_account(self, int sid, uint32_t account_id, uint32_t firm_id):
        self.s[sid].account_id = account_id
        self.s[sid].firm_id = firm_id

    def login(self, int sid, int aeron_sid, uint64_t login_seq, uint64_t now):
        """Bind ``sid`` to an Aeron image; the client's next message must carry ``login_seq + 1``."""
        self.s[sid].logged_in = 1
        self.s[sid].aeron_sid = aeron_sid
        self.s[sid].in_next = login_seq + 1
        self.s[sid].last_rx_ns = now
        self.s[sid].failed = 0

    def logout(self, int sid):
        self.s[sid].logged_in = 0
        self.s[sid].aeron_sid = 0

    def session_of(self, int aeron_sid):
        """The logged-in session bound to ``aeron_sid``, or 0."""
        return self._find(aeron_sid)

    def session_info(self, int sid):
        cdef Sess* x = &self.s[sid]
        return {"logged_in": bool(x.logged_in), "aeron_sid": x.aeron_sid, "in_next": x.in_next,
                "out_seq": x.out_seq, "last_rx_ns": x.last_rx_ns, "log_bytes": x.log_len}

    def touch(self, int sid, uint64_t now):
        self.s[sid].last_rx_ns = now

    def out_seq(self, int sid):
        return self.s[sid].out_seq

    def take_failed(self):
        """Sessions whose report could not be published since the last call (to disconnect)."""
        out = []
        cdef int i
        for i in range(1, self.n_sessions + 1):
            if self.s[i].failed:
                self.s[i].failed = 0
                out.append(i)
        return out

    def resend(self, int sid, uint64_t from_seq):
        """Offer reports ``from_seq..out_seq`` of ``sid`` again on exec_reports: (sent, ok)."""
        cdef Sess* x = &self.s[sid]
        cdef uint64_t q
        cdef long r
        cdef uint64_t sent = 0
        if from_seq < 1:
            from_seq = 1
        with nogil:
            q = from_seq
            while q <= x.out_seq:
                r = self.er.offer(x.log + x.offs[q], <Py_ssize_t>(x.offs[q + 1] - x.offs[q]))
                if r < 0:
                    self.er_failed += 1
                    break
                sent += 1
                q += 1
        return sent, q > x.out_seq

    def report_bytes(self, int sid, uint64_t seq):
        """Report ``seq`` of ``sid`` as stored (bytes), for tests and tools."""
        cdef Sess* x = &self.s[sid]
        if seq < 1 or seq > x.out_seq:
            raise IndexError(seq)
        return bytes(x.log[x.offs[seq]:x.offs[seq + 1]])

    def offer_er(self, b):
        """A session-level message (login answer, heartbeat, logout) on exec_reports: position or code."""
        return self.er.offer_bytes(b)

    # ------------------------------------------------------------------------------ hot path ----
    cdef inline int _find(self, int aeron_sid) noexcept nogil:
        cdef int i
        for i in range(1, self.n_sessions + 1):
            if self.s[i].logged_in and self.s[i].aeron_sid == aeron_sid:
                return i
        return 0

    cdef const char* _name(self, int code) noexcept nogil:
        if 0 < -code < N_NAMES:
            return &self.names[-code][0]
        return &self.names[0][0]

    cdef void _gw_count(self, int code) noexcept nogil:
        cdef int k = -code - 1600
        if 0 <= k < N_GW_CODES:
            self.gw_codes[k] += 1

    cdef void _defer(self, const unsigned char* buf, Py_ssize_t length, int aeron_sid) noexcept nogil:
        cdef int i
        if self.ctl_len + 8 + length > CTL_CAP:
            self.ctl_dropped += 1
            return
        (<int*>(self.ctl + self.ctl_len))[0] = aeron_sid
        (<int*>(self.ctl + self.ctl_len + 4))[0] = <int>length
        memcpy(self.ctl + self.ctl_len + 8, buf, length)
        self.ctl_len += 8 + length
        for i in range(self.n_ctl_sids):
            if self.ctl_sids[i] == aeron_sid:
                return
        if self.n_ctl_sids < 64:
            self.ctl_sids[self.n_ctl_sids] = aeron_sid
            self.n_ctl_sids += 1

    cdef void on_message(self, const unsigned char* buf, Py_ssize_t length, int aeron_sid) noexcept nogil:
        cdef SbeHeader h
        cdef int i
        self.messages += 1
        for i in range(self.n_ctl_sids):
            if self.ctl_sids[i] == aeron_sid:
                self._defer(buf, length, aeron_sid)
                return
        cdef int tid = sbe_check(buf, length, &h)
        if tid < 0:
            sbe_count(&self.sbe, tid)
            self._gw_count(GW_E_MALFORMED)
            return
        sbe_count(&self.sbe, tid)
        if tid == TID_LOGIN or tid == TID_LOGOUT or tid == TID_SESSION_HEARTBEAT or tid == TID_RESEND_REQUEST:
            self._defer(buf, length, aeron_sid)
            return
        self.handle(buf, tid, aeron_sid, now_ns())

    cdef int handle(self, const unsigned char* buf, int tid, int aeron_sid, uint64_t now) noexcept nogil:
        """One checked order message -> a Command in the batch, or a refusal (its GW_E_* code)."""
        cdef const unsigned char* blk = buf + SBE_HEADER_LEN
        cdef int sid
        cdef Sess* x
        cdef uint64_t seq, cl
        cdef Command* c
        cdef const NewOrder_t* no
        cdef const Cancel_t* ca
        cdef const Modify_t* mo
        cdef const MassCancel_t* mc
        if tid != TID_NEW_ORDER and tid != TID_CANCEL and tid != TID_MODIFY and tid != TID_MASS_CANCEL:
            self._gw_count(GW_E_WRONG_DIRECTION)
            return GW_E_WRONG_DIRECTION
        sid = self._find(aeron_sid)
        if sid == 0:
            self._gw_count(GW_E_NOT_LOGGED_IN)
            return GW_E_NOT_LOGGED_IN
        x = &self.s[sid]
        x.last_rx_ns = now
        seq = (<const uint64_t*>blk)[0]
        cl = (<const uint64_t*>(blk + 8))[0] if tid != TID_MASS_CANCEL else 0
        if seq != x.in_next:
            self._gw_count(GW_E_SEQ_GAP if seq > x.in_next else GW_E_SEQ_DUPLICATE)
            self._session_reject(sid, cl, GW_E_SEQ_GAP if seq > x.in_next else GW_E_SEQ_DUPLICATE, now)
            return GW_E_SEQ_GAP if seq > x.in_next else GW_E_SEQ_DUPLICATE
        x.in_next += 1
        if tid != TID_MASS_CANCEL and (cl == 0 or cl > CL_MASK):
            self._gw_count(GW_E_BAD_ORDER_ID)
            self._session_reject(sid, cl, GW_E_BAD_ORDER_ID, now)
            return GW_E_BAD_ORDER_ID
        if self.ncmd >= self.cap:         # poll's limit keeps this from happening; never overrun
            self.ctl_dropped += 1
            return GW_E_MALFORMED
        c = &self.cmds[self.ncmd]
        memset(c, 0, sizeof(Command))
        memset(&self.stamps[self.ncmd], 0, sizeof(TimingStamps_t))
        c.seq = self.next_seq
        self.next_seq += 1
        c.ts_ns = <int64_t>now
        c.session_id = <uint32_t>sid
        c.account_id = x.account_id
        c.firm_id = x.firm_id
        if tid == TID_NEW_ORDER:
            no = <const NewOrder_t*>blk
            c.action = ACT_NEW
            c.order_id = (<uint64_t>sid << ORDER_BITS) | cl
            c.link_id = ((<uint64_t>sid << ORDER_BITS) | no.link_id) if 0 < no.link_id <= CL_MASK else 0
            c.price = no.price
            c.stop_price = no.stop_price
            c.expire_ns = <int64_t>no.expire_ns
            c.qty = no.qty
            c.display_qty = no.display_qty
            c.symbol_id = no.symbol_id
            c.side = no.side
            c.ord_type = no.ord_type
            c.tif = no.tif
            c.flags = no.flags
            c.stp = no.stp
            self.stamps[self.ncmd] = no.timing
            self.orders += 1
        elif tid == TID_CANCEL:
            ca = <const Cancel_t*>blk
            c.action = ACT_CANCEL
            c.order_id = (<uint64_t>sid << ORDER_BITS) | cl
            self.stamps[self.ncmd] = ca.timing
            self.cancels += 1
        elif tid == TID_MODIFY:
            mo = <const Modify_t*>blk
            c.action = ACT_MODIFY
            c.order_id = (<uint64_t>sid << ORDER_BITS) | cl
            c.price = mo.price
            c.qty = mo.qty
            self.stamps[self.ncmd] = mo.timing
            self.modifies += 1
        else:
            mc = <const MassCancel_t*>blk
            c.action = ACT_MASS_CANCEL
            c.symbol_id = mc.symbol_id
            c.side = mc.side
            self.mass_cancels += 1
        self.stamps[self.ncmd].gw_rx_ns = now
        self.ncmd += 1
        return 0

    cdef void _session_reject(self, int sid, uint64_t cl, int code, uint64_t now) noexcept nogil:
        """A refusal of the session layer: a Reject with seq 0 (not part of the resendable stream)."""
        cdef Reject_t* m = put_Reject(self.scratch, MAX_REPORT)
        m.seq = 0
        m.order_id = cl
        m.ts = now
        m.code = code
        memcpy(m.code_name, self._name(code), 24)
        m.session_id = <uint32_t>sid
        if self.publishing and self.er.offer(self.scratch, REJECT_ENCODED_LENGTH) < 0:
            self.er_failed += 1

    def add_command(self, int sid, int action, uint64_t ts_ns=0):
        """A control command of the gateway (ACT_SESSION_DISCONNECT) into the batch."""
        if self.ncmd >= self.cap:
            self.run()
        cdef Command* c = &self.cmds[self.ncmd]
        memset(c, 0, sizeof(Command))
        memset(&self.stamps[self.ncmd], 0, sizeof(TimingStamps_t))
        c.seq = self.next_seq
        self.next_seq += 1
        c.ts_ns = <int64_t>(ts_ns or now_ns())
        c.action = <uint8_t>action
        c.session_id = <uint32_t>sid
        c.account_id = self.s[sid].account_id
        c.firm_id = self.s[sid].firm_id
        self.ncmd += 1

    def poll(self, Subscriber sub, int limit):
        """Poll ``order_entry``: (fragments, control messages as [(aeron_sid, bytes)])."""
        cdef int n
        if limit > self.cap - self.ncmd:
            limit = <int>(self.cap - self.ncmd)
        self.ctl_len = 0
        self.n_ctl_sids = 0
        with nogil:
            n = sub.poll(_on_fragment, <void*>self, limit)
        ctl = []
        cdef Py_ssize_t p = 0
        cdef int ln
        while p < self.ctl_len:
            ln = (<int*>(self.ctl + p + 4))[0]
            ctl.append(((<int*>(self.ctl + p))[0], bytes(self.ctl[p + 8:p + 8 + ln])))
            p += 8 + ln
        self.ctl_len = 0
        self.n_ctl_sids = 0
        return n, ctl

    def feed(self, aeron_sid, b):
        """A deferred order message (from ``poll``'s control list) through the hot path: 0 or its code."""
        cdef const unsigned char[::1] v = b
        cdef SbeHeader h
        cdef int tid = sbe_check(&v[0], v.shape[0], &h) if v.shape[0] else -1
        if tid < 0:
            self._gw_count(GW_E_MALFORMED)
            return GW_E_MALFORMED
        if self.ncmd >= self.cap:
            self.run()
        return self.handle(&v[0], tid, aeron_sid, now_ns())

    def count_code(self, int code):
        self._gw_count(code)

    # ------------------------------------------------------------------------------ engine + reports ----
    def run(self):
        """Run the batch through the engine and publish its reports; returns commands run."""
        cdef Py_ssize_t done = 0, k, n = self.ncmd
        cdef uint64_t base
        if n == 0:
            return 0
        base = self.cmds[0].seq
        memset(self.risk_ns, 0, n * sizeof(uint64_t))
        memset(self.match_ns, 0, n * sizeof(uint64_t))
        self.stamp.base = base
        with nogil:
            while done < n:
                k = self.loop.run_ptr(self.cmds + done, n - done)
                if k < 0:
                    break
                self._reports(base, n)
                done += k
        self.ncmd = 0
        if k < 0:
            from engine.loop import LoopStopped
            raise LoopStopped(<int>k, self.loop.fatal)
        return done

    cdef void _reports(self, uint64_t base, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t i
        cdef const Event* ev
        cdef uint64_t ci
        cdef int sid
        cdef const TimingStamps_t* st
        for i in range(self.eng.ev_n):
            ev = &self.eng.evs[i]
            ci = ev.seq - base
            sid = 0
            if ci < <uint64_t>n:
                sid = self.cmds[ci].session_id
            self._event(ev, sid, ci, n, self.cmds)
        self.eng.ev_n = 0

    cdef void _event(self, const Event* ev, int cmd_sid, uint64_t ci, Py_ssize_t n, const Command* cmds) noexcept nogil:
        cdef int sid
        cdef TimingStamps_t t
        memset(&t, 0, sizeof(t))
        if ci < <uint64_t>n and self.publishing:
            if ev.kind != EV_FILL or ev.order_id == cmds[ci].order_id:
                if ev.order_id == cmds[ci].order_id:
                    t = self.stamps[ci]
                t.risk_ns = self.risk_ns[ci]
                t.match_ns = self.match_ns[ci]
        if ev.kind == EV_TRIGGER:
            return
        sid = <int>(ev.order_id >> ORDER_BITS) if ev.order_id != 0 else cmd_sid
        self._one(ev, sid, False, &t)
        if ev.kind == EV_FILL:
            memset(&t, 0, sizeof(t))
            self._one(ev, <int>(ev.maker_order_id >> ORDER_BITS), True, &t)

    cdef void _one(self, const Event* ev, int sid, bint maker, TimingStamps_t* t) noexcept nogil:
        cdef Sess* x
        cdef unsigned char* buf
        cdef Py_ssize_t length
        cdef uint64_t cl
        cdef Ack_t* ack
        cdef Reject_t* rj
        cdef Fill_t* fl
        cdef Cancelled_t* cn
        cdef Expired_t* ex
        cdef ModifyAck_t* ma
        cdef ModifyReject_t* mr
        cdef CancelReject_t* cr
        cdef int code
        cdef long r
        if sid < 1 or sid > self.n_sessions:
            self.unrouted += 1
            return
        x = &self.s[sid]
        if not self._reserve(x):
            self.unrouted += 1
            return
        buf = x.log + x.log_len
        x.out_seq += 1
        cl = (ev.maker_order_id if maker else ev.order_id) & CL_MASK
        code = ev.reason
        if self.publishing:
            t.er_pub_ns = now_ns()
        if ev.kind == EV_FILL and not maker:
            self.match_no += 1
        if ev.kind == EV_ACK:
            ack = put_Ack(buf, MAX_REPORT)
            ack.seq = x.out_seq; ack.order_id = cl; ack.price = ev.price; ack.ts = <uint64_t>ev.ts_ns
            ack.timing = t[0]; ack.qty = ev.qty; ack.leaves = ev.leaves_qty; ack.symbol_id = ev.symbol_id
            ack.side = ev.side; ack.session_id = <uint32_t>sid
            length = ACK_ENCODED_LENGTH
            self.acks += 1
        elif ev.kind == EV_REJECT:
            rj = put_Reject(buf, MAX_REPORT)
            rj.seq = x.out_seq; rj.order_id = cl; rj.ts = <uint64_t>ev.ts_ns; rj.timing = t[0]
            rj.code = code; memcpy(rj.code_name, self._name(code), 24)
            rj.session_id = <uint32_t>sid
            length = REJECT_ENCODED_LENGTH
            self.engine_rejects += 1
        elif ev.kind == EV_FILL:
            fl = put_Fill(buf, MAX_REPORT)
            fl.seq = x.out_seq; fl.order_id = cl; fl.match_id = self.match_no; fl.price = ev.price
            fl.ts = <uint64_t>ev.ts_ns; fl.timing = t[0]; fl.qty = ev.qty
            fl.leaves = ev.maker_leaves_qty if maker else ev.leaves_qty
            fl.symbol_id = ev.symbol_id
            fl.side = (SIDE_SELL if ev.side == SIDE_BUY else SIDE_BUY) if maker else ev.side
            fl.liquidity = 1 if maker else 2
            fl.session_id = <uint32_t>sid
            length = FILL_ENCODED_LENGTH
            self.fills += 1
        elif ev.kind == EV_CANCEL:
            cn = put_Cancelled(buf, MAX_REPORT)
            cn.seq = x.out_seq; cn.order_id = cl; cn.ts = <uint64_t>ev.ts_ns; cn.timing = t[0]
            cn.qty = ev.qty; cn.leaves = ev.leaves_qty; cn.reason = <uint8_t>code; cn.session_id = <uint32_t>sid
            length = CANCELLED_ENCODED_LENGTH
        elif ev.kind == EV_EXPIRE:
            ex = put_Expired(buf, MAX_REPORT)
            ex.seq = x.out_seq; ex.order_id = cl; ex.ts = <uint64_t>ev.ts_ns; ex.timing = t[0]
            ex.qty = ev.qty; ex.reason = <uint8_t>code; ex.session_id = <uint32_t>sid
            length = EXPIRED_ENCODED_LENGTH
        elif ev.kind == EV_MODIFY_ACK:
            ma = put_ModifyAck(buf, MAX_REPORT)
            ma.seq = x.out_seq; ma.order_id = cl; ma.price = ev.price; ma.ts = <uint64_t>ev.ts_ns
            ma.timing = t[0]; ma.qty = ev.qty; ma.leaves = ev.leaves_qty; ma.session_id = <uint32_t>sid
            length = MODIFY_ACK_ENCODED_LENGTH
        elif ev.kind == EV_MODIFY_REJECT:
            mr = put_ModifyReject(buf, MAX_REPORT)
            mr.seq = x.out_seq; mr.order_id = cl; mr.ts = <uint64_t>ev.ts_ns; mr.timing = t[0]
            mr.code = code; memcpy(mr.code_name, self._name(code), 24)
            mr.session_id = <uint32_t>sid
            length = MODIFY_REJECT_ENCODED_LENGTH
        elif ev.kind == EV_CANCEL_REJECT:
            cr = put_CancelReject(buf, MAX_REPORT)
            cr.seq = x.out_seq; cr.order_id = cl; cr.ts = <uint64_t>ev.ts_ns; cr.timing = t[0]
            cr.code = code; memcpy(cr.code_name, self._name(code), 24)
            cr.session_id = <uint32_t>sid
            length = CANCEL_REJECT_ENCODED_LENGTH
        else:
            x.out_seq -= 1
            self.unrouted += 1
            return
        x.log_len += length
        x.offs[x.out_seq + 1] = x.log_len
        self.reports += 1
        if not self.publishing:
            return
        if x.logged_in and not x.failed:
            r = self.er.offer(buf, length)
            if r < 0:
                self.er_failed += 1
                x.failed = 1
        if self.dc.pub == NULL or not aeron_publication_is_connected(self.dc.pub):
            self.dc_unsubscribed += 1       # nobody listens to the drop copy: not retried, counted
            return
        r = self.dc.offer(buf, length)
        if r < 0:
            self.dc_failed += 1

    cdef bint _reserve(self, Sess* x) noexcept nogil:
        cdef size_t nc
        cdef void* p
        if x.log_len + MAX_REPORT > x.log_cap:
            nc = x.log_cap * 2 if x.log_cap else 1 << 16
            p = realloc(x.log, nc)
            if p == NULL:
                return False
            x.log = <unsigned char*>p
            x.log_cap = nc
        if x.out_seq + 3 > x.offs_cap:
            nc = x.offs_cap * 2 if x.offs_cap else 1 << 12
            p = realloc(x.offs, nc * sizeof(uint64_t))
            if p == NULL:
                return False
            x.offs = <uint64_t*>p
            x.offs_cap = nc
            if x.out_seq == 0:
                x.offs[1] = 0
        return True

    # ------------------------------------------------------------------------------ restart ----
    def rebuild(self, cmds, events):
        """The reports of replayed ``cmds`` / ``events`` (COMMAND_DTYPE / EVENT_DTYPE arrays, the whole
        journal from seq 1) into the session logs, without publishing; ``next_seq`` follows them."""
        cdef const unsigned char[::1] craw = cmds.view(np.uint8).reshape(-1) if len(cmds) else b"\0"
        cdef const unsigned char[::1] eraw = events.view(np.uint8).reshape(-1) if len(events) else b"\0"
        cdef const Command* cp = <const Command*>&craw[0]
        cdef const Event* ep = <const Event*>&eraw[0]
        cdef Py_ssize_t nc = len(cmds), ne = len(events), i
        cdef uint64_t base = cp[0].seq if nc else 1
        cdef uint64_t ci
        cdef int sid
        self.publishing = False
        try:
            for i in range(ne):
                ci = ep[i].seq - base
                sid = cp[ci].session_id if ci < <uint64_t>nc else 0
                self._event(&ep[i], sid, ci, nc, cp)
        finally:
            self.publishing = True
        if nc:
            self.next_seq = cp[nc - 1].seq + 1

    def counters(self):
        from messaging.records import code_name
        d = {"orders": self.orders, "cancels": self.cancels, "modifies": self.modifies,
             "mass_cancels": self.mass_cancels, "fills": self.fills, "reports": self.reports, "acks": self.acks,
             "engine_rejects": self.engine_rejects, "messages": self.messages, "ctl_dropped": self.ctl_dropped,
             "unrouted": self.unrouted, "er_failed": self.er_failed, "dc_failed": self.dc_failed,
             "dc_unsubscribed": self.dc_unsubscribed,
             "sbe_accepted": self.sbe.accepted, "sbe_refused": self.sbe.refused}
        cdef int k
        for k in range(N_GW_CODES):
            if self.gw_codes[k]:
                d[code_name(-1600 - k)] = self.gw_codes[k]
        for k in range(16):
            if self.sbe.by_code[k]:
                d[code_name(-1200 - k)] = self.sbe.by_code[k]
        return d
