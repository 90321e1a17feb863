# cython: language_level=3
"""Loop hook adapters (see hooks.pxd)."""
from messaging.records cimport Command, Event
from engine.loop cimport RiskHook, PositionHook, JournalHook
from engine.risk cimport RiskEngine
from engine.positions cimport Positions
from engine.journal cimport Journal


cdef class RiskAdapter(RiskHook):
    """``RiskHook`` forwarding to an ``engine.risk.RiskEngine`` (itself a ``RiskHook``, so the loop calls
    the engine directly: ``target()``; ``EngineLoop(risk=engine)`` works as well)."""

    def __init__(self, RiskEngine risk not None):
        self.risk = risk

    cdef int check(self, const Command *cmd) noexcept nogil:
        return self.risk.check(cmd)

    cdef void on_event(self, const Event *ev) noexcept nogil:
        self.risk.on_event(ev)

    cdef void prefetch(self, const Command *cmd) noexcept nogil:
        self.risk.prefetch(cmd)

    cdef void prefetch_events(self, const Event *evs, Py_ssize_t n) noexcept nogil:
        self.risk.prefetch_events(evs, n)

    cdef RiskHook target(self):
        return self.risk        # a RiskEngine is itself a RiskHook: the loop calls it directly


cdef class PositionAdapter(PositionHook):
    """``PositionHook`` forwarding to an ``engine.positions.Positions``."""

    def __init__(self, Positions positions not None):
        self.positions = positions

    cdef void on_fill(self, const Event *ev) noexcept nogil:
        self.positions.on_fill(ev)


cdef class JournalAdapter(JournalHook):
    """``JournalHook`` appending each command (``sizeof(Command)`` bytes, its seq and ts_ns) to a Journal."""

    def __init__(self, Journal journal not None):
        self.journal = journal

    cdef int append(self, const Command *cmd) noexcept nogil:
        if cmd.seq <= self.journaled_through:
            return 0
        cdef long long r = self.journal.append(cmd, sizeof(Command), cmd.seq, cmd.ts_ns)
        return <int>r if r < 0 else 0

    cdef int commit(self) noexcept nogil:
        return self.journal.commit()
