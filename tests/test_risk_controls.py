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
