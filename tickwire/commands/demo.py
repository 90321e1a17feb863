"""`tickwire demo`: the whole appliance on this machine, no configuration (tickwire/demo.py says what runs)."""
from __future__ import annotations

from tickwire.cli_types import int_range, positive_float


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the whole appliance here (driver, feed, gateway, two strategies) "
                                           "on a replayed day and print what happened",
                              description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=positive_float(3600.0), default=10.0,
                   help="how long the day is replayed (default 10)")
    p.add_argument("--rate", type=int_range(1, 10_000_000, "messages per second"), default=100_000,
                   help="replay rate in messages/s (default 100000)")
    p.add_argument("--symbols", type=int_range(1, 32, "symbols"), default=4,
                   help="the N most active symbols of the day are traded (default 4)")
    p.add_argument("--day", default=None, help="ITCH day to replay (default var/sample.itch; make run generates it)")
    p.add_argument("--run-dir", default=None, help="where the appliance file, logs and results go (default var/demo)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from tickwire.demo import ROOT, run_demo

    day = args.day or str(ROOT / "var" / "sample.itch")
    run_dir = Path(args.run_dir) if args.run_dir else ROOT / "var" / "demo"
    return run_demo(day, args.seconds, args.rate, args.symbols, run_dir, args.json)
