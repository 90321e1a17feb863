"""`tickwire match FILE.csv`: run an order-flow CSV through the matching engine, events as CSV on stdout."""
from __future__ import annotations

import os
import sys

from tickwire.cli_types import INT32_MAX, INT64_MAX, name_list, nonneg_int, positive_int

#: Exit status when the journal failed (a batch's commit or the final close): the events of the
#: batch that was not made durable were not printed. 1 stays usage / input errors, 2 argparse's.
EXIT_JOURNAL = 4
#: Exit status when the input's header is unusable (empty input, a repeated, missing or unknown column,
#: undecodable bytes): one line on stderr, nothing on stdout.
EXIT_HEADER = 3
#: Exit status when ``--journal DIR`` cannot be continued (missing segment, corruption, a torn tail
#: longer than one record, input other than the journaled one, ``--fresh`` on a non-empty DIR, locked).
EXIT_RESTART = 5


def register(subparsers) -> None:
    p = subparsers.add_parser("match", help="run an order-flow CSV through the matching engine (events CSV to stdout)",
                              description=__doc__.splitlines()[0] + " Formats: docs/engine.md.")
    p.add_argument("file", help="input CSV ('-' for stdin): seq,action,order_id,account,symbol,side,type,tif,qty,"
                                "price,stop_price,display_qty,expire_ns [,ts_ns,link_id,stp,post_only,firm,session,"
                                "flags]")
    p.add_argument("--risk", metavar="RISK.toml", help="pre-trade risk configuration (engine.risk)")
    p.add_argument("--journal", metavar="DIR", help="journal every command to DIR before its events are released")
    p.add_argument("--tick", action="append", default=[], metavar="SYMBOL=PRICE",
                   help="tick size of a symbol in dollars (repeatable); default --default-tick")
    p.add_argument("--default-tick", default="0.01", metavar="PRICE", help="tick of unconfigured symbols (0.01)")
    p.add_argument("--symbols", type=name_list, metavar="A,B,...",
                   help="only these symbols are known (others: UNKNOWN_SYMBOL); default: any name seen")
    p.add_argument("--max-orders", type=positive_int(INT32_MAX), default=1 << 18,
                   help="order pool capacity (open orders at once; default 262144)")
    p.add_argument("--stats", action="store_true", help="print engine counters to stderr at the end")
    p.add_argument("--positions", metavar="FILE", help="write end-of-run positions and P&L per account and symbol "
                                                      "(CSV) to FILE")
    p.add_argument("--reference-parser", action="store_true",
                   help="parse and format with the Python reference code (slow; for checks)")
    # restart (docs/journal.md "Restarting tickwire match")
    p.add_argument("--fresh", action="store_true",
                   help="with --journal: DIR must be empty or new (default: continue the journal DIR holds)")
    p.add_argument("--snapshot-every", type=nonneg_int(INT64_MAX), default=0, metavar="N",
                   help="with --journal: snapshot the engine into DIR every N journaled commands (at batch ends; "
                        "a restart with --positions replays from the start instead)")
    p.add_argument("--batch", type=positive_int(INT32_MAX), default=65536, metavar="ROWS",
                   help="input rows per engine batch (journal commit, then its events printed); default 65536")
    p.set_defaults(func=run)


def _hook(module: str, factory: str, what: str, *args, **kw):
    import importlib
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise SystemExit(f"tickwire match: {what} is not available in this build ({module}: {e})")
    fn = getattr(mod, factory, None)
    if fn is None:
        raise SystemExit(f"tickwire match: {what} is not available yet ({module}.{factory} missing)")
    try:
        return fn(*args, **kw)
    except SystemExit:
        raise
    except Exception as e:  # config / IO errors of the hook: a clear message, not a traceback
        raise SystemExit(f"tickwire match: {what}: {args[0]}: {e}")


def _journal_failed(loop, err, add_errno=True) -> int:
    """One line on stderr naming the journal's code (and errno); returns EXIT_JOURNAL."""
    sys.stdout.flush()
    errno_ = getattr(getattr(loop.journal, "journal", None), "last_errno", 0) if add_errno else 0
    detail = f": {os.strerror(errno_)}" if errno_ else ""
    print(f"tickwire match: journal failed, stopped; events after the last durable batch not printed: "
          f"{err}{detail}", file=sys.stderr)
    return EXIT_JOURNAL


class _JournalDirFailed(Exception):
    """A write into the journal directory after a batch (output position, snapshot) failed: its OSError is
    the cause. Kept apart from input errors so it exits EXIT_JOURNAL, not as bad input."""


def _record_batch(restart, loop, res, rows):
    try:
        restart.on_batch(loop, sys.stdout, res, rows)
    except BrokenPipeError:
        raise
    except OSError as e:
        raise _JournalDirFailed() from e


def run(args) -> int:
    from engine.csvio import HeaderError, OrderReader, RowError, SymbolTable, match_csv, parse_price
    from engine.loop import EngineLoop, LoopStopped

    try:
        default_tick = parse_price(args.default_tick, "--default-tick")
        symbols = SymbolTable(default_tick=default_tick)
        for spec in args.tick:
            name, _, price = spec.partition("=")
            if not name or not price:
                raise SystemExit(f"tickwire match: --tick {spec!r}: expected SYMBOL=PRICE")
            symbols.ticks[name.strip()] = parse_price(price, "--tick")
        if any(t <= 0 for t in list(symbols.ticks.values()) + [default_tick]):
            raise SystemExit("tickwire match: tick sizes must be positive")
    except RowError as e:
        raise SystemExit(f"tickwire match: {e}")
    loop = EngineLoop(max_orders=args.max_orders, max_symbols=1 << 16)
    if args.symbols:
        for name in filter(None, (s.strip() for s in args.symbols.split(","))):
            loop.engine.add_symbol(symbols.add(name), symbols.tick(name))
        symbols.fixed = True
    from engine.names import NameTable
    accounts, firms = NameTable("account"), NameTable("firm")
    if args.risk:
        loop.risk = _hook("engine.risk", "load_hook", "pre-trade risk (--risk)", args.risk, symbols=symbols.ids)
        # the name tables the file filled, shared with the order CSV so a name means one id in both
        config = loop.risk.risk.config
        accounts, firms = config.account_names, config.firm_names
    if (args.fresh or args.snapshot_every) and not args.journal:
        raise SystemExit("tickwire match: --fresh and --snapshot-every need --journal DIR")
    tap = None
    if args.positions:
        from engine.positions_report import PositionsTap
        tap = PositionsTap()
    src = _open_input(args)
    restart = _open_restart(args, symbols, default_tick) if args.journal else None
    on_batch = None
    try:
        try:
            reader = OrderReader(src, symbols, loop.engine, accounts, firms, fast=not args.reference_parser)
        except HeaderError as e:
            _close_quietly(restart)
            print(f"tickwire match: {args.file}: {e}", file=sys.stderr)
            return EXIT_HEADER
        if restart is not None:
            loop = _resume(restart, loop, reader, tap)
            on_batch = lambda res, rows: _record_batch(restart, loop, res, rows)  # noqa: E731
        res = match_csv(reader, sys.stdout, loop, symbols, batch=args.batch, tap=tap, on_batch=on_batch)
    except BrokenPipeError:                    # stdout closed (`| head`): tickwire.cli ends quietly
        _close_quietly(restart)
        raise
    except _JournalDirFailed as e:             # output.pos or a snapshot could not be written
        _close_quietly(restart)
        return _journal_failed(loop, e.__cause__, add_errno=False)
    except OSError as e:                       # reading the input
        _close_quietly(restart)
        raise SystemExit(f"tickwire match: {args.file}: {e}")
    except LoopStopped as e:
        _close_quietly(restart)
        return _journal_failed(loop, e)
    finally:
        src.close()
    sys.stdout.flush()
    if restart is not None:
        from engine.journal import JournalError
        try:
            restart.close()                    # last write and fdatasync: a failure here is reported too
        except JournalError as e:              # its message holds the errno text already
            return _journal_failed(loop, e, add_errno=False)
    if tap is not None:
        try:
            tap.write(args.positions, symbols, accounts)
        except OSError as e:
            raise SystemExit(f"tickwire match: --positions: {e}")
    if res.malformed:
        print(f"tickwire match: {res.malformed} malformed row(s) rejected", file=sys.stderr)
        for msg in res.errors:
            print(f"  {msg}", file=sys.stderr)
    if args.stats:
        st = loop.stats()
        print("tickwire match: rows %d commands %d events %d %s" % (
            res.rows, res.commands, res.events, " ".join(f"{k}={v}" for k, v in st.items())), file=sys.stderr)
    return 0


def _open_input(args):
    """The input as an ``engine.csvio.OrderSource``: a regular file mapped whole; a pipe or terminal read as
    rows arrive (each batch's events are printed as soon as nothing more is waiting)."""
    from engine.csvio import OrderSource
    try:
        if args.file == "-":
            return OrderSource.open_fd(sys.stdin.fileno())
        return OrderSource.open_fd(os.open(args.file, os.O_RDONLY | os.O_CLOEXEC), owns_fd=True)
    except OSError as e:
        raise SystemExit(f"tickwire match: {e}")


def _open_restart(args, symbols, default_tick):
    """The journal directory (fresh or continued); a refusal exits EXIT_RESTART with one line."""
    try:
        from engine.restart import MatchRestart, MatchSetup, RestartError
    except ImportError as e:
        raise SystemExit(f"tickwire match: the journal (--journal) is not available in this build ({e})")
    setup = MatchSetup(max_orders=args.max_orders, default_tick=default_tick, ticks=dict(symbols.ticks),
                       symbols=args.symbols, risk_file=args.risk)
    try:
        return MatchRestart(args.journal, setup, snapshot_every=args.snapshot_every, fresh=args.fresh)
    except RestartError as e:
        print(f"tickwire match: --journal {args.journal}: {e}", file=sys.stderr)
        raise SystemExit(EXIT_RESTART)


def _resume(restart, loop, reader, tap):
    from engine.journal import JournalError
    from engine.restart import RestartError
    try:
        loop = restart.resume(loop, reader, tap)
    except (RestartError, JournalError) as e:
        _close_quietly(restart)
        print(f"tickwire match: --journal {restart.dir}: {e}", file=sys.stderr)
        raise SystemExit(EXIT_RESTART)
    for note in restart.notes:
        print(f"tickwire match: {note}", file=sys.stderr)
    return loop


def _close_quietly(restart):
    """Close the journal on an error path (gives back the preallocation); its own failure is not the news."""
    if restart is not None:
        try:
            restart.close()
        except Exception:   # noqa: BLE001 - the error being reported is the first one
            pass
