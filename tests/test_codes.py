"""One registry of result codes: core/codes.pxd is the single definition, core.codes reads it."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core import codes

ROOT = Path(__file__).resolve().parents[1]


def test_areas_are_disjoint_and_every_code_is_inside_its_area():
    areas = sorted(codes.AREAS.values(), key=lambda a: -a.lo)
    for a, b in zip(areas, areas[1:]):
        assert a.lo > a.hi > b.lo > b.hi, (a, b)
    assert areas[0].lo == -1 and all(a.lo < 0 for a in areas)
    for c in codes.CODES.values():
        a = codes.AREAS[c.area]
        assert a.hi <= c.value <= a.lo, c
        assert codes.area_of(c.value) == a
    assert codes.area_of(0) is None and codes.area_of(-9999) is None


def test_every_code_is_defined_once_with_a_message():
    text = (ROOT / "core" / "codes.pxd").read_text()
    defined = re.findall(r"^    ([A-Z][A-Z0-9_]*) = (-\d+)", text, re.M)
    assert len(defined) == len(codes.CODES) == len({v for _, v in defined}) == len({n for n, _ in defined})
    for c in codes.CODES.values():
        assert c.message and c.name == codes.code_name(c.value) and getattr(codes, c.name) == c.value


def test_parser_refuses_duplicates_and_codes_outside_an_area():
    with pytest.raises(ValueError, match="both -2"):
        codes._parse("# ==== X -1..-9: x ====\ncdef enum:\n    A = -2  # a\n    B = -2  # b\n")
    with pytest.raises(ValueError, match="outside an area"):
        codes._parse("cdef enum:\n    A = -2  # a\n")


def test_engine_codes_fit_event_reason():
    assert all(-32768 <= c.value for c in codes.CODES.values() if c.area in ("ORDER", "RISK", "LOOP"))


def test_area_table_in_the_pxd_docstring_matches_the_banners():
    text = (ROOT / "core" / "codes.pxd").read_text()
    rows = re.findall(r"^    ([A-Z]+)\s+(-\d+)\.\.(-\d+)\s", text, re.M)
    assert [(n, int(lo), int(hi)) for n, lo, hi in rows] == [(a.name, a.lo, a.hi) for a in codes.AREAS.values()]


def test_python_table_equals_what_the_compiled_modules_see():
    from book.builder import C_CODES as book_codes
    from datapath.batch import C_CODES as datapath_codes
    from feedhandlers.itch import c_codes
    seen = {**c_codes(), **{k: v for k, v in book_codes.items() if v < 0}, **datapath_codes}
    for name, value in seen.items():
        assert codes.BY_NAME[name] == value, name
    covered = {codes.CODES[v].area for v in seen.values()}
    assert covered == {"ITCH", "MOLD", "PCAP", "READ", "BOOK", "DATAPATH"}
    for area in ("ITCH", "MOLD", "PCAP", "READ", "BOOK"):     # whole areas, not a sample
        assert {c.name for c in codes.CODES.values() if c.area == area} <= set(seen), area


def test_engine_sees_the_same_reject_codes():
    from messaging.records import CODE_BY_NAME, CODES, code_name
    for c in codes.CODES.values():
        if c.area in ("ORDER", "RISK", "LOOP"):
            assert CODES[c.value] == (c.name.removeprefix("RC_"), c.message)
    assert CODE_BY_NAME["DUPLICATE_ORDER_ID"] == codes.RC_DUPLICATE_ORDER_ID == -5
    assert code_name(-12345) == "UNKNOWN(-12345)"


def test_one_unknown_code_format():
    assert codes.code_name(-12345) == "UNKNOWN(-12345)"
    assert codes.code_message(-12345) == "unknown result code -12345"
    assert codes.describe(-12345) == ("UNKNOWN(-12345)", "unknown result code -12345")
    assert str(codes.TickwireError(-12345)) == "UNKNOWN(-12345) (-12345): unknown result code -12345"
    from book import codes as book_codes
    from feedhandlers.mold_session import describe
    assert book_codes.describe(-12345) == describe(-12345) == codes.describe(-12345)


def test_one_error_base_class_and_one_format():
    from book.codes import BookError
    from datapath.source_codes import SourceError
    from engine.csvio import RowError
    from engine.journal import JournalCorruption, JournalError
    from engine.loop import LoopStopped
    from engine.risk import RiskError
    from feedhandlers.soupbintcp import SoupError
    from lab.daygen import GenError
    errors = [codes.FeedError(codes.ITCH_E_TRUNCATED, "it ends", 42), BookError(codes.BOOK_ZERO_REF),
              SourceError(codes.KSRC_E_BIND, "bind eth0", 98), RiskError(codes.RISK_BUYING_POWER),
              SoupError(codes.SOUP_E_PROTOCOL, "zero-length packet"), JournalError(codes.JOURNAL_LOCKED, "/x"),
              JournalCorruption(codes.JOURNAL_CORRUPT, "/x/j", 184), RowError(codes.RC_MALFORMED, "bad cell"),
              LoopStopped(codes.RC_LOOP_STOPPED, codes.JOURNAL_FSYNC), GenError(codes.GEN_E_NOMEM)]
    for e in errors:
        assert isinstance(e, codes.TickwireError)
        where = f" at byte offset {e.offset}" if e.offset is not None else ""
        assert str(e).startswith(f"{e.name} ({e.code}){where}: {e.message}")
        assert str(e) == f"{e.name} ({e.code}){where}: {e.message}" or e is errors[2]
    assert str(errors[0]) == "ITCH_E_TRUNCATED (-501) at byte offset 42: it ends"
    assert isinstance(errors[2], OSError) and errors[2].errno == 98
    assert str(errors[2]) == "KSRC_E_BIND (-603): bind eth0: [EADDRINUSE] Address already in use"   # + errno
    assert str(errors[6]).startswith("JOURNAL_CORRUPT (-221) at byte offset 184: ")


def test_docs_codes_md_is_generated_from_the_table():
    out = subprocess.run([sys.executable, "-m", "core.codes", "--markdown"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out == codes.markdown()
    assert (ROOT / "docs" / "codes.md").read_text() == out, "regenerate: python -m core.codes --markdown > docs/codes.md"
