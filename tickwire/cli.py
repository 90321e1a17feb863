"""`tickwire` command line: one sub-command per module in tickwire/commands/.

Each command module defines ``register(subparsers)``, which adds its parser and
sets ``func`` to its entry point; heavy imports stay inside the entry point so
``tickwire --help`` is instant.

Errors: a nonsense argument is refused by argparse (``tickwire.cli_types``) with one line
``tickwire CMD: error: argument --X: why`` and exit 2. An error a command does not handle itself never
shows a traceback: a ``TickwireError``, ``OSError`` or ``ValueError`` prints one line and exits 1 (bad
input or settings); anything else prints ``tickwire CMD: internal error: TYPE: message`` and exits 70
(EX_SOFTWARE). ``TICKWIRE_DEBUG_TRACEBACK=1`` prints the traceback too.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import tickwire.commands as _commands


#: Exit status of an unexpected exception (sysexits.h EX_SOFTWARE).
EXIT_INTERNAL = 70
#: Exit status of an unhandled TickwireError / OSError / ValueError: bad input or settings.
EXIT_BAD_INPUT = 1


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line (``PROG: error: MESSAGE``, exit 2), no usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tickwire", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"tickwire.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:          # usage error (2) or --help (0), already printed: a status, also in-process
        return e.code if isinstance(e.code, int) else 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    prog = "tickwire " + " ".join(filter(None, (args.command, getattr(args, "journal_cmd", None),
                                                getattr(args, "mold_command", None), getattr(args, "user_cmd", None),
                                                getattr(args, "soup_command", None),
                                                getattr(args, "strategy_command", None))))
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `tickwire book ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        from core.codes import TickwireError

        expected = isinstance(e, (TickwireError, OSError, ValueError))
        if os.environ.get("TICKWIRE_DEBUG_TRACEBACK", "") not in ("", "0"):
            import traceback
            traceback.print_exc()
        text = str(e).replace("\n", " ") or type(e).__name__
        if expected:
            print(f"{prog}: {text}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"{prog}: internal error: {type(e).__name__}: {text}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
