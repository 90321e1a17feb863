"""Risk controls (issue 9, section 5): expiries before the check, the kill switch (cancels by default,
block-only on request, release only releases), id bounds at every Python -> table crossing, and the
market-data reference price reaching positions. Real loop, matching, risk and positions; no mocks."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_harness import ENGINES, Harness as EngineHarness, kinds  # noqa: E402
from test_risk_checks import Harness, P  # noqa: E402

from messaging.records import COMMAND_DTYPE  # noqa: E402

GTD, EV_ACK, EV_FILL, EV_CANCEL, EV_EXPIRE = 5, 1, 3, 4, 8


# ------------------------------------------------------------- expire first ----
def test_expired_gtd_no_longer_counts_against_the_next_commands_limits():
    h = Harness("[defaults.account]\nmax_net_position = 100\n")
    ev = h.send(tif=GTD, expire_ns=1000, ts_ns=500, qty=100)
    assert ev["kind"].tolist() == [EV_ACK]
    ev = h.send(ts_ns=2000, qty=100)                    # the GTD expired at 1000, before this runs
    assert ev["kind"].tolist() == [EV_EXPIRE, EV_ACK], ev
    assert ev["order_id"].tolist() == [1, 2] and (ev["seq"] == 2).all()
    assert h.risk.cell(1, 0)["buy_qty"] == 100 and h.risk.account(1)["open_orders"] == 1
    h.risk.validate_internal_state()


def test_expiry_due_at_a_risk_rejected_command_still_happens_first():
    h = Harness("[defaults.account]\nmax_net_position = 100\n")
    h.send(tif=GTD, expire_ns=1000, ts_ns=500, qty=100)
    ev = h.send(ts_ns=2000, qty=101)                    # over the limit on its own: rejected by risk
    assert ev["kind"].tolist() == [EV_EXPIRE, 2] and ev["reason"].tolist() == [9, -114]
    assert h.risk.account(1)["open_orders"] == 0 and h.engine.order(1) == "done"
    h.risk.validate_internal_state()


def test_standalone_risk_run_expires_before_the_check():
    from engine.matching import MatchingEngine
    from engine.risk import RiskEngine
    from engine.riskconfig import RiskConfig
    risk = RiskEngine(RiskConfig.from_toml_string("[defaults.account]\nmax_net_position = 100\n"))
    eng = MatchingEngine(1024, 4)
    eng.add_symbol(0, 100)
    c = np.zeros(2, COMMAND_DTYPE)
    c["seq"], c["ts_ns"], c["action"], c["order_id"], c["account_id"] = [1, 2], [500, 2000], 1, [1, 2], 1
    c["side"], c["ord_type"], c["tif"], c["qty"], c["price"] = 1, 1, [GTD, 2], 100, 100 * P
    c["expire_ns"][0] = 1000
    codes, ev = risk.run(eng, c)
    assert codes.tolist() == [0, 0] and ev["kind"].tolist() == [EV_ACK, EV_EXPIRE, EV_ACK]
    risk.validate_internal_state()


# -------------------------------------------------------------- kill switch ----
def test_release_without_a_kill_cancels_nothing():
    h = Harness("")
    h.send(price=99 * P)
    ev = h.send(7, account_id=1, flags=0x80)            # release flag: only releases
    assert len(ev) == 0
    assert h.engine.order(1)["leaves"] == 100 and h.risk.account(1)["open_orders"] == 1


def test_release_of_a_block_only_kill_leaves_the_orders():
    h = Harness("[[account]]\nid = 1\nfirm = 1\n")
    h.send(firm_id=1, price=99 * P)
    assert len(h.send(7, firm_id=1, flags=0x40)) == 0   # block only: nothing cancelled
    assert h.risk.firm(1)["killed"] and h.code(firm_id=1, price=98 * P) == -104
    assert len(h.send(7, firm_id=1, flags=0x80)) == 0   # release
    assert h.engine.order(1)["leaves"] == 100 and not h.risk.firm(1)["killed"]
    assert h.code(firm_id=1, price=98 * P) == 0


@pytest.mark.parametrize("kind", ENGINES)
def test_matching_kill_switch_flags(kind):
    e = EngineHarness(kind)
    e.buy(1, 10 * P, firm=1)
    e.buy(2, 10 * P, account=2, firm=1)
    assert e.do("kill_switch", firm=1, flags=0x80) == []            # release: no cancels
    assert e.do("kill_switch", account=1, flags=0x40) == []         # block only: no cancels
    assert kinds(e.do("kill_switch", firm=1)) == [("cancel", 1), ("cancel", 2)]


def test_operator_kill_cancels_open_orders_and_blocks():
    h = Harness("")
    h.send(price=99 * P)
    h.send(account_id=2, price=97 * P)
    ev = h.risk.kill(account=1, loop=h.loop)            # through the loop: sequenced, journaled
    assert ev["kind"].tolist() == [EV_CANCEL] and ev["reason"].tolist() == [7] and ev["order_id"][0] == 1
    assert h.risk.account(1)["killed"] and h.risk.account(1)["open_orders"] == 0
    h.seq = h.loop.last_seq
    ev = h.send(account_id=3, side=2, price=99 * P)     # would have hit order 1
    assert EV_FILL not in ev["kind"].tolist()
    assert h.code(price=99 * P) == -104
    assert h.risk.account(2)["open_orders"] == 1        # other accounts untouched
    assert len(h.risk.kill(account=1, on=False, loop=h.loop)) == 0
    h.seq = h.loop.last_seq
    assert h.code(price=99 * P) == 0
    h.risk.validate_internal_state()


def test_operator_kill_block_only_is_explicit():
    h = Harness("")
    h.send(price=99 * P)
    with pytest.raises(ValueError, match="loop"):
        h.risk.kill(account=1)                          # cancelling needs the loop: never silently block only
    assert not h.risk.account(1)["killed"]
    h.risk.kill(account=1, cancel=False)                # the old behaviour, asked for
    assert h.risk.account(1)["killed"] and h.engine.order(1)["leaves"] == 100
    assert h.code(price=98 * P) == -104
    h.risk.kill(account=1, on=False)
    assert h.code(price=98 * P) == 0


# ------------------------------------------------------------------- bounds ----
BAD = [-1, 4, 2**32, 10**9]


@pytest.mark.parametrize("bad", BAD)
def test_risk_ids_are_bounds_checked(bad):
    from engine.risk import RiskEngine
    from engine.riskconfig import RiskConfig
    r = RiskEngine(RiskConfig.from_toml_string("[sizes]\nmax_accounts = 4\nmax_firms = 4\nmax_symbols = 4\n"))
    calls = {
        "max_accounts": [lambda: r.kill(account=bad, cancel=False), lambda: r.limits(bad),
                         lambda: r.account(bad), lambda: r.cell(bad, 0)],
        "max_firms": [lambda: r.kill(firm=bad, cancel=False), lambda: r.firm(bad)],
        "max_symbols": [lambda: r.cell(0, bad), lambda: r.set_reference_price(bad, P), lambda: r.reference_price(bad)],
    }
    for limit, fns in calls.items():
        for fn in fns:
            with pytest.raises(ValueError, match=f"{bad}.*{limit} 4"):
                fn()
    assert r.limits(3)["max_order_qty"] > 0 and r.firm(3) and r.account(3)["killed"] is False


@pytest.mark.parametrize("bad", BAD)
def test_positions_ids_are_bounds_checked(bad):
    from engine.positions import Positions
    p = Positions(4, 4)
    for fn, limit in ((lambda: p.set_mark(bad, P), "max_symbols"), (lambda: p.get_mark(bad), "max_symbols"),
                      (lambda: p.position(bad, 0), "max_accounts"), (lambda: p.position(0, bad), "max_symbols"),
                      (lambda: Positions(4, 4, margin_bps={bad: 100}), "max_symbols")):
        with pytest.raises(ValueError, match=f"{bad}.*{limit} 4"):
            fn()


@pytest.mark.parametrize("bad", [-1, 2**32])
def test_positions_fill_refuses_ids_that_are_not_uint32(bad):
    from engine.positions import Positions
    p = Positions(4, 4)
    with pytest.raises(ValueError, match=str(bad)):
        p.fill(bad, 0, 10, P)
    with pytest.raises(ValueError, match=str(bad)):
        p.fill(0, bad, 10, P)
    assert p.fills == 0 and p.dropped == 0


# ------------------------------------------------------- reference -> marks ----
def test_set_reference_price_marks_positions_too():
    h = Harness("")
    h.send(price=50 * P, qty=100)
    h.send(account_id=2, side=2, price=50 * P, qty=100)      # 1 long 100 @ 50, 2 short 100
    h.risk.set_reference_price(0, 53 * P)
    assert h.pos.get_mark(0) == h.risk.reference_price(0) == 53 * P
    for a in (1, 2):
        p = h.pos.position(a, 0)
        assert p["unrealized"] == p["qty"] * h.risk.reference_price(0) - p["cost"]
        assert p["exposure"] == h.risk.cell(a, 0)["exposure"] == 100 * 53 * P
    assert h.pos.position(1, 0)["unrealized"] == 300 * P and h.pos.position(2, 0)["unrealized"] == -300 * P


# ------------------------------------------------------------- determinism ----
def test_journal_replay_reproduces_expiries_and_operator_kills(tmp_path):
    """Expiries before risk (also at risk-rejected commands) and the operator kill (a journaled command)
    come back identical from the journal: same events, same matching / risk / positions state."""
    from engine.journal import Journal
    from engine.recovery import EngineSetup, replay, state_fingerprint
    from engine.riskconfig import RiskConfig
    setup = EngineSetup(symbols={0: 100, 1: 100}, max_orders=4096, max_symbols=2, risk_config=RiskConfig.from_toml_string(
        "[sizes]\nmax_accounts = 8\nmax_symbols = 2\n[defaults.account]\nmax_net_position = 300\n"))
    eng, risk, pos = setup.fresh()
    loop = setup.loop(eng, risk, pos, journal=Journal(tmp_path, fsync="never"))
    rnd = np.random.default_rng(5)
    n = 400
    c = np.zeros(n, COMMAND_DTYPE)
    c["seq"] = np.arange(1, n + 1)
    c["ts_ns"] = np.cumsum(rnd.integers(1, 400, n))
    c["action"], c["order_id"], c["account_id"] = 1, np.arange(1, n + 1), rnd.integers(1, 5, n)
    c["symbol_id"], c["side"], c["ord_type"] = rnd.integers(0, 2, n), rnd.integers(1, 3, n), 1
    c["tif"], c["qty"] = GTD, rnd.choice([50, 100, 200], n)
    c["price"] = (100 + rnd.integers(-3, 4, n)) * P
    c["expire_ns"] = c["ts_ns"] + rnd.integers(1, 3000, n)
    events = [loop.run_all(c[:200])]
    events.append(risk.kill(account=2, loop=loop))
    events.append(risk.kill(account=3, cancel=False, loop=loop))
    c[200:]["seq"] += loop.last_seq - 200
    events.append(loop.run_all(c[200:]))
    events = np.concatenate(events)
    assert (events["kind"] == EV_EXPIRE).sum() > 50 and (events["reason"] == -114).sum() > 5
    assert (events["reason"] == -104).sum() > 5 and (events["reason"] == 7).any()
    risk.validate_internal_state()
    loop.journal.journal.close()
    loop2, events2 = replay(tmp_path, setup)
    assert events2.tobytes() == events.tobytes()
    assert state_fingerprint(loop2) == state_fingerprint(loop)
