"""The SBE codecs and docs/messages.md are what messaging/sbegen.py makes of messaging/schema/tickwire.xml."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from messaging import sbe_codec, sbe_schema, sbegen

ROOT = Path(__file__).resolve().parents[1]


def test_committed_generated_files_equal_a_fresh_generation():
    for path, text in sbegen.outputs().items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run python -m messaging.sbegen"
    r = subprocess.run([sys.executable, "-m", "messaging.sbegen", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_c_compiler_lays_out_the_structs_at_the_schema_offsets():
    layout = sbe_codec.c_layout()
    for m in sbegen.parse().messages:
        size, offsets = layout[m.name]
        assert size == m.block_length, m.name
        assert offsets == {f.name: f.offset for f in m.fields}, m.name
        if m.group:
            size, offsets = layout[f"{m.name}.{m.group.name}"]
            assert size == m.group.block_length
            assert offsets == {f.name: f.offset for f in m.group.fields}


def test_market_data_messages_share_the_32_byte_prefix_and_order_entry_starts_with_seq():
    for m in sbegen.parse().messages:
        first = [(f.name, f.offset) for f in m.fields[:4]]
        if m.name == "SnapshotRequest":          # market-data area, but subscriber -> feed
            assert first[0] == ("request_id", 0)
        elif m.id < 20:
            assert first == [("feed_seq", 0), ("exch_ts", 8), ("rx_ts", 16), ("stream_seq", 24)], m.name
            assert "locate" in {f.name for f in m.fields}, m.name
        else:
            assert first[0] == ("seq", 0), m.name


def test_docs_page_names_every_message_and_field():
    text = (ROOT / "docs" / "messages.md").read_text()
    for m in sbe_schema.MESSAGES.values():
        assert f"## {m.name}\n" in text
        for f in m.fields + m.group_fields:
            assert f"| {f.offset} | `{f.name}` | {f.type} |" in text


@pytest.mark.parametrize("edit, why", [
    (lambda t: t.replace('name="BboUpdate" id="3" blockLength="154"', 'name="BboUpdate" id="3" blockLength="150"'),
     "BboUpdate: blockLength is 150, its fields take 154"),
    (lambda t: t.replace('name="qty" id="8" type="Qty"', 'name="qty" id="8" type="uint32"'),
     "NewOrder.qty: type 'uint32' is not a named type"),
    (lambda t: t.replace('name="Trade" id="10"', 'name="Trade" id="9"'), "Trade: template id 9"),
])
def test_generator_refuses_a_bad_schema(tmp_path, edit, why):
    bad = tmp_path / "bad.xml"
    bad.write_text(edit(sbegen.SCHEMA.read_text()))
    with pytest.raises((ValueError, AssertionError), match=why):
        sbegen.parse(bad)
