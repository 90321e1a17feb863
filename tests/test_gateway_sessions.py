"""The order gateway as a real process on the real media driver (docs/appliance.md, "Order entry").

One media driver for the module; each test starts ``python -m services.gateway --config FILE`` with its own
journal and stream ids, and talks to it with ``strategy.oe_client.OrderEntryClient`` (and raw SBE bytes)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from access.credentials import hash_credential
from messaging import sbe
from messaging.channels import DEFAULT_STREAMS, StreamSpec
from messaging.driver import ensure_driver
from messaging.records import Action
from messaging.transport import AeronClient
from strategy.oe_client import OrderEntryClient
from strategy.ports import ExecKind, OrdType, Side, Tif

ROOT = Path(__file__).resolve().parents[1]
DRIVER_ENV = {"AERON_IPC_TERM_BUFFER_LENGTH": "1m", "AERON_TERM_BUFFER_LENGTH": "1m",
              "AERON_CLIENT_LIVENESS_TIMEOUT": "2s", "AERON_IMAGE_LIVENESS_TIMEOUT": "2s",
              "AERON_PUBLICATION_LINGER_TIMEOUT": "200ms", "AERON_PUBLICATION_UNBLOCK_TIMEOUT": "5s"}
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
HASHES = {u: hash_credential(p, n=1024) for u, p in USERS.items()}
SYMBOLS = ["AAPL", "MSFT"]
_ids = iter(range(4100, 9000, 10))


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = Path("/dev/shm") / f"tw-aeron-gwtest-{os.getpid()}"
    handle = ensure_driver(str(d), "shared", env=dict(os.environ, **DRIVER_ENV))
    assert handle is not None
    yield str(d)
    assert handle.stop() == 0


class Gateway:
    """A gateway process with its own config, journal and stream ids."""

    def __init__(self, driver, tmp: Path, heartbeat_timeout_ms=1000):
        tmp.mkdir(parents=True, exist_ok=True)
        base = next(_ids)
        self.streams = {n: StreamSpec(n, "aeron:ipc", base + k, DEFAULT_STREAMS[n].policy, DEFAULT_STREAMS[n].retry_ns)
                        for k, n in enumerate(("order_entry", "exec_reports", "drop_copy"))}
        users = "".join(f'\n[[gateway.user]]\nname = "{u}"\naccount = "ACC-{u}"\nfirm = "F1"\n'
                        f'credential = "{HASHES[u]}"\n' for u in USERS)
        streams = "".join(f'\n[streams.{n}]\nchannel = "aeron:ipc"\nstream_id = {s.stream_id}\n'
                          for n, s in self.streams.items())
        self.tmp = tmp
        self.journal = tmp / "journal"
        self.config = tmp / "appliance.toml"
        self.config.write_text(
            f'[appliance]\naeron_dir = "{driver}"\nrun_dir = "{tmp}/run"\n{streams}\n'
            f'[gateway]\nidle = "backoff"\nsymbols = {json.dumps(SYMBOLS)}\njournal = "{self.journal}"\n'
            f'snapshot_every = 50\nheartbeat_timeout_ms = {heartbeat_timeout_ms}\ncancel_on_disconnect = true\n'
            f'{users}')
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.tmp / "gateway.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "services.gateway", "--config", str(self.config)],
                                     cwd=ROOT, stdout=self.log, stderr=self.log)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(30) == 0, self.output()
        return self.status()

    def status(self):
        return json.loads((self.tmp / "run" / "gateway.status.json").read_text())

    def output(self):
        return (self.tmp / "gateway.log").read_text()

    def alive(self):
        return self.proc.poll() is None


@pytest.fixture
def gw(driver, tmp_path):
    g = Gateway(driver, tmp_path)
    yield g
    if g.alive():
        g.proc.kill()
        g.proc.wait()


def wait_for(cond, what, timeout=30.0, poll=None):
    deadline = time.monotonic() + timeout
    while not cond():
        if poll is not None:
            poll()
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.001)


def client(c, gw, user, pw=None):
    oe = OrderEntryClient(c, user, USERS[user] if pw is None else pw, gw.streams, heartbeat_ms=100, symbols=SYMBOLS)
    got = []
    oe.on_execution = got.append
    return oe, got


def journal_cmds(gw):
    from engine.recovery import journal_commands
    return journal_commands(gw.journal)


def new_orders(gw):
    cmds = journal_cmds(gw)
    return int((cmds["action"] == int(Action.NEW)).sum())


def test_wrong_credential_refused_and_nothing_reaches_the_engine(driver, gw):
    with AeronClient(driver) as c:
        bad, _ = client(c, gw, "alice", "not-her-password")
        assert not bad.login(30)
        assert bad.login_reason == "BAD_CREDENTIAL"
        # a rejected client sends orders anyway (raw, with its own seq numbers): nothing may reach the engine
        bad.logged_in = True
        for i in range(5):
            assert bad.send_new(1 + i, "AAPL", Side.BUY, 10, 1_000_000, OrdType.LIMIT, Tif.DAY, 0)
        unknown, _ = client(c, gw, "alice", "x")
        unknown.user = "mallory"
        assert not unknown.login(30) and unknown.login_reason == "BAD_CREDENTIAL"
        good, got = client(c, gw, "bob")
        assert good.login(30), good.login_reason
        twice, _ = client(c, gw, "bob")
        assert not twice.login(30) and twice.login_reason == "ALREADY_LOGGED_IN"
        assert good.send_new(7, "MSFT", Side.SELL, 5, 2_000_000, OrdType.LIMIT, Tif.DAY, 0)
        wait_for(lambda: got, "bob's ack", poll=good.poll)
        assert got[0].kind == ExecKind.ACK and got[0].cl_ord_id == 7
    st = gw.stop()
    cmds = journal_cmds(gw)
    assert len(cmds) == 1 and int(cmds[0]["session_id"]) == 2 and int(cmds[0]["order_id"]) == (2 << 40) | 7
    assert st["login_rejected"] == 3
    assert st["GW_E_NOT_LOGGED_IN"] == 5


def _expected_reports(gw, session):
    """Reports of ``session`` from a fresh engine fed the journaled commands (the engine is the spec)."""
    from engine.recovery import EngineSetup, replay
    setup = EngineSetup(symbols={0: 1, 1: 1}, positions=False, max_orders=1 << 16, max_symbols=2)
    _, evs = replay(gw.journal, setup)
    out = []
    for e in evs:
        kind = int(e["kind"])
        if kind == 9:
            continue
        if (int(e["order_id"]) >> 40) == session:
            refusal = kind in (2, 6, 7)            # Reject, ModifyReject, CancelReject carry no quantities
            out.append((kind, int(e["order_id"]) & ((1 << 40) - 1), 0 if refusal else int(e["qty"]),
                        0 if refusal or kind == 8 else int(e["leaves_qty"]), int(e["reason"])))
        if kind == 3 and (int(e["maker_order_id"]) >> 40) == session:
            out.append((kind, int(e["maker_order_id"]) & ((1 << 40) - 1), int(e["qty"]),
                        int(e["maker_leaves_qty"]), 0))
    return out


_EV = {"ack": 1, "reject": 2, "fill": 3, "cancel": 4, "modify_ack": 5, "modify_reject": 6, "cancel_reject": 7,
       "expire": 8}


def _match_reports(gw, tmp_path):
    """{session: reports} from `tickwire match` run on the gateway's journaled commands (the engine's CLI)."""
    import csv
    import io
    sys.path.insert(0, str(ROOT / "tests"))
    from test_engine_csv import _to_csv
    text, kept = _to_csv(journal_cmds(gw))
    assert len(kept) == len(journal_cmds(gw))
    (tmp_path / "flow.csv").write_text(text)
    p = subprocess.run([sys.executable, "-m", "tickwire", "match", str(tmp_path / "flow.csv")], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = {1: [], 2: []}
    mask = (1 << 40) - 1
    for r in csv.DictReader(io.StringIO(p.stdout)):
        kind = _EV.get(r["event"])
        if kind is None:
            continue
        oid = int(r["order_id"])
        refusal = kind in (2, 6, 7)
        out.setdefault(oid >> 40, []).append((kind, oid & mask, 0 if refusal else int(r["qty"]),
                                              0 if refusal or kind == 8 else int(r["leaves_qty"]),
                                              int(r["reason"] or 0)))
        if kind == 3:
            mk = int(r["maker_order_id"])
            out.setdefault(mk >> 40, []).append((3, mk & mask, int(r["qty"]), int(r["maker_leaves_qty"]), 0))
    return out


def _as_tuples(got):
    return [(int(x.kind), x.cl_ord_id, x.qty, x.leaves, x.reason if x.kind in (ExecKind.REJECT,
             ExecKind.MODIFY_REJECT, ExecKind.CANCEL_REJECT, ExecKind.CANCELLED, ExecKind.EXPIRED) else 0)
            for x in got]


def _flow(a, b, step):
    """Orders of two sessions that rest, cross, get cancelled, modified and refused (one at a time: the two
    clients' images are polled in no fixed order)."""
    a.send_new(1, "AAPL", Side.BUY, 100, 1_000_000, OrdType.LIMIT, Tif.DAY, 0)
    step()
    a.send_new(2, "AAPL", Side.BUY, 50, 999_900, OrdType.LIMIT, Tif.GTC, 0)
    step()
    b.send_new(1, "AAPL", Side.SELL, 120, 999_900, OrdType.LIMIT, Tif.DAY, 0)    # takes 100 @ 1.0000 then 20 @ .9999
    step()
    a.send_modify(2, 80, 999_800)
    step()
    a.send_cancel(99)                                                            # unknown: cancel reject
    step()
    b.send_new(2, "MSFT", Side.SELL, 0, 500_000, OrdType.LIMIT, Tif.DAY, 0)      # invalid qty: reject
    step()
    b.send_new(3, "MSFT", Side.BUY, 10, 0, OrdType.MARKET, Tif.IOC, 0)           # market, no liquidity
    step()
    a.send_new(3, "MSFT", Side.SELL, 30, 500_000, OrdType.LIMIT, Tif.DAY, 0)
    step()
    b.send_new(4, "MSFT", Side.BUY, 10, 500_000, OrdType.LIMIT, Tif.IOC, 0)
    step()
    a.send_mass_cancel(None)
    step()


def test_reports_are_the_engines_events_and_the_drop_copy_has_every_one(driver, gw, tmp_path):
    with AeronClient(driver) as c:
        dc = c.subscription(gw.streams["drop_copy"])
        a, got_a = client(c, gw, "alice")
        b, got_b = client(c, gw, "bob")
        assert a.login(30) and b.login(30)
        done = [0]

        def step():
            done[0] += 1
            wait_for(lambda: len(journal_cmds(gw)) >= done[0], "journaled", poll=lambda: (a.poll(), b.poll()))
        _flow(a, b, step)
        n_cmds = 10
        wait_for(lambda: len(journal_cmds(gw)) >= n_cmds, "10 journaled commands", poll=lambda: (a.poll(), b.poll()))
        spec = _match_reports(gw, tmp_path)           # the engine is the spec: `tickwire match` on the journal
        exp_a, exp_b = spec[1], spec[2]
        assert exp_a == _expected_reports(gw, 1) and exp_b == _expected_reports(gw, 2)
        wait_for(lambda: len(got_a) >= len(exp_a) and len(got_b) >= len(exp_b), "every report",
                 poll=lambda: (a.poll(), b.poll()))
        assert _as_tuples(got_a) == exp_a
        assert _as_tuples(got_b) == exp_b
        assert {x.kind for x in got_a + got_b} >= {ExecKind.ACK, ExecKind.FILL, ExecKind.REJECT,
                                                   ExecKind.CANCELLED, ExecKind.MODIFY_ACK, ExecKind.CANCEL_REJECT}
        drop = []
        wait_for(lambda: len(drop) >= len(exp_a) + len(exp_b), "drop copy",
                 poll=lambda: dc.poll(lambda m, s: drop.append(sbe.decode(m, None)), 64))
        per = {1: [], 2: []}
        for m in drop:
            per[m.session_id].append(m.seq)
        assert per[1] == list(range(1, len(exp_a) + 1)) and per[2] == list(range(1, len(exp_b) + 1))
        # stamps: the gateway's hops are stamped on an order's own reports, in order
        stamps = []
        a.on_stamps = lambda st, kind: stamps.append(st)
        a.send_new(10, "AAPL", Side.BUY, 1, 900_000, OrdType.LIMIT, Tif.DAY, 0, md_stamps=(1, 2, 3, 4, 5))
        wait_for(lambda: stamps, "stamped ack", poll=a.poll)
        s = stamps[0]
        assert s[:5] == (1, 2, 3, 4, 5)
        assert 0 < s[5] <= s[6] <= s[7] <= s[8] <= s[9] <= s[10]
    gw.stop()


def test_malformed_messages_refused_counted_and_the_gateway_goes_on(driver, gw):
    with AeronClient(driver) as c:
        a, got = client(c, gw, "alice")
        assert a.login(30)
        a.send_raw(b"\x00garb")                                             # shorter than a header
        a.send_raw(bytes(8) + b"x" * 40)                                    # schema id 0
        ack = sbe.encode("Ack", seq=1, order_id=1, session_id=1)
        a.send_raw(ack)                                                     # a gateway-to-client template
        short = bytearray(sbe.encode("NewOrder", seq=2, order_id=5, qty=1, price=1_000_000, symbol_id=0,
                                     side=1, ord_type=1, tif=1))
        short[0:2] = (20).to_bytes(2, "little")                             # blockLength below the schema's
        a.send_raw(bytes(short[:28]))
        a.send_raw(sbe.encode("NewOrder", seq=9, order_id=5, qty=1, price=1_000_000, symbol_id=0, side=1,
                              ord_type=1, tif=1))                           # seq gap (2 expected)
        a.send_raw(sbe.encode("NewOrder", seq=2, order_id=0, qty=1, price=1_000_000, symbol_id=0, side=1,
                              ord_type=1, tif=1))                           # order id 0: consumes seq 2
        a.seq = 2
        assert a.send_new(6, "AAPL", Side.BUY, 1, 1_000_000, OrdType.LIMIT, Tif.DAY, 0)
        wait_for(lambda: any(x.kind == ExecKind.ACK for x in got), "ack after the garbage", poll=a.poll)
        refusals = [x for x in got if x.kind == ExecKind.REJECT]
        assert {x.reason_name for x in refusals} == {"GW_E_SEQ_GAP", "GW_E_BAD_ORDER_ID"}
        assert a.counters()["session_rejects"] == 2
        assert gw.alive()
    st = gw.stop()
    assert st["GW_E_MALFORMED"] == 3 and st["GW_E_WRONG_DIRECTION"] == 1
    assert st["GW_E_SEQ_GAP"] == 1 and st["GW_E_BAD_ORDER_ID"] == 1 and st["orders"] == 1
    assert st["SBE_E_SHORT_HEADER"] == 1 and st["SBE_E_SCHEMA_ID"] == 1 and st["SBE_E_SHORT_BLOCK"] == 1
    assert len(journal_cmds(gw)) == 1


def test_killed_client_has_its_orders_cancelled(driver, gw):
    helper = subprocess.Popen([sys.executable, str(ROOT / "tests" / "gateway_helper.py"), "hold", driver, "alice",
                               USERS["alice"], "3"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, TW_STREAMS=json.dumps({n: s.stream_id for n, s in gw.streams.items()})))
    try:
        assert helper.stdout.readline().strip() == "acked 3"
        with AeronClient(driver) as c:
            dc = c.subscription(gw.streams["drop_copy"])
            helper.send_signal(signal.SIGKILL)
            helper.wait()
            cancels = []

            def on(m, _s):
                r = sbe.decode(m, None)
                if r.name == "Cancelled":
                    cancels.append(r)
            wait_for(lambda: len(cancels) >= 3, "three cancels on the drop copy", timeout=60,
                     poll=lambda: dc.poll(on, 64))
        assert {int(x.order_id) for x in cancels} == {100, 101, 102}
        assert {x.reason.name for x in cancels} == {"SESSION_DISCONNECT"}
        cmds = journal_cmds(gw)
        assert (cmds["action"] == int(Action.SESSION_DISCONNECT)).sum() == 1
    finally:
        if helper.poll() is None:
            helper.kill()
    st = gw.stop()
    assert st["images_lost"] + st["heartbeat_timeouts"] == 1 and st["disconnect_cancels"] == 1


@pytest.mark.parametrize("kills", [1, 3])
def test_gateway_killed_and_restarted_resends_every_missed_report_once(driver, tmp_path, kills):
    """SIGKILL the gateway at random points of a flow; a client reconnecting with next_expected_seq gets
    every report it missed exactly once: its reports equal those of an uninterrupted run."""
    rng = np.random.default_rng(kills)
    runs = {}
    for mode in ("calm", "killed"):
        gw = Gateway(driver, tmp_path / mode)
        try:
            with AeronClient(driver) as c:
                a, got = client(c, gw, "alice")
                b, got_b = client(c, gw, "bob")
                assert a.login(30) and b.login(30)
                kill_at = set(rng.choice(np.arange(2, 38), kills, replace=False).tolist()) if mode == "killed" else set()
                for i in range(1, 41):
                    # one order at a time: the two clients' images are polled in no fixed order
                    assert b.send_new(i, "AAPL", Side.SELL, 10, 1_000_000 + 100 * (i % 3), OrdType.LIMIT, Tif.DAY, 0), b.counters()
                    wait_for(lambda: new_orders(gw) >= 2 * i - 1, "journaled", poll=lambda: (a.poll(), b.poll()))
                    assert a.send_new(i, "AAPL", Side.BUY, 15, 1_000_000 + 100 * (i % 2), OrdType.LIMIT, Tif.IOC, 0), a.counters()
                    if i in kill_at:
                        # the order journaled, its reports maybe not read yet: kill, restart, log in again
                        wait_for(lambda: new_orders(gw) >= 2 * i, "journaled")
                        gw.kill()
                        gw.start()
                        wait_for(lambda: a.login(0.5), "alice back", timeout=60)
                        wait_for(lambda: b.login(0.5), "bob back", timeout=60)
                    else:
                        wait_for(lambda: new_orders(gw) >= 2 * i, "journaled", poll=lambda: (a.poll(), b.poll()))
                last = len(_expected_reports(gw, 1))
                wait_for(lambda: a.last_seq >= last, "alice has every report", poll=lambda: (a.poll(), b.poll()))
                for _ in range(20):
                    a.poll()
                assert _as_tuples(got) == _expected_reports(gw, 1)
                runs[mode] = (_as_tuples(got), a.counters())
        finally:
            if gw.alive():
                gw.stop()
    calm, killed = runs["calm"], runs["killed"]
    assert killed[0] == calm[0]
    assert [x[0] for x in calm[0]].count(int(ExecKind.FILL)) > 10
