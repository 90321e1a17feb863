"""The Cython-level strategy path (strategy/fast.pyx): the example FastTaker makes the same orders as its
plain-Python twin (strategy.examples.taker) on the same recorded day, its NewOrders are valid SBE with the
session's seq numbers and the market data's stamps, and it refuses what it must (codes counted)."""
from __future__ import annotations

import pytest

from messaging import sbe
from strategy.backtest import run_backtest
from strategy.examples.fast_taker import FastTaker
from strategy.examples.taker import Taker
from strategy.ports import ExecKind, Side, Tif

PARAMS = {"qty": 100, "min_spread_ticks": 2, "max_position": 200, "min_interval_us": 20}
_REPORT = {ExecKind.ACK: "Ack", ExecKind.FILL: "Fill", ExecKind.CANCELLED: "Cancelled", ExecKind.REJECT: "Reject",
           ExecKind.EXPIRED: "Expired"}


class RecordingTaker(Taker):
    """The twin, logging what it sees (BBOs, executions) and the orders it sends, in order."""

    def configure(self, p):
        super().configure(p)
        self.log = []
        self.sent = []

    def handle_book(self, book):
        self.log.append(("bbo", book))
        super().handle_book(book)

    def handle_execution(self, ex):
        self.log.append(("ex", ex))
        super().handle_execution(ex)

    def _new(self, symbol, side, qty, price, ord_type, tif, flags):
        cl = super()._new(symbol, side, qty, price, ord_type, tif, flags)
        if cl is not None:
            self.sent.append((cl, symbol, int(side), qty, price, int(tif)))
        return cl


@pytest.fixture(scope="module")
def twin_run(tmp_path_factory):
    from lab.daygen import generate_day

    path = tmp_path_factory.mktemp("fast") / "day.bin"
    generate_day(str(path), 40_000, 5, 11)
    t = RecordingTaker({"symbols": ["*"], "params": PARAMS})
    run_backtest(t, path)
    return t


def bbo_bytes(book, locate, stream_seq):
    return sbe.encode("BboUpdate", feed_seq=book.seq, exch_ts=book.ts_ns, rx_ts=0, stream_seq=stream_seq,
                      symbol=book.symbol, bid_px=book.bid_px, ask_px=book.ask_px,
                      bid_qty=book.bids[0][1] if book.bids else 0, ask_qty=book.asks[0][1] if book.asks else 0,
                      bid_orders=book.bids[0][2] if book.bids else 0, ask_orders=book.asks[0][2] if book.asks else 0,
                      locate=locate, timing={"send_ns": 11, "rx_ns": 12, "book_ns": 13, "md_pub_ns": 14})


def report_bytes(ex, seq):
    name = _REPORT[ex.kind]
    f = {"seq": seq, "order_id": ex.cl_ord_id, "ts": ex.ts_ns, "session_id": 1}
    if name == "Fill":
        f.update(match_id=ex.match_id, price=ex.price, qty=ex.qty, leaves=ex.leaves, symbol_id=0, side=int(ex.side),
                 liquidity=int(ex.liquidity) or 2)
    elif name == "Ack":
        f.update(price=ex.price, qty=ex.qty, leaves=ex.leaves, symbol_id=0, side=int(ex.side))
    elif name == "Cancelled":
        f.update(qty=ex.qty, leaves=ex.leaves, reason=ex.reason or 2)
    elif name == "Expired":
        f.update(qty=ex.qty, reason=ex.reason or 1)
    elif name == "Reject":
        f.update(code=ex.reason, code_name="X")
    return sbe.encode(name, **f)


def drive_fast(log, symbols):
    """FastTaker driven by the twin's event log: BBOs as BboUpdate messages, executions as reports."""
    f = FastTaker({"symbols": ["*"], "params": PARAMS})
    f.set_gateway_symbols(symbols)
    locate = {s: i + 1 for i, s in enumerate(symbols)}
    n = 0
    for kind, ev in log:
        if kind == "bbo":
            n += 1
            f.deliver_md(bbo_bytes(ev, locate[ev.symbol], n))
        elif ev.kind in _REPORT:
            f.deliver_report(report_bytes(ev, n))
    return f


def test_fast_taker_makes_the_twins_orders(twin_run):
    t = twin_run
    assert len(t.sent) >= 20, "the day must make the strategy trade"
    assert t.skipped["rate"] > 0 and t.skipped["position"] > 0, "both limits must bind on this day"
    assert t.stats["fills"] > 0 and t.stats["cancelled"] > 0
    symbols = sorted({ev.symbol for k, ev in t.log if k == "bbo"})
    f = drive_fast(t.log, symbols)
    got = []
    for raw in f.captured():
        m = sbe.decode(raw)
        assert m.name == "NewOrder"
        got.append((m.order_id, symbols[m.symbol_id], m.side, m.qty, m.price, m.tif))
    assert got == t.sent
    assert (f.skipped_rate, f.skipped_position) == (t.skipped["rate"], t.skipped["position"])
    c = f.counters()
    assert c["sent"] == len(t.sent) and c["md_gaps"] == 0 and c["reports_foreign"] == 0


def test_new_orders_carry_seq_and_stamps(twin_run):
    symbols = sorted({ev.symbol for k, ev in twin_run.log if k == "bbo"})
    f = drive_fast(twin_run.log[:2000], symbols)
    orders = [sbe.decode(r) for r in f.captured()]
    assert orders
    assert [m.seq for m in orders] == list(range(1, len(orders) + 1))
    for m in orders:
        t = m.timing
        assert (t["send_ns"], t["rx_ns"], t["book_ns"], t["md_pub_ns"]) == (11, 12, 13, 14)
        assert t["strat_rx_ns"] > 0 and t["order_tx_ns"] >= t["strat_rx_ns"]
        assert m.tif == int(Tif.IOC) and m.side in (int(Side.BUY), int(Side.SELL))


def test_refusals_are_counted_not_raised():
    f = FastTaker({"symbols": ["AAA"], "params": PARAMS})
    f.set_gateway_symbols(["ZZZ", "AAA"])
    book = sbe.encode("BboUpdate", feed_seq=1, exch_ts=1, rx_ts=0, stream_seq=1, symbol="BBB", bid_px=10000,
                      ask_px=10500, bid_qty=500, ask_qty=100, bid_orders=1, ask_orders=1, locate=7)
    f.deliver_md(book)                                   # not a gateway symbol: never delivered
    assert f.counters()["bbos"] == 0
    f.deliver_md(b"\x01\x02\x03")                        # malformed: counted
    f.deliver_md(sbe.encode("BboUpdate", feed_seq=2, exch_ts=2, rx_ts=0, stream_seq=5, symbol="AAA",
                            bid_px=10000, ask_px=10500, bid_qty=500, ask_qty=100, bid_orders=1, ask_orders=1,
                            locate=8))
    c = f.counters()
    assert c["md_refused"] == 1 and c["md_gaps"] == 1 and c["bbos"] == 1
    assert c["sent"] == 1                                 # a loss on the Aeron hop: the next BBO is whole again
    f.deliver_md(sbe.encode("FeedStatus", feed_seq=3, exch_ts=3, rx_ts=0, stream_seq=6, gap_from=1, gap_to=2,
                            locate=0, event=3, line=0))      # the feed's own gap: the books are not exact
    f.deliver_md(sbe.encode("BboUpdate", feed_seq=4, exch_ts=10**9, rx_ts=0, stream_seq=7, symbol="AAA",
                            bid_px=10000, ask_px=10500, bid_qty=500, ask_qty=100, bid_orders=1, ask_orders=1,
                            locate=9))
    assert f.counters()["sent"] == 1
    f.deliver_report(report_bytes_foreign())
    assert f.counters()["reports_foreign"] == 1


def report_bytes_foreign():
    return sbe.encode("Cancelled", seq=1, order_id=999, ts=0, qty=1, leaves=0, reason=1, session_id=1)


def test_config_errors_name_the_key():
    from strategy.base import ConfigError
    with pytest.raises(ConfigError, match="params.qty"):
        FastTaker({"symbols": ["*"], "params": {"qty": 500, "max_position": 100}})
    with pytest.raises(ConfigError, match="params.nope"):
        FastTaker({"symbols": ["*"], "params": {"nope": 1}})
    with pytest.raises(ConfigError, match="symbols"):
        FastTaker({"params": {}})


def test_feed_strategy_config_errors_name_the_key(tmp_path):
    from access.credentials import hash_credential
    from services.config import ConfigError, load

    def problems(feed_extra, user="u"):
        p = tmp_path / "a.toml"
        p.write_text(f'[appliance]\nrun_dir = "{tmp_path}"\n[feed]\nsource = "udp"\nline_a = "239.1.1.1:31001"\n'
                     f'{feed_extra}\n[gateway]\nsymbols = ["AAA"]\n[[gateway.user]]\nname = "{user}"\naccount = "A"\n'
                     f'credential = "{hash_credential("pw", n=1024)}"\n')
        try:
            load(p)
        except ConfigError as e:
            return dict(e.problems)
        return {}

    ok = 'strategy = "strategy.examples.fast_taker:FastTaker"\nstrategy_user = "u"\nstrategy_credential_env = "X"'
    assert problems(ok) == {}
    assert "feed.strategy" in problems('strategy = "strategy.examples.taker:Taker"\nstrategy_user = "u"\n'
                                       'strategy_credential_env = "X"')
    assert "not a strategy.fast.FastStrategy" in problems('strategy = "strategy.examples.taker:Taker"\n'
                                                          'strategy_user = "u"\nstrategy_credential_env = "X"')["feed.strategy"]
    assert "no [[gateway.user]] named 'u'" in problems(ok, user="v")["feed.strategy_user"]
    assert "feed.strategy_credential_env" in problems('strategy = "strategy.examples.fast_taker:FastTaker"\n'
                                                      'strategy_user = "u"')
    assert "feed.strategy_user" in problems('strategy = "strategy.examples.fast_taker:FastTaker"\n'
                                            'strategy_credential_env = "X"')
    assert "given without feed.strategy" in problems('strategy_user = "u"')["feed.strategy_user"]
    assert "no such file" in problems(ok + '\nstrategy_config = "nope.toml"')["feed.strategy_config"]
