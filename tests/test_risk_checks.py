"""Pre-trade risk: every check's reject code and message, through the real loop and matching engine."""
from __future__ import annotations

import numpy as np
import pytest

from messaging.records import COMMAND_DTYPE, CODES, code_message, code_name

P = 10_000          # $1.00 in 1e-4 dollars


class Harness:
    """EngineLoop + MatchingEngine + RiskEngine (+ Positions) from a RISK.toml text."""

    def __init__(self, toml: str, symbols=(0, 1, 2, 3), max_symbols=8):
        from engine.recovery import EngineSetup
        from engine.riskconfig import RiskConfig
        self.setup = EngineSetup(symbols={s: 100 for s in symbols}, risk_config=RiskConfig.from_toml_string(toml),
                                 max_orders=4096, max_symbols=max_symbols)
        eng, self.risk, self.pos = self.setup.fresh()
        self.loop = self.setup.loop(eng, self.risk, self.pos)
        self.engine = eng
        self.seq = 0
        self.ts = 1_000_000_000
        self.next_id = 1

    def send(self, action=1, dt=0, **kw):
        c = np.zeros(1, COMMAND_DTYPE)
        self.seq += 1
        self.ts += dt
        c["seq"] = self.seq
        c["ts_ns"] = self.ts
        c["action"] = action
        if action == 1 and "order_id" not in kw:
            kw["order_id"] = self.next_id
            self.next_id += 1
        defaults = {"account_id": 1, "symbol_id": 0, "side": 1, "ord_type": 1, "tif": 2, "qty": 100,
                    "price": 100 * P} if action in (1,) else {"account_id": 1}
        for k, v in {**defaults, **kw}.items():
            c[k] = v
        return self.loop.run_all(c)

    def code(self, action=1, **kw):
        ev = self.send(action, **kw)
        rej = ev[ev["reason"] < 0]
        return int(rej["reason"][0]) if len(rej) else 0

    def order_id(self):
        return self.next_id - 1


def test_code_table_registered_and_documented():
    from engine import risk as R
    assert len(R.CODES) == 26
    for code, (name, msg) in R.CODES.items():
        assert -199 <= code <= -100
        assert CODES[code] == (name, msg) and code_name(code) == name and code_message(code) == msg
        assert name.startswith("RISK_") and msg
    e = R.RiskError(-117)
    assert e.name == "RISK_BUYING_POWER" and str(e) == (
        "RISK_BUYING_POWER (-117): margin requirement would exceed the account's buying power")


# ----------------------------------------------------------------- identity ----
def test_unknown_account_strict_and_out_of_range():
    h = Harness("[sizes]\nmax_accounts = 4\nstrict_accounts = true\n[[account]]\nid = 1\n")
    assert h.code(account_id=1) == 0
    assert h.code(account_id=2) == -100
    assert h.code(account_id=9) == -100
    assert h.risk.reject_counts() == {"RISK_UNKNOWN_ACCOUNT": 2}


def test_unknown_symbol_beyond_risk_tables():
    h = Harness("[sizes]\nmax_symbols = 2\n", symbols=(0, 1, 2, 3))
    assert h.code(symbol_id=1) == 0
    assert h.code(symbol_id=3) == -101


def test_unknown_firm_and_firm_mismatch():
    h = Harness("[sizes]\nmax_firms = 4\n[[firm]]\nid = 2\n[[account]]\nid = 1\nfirm = 2\n")
    assert h.code(account_id=5, firm_id=7) == -102
    assert h.code(account_id=1, firm_id=3) == -103
    assert h.code(account_id=1, firm_id=2) == 0
    assert h.code(account_id=1, firm_id=0) == 0          # unstamped: the configured firm applies
    # an unconfigured account belongs to the firm of its first command
    assert h.code(account_id=6, firm_id=1) == 0
    assert h.code(account_id=6, firm_id=3) == -103
    assert h.risk.account(6)["firm"] == 1


# --------------------------------------------------------- kill, permissions ----
def test_kill_switch_account_blocks_and_cancels_then_release():
    h = Harness("")
    h.send(price=99 * P)
    h.send(price=98 * P)
    oid = h.order_id()
    h.send(account_id=2, price=97 * P)
    ev = h.send(7, account_id=1)                       # ACT_KILL_SWITCH for account 1
    assert sorted(ev["order_id"][ev["kind"] == 4].tolist()) == [oid - 1, oid]
    assert (ev["reason"][ev["kind"] == 4] == 7).all()  # CR_KILL_SWITCH
    assert h.risk.account(1)["open_orders"] == 0 and h.risk.account(1)["killed"]
    assert h.code(price=99 * P) == -104
    assert h.code(3, order_id=oid, qty=5, price=98 * P) == -104    # modifies are blocked too
    assert h.code(account_id=2, price=96 * P) == 0     # other accounts trade
    assert h.code(7, account_id=1, flags=0x80) == 0    # release
    assert h.code(price=99 * P) == 0


def test_kill_switch_firm():
    h = Harness("[[account]]\nid = 1\nfirm = 1\n[[account]]\nid = 2\nfirm = 1\n[[account]]\nid = 3\nfirm = 2\n")
    h.send(account_id=1, firm_id=1, price=99 * P)
    h.send(account_id=2, firm_id=1, price=98 * P)
    ev = h.send(7, firm_id=1)
    assert (ev["kind"] == 4).sum() == 2
    assert h.code(account_id=2) == -104 and h.code(account_id=1) == -104
    assert h.code(account_id=3, firm_id=2) == 0
    assert h.risk.firm(1)["killed"] and h.risk.firm(1)["open_orders"] == 0


def test_restricted_symbol():
    h = Harness("[[symbol]]\nid = 2\nrestricted = true\n")
    assert h.code(symbol_id=2) == -105
    assert h.code(symbol_id=1) == 0


def test_permissions_per_account_and_symbol():
    h = Harness('[[account]]\nid = 1\nsymbols = [0, 1]\npermissions = { "1" = ["buy"] }\n')
    assert h.code(symbol_id=2) == -106
    assert h.code(symbol_id=1, side=2) == -106
    assert h.code(symbol_id=1, side=1) == 0
    assert h.code(symbol_id=0, side=2) == 0


def test_short_sale_counts_working_sells():
    h = Harness("[[account]]\nid = 1\nallow_short = false\n")
    assert h.code(side=2, qty=10) == -107              # flat: any sell would be short
    h.send(account_id=2, side=2, qty=100, price=100 * P)
    h.send(side=1, qty=100, price=100 * P)             # buys 100 from account 2
    assert h.pos.position(1, 0)["qty"] == 100
    assert h.code(side=2, qty=60, price=105 * P) == 0  # working sell 60
    assert h.code(side=2, qty=41, price=105 * P) == -107
    assert h.code(side=2, qty=40, price=105 * P) == 0


def test_duplicate_client_order_id():
    h = Harness("")
    assert h.code(order_id=77) == 0
    assert h.code(order_id=77) == -5                   # risk finds it first: matching's code
    h.send(2, order_id=77)                             # cancelled: the id stays used today
    assert h.code(order_id=77) == -5
    h.send(5)                                          # end of day frees done ids
    assert h.code(order_id=77) == 0


# ------------------------------------------------------------- per order ----
def test_max_order_qty_account_and_firm():
    h = Harness("[defaults.account]\nmax_order_qty = 500\n[[firm]]\nid = 1\nmax_order_qty = 300\n"
                "[[account]]\nid = 1\nfirm = 1\n")
    assert h.code(account_id=2, qty=500) == 0 and h.code(account_id=2, qty=501) == -109
    assert h.code(account_id=1, qty=300) == 0 and h.code(account_id=1, qty=301) == -109


def test_max_order_notional():
    h = Harness("[defaults.account]\nmax_order_notional = 10000.00\n")
    assert h.code(qty=100, price=100 * P) == 0          # exactly $10,000
    assert h.code(qty=101, price=100 * P) == -110
    assert h.code(qty=100, price=100 * P + 100) == -110


def test_collar_and_reference_price():
    h = Harness("[defaults.symbol]\ncollar_pct = 5\nrequire_reference = true\n"
                "[[symbol]]\nid = 1\nreference_price = 50.00\n")
    assert h.code(symbol_id=0) == -111                  # no reference yet
    assert h.code(8, symbol_id=0, price=100 * P) == 0    # ACT_SET_REFERENCE_PRICE (journaled)
    assert h.code(symbol_id=0, price=105 * P) == 0
    assert h.code(symbol_id=0, price=105 * P + 100) == -112
    assert h.code(symbol_id=0, side=2, price=95 * P - 100) == -112
    assert h.code(symbol_id=1, price=52 * P) == 0        # reference from the file
    assert h.code(symbol_id=1, price=53 * P) == -112
    h.risk.set_reference_price(1, 53 * P)               # market-data setter
    assert h.code(symbol_id=1, price=53 * P) == 0


def test_market_order_needs_reference_for_notional_limits():
    h = Harness("[defaults.account]\nbuying_power = 1000000\n")
    h.send(account_id=2, side=2, qty=10, price=100 * P)
    assert h.code(ord_type=2, tif=3, price=0, qty=10) == -111
    h.send(8, symbol_id=0, price=100 * P)
    assert h.code(ord_type=2, tif=3, price=0, qty=10) == 0


# ------------------------------------------------------------- aggregates ----
def test_max_open_orders_account_and_firm():
    h = Harness("[defaults.account]\nmax_open_orders = 2\n[[firm]]\nid = 1\nmax_open_orders = 3\n"
                "[[account]]\nid = 1\nfirm = 1\n[[account]]\nid = 2\nfirm = 1\n")
    assert h.code(price=90 * P) == 0 and h.code(price=91 * P) == 0
    assert h.code(price=92 * P) == -113
    assert h.code(account_id=2, price=92 * P) == 0
    assert h.code(account_id=2, price=93 * P) == -120    # firm at 3
    h.send(2, order_id=1)                                # a cancel frees a slot
    assert h.risk.account(1)["open_orders"] == 1
    assert h.code(price=94 * P) == 0


def test_net_position_worst_case_and_risk_reducing_orders():
    h = Harness("[defaults.account]\nmax_net_position = 300\n")
    assert h.code(qty=200, price=90 * P) == 0
    assert h.code(qty=100, price=90 * P) == 0
    assert h.code(qty=1, price=90 * P) == -114           # working buys 300: worst case at the limit
    assert h.code(side=2, qty=300, price=110 * P) == 0   # sells don't add to the long worst case
    assert h.code(side=2, qty=1, price=110 * P) == -114  # ...until the short side exceeds it
    # modify: increasing is checked, decreasing always passes
    assert h.code(3, order_id=1, qty=201, price=90 * P) == -114
    assert h.code(3, order_id=1, qty=150, price=90 * P) == 0
    assert h.risk.cell(1, 0)["buy_qty"] == 250


def test_gross_position_account_and_firm():
    h = Harness("[defaults.account]\nmax_gross_position = 500\n[[firm]]\nid = 1\nmax_gross_position = 700\n"
                "[[account]]\nid = 1\nfirm = 1\n[[account]]\nid = 2\nfirm = 1\n")
    assert h.code(symbol_id=0, qty=300, price=90 * P) == 0
    assert h.code(symbol_id=1, qty=200, price=90 * P) == 0
    assert h.code(symbol_id=2, qty=1, price=90 * P) == -115
    assert h.code(account_id=2, symbol_id=2, qty=200, price=90 * P) == 0
    assert h.code(account_id=2, symbol_id=3, qty=1, price=90 * P) == -121
    assert h.risk.firm(1)["gross_qty"] == 700


def test_concentration():
    h = Harness("[defaults.account]\nconcentration_pct = 60\nconcentration_min_gross = 20000\n")
    assert h.code(symbol_id=0, qty=150, price=100 * P) == 0     # $15,000 < min gross: not applied
    assert h.code(symbol_id=1, qty=100, price=100 * P) == 0     # 15k / 25k = 60 %
    assert h.code(symbol_id=0, qty=1, price=100 * P) == -116    # 15.1k / 25.1k > 60 %
    assert h.code(symbol_id=2, qty=10, price=100 * P) == 0


def test_buying_power_with_margin_per_symbol_account_and_firm():
    h = Harness("[defaults.account]\nbuying_power = 5000\n[defaults.symbol]\nmargin_pct = 50\n"
                "[[symbol]]\nid = 1\nmargin_pct = 100\n"
                "[[firm]]\nid = 1\nbuying_power = 7000\n[[account]]\nid = 1\nfirm = 1\n"
                "[[account]]\nid = 2\nfirm = 1\n")
    assert h.code(qty=100, price=100 * P) == 0                  # margin $5,000 (50 % of $10,000)
    assert h.code(qty=1, price=100 * P) == -117
    assert h.risk.account(1)["margin"] == 5000 * P
    assert h.code(account_id=2, symbol_id=1, qty=20, price=100 * P) == 0   # $2,000 at 100 %
    assert h.code(account_id=2, symbol_id=1, qty=1, price=100 * P) == -122  # firm at $7,000
    # a sell against the working buy does not raise the worst case: accepted
    assert h.code(side=2, qty=50, price=101 * P) == 0


def test_order_and_message_throttles_on_command_time():
    h = Harness("[defaults.account]\norder_rate = { per_second = 10, burst = 3 }\n"
                "message_rate = { per_second = 1000, burst = 5 }\n")
    assert [h.code(price=90 * P) for _ in range(4)] == [0, 0, 0, -118]
    assert h.code(price=90 * P, dt=100_000_000) == 0               # 100 ms later: one token back
    # messages: 5 already used in this burst window (the reject counted too); cancels count
    h2 = Harness("[defaults.account]\nmessage_rate = { per_second = 1000, burst = 3 }\n")
    assert [h2.code(price=90 * P) for _ in range(3)] + [h2.code(2, order_id=1)] == [0, 0, 0, -119]
    assert h2.code(2, order_id=1, dt=1_000_000) == 0


def test_firm_throttles():
    h = Harness("[[firm]]\nid = 1\norder_rate = { per_second = 1, burst = 2 }\n"
                "message_rate = { per_second = 1, burst = 4 }\n"
                "[[account]]\nid = 1\nfirm = 1\n[[account]]\nid = 2\nfirm = 1\n")
    assert [h.code(account_id=1, price=90 * P), h.code(account_id=2, price=90 * P),
            h.code(account_id=1, price=90 * P)] == [0, 0, -123]
    assert h.code(2, account_id=1, order_id=1) == 0      # 4th message of the firm: last of the burst
    assert h.code(2, account_id=2, order_id=2) == -124   # 5th


def test_cancel_on_disconnect_flag_per_session():
    h = Harness("[[session]]\nid = 5\ncancel_on_disconnect = false\n")
    h.send(session_id=5, price=90 * P)
    h.send(session_id=6, price=91 * P)
    assert h.code(6, session_id=5) == -125               # orders of session 5 stay
    assert h.risk.account(1)["open_orders"] == 2
    ev = h.send(6, session_id=6)
    assert (ev["kind"] == 4).sum() == 1 and ev["reason"][ev["kind"] == 4][0] == 6
    assert h.risk.account(1)["open_orders"] == 1


def test_order_table_full():
    h = Harness("[sizes]\nmax_orders = 3\n")
    assert [h.code(price=90 * P) for _ in range(4)] == [0, 0, 0, -126]


# ------------------------------------------------------------ exposure follows events ----
def test_working_exposure_follows_acks_fills_cancels_modifies():
    h = Harness("[defaults.symbol]\nmargin_pct = 10\n")
    h.send(8, symbol_id=0, price=100 * P)
    h.send(account_id=1, side=1, qty=100, price=99 * P)             # id 1 rests
    c = h.risk.cell(1, 0)
    assert (c["buy_qty"], c["buy_notional"], c["worst_qty"]) == (100, 100 * 99 * P, 100)
    h.send(account_id=2, side=2, qty=30, price=99 * P, ord_type=1, tif=3)   # fills 30
    c = h.risk.cell(1, 0)
    assert (c["pos"], c["buy_qty"], c["worst_qty"]) == (30, 70, 100)
    assert h.risk.cell(2, 0)["pos"] == -30 and h.risk.account(2)["open_orders"] == 0
    assert h.risk.order(1)["leaves"] == 70 and h.risk.order(1)["filled"] == 30
    h.send(3, order_id=1, qty=50, price=98 * P)                    # leaves 20 at $98
    c = h.risk.cell(1, 0)
    assert (c["buy_qty"], c["buy_notional"]) == (20, 20 * 98 * P)
    h.send(2, order_id=1)
    c = h.risk.cell(1, 0)
    assert (c["buy_qty"], c["buy_notional"], c["pos"]) == (0, 0, 30)
    assert h.risk.order(1)["state"] == "done" and h.risk.account(1)["open_orders"] == 0
    # the last trade ($99) marks the position: exposure 30 x $99, margin 10 %
    assert c["exposure"] == 30 * 99 * P and c["margin"] == 30 * 99 * P // 10


def test_matching_reject_frees_the_id():
    h = Harness("")
    assert h.code(order_id=5, price=100 * P + 1) == -2    # PRICE_NOT_ON_TICK from matching
    assert h.risk.order(5) is None and h.risk.ot_live == 0
    assert h.code(order_id=5, price=100 * P) == 0


# ---------------------------------------------------------------- config ----
@pytest.mark.parametrize("toml,msg", [
    ("[defaults.account]\nmax_order_qty = -1\n", "defaults.account.max_order_qty: expected a non-negative integer"),
    ("[defaults.account]\nbuying_power = 1.00001\n", "has more than 4 decimals"),
    ("[defaults.account]\nmax_ordr_qty = 1\n", "defaults.account: unknown keys ['max_ordr_qty']"),
    ("[[account]]\nid = 1\npermissions = { \"0\" = [\"fly\"] }\n", "unknown permission 'fly'"),
    ("[[account]]\nid = 999\n", "account[0].id: must be an integer in [0, 64)"),
    ("[[symbol]]\nname = \"XYZ\"\n", "symbol[0]: needs an id, or a name known to the symbol table"),
    ("[defaults.account]\norder_rate = { per_second = 0 }\n", "order_rate.per_second: must be > 0"),
    ("[limits]\nx = 1\n", "unknown top-level keys: ['limits']"),
])
def test_config_errors(toml, msg):
    from engine.riskconfig import RiskConfig, RiskConfigError
    with pytest.raises(RiskConfigError) as e:
        RiskConfig.from_toml_string(toml)
    assert msg in str(e.value)


def test_example_config_loads_with_symbol_names():
    from pathlib import Path
    from engine.riskconfig import RiskConfig
    path = Path(__file__).resolve().parents[1] / "docs" / "examples" / "risk.toml"
    cfg = RiskConfig.from_toml(path, symbols={"AAPL": 0, "MSFT": 1, "TSLA": 2})
    assert cfg.symbols[0].name == "AAPL" and cfg.symbols[0].reference_price == 190 * P + 2500
    assert cfg.accounts[101].limits.max_order_qty == 2000
    assert cfg.accounts[101].permissions[2] == 1 | 2
    from engine.risk import RiskEngine
    RiskEngine(cfg)
