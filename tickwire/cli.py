"""`tickwire` command line: one sub-command per module in tickwire/commands/.

Each command module defines ``register(subparsers)``, which adds its parser and
sets ``func`` to its entry point; heavy imports stay inside the entry point so
``tickwire --help`` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import tickwire.commands as _commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickwire", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"tickwire.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `tickwire book ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
