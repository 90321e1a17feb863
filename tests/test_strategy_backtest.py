"""The strategy library on real and generated days: the books it sees, the example strategies and their
limits at every step, the simulated venue's fill model, and the command line."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import tomllib

import pytest
from hypothesis import given, settings, strategies as st

from book.reference import ReferenceBook
from strategy.backtest import SimVenue, run_backtest
from strategy.base import ConfigError, Strategy
from strategy.examples.market_maker import MarketMaker
from strategy.examples.momentum import Momentum
from strategy.ports import Book, ExecKind, Flag, Liquidity, OrdType, Side, Tif, Trade
from tests.conftest import ROOT

REAL = "itch50/12302019_SNIPPET.NASDAQ_ITCH50"
RITCH = "itch50/RITCH_synthetic_3stocks.NASDAQ_ITCH50"
CONFIGS = ROOT / "docs" / "examples" / "strategies"


def config(name: str, **over) -> dict:
    with open(CONFIGS / f"{name}.toml", "rb") as f:
        cfg = tomllib.load(f)
    for key, value in over.items():
        section, _, k = key.rpartition("__")
        (cfg.setdefault(section, {}) if section else cfg)[k] = value
    return cfg


@pytest.fixture(scope="module")
def generated_day(tmp_path_factory):
    from lab.daygen import generate_day

    path = tmp_path_factory.mktemp("strategy") / "day.bin"
    generate_day(str(path), 40_000, 5, 11)
    return path


# ------------------------------------------------------------ book fidelity ----
class Recorder(Strategy):
    def configure(self, params):
        self.seen = []

    def on_book(self, book):
        self.seen.append(book)


def frames(buf: bytes):
    off, n = 0, len(buf)
    while off + 2 <= n:
        (ln,) = struct.unpack_from(">H", buf, off)
        yield buf[off + 2: off + 2 + ln]
        off += 2 + ln


@pytest.mark.parametrize("day,every", [(REAL, 1), (RITCH, 7)])
def test_strategy_sees_the_builders_book(data_dir, day, every):
    """Each Book is the BookBuilder's at that event, and an independent reference book fed the same
    messages up to that event's sequence number has the same depth."""
    levels = 5
    strat = Recorder({"symbols": ["*"]})
    samples = []

    def check(src, kind, sym, loc):
        if kind != 1:
            return
        book = strat.seen[-1]
        assert book.symbol == sym
        assert (book.bids, book.asks) == src.books.depth(loc, levels)      # the builder's, at this moment
        if len(strat.seen) % every == 0:
            samples.append((book.seq, loc, book))

    run_backtest(strat, data_dir / day, levels=levels, after_event=check)
    assert len(samples) > 20
    ref = ReferenceBook()
    want = iter(samples)
    seq, loc, book = next(want)
    compared = 0
    for i, msg in enumerate(frames((data_dir / day).read_bytes()), 1):
        ref.apply_message(msg, seq=i)
        while seq == i:
            assert book.seq == i
            assert ref.depth(loc, levels) == (book.bids, book.asks), f"seq {i} {book.symbol}"
            compared += 1
            nxt = next(want, None)
            if nxt is None:
                seq = -1
                break
            seq, loc, book = nxt
    assert compared == len(samples)


class StatusRecorder(Strategy):
    def configure(self, params):
        self.log = []

    def on_status(self, st):
        self.log.append(("status", st.symbol, st.trading_state, st.feed_state))

    def on_book(self, book):
        self.log.append(("book", book.symbol))

    def on_trade(self, trade):
        self.log.append(("trade", trade.symbol))


@pytest.mark.parametrize("day", [RITCH, "generated"])
def test_status_before_first_book_and_feed_up_end(data_dir, generated_day, day):
    from strategy.ports import FeedState, TradingState

    strat = StatusRecorder({"symbols": ["*"]})
    run_backtest(strat, generated_day if day == "generated" else data_dir / day)
    log = strat.log
    assert log[0] == ("status", None, TradingState.UNKNOWN, FeedState.UP)
    assert log[-1] == ("status", None, TradingState.UNKNOWN, FeedState.END)
    first = {}
    for i, (what, sym, *rest) in enumerate(log[1:-1]):
        first.setdefault(sym, (what, rest))
    assert first and all(w == "status" and rest[0] == TradingState.TRADING for w, rest in first.values())


# ------------------------------------------------------ examples and limits ----
def run_checked(strat, path):
    """Backtest with the strategy's limits checked after every event and every execution report."""
    steps = [0]

    def check(src, kind, sym, loc):
        steps[0] += 1
        assert strat.limit_violations() == [], f"event {steps[0]}"
        # every report delivered: the strategy's working orders are exactly the venue's open ones
        assert {cl: (o.side, o.price, o.leaves) for cl, o in strat.orders.items()} == \
            {o.cl: (o.side, o.price, o.leaves) for o in src.venue.open_orders()}, f"event {steps[0]}"

    orig = strat.handle_execution

    def handle_execution(ex):
        orig(ex)
        assert strat.limit_violations() == [], f"after {ex}"
        strat.peak = max([getattr(strat, "peak", 0)] + [abs(p.qty) for p in strat.positions.values()])

    strat.handle_execution = handle_execution
    r = run_backtest(strat, path, after_event=check)
    assert steps[0] == r["delivered_events"] > 0
    assert r["limit_violations"] == []
    return r


@pytest.mark.parametrize("cls,name", [(MarketMaker, "market_maker"), (Momentum, "momentum")])
def test_examples_on_the_real_day(data_dir, cls, name):
    r = run_checked(cls(config(name)), data_dir / REAL)
    assert r["venue"]["new"] > 0 and r["venue"]["acks"] > 0
    r = run_checked(cls(config(name)), data_dir / RITCH)
    assert r["venue"]["new"] > 0 and r["venue"]["fills"] > 0


@pytest.mark.parametrize("cls,name", [(MarketMaker, "market_maker"), (Momentum, "momentum")])
def test_examples_on_a_generated_day(generated_day, cls, name):
    r = run_checked(cls(config(name)), generated_day)
    v = r["venue"]
    assert v["new"] > 10 and v["fills"] > 10
    kind = "maker_fills" if cls is MarketMaker else "taker_fills"
    assert v[kind] == v["fills"]                # quotes only make (post-only), momentum only takes (IOC)
    assert sum(p["fills"] for p in r["positions"].values()) == v["fills"]


def test_market_maker_inventory_limit_binds(generated_day):
    cfg = config("market_maker", limits__max_position=200, params__max_inventory=200, params__quote_size=100)
    strat = MarketMaker(cfg)
    r = run_checked(strat, generated_day)
    assert r["venue"]["fills"] > 0
    assert all(abs(p["qty"]) <= 200 for p in r["positions"].values())
    assert 150 < strat.peak <= 200              # it got near the limit, never past it


def test_loss_limit_halts_and_nothing_follows(generated_day):
    strat = Momentum(config("momentum", limits__max_loss=1.0))
    r = run_checked(strat, generated_day)
    assert r["halted"] and "loss limit" in r["halted"]
    assert strat.stats["orders"] == strat.orders_at_halt > 0
    assert strat.pnl() < -10_000 and r["venue"]["open_at_end"] == 0
    assert strat.buy(next(iter(strat.positions)), 1, 1_0000) is None and strat.refused == {"HALTED": 1}


# ----------------------------------------------------------------- venue ----
class Sink(Strategy):
    def configure(self, params):
        self.reports = []

    def on_execution(self, ex):
        self.reports.append(ex)


def venue_with(bids, asks):
    book = {"bids": bids, "asks": asks}
    v = SimVenue(lambda sym: (book["bids"], book["asks"]) if sym == "XYZ" else None)
    s = Sink({"symbols": ["XYZ"]})
    s.bind(v)
    return v, s, book


def test_venue_taker_walks_displayed_levels_once():
    v, s, _ = venue_with([(99_0000, 100, 1)], [(100_0000, 100, 1), (100_0100, 50, 1), (100_0300, 500, 2)])
    s.buy("XYZ", 200, 100_0100, tif=Tif.IOC)
    v.flush()
    kinds = [(r.kind, r.qty, r.price, r.liquidity) for r in s.reports]
    assert kinds == [(ExecKind.ACK, 200, 100_0100, Liquidity.NONE),
                     (ExecKind.FILL, 100, 100_0000, Liquidity.TAKER), (ExecKind.FILL, 50, 100_0100, Liquidity.TAKER),
                     (ExecKind.CANCELLED, 50, 100_0100, Liquidity.NONE)]
    assert s.reports[-1].reason_name == "IOC_REMAINDER"
    s.reports.clear()
    s.buy("XYZ", 100, 100_0100, tif=Tif.FOK)       # the two levels were taken already
    v.flush()
    assert [(r.kind, r.reason_name) for r in s.reports] == [(ExecKind.REJECT, "FOK_NOT_FILLABLE")]
    assert s.position("XYZ") == 150


def test_venue_rejects_with_engine_codes():
    v, s, _ = venue_with([(99_0000, 100, 1)], [(100_0000, 100, 1)])
    s.buy("XYZ", 100, 100_0000, flags=Flag.POST_ONLY)
    s.buy("XYZ", 100, 99_0050)
    s.sell("XYZ", 100, 0, ord_type=OrdType.MARKET, tif=Tif.GTC)
    s.sell("XYZ", 100, 101_0000, ord_type=OrdType.STOP)
    v.flush()
    assert [r.reason_name for r in s.reports] == ["POST_ONLY_WOULD_CROSS", "PRICE_NOT_ON_TICK", "INVALID_TIF_TYPE",
                                                  "INVALID_TYPE"]
    assert all(r.kind == ExecKind.REJECT and r.reason < 0 for r in s.reports)
    assert s.open_orders() == []


def test_venue_resting_order_waits_its_turn_and_fills_through():
    v, s, book = venue_with([(99_0000, 300, 3)], [(100_0000, 100, 1)])
    cl = s.buy("XYZ", 100, 99_0000)
    v.flush()
    v.on_trade(Trade("XYZ", 99_0000, 250, Side.BUY))           # 250 of the 300 ahead
    v.on_trade(Trade("XYZ", 99_0000, 100, Side.BUY))           # 50 ahead, then 50 for us
    v.flush()
    fills = [r for r in s.reports if r.kind == ExecKind.FILL]
    assert [(f.qty, f.price, f.liquidity) for f in fills] == [(50, 99_0000, Liquidity.MAKER)]
    v.on_trade(Trade("XYZ", 98_0000, 10, Side.BUY))            # a print through our price
    v.flush()
    assert s.orders[cl].leaves == 40
    book["asks"] = [(99_0000, 30, 1)]                           # the offer comes down to our bid
    v.on_book(Book("XYZ", book["bids"], book["asks"]))
    v.flush()
    assert s.orders[cl].leaves == 10 and s.position("XYZ") == 90
    s.cancel(cl)
    s.cancel(cl + 1)
    v.send_cancel(999)
    v.flush()
    assert [(r.kind, r.reason_name) for r in s.reports[-2:]] == [(ExecKind.CANCELLED, "REQUESTED"),
                                                                 (ExecKind.CANCEL_REJECT, "UNKNOWN_ORDER")]
    assert s.open_orders() == []


# ------------------------------------------------------------------ config ----
@pytest.mark.parametrize("cfg,key", [
    ({}, "symbols"),
    ({"symbols": "AAPL"}, "symbols"),
    ({"symbols": ["*"], "limit": {}}, "limit"),
    ({"symbols": ["*"], "limits": {"max_position": "lots"}}, "limits.max_position"),
    ({"symbols": ["*"], "limits": {"max_loss": 0.00001}}, "limits.max_loss"),
    ({"symbols": ["*"], "limits": {"max_open": 3}}, "limits.max_open"),
    ({"symbols": ["*"], "params": {"qty": 0}}, "params.qty"),
    ({"symbols": ["*"], "params": {"quantity": 5}}, "params.quantity"),
    ({"symbols": ["*"], "params": {"max_hold_ms": 5}}, "params.max_hold_ms"),
    ({"symbols": ["*"], "limits": {"max_order_qty": 10}, "params": {"qty": 100}}, "params.qty"),
])
def test_bad_config_names_key_and_reason(cfg, key):
    with pytest.raises(ConfigError) as e:
        Momentum(cfg)
    assert e.value.key == key and str(e.value).startswith(f"config: {key}: ")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "tickwire", "strategy", "backtest", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("text", [
    'symbols = ["*"]\n[params]\nqty = -1\n',
    'symbols = ["*"\n',
    'symbols = ["*"]\nbogus = 1\n',
    'symbols = ["*"]\n[limits]\nmax_loss = "ten"\n',
])
def test_cli_bad_config_is_one_line_exit_2(tmp_path, data_dir, text):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    p = cli("strategy.examples.momentum:Momentum", "--config", cfg, data_dir / REAL)
    assert p.returncode == 2, p.stderr
    assert p.stdout == "" and p.stderr.count("\n") == 1 and "config" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("target", ["nope", "no.such.module:X", "strategy.examples.momentum:Nope",
                                    "strategy.base:ConfigError"])
def test_cli_bad_target_exit_2(data_dir, target):
    p = cli(target, "--config", CONFIGS / "momentum.toml", data_dir / REAL)
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr


def test_cli_backtest_json_and_text(data_dir):
    p = cli("strategy.examples.momentum:Momentum", "--config", CONFIGS / "momentum.toml", data_dir / RITCH, "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["messages"] == 12_012 and r["venue"]["fills"] > 0 and r["limit_violations"] == []
    assert sum(p["total"] for p in r["positions"].values()) == r["pnl"]
    p = cli("strategy.examples.market_maker:MarketMaker", "--config", CONFIGS / "market_maker.toml", data_dir / REAL)
    assert p.returncode == 0 and "rejects:" in p.stdout and "P&L total" in p.stdout, p.stderr
    p = cli("strategy.examples.momentum:Momentum", "--config", CONFIGS / "momentum.toml",
            data_dir / "bad_input" / "bist_itch_moldudp64_sample.dat")
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "ITCH_E_NOT_ITCH50" in p.stderr


def test_trading_state_change_is_delivered(tmp_path):
    from strategy.ports import TradingState
    from testing import itchgen as g

    day = tmp_path / "halt.bin"
    day.write_bytes(g.binaryfile([
        g.system_event("O", ts=1), g.directory(1, "TEST", ts=2), g.trading_action(1, "TEST", "T", ts=3),
        g.add(1, "B", 100, 99_0000, ts=10), g.add(2, "S", 100, 100_0000, ts=11),
        g.trading_action(1, "TEST", "H", "LUDP", ts=20), g.delete(2, ts=21),
        g.trading_action(1, "TEST", "T", ts=30), g.add(3, "S", 200, 100_0100, ts=31),
    ]))
    strat = StatusRecorder({"symbols": ["TEST"]})
    statuses = []
    strat.on_status = lambda st: statuses.append((st.symbol, st.trading_state, st.reason, st.ts_ns))
    run_backtest(strat, day)
    assert [s for s in statuses if s[0]] == [("TEST", TradingState.TRADING, "", 3),
                                             ("TEST", TradingState.HALTED, "LUDP", 20),
                                             ("TEST", TradingState.TRADING, "", 30)]


def test_own_limits_refuse_with_codes():
    from core import codes

    v, s, _ = venue_with([(99_0000, 100, 1)], [(100_0000, 100, 1)])
    s.__init__({"symbols": ["XYZ"], "limits": {"max_order_qty": 300, "max_position": 400, "max_open_orders": 2,
                                               "max_notional": 20_000}})
    s.bind(v)
    assert s.buy("XYZ", 301, 50_0000) is None and s.last_refusal == codes.STRAT_E_MAX_ORDER_QTY
    assert s.buy("XYZ", 300, 90_0000) is None and s.last_refusal == codes.STRAT_E_MAX_NOTIONAL
    a = s.buy("XYZ", 300, 50_0000)
    assert s.buy("XYZ", 101, 50_0000) is None and s.last_refusal == codes.STRAT_E_MAX_POSITION   # 300 working
    assert s.buy("XYZ", 100, 50_0000) is not None
    assert s.sell("XYZ", 100, 150_0000) is None and s.last_refusal == codes.STRAT_E_MAX_OPEN_ORDERS
    assert s.buy("ABC", 1, 50_0000) is None and s.last_refusal == codes.STRAT_E_SYMBOL_NOT_CONFIGURED
    v.flush()
    assert not s.modify(a, 301, 50_0000) and s.last_refusal == codes.STRAT_E_MAX_ORDER_QTY
    assert s.refused == {"MAX_ORDER_QTY": 2, "MAX_NOTIONAL": 1, "MAX_POSITION": 1, "MAX_OPEN_ORDERS": 1,
                         "SYMBOL_NOT_CONFIGURED": 1}
    s.halt("test")
    v.flush()
    assert s.open_orders() == [] and s.buy("XYZ", 1, 50_0000) is None and s.last_refusal == codes.STRAT_E_HALTED


class Runaway(Strategy):
    def on_book(self, book):
        self.port.send_cancel(10 ** 9)

    def on_execution(self, ex):
        self.port.send_cancel(10 ** 9)                  # answers every reject with another request


def test_runaway_strategy_stops_the_backtest(data_dir):
    from strategy.backtest import BacktestError

    with pytest.raises(BacktestError) as e:
        run_backtest(Runaway({"symbols": ["*"]}), data_dir / RITCH)
    assert e.value.name == "STRAT_E_RUNAWAY"


def test_pcap_and_binaryfile_of_the_same_day_trade_the_same(tmp_path):
    """The recorded day as a MoldUDP64 pcap gives the strategy the same books, so the same trading."""
    from lab.daygen import generate_day

    generate_day(str(tmp_path / "d.bin"), 20_000, 3, 5)
    generate_day(str(tmp_path / "d.pcap"), 20_000, 3, 5, pcap=True)
    runs = []
    for name in ("d.bin", "d.pcap"):
        r = run_backtest(Momentum(config("momentum")), tmp_path / name)
        runs.append((r["messages"], r["venue"], r["positions"], r["pnl"]))
    assert runs[0] == runs[1] and runs[0][1]["fills"] > 0


def test_configured_symbol_missing_from_the_day_is_named(data_dir):
    r = run_backtest(Momentum(config("momentum", symbols=["CHAR", "NOPE"])), data_dir / RITCH)
    assert r["symbols_not_in_day"] == ["NOPE"] and set(r["positions"]) <= {"CHAR"}

prices = st.integers(95, 105).map(lambda t: t * 1_0000)
actions = st.lists(st.one_of(
    st.tuples(st.just("new"), st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 400), prices,
              st.sampled_from([Tif.DAY, Tif.IOC, Tif.FOK]), st.sampled_from([0, Flag.POST_ONLY])),
    st.tuples(st.just("cancel"), st.integers(1, 30)),
    st.tuples(st.just("modify"), st.integers(1, 30), st.integers(1, 400), prices),
    st.tuples(st.just("trade"), prices, st.integers(1, 300)),
    st.tuples(st.just("book"), st.integers(-3, 3)),
), max_size=40)


@settings(max_examples=200, deadline=None)
@given(actions)
def test_venue_conserves_quantity_and_respects_limits(acts):
    bids0 = [(100_0000 - i * 1_0000, 200, 2) for i in range(5)]
    asks0 = [(101_0000 + i * 1_0000, 200, 2) for i in range(5)]
    v, s, book = venue_with(list(bids0), list(asks0))
    for a in acts:
        if a[0] == "new":
            _, side, qty, px, tif, flags = a
            (s.buy if side == Side.BUY else s.sell)("XYZ", qty, px, tif=tif,
                                                      flags=flags if tif == Tif.DAY else 0)
        elif a[0] == "cancel":
            s.cancel(a[1])
        elif a[0] == "modify":
            s.modify(a[1], a[2], a[3])
        elif a[0] == "trade":
            v.on_trade(Trade("XYZ", a[1], a[2]))
        else:                                          # the recorded market moves by whole dollars
            d = a[1] * 1_0000
            book["bids"] = [(p + d, n, c) for p, n, c in bids0]
            book["asks"] = [(p + d, n, c) for p, n, c in asks0]
            v.on_book(Book("XYZ", book["bids"], book["asks"]))
        v.flush()
    per = {}
    for r in s.reports:
        per.setdefault(r.cl_ord_id, []).append(r)
    for cl, o in v.orders.items():
        reps = per[cl]
        filled = sum(r.qty for r in reps if r.kind == ExecKind.FILL)
        assert filled == o.filled and o.filled + o.leaves <= o.qty
        assert (o.leaves > 0) == o.open == (cl in s.orders)
        for r in reps:
            if r.kind == ExecKind.FILL:
                assert r.qty > 0
                # never filled worse than the limit price it had at the time (buys at or below, sells at or above)
                assert r.price <= max(x.price for x in reps if x.kind in (ExecKind.ACK, ExecKind.MODIFY_ACK)) \
                    if o.side == Side.BUY else \
                    r.price >= min(x.price for x in reps if x.kind in (ExecKind.ACK, ExecKind.MODIFY_ACK))
    # taken liquidity never exceeds what is displayed at a level
    for (side, px), n in v.consumed.get("XYZ", {}).items():
        shown = dict((p, sh) for p, sh, _ in (book["bids"] if side == Side.BUY else book["asks"]))
        assert n <= shown.get(px, 0)
    pos = s.positions.get("XYZ")
    if pos is not None:
        bought = sum(r.qty for r in s.reports if r.kind == ExecKind.FILL and r.side == Side.BUY)
        sold = sum(r.qty for r in s.reports if r.kind == ExecKind.FILL and r.side == Side.SELL)
        assert pos.qty == bought - sold
