# cython: language_level=3
"""Adapters plugging the journal, risk and positions modules into ``engine.loop.EngineLoop``'s hook points.

The three modules stay usable without the loop (standalone tools, recovery, audit); these
subclasses of the loop's hook classes forward each vtable call to them (one extra direct C call).
"""
from messaging.records cimport Command, Event
from engine.loop cimport RiskHook, PositionHook, JournalHook
from engine.risk cimport RiskEngine
from engine.positions cimport Positions
from engine.journal cimport Journal


cdef class RiskAdapter(RiskHook):
    cdef readonly RiskEngine risk
    """The risk engine the loop's ``check`` / ``on_event`` calls go to."""


cdef class PositionAdapter(PositionHook):
    cdef readonly Positions positions
    """The positions table the loop's ``on_fill`` calls go to."""


cdef class JournalAdapter(JournalHook):
    cdef readonly Journal journal
    """The journal the loop's ``append`` / ``commit`` calls go to."""
    cdef public unsigned long long journaled_through
    """Commands with seq <= this are in the journal already (a restart runs them again, verified
    against the journal by its caller): ``append`` does not write them again. 0 = none."""
