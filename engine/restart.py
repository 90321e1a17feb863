"""Crash restart of ``tickwire match FLOW.csv --journal DIR``: recover, skip what was done, resume the output.

Besides the journal segments, DIR holds ``output.pos`` (how far the printed output is complete) and,
with ``--snapshot-every N``, ``snapshot-<seq>.twsnap`` files (engine.recovery). The output rule a
consumer relies on, and what is refused: docs/journal.md, "Restarting `tickwire match`".

``output.pos`` (36 bytes, rewritten in place with one ``pwrite`` after each batch's rows are flushed
to stdout; not fsynced: it guards against a process crash, and a lost or stale one only means more
output is printed again)::

    magic b"TWOUTPS1" | rows u64 | lines u64 | seq u64 | crc32c u32 of the 32 bytes before
"""
from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass

import numpy as np

from engine import journal as jr
from engine.recovery import latest_snapshot, write_snapshot
from messaging.records import COMMAND_DTYPE

POS_NAME = "output.pos"
POS_MAGIC = b"TWOUTPS1"
#: The most a restart cuts without ``tickwire journal repair``: one torn record of a Command.
TORN_RECORD_MAX = jr.RECORD_OVERHEAD + COMMAND_DTYPE.itemsize


class RestartError(Exception):
    """The journal directory cannot be continued (one-line reason); ``tickwire match`` exits 5."""


@dataclass
class OutputPos:
    rows: int = 0       # input rows (after the header) whose output is completely printed
    lines: int = 0      # output lines (after the header) of those rows
    seq: int = 0        # the sequencer's last seq after those rows (last journaled command)


def read_pos(directory) -> OutputPos | None:
    """``output.pos`` of ``directory``, or None when absent or unreadable (torn, other format)."""
    try:
        with open(os.path.join(directory, POS_NAME), "rb") as f:
            raw = f.read(64)
    except OSError:
        return None
    if len(raw) != 36 or raw[:8] != POS_MAGIC or struct.unpack_from("<I", raw, 32)[0] != jr.crc32c(raw[:32]):
        return None
    return OutputPos(*struct.unpack_from("<QQQ", raw, 8))


@dataclass
class MatchSetup:
    """What besides the commands determines `match`'s engine state (its digest guards snapshots)."""
    max_orders: int
    default_tick: int
    ticks: dict
    symbols: str | None
    risk_file: str | None

    def digest(self) -> str:
        h = hashlib.sha256(repr((self.max_orders, self.default_tick, sorted(self.ticks.items()),
                                 self.symbols)).encode())
        if self.risk_file:
            with open(self.risk_file, "rb") as f:
                h.update(f.read())
        return h.hexdigest()[:32]


def _describe(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


class MatchRestart:
    """The journal directory of one ``tickwire match --journal DIR`` run (fresh or continuing).

    Opening verifies the journal (a missing segment, mid-journal corruption or a torn tail longer than
    one record is refused) and cuts a torn last record; ``resume`` brings the loop to where the output
    of the previous run is known complete and returns the input still to run; ``on_batch`` records
    progress after each batch; ``close`` closes the journal.

    Raises
    ------
    RestartError : what makes the directory unusable, in one line.
    """

    def __init__(self, directory, setup: MatchSetup, snapshot_every: int = 0, fresh: bool = False):
        self.dir = os.fspath(directory)
        self.setup = setup
        self.snapshot_every = int(snapshot_every)
        self.notes: list[str] = []
        self.journal = None
        self._pos_fd = -1
        if os.path.exists(self.dir) and not os.path.isdir(self.dir):
            raise RestartError(f"{self.dir} is not a directory")
        if fresh and os.path.isdir(self.dir) and os.listdir(self.dir):
            raise RestartError(f"--fresh: {self.dir} is not empty (it holds a journal or other files); "
                               f"give an empty or new directory, or leave out --fresh to continue it")
        try:
            if os.path.isdir(self.dir):
                info = jr.scan_journal(self.dir, repair=False, max_payload=4096)
                torn = info["torn"]
                if torn and torn["discarded_bytes"] > TORN_RECORD_MAX:
                    raise RestartError(
                        f"{torn['path']}: {torn['discarded_bytes']} bytes after seq {torn['after_seq']} at offset "
                        f"{torn['offset']} do not verify: more than one torn record ({TORN_RECORD_MAX} bytes), "
                        f"not cut here; check it with `tickwire journal check {self.dir}` and cut it with "
                        f"`tickwire journal repair {self.dir}`")
            self.journal = jr.Journal(self.dir, fsync="batch", buffered=True, max_payload=4096)
        except jr.JournalError as e:
            raise RestartError(_describe(e)) from None
        except OSError as e:
            raise RestartError(f"{self.dir}: {e.strerror or e}") from None
        t = self.journal.recovery["torn"]
        if t:
            self.notes.append(f"cut a torn tail: {t['discarded_bytes']} bytes at {t['path']} offset {t['offset']} "
                              f"(a record after seq {t['after_seq']} never completely written, never acknowledged)")
        self.rows = 0           # input rows done before this run (restart)
        self.lines = 0          # output lines printed before this run, kept by the consumer
        self._last_snap = 0

    # ------------------------------------------------------------------ resume ----
    def resume(self, loop, reader, tap=None):
        """Bring ``loop`` to the state after the previous run's last completely printed row.

        ``reader``: the ``engine.csvio.OrderReader`` of the input, just after its header. Returns the
        loop to go on with (a new one when a snapshot was restored), its journal attached; ``reader``
        is left after the previous run's last printed row (``self.rows``), for ``match_csv`` to go
        on from. Rows up to the journal's last command are run again without being journaled again,
        after checking they are the journaled commands. ``tap(cmds, events)`` (positions) is fed the
        replayed commands too; it then needs all of them, so snapshots are not used.
        """
        from engine.hooks import JournalAdapter
        last_j = int(self.journal.last_seq)
        pos = read_pos(self.dir)
        if pos is None or pos.seq > last_j:
            pos = OutputPos()
        seqs, _, pay = jr.read_records(self.dir, record_size=COMMAND_DTYPE.itemsize)
        jcmds = pay.view(COMMAND_DTYPE).reshape(-1)
        if not len(jcmds) and pos.rows == 0:
            self._attach(loop, JournalAdapter, 0)
            return loop
        seq_at_pos = self._scan_done_rows(reader, jcmds, pos)
        snap = None
        if tap is None and self._has_snapshots():
            snap = latest_snapshot(self.dir, seq_at_pos, self.setup)
        if snap is not None:
            loop = self._restore(loop, snap, reader.symbols)
            reader.engine = loop.engine
            start = snap.seq
        else:
            start = 0
        todo = jcmds[(jcmds["seq"] > start) & (jcmds["seq"] <= seq_at_pos)]
        journal_hook, loop.journal = loop.journal, None
        i = 0
        while i < len(todo):
            j, i = i, loop.run(todo, i)
            evs = loop.drain()                  # printed by the previous run
            if tap is not None:
                tap(todo[j:i], evs)
        loop.journal = journal_hook
        loop.resume_after(seq_at_pos)
        self._attach(loop, JournalAdapter, last_j)
        self.rows, self.lines = pos.rows, pos.lines
        self._last_snap = start
        rerun = int((jcmds["seq"] > seq_at_pos).sum())
        self.notes.append(
            f"recovered {len(jcmds)} journaled commands (snapshot at seq {start}, replayed {len(todo)}, "
            f"run again for their output {rerun}); output resumes after line {pos.lines} "
            f"(input row {pos.rows}); the journal continues after seq {last_j}")
        return loop

    def _has_snapshots(self) -> bool:
        return any(n.startswith("snapshot-") for n in os.listdir(self.dir))

    def _attach(self, loop, adapter_cls, journaled_through):
        adapter = adapter_cls(self.journal)
        adapter.journaled_through = journaled_through
        loop.journal = adapter
        self._pos_fd = os.open(os.path.join(self.dir, POS_NAME), os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def _scan_done_rows(self, reader, jcmds, pos: OutputPos) -> int:
        """Parse the input up to its last journaled command, checking it against the journal.

        Rows are parsed by ``reader`` as ``match_csv`` parses them (from the start, same parser), so
        the symbol and name tables give the same ids. Leaves ``reader`` after row ``pos.rows`` and
        returns the sequencer's last seq there.
        """
        from engine.csvio import BAD, END, WAIT
        cmds = np.zeros(4096, COMMAND_DTYPE)
        p = last = 0
        seq_at_pos = None
        ended = False
        while True:
            if seq_at_pos is None and reader.rows == pos.rows:
                reader.mark()
                seq_at_pos = last
            if ended or (p >= len(jcmds) and seq_at_pos is not None):
                break
            cap = len(cmds) if seq_at_pos is not None else min(len(cmds), pos.rows - reader.rows)
            n, outcome, _ = reader.step(cmds, 0, cap)
            if n:
                seq = cmds["seq"][:n]
                # the sequencer takes a command whose seq is above every seq before it (else SEQ_OUT_OF_ORDER)
                above = np.maximum.accumulate(np.concatenate(([np.uint64(last)], seq[:-1])))
                took = np.flatnonzero(seq > above)
                if seq_at_pos is not None:      # past row pos.rows: rows after the journal's last command are new
                    took = took[:len(jcmds) - p]
                got, want = cmds[took], jcmds[p:p + len(took)]
                if got.tobytes() != want.tobytes():
                    k = len(want)
                    if k:
                        diff = np.flatnonzero((got[:k].view(np.uint8).reshape(k, -1)
                                               != want.view(np.uint8).reshape(k, -1)).any(axis=1))
                        k = int(diff[0]) if len(diff) else k
                    row = reader.rows - (outcome == BAD) - n + 1 + int(took[k])
                    what = f"journaled command seq {int(want[k]['seq'])}" if k < len(want) else "no command"
                    raise RestartError(f"input row {row} (seq {int(got[k]['seq'])}) is not what {self.dir} "
                                       f"journaled there ({what}): not the input of the interrupted run")
                p += len(took)
                last = max(last, int(seq.max()))
            if outcome == WAIT:
                reader.more()
            ended = outcome == END
        if p < len(jcmds):
            raise RestartError(f"{self.dir} journaled commands up to seq {int(jcmds[len(jcmds) - 1]['seq'])}, "
                               f"the input ends after {reader.rows} rows at seq {last}: not the input of the "
                               f"interrupted run")
        if seq_at_pos is None:
            raise RestartError(f"{self.dir}/{POS_NAME} says {pos.rows} input rows were printed, the input has "
                               f"{reader.rows}")
        reader.rewind()
        return seq_at_pos

    def _restore(self, loop, snap, symbols):
        """A loop over the snapshot's engine and risk state, with every symbol named so far configured."""
        from engine.loop import EngineLoop
        from engine.snapshot import load_matching
        engine = load_matching(snap.sections["matching"])
        risk_hook = loop.risk
        if risk_hook is not None:
            risk_hook.risk.load_state(snap.sections["risk"])
        new = EngineLoop(engine=engine, risk=risk_hook, positions=loop.positions, high_water=loop.high_water)
        for name, sid in symbols.ids.items():
            engine.add_symbol(sid, symbols.tick(name))   # idempotent; a symbol first seen later starts empty
        return new

    # ---------------------------------------------------------------- progress ----
    def on_batch(self, loop, out, res, rows: int) -> None:
        """After a committed batch: flush ``out``, record how far it is complete, snapshot when due.

        ``rows``: input rows (from the start of the input) whose output is complete; ``res``: this run's
        ``MatchResult`` (its output lines follow the ``self.lines`` kept from the previous runs)."""
        out.flush()
        rec = POS_MAGIC + struct.pack("<QQQ", rows, self.lines + res.events + res.malformed,
                                      int(loop.last_seq))
        os.pwrite(self._pos_fd, rec + struct.pack("<I", jr.crc32c(rec)), 0)
        if self.snapshot_every > 0 and int(loop.last_seq) >= self._last_snap + self.snapshot_every:
            write_snapshot(self.dir, loop, self.setup)
            self._last_snap = int(loop.last_seq)

    def close(self) -> None:
        """Close the journal (last write and fdatasync; raises JournalError on failure) and output.pos."""
        if self._pos_fd >= 0:
            os.close(self._pos_fd)
            self._pos_fd = -1
        if self.journal is not None and not self.journal.closed:
            self.journal.close()
