"""strategy.oe_client's struct fast paths agree with the schema's codec (messaging.sbe) field for field."""
from __future__ import annotations

import struct

import pytest

from messaging import sbe
from messaging.sbe_schema import MESSAGES
from strategy import oe_client as oc

TIMING = dict(zip(oc._TIMING, range(101, 111)))


def test_fast_encoders_are_the_codecs_bytes():
    new = oc._NEW.pack(149, 23, 7, 1, 5, 77, 78, -3, 4, 9, *range(101, 111), 10, 2, 0, 1, 2, 4, 5, 3, 1)
    assert new == sbe.encode("NewOrder", seq=5, order_id=77, link_id=78, price=-3, stop_price=4, expire_ns=9,
                             timing=TIMING, qty=10, display_qty=2, account_id=0, symbol_id=1, side=2, ord_type=4,
                             tif=5, flags=3, stp=1)
    assert oc._CANCEL.pack(100, 24, 7, 1, 6, 77, *range(101, 111), 0) == sbe.encode(
        "Cancel", seq=6, order_id=77, timing=TIMING, account_id=0)
    assert oc._MODIFY.pack(112, 25, 7, 1, 7, 77, 123, *range(101, 111), 9, 0) == sbe.encode(
        "Modify", seq=7, order_id=77, price=123, timing=TIMING, qty=9, account_id=0)


@pytest.mark.parametrize("tid", sorted(oc._REPORTS))
def test_fast_report_decoder_reads_what_the_codec_wrote(tid):
    name = oc._KINDS_BY_TID[tid]
    mdef = MESSAGES[name]
    st, names = oc._REPORTS[tid]
    assert st.size == mdef.block_length
    fields = {"seq": 3, "order_id": 42, "session_id": 2, "timing": TIMING}
    for f in mdef.fields:
        if f.name in ("qty", "leaves", "symbol_id", "match_id"):
            fields[f.name] = 7
        elif f.name == "price":
            fields[f.name] = -5
        elif f.name == "code":
            fields[f.name] = -1604
        elif f.name == "code_name":
            fields[f.name] = "GW_E_SEQ_GAP"
        elif f.name in ("side", "liquidity", "reason"):
            fields[f.name] = 1
    raw = sbe.encode(name, **fields)
    kind, m = oc._decode_report(raw)
    ref = sbe.decode(raw, None)
    for k, v in ref.fields.items():
        assert (int(v) if not isinstance(v, (str, dict)) else v) == m.fields[k], k
    # a short block or another schema is not taken by the fast path
    assert oc._decode_report(raw[:-1]) is None
    assert oc._decode_report(struct.pack("<HHHH", mdef.block_length, tid, 8, 1) + raw[8:]) is None
