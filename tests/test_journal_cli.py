"""`tickwire match --risk --journal` end to end, and `tickwire journal check|dump|repair`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CSV = """seq,action,order_id,account,symbol,side,type,tif,qty,price,stop_price,display_qty,expire_ns
1,new,1,101,AAPL,sell,limit,day,100,190.01,,,
2,new,2,102,AAPL,sell,limit,gtc,300,190.02,,,
3,new,3,101,AAPL,buy,limit,ioc,250,190.02,,,
4,new,4,101,AAPL,buy,limit,day,10,250.00,,,
5,new,5,101,MSFT,buy,limit,day,3000,400.00,,,
6,new,6,201,TSLA,buy,limit,day,10,250.00,,,
"""


def tw(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "tickwire", *args], capture_output=True, text=True, env=env,
                          cwd=cwd)


def test_match_with_risk_and_journal(tmp_path):
    (tmp_path / "in.csv").write_text(CSV)
    r = tw("match", str(tmp_path / "in.csv"), "--symbols", "AAPL,MSFT,TSLA", "--risk",
           str(ROOT / "docs" / "examples" / "risk.toml"), "--journal", str(tmp_path / "j"))
    assert r.returncode == 0, r.stderr
    rows = [line.split(",") for line in r.stdout.splitlines()[1:]]
    by_seq = {}
    for row in rows:
        by_seq.setdefault(int(row[0]), []).append(row)
    assert by_seq[2][0][1] == "reject" and by_seq[2][0][-1] == "RISK_SHORT_SALE"     # 102 may not short
    assert [row[1] for row in by_seq[3]] == ["ack", "fill", "cancel"]
    assert by_seq[4][0][-1] == "RISK_PRICE_COLLAR"                                      # 5 % around 190.25
    assert by_seq[5][0][-1] == "RISK_MAX_ORDER_QTY"                                     # 101: 2,000 max
    assert by_seq[6][0][-1] == "RISK_NO_REFERENCE_PRICE"                                # TSLA requires one
    c = tw("journal", "check", str(tmp_path / "j"))
    assert c.returncode == 0 and "records 6, last seq 6" in c.stdout
    d = tw("journal", "dump", str(tmp_path / "j"), "--from", "3", "--to", "4")
    lines = d.stdout.splitlines()
    assert lines[0].startswith("seq,ts_ns,action") and len(lines) == 3
    assert lines[1].split(",")[:4] == ["3", lines[1].split(",")[1], "new", "3"] and ",190.02," in lines[1]


def test_journal_check_torn_and_repair(tmp_path):
    from engine.journal import Journal, list_segments
    with Journal(tmp_path, fsync="never") as j:
        for i in range(5):
            j.append_bytes(bytes(96), ts_ns=i)
    (seg,) = [p for _, p in list_segments(tmp_path)]
    os.truncate(seg, os.path.getsize(seg) - 3)
    c = tw("journal", "check", str(tmp_path))
    assert c.returncode == 2 and "torn tail" in c.stdout
    r = tw("journal", "repair", str(tmp_path))
    assert r.returncode == 0 and "truncated torn tail" in r.stdout and "last seq 4" in r.stdout
    assert tw("journal", "check", str(tmp_path)).returncode == 0
    with open(seg, "r+b") as f:                      # now corrupt a middle record
        f.seek(64 + 120 + 30)
        f.write(b"\xff")
    c = tw("journal", "check", str(tmp_path))
    assert c.returncode == 1 and "JOURNAL_CORRUPT (-221)" in c.stderr and "offset 184" in c.stderr
