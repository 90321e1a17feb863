"""`tickwire match` order-flow CSV: exact prices, every event row, malformed rows, round trip vs the engine."""
import csv
import io
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.csvio import OUTPUT_HEADER, RowError, format_price, parse_price
from engine_streams import random_stream

ROOT = Path(__file__).resolve().parents[1]
HEADER = "seq,action,order_id,account,symbol,side,type,tif,qty,price,stop_price,display_qty,expire_ns"


def match(tmp_path, body, *args, header=HEADER):
    f = tmp_path / "in.csv"
    f.write_text(header + "\n" + body)
    p = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "tickwire", "match", str(f), *args],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    return p


def rows(p):
    assert p.stdout.splitlines()[0] == OUTPUT_HEADER
    return list(csv.DictReader(io.StringIO(p.stdout)))


@pytest.mark.parametrize("text,value", [("100", 1_000_000), ("100.25", 1_002_500), ("0.0001", 1),
                                        ("190.015", 1_900_150), ("1.50000", 15_000), (" 7.1 ", 71_000)])
def test_parse_price_exact(text, value):
    assert parse_price(text) == value


@pytest.mark.parametrize("text,code", [("1e3", -23), ("abc", -23), ("1.00001", -2), ("-1", -14), ("", -23),
                                       ("0x10", -23), ("1.2.3", -23)])
def test_parse_price_errors(text, code):
    with pytest.raises(RowError) as e:
        parse_price(text)
    assert e.value.code == code


def test_format_price():
    assert [format_price(v) for v in (1_000_000, 1_002_500, 1, 15_000)] == ["100.00", "100.25", "0.0001", "1.50"]


def test_match_cli_events(tmp_path):
    p = match(tmp_path, """1,new,1,7,AAPL,sell,limit,day,100,190.01,,,
2,new,2,8,AAPL,sell,limit,gtc,300,190.02,,100,
3,new,3,9,AAPL,buy,limit,ioc,250,190.02,,,
4,new,4,9,AAPL,buy,limit,day,10,190.015,,,
5,cancel,2,8,,,,,,,,,
6,modify,1,7,AAPL,,,,50,190.01,,,
7,new,6,9,MSFT,sell,stop,gtc,10,,400.00,,
8,new,7,9,MSFT,buy,limit,day,10,1.00,,,
9,end_of_day,,,,,,,,,,,
""")
    assert p.returncode == 0, p.stderr
    r = rows(p)
    assert [(x["seq"], x["event"], x["order_id"]) for x in r] == [
        ("1", "ack", "1"), ("2", "ack", "2"), ("3", "ack", "3"), ("3", "fill", "3"), ("3", "fill", "3"),
        ("3", "fill", "3"), ("4", "reject", "4"), ("5", "cancel", "2"), ("6", "modify_reject", "1"),
        ("7", "ack", "6"), ("8", "ack", "7"), ("9", "expire", "7")]
    f = r[3]
    assert (f["price"], f["qty"], f["maker_order_id"], f["taker_order_id"], f["leaves_qty"]) == (
        "190.01", "100", "1", "3", "150")
    assert (r[6]["reason"], r[6]["reason_name"]) == ("-2", "PRICE_NOT_ON_TICK")
    assert r[11]["reason_name"] == "END_OF_DAY"


def test_match_cli_malformed_rows_never_crash(tmp_path):
    p = match(tmp_path, """1,new,1,7,AAPL,sell,limit,day,abc,190.01,,,
2,new,2,7,AAPL,sideways,limit,day,10,190.01,,,
3,new,3,7,AAPL,buy,limit,day,-5,190.01,,,
4,teleport,4,7,AAPL,buy,limit,day,5,190.01,,,
5,new,5,7,AAPL,buy,limit,day,5,19x,,,
6,new,6,7,AAPL,buy,limit,day,5,190.01,,,,extra
7,new,7,7,AAPL,buy,limit,day,5,190.01,,,
8,new,8,7,AAPL,buy,bogus,day,5,190.01,,,
9,new,9,7,AAPL,buy,limit,never,5,190.01,,,
""")
    assert p.returncode == 0, p.stderr
    r = rows(p)
    assert [(x["seq"], x["event"], x["reason_name"]) for x in r] == [
        ("1", "reject", "MALFORMED"), ("2", "reject", "INVALID_SIDE"), ("3", "reject", "INVALID_QTY"),
        ("4", "reject", "INVALID_ACTION"), ("5", "reject", "MALFORMED"), ("6", "reject", "MALFORMED"),
        ("7", "ack", ""), ("8", "reject", "INVALID_TYPE"), ("9", "reject", "INVALID_TIF")]
    assert "8 malformed row(s) rejected" in p.stderr
    assert "line 2: MALFORMED (-23): qty 'abc' is not an integer" in p.stderr


def test_match_cli_optional_columns_and_ticks(tmp_path):
    hdr = HEADER + ",ts_ns,link_id,stp,post_only"
    p = match(tmp_path, """1,new,1,7,XYZ,sell,limit,gtd,100,10.05,,,500,100,,,
2,new,2,7,XYZ,buy,limit,day,100,10.05,,,,,,cancel_newest,
3,new,3,7,XYZ,buy,limit,day,100,10.00,,,,,,,1
4,new,4,7,XYZ,buy,limit,day,100,10.03,,,,,,,
5,new,5,7,XYZ,sell,limit,day,10,11.00,,,,,3,,
6,clock,,,,,,,,,,,,600,,,
""", "--tick", "XYZ=0.05", header=hdr)
    assert p.returncode == 0, p.stderr
    r = rows(p)
    got = [(x["seq"], x["event"], x["order_id"], x["reason_name"]) for x in r]
    assert got == [("1", "ack", "1", ""), ("2", "ack", "2", ""), ("2", "cancel", "2", "STP"),
                   ("3", "ack", "3", ""), ("4", "reject", "4", "PRICE_NOT_ON_TICK"), ("5", "ack", "5", ""),
                   ("6", "expire", "1", "GTD_EXPIRED")]


def test_match_cli_fixed_symbols_and_bad_header(tmp_path):
    p = match(tmp_path, "1,new,1,7,ZZZ,buy,limit,day,1,1.00,,,\n", "--symbols", "AAPL")
    assert rows(p)[0]["reason_name"] == "UNKNOWN_SYMBOL"
    p = match(tmp_path, "1,new,2\n", header="seq,action,colour")
    assert p.returncode != 0 and "unknown column" in p.stderr
    p = match(tmp_path, "", "--risk", str(tmp_path / "none.toml"))
    assert p.returncode != 0 and "risk" in p.stderr


def _to_csv(cmds):
    """Write a COMMAND_DTYPE stream as CSV (symbol ids -> names S0, S1)."""
    act = {1: "new", 2: "cancel", 3: "modify", 4: "mass_cancel", 5: "end_of_day", 6: "session_disconnect",
           7: "kill_switch", 8: "set_reference_price", 9: "clock"}
    out = [HEADER + ",ts_ns,link_id,stp,post_only,firm,session"]
    side = {0: "", 1: "buy", 2: "sell"}
    typ = {1: "limit", 2: "market", 3: "stop", 4: "stop_limit"}
    tif = {1: "day", 2: "gtc", 3: "ioc", 4: "fok", 5: "gtd"}
    stp = {0: "", 1: "cancel_newest", 2: "cancel_oldest", 3: "cancel_both", 4: "decrement"}
    kept = []
    for c in cmds:
        a = int(c["action"])
        if a not in act or int(c["side"]) > 2:
            continue
        new = a == 1
        sym = int(c["symbol_id"])
        out.append(",".join([
            str(int(c["seq"])), act[a], str(int(c["order_id"])) if a in (1, 2, 3) else "", str(int(c["account_id"])),
            f"S{sym}" if sym < 2 and a in (1, 3, 4, 8) else "", side[int(c["side"])] if a in (1, 4) else "",
            typ[int(c["ord_type"])] if new else "", tif[int(c["tif"])] if new else "",
            str(int(c["qty"])) if a in (1, 3) else "",
            format_price(int(c["price"])) if c["price"] and a in (1, 3, 8) else "",
            format_price(int(c["stop_price"])) if c["stop_price"] and new else "",
            str(int(c["display_qty"])) if new and c["flags"] & 2 else "",
            str(int(c["expire_ns"])) if new and c["expire_ns"] else "",
            str(int(c["ts_ns"])), str(int(c["link_id"])) if new and c["link_id"] else "",
            stp[int(c["stp"])] if new else "", "1" if new and c["flags"] & 1 else "",
            str(int(c["firm_id"])), str(int(c["session_id"]))]))
        kept.append(c)
    return "\n".join(out) + "\n", np.array(kept, dtype=cmds.dtype)


def test_match_cli_round_trip_equals_engine(tmp_path):
    """A random stream as CSV through `tickwire match` gives exactly the in-process engine's events."""
    from engine.csvio import SymbolTable, format_event
    from engine.loop import EngineLoop
    cmds = random_stream(31, 1500, invalid=0.0)
    text, kept = _to_csv(cmds)
    (tmp_path / "s.csv").write_text(text)
    p = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "tickwire", "match", str(tmp_path / "s.csv")], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    lp = EngineLoop()
    syms = SymbolTable()
    # the CLI names symbols in order of first appearance
    for c in kept:
        if c["action"] in (1, 3, 4, 8) and int(c["symbol_id"]) < 2:
            syms.lookup(f"S{int(c['symbol_id'])}", lp.engine) if f"S{int(c['symbol_id'])}" not in syms.ids else None
    remap = {int(s[1:]): i for s, i in syms.ids.items()}
    k2 = kept.copy()
    for c in k2:
        if c["action"] in (1, 3, 4, 8) and int(c["symbol_id"]) < 2:
            c["symbol_id"] = remap[int(c["symbol_id"])]
        elif c["action"] in (2, 3, 5, 6, 7, 9):
            c["symbol_id"] = 0xFFFFFFFF
    expected = [format_event(e, syms) for e in lp.run_all(k2)]
    got = p.stdout.splitlines()[1:]
    assert len(got) > 1000
    assert got == expected


def test_match_cli_garbage_never_crashes(tmp_path):
    import random
    rnd = random.Random(5)
    lines = []
    for k in range(300):
        cells = [rnd.choice(["", "new", "cancel", "buy", "x" * rnd.randint(0, 5), str(rnd.randint(-5, 10**20)),
                             "1.0001", "\x00", "\"", "é", "1e5", "-0.01"]) for _ in range(rnd.randint(0, 16))]
        lines.append(",".join(cells))
    f = tmp_path / "g.csv"
    f.write_bytes((HEADER + "\n" + "\n".join(lines) + "\n").encode("utf-8") + b"\xff\xfe,new,\x80\n" +
                  b"2,new," + b"9" * 200_000 + b"\n")
    p = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "tickwire", "match", str(f)], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert p.stdout.splitlines()[0] == OUTPUT_HEADER
    assert "malformed row(s) rejected" in p.stderr


def test_match_cli_risk_and_journal_flags(tmp_path):
    pytest.importorskip("engine.risk", reason="risk engine not built")
    pytest.importorskip("engine.hooks", reason="hook adapters not built")
    (tmp_path / "risk.toml").write_text("[defaults.account]\nmax_order_qty = 150\n")
    p = match(tmp_path, """1,new,1,7,AAPL,sell,limit,day,100,190.01,,,
2,new,2,8,AAPL,sell,limit,gtc,300,190.02,,,
3,new,3,9,AAPL,buy,limit,ioc,100,190.02,,,
""", "--risk", str(tmp_path / "risk.toml"), "--journal", str(tmp_path / "journal"))
    assert p.returncode == 0, p.stderr
    r = rows(p)
    assert [(x["seq"], x["event"], x["reason_name"]) for x in r] == [
        ("1", "ack", ""), ("2", "reject", "RISK_MAX_ORDER_QTY"), ("3", "ack", ""), ("3", "fill", "")]
    assert any((tmp_path / "journal").iterdir())


@pytest.mark.parametrize("journal", [False, True])
def test_match_into_a_closed_pipe_ends_quietly(tmp_path, journal):
    """`tickwire match FLOW.csv | head -1`: stdout closes early; match ends with 0 and says nothing
    (a closed pipe is not bad input, nor a journal failure)."""
    body = "".join(f"{i},new,{i},7,AAPL,{'buy' if i % 2 else 'sell'},limit,day,100,{100 + i % 50}.00,,,\n"
                   for i in range(1, 200_001))
    f = tmp_path / "in.csv"
    f.write_text(HEADER + "\n" + body)
    extra = f" --journal {tmp_path / 'j'}" if journal else ""
    p = subprocess.run(["bash", "-c", f"{ROOT / '.venv/bin/python'} -m tickwire match {f}{extra} | head -1; "
                        "echo rc=${PIPESTATUS[0]} >&2"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.stdout == OUTPUT_HEADER + "\n"
    assert p.stderr.strip().splitlines() == ["rc=0"], p.stderr
