# cython: language_level=3
"""Deterministic single-threaded engine loop: sequence -> journal -> risk -> match -> positions -> events.

Hook points (subclass in your own module, ``from engine.loop cimport RiskHook``, override the cdef
methods; every call is a vtable call with a C pointer, no Python object, no GIL needed):

- ``JournalHook.append(cmd)`` before a command is applied (write-ahead); ``< 0`` -> the command is
  rejected with RC_JOURNAL_FAILED and not applied (the loop goes on). ``JournalHook.commit()`` once per
  batch, before ``EngineLoop.run`` returns (i.e. before its events are released to the caller); ``< 0``
  (a journal code, -200..-299) -> the batch's events are withheld and the loop stops: ``fatal`` holds the
  code and every later run is refused with RC_LOOP_STOPPED.
- ``RiskHook.check(cmd)`` after the journal and after the GTD expiries due by ``cmd.ts_ns`` (the matching
  clock advances first and their events reach the hooks), before matching; ``0`` accept, ``< 0`` a risk reject code
  (-100..-199, core/codes.pxd; other codes are registered with ``messaging.records.register_codes``). Every command is
  offered (control actions too: a risk engine may latch its own kill switch on ACT_KILL_SWITCH).
- ``RiskHook.on_event(ev)`` for every event the matching produced (acks, fills, cancels, expiries),
  so open-order exposure stays exact.
- ``RiskHook.prefetch(cmd)`` (optional, no state change): called by ``run`` for the next command of the
  batch before the current one runs, so the hook can prefetch the table slots that command will use;
  ``RiskHook.prefetch_events(evs, n)`` before a command's events are delivered when there are several.
- ``PositionHook.on_fill(ev)`` for every EV_FILL (taker = account_id/side, maker = maker_account_id,
  opposite side).
"""
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from messaging.records cimport Command, Event
from engine.matching cimport MatchingEngine


# --------------------------------------------------------------- hooks ----
cdef class RiskHook:
    cdef int check(self, const Command *cmd) noexcept nogil
    """0 to accept ``cmd``, or a negative risk code (the loop emits the reject event)."""
    cdef void on_event(self, const Event *ev) noexcept nogil
    """Observe one event produced by matching (after ``check`` accepted the command)."""
    cdef void prefetch(self, const Command *cmd) noexcept nogil
    """Optional hint: ``cmd`` is next; issue cache prefetches for the state its check will touch.
    Must not change any state (the loop calls it for command k + 1 while command k runs)."""
    cdef void prefetch_events(self, const Event *evs, Py_ssize_t n) noexcept nogil
    """Optional hint: the ``n`` (> 1) events of one command follow (fills of a sweep, cancels of a
    mass cancel); prefetch what their ``on_event`` calls will touch so the misses overlap. No state change."""
    cdef RiskHook target(self)
    """The hook whose methods the loop calls for this one: ``self``; an adapter that only forwards each
    call unchanged to another hook returns that hook (the loop then calls it directly)."""


cdef class PositionHook:
    cdef void on_fill(self, const Event *ev) noexcept nogil
    """Apply one fill (kind EV_FILL) to positions / P&L."""


cdef class JournalHook:
    cdef int append(self, const Command *cmd) noexcept nogil
    """Append ``cmd`` to the journal before it is applied; 0 ok, < 0 failure (command refused)."""
    cdef int commit(self) noexcept nogil
    """Make the batch's appends durable (flush / fsync policy) before events are released; 0 ok, < 0 a
    journal code (-200..-299): the loop withholds the batch's events and stops."""


# ---------------------------------------------------------------- loop ----
cdef class EngineLoop:
    # ------------------------------------------------------------ state ----
    cdef readonly MatchingEngine engine
    """The matching engine (books, order pool, event buffer)."""
    cdef RiskHook _risk
    """Pre-trade risk or None (the ``risk`` property)."""
    cdef RiskHook _rk
    """``_risk.target()``: the hook the hot path calls."""
    cdef public PositionHook positions
    """Positions / P&L or None."""
    cdef public JournalHook journal
    """Journal or None."""
    cdef readonly uint64_t last_seq
    """seq of the last command accepted by the sequencer (strictly increasing)."""
    cdef readonly uint64_t commands
    """Commands processed."""
    cdef readonly uint64_t seq_rejects
    """Commands refused for seq not above last_seq."""
    cdef readonly uint64_t risk_rejects
    """Commands refused by the risk hook."""
    cdef readonly uint64_t journal_failures
    """Commands refused because the journal append failed."""
    cdef readonly uint64_t commit_failures
    """Batches whose JournalHook.commit() failed (at most 1: the first one stops the loop)."""
    cdef readonly int fatal
    """0, or the negative code of the failed ``JournalHook.commit()`` that stopped the loop."""
    cdef readonly uint64_t crossed_violations
    """TW_DEBUG: times a book was found crossed after a command (must stay 0)."""
    cdef readonly uint32_t high_water
    """run() returns early once the event buffer holds this many events (caller drains, calls again)."""

    # ------------------------------------------------------------ calls ----
    cdef Py_ssize_t run_ptr(self, const Command *cmds, Py_ssize_t n) noexcept nogil
    """Run ``n`` commands as one batch; returns how many were consumed (< n when the event buffer reached
    high_water), or a negative code: the commit's code when the batch's commit failed (its events are
    removed from the buffer; ``fatal`` is set), RC_LOOP_STOPPED when ``fatal`` was already set (nothing run)."""
    cdef void step(self, const Command *cmd) noexcept nogil
    """Run one command through the pipeline."""
    cdef int commit(self) noexcept nogil
    """The journal's ``commit()`` for the commands stepped since the last one, for drivers that call ``step``
    themselves (bench/engine_runs.pyx); 0, or its code: counted in commit_failures and set as ``fatal``."""
