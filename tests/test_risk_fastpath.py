"""Risk hot-path internals: the entry hint, the single probe of check-then-insert, the loop's
prefetch hook and the padded cell rows must not change a single result or state byte."""
from __future__ import annotations

import numpy as np

from messaging.records import COMMAND_DTYPE

P = 10_000


def _setup(toml="", max_symbols=8, max_orders=4096):
    from engine.recovery import EngineSetup
    from engine.riskconfig import RiskConfig
    setup = EngineSetup(symbols={s: 100 for s in range(4)}, risk_config=RiskConfig.from_toml_string(toml),
                        max_orders=max_orders, max_symbols=max_symbols)
    eng, risk, pos = setup.fresh()
    return setup, setup.loop(eng, risk, pos), risk


def _cmds(rows):
    c = np.zeros(len(rows), COMMAND_DTYPE)
    for k, r in enumerate(rows):
        base = {"seq": k + 1, "ts_ns": 10**9 + k, "account_id": 1, "symbol_id": 0, "side": 1, "ord_type": 1,
                "tif": 2, "qty": 100, "price": 100 * P}
        for f, v in {**base, **r}.items():
            c[k][f] = v
    return c


def _stream(n, seed, accounts=6, symbols=4):
    rng = np.random.default_rng(seed)
    rows, ids = [], []
    for k in range(n):
        kind = rng.random()
        a = int(rng.integers(1, accounts + 1))
        if kind < 0.55 or not ids:
            oid = k + 1 if rng.random() > 0.05 or not ids else ids[int(rng.integers(len(ids)))][0]  # some duplicates
            rows.append({"action": 1, "order_id": oid, "account_id": a, "symbol_id": int(rng.integers(symbols)),
                         "side": int(rng.integers(1, 3)), "qty": int(rng.choice([10, 100, 300])),
                         "tif": int(rng.choice([2, 3])),
                         "price": 100 * P + int(rng.integers(-5, 6)) * 100 + (1 if rng.random() < 0.03 else 0)})
            ids.append((oid, a))
        elif kind < 0.75:
            oid, own = ids[int(rng.integers(len(ids)))]
            rows.append({"action": 2, "order_id": oid, "account_id": own})
        elif kind < 0.9:
            oid, own = ids[int(rng.integers(len(ids)))]
            rows.append({"action": 3, "order_id": oid, "account_id": own, "qty": int(rng.choice([50, 200])),
                         "price": 100 * P + int(rng.integers(-5, 6)) * 100})
        elif kind < 0.97:
            rows.append({"action": 8, "symbol_id": int(rng.integers(symbols)),
                         "price": 100 * P + int(rng.integers(-5, 6)) * 100})
        else:
            rows.append({"action": 5})                                  # end of day: the table is rebuilt
    return _cmds(rows)


TOML = """
[sizes]
max_accounts = 16
max_symbols = 8
[defaults.account]
max_open_orders = 40
max_net_position = 2000
buying_power = 40_000
concentration_pct = 70
concentration_min_gross = 30_000
[defaults.symbol]
margin_pct = 20
"""


def test_batch_and_one_by_one_agree_and_state_is_valid():
    """Batch runs use the prefetch hook and keep the hint across commands; one-by-one runs do not."""
    cmds = _stream(1500, 3)
    _, l1, r1 = _setup(TOML)
    ev1 = l1.run_all(cmds)
    _, l2, r2 = _setup(TOML)
    ev2 = [l2.run_all(cmds[k:k + 1]) for k in range(len(cmds))]
    r2.validate_internal_state()
    assert r1.validate_internal_state()
    assert ev1.tobytes() == np.concatenate(ev2).tobytes()
    assert r1.dump_state() == r2.dump_state()
    assert r1.rejected > 0 and len(r1.reject_counts()) >= 3


def test_end_of_day_then_events_of_surviving_orders():
    """The hint must not point into the table END_OF_DAY frees: a cancel after it releases the exposure."""
    _, loop, risk = _setup()
    loop.run_all(_cmds([{"action": 1, "order_id": 7, "price": 99 * P}]))     # rests: its entry is the hint
    loop.run_all(_cmds([{"seq": 2, "action": 5}]))
    assert risk.order(7)["state"] == "open" and risk.cell(1, 0)["buy_qty"] == 100
    loop.run_all(_cmds([{"seq": 3, "action": 2, "order_id": 7}]))
    assert risk.order(7)["state"] == "done" and risk.cell(1, 0)["buy_qty"] == 0
    assert risk.account(1)["open_orders"] == 0
    risk.validate_internal_state()


def test_rejected_id_tombstone_is_reused_by_the_single_probe():
    _, loop, risk = _setup("[sizes]\nmax_orders = 2\n")
    ev = loop.run_all(_cmds([{"action": 1, "order_id": 5, "price": 100 * P + 1}]))   # matching rejects: tombstone
    assert ev["reason"][0] == -2 and risk.order(5) is None
    for k, oid in enumerate((5, 6), 2):                                  # reuse the tombstone, then one more
        assert loop.run_all(_cmds([{"seq": k, "action": 1, "order_id": oid, "price": 90 * P}]))["reason"][0] == 0
    ev = loop.run_all(_cmds([{"seq": 9, "action": 1, "order_id": 8, "price": 90 * P}]))
    assert ev["reason"][0] == -126                                       # RISK_ORDER_TABLE_FULL
    ev = loop.run_all(_cmds([{"seq": 10, "action": 1, "order_id": 6, "price": 90 * P}]))
    assert ev["reason"][0] == -5                                         # duplicate id found by the probe
    risk.validate_internal_state()


def test_dump_load_roundtrip_with_padded_cell_rows():
    """Cells are stored in rows padded to an odd length; dump_state keeps the [account x symbol] layout."""
    from engine.risk import CELL_DTYPE, RiskEngine
    setup, loop, risk = _setup(TOML, max_symbols=8)
    loop.run_all(_stream(600, 11))
    d = risk.dump_state()
    cells = np.frombuffer(risk._cells_bytes(), CELL_DTYPE).reshape(risk.n_accounts, risk.n_symbols)
    for a in range(risk.n_accounts):
        for s in range(risk.n_symbols):
            assert dict(zip(CELL_DTYPE.names, cells[a, s].tolist())) == risk.cell(a, s)
    assert cells["pos"].any() and cells["buy_qty"].any()
    r2 = RiskEngine(risk.config)
    r2.load_state(d)
    assert r2.dump_state() == d and r2.state_digest() == risk.state_digest()
    r2.validate_internal_state()


def _ev(**kw):
    from messaging.records import EVENT_DTYPE
    e = np.zeros(1, EVENT_DTYPE)
    for f, v in kw.items():
        e[f] = v
    return e


def test_ack_reuses_the_check_only_when_the_same():
    """The ack takes the figures its check computed unless something changed in between: the mark
    (a trade moved the reference price without touching this cell) or the cell (a fill), or the
    acked leaves differ from the checked qty. Every case must equal an ack of an unchecked order."""
    from engine.risk import RiskEngine
    from engine.riskconfig import RiskConfig
    cfg = RiskConfig.from_toml_string(TOML)
    new = _cmds([{"action": 1, "order_id": 9, "qty": 100, "price": 100 * P}])
    seed_fill = _ev(kind=3, order_id=0, account_id=1, symbol_id=0, side=1, qty=50, price=100 * P, maker_account_id=2)
    between = {
        "nothing": None,
        "mark moved": _ev(kind=3, order_id=0, account_id=99, maker_account_id=99, symbol_id=0, side=1, qty=1,
                          price=104 * P),                                   # accounts unknown: ref only
        "cell changed": _ev(kind=3, order_id=0, account_id=1, maker_account_id=3, symbol_id=0, side=1, qty=10,
                            price=100 * P),
    }
    for name, ev in between.items():
        for leaves in (100, 60):
            engines = []
            for checked in (True, False):
                r = RiskEngine(cfg)
                r.on_events(seed_fill)
                if checked:
                    assert r.check_command(new) == 0
                if ev is not None:
                    r.on_events(ev)
                r.on_events(_ev(kind=1, order_id=9, account_id=1, symbol_id=0, side=1, qty=100, leaves_qty=leaves,
                                price=100 * P))
                r.validate_internal_state()
                engines.append(r)
            a, b = engines
            assert a.cell(1, 0) == b.cell(1, 0), (name, leaves)
            assert a.account(1) == b.account(1) and a.firm(0) == b.firm(0), (name, leaves)
            assert a.order(9) == b.order(9) and a.cell(1, 0)["buy_qty"] == leaves
            assert a.debug_violations == 0


def test_loop_calls_the_engine_directly_or_through_the_adapter():
    """RiskEngine is a RiskHook: EngineLoop(risk=engine) and EngineLoop(risk=RiskAdapter(engine)) agree."""
    from engine.hooks import RiskAdapter
    from engine.loop import EngineLoop
    from engine.risk import RiskEngine
    from engine.riskconfig import RiskConfig
    cmds = _stream(1500, 5)
    out = []
    for wrap in (False, True):
        r = RiskEngine(RiskConfig.from_toml_string(TOML))
        hook = RiskAdapter(r) if wrap else r
        loop = EngineLoop(risk=hook, max_orders=4096, max_symbols=8)
        for s in range(4):
            loop.engine.add_symbol(s, 100)
        assert loop.risk is hook
        out.append((loop.run_all(cmds).tobytes(), r.dump_state(), loop.stats()["risk_rejects"]))
        r.validate_internal_state()
    assert out[0] == out[1] and out[0][2] > 0
