# cython: language_level=3
"""Counting engine hooks: test doubles of the risk, positions and journal hook points of engine.loop.

``CountingJournal`` fails appends or commits on request, so tests can drive the loop's journal-failure paths.
"""
from libc.stdint cimport int64_t, uint32_t, uint64_t

from messaging.records cimport Command, Event, SIDE_BUY
from engine.loop cimport JournalHook, PositionHook, RiskHook


cdef class CountingRisk(RiskHook):
    """Example risk hook: rejects every command of ``reject_account`` with ``code``; counts what it saw."""
    cdef public uint32_t reject_account
    cdef public int code
    cdef readonly uint64_t checked
    cdef readonly uint64_t events

    def __init__(self, uint32_t reject_account=0, int code=-100):
        self.reject_account = reject_account
        self.code = code

    cdef int check(self, const Command *cmd) noexcept nogil:
        self.checked += 1
        return self.code if self.reject_account != 0 and cmd.account_id == self.reject_account else 0

    cdef void on_event(self, const Event *ev) noexcept nogil:
        self.events += 1


cdef class CountingPositions(PositionHook):
    """Example positions hook: net position (shares) of one account from the fills it sees."""
    cdef public uint32_t account
    cdef readonly int64_t position
    cdef readonly uint64_t fills

    def __init__(self, uint32_t account=0):
        self.account = account

    cdef void on_fill(self, const Event *ev) noexcept nogil:
        self.fills += 1
        if ev.account_id == self.account:
            self.position += ev.qty if ev.side == SIDE_BUY else -<int64_t> ev.qty
        if ev.maker_account_id == self.account:
            self.position += -<int64_t> ev.qty if ev.side == SIDE_BUY else ev.qty


cdef class CountingJournal(JournalHook):
    """Example journal hook: counts appends / commits; fails every append after ``fail_after`` (0 = never)
    and every commit after ``fail_commit_after`` successful ones (-1 = never) with ``commit_code``."""
    cdef public uint64_t fail_after
    cdef public int64_t fail_commit_after
    cdef public int commit_code
    cdef readonly uint64_t appended
    cdef readonly uint64_t commits
    cdef readonly uint64_t last_seq

    def __init__(self, uint64_t fail_after=0, int64_t fail_commit_after=-1, int commit_code=-215):
        self.fail_after = fail_after
        self.fail_commit_after = fail_commit_after
        self.commit_code = commit_code

    cdef int append(self, const Command *cmd) noexcept nogil:
        if self.fail_after and self.appended >= self.fail_after:
            return -1
        self.appended += 1
        self.last_seq = cmd.seq
        return 0

    cdef int commit(self) noexcept nogil:
        if self.fail_commit_after >= 0 and <int64_t>self.commits >= self.fail_commit_after:
            return self.commit_code
        self.commits += 1
        return 0
