"""tickwire's SBE codecs against an independent implementation (pip ``sbe``) driven by the same XML.

Every message, both directions, over hypothesis-drawn field values: what tickwire encodes (through
the Cython structs of messaging/sbe_wire.pxd) pip ``sbe`` decodes to the same values and the same
bytes, and what pip ``sbe`` encodes tickwire decodes to the same values.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging import sbe as tw
from messaging import sbegen

pipsbe = pytest.importorskip("sbe")


def _set_encode(self, vals):
    """pip sbe 0.4.3's Set.encode builds a BitArray from a generator, which bitstring >= 4.2 refuses (TypeError
    for every value); this is its intended encoding (choice n is bit n), as its own Set.decode reads it."""
    vals = set(vals)
    assert vals <= {c.name for c in self.choices}, vals
    return sum(1 << c.value for c in self.choices if c.name in vals)


pipsbe.Set.encode = _set_encode
SCHEMA = sbegen.parse()
PIP = pipsbe.Schema.parse(open(sbegen.SCHEMA))
NAMES = [m.name for m in SCHEMA.messages]


def _int(prim):
    size, _, _, signed = sbegen.PRIM[prim]
    bits = size * 8
    return st.integers(-(1 << bits - 1), (1 << bits - 1) - 1) if signed else st.integers(0, (1 << bits) - 1)


def _value(t: sbegen.Type):
    if t.kind == "prim":
        return _int(t.prim)
    if t.kind == "chars":       # printable, no spaces or NUL (pip sbe strips both)
        return st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_", min_size=0, max_size=t.size)
    if t.kind == "enum":
        return st.sampled_from([n for n, _, _ in t.values])
    if t.kind == "set":
        names = [n for n, _, _ in t.values]
        return st.lists(st.sampled_from(names), unique=True).map(lambda xs: [n for n in names if n in xs])
    return st.fixed_dictionaries({n: _int(p) for n, p, _ in t.members})


def _fields(defs):
    return st.fixed_dictionaries({f.name: _value(f.type) for f in defs})


def message_values(m: sbegen.Message):
    s = _fields(m.fields)
    if m.group:
        s = st.tuples(s, st.lists(_fields(m.group.fields), max_size=6)).map(lambda t: {**t[0], m.group.name: t[1]})
    return s


def tw_as_names(m: sbegen.Message, fields: dict) -> dict:
    """A tickwire-decoded dict with enums and sets as their XML names (as pip sbe gives them)."""
    def conv(defs, d):
        out = {}
        for f in defs:
            v, t = d[f.name], f.type
            if t.kind == "enum":
                v = next(n for n, val, _ in t.values if val == int(v))
            elif t.kind == "set":
                v = [n for n, bit, _ in t.values if int(v) & (1 << bit)]
            out[f.name] = v
        return out
    out = conv(m.fields, fields)
    if m.group:
        out[m.group.name] = [conv(m.group.fields, e) for e in fields[m.group.name]]
    return out


def _pip_message(name):
    return next(m for m in PIP.messages.values() if m.name == name)


@pytest.mark.parametrize("name", NAMES)
def test_tickwire_encodes_what_pip_sbe_decodes(name):
    m = next(x for x in SCHEMA.messages if x.name == name)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(message_values(m))
    def run(values):
        buf = tw.encode(name, **values)
        got = PIP.decode(buf)
        assert got.message_name == name
        assert got.header == {"blockLength": m.block_length, "templateId": m.id, "schemaId": 7, "version": 1}
        assert got.value == values
        assert buf == PIP.encode(_pip_message(name), values)          # the same bytes, too
        assert tw.message_length(buf) == len(buf)
    run()


@pytest.mark.parametrize("name", NAMES)
def test_pip_sbe_encodes_what_tickwire_decodes(name):
    m = next(x for x in SCHEMA.messages if x.name == name)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(message_values(m))
    def run(values):
        buf = PIP.encode(_pip_message(name), values)
        counters = tw.SbeCounters()
        got = tw.decode(buf, counters)
        assert (got.name, got.template_id) == (name, m.id)
        assert tw_as_names(m, got.fields) == values
        assert counters.accepted == 1 and counters.refused == 0
    run()


def test_every_message_of_the_schema_is_crossed():
    assert len(NAMES) == len(PIP.messages) == len(tw.MESSAGES) == 32
    assert {m.name: m.id for m in PIP.messages.values()} == {n: d.template_id for n, d in tw.MESSAGES.items()}
    assert {m.name: m.blockLength for m in PIP.messages.values()} == {n: d.block_length for n, d in tw.MESSAGES.items()}


def test_python_enums_map_one_to_one_to_the_engine_records():
    from messaging import records
    assert {e.name: e.value for e in tw.Side} == {e.name: e.value for e in records.Side}
    assert {e.name: e.value for e in tw.OrdType} == {e.name: e.value for e in records.OrdType}
    assert {e.name: e.value for e in tw.Tif} == {e.name: e.value for e in records.Tif}
    assert {e.name: e.value for e in tw.Stp} == {e.name: e.value for e in records.Stp}
    assert {e.name: e.value for e in tw.OrderFlags} == {e.name: e.value for e in records.Flag}
    assert {e.name: e.value for e in tw.CancelReason} == {n: c for n, c in records.CANCEL_REASON_BY_NAME.items()}
