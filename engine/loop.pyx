# cython: language_level=3
"""EngineLoop: the deterministic single-threaded order pipeline (contract and hook points in loop.pxd)."""
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

import numpy as np

from core.compiler cimport TW_DEBUG, tw_unlikely
from core.codes import TickwireError
from messaging.records import code_message, code_name
from messaging.records cimport *
from engine.matching cimport MatchingEngine, command_ptr


# --------------------------------------------------------------- hooks ----
cdef class RiskHook:
    """Base pre-trade risk hook: accepts everything. Subclass and override ``check`` / ``on_event``."""

    cdef int check(self, const Command *cmd) noexcept nogil:
        return 0

    cdef void on_event(self, const Event *ev) noexcept nogil:
        pass

    cdef void prefetch(self, const Command *cmd) noexcept nogil:
        pass

    cdef void prefetch_events(self, const Event *evs, Py_ssize_t n) noexcept nogil:
        pass

    cdef RiskHook target(self):
        return self


cdef class PositionHook:
    """Base positions hook: ignores fills. Subclass and override ``on_fill``."""

    cdef void on_fill(self, const Event *ev) noexcept nogil:
        pass


cdef class JournalHook:
    """Base journal hook: keeps nothing. Subclass and override ``append`` / ``commit``."""

    cdef int append(self, const Command *cmd) noexcept nogil:
        return 0

    cdef int commit(self) noexcept nogil:
        return 0


class LoopStopped(TickwireError):
    """The engine loop stopped because a ``JournalHook.commit()`` failed; raised by the Python layer only.

    Attributes
    ----------
    code : int      the failed commit's code on the call that stopped the loop (e.g. -215 JOURNAL_FSYNC),
                    RC_LOOP_STOPPED (-202) on every later call (nothing was run)
    name : str      NAME of ``code``
    fatal : int     the failed commit's code (``EngineLoop.fatal``)
    events : EVENT_DTYPE array or None   ``run_all`` only: the events of its batches committed before
                    the failure (the failed batch's events are never released)
    """

    def __init__(self, code, fatal):
        self.code = code = int(code)
        self.name = code_name(code)
        self.fatal = fatal = int(fatal)
        self.events = None
        self.message = code_message(code)
        if code != fatal:
            self.message += f" (after {code_name(fatal)} ({fatal}): {code_message(fatal)})"
        self.offset = None
        Exception.__init__(self, self._text())


# ---------------------------------------------------------------- loop ----
cdef inline void _deliver(EngineLoop self, Py_ssize_t start) noexcept nogil:
    """Hand the events from ``start`` on to positions (fills) and risk (all)."""
    cdef Py_ssize_t k
    cdef const Event *ev
    if self._rk is not None and self.engine.ev_n - start > 1:
        self._rk.prefetch_events(&self.engine.evs[start], self.engine.ev_n - start)
    if self._rk is not None or self.positions is not None:
        for k in range(start, self.engine.ev_n):
            ev = &self.engine.evs[k]
            if self.positions is not None and ev.kind == EV_FILL:
                self.positions.on_fill(ev)
            if self._rk is not None:
                self._rk.on_event(ev)


cdef class EngineLoop:
    """Run command batches: sequence check -> journal.append -> GTD expiries due -> risk.check -> matching
    -> hooks -> events.

    Parameters
    ----------
    engine : MatchingEngine, optional
        Created with ``max_orders`` / ``max_symbols`` when omitted.
    risk, positions, journal : hook objects or None.
    high_water : run() stops taking commands once this many events are buffered.
    max_orders, max_symbols, expected_ids : MatchingEngine sizes (when ``engine`` is omitted).

    Usage::

        loop = EngineLoop(max_orders=1 << 20)
        loop.engine.add_symbol(0, tick=100)
        events = loop.run_all(commands)          # COMMAND_DTYPE array -> EVENT_DTYPE array
        # or, bounded memory:  i = 0; while i < len(cmds): i = loop.run(cmds, i); handle(loop.drain())
    """

    def __cinit__(self, MatchingEngine engine=None, RiskHook risk=None, PositionHook positions=None,
                  JournalHook journal=None, uint32_t high_water=1 << 16, int max_orders=1 << 16,
                  int max_symbols=1024, uint64_t expected_ids=0):
        self.high_water = high_water if high_water > 0 else 1
        self.engine = engine if engine is not None else MatchingEngine(
            max_orders, max_symbols, expected_ids, self.high_water + 4096)
        self.risk = risk
        self.positions = positions
        self.journal = journal

    @property
    def risk(self):
        """Pre-trade risk hook or None (settable)."""
        return self._risk

    @risk.setter
    def risk(self, RiskHook hook):
        self._risk = hook
        self._rk = hook.target() if hook is not None else None

    cdef void step(self, const Command *c) noexcept nogil:

        cdef Py_ssize_t start
        cdef int rc
        self.commands += 1
        if tw_unlikely(c.seq <= self.last_seq):
            self.seq_rejects += 1
            self.engine.cur = c
            self.engine.emit_reject(c, RC_SEQ_OUT_OF_ORDER)
            return
        self.last_seq = c.seq
        if self.journal is not None:
            if tw_unlikely(self.journal.append(c) < 0):
                self.journal_failures += 1
                self.engine.cur = c
                self.engine.emit_reject(c, RC_JOURNAL_FAILED)
                return
        if c.ts_ns > self.engine.clock_ns:
            # GTD orders due by this command expire before risk checks it (their exposure is gone)
            start = self.engine.ev_n
            self.engine.advance(c)
            if self.engine.ev_n != start:
                _deliver(self, start)
        if self._rk is not None:
            rc = self._rk.check(c)
            if rc < 0:
                self.risk_rejects += 1
                self.engine.cur = c
                self.engine.emit_reject(c, rc)
                return
        start = self.engine.ev_n
        # apply's code needs no handling here: a matching reject is already its event (risk sees it below).
        self.engine.apply(c)
        _deliver(self, start)
        if TW_DEBUG:
            if self.engine.is_crossed(c.symbol_id):
                self.crossed_violations += 1

    cdef Py_ssize_t run_ptr(self, const Command *cmds, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t k = 0
        cdef int rc
        cdef Py_ssize_t ev_start = self.engine.ev_n
        if tw_unlikely(self.fatal != 0):
            return RC_LOOP_STOPPED
        while k < n and self.engine.ev_n < self.high_water:
            if k + 1 < n:
                self.engine.prefetch(&cmds[k + 1])   # the index probe is the likely cache miss
                if self._rk is not None:
                    self._rk.prefetch(&cmds[k + 1])     # risk's order-table slot and cell
            self.step(&cmds[k])
            k += 1
        if self.journal is not None:
            rc = self.journal.commit()
            if tw_unlikely(rc < 0):
                # The batch is not durable: none of its events may reach anyone. Its commands were
                # applied, so the in-memory state is ahead of the journal: stop (recover from the journal).
                self.commit_failures += 1
                self.fatal = rc
                self.engine.ev_n = ev_start
                return rc
        return k

    def run(self, cmds, Py_ssize_t start=0):
        """Run ``cmds[start:]`` (a COMMAND_DTYPE array) until done or the event buffer reaches high_water.

        Returns the index of the first command not yet run; its events are then in the buffer
        (``drain()``). Events are released only after the journal's ``commit()``.

        Raises
        ------
        LoopStopped : the journal's commit of this batch failed (its events are withheld; events of
            earlier batches not yet drained stay in the buffer), or the loop had stopped before.
        """
        cdef Py_ssize_t n = 0, done
        cdef const Command *p = command_ptr(cmds, &n)
        if start < 0 or start > n:
            raise IndexError("start out of range")
        if start == n:
            self._check_stopped()
            return n
        with nogil:
            done = self.run_ptr(p + start, n - start)
        if done < 0:
            raise LoopStopped(<int>done, self.fatal)
        return start + done

    def _check_stopped(self):
        if self.fatal:
            raise LoopStopped(RC_LOOP_STOPPED, self.fatal)

    cdef int commit(self) noexcept nogil:
        cdef int rc
        if self.journal is None:
            return 0
        rc = self.journal.commit()
        if tw_unlikely(rc < 0):
            self.commit_failures += 1
            self.fatal = rc
        return rc

    def resume_after(self, uint64_t seq):
        """Set the sequencer's last seq to ``seq`` (a restart from a snapshot taken after command ``seq``).

        Commands with seq <= ``seq`` are then refused (SEQ_OUT_OF_ORDER) as they were before the restart.
        """
        self.last_seq = seq

    def drain(self):
        """Copy out and clear the buffered events (EVENT_DTYPE array)."""
        return self.engine.take_events()

    def run_all(self, cmds):
        """Run every command; returns all their events (EVENT_DTYPE array).

        Raises LoopStopped as ``run`` does; its ``events`` are those of the batches committed before.
        """
        parts = []
        cdef Py_ssize_t i = 0, n = 0
        command_ptr(cmds, &n)          # validates and counts records (len() of a bytes object is not)
        while True:
            try:
                i = self.run(cmds, i)
            except LoopStopped as e:
                parts.append(self.drain())
                e.events = np.concatenate(parts)
                raise
            parts.append(self.drain())
            if i >= n:
                break
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def stats(self):
        d = self.engine.stats()
        d.update({"loop_commands": self.commands, "last_seq": self.last_seq, "seq_rejects": self.seq_rejects,
                  "risk_rejects": self.risk_rejects, "journal_failures": self.journal_failures,
                  "commit_failures": self.commit_failures, "fatal": self.fatal, "crossed_violations": self.crossed_violations})
        return d
