"""Snapshots, crash recovery, deterministic replay and the audit query.

The engine is deterministic: its state after command ``seq`` depends only on the configuration
(symbols and ticks, risk limits, table sizes) and the commands up to ``seq``. The journal holds
every command before its events are released, so after a crash

    state = latest valid snapshot (at seq S) + replay of the journal's commands after S

is exactly the state the crashed process had reached (including commands it journaled but
whose events it never released). Snapshots only bound the replay time.

Snapshot file ``snapshot-<seq:012d>.twsnap`` (written to a temp name, fsynced, renamed)::

    magic  8s  b"TWSNAP01"
    hlen   u32 length of the JSON header
    header     {"version", "seq", "ts_ns", "created_ns", "setup": digest, "sections": [[name, length, crc32c]]}
    sections   in header order: "matching" (engine.snapshot image), "orders" (resting orders in
               priority order, engine.snapshot.ORDER_DTYPE), "risk" (RiskEngine.dump_state),
               "positions" (Positions.dump_state)
    crc    u32 CRC32C of everything before it

Audit: the journal stores commands only; events are reproduced by replay (see docs/journal.md
for why there is no second, event journal).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import time
from dataclasses import dataclass, field

import numpy as np

from core.codes import JOURNAL_SEQ_ORDER
from engine import journal as jr
from engine.journal import Journal, crc32c, read_records
from messaging.records import COMMAND_DTYPE, EVENT_DTYPE

SNAP_MAGIC = b"TWSNAP01"
SNAP_VERSION = 1


class SnapshotError(Exception):
    """A snapshot file that cannot be used (bad CRC, truncated, other configuration)."""


# --------------------------------------------------------------------- setup ----
@dataclass
class EngineSetup:
    """Everything besides the commands that determines engine state: must be the same for replay.

    Parameters
    ----------
    symbols : {symbol_id: tick (1e-4 $)} configured in the matching engine.
    risk_config : engine.riskconfig.RiskConfig or None (no pre-trade risk).
    positions : keep positions / P&L (sized like the risk config, else max_accounts x max_symbols).
    """
    symbols: dict[int, int]
    risk_config: object = None
    positions: bool = True
    max_orders: int = 1 << 16
    max_symbols: int = 1024
    max_accounts: int = 64
    high_water: int = 1 << 16

    def digest(self) -> str:
        """Identity of the configuration (stored in snapshots; a different one refuses to load)."""
        h = hashlib.sha256()
        h.update(repr(sorted(self.symbols.items())).encode())
        h.update(repr((self.positions, self.max_orders, self.max_symbols, self.max_accounts)).encode())
        if self.risk_config is not None:
            rc = self.risk_config
            # the name tables (engine.names) are left out: their repr is an address, the CSV adds names to
            # them as it runs, and the ids they gave the configured accounts / firms are in the rest
            h.update(repr({k: v for k, v in vars(rc).items()
                           if k not in ("source", "account_names", "firm_names")}).encode())
        return h.hexdigest()[:32]

    def fresh(self):
        """(MatchingEngine, RiskEngine | None, Positions | None) in the initial state."""
        from engine.matching import MatchingEngine
        eng = MatchingEngine(self.max_orders, self.max_symbols)
        for sid, tick in sorted(self.symbols.items()):
            eng.add_symbol(sid, tick)
        risk = pos = None
        if self.risk_config is not None:
            from engine.risk import RiskEngine
            risk = RiskEngine(self.risk_config)
        if self.positions:
            from engine.positions import Positions
            if self.risk_config is not None:
                pos = Positions.from_risk_config(self.risk_config)
            else:
                pos = Positions(self.max_accounts, self.max_symbols)
            if risk is not None:
                risk.positions = pos
        return eng, risk, pos

    def loop(self, engine, risk=None, positions=None, journal=None):
        """An EngineLoop over these parts (hook adapters attached)."""
        from engine.hooks import JournalAdapter, PositionAdapter, RiskAdapter
        from engine.loop import EngineLoop
        return EngineLoop(engine=engine,
                          risk=RiskAdapter(risk) if risk is not None else None,
                          positions=PositionAdapter(positions) if positions is not None else None,
                          journal=JournalAdapter(journal) if journal is not None else None,
                          high_water=self.high_water)


def parts_of(loop):
    """(engine, risk, positions) behind an EngineLoop's adapters."""
    risk = loop.risk.risk if loop.risk is not None else None
    pos = loop.positions.positions if loop.positions is not None else None
    return loop.engine, risk, pos


# ------------------------------------------------------------------ snapshots ----
def snapshot_name(seq: int) -> str:
    return f"snapshot-{int(seq):012d}.twsnap"


def list_snapshots(directory) -> list[tuple[int, str]]:
    """[(seq, path)] of the snapshot files in ``directory``, oldest first."""
    out = []
    if not os.path.isdir(directory):
        return out
    for name in os.listdir(directory):
        if name.startswith("snapshot-") and name.endswith(".twsnap"):
            try:
                out.append((int(name[9:-7]), os.path.join(directory, name)))
            except ValueError:
                pass
    return sorted(out)


def write_snapshot(directory, loop, setup: EngineSetup, seq: int | None = None, ts_ns: int = 0,
                   keep: int = 3) -> str:
    """Serialize the engine state after command ``seq`` (default: the loop's last seq) atomically.

    Keeps the newest ``keep`` snapshots. Returns the path.
    """
    from engine.snapshot import dump_matching, resting_orders
    engine, risk, pos = parts_of(loop)
    seq = int(loop.last_seq if seq is None else seq)
    sections = [("matching", dump_matching(engine)), ("orders", resting_orders(engine).tobytes())]
    if risk is not None:
        sections.append(("risk", risk.dump_state()))
    if pos is not None:
        sections.append(("positions", pos.dump_state()))
    header = {"version": SNAP_VERSION, "seq": seq, "ts_ns": int(ts_ns), "created_ns": time.time_ns(),
              "setup": setup.digest(), "sections": [[n, len(b), crc32c(b)] for n, b in sections]}
    hb = json.dumps(header, sort_keys=True).encode()
    body = SNAP_MAGIC + struct.pack("<I", len(hb)) + hb + b"".join(b for _, b in sections)
    data = body + struct.pack("<I", crc32c(body))
    os.makedirs(directory, exist_ok=True)
    final = os.path.join(directory, snapshot_name(seq))
    tmp = final + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    jr._fsync_dir(directory)
    for _, old in list_snapshots(directory)[:-keep] if keep > 0 else []:
        os.unlink(old)
    return final


@dataclass
class Snapshot:
    path: str
    seq: int
    header: dict
    sections: dict = field(repr=False)

    def orders(self):
        """Resting orders in priority order (``engine.snapshot.ORDER_DTYPE``)."""
        from engine.snapshot import ORDER_DTYPE
        return np.frombuffer(self.sections["orders"], ORDER_DTYPE)


def read_snapshot(path) -> Snapshot:
    """Read and verify one snapshot (whole-file CRC and per-section CRCs)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 16 or data[:8] != SNAP_MAGIC:
        raise SnapshotError(f"{path}: not a snapshot (bad magic or truncated)")
    if struct.unpack_from("<I", data, len(data) - 4)[0] != crc32c(data[:-4]):
        raise SnapshotError(f"{path}: CRC mismatch (torn or corrupt snapshot)")
    (hlen,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12:12 + hlen])
    if header.get("version") != SNAP_VERSION:
        raise SnapshotError(f"{path}: snapshot version {header.get('version')} not supported")
    off = 12 + hlen
    sections = {}
    for name, length, crc in header["sections"]:
        blob = data[off:off + length]
        if len(blob) != length or crc32c(blob) != crc:
            raise SnapshotError(f"{path}: section {name} corrupt")
        sections[name] = blob
        off += length
    return Snapshot(path, int(header["seq"]), header, sections)


def latest_snapshot(directory, max_seq: int | None = None, setup: EngineSetup | None = None,
                    skipped: list | None = None) -> Snapshot | None:
    """Newest valid snapshot with seq <= max_seq (invalid ones are skipped, reasons in ``skipped``)."""
    for seq, path in reversed(list_snapshots(directory)):
        if max_seq is not None and seq > max_seq:
            if skipped is not None:
                skipped.append((path, f"seq {seq} beyond the journal's last seq {max_seq}"))
            continue
        try:
            snap = read_snapshot(path)
        except (SnapshotError, ValueError, OSError) as e:
            if skipped is not None:
                skipped.append((path, str(e)))
            continue
        if setup is not None and snap.header["setup"] != setup.digest():
            if skipped is not None:
                skipped.append((path, "written with another engine configuration"))
            continue
        return snap
    return None


def restore(snap: Snapshot, setup: EngineSetup):
    """(engine, risk, positions) in the snapshot's state."""
    from engine.snapshot import load_matching, resting_orders
    if snap.header["setup"] != setup.digest():
        raise SnapshotError(f"{snap.path}: written with another engine configuration")
    _, risk, pos = setup.fresh()
    engine = load_matching(snap.sections["matching"])
    if resting_orders(engine).tobytes() != snap.sections["orders"]:
        raise SnapshotError(f"{snap.path}: restored books differ from the snapshot's order list")
    if risk is not None:
        if "risk" not in snap.sections:
            raise SnapshotError(f"{snap.path}: no risk state")
        risk.load_state(snap.sections["risk"])
    if pos is not None:
        if "positions" not in snap.sections:
            raise SnapshotError(f"{snap.path}: no positions state")
        pos.load_state(snap.sections["positions"])
    return engine, risk, pos


# ------------------------------------------------------------------- replay ----
def journal_commands(journal_dir, from_seq: int = 1, to_seq: int | None = None) -> np.ndarray:
    """The journaled commands in [from_seq, to_seq] as a COMMAND_DTYPE array (torn tail excluded)."""
    seqs, ts, pay = read_records(journal_dir, from_seq, to_seq, record_size=COMMAND_DTYPE.itemsize)
    cmds = pay.view(COMMAND_DTYPE).reshape(-1)
    if len(cmds) and not np.array_equal(cmds["seq"], seqs):
        raise jr.JournalError(JOURNAL_SEQ_ORDER, "journal record seq differs from the command's seq")
    return cmds


def _run(loop, cmds, collect):
    out = []
    i = 0
    n = len(cmds)
    while i < n:
        i = loop.run(cmds, i)
        ev = loop.drain()
        if collect:
            out.append(ev)
    if collect:
        return np.concatenate(out) if out else np.zeros(0, EVENT_DTYPE)
    return None


@dataclass
class Recovered:
    loop: object
    journal: Journal | None
    last_seq: int               # last command applied (journal's last seq)
    snapshot_seq: int           # 0 = replayed from the start
    replayed: int               # commands replayed from the journal
    torn: dict | None           # torn tail the journal open truncated, if any
    skipped_snapshots: list
    events: np.ndarray | None = None


def recover(journal_dir, setup: EngineSetup, snapshot_dir=None, attach_journal=True, collect_events=False,
            **journal_kw) -> Recovered:
    """Rebuild the engine after a crash: latest valid snapshot + replay of the journal after it.

    The journal is opened first (which truncates a torn tail: a record that was never completely
    written was never acknowledged). With ``attach_journal`` the returned loop appends new commands
    to it. Events of replayed commands are dropped unless ``collect_events``.
    """
    journal = Journal(journal_dir, **journal_kw)
    torn = journal.recovery["torn"]
    last = int(journal.last_seq)
    skipped: list = []
    snap = latest_snapshot(snapshot_dir, last, setup, skipped) if snapshot_dir else None
    if snap is not None:
        engine, risk, pos = restore(snap, setup)
        start = snap.seq
    else:
        engine, risk, pos = setup.fresh()
        start = 0
    loop = setup.loop(engine, risk, pos)
    cmds = journal_commands(journal_dir, start + 1)
    events = _run(loop, cmds, collect_events)
    if attach_journal:
        from engine.hooks import JournalAdapter
        loop.journal = JournalAdapter(journal)
    else:
        journal.close()
        journal = None
    return Recovered(loop, journal, last, start, len(cmds), torn, skipped, events)


def replay(journal_dir, setup: EngineSetup, to_seq: int | None = None, snapshot_dir=None,
           collect_events=True):
    """Read-only deterministic replay (no repair, nothing appended): (loop, events or None).

    Starts from the newest valid snapshot at or before ``to_seq`` when ``snapshot_dir`` is given.
    """
    snap = latest_snapshot(snapshot_dir, to_seq, setup) if snapshot_dir else None
    if snap is not None:
        engine, risk, pos = restore(snap, setup)
        start = snap.seq
    else:
        engine, risk, pos = setup.fresh()
        start = 0
    loop = setup.loop(engine, risk, pos)
    events = _run(loop, journal_commands(journal_dir, start + 1, to_seq), collect_events)
    return loop, events


def state_fingerprint(loop) -> dict:
    """Digests of the recoverable state: books (priority order), full matching image, risk, positions."""
    from engine.snapshot import dump_matching, resting_orders
    engine, risk, pos = parts_of(loop)
    out = {"books": crc32c(resting_orders(engine).tobytes()), "matching": crc32c(dump_matching(engine))}
    if risk is not None:
        out["risk"] = risk.state_digest()
    if pos is not None:
        out["positions"] = pos.state_digest()
    return out


# -------------------------------------------------------------------- audit ----
def audit(journal_dir, setup: EngineSetup, order_id: int | None = None, account: int | None = None,
          t0_ns: int | None = None, t1_ns: int | None = None) -> np.ndarray:
    """All events of an order, an account and/or a time range [t0_ns, t1_ns], by replaying the journal.

    Filters combine (AND). ``order_id`` matches the order itself, as taker or as maker (fills);
    ``account`` matches the event's account or, for fills, the maker's account; the time range
    is on the causing command's ``ts_ns``. Replays from the start (the journal is the record of the
    day); the result is exactly what the engine released.
    """
    cmds = journal_commands(journal_dir)
    engine, risk, pos = setup.fresh()
    loop = setup.loop(engine, risk, pos)
    ev = _run(loop, cmds, True)
    keep = np.ones(len(ev), bool)
    if order_id is not None:
        keep &= (ev["order_id"] == order_id) | (ev["maker_order_id"] == order_id) | (ev["taker_order_id"] == order_id)
    if account is not None:
        keep &= (ev["account_id"] == account) | ((ev["kind"] == 3) & (ev["maker_account_id"] == account))
    if t0_ns is not None:
        keep &= ev["ts_ns"] >= t0_ns
    if t1_ns is not None:
        keep &= ev["ts_ns"] <= t1_ns
    return ev[keep]
