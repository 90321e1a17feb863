"""sbe_check refuses what it cannot read with its code, counts it, and never crashes the reader."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import codes
from core.codes import TickwireError
from messaging import sbe
from messaging.sbe_codec import try_put

SBE_CODES = {c.value for c in codes.CODES.values() if c.area == "SBE"}


def bbo(**kw):
    return sbe.encode("BboUpdate", feed_seq=11, symbol="AAPL", bid_px=1_500_000, ask_px=1_500_100, bid_qty=300,
                      ask_qty=200, locate=7, timing={"send_ns": 1, "md_pub_ns": 4}, **kw)


def depth(n=3):
    return sbe.encode("DepthUpdate", feed_seq=12, symbol="MSFT", locate=9,
                      levels=[dict(price=100 + i, shares=10 * i, orders=i, side="Buy", action="Change")
                              for i in range(n)])


def header(buf, **kw):
    h = dict(zip(("blockLength", "templateId", "schemaId", "version"), struct.unpack_from("<4H", buf)))
    h.update(kw)
    return struct.pack("<4H", h["blockLength"], h["templateId"], h["schemaId"], h["version"]) + buf[8:]


def refused(buf, code):
    c = sbe.SbeCounters()
    with pytest.raises(sbe.SbeError) as e:
        sbe.decode(buf, c)
    assert isinstance(e.value, TickwireError)
    assert e.value.code == code, e.value
    assert str(e.value).startswith(f"{codes.code_name(code)} ({code}): ")
    assert (c.accepted, c.refused, c.by_code()) == (0, 1, {code: 1})


def test_a_good_message_is_accepted_and_counted():
    c = sbe.SbeCounters()
    m = sbe.decode(bbo(), c)
    assert (m.name, m.bid_px, m.symbol, m.timing["md_pub_ns"]) == ("BboUpdate", 1_500_000, "AAPL", 4)
    assert (c.accepted, c.refused, c.by_code()) == (1, 0, {})


@pytest.mark.parametrize("tid", [0, 15, 19, 30, 63, 64, 99, 0xFFFF])
def test_unknown_template(tid):
    refused(header(bbo(), templateId=tid), codes.SBE_E_UNKNOWN_TEMPLATE)


def test_schema_id_wrong():
    refused(header(bbo(), schemaId=8), codes.SBE_E_SCHEMA_ID)
    refused(header(bbo(), schemaId=0), codes.SBE_E_SCHEMA_ID)


def test_version_zero():
    refused(header(bbo(), version=0), codes.SBE_E_VERSION)


def test_short_block():
    b = bbo()
    refused(header(b, blockLength=len(b) - 8 - 1), codes.SBE_E_SHORT_BLOCK)
    refused(header(b, blockLength=0), codes.SBE_E_SHORT_BLOCK)


def test_bad_length():
    b = bbo()
    for n in (0, 1, 7):
        refused(b[:n], codes.SBE_E_SHORT_HEADER)
    for n in (8, 9, len(b) - 1):
        refused(b[:n], codes.SBE_E_TRUNCATED)
    refused(header(b, blockLength=len(b)), codes.SBE_E_TRUNCATED)      # claims more than there is


def test_truncated_group():
    b = depth(3)
    block_end = 8 + sbe.MESSAGES["DepthUpdate"].block_length
    for n in (block_end, block_end + 3):                               # inside the group header
        refused(b[:n], codes.SBE_E_TRUNCATED_GROUP)
    for n in (block_end + 4, len(b) - 1):                              # inside the entries
        refused(b[:n], codes.SBE_E_TRUNCATED_GROUP)
    more = b[:block_end + 2] + struct.pack("<H", 4) + b[block_end + 4:]   # numInGroup beyond the buffer
    refused(more, codes.SBE_E_TRUNCATED_GROUP)


def test_group_entry_shorter_than_ours():
    b = depth(2)
    block_end = 8 + sbe.MESSAGES["DepthUpdate"].block_length
    short = b[:block_end] + struct.pack("<H", sbe.MESSAGES["DepthUpdate"].group_block_length - 1) + b[block_end + 2:]
    refused(short, codes.SBE_E_GROUP_BLOCK)


def test_newer_version_with_longer_block_and_entries_is_accepted():
    b = bbo()
    newer = header(b, version=2, blockLength=len(b) - 8 + 16) + b"\xAA" * 16
    c = sbe.SbeCounters()
    m = sbe.decode(newer, c)
    assert m.fields == sbe.decode(b).fields and m.header["version"] == 2
    assert c.accepted == 1 and sbe.message_length(newer) == len(newer)

    d = depth(3)
    md = sbe.MESSAGES["DepthUpdate"]
    block_end = 8 + md.block_length
    entries = [d[block_end + 4 + i * md.group_block_length:][:md.group_block_length] + b"\xBB" * 5 for i in range(3)]
    newer = (header(d[:block_end], version=3, blockLength=md.block_length + 8) + b"\xCC" * 8
             + struct.pack("<HH", md.group_block_length + 5, 3) + b"".join(entries) + b"trailing")
    m = sbe.decode(newer)
    assert m.fields == sbe.decode(d).fields
    assert sbe.message_length(newer) == len(newer) - len(b"trailing")


def test_put_refuses_a_buffer_too_small():
    n = len(bbo())
    assert try_put(sbe.MESSAGES["BboUpdate"].template_id, n) and not try_put(sbe.MESSAGES["BboUpdate"].template_id, n - 1)
    d = len(depth(3))
    tid = sbe.MESSAGES["DepthUpdate"].template_id
    assert try_put(tid, d, 3) and not try_put(tid, d - 1, 3) and try_put(tid, d - 1, 2)


def test_encoder_refuses_what_does_not_fit():
    with pytest.raises(sbe.SbeError, match="SBE_E_ENCODE"):
        sbe.encode("NoSuchMessage")
    with pytest.raises(sbe.SbeError, match="no field"):
        sbe.encode("BboUpdate", bid=1)
    with pytest.raises(sbe.SbeError, match="SBE_E_ENCODE"):
        sbe.encode("BboUpdate", locate=70000)
    with pytest.raises(sbe.SbeError, match="SBE_E_ENCODE"):
        sbe.encode("BboUpdate", symbol="TOO_LONG_SYMBOL")
    with pytest.raises(sbe.SbeError, match="not a Side"):
        sbe.encode("NewOrder", side="Up")
    with pytest.raises(sbe.SbeError, match="SBE_E_ENCODE"):
        sbe.encode("NewOrder", qty=-1)


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data):
    c = sbe.SbeCounters()
    rc = sbe.check(data, c)
    assert rc in SBE_CODES or rc in sbe.BY_TEMPLATE_ID
    assert c.accepted + c.refused == 1
    if rc > 0:
        m = sbe.decode(data)
        assert m.template_id == rc and sbe.message_length(data) <= len(data)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from([bbo(), depth(0), depth(4), sbe.encode("NewOrder", qty=5, side="Sell")]),
       st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6), st.integers(0, 300))
def test_fuzz_mutated_messages(buf, flips, cut):
    b = bytearray(buf)
    for pos, val in flips:
        if pos < len(b):
            b[pos] = val
    b = bytes(b[:cut])
    rc = sbe.check(b, None)
    assert rc in SBE_CODES or rc in sbe.BY_TEMPLATE_ID
    if rc > 0:
        assert sbe.decode(b).template_id == rc and sbe.message_length(b) <= len(b)
    else:
        with pytest.raises(sbe.SbeError):
            sbe.decode(b, None)
