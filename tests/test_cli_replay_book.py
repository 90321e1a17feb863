"""`tickwire replay` and `tickwire book` as a user runs them: JSON keys, CSV format, exit codes and errors.

The CLI is called in-process (``tickwire.cli.main``) with stdout / stderr captured; the figures are
cross-checked against a BookBuilder run directly on the same bytes.
"""
from __future__ import annotations

import csv
import io
import json
import re

import pytest

from book.builder import BookBuilder
from feedhandlers.itch import ItchFramer
from tickwire.cli import main

REQUIRED_KEYS = {"messages", "by_type", "malformed", "unknown_refs", "gaps", "books", "live_orders",
                 "crossed_books", "elapsed_s", "msgs_per_s", "ns_per_msg"}
# The RITCH day's random prices cross its 3 books (docs/book.md): its books are not trustworthy, exit 3
# (tickwire/verdict.py); everything else about the run is as before.
RITCH_UNTRUSTED = 3


def cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def direct(buf: bytes) -> BookBuilder:
    books = BookBuilder()
    fr = ItchFramer(books)
    fr.feed(buf)
    fr.finish()
    return books


@pytest.fixture(scope="module")
def ritch_path(data_dir):
    return data_dir / "itch50" / "RITCH_synthetic_3stocks.NASDAQ_ITCH50"


def test_replay_json_has_the_documented_keys_and_figures(capsys, ritch_path):
    rc, out, err = cli(capsys, "replay", "--json", str(ritch_path))
    assert rc == RITCH_UNTRUSTED, err
    d = json.loads(out)
    assert REQUIRED_KEYS <= set(d)
    books = direct(ritch_path.read_bytes())
    assert d["messages"] == books.counters()["messages"] == 12_012
    assert d["by_type"] == {"A": 4997, "D": 1745, "E": 198, "F": 3, "H": 3, "P": 5000, "R": 3, "S": 6,
                            "U": 12, "X": 45}
    assert d["live_orders"] == books.live_orders == 3203
    assert d["unknown_refs"] == 117 and d["books"] == 3 and d["malformed"] == 0 and d["gaps"] == 0
    assert d["crossed_books"] == books.crossed_books() == 3
    assert d["trusted"] is False and d["trust_reasons"] == ["3 crossed books"]
    assert d["msgs_per_s"] > 0 and d["ns_per_msg"] > 0 and d["elapsed_s"] > 0


def test_replay_text_summary_names_the_most_active_symbols(capsys, ritch_path):
    rc, out, _ = cli(capsys, "replay", "--top", "2", "--progress", "never", str(ritch_path))
    assert rc == RITCH_UNTRUSTED
    assert "12,012" in out and sum(sym in out for sym in ("ALC", "BOB", "CHAR")) >= 2


def test_replay_pcap_of_moldudp64(capsys, data_dir):
    pcap = sorted((data_dir / "pcap").rglob("*.pcap"))[0]
    rc, out, err = cli(capsys, "replay", "--json", str(pcap))
    assert rc == 0, err
    d = json.loads(out)
    assert d["messages"] > 0 and d["malformed"] == 0 and sum(d["by_type"].values()) == d["messages"]


@pytest.mark.parametrize("name,code", [("bist_itch_moldudp64_sample.dat", "ITCH_E_NOT_ITCH50"),
                                       ("zero_length_prefixes.TEST_ITCH_50", "ITCH_E_ZERO_LENGTH")])
def test_replay_refuses_bad_input_with_a_reason(capsys, data_dir, name, code):
    rc, out, err = cli(capsys, "replay", "--json", str(data_dir / "bad_input" / name))
    assert rc == 1 and out == ""
    assert code in err and "byte offset 0" in err


def test_replay_truncated_file_summarises_then_names_the_offset(capsys, data_dir, tmp_path):
    whole = (data_dir / "itch50" / "12302019_SNIPPET.NASDAQ_ITCH50").read_bytes()
    cut = tmp_path / "cut.itch"
    cut.write_bytes(whole[:20_001])
    rc, out, err = cli(capsys, "replay", "--json", str(cut))
    assert rc == 1
    assert "ITCH_E_TRUNCATED" in err and "byte offset 19978" in err
    d = json.loads(out)                                   # what came before the cut
    assert d["error"]["name"] == "ITCH_E_TRUNCATED" and d["error"]["offset"] == 19978
    assert d["messages"] == direct(whole[:19_978]).counters()["messages"] > 0


def test_replay_missing_file(capsys, tmp_path):
    rc, _, err = cli(capsys, "replay", str(tmp_path / "nope.itch"))
    assert rc == 2 and "no such file" in err


def test_book_csv_format_and_values(capsys, ritch_path):
    rc, out, err = cli(capsys, "book", str(ritch_path), "--levels", "3", "--csv")
    assert rc == RITCH_UNTRUSTED and "3 crossed books" in err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["locate", "symbol", "side", "level", "price", "shares", "orders"]
    books = direct(ritch_path.read_bytes())
    seen = set()
    for locate, symbol, side, level, price, shares, orders in rows[1:]:
        assert side in ("B", "S") and 1 <= int(level) <= 3
        assert re.fullmatch(r"\d+\.\d{4}", price)
        loc = int(locate)
        assert books.symbol(loc) == symbol
        ladder = books.depth(loc, 3)[0 if side == "B" else 1]
        px, sh, n = ladder[int(level) - 1]
        assert (int(price.replace(".", "")), int(shares), int(orders)) == (px, sh, n)
        seen.add((loc, side, int(level)))
    # Every level the books hold (up to 3 per side) is printed, level 1 = best on both sides.
    expected = {(loc, side, lvl + 1) for loc in books.locates() for side, ladder in zip("BS", books.depth(loc, 3))
                for lvl in range(len(ladder))}
    assert seen == expected
    for loc in books.locates():
        bids, asks = books.depth(loc, 3)
        assert [p for p, _, _ in bids] == sorted((p for p, _, _ in bids), reverse=True)
        assert [p for p, _, _ in asks] == sorted(p for p, _, _ in asks)


def test_book_symbol_filter_and_bad_levels(capsys, ritch_path):
    rc, out, _ = cli(capsys, "book", str(ritch_path), "--levels", "1", "--symbol", "alc")
    assert rc == RITCH_UNTRUSTED
    lines = out.strip().splitlines()
    assert len(lines) >= 2 and all(",ALC," in line for line in lines[1:])
    rc, _, err = cli(capsys, "book", str(ritch_path), "--levels", "0")
    assert rc == 2 and "--levels" in err
