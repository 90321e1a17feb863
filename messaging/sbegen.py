"""Generator of tickwire's SBE codecs and message page from ``messaging/schema/tickwire.xml``.

``python -m messaging.sbegen`` writes, from the schema (the single source of truth):

* ``messaging/sbe_wire.pxd``   packed structs, constants, ``put_*`` encoders, ``sbe_check`` (Cython, nogil)
* ``messaging/sbe_codec.pxd``  the ``SbeCounters`` cdef class
* ``messaging/sbe_codec.pyx``  Python-level encode / decode of every message through those structs
* ``messaging/sbe_schema.py``  IntEnums / IntFlags and the field tables (Python)
* ``docs/messages.md``         every message, field, type and offset

``python -m messaging.sbegen --check`` exits 1 when a committed file differs from a fresh generation
(``tests/test_sbe_codegen.py`` runs the same comparison). Standard library only (xml.etree).
"""
from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "messaging" / "schema" / "tickwire.xml"
HEADER_LEN = 8
GROUP_HEADER_LEN = 4
TID_TABLE = 64          # template ids are 1..TID_TABLE-1

PRIM = {  # SBE primitive -> (size, C type, struct format, signed)
    "char": (1, "char", "s", False),
    "int8": (1, "int8_t", "b", True), "uint8": (1, "uint8_t", "B", False),
    "int16": (2, "int16_t", "h", True), "uint16": (2, "uint16_t", "H", False),
    "int32": (4, "int32_t", "i", True), "uint32": (4, "uint32_t", "I", False),
    "int64": (8, "int64_t", "q", True), "uint64": (8, "uint64_t", "Q", False),
}


@dataclass
class Type:
    name: str
    kind: str            # "prim", "chars", "enum", "set", "composite"
    prim: str            # primitive (encoding type) of prim/chars/enum/set
    size: int
    description: str = ""
    values: list = field(default_factory=list)     # enum: [(name, value, description)]; set: [(name, bit, d)]
    members: list = field(default_factory=list)    # composite: [(name, prim, description)]


@dataclass
class Field:
    name: str
    id: int
    type: Type
    offset: int
    description: str


@dataclass
class Group:
    name: str
    id: int
    block_length: int
    fields: list


@dataclass
class Message:
    name: str
    id: int
    block_length: int
    description: str
    fields: list
    group: Group | None

    @property
    def upper(self) -> str:
        return snake(self.name).upper()


def snake(name: str) -> str:
    """CamelCase -> camel_case (BboUpdate -> bbo_update)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _tag(e) -> str:
    return e.tag.rsplit("}", 1)[-1]


@dataclass
class Schema:
    id: int
    version: int
    package: str
    description: str
    types: dict
    messages: list


def parse(path: Path = SCHEMA) -> Schema:
    """The schema as data; every field's type must be a named type of <types>; block lengths are checked."""
    root = ET.parse(path).getroot()
    assert _tag(root) == "messageSchema", "not an SBE messageSchema"
    assert root.get("byteOrder") == "littleEndian"
    types: dict[str, Type] = {}
    for t in next(e for e in root if _tag(e) == "types"):
        tag, name, desc = _tag(t), t.get("name"), t.get("description", "")
        if tag == "type":
            prim = t.get("primitiveType")
            if prim == "char":
                n = int(t.get("length", "1"))
                types[name] = Type(name, "chars", prim, n, desc)
            else:
                types[name] = Type(name, "prim", prim, PRIM[prim][0], desc)
        elif tag in ("enum", "set"):
            prim = t.get("encodingType")
            vals = [(v.get("name"), int(v.text.strip()), v.get("description", "")) for v in t]
            types[name] = Type(name, tag, prim, PRIM[prim][0], desc, values=vals)
        elif tag == "composite":
            mem = [(m.get("name"), m.get("primitiveType"), m.get("description", "")) for m in t]
            types[name] = Type(name, "composite", "", sum(PRIM[p][0] for _, p, _ in mem), desc, members=mem)
        else:
            raise ValueError(f"unsupported element <{tag}> in <types>")
    hdr = types["messageHeader"].members
    assert [(n, p) for n, p, _ in hdr] == [("blockLength", "uint16"), ("templateId", "uint16"),
                                           ("schemaId", "uint16"), ("version", "uint16")]
    assert [(n, p) for n, p, _ in types["groupSizeEncoding"].members] == [("blockLength", "uint16"),
                                                                            ("numInGroup", "uint16")]

    def fields_of(elem, where):
        out, off = [], 0
        for f in elem:
            if _tag(f) != "field":
                continue
            tname = f.get("type")
            if tname not in types:
                raise ValueError(f"{where}.{f.get('name')}: type {tname!r} is not a named type of <types>")
            t = types[tname]
            out.append(Field(f.get("name"), int(f.get("id")), t, off, f.get("description", "")))
            off += t.size
        return out, off

    messages, seen = [], set()
    for m in root:
        if _tag(m) != "message":
            continue
        name, tid = m.get("name"), int(m.get("id"))
        assert 0 < tid < TID_TABLE and tid not in seen, f"{name}: template id {tid}"
        seen.add(tid)
        fields, block = fields_of(m, name)
        if int(m.get("blockLength")) != block:
            raise ValueError(f"{name}: blockLength is {m.get('blockLength')}, its fields take {block}")
        groups = [g for g in m if _tag(g) == "group"]
        assert len(groups) <= 1, f"{name}: at most one repeating group"
        group = None
        if groups:
            g = groups[0]
            assert list(m).index(g) == len(m) - 1, f"{name}: the group comes after the fields"
            assert g.get("dimensionType", "groupSizeEncoding") == "groupSizeEncoding"
            gfields, gblock = fields_of(g, f"{name}.{g.get('name')}")
            if int(g.get("blockLength")) != gblock:
                raise ValueError(f"{name}.{g.get('name')}: blockLength is {g.get('blockLength')}, its fields take {gblock}")
            group = Group(g.get("name"), int(g.get("id")), gblock, gfields)
        messages.append(Message(name, tid, block, m.get("description", ""), fields, group))
    return Schema(int(root.get("id")), int(root.get("version")), root.get("package"),
                  root.get("description", ""), types, messages)


# ------------------------------------------------------------------------------------------ pxd ----
BANNER = "# Generated by messaging/sbegen.py from messaging/schema/tickwire.xml: do not edit.\n"


def _c_decl(f: Field) -> str:
    t = f.type
    if t.kind == "chars":
        return f"char {f.name}[{t.size}]"
    if t.kind == "composite":
        return f"{t.name}_t {f.name}"
    return f"{PRIM[t.prim][1]} {f.name}"


def _const(tname: str, vname: str) -> str:
    return f"SBE_{snake(tname).upper()}_{snake(vname).upper()}"


def gen_pxd(s: Schema) -> str:
    o = ["# cython: language_level=3", BANNER.rstrip(), '''"""tickwire's SBE wire format (schema id %d, version %d, little-endian): structs and in-place codecs.

Encode: ``m = put_BboUpdate(buf, cap)`` writes the message header at ``buf``, zeroes the block and
returns a pointer to it (NULL when ``cap`` is too small); set the fields in place; the message is
``BBO_UPDATE_ENCODED_LENGTH`` bytes. A message with a group: ``put_DepthUpdate(buf, cap, n)`` also
writes the group header for ``n`` entries (``DepthUpdate_length(n)`` bytes in all) and
``DepthUpdate_levels(buf, i)`` points at entry ``i``.

Decode: ``tid = sbe_check(buf, len, &hdr)`` validates the header, the block length and the group
extents and returns the template id (``TID_*``) or a negative ``SBE_E_*`` code (core/codes.pxd);
then cast ``buf + SBE_HEADER_LEN`` to the block struct. A newer version's longer block is accepted
(its extra bytes are skipped: groups are found through the header's blockLength). Group entries:
``DepthUpdate_levels(buf, i)`` (uses the blockLengths on the wire), count ``DepthUpdate_levels_count(buf)``.
``sbe_count(&counts, rc)`` counts a result for readers (``SbeCounts``).

Only for a little-endian host (x86-64): the C compiler stops on any other.
"""''' % (s.id, s.version),
         "from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t",
         "from libc.string cimport memcpy, memset", "",
         "from core.codes cimport (SBE_E_SHORT_HEADER, SBE_E_SCHEMA_ID, SBE_E_VERSION, SBE_E_UNKNOWN_TEMPLATE,",
         "                         SBE_E_SHORT_BLOCK, SBE_E_TRUNCATED, SBE_E_TRUNCATED_GROUP, SBE_E_GROUP_BLOCK)",
         "", ""]
    blocks = [0] * TID_TABLE
    entries = [0] * TID_TABLE
    for m in s.messages:
        blocks[m.id] = m.block_length
        if m.group:
            entries[m.id] = m.group.block_length
    o += ['cdef extern from *:', '    """',
          "    #if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__",
          '    #error "tickwire SBE codecs need a little-endian host"',
          "    #endif",
          f"    static const unsigned short tw_sbe_block[{TID_TABLE}] = {{{', '.join(map(str, blocks))}}};",
          f"    static const unsigned short tw_sbe_entry[{TID_TABLE}] = {{{', '.join(map(str, entries))}}};",
          '    """',
          f"    const uint16_t tw_sbe_block[{TID_TABLE}]   # our block length per template id (0: unknown id)",
          f"    const uint16_t tw_sbe_entry[{TID_TABLE}]   # our group entry length per template id (0: no group)",
          "", "", "cdef enum:",
          f"    SBE_SCHEMA_ID = {s.id}", f"    SBE_SCHEMA_VERSION = {s.version}",
          f"    SBE_HEADER_LEN = {HEADER_LEN}", f"    SBE_GROUP_HEADER_LEN = {GROUP_HEADER_LEN}",
          f"    SBE_TID_TABLE = {TID_TABLE}           # template ids are below this"]
    o += ["", "# template ids", "cdef enum:"]
    o += [f"    TID_{m.upper} = {m.id}" for m in s.messages]
    o += ["", "# block lengths; encoded lengths of the messages without a group (header + block)", "cdef enum:"]
    for m in s.messages:
        o.append(f"    {m.upper}_BLOCK_LENGTH = {m.block_length}")
        if m.group:
            o.append(f"    {m.upper}_{m.group.name.upper()}_ENTRY_LENGTH = {m.group.block_length}")
        else:
            o.append(f"    {m.upper}_ENCODED_LENGTH = {HEADER_LEN + m.block_length}")
    for t in s.types.values():
        if t.kind in ("enum", "set"):
            o += ["", f"# {t.name} ({t.kind}, {t.prim}): {t.description}", "cdef enum:"]
            for vn, vv, vd in t.values:
                val = vv if t.kind == "enum" else (1 << vv)
                o.append(f"    {_const(t.name, vn)} = {val}" + (f"    # {vd}" if vd else ""))
    o += ["", "", "cdef packed struct SbeHeader:"]
    o += [f"    uint16_t {n}" for n, _, _ in s.types["messageHeader"].members]
    o += ["", "cdef packed struct SbeGroupHeader:"]
    o += [f"    uint16_t {n}" for n, _, _ in s.types["groupSizeEncoding"].members]
    for t in s.types.values():
        if t.kind == "composite" and t.name not in ("messageHeader", "groupSizeEncoding"):
            o += ["", f"cdef packed struct {t.name}_t:    # {t.description}"]
            o += [f"    {PRIM[p][1]} {n}    # {d}" for n, p, d in t.members]
    o += ["", "cdef struct SbeCounts:",
          "    uint64_t accepted        # messages sbe_check accepted (counted by sbe_count)",
          "    uint64_t refused         # messages refused, all codes",
          "    uint64_t by_code[16]     # refused, by code: by_code[-rc - 1200]"]
    for m in s.messages:
        o += ["", f"cdef packed struct {m.name}_t:    # template {m.id}, {m.block_length} bytes: {m.description}"]
        o += [f"    {_c_decl(f)}    # @{f.offset} {f.type.name}" for f in m.fields]
        if m.group:
            g = m.group
            o += ["", f"cdef packed struct {m.name}_{g.name}_t:    # one entry of {m.name}.{g.name}, {g.block_length} bytes"]
            o += [f"    {_c_decl(f)}    # @{f.offset} {f.type.name}" for f in g.fields]
    o += ["", "", "# ------------------------------------------------------------ encoders ----"]
    for m in s.messages:
        if m.group:
            g = m.group
            o += ["", f"cdef inline Py_ssize_t {m.name}_length(Py_ssize_t n) noexcept nogil:",
                  f"    return SBE_HEADER_LEN + {m.block_length} + SBE_GROUP_HEADER_LEN + n * {g.block_length}", "",
                  f"cdef inline {m.name}_t* put_{m.name}(unsigned char* buf, Py_ssize_t cap, uint16_t n) noexcept nogil:",
                  f"    if cap < {m.name}_length(n):", "        return NULL",
                  f"    _sbe_put_header(buf, {m.block_length}, {m.id})",
                  f"    memset(buf + SBE_HEADER_LEN, 0, {m.block_length})",
                  f"    cdef SbeGroupHeader* g = <SbeGroupHeader*>(buf + SBE_HEADER_LEN + {m.block_length})",
                  f"    g.blockLength = {g.block_length}", "    g.numInGroup = n",
                  f"    memset(buf + SBE_HEADER_LEN + {m.block_length} + SBE_GROUP_HEADER_LEN, 0, n * {g.block_length})",
                  f"    return <{m.name}_t*>(buf + SBE_HEADER_LEN)", "",
                  f"cdef inline uint16_t {m.name}_{g.name}_count(const unsigned char* buf) noexcept nogil:",
                  "    return _sbe_group(buf).numInGroup", "",
                  f"cdef inline {m.name}_{g.name}_t* {m.name}_{g.name}(const unsigned char* buf, Py_ssize_t i) noexcept nogil:",
                  "    cdef const SbeGroupHeader* g = _sbe_group(buf)",
                  f"    return <{m.name}_{g.name}_t*>(<const unsigned char*>g + SBE_GROUP_HEADER_LEN + i * g.blockLength)"]
        else:
            o += ["", f"cdef inline {m.name}_t* put_{m.name}(unsigned char* buf, Py_ssize_t cap) noexcept nogil:",
                  f"    if cap < {m.upper}_ENCODED_LENGTH:", "        return NULL",
                  f"    _sbe_put_header(buf, {m.block_length}, {m.id})",
                  f"    memset(buf + SBE_HEADER_LEN, 0, {m.block_length})",
                  f"    return <{m.name}_t*>(buf + SBE_HEADER_LEN)"]
    o += ["", "", "# --------------------------------------------------------------- shared ----", "",
          "cdef inline void _sbe_put_header(unsigned char* buf, uint16_t block, uint16_t tid) noexcept nogil:",
          "    cdef SbeHeader* h = <SbeHeader*>buf",
          "    h.blockLength = block", "    h.templateId = tid", "    h.schemaId = SBE_SCHEMA_ID",
          "    h.version = SBE_SCHEMA_VERSION", "",
          "cdef inline const SbeGroupHeader* _sbe_group(const unsigned char* buf) noexcept nogil:",
          "    \"\"\"The group header of a checked (or put) message: after the block its header announces.\"\"\"",
          "    return <const SbeGroupHeader*>(buf + SBE_HEADER_LEN + (<const SbeHeader*>buf).blockLength)", "",
          "cdef inline int sbe_check(const unsigned char* buf, Py_ssize_t length, SbeHeader* out) noexcept nogil:",
          '    """Template id of the message in ``buf[:length]``, or a negative SBE_E_* code; ``out`` gets its header.',
          "",
          "    Checks, in order: the 8-byte header is there, schema id, version >= 1 (a newer one is accepted),",
          "    a known template id, a blockLength not below ours, the block inside ``length``, and for a message",
          "    with a group: its header inside, its blockLength not below our entry, its entries inside. Bytes",
          '    after the message (a newer version\'s additions) are allowed."""',
          "    if length < SBE_HEADER_LEN:", "        return SBE_E_SHORT_HEADER",
          "    memcpy(out, buf, SBE_HEADER_LEN)",
          "    if out.schemaId != SBE_SCHEMA_ID:", "        return SBE_E_SCHEMA_ID",
          "    if out.version < 1:", "        return SBE_E_VERSION",
          "    cdef uint16_t tid = out.templateId",
          "    if tid >= SBE_TID_TABLE or tw_sbe_block[tid] == 0:", "        return SBE_E_UNKNOWN_TEMPLATE",
          "    if out.blockLength < tw_sbe_block[tid]:", "        return SBE_E_SHORT_BLOCK",
          "    cdef Py_ssize_t end = SBE_HEADER_LEN + <Py_ssize_t>out.blockLength",
          "    if length < end:", "        return SBE_E_TRUNCATED",
          "    cdef SbeGroupHeader g",
          "    if tw_sbe_entry[tid]:",
          "        if length < end + SBE_GROUP_HEADER_LEN:", "            return SBE_E_TRUNCATED_GROUP",
          "        memcpy(&g, buf + end, SBE_GROUP_HEADER_LEN)",
          "        if g.blockLength < tw_sbe_entry[tid]:", "            return SBE_E_GROUP_BLOCK",
          "        if length < end + SBE_GROUP_HEADER_LEN + <Py_ssize_t>g.blockLength * g.numInGroup:",
          "            return SBE_E_TRUNCATED_GROUP",
          "    return tid", "",
          "cdef inline Py_ssize_t sbe_message_length(const unsigned char* buf) noexcept nogil:",
          '    """Bytes of a checked message as its headers announce them (header, block, group)."""',
          "    cdef const SbeHeader* h = <const SbeHeader*>buf",
          "    cdef Py_ssize_t n = SBE_HEADER_LEN + <Py_ssize_t>h.blockLength",
          "    cdef const SbeGroupHeader* g",
          "    if tw_sbe_entry[h.templateId]:",
          "        g = _sbe_group(buf)",
          "        n += SBE_GROUP_HEADER_LEN + <Py_ssize_t>g.blockLength * g.numInGroup",
          "    return n", "",
          "cdef inline int sbe_count(SbeCounts* c, int rc) noexcept nogil:",
          '    """Count a result of sbe_check (accepted, or refused by code); returns rc."""',
          "    if rc >= 0:", "        c.accepted += 1", "    else:", "        c.refused += 1",
          "        if -1215 <= rc <= -1200:", "            c.by_code[-rc - 1200] += 1",
          "    return rc", ""]
    return "\n".join(o)


# ------------------------------------------------------------------------------------------ pyx ----
def _enc_lines(f: Field, ptr: str, src: str) -> list[str]:
    t = f.type
    if t.kind == "chars":
        return [f"    _put_chars({ptr}.{f.name}, {t.size}, {src}.get({f.name!r}, b''), {f.name!r})"]
    if t.kind == "composite":
        out = [f"    c = {src}.get({f.name!r}) or {{}}"]
        out += [f"    {ptr}.{f.name}.{n} = c.get({n!r}, 0)" for n, _, _ in t.members]
        return out
    return [f"    {ptr}.{f.name} = {src}.get({f.name!r}, 0)"]


def _dec_item(f: Field, ptr: str) -> str:
    t = f.type
    if t.kind == "chars":
        return f"{f.name!r}: _get_chars({ptr}.{f.name}, {t.size})"
    if t.kind == "composite":
        inner = ", ".join(f"{n!r}: {ptr}.{f.name}.{n}" for n, _, _ in t.members)
        return f"{f.name!r}: {{{inner}}}"
    return f"{f.name!r}: {ptr}.{f.name}"


def gen_codec_pxd(s: Schema) -> str:
    return "\n".join(["# cython: language_level=3", BANNER.rstrip(),
                      "from messaging.sbe_wire cimport SbeCounts", "", "",
                      "cdef class SbeCounters:",
                      "    \"\"\"Accepted / refused counts of sbe_check for a reader (``counts`` is the C struct).\"\"\"",
                      "    cdef SbeCounts counts", ""])


def gen_pyx(s: Schema) -> str:
    o = ["# cython: language_level=3", BANNER.rstrip(),
         '"""Python-level encode / decode of every tickwire SBE message through the structs of sbe_wire.pxd.',
         "",
         "For tools and tests (``messaging.sbe`` is the interface): one dict of plain values per message; the",
         "hot paths use ``put_*`` / ``sbe_check`` of sbe_wire.pxd directly.",
         '"""',
         "import sys", "",
         "from libc.stdint cimport uint16_t",
         "from libc.string cimport memcpy, memset", "",
         "from messaging.sbe_wire cimport *", "",
         "if sys.byteorder != 'little':",
         "    raise ImportError('tickwire SBE codecs need a little-endian host')", "",
         "", "cdef class SbeCounters:",
         "    def __init__(self):", "        memset(&self.counts, 0, sizeof(self.counts))", "",
         "    def count(self, int rc):", "        \"\"\"Count one sbe_check result; returns it.\"\"\"",
         "        return sbe_count(&self.counts, rc)", "",
         "    @property", "    def accepted(self):", "        return self.counts.accepted", "",
         "    @property", "    def refused(self):", "        return self.counts.refused", "",
         "    def by_code(self):", "        \"\"\"{code: count} of the refusals (codes with a count only).\"\"\"",
         "        return {-1200 - i: self.counts.by_code[i] for i in range(16) if self.counts.by_code[i]}", "",
         "    def reset(self):", "        memset(&self.counts, 0, sizeof(self.counts))", "",
         "",
         "cdef void _put_chars(char* dst, int n, value, str name) except *:",
         "    cdef bytes b = value.encode('ascii') if isinstance(value, str) else bytes(value)",
         "    if len(b) > n:",
         "        raise OverflowError(f'{name}: {len(b)} bytes, the field holds {n}')",
         "    memset(dst, 0, n)", "    memcpy(dst, <const char*>b, len(b))", "", "",
         "cdef str _get_chars(const char* src, int n):",
         "    cdef bytes b = src[:n]",
         "    return b.split(b'\\0', 1)[0].decode('ascii', 'replace')", "", "",
         "def check(const unsigned char[::1] buf, SbeCounters counters=None):",
         '    """sbe_check on a buffer: (template id or negative SBE_E_* code, header tuple or None); counted."""',
         "    cdef SbeHeader h",
         "    cdef int rc = sbe_check(&buf[0] if buf.shape[0] else NULL, buf.shape[0], &h)",
         "    if counters is not None:", "        counters.count(rc)",
         "    if buf.shape[0] < SBE_HEADER_LEN:", "        return rc, None",
         "    return rc, (h.blockLength, h.templateId, h.schemaId, h.version)", "", "",
         "def message_length(const unsigned char[::1] buf):",
         '    """Bytes of a message sbe_check accepted, from its headers."""',
         "    return sbe_message_length(&buf[0])", ""]
    for m in s.messages:
        o += ["", f"def encode_{m.name}(dict f):", "    cdef object c"]
        if m.group:
            g = m.group
            o += [f"    cdef list items = f.get({g.name!r}) or []",
                  "    cdef Py_ssize_t i, n = len(items)",
                  "    if n > 65535:", f"        raise OverflowError('{g.name}: more than 65535 entries')",
                  f"    cdef bytearray out = bytearray({m.name}_length(n))",
                  "    cdef unsigned char* b = out",
                  f"    cdef {m.name}_t* m = put_{m.name}(b, len(out), <uint16_t>n)",
                  f"    cdef {m.name}_{g.name}_t* e", "    cdef dict d"]
        else:
            o += [f"    cdef bytearray out = bytearray({m.upper}_ENCODED_LENGTH)",
                  "    cdef unsigned char* b = out",
                  f"    cdef {m.name}_t* m = put_{m.name}(b, len(out))"]
        for f in m.fields:
            o += _enc_lines(f, "m", "f")
        if m.group:
            g = m.group
            o += ["    for i in range(n):", "        d = items[i]", f"        e = {m.name}_{g.name}(b, i)"]
            for f in g.fields:
                o += ["    " + x for x in _enc_lines(f, "e", "d")]
        o += ["    return bytes(out)", "",
              f"def decode_{m.name}(const unsigned char[::1] buf):",
              '    """The fields of a message sbe_check accepted, as a dict."""',
              "    cdef const unsigned char* b = &buf[0]",
              f"    cdef const {m.name}_t* m = <const {m.name}_t*>(b + SBE_HEADER_LEN)"]
        items = ", ".join(_dec_item(f, "m") for f in m.fields)
        o.append(f"    cdef dict out = {{{items}}}")
        if m.group:
            g = m.group
            o += [f"    cdef const {m.name}_{g.name}_t* e", "    cdef list items = []",
                  f"    for i in range({m.name}_{g.name}_count(b)):",
                  f"        e = {m.name}_{g.name}(b, i)",
                  "        items.append({" + ", ".join(_dec_item(f, "e") for f in g.fields) + "})",
                  f"    out[{g.name!r}] = items"]
        o += ["    return out", ""]
    o += ["", "def try_put(int tid, Py_ssize_t cap, uint16_t n=0):",
          '    """Whether put_* of template ``tid`` writes into a ``cap``-byte buffer (False: it returned NULL)."""',
          "    cdef bytearray buf = bytearray(max(cap, 1))",
          "    cdef unsigned char* b = buf"]
    for m in s.messages:
        call = f"put_{m.name}(b, cap, n)" if m.group else f"put_{m.name}(b, cap)"
        o += [f"    if tid == {m.id}:", f"        return {call} != NULL"]
    o += ["    raise KeyError(tid)", ""]
    o += ["", "#: template id -> (name, encoder, decoder)", "CODECS = {"]
    o += [f"    {m.id}: ({m.name!r}, encode_{m.name}, decode_{m.name})," for m in s.messages]
    o += ["}", "", "", "def c_layout():",
          '    """{struct name: (sizeof, {field: offsetof})} as the C compiler laid them out (tests compare)."""',
          "    out = {}"]
    for m in s.messages:
        o += [f"    cdef {m.name}_t v_{m.name}",
              f"    out[{m.name!r}] = (sizeof({m.name}_t), {{" + ", ".join(
                  f"{f.name!r}: <char*>&v_{m.name}.{f.name} - <char*>&v_{m.name}" for f in m.fields) + "})"]
        if m.group:
            g = m.group
            v = f"v_{m.name}_{g.name}"
            o += [f"    cdef {m.name}_{g.name}_t {v}",
                  f"    out['{m.name}.{g.name}'] = (sizeof({m.name}_{g.name}_t), {{" + ", ".join(
                      f"{f.name!r}: <char*>&{v}.{f.name} - <char*>&{v}" for f in g.fields) + "})"]
    o += ["    return out", ""]
    return "\n".join(o)


# ------------------------------------------------------------------------------------------- py ----
def _py_class(name: str) -> str:
    return name


def gen_py(s: Schema) -> str:
    o = [BANNER.rstrip(), '"""tickwire SBE schema tables for Python: enums, sets and each message\'s fields.', "",
         "``MESSAGES[name]`` is a ``MessageDef``; a field's ``kind`` is prim, chars, enum, set or composite and",
         "``py_type`` names its IntEnum / IntFlag class here (enums and sets).", '"""',
         "from __future__ import annotations", "", "from enum import IntEnum, IntFlag", "from typing import NamedTuple", "",
         f"SCHEMA_ID = {s.id}", f"SCHEMA_VERSION = {s.version}", f"HEADER_LEN = {HEADER_LEN}",
         f"GROUP_HEADER_LEN = {GROUP_HEADER_LEN}", ""]
    for t in s.types.values():
        if t.kind == "enum":
            o += ["", f"class {t.name}(IntEnum):", f'    """{t.description}"""']
            o += [f"    {snake(vn).upper()} = {vv}" for vn, vv, _ in t.values]
        elif t.kind == "set":
            o += ["", f"class {t.name}(IntFlag):", f'    """{t.description}"""']
            o += [f"    {snake(vn).upper()} = {1 << vv}" for vn, vv, _ in t.values]
    o += ["", "", "class FieldDef(NamedTuple):", "    name: str", "    type: str", "    kind: str",
          "    offset: int", "    size: int", "", "",
          "class MessageDef(NamedTuple):", "    name: str", "    template_id: int", "    block_length: int",
          "    fields: tuple", "    group: str | None", "    group_block_length: int", "    group_fields: tuple", "", "",
          "MESSAGES: dict[str, MessageDef] = {"]
    for m in s.messages:
        fl = lambda fs: "(" + "".join(f"FieldDef({f.name!r}, {f.type.name!r}, {f.type.kind!r}, {f.offset}, {f.type.size}), "
                                      for f in fs) + ")"
        g = m.group
        o.append(f"    {m.name!r}: MessageDef({m.name!r}, {m.id}, {m.block_length}, {fl(m.fields)}, "
                 f"{(g.name if g else None)!r}, {g.block_length if g else 0}, {fl(g.fields) if g else '()'}),")
    o += ["}", "BY_TEMPLATE_ID: dict[int, MessageDef] = {m.template_id: m for m in MESSAGES.values()}",
          "#: enum / set type name -> its class", "PY_TYPES = {"]
    o += [f"    {t.name!r}: {t.name}," for t in s.types.values() if t.kind in ("enum", "set")]
    o += ["}", ""]
    return "\n".join(o)


# ------------------------------------------------------------------------------------------- md ----
def _type_text(t: Type) -> str:
    if t.kind == "chars":
        return f"char[{t.size}]"
    if t.kind == "composite":
        return f"composite ({t.size} B)"
    return t.prim if t.kind == "prim" else f"{t.kind} {t.prim}"


def gen_md(s: Schema) -> str:
    o = ["# Wire messages (SBE)", "",
         "Generated from `messaging/schema/tickwire.xml` by `python -m messaging.sbegen`; do not edit.",
         f"SBE 1.0, package `{s.package}`, schema id {s.id}, version {s.version}, little-endian. Every message is",
         f"the {HEADER_LEN}-byte header (blockLength, templateId, schemaId, version: uint16 each), its fixed block and,",
         f"for a list, one repeating group: a {GROUP_HEADER_LEN}-byte header (blockLength, numInGroup: uint16) and the entries.",
         "Offsets are from the start of the block (after the message header) or of the group entry.",
         "Prices are int64 in 1e-4 dollars; times uint64 ns.", "",
         "Codecs: `messaging/sbe_wire.pxd` (Cython: `put_*` writes in place, `sbe_check` validates and returns",
         "the template id or an `SBE_E_*` code of `docs/codes.md`), `messaging.sbe.encode` / `decode` (Python).",
         "A reader accepts a newer version whose block is longer than ours (the extra bytes are skipped);",
         "a block or group entry shorter than ours, an unknown template id, a schema id other than",
         f"{s.id}, version 0, and a buffer that ends inside the block or the group are refused with their code and counted.",
         "",
         "Latency stamps: the `TimingStamps` composite (`timing` field) rides on BboUpdate, NewOrder, Cancel, Modify",
         "and every execution report; each hop writes its own stamp and copies the earlier ones forward",
         "(BboUpdate carries send..md_pub, the strategy copies them into its NewOrder with strat_rx and order_tx,",
         "the gateway adds gw_rx..er_pub to the execution report).", "",
         "| id | message | block | group | what |", "|---|---|---|---|---|"]
    for m in s.messages:
        g = f"{m.group.name} ({m.group.block_length} B each)" if m.group else ""
        o.append(f"| {m.id} | [{m.name}](#{m.name.lower()}) | {m.block_length} | {g} | {m.description} |")
    for m in s.messages:
        o += ["", f"## {m.name}", "", f"Template id {m.id}, block {m.block_length} bytes"
              + (f", then group `{m.group.name}`" if m.group else f" ({HEADER_LEN + m.block_length} bytes with the header)")
              + f". {m.description[0].upper() + m.description[1:]}.", "",
              "| offset | field | type | encoding | size | description |", "|---|---|---|---|---|---|"]
        for f in m.fields:
            o.append(f"| {f.offset} | `{f.name}` | {f.type.name} | {_type_text(f.type)} | {f.type.size} | "
                     f"{f.description or f.type.description} |")
        if m.group:
            g = m.group
            o += ["", f"Group `{g.name}` (id {g.id}), {g.block_length} bytes per entry:", "",
                  "| offset | field | type | encoding | size | description |", "|---|---|---|---|---|---|"]
            for f in g.fields:
                o.append(f"| {f.offset} | `{f.name}` | {f.type.name} | {_type_text(f.type)} | {f.type.size} | "
                         f"{f.description or f.type.description} |")
    o += ["", "## Types", "", "| type | encoding | size | values / members |", "|---|---|---|---|"]
    for t in s.types.values():
        if t.kind in ("enum", "set"):
            vals = ", ".join(f"{vn} = {vv if t.kind == 'enum' else f'bit {vv}'}" for vn, vv, _ in t.values)
        elif t.kind == "composite":
            vals = ", ".join(f"{n} {p}" for n, p, _ in t.members)
        else:
            vals = t.description
        o.append(f"| {t.name} | {_type_text(t)} | {t.size} | {vals} |")
    return "\n".join(o) + "\n"


def outputs(schema_path: Path = SCHEMA) -> dict[Path, str]:
    """Every generated file (path -> content) from the schema."""
    s = parse(schema_path)
    return {ROOT / "messaging" / "sbe_wire.pxd": gen_pxd(s),
            ROOT / "messaging" / "sbe_codec.pxd": gen_codec_pxd(s),
            ROOT / "messaging" / "sbe_codec.pyx": gen_pyx(s),
            ROOT / "messaging" / "sbe_schema.py": gen_py(s),
            ROOT / "docs" / "messages.md": gen_md(s)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--check"]):
        print("usage: python -m messaging.sbegen [--check]", file=sys.stderr)
        return 2
    try:
        outs = outputs()
    except (ValueError, AssertionError, ET.ParseError, KeyError) as e:
        print(f"sbegen: {SCHEMA.relative_to(ROOT)}: {e}", file=sys.stderr)
        return 1
    stale = [p for p, text in outs.items() if not p.exists() or p.read_text() != text]
    if argv == ["--check"]:
        for p in stale:
            print(f"sbegen: {p.relative_to(ROOT)} differs from a fresh generation (python -m messaging.sbegen)")
        return 1 if stale else 0
    for p in stale:
        p.write_text(outs[p])
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
