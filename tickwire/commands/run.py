"""`tickwire run CONFIG.toml`: start the appliance a file describes, each service its own pinned process."""
from __future__ import annotations

import sys

#: Exit status when the configuration is refused (every problem listed, key and reason; nothing started).
EXIT_CONFIG = 2
#: Exit status when a service could not start (its reason on stderr); the ones started are stopped.
EXIT_START = 3
#: Exit status when a critical service failed while running, or a service did not stop cleanly.
EXIT_FAILED = 4


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="run the appliance described by a TOML file (docs/appliance.md)",
                              description=__doc__.splitlines()[0] + " Reference: docs/appliance.md; example: "
                              "docs/examples/appliance.toml.")
    p.add_argument("config", help="appliance TOML file")
    p.add_argument("--check", action="store_true", help="validate the file and print the plan, start nothing")
    p.set_defaults(func=run)


def run(args) -> int:
    from services.config import ConfigError, load
    from services.supervisor import Supervisor, plan

    try:
        cfg = load(args.config)
    except ConfigError as e:
        print(f"tickwire run: configuration refused: {e.path}", file=sys.stderr)
        for key, reason in e.problems:
            print(f"  {key}: {reason}", file=sys.stderr)
        return EXIT_CONFIG
    if args.check:
        print(f"{cfg.path}: valid; services in start order:")
        for ch in plan(cfg):
            print(f"  {ch.name:<16} {ch.module}{'  (critical)' if ch.critical else ''}")
        return 0
    return Supervisor(cfg).run()
