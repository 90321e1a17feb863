"""Scenario suite of the matching engine, run against the naive reference and the fast Cython engine.

Every command is followed by validate_internal_state() (see engine_harness.Harness.do).
"""
import pytest

from engine_harness import ENGINES, Harness, kinds

P = lambda d: int(round(d * 10_000))  # noqa: E731  dollars -> 1e-4 units


@pytest.fixture(params=ENGINES)
def h(request):
    return Harness(request.param)


# ---------------------------------------------------------------- basic ----
def test_ack_rest_and_price_time_priority(h):
    assert kinds(h.sell(1, P(100.02))) == [("ack", 1)]
    h.sell(2, P(100.01))
    h.sell(3, P(100.01), account=2)
    assert h.levels()["asks"] == [(P(100.01), [2, 3]), (P(100.02), [1])]
    evs = h.buy(4, P(100.02), qty=250, account=3)
    fills = [(e["maker_order_id"], e["price"], e["qty"], e["leaves_qty"], e["maker_leaves_qty"])
             for e in evs if e["kind"] == "fill"]
    # best price first, then time; always at the resting order's price
    assert fills == [(2, P(100.01), 100, 150, 0), (3, P(100.01), 100, 50, 0), (1, P(100.02), 50, 0, 50)]
    f = [e for e in evs if e["kind"] == "fill"][0]
    assert f["taker_order_id"] == 4 and f["order_id"] == 4 and f["account_id"] == 3 and f["maker_account_id"] == 1
    assert h.levels()["asks"] == [(P(100.02), [1])]
    assert h.e.last_price(0) == P(100.02)


def test_fill_at_resting_price_for_aggressive_limit(h):
    h.buy(1, P(99.00))
    evs = h.sell(2, P(95.00), account=2)
    assert [e["price"] for e in evs if e["kind"] == "fill"] == [P(99.00)]


def test_partial_fill_rests_remainder(h):
    h.sell(1, P(10.00), qty=30)
    evs = h.buy(2, P(10.00), qty=100, account=2)
    assert kinds(evs) == [("ack", 2), ("fill", 2)]
    assert h.levels()["bids"] == [(P(10.00), [2])]
    assert h.e.order(2)["leaves"] == 70 and h.e.order(2)["filled"] == 30


# -------------------------------------------------------------- cancels ----
def test_cancel_and_cancel_rejects(h):
    h.buy(1, P(10.00))
    evs = h.do("cancel", oid=1)
    assert evs[0]["kind"] == "cancel" and evs[0]["qty"] == 100 and evs[0]["leaves_qty"] == 0
    assert evs[0]["reason"] == "REQUESTED"
    assert h.levels()["bids"] == []
    assert h.do("cancel", oid=1)[0]["reason"] == "ORDER_NOT_OPEN"
    assert h.do("cancel", oid=99)[0]["reason"] == "UNKNOWN_ORDER"
    h.buy(2, P(10.00))
    evs = h.do("cancel", oid=2, account=5)
    assert evs[0]["kind"] == "cancel_reject" and evs[0]["reason"] == "NOT_OWNER"
    assert h.levels()["bids"] == [(P(10.00), [2])]


def test_mass_cancel_filters(h):
    h.buy(1, P(10.00))
    h.sell(2, P(11.00))
    h.buy(3, P(10.00), symbol=1)
    h.buy(4, P(10.00), account=2)
    evs = h.do("mass_cancel", account=1, symbol=0, side="buy")
    assert kinds(evs) == [("cancel", 1)] and evs[0]["reason"] == "MASS_CANCEL"
    evs = h.do("mass_cancel", account=1, symbol="any")
    assert kinds(evs) == [("cancel", 2), ("cancel", 3)]
    assert h.levels()["bids"] == [(P(10.00), [4])]
    assert h.do("mass_cancel", account=1, symbol=7)[0]["reason"] == "UNKNOWN_SYMBOL"


def test_session_disconnect_and_kill_switch(h):
    h.buy(1, P(10.00), session=5, firm=1)
    h.buy(2, P(10.00), session=6, firm=1, account=2)
    h.buy(3, P(10.00), session=6, firm=2, account=3)
    evs = h.do("session_disconnect", session=5)
    assert kinds(evs) == [("cancel", 1)] and evs[0]["reason"] == "SESSION_DISCONNECT"
    evs = h.do("kill_switch", firm=1)
    assert kinds(evs) == [("cancel", 2)] and evs[0]["reason"] == "KILL_SWITCH"
    evs = h.do("kill_switch", account=3)
    assert kinds(evs) == [("cancel", 3)]


# -------------------------------------------------------------- modify ----
def test_modify_decrease_keeps_priority(h):
    h.buy(1, P(10.00))
    h.buy(2, P(10.00), account=2)
    evs = h.do("modify", oid=1, qty=40, price=P(10.00))
    assert evs[0]["kind"] == "modify_ack" and evs[0]["leaves_qty"] == 40 and evs[0]["qty"] == 40
    assert h.levels()["bids"] == [(P(10.00), [1, 2])]


def test_modify_increase_or_price_change_loses_priority(h):
    h.buy(1, P(10.00))
    h.buy(2, P(10.00), account=2)
    h.do("modify", oid=1, qty=150, price=P(10.00))
    assert h.levels()["bids"] == [(P(10.00), [2, 1])]
    h.do("modify", oid=2, qty=100, price=P(10.01), account=2)
    h.do("modify", oid=2, qty=100, price=P(10.00), account=2)
    assert h.levels()["bids"] == [(P(10.00), [1, 2])]


def test_modify_total_qty_semantics_and_crossing(h):
    h.sell(1, P(10.00), qty=100)
    h.buy(2, P(10.00), qty=30, account=2)          # 1 has filled 30, leaves 70
    evs = h.do("modify", oid=1, qty=50, price=P(10.00))
    assert evs[0]["leaves_qty"] == 20               # new total 50 - filled 30
    evs = h.do("modify", oid=1, qty=30, price=P(10.00))
    assert evs[0]["kind"] == "cancel" and evs[0]["reason"] == "MODIFY_TO_ZERO"
    h.buy(3, P(9.00), qty=10, account=2)
    h.sell(4, P(9.50), qty=10)
    evs = h.do("modify", oid=4, qty=10, price=P(9.00))  # re-priced through the bid: trades as taker
    assert kinds(evs) == [("modify_ack", 4), ("fill", 4)] and evs[1]["maker_order_id"] == 3


def test_modify_rejects(h):
    h.buy(1, P(10.00))
    h.sell(2, P(10.00), account=2)                  # fills 1 completely
    assert h.do("modify", oid=1, qty=10, price=P(10.00))[0]["reason"] == "ORDER_NOT_OPEN"
    assert h.do("modify", oid=77, qty=10, price=P(10.00))[0]["reason"] == "UNKNOWN_ORDER"
    h.buy(3, P(10.00))
    r = lambda **kw: h.do("modify", oid=3, **kw)[0]  # noqa: E731
    assert r(qty=0, price=P(10.00))["reason"] == "INVALID_QTY"
    assert r(qty=10, price=P(10.005))["reason"] == "PRICE_NOT_ON_TICK"
    assert r(qty=10, price=0)["reason"] == "INVALID_PRICE"
    assert r(qty=10, price=P(10.00), account=9)["reason"] == "NOT_OWNER"
    assert all(e["kind"] == "modify_reject" for e in h.log[-4:])
    assert h.e.order(3)["leaves"] == 100


# ------------------------------------------------------------ rejects ----
@pytest.mark.parametrize("kw,code", [
    (dict(qty=0), "INVALID_QTY"),
    (dict(price=P(10.005)), "PRICE_NOT_ON_TICK"),
    (dict(symbol=9), "UNKNOWN_SYMBOL"),
    (dict(oid=1), "DUPLICATE_ORDER_ID"),
    (dict(price=P(10.05), post_only=True), "POST_ONLY_WOULD_CROSS"),
    (dict(qty=1000, tif="fok", price=P(10.05)), "FOK_NOT_FILLABLE"),
    (dict(display=0), "INVALID_DISPLAY_QTY"),
    (dict(display=500), "INVALID_DISPLAY_QTY"),
    (dict(type="market", tif="gtc", price=0), "INVALID_TIF_TYPE"),
    (dict(tif="ioc", post_only=True), "INVALID_TIF_TYPE"),
    (dict(tif="gtd"), "GTD_WITHOUT_EXPIRY"),
    (dict(tif="gtd", expire_ns=5), "GTD_EXPIRED"),
    (dict(price=0), "INVALID_PRICE"),
    (dict(price=-100), "INVALID_PRICE"),
    (dict(type="market", price=P(10.00)), "INVALID_PRICE"),
    (dict(type="stop", price=0, stop_price=0), "INVALID_STOP_PRICE"),
    (dict(type="stop", price=0, stop_price=P(1.001)), "PRICE_NOT_ON_TICK"),
    (dict(type="stop_limit", stop_price=P(9.0), tif="fok"), "INVALID_TIF_TYPE"),
    (dict(stop_price=P(9.0)), "INVALID_STOP_PRICE"),
    (dict(side=3), "INVALID_SIDE"),
    (dict(type=9), "INVALID_TYPE"),
    (dict(tif=9), "INVALID_TIF"),
    (dict(stp=7), "INVALID_STP"),
    (dict(flags=8), "INVALID_FLAGS"),
    (dict(oid=0), "MALFORMED"),
    (dict(link=55), "INVALID_LINK"),
    (dict(link=1), "INVALID_LINK"),   # order 1 belongs to account 2
])
def test_new_rejects_change_nothing(h, kw, code):
    h.sell(1, P(10.00), account=2)
    h.buy(2, P(9.00), account=2)
    h.ts = 10
    before = (h.book(), h.e.order(1), h.e.order(2))
    args = dict(oid=10, side="buy", price=P(10.00), qty=100, account=1)
    args.update(kw)
    evs = h.do("new", **args)
    assert [(e["kind"], e["reason"]) for e in evs] == [("reject", code)]
    assert (h.book(), h.e.order(1), h.e.order(2)) == before
    if code != "DUPLICATE_ORDER_ID" and args["oid"]:
        assert h.e.order(args["oid"]) is None      # a rejected id stays unused


def test_market_no_liquidity_and_remainder(h):
    assert h.do("new", oid=1, side="buy", type="market", tif="ioc", price=0)[0]["reason"] == "MARKET_NO_LIQUIDITY"
    h.sell(2, P(10.00), qty=30, account=2)
    evs = h.do("new", oid=3, side="buy", type="market", tif="day", price=0)
    assert kinds(evs) == [("ack", 3), ("fill", 3), ("cancel", 3)]
    assert evs[2]["reason"] == "IOC_REMAINDER" and evs[2]["qty"] == 70


def test_pool_exhausted():
    for kind in ENGINES:
        h = Harness(kind, max_orders=2)
        h.buy(1, P(1.00))
        h.buy(2, P(1.00))
        assert h.buy(3, P(1.00))[0]["reason"] == "POOL_EXHAUSTED"
        h.do("cancel", oid=1)
        assert h.buy(3, P(1.00))[0]["kind"] == "ack"


# ------------------------------------------------------------------ TIF ----
def test_ioc_fok(h):
    h.sell(1, P(10.00), qty=50, account=2)
    h.sell(2, P(10.01), qty=50, account=2)
    evs = h.buy(3, P(10.00), qty=80, tif="ioc")
    assert kinds(evs) == [("ack", 3), ("fill", 3), ("cancel", 3)] and evs[2]["qty"] == 30
    h.sell(4, P(10.00), qty=50, account=2)
    before = h.book()
    assert h.buy(5, P(10.01), qty=101, tif="fok")[0]["reason"] == "FOK_NOT_FILLABLE"
    assert h.book() == before
    evs = h.buy(6, P(10.01), qty=100, tif="fok")
    assert kinds(evs) == [("ack", 6), ("fill", 6), ("fill", 6)]
    assert h.levels()["asks"] == []


def test_gtd_expiry_and_end_of_day(h):
    h.ts = 100
    h.buy(1, P(10.00), tif="gtd", expire_ns=200)
    h.buy(2, P(10.00), tif="gtc")
    h.buy(3, P(10.00), tif="day")
    h.ts = 199
    assert h.do("clock") == []
    h.ts = 200
    evs = h.do("clock")
    assert kinds(evs) == [("expire", 1)] and evs[0]["reason"] == "GTD_EXPIRED" and evs[0]["qty"] == 100
    evs = h.do("end_of_day")
    assert kinds(evs) == [("expire", 3)] and evs[0]["reason"] == "END_OF_DAY"
    assert h.levels()["bids"] == [(P(10.00), [2])]
    # done ids are forgotten at end of day; open GTC ids are not
    assert h.do("cancel", oid=3)[0]["reason"] == "UNKNOWN_ORDER"
    assert h.buy(2, P(10.00))[0]["reason"] == "DUPLICATE_ORDER_ID"


def test_gtd_expires_before_the_command_that_passes_it(h):
    h.ts = 10
    h.sell(1, P(10.00), tif="gtd", expire_ns=50, account=2)
    h.ts = 60
    evs = h.buy(2, P(10.00))
    assert kinds(evs) == [("expire", 1), ("ack", 2)]


# ----------------------------------------------------------- icebergs ----
def test_iceberg_refresh_loses_priority(h):
    h.sell(1, P(10.00), qty=300, display=100)
    h.sell(2, P(10.00), qty=100, account=2)
    assert h.book()["asks"][0][1] == [(1, 100, 300), (2, 100, 100)]
    evs = h.buy(3, P(10.00), qty=100, account=3)     # takes the displayed slice of 1
    assert [e["maker_order_id"] for e in evs if e["kind"] == "fill"] == [1]
    assert h.book()["asks"][0][1] == [(2, 100, 100), (1, 100, 200)]   # refreshed slice at the back
    evs = h.buy(4, P(10.00), qty=250, account=3)
    assert [(e["maker_order_id"], e["qty"]) for e in evs if e["kind"] == "fill"] == [(2, 100), (1, 100), (1, 50)]
    assert h.book()["asks"][0][1] == [(1, 50, 50)]


# -------------------------------------------------------------- stops ----
def test_stop_triggers_on_last_trade(h):
    h.do("new", oid=1, side="buy", type="stop", price=0, stop_price=P(10.05), qty=10)
    h.do("new", oid=2, side="sell", type="stop_limit", price=P(9.90), stop_price=P(9.95), qty=10, account=4)
    assert h.book()["buy_stops"] == [1] and h.book()["sell_stops"] == [2]
    h.sell(10, P(10.05), qty=50, account=2)
    h.buy(11, P(10.05), qty=10, account=3)           # trade at 10.05 triggers the buy stop
    evs = h.log[-4:]
    assert kinds(evs)[-3:] == [("fill", 11), ("trigger", 1), ("fill", 1)]
    assert evs[-2]["price"] == P(10.05)
    assert h.book()["buy_stops"] == []
    evs = h.do("set_reference_price", symbol=0, price=P(9.95))
    assert kinds(evs) == [("trigger", 2)]
    assert h.levels()["asks"][0] == (P(9.90), [2])   # stop-limit rests as a limit after the trigger
    assert h.do("modify", oid=2, qty=5, price=P(9.90), account=4)[0]["kind"] == "modify_ack"


def test_stop_modify_is_refused_cancel_allowed(h):
    h.do("new", oid=1, side="sell", type="stop", price=0, stop_price=P(9.00))
    assert h.do("modify", oid=1, qty=5, price=P(9.00))[0]["reason"] == "MODIFY_INVALID"
    assert h.do("cancel", oid=1)[0]["kind"] == "cancel"
    assert h.book()["sell_stops"] == []


def test_stop_cascade(h):
    h.sell(10, P(10.00), qty=10, account=2)
    h.sell(11, P(10.10), qty=10, account=2)
    h.do("new", oid=1, side="buy", type="stop", price=0, stop_price=P(10.00), qty=20, account=3)
    h.do("new", oid=2, side="buy", type="stop", price=0, stop_price=P(10.10), qty=5, account=3)
    evs = h.do("set_reference_price", symbol=0, price=P(10.00))
    # 1 triggers, trades at 10.10, which triggers 2 (no liquidity left: rest cancelled)
    assert kinds(evs) == [("trigger", 1), ("fill", 1), ("fill", 1), ("trigger", 2), ("cancel", 2)]
    assert evs[-1]["reason"] == "IOC_REMAINDER"


# ---------------------------------------------------------------- OCO ----
def test_oco_fill_cancels_partner(h):
    h.sell(1, P(11.00), qty=100)                              # take profit
    h.do("new", oid=2, side="sell", type="stop", price=0, stop_price=P(9.00), link=1)   # stop loss
    assert h.e.order(1)["link_id"] == 2 and h.e.order(2)["link_id"] == 1
    evs = h.buy(3, P(11.00), qty=10, account=2)               # partial fill of 1
    assert kinds(evs) == [("ack", 3), ("fill", 3), ("cancel", 2)] and evs[2]["reason"] == "OCO"
    assert h.e.order(1)["link_id"] == 0


def test_oco_cancel_cancels_partner(h):
    h.buy(1, P(9.00))
    h.sell(2, P(11.00), link=1)
    evs = h.do("cancel", oid=2)
    assert kinds(evs) == [("cancel", 2), ("cancel", 1)] and evs[1]["reason"] == "OCO"
    assert h.buy(3, P(9.00), link=2)[0]["reason"] == "INVALID_LINK"


# ---------------------------------------------------------------- STP ----
@pytest.mark.parametrize("mode,expect,book", [
    ("cancel_newest", [("ack", 3), ("fill", 3), ("cancel", 3)], [(P(10.00), [2])]),
    ("cancel_oldest", [("ack", 3), ("fill", 3), ("cancel", 2), ("cancel", 3)], []),
    ("cancel_both", [("ack", 3), ("fill", 3), ("cancel", 2), ("cancel", 3)], []),
    ("decrement", [("ack", 3), ("fill", 3), ("cancel", 2), ("cancel", 3)], [(P(10.00), [2])]),
])
def test_self_trade_prevention(h, mode, expect, book):
    h.sell(1, P(9.99), qty=50, account=2)
    h.sell(2, P(10.00), qty=100, account=7)
    evs = h.buy(3, P(10.00), qty=80, account=7, stp=mode, tif="ioc")
    assert kinds(evs) == expect
    assert h.levels()["asks"] == book
    assert all(e["reason"] in ("STP", "IOC_REMAINDER") for e in evs if e["kind"] == "cancel")
    if mode == "decrement":
        assert (evs[2]["qty"], evs[2]["leaves_qty"]) == (30, 70)     # maker reduced by the overlap
        assert (evs[3]["qty"], evs[3]["leaves_qty"]) == (30, 0)


def test_stp_none_allows_self_trade(h):
    h.sell(1, P(10.00), account=7)
    evs = h.buy(2, P(10.00), account=7)
    assert kinds(evs) == [("ack", 2), ("fill", 2)]


def test_stp_oldest_keeps_matching(h):
    h.sell(1, P(10.00), qty=10, account=7)
    h.sell(2, P(10.00), qty=10, account=8)
    evs = h.buy(3, P(10.00), qty=10, account=7, stp="cancel_oldest")
    assert kinds(evs) == [("ack", 3), ("cancel", 1), ("fill", 3)]


def test_post_only_rests_when_not_crossing(h):
    h.sell(1, P(10.01))
    assert h.buy(2, P(10.00), post_only=True)[0]["kind"] == "ack"
    assert h.buy(3, P(10.01), post_only=True)[0]["reason"] == "POST_ONLY_WOULD_CROSS"
    assert h.do("modify", oid=2, qty=100, price=P(10.01))[0]["reason"] == "POST_ONLY_WOULD_CROSS"


def test_unknown_action(h):
    evs = h.do(42)
    assert [(e["kind"], e["reason"]) for e in evs] == [("reject", "INVALID_ACTION")]


def test_seq_and_ts_copied_into_events(h):
    h.ts = 777
    evs = h.buy(1, P(1.00))
    assert evs[0]["seq"] == h.seq and evs[0]["ts_ns"] == 777
