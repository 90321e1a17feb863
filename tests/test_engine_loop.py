"""EngineLoop pipeline, hook points and the binary record layout."""
import numpy as np
import pytest

from bench.engine_runs import run_discard, run_paced
from engine.loop import EngineLoop, JournalHook, RiskHook
from testing.engine_hooks import CountingJournal, CountingPositions, CountingRisk
from engine.matching import MatchingEngine, record_layout
from engine_harness import as_dicts, command
from engine_streams import random_stream
from messaging.records import CODES, COMMAND_DTYPE, EVENT_DTYPE, code_message, code_name, register_codes


def test_record_layout_matches_numpy_dtypes():
    layout = record_layout()
    for name, dtype in (("Command", COMMAND_DTYPE), ("Event", EVENT_DTYPE)):
        size, offsets = layout[name]
        assert size == dtype.itemsize
        assert offsets == {f: dtype.fields[f][1] for f in dtype.names}
    assert COMMAND_DTYPE.itemsize == 96 and EVENT_DTYPE.itemsize == 80


def test_code_table():
    assert code_name(-2) == "PRICE_NOT_ON_TICK" and "tick" in code_message(-2)
    assert code_name(3) == "STP"
    assert len({name for name, _ in CODES.values()}) >= len(CODES) - 2  # GTD_EXPIRED is both a reject and a reason
    register_codes({-150: ("TEST_RISK_CODE", "a test")})
    assert code_name(-150) == "TEST_RISK_CODE"
    with pytest.raises(ValueError):
        register_codes({-2: ("OTHER", "clash")})


def seqd(*cmds):
    a = np.concatenate(cmds)
    a["seq"] = np.arange(1, len(a) + 1)
    return a


def new_loop(**kw):
    lp = EngineLoop(**kw)
    lp.engine.add_symbol(0)
    return lp


def test_loop_without_hooks_equals_engine():
    cmds = random_stream(21, 2000)
    lp = EngineLoop()
    e = MatchingEngine()
    for x in (lp.engine, e):
        x.add_symbol(0)
        x.add_symbol(1)
    assert np.array_equal(lp.run_all(cmds), e.process(cmds))
    assert lp.last_seq == 2000 and lp.commands == 2000 and lp.crossed_violations == 0


def test_seq_out_of_order_rejected():
    lp = new_loop()
    a = seqd(command(oid=1, side="buy", price=10000, qty=1, account=1),
             command(oid=2, side="buy", price=10000, qty=1, account=1))
    a["seq"] = [5, 5]
    evs = as_dicts(lp.run_all(a))
    assert [(e["kind"], e["reason"]) for e in evs] == [("ack", None), ("reject", "SEQ_OUT_OF_ORDER")]
    assert lp.seq_rejects == 1


def test_risk_hook_rejects_and_sees_events():
    risk = CountingRisk(reject_account=2, code=-100)
    lp = new_loop(risk=risk)
    evs = as_dicts(lp.run_all(seqd(command(oid=1, side="buy", price=10000, qty=5, account=1),
                                   command(oid=2, side="sell", price=10000, qty=5, account=2),
                                   command(oid=3, side="sell", price=10000, qty=5, account=3))))
    assert [(e["kind"], e["order_id"]) for e in evs] == [("ack", 1), ("reject", 2), ("ack", 3), ("fill", 3)]
    assert evs[1]["reason"] == code_name(-100)
    assert risk.checked == 3 and risk.events == 3 and lp.risk_rejects == 1


def test_position_hook_gets_every_fill():
    pos = CountingPositions(account=1)
    lp = new_loop(positions=pos)
    lp.run_all(seqd(command(oid=1, side="buy", price=10000, qty=5, account=1),
                    command(oid=2, side="sell", price=10000, qty=3, account=2),
                    command(oid=3, side="sell", price=9900, qty=10, account=1),
                    command(oid=4, side="buy", price=9900, qty=4, account=2)))
    # account 1: +3 (maker buy), then oid 3 sells: 2 shares against its own bid 1 (self-trade, +2 -2), 4 to acct 2
    assert pos.fills == 3
    assert pos.position == 3 + 2 - 2 - 4


def test_journal_hook_appends_before_apply_and_commits_per_batch():
    j = CountingJournal()
    lp = new_loop(journal=j, high_water=1)
    cmds = seqd(*[command(oid=i, side="buy", price=10000, qty=1, account=1) for i in range(1, 6)])
    lp.run_all(cmds)
    assert j.appended == 5 and j.last_seq == 5 and j.commits == 5   # high_water=1: one command per batch
    bad = CountingJournal(fail_after=2)
    lp = new_loop(journal=bad)
    evs = as_dicts(lp.run_all(cmds))
    assert [e["kind"] for e in evs] == ["ack", "ack", "reject", "reject", "reject"]
    assert evs[-1]["reason"] == "JOURNAL_FAILED" and lp.journal_failures == 3
    assert lp.engine.stats()["live"] == 2


def test_hook_base_classes_are_no_ops():
    lp = new_loop(risk=RiskHook(), journal=JournalHook())
    evs = lp.run_all(seqd(command(oid=1, side="buy", price=10000, qty=1, account=1)))
    assert len(evs) == 1


def test_run_returns_early_at_high_water():
    lp = new_loop(high_water=2)
    cmds = seqd(*[command(oid=i, side="buy", price=10000, qty=1, account=1) for i in range(1, 6)])
    assert lp.run(cmds) == 2
    assert len(lp.drain()) == 2
    assert lp.run(cmds, 2) == 4


def test_bad_command_arrays():
    lp = new_loop()
    with pytest.raises(TypeError):
        lp.run(np.zeros(3, np.uint8))
    with pytest.raises(ValueError):
        lp.run(np.zeros(4, COMMAND_DTYPE)[::2])
    assert lp.run(np.zeros(0, COMMAND_DTYPE)) == 0


def test_commands_from_any_buffer():
    lp = new_loop()
    a = seqd(command(oid=1, side="buy", price=10000, qty=1, account=1))
    assert len(lp.run_all(a.tobytes())) == 1
    assert lp.run(memoryview(bytearray(96 * 2))) == 2        # zero records: invalid action, rejected
    with pytest.raises(ValueError):
        lp.run(b"\0" * 95)
    with pytest.raises(ValueError):
        lp.engine.add_symbol(0, tick=500)                     # an order is open on symbol 0


# ------------------------------------------------- a hook's failure is never ignored ----
def test_failed_commit_withholds_the_batch_and_stops_the_loop():
    from engine.loop import LoopStopped
    j = CountingJournal(fail_commit_after=1, commit_code=-215)      # 2nd commit fails (JOURNAL_FSYNC)
    lp = new_loop(journal=j)
    cmds = seqd(*[command(oid=i, side="buy", price=10000, qty=1, account=1) for i in range(1, 7)])
    assert lp.run(cmds[:2]) == 2                                     # committed; events not drained yet
    with pytest.raises(LoopStopped) as e:
        lp.run(cmds, 2)
    assert (e.value.code, e.value.fatal, e.value.name) == (-215, -215, "JOURNAL_FSYNC")
    assert lp.fatal == -215 and lp.commit_failures == 1 and j.appended == 6
    assert [int(x) for x in lp.drain()["seq"]] == [1, 2]           # only the committed batch's events
    for call in (lambda: lp.run(cmds, 2), lambda: lp.run_all(cmds[2:]), lambda: run_discard(lp, cmds[2:]),
                 lambda: run_paced(lp, cmds[2:], 1e6, np.zeros(4, np.int64))):
        with pytest.raises(LoopStopped) as e:
            call()
        assert (e.value.code, e.value.name, e.value.fatal) == (-202, "LOOP_STOPPED", -215)
        assert "JOURNAL_FSYNC" in str(e.value)
    assert lp.commands == 6 and j.appended == 6 and j.commits == 1    # refused calls touched nothing
    assert len(lp.drain()) == 0


def test_failed_commit_in_run_all_keeps_the_committed_batches():
    from engine.loop import LoopStopped
    j = CountingJournal(fail_commit_after=2, commit_code=-214)
    lp = new_loop(journal=j, high_water=1)                           # one command per batch
    cmds = seqd(*[command(oid=i, side="buy", price=10000, qty=1, account=1) for i in range(1, 6)])
    with pytest.raises(LoopStopped) as e:
        lp.run_all(cmds)
    assert e.value.code == -214 and [int(x) for x in e.value.events["seq"]] == [1, 2]
    assert len(lp.drain()) == 0


def test_failed_commit_stops_run_discard_and_run_paced():
    from engine.loop import LoopStopped
    cmds = seqd(*[command(oid=i, side="buy", price=10000, qty=1, account=1) for i in range(1, 4)])
    for run in (lambda lp: run_discard(lp, cmds), lambda lp: run_paced(lp, cmds, 1e6, np.zeros(3, np.int64))):
        lp = new_loop(journal=CountingJournal(fail_commit_after=0, commit_code=-215))
        with pytest.raises(LoopStopped) as e:
            run(lp)
        assert e.value.code == -215 and lp.fatal == -215


def test_append_failure_rejects_the_command_and_the_loop_goes_on():
    # An append that fails leaves the command unapplied (reject JOURNAL_FAILED is its only event);
    # the loop stops only if the batch's commit fails too.
    lp = new_loop(journal=CountingJournal(fail_after=1))
    cmds = seqd(*[command(oid=i, side="buy", price=10000, qty=1, account=1) for i in range(1, 4)])
    evs = as_dicts(lp.run_all(cmds))
    assert [(e["kind"], e["reason"]) for e in evs] == [("ack", None), ("reject", "JOURNAL_FAILED"),
                                                     ("reject", "JOURNAL_FAILED")]
    assert lp.fatal == 0 and lp.journal_failures == 2 and lp.engine.stats()["live"] == 1
