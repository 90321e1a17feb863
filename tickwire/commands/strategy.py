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
    r = s.add_parser("run", help="run MODULE:CLASS live as its own process on a running appliance's streams",
                     description="Run a strategy live: market data from the feed service, orders through the gateway "
                                 "(docs/appliance.md). Stops on SIGTERM / Ctrl-C after cancelling its open orders. "
                                 "Exit: 0 stopped; 2 usage or configuration; 3 could not start (no media driver, "
                                 "login refused, ...); 4 failed while running.")
    r.add_argument("target", metavar="MODULE:CLASS", help="e.g. strategy.examples.market_maker:MarketMaker")
    r.add_argument("--config", required=True, type=existing_file, help="the strategy's TOML configuration")
    r.add_argument("--user", default=None, help="gateway user to log in as (none: market data only, no orders)")
    r.add_argument("--credential-env", default="TICKWIRE_CREDENTIAL", metavar="VAR",
                   help="environment variable holding the credential (default TICKWIRE_CREDENTIAL); never argv")
    r.add_argument("--appliance", type=existing_file, default=None, metavar="APPLIANCE.toml",
                   help="take the Aeron directory and streams from this appliance file")
    r.add_argument("--name", default=None, help="name for status lines and files (default: the class name)")
    r.add_argument("--core", type=int_range(0, 4095, "a CPU number"), default=None, help="pin to this CPU")
    r.add_argument("--idle", default="backoff", help="idle strategy: busy-spin, yield, backoff, sleep:N[ns|us|ms]")
    r.add_argument("--run-dir", default="var/strategy", help="status and latency files (default var/strategy)")
    r.set_defaults(func=run_live)
    p.set_defaults(func=run)


def _fail(text: str, code: int, action: str = "backtest") -> int:
    print(f"tickwire strategy {action}: {text}", file=sys.stderr)
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
    from strategy.base import Strategy
    if not isinstance(strat, Strategy):
        return _fail(f"{args.target}: a strategy.fast.FastStrategy has no backtest of its own: backtest its "
                     "plain-Python twin (docs/strategy.md, \"The fast path\")", EXIT_USAGE)
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


def run_live(args) -> int:
    from pathlib import Path

    from services.config import ApplianceConfig, ConfigError as ApplianceConfigError, StrategyConfig, idle_problem, load
    from services.runtime import run_service
    from services.strategy_host import FastStrategyHost, StrategyHost
    from strategy.base import ConfigError
    from strategy.fast import FastStrategy
    from strategy.loader import load_class, load_config

    prog = "tickwire strategy run"
    why = idle_problem(args.idle)
    if why:
        print(f"{prog}: error: argument --idle: {why}", file=sys.stderr)
        return EXIT_USAGE
    try:
        cls = load_class(args.target)
        strat = cls(load_config(args.config))
    except ConfigError as e:
        return _fail(f"{args.config}: {e}", EXIT_USAGE, "run")
    except ValueError as e:
        return _fail(str(e), EXIT_USAGE, "run")
    try:
        cfg = load(args.appliance, check_imports=False) if args.appliance else None
    except ApplianceConfigError as e:
        return _fail(f"--appliance: {e}", EXIT_USAGE, "run")
    if cfg is None:
        from messaging.channels import DEFAULT_STREAMS
        cfg = ApplianceConfig(path=str(Path.cwd() / "strategy-run"), streams=dict(DEFAULT_STREAMS))
    cfg.run_dir = str(Path(args.run_dir).resolve())
    name = args.name or cls.__name__.lower()
    scfg = StrategyConfig(name=name, cls=args.target, user=args.user, credential_env=args.credential_env,
                          core=args.core, idle=args.idle)
    credential = None
    if args.user:
        import os
        credential = os.environ.get(args.credential_env)
        if not credential:
            return _fail(f"--user {args.user}: the credential is read from ${args.credential_env}, "
                         "which is not set", EXIT_USAGE, "run")
    if isinstance(strat, FastStrategy) and not args.user:
        return _fail(f"{args.target}: a FastStrategy sends orders: give --user", EXIT_USAGE, "run")
    host = (FastStrategyHost if isinstance(strat, FastStrategy) else StrategyHost)(cfg, scfg, strategy=strat,
                                                                                    credential=credential)
    return run_service(host, args.core, args.idle, Path(cfg.run_path(f"{name}.status.json")))
