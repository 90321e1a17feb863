"""`tickwire strategy backtest MODULE:CLASS --config FILE DAY`: a strategy against a recorded ITCH day.

The day (binaryFILE, .gz, pcap, pcapng) runs through the books; the strategy sees each book change and
trade of its symbols; its orders go to the simulated venue of ``strategy.backtest`` (fill model:
docs/strategy.md). Prints orders, fills, rejects by reason, refusals by the strategy's own limits,
position and P&L per symbol (``--json``: one object).

Exit status: 0 done; 1 the day does not load (one line with the reason) or the strategy raised
(``strategy error: TYPE: message``); 2 usage, a MODULE:CLASS that does not load or is not a Strategy,
a configuration file that does not parse or does not validate (``config: KEY: reason``).
"""
from __future__ import annotations

import sys

from tickwire.cli_types import existing_file, int_range

EXIT_USAGE = 2


def register(sub) -> None:
    p = sub.add_parser("strategy", help="run a strategy (backtest against a recorded day)",
                       description=__doc__.splitlines()[0])
    s = p.add_subparsers(dest="strategy_command", metavar="ACTION", required=True)
    b = s.add_parser("backtest", help="run MODULE:CLASS against a recorded ITCH day with a simulated venue",
                     description=__doc__)
    b.add_argument("target", metavar="MODULE:CLASS", help="e.g. strategy.examples.market_maker:MarketMaker")
    b.add_argument("--config", required=True, type=existing_file, help="the strategy's TOML configuration")
    b.add_argument("day", type=existing_file, help="recorded day: binaryFILE (.gz), pcap or pcapng")
    b.add_argument("--levels", type=int_range(1, 1000, "book levels"), default=10,
                   help="levels per side in each Book the strategy sees (default 10)")
    b.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def _fail(text: str, code: int) -> int:
    print(f"tickwire strategy backtest: {text}", file=sys.stderr)
    return code


def run(args) -> int:
    import json

    from core.codes import TickwireError
    from strategy.backtest import format_summary, run_backtest
    from strategy.base import ConfigError
    from strategy.loader import load_class, load_config

    try:
        cls = load_class(args.target)
        config = load_config(args.config)
        strat = cls(config)
    except ConfigError as e:
        return _fail(f"{args.config}: {e}", EXIT_USAGE)
    except ValueError as e:
        return _fail(str(e), EXIT_USAGE)
    try:
        result = run_backtest(strat, args.day, levels=args.levels)
    except (TickwireError, OSError) as e:
        return _fail(f"{args.day}: {e}".replace("\n", " "), 1)
    except Exception as e:  # noqa: BLE001 - the strategy's code: one line, never a traceback
        import os
        if os.environ.get("TICKWIRE_DEBUG_TRACEBACK", "") not in ("", "0"):
            import traceback
            traceback.print_exc()
        return _fail(f"strategy error: {type(e).__name__}: {e}".replace("\n", " "), 1)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_summary(result))
    return 0
