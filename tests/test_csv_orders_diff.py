"""engine.csv_orders (compiled) vs engine.csvio's reference: same output for random and hostile input.

Also: the issue-9 cases (invalid UTF-8 symbols, 5,000-digit numbers, Unicode digits, NUL bytes,
header errors), account names, the flags column, --positions, and that every output reads back
as CSV.
"""
import csv
import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.csvio import OUTPUT_HEADER, HeaderError, SymbolTable, match_csv
from engine.loop import EngineLoop

pytest.importorskip("engine.csv_orders", reason="engine.csv_orders not built")

ROOT = Path(__file__).resolve().parents[1]
HEADER = b"seq,action,order_id,account,symbol,side,type,tif,qty,price,stop_price,display_qty,expire_ns"
FULL = HEADER + b",ts_ns,link_id,stp,post_only,firm,session,flags"


def run(data: bytes, fast: bool, batch: int = 7, fixed=None):
    loop = EngineLoop(max_orders=4096)
    syms = SymbolTable()
    if fixed:
        for s in fixed:
            loop.engine.add_symbol(syms.add(s), syms.tick(s))
        syms.fixed = True
    out = io.BytesIO()
    res = match_csv(data, out, loop, syms, batch=batch, fast=fast)
    return out.getvalue(), (res.rows, res.commands, res.malformed, res.events, res.errors)


def both(data: bytes, **kw):
    ref = run(data, False, **kw)
    fast = run(data, True, **kw)
    assert fast == ref
    text = ref[0].decode("utf-8")                     # valid UTF-8
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == OUTPUT_HEADER.split(",")
    assert all(len(r) == 15 for r in rows), [r for r in rows if len(r) != 15][:3]
    return list(csv.DictReader(io.StringIO(text, newline=""))), ref[1]


VALID = [b"1,new,1,7,AAPL,sell,limit,day,100,190.01,,,,,,,,,,",
         b"2,new,2,acct1,AAPL,buy,limit,gtc,50,190.01,,,,,,cancel_newest,0,ACME,3,",
         b",new,3,ACME-7,MSFT,Sell,Limit,IOC,10,400.5,,,,,,,yes,,,post_only",
         b"4,cancel,2,acct1,,,,,,,,,,,,,,,,",
         b"5,modify,1,7,AAPL,,,,80,190.02,,,,,,,,,,",
         b"6,new,7,7,MSFT,s,stop_limit,gtc,5,399.00,399.5,,,,,,,,,",
         b"7,kill_switch,,acct1,,,,,,,,,,,,,,,,release",
         b"8,set_reference_price,,,MSFT,,,,,401.00,,,,,,,,,,",
         b"9,mass_cancel,,7,,buy,,,,,,,,,,,,,,",
         b"  10 , new , 8 , 7 , AAPL , buy , limit , day , 5 , 190.0100 ,,,,,,,,,,",
         b"11,new,9,7,TSLA,buy,limit,gtd,5,10.00,,,99,50,,,,,,",
         b"12,new,10,7,TSLA,buy,limit,day,5,10.00,,3,,,,,,,,",
         b"13,end_of_day,,,,,,,,,,,,,,,,,,", b""]
HOSTILE = [b"\xc4PPL", b"\xd6PPL", b"9" * 5000, b"1." + b"0" * 5000, b"\xd9\xa1\xd9\xa2\xd9\xa3", b"1 2",
           b"1\x002", b"\x00", b'"a,b"', b'"x\r\ny"', b'"', b'""', b"\r", b"\t5", b"+5", b"-0", b"-5", b"1_000",
           b"A" * 9, b"ACME 7", b"a" * 33, b"4294967295", b"4294967296", b"18446744073709551616", b"release",
           b"post_only|release", b"post_only|", b"NEW", b"B", b"1e3", b"0.00001", b"1.00000", b"\xef\xbb\xbf",
           b"\xe2\x80\x8b", b"K", b"\xe2\x84\xaaILL_SWITCH", b"=1+1", b"x" * 70000]


def test_fixed_cases_same():
    data = FULL + b"\n" + b"\n".join(VALID) + b"\n"
    rows, stats = both(data)
    assert stats[2] == 0, stats
    assert [r["account"] for r in rows[:3]] == ["7", "acct1", "acct1"] and rows[2]["maker_account"] == "7"
    assert any(r["account"] == "ACME-7" for r in rows)


def test_crlf_bom_blank_lines_same():
    data = b"\xef\xbb\xbf" + FULL + b"\r\n" + b"\r\n".join(VALID) + b"\r\n\r\n\n"
    rows, stats = both(data)
    assert stats[2] == 0 and stats[0] == len(VALID) - 1


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(st.one_of(st.sampled_from(HOSTILE), st.binary(max_size=6),
                                   st.sampled_from([c for v in VALID for c in v.split(b",")])),
                         min_size=0, max_size=22).map(b",".join) | st.sampled_from(VALID),
                min_size=1, max_size=25),
       st.sampled_from([b"\n", b"\r\n", b"\r"]), st.integers(1, 9))
def test_random_hostile_rows_same_output(lines, nl, batch):
    both(FULL + nl + nl.join(lines) + nl, batch=batch)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(VALID[:-1]), min_size=1, max_size=40), st.integers(1, 50))
def test_random_valid_streams_same_output(lines, batch):
    rows, stats = both(HEADER.replace(b"expire_ns", b"expire_ns,ts_ns,link_id,stp,post_only,firm,session,flags")
                       + b"\n" + b"\n".join(lines) + b"\n", batch=batch)


def test_issue9_cases():
    body = [b"1,new,1,7,\xc4PPL,buy,limit,day,10,1.00,,,", b"2,new,2,8,\xd6PPL,sell,limit,day,10,1.00,,,",
            b"3,new,3,7,AAPL,buy,limit,day,10," + b"9" * 5000 + b",,,",
            b"4,new,4,7,AAPL,buy,limit,day,\xd9\xa1\xd9\xa2,1.00,,,", b"5,new,5,7,AAPL,buy,limit,day,1 0,1.00,,,",
            b"6,new,6,7,AAPL,buy,limit,day,1\x00,1.00,,,", b"7,new,7,7,TOOLONGSYM,buy,limit,day,1,1.00,,,",
            b"8,new,8,7,AAPL,buy,limit,day,10,1.00,,,"]
    rows, stats = both(HEADER + b"\n" + b"\n".join(body) + b"\n")
    got = [(r["seq"], r["event"], r["reason_name"]) for r in rows]
    assert got == [("1", "reject", "MALFORMED"), ("2", "reject", "MALFORMED"), ("3", "reject", "INVALID_PRICE"),
                   ("4", "reject", "MALFORMED"), ("5", "reject", "MALFORMED"), ("6", "reject", "MALFORMED"),
                   ("7", "reject", "UNKNOWN_SYMBOL"), ("8", "ack", "")]
    assert not any(r["event"] == "fill" for r in rows)      # the two invalid symbols never traded


@pytest.mark.parametrize("header,why", [(b"", "empty"), (b"seq,action,seq", "repeats"), (b"seq,qty", "lacks"),
                                        (b"seq,action,\xff", "UTF-8"), (b"seq,action,colour", "unknown")])
def test_header_errors(header, why):
    for fast in (True, False):
        with pytest.raises(HeaderError, match=why):
            run(header + b"\n1,new\n" if header else b"\n\n", fast)


def test_cli_header_error_exit_code_and_positions(tmp_path):
    f = tmp_path / "h.csv"
    f.write_bytes(b"seq,action,action\n1,new\n")
    p = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "tickwire", "match", str(f)], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 3 and p.stdout == "" and "repeats column(s) action" in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.splitlines()) == 1
    f.write_bytes(FULL + b"\n" + b"\n".join([
        b"1,new,1,acct1,AAPL,sell,limit,day,60,10.00,,,,,,,,,,", b"2,new,2,bob,AAPL,buy,limit,day,60,10.00,,,,,,,,,,",
        b"3,new,3,bob,AAPL,sell,limit,day,20,10.50,,,,,,,,,,", b"4,new,4,carol,AAPL,buy,limit,day,20,10.50,,,,,,,,,,",
        b"5,set_reference_price,,,AAPL,,,,,11.00,,,,,,,,,,"]) + b"\n")
    out = tmp_path / "pos.csv"
    p = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "tickwire", "match", str(f), "--positions", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    pos = {(r["account"], r["symbol"]): r for r in csv.DictReader(out.open())}
    assert set(pos) == {("acct1", "AAPL"), ("bob", "AAPL"), ("carol", "AAPL")}
    bob = pos[("bob", "AAPL")]   # bought 60 @ 10.00, sold 20 @ 10.50: realized 10, 40 left marked at 11.00
    assert (bob["qty"], bob["avg_price"], bob["mark"], bob["realized_pnl"], bob["unrealized_pnl"]) == (
        "40", "10.0000", "11.0000", "10.0000", "40.0000")
    assert pos[("acct1", "AAPL")]["qty"] == "-60" and pos[("acct1", "AAPL")]["unrealized_pnl"] == "-60.0000"


def test_flags_release_reaches_the_engine():
    loop = EngineLoop()
    syms = SymbolTable()
    seen = []
    match_csv(FULL + b"\n1,kill_switch,,7,,,,,,,,,,,,,,,,release\n2,kill_switch,,7,,,,,,,,,,,,,,,,\n"
              b"3,new,1,7,A,buy,limit,day,1,1.00,,,,,,,,,,POST_ONLY\n", io.BytesIO(), loop, syms,
              tap=lambda c, e: seen.extend(c["flags"].tolist()))
    assert seen == [0x80, 0, 1]
    from engine.csvio import KILL_RELEASE
    risk = pytest.importorskip("engine.risk")
    assert risk.KILL_RELEASE == KILL_RELEASE


def test_risk_toml_names_accounts_and_firms(tmp_path):
    pytest.importorskip("engine.risk")
    (tmp_path / "risk.toml").write_text('[sizes]\nmax_accounts = 16\n[[firm]]\nid = "alpha"\n'
                                        '[[account]]\nid = "acct1"\nfirm = "alpha"\nmax_order_qty = 5\n'
                                        '[[account]]\nid = 3\nmax_order_qty = 100\n')
    f = tmp_path / "o.csv"
    f.write_bytes(HEADER + b",firm\n1,new,1,acct1,AAPL,buy,limit,day,10,1.00,,,,alpha\n"
                  b"2,new,2,3,AAPL,buy,limit,day,10,1.00,,,,\n3,new,3,acct1,AAPL,buy,limit,day,5,1.00,,,,alpha\n"
                  b"4,new,4,15,AAPL,buy,limit,day,5,1.00,,,,\n")
    p = subprocess.run([str(ROOT / ".venv/bin/python"), "-m", "tickwire", "match", str(f), "--risk",
                        str(tmp_path / "risk.toml")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    r = list(csv.DictReader(io.StringIO(p.stdout)))
    assert [(x["account"], x["event"], x["reason_name"]) for x in r] == [
        ("acct1", "reject", "RISK_MAX_ORDER_QTY"), ("3", "ack", ""), ("acct1", "ack", ""),
        ("15", "reject", "MALFORMED")], p.stderr
    assert "account 15 is an id given to a name ('acct1')" in p.stderr


def _run_tables(data: bytes, fast: bool, batch: int, top: int, fixed=None):
    """``run`` with small name tables (as ``--risk`` makes them) and optionally a fixed symbol list."""
    from engine.names import NameTable
    loop = EngineLoop(max_orders=4096)
    syms = SymbolTable()
    for s in fixed or ():
        loop.engine.add_symbol(syms.add(s), syms.tick(s))
    syms.fixed = bool(fixed)
    accounts, firms = NameTable("account", top=top), NameTable("firm", top=top)
    out = io.BytesIO()
    res = match_csv(data, out, loop, syms, batch=batch, accounts=accounts, firms=firms, fast=fast)
    return (out.getvalue(), (res.rows, res.commands, res.malformed, res.events, res.errors),
            accounts.names, firms.names, accounts.max_numeric, syms.names)


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_first_seen_names_interned_by_the_compiled_parser_same_output(batch, monkeypatch):
    """New accounts, firms and symbols are taken on the fast path, with the reference's ids and refusals:
    numbers and names share a small table (a number used first keeps later names above it, a number a name
    owns is refused, the table runs out), a name refused mid-row, a symbol outside a fixed list."""
    body = [b"1,new,1,3,AAA,buy,limit,day,10,1.00,,,,,,,,,,",           # number 3: names stay above it
            b"2,new,2,n1,AAA,sell,limit,day,5,1.00,,,,,,,,f1,,",          # n1 -> 12, f1 -> 12
            b"3,new,3,n2,BBB,buy,limit,day,5,2.00,,,,,,,,f2,,",           # n2 -> 11, f2 -> 11
            b"4,new,4,11,AAA,buy,limit,day,1,1.00,,,,,,,,,,",             # 11 belongs to n2: MALFORMED
            b"5,new,5,n3,AAA,bogus,limit,day,1,1.00,,,,,,,,,,",           # n3 -> 10 although the row is bad
            b"6,new,6,9,AAA,buy,limit,day,1,1.00,,,,,,,,,,",              # number 9: names end above it
            b"7,new,7,n4,AAA,buy,limit,day,1,1.00,,,,,,,,,,",             # no id left for n4
            b"8,new,8,n3,CCC,sell,limit,day,1,1.00,,,,,,,,,,",            # CCC not in the fixed list
            b"9,new,9,n1,BBB,sell,limit,day,5,2.00,,,,,,,,f1,,",
            b"10,cancel,1,3,,,,,,,,,,,,,,,,", b"11,new,10,a b,AAA,buy,limit,day,1,1.00,,,,,,,,,,"]
    data = FULL + b"\n" + b"\n".join(body) + b"\n"
    ref = _run_tables(data, False, batch, 12, fixed=["AAA", "BBB"])
    fast = _run_tables(data, True, batch, 12, fixed=["AAA", "BBB"])
    assert fast == ref
    assert ref[2] == ["n1", "n2", "n3"] and ref[3] == ["f1", "f2"] and ref[4] == 9
    rows = list(csv.DictReader(io.StringIO(ref[0].decode(), newline="")))
    assert [r["reason_name"] for r in rows if r["event"] in ("reject", "cancel_reject")] == [
        "MALFORMED", "INVALID_SIDE", "MALFORMED", "UNKNOWN_SYMBOL", "MALFORMED"]
    free = FULL + b"\n" + b"\n".join(b.replace(b"CCC", b"DDD") for b in body) + b"\n"
    assert _run_tables(free, True, batch, 12) == _run_tables(free, False, batch, 12)

    import engine.csvio as csvio   # rows with only first-seen valid names never reach the reference
    calls = []
    real = csvio.row_to_command
    monkeypatch.setattr(csvio, "row_to_command", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    many = FULL + b"\n" + b"\n".join(b"%d,new,%d,acct%d,S%d,buy,limit,day,1,1.00,,,,,,,,firm%d,," % (k, k, k, k % 50, k)
                                     for k in range(1, 301)) + b"\n"
    _, stats, accounts, firms, _, symbols = _run_tables(many, True, 64, 1 << 20)
    assert stats[2] == 0 and len(accounts) == len(firms) == 300 and len(symbols) == 50
    assert calls == []


def _read_record_spec(data, pos, final=True):
    """engine.csvio.read_record as it was: one csv.reader per record (the reference's reference)."""
    import re
    newline = re.compile(rb"\r\n|\r|\n")

    class Incomplete(Exception):
        pass
    end = [pos, 0]

    def lines():
        p = end[0]
        while p < len(data):
            m = newline.search(data, p)
            if not final and (m is None or (m.end() == len(data) and m.group() == b"\r")):
                raise Incomplete
            q = m.end() if m else len(data)
            end[0], end[1] = q, end[1] + 1
            yield bytes(data[p:q]).decode("utf-8", "surrogateescape")
            p = q
        if not final:
            raise Incomplete
    try:
        cells = next(csv.reader(lines()))
    except StopIteration:
        return [], None, end[0], end[1]
    except Incomplete:
        return None
    except csv.Error as e:
        return None, f"unreadable CSV row ({e})", end[0], end[1]
    return cells, None, end[0], end[1]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from([b"a", b",", b'"', b"\r", b"\n", b"\r\n", b"\x00", b" ", b"\xff", b"\xc3\xa9", b"12",
                                 b"x" * 40]), max_size=40).map(b"".join), st.booleans(), st.integers(0, 3))
def test_read_record_same_as_csv_module(data, final, limit_kind):
    """The reference's reader splits a quote-free line itself: record for record what csv.reader gives,
    line ends, blank lines, a stream's incomplete record and the field size limit included."""
    from engine.csvio import read_record
    old = csv.field_size_limit()
    try:
        if limit_kind == 1:
            csv.field_size_limit(30)
        pos = 0
        while True:
            got, want = read_record(data, pos, final), _read_record_spec(data, pos, final)
            assert got == want, (data, pos)
            if got is None or got[2] == pos:
                break
            pos = got[2]
    finally:
        csv.field_size_limit(old)
