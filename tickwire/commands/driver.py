"""`tickwire driver [--dir DIR] [--threading shared|dedicated]`: run the Aeron media driver the services connect to."""
from __future__ import annotations

import sys

#: Exit status when a media driver is already active at DIR (one line, nothing started).
EXIT_ACTIVE = 3
#: Exit status when the media driver does not start (one line with Aeron's reason).
EXIT_START = 1


def register(subparsers) -> None:
    p = subparsers.add_parser("driver", help="run the Aeron media driver (until SIGTERM / Ctrl-C)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--dir", default=None, metavar="DIR",
                   help="Aeron directory (default: $TICKWIRE_AERON_DIR, else /dev/shm/tickwire-aeron)")
    p.add_argument("--threading", default="shared", choices=("shared", "dedicated"),
                   help="shared: one driver thread (shared cores); dedicated: conductor, sender and receiver "
                        "threads (isolated cores)")
    p.add_argument("--verbose", action="store_true", help="say once a second that the driver is up")
    p.set_defaults(func=run)


def run(args) -> int:
    from core.codes import AERON_E_DRIVER_ACTIVE
    from messaging.channels import AeronError, default_dir
    from messaging.driver import serve

    dir = args.dir or default_dir()
    try:
        return serve(dir, args.threading, args.verbose)
    except AeronError as e:
        print(f"tickwire driver: {e}", file=sys.stderr)
        return EXIT_ACTIVE if e.code == AERON_E_DRIVER_ACTIVE else EXIT_START
