"""`tickwire user hash`: the salted hash of a credential, for a [[gateway.user]] entry of an appliance file."""
from __future__ import annotations

import getpass
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("user", help="make credential hashes for the gateway's users (docs/appliance.md)",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="user_cmd", metavar="ACTION", required=True)
    h = sub.add_parser("hash", help="read a credential (prompt, or one line on stdin) and print its scrypt hash; "
                                    "never on the command line, where ps would show it")
    h.set_defaults(func=run_hash)


def run_hash(args) -> int:
    from access.credentials import CredentialError, hash_credential

    if sys.stdin.isatty():
        secret = getpass.getpass("credential: ")
        if getpass.getpass("again: ") != secret:
            print("tickwire user hash: the two entries differ", file=sys.stderr)
            return 1
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    try:
        print(hash_credential(secret))
    except CredentialError as e:
        print(f"tickwire user hash: {e}", file=sys.stderr)
        return 1
    return 0
