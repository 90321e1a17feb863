"""tickwire's SBE messages for Python: ``encode(name, **fields) -> bytes`` and ``decode(buf) -> Message``.

For tools and tests; the hot paths use the Cython structs and ``put_*`` / ``sbe_check`` of
``messaging/sbe_wire.pxd`` directly. Both go through the same generated Cython code
(``messaging/sbe_codec.pyx``), so what Python encodes is what the C structs lay out.

Fields are plain values: ints, ``str`` for char fields (ASCII, NUL-padded on the wire), the
IntEnum / IntFlag of ``messaging.sbe_schema`` (or their int value, or the member name) for enums and
sets, a dict for the ``timing`` composite, a list of dicts for a group. A field not given is 0
(empty for chars). A refused buffer raises :class:`SbeError` with its ``SBE_E_*`` code and is
counted in :data:`COUNTERS`; a value that does not fit raises ``SbeError(SBE_E_ENCODE)``.
Schema and page: ``messaging/schema/tickwire.xml``, ``docs/messages.md``.
"""
from __future__ import annotations

import re

from core.codes import SBE_E_ENCODE, TickwireError
from messaging import sbe_codec as _codec
from messaging.sbe_schema import BY_TEMPLATE_ID, MESSAGES, PY_TYPES, MessageDef  # noqa: F401 (re-exported)
from messaging.sbe_schema import *  # noqa: F401,F403  (the enums and sets)

SbeCounters = _codec.SbeCounters
#: refusals and acceptances of every ``decode`` of this process
COUNTERS = _codec.SbeCounters()


class SbeError(TickwireError):
    """A refused SBE buffer (``SBE_E_*`` of sbe_check) or a value the encoder cannot write."""


class Message:
    """A decoded message: ``.name``, ``.template_id``, ``.header`` (blockLength, templateId, schemaId,
    version), the fields as attributes and in ``.fields`` (groups as lists of dicts)."""

    __slots__ = ("name", "template_id", "header", "fields")

    def __init__(self, name: str, template_id: int, header: dict, fields: dict):
        self.name = name
        self.template_id = template_id
        self.header = header
        self.fields = fields

    def __getattr__(self, key):
        try:
            return self.fields[key]
        except KeyError:
            raise AttributeError(f"{self.name} has no field {key!r}") from None

    def __eq__(self, other):
        return isinstance(other, Message) and (self.name, self.fields) == (other.name, other.fields)

    def __repr__(self):
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.fields.items())})"


def _lift(fdef, value):
    cls = PY_TYPES.get(fdef.type)
    if cls is None:
        return value
    try:
        return cls(value)
    except ValueError:          # a value this version does not name (a newer sender's): kept as int
        return value


def _lower(mname: str, fdef, value):
    if fdef.kind in ("enum", "set") and isinstance(value, str):
        cls = PY_TYPES[fdef.type]
        key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", value).upper()     # "StopLimit", "STOP_LIMIT"
        try:
            return cls[key]
        except KeyError:
            raise SbeError(SBE_E_ENCODE, f"{mname}.{fdef.name}: {value!r} is not a {fdef.type}") from None
    if fdef.kind == "set" and isinstance(value, (list, tuple, set, frozenset)):
        flags = 0
        for v in value:
            flags |= _lower(mname, fdef, v)
        return flags
    return value


def _prepare(mdef: MessageDef, fields: dict, defs, where: str) -> dict:
    known = {f.name: f for f in defs}
    unknown = set(fields) - set(known) - ({mdef.group} if defs is mdef.fields and mdef.group else set())
    if unknown:
        raise SbeError(SBE_E_ENCODE, f"{where} has no field {', '.join(sorted(unknown))}")
    return {k: (_lower(where, known[k], v) if k in known else v) for k, v in fields.items()}


def encode(name: str, **fields) -> bytes:
    """One message as bytes (header, block, group); ``SbeError(SBE_E_ENCODE)`` if a value does not fit."""
    mdef = MESSAGES.get(name)
    if mdef is None:
        raise SbeError(SBE_E_ENCODE, f"no message {name!r} in the schema")
    f = _prepare(mdef, fields, mdef.fields, name)
    if mdef.group and mdef.group in f:
        f[mdef.group] = [_prepare(mdef, dict(e), mdef.group_fields, f"{name}.{mdef.group}") for e in f[mdef.group]]
    try:
        return _codec.CODECS[mdef.template_id][1](f)
    except (OverflowError, TypeError, ValueError, AttributeError) as e:
        raise SbeError(SBE_E_ENCODE, f"{name}: {e}") from None


def check(buf, counters: SbeCounters | None = COUNTERS) -> int:
    """sbe_check of ``buf``: its template id, or a negative ``SBE_E_*`` code (counted)."""
    return _codec.check(memoryview(buf).cast("B"), counters)[0]


def decode(buf, counters: SbeCounters | None = COUNTERS) -> Message:
    """The message at the start of ``buf`` (bytes-like); ``SbeError`` with the code if it is refused."""
    mv = memoryview(buf).cast("B")
    if not mv.contiguous:
        mv = memoryview(bytes(mv))
    rc, hdr = _codec.check(mv, counters)
    if rc < 0:
        raise SbeError(rc)
    mdef = BY_TEMPLATE_ID[rc]
    raw = _codec.CODECS[rc][2](mv)
    out = {}
    for fd in mdef.fields:
        out[fd.name] = _lift(fd, raw[fd.name])
    if mdef.group:
        out[mdef.group] = [{fd.name: _lift(fd, e[fd.name]) for fd in mdef.group_fields} for e in raw[mdef.group]]
    header = dict(zip(("blockLength", "templateId", "schemaId", "version"), hdr))
    return Message(mdef.name, rc, header, out)


def message_length(buf) -> int:
    """Bytes of the (accepted) message at the start of ``buf``, from its headers."""
    return _codec.message_length(memoryview(buf).cast("B"))
