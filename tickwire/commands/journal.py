"""`tickwire journal check|dump|repair DIR`: verify, print or repair a command journal (docs/journal.md)."""
from __future__ import annotations

import os
import sys

from tickwire.cli_types import INT64_MAX, positive_int

#: Exit status when DIR does not exist or is not a directory (nothing is created). 1 is corruption
#: (including a missing segment), 2 a torn tail (check) or argparse's usage error.
EXIT_NO_DIR = 3


def register(subparsers) -> None:
    p = subparsers.add_parser("journal", help="verify, print or repair a command journal directory",
                              description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="journal_cmd", metavar="ACTION", required=True)
    c = sub.add_parser("check", help="verify every record (CRC, sequence, segment chain); exit 1 on corruption "
                                     "or a missing segment, 2 on a torn tail, 3 when DIR is not a directory")
    c.add_argument("dir")
    d = sub.add_parser("dump", help="print the journaled commands as CSV")
    d.add_argument("dir")
    seq = positive_int(INT64_MAX, "a sequence number")
    d.add_argument("--from", dest="from_seq", type=seq, default=1, metavar="SEQ")
    d.add_argument("--to", dest="to_seq", type=seq, default=None, metavar="SEQ")
    r = sub.add_parser("repair", help="truncate a torn tail (a record never completely written)")
    r.add_argument("dir")
    p.set_defaults(func=run)


COLUMNS = ("seq,ts_ns,action,order_id,account,firm,session,symbol,side,type,tif,qty,price,stop_price,"
           "display_qty,expire_ns,link_id,stp,flags")


def run(args) -> int:
    from engine import journal as J

    if not os.path.isdir(args.dir):
        why = "not a directory" if os.path.exists(args.dir) else "no such directory"
        print(f"tickwire journal {args.journal_cmd}: {args.dir}: {why}", file=sys.stderr)
        return EXIT_NO_DIR
    try:
        if args.journal_cmd == "check":
            info = J.scan_journal(args.dir)
            for first, path, end, count in info["segments"]:
                print(f"{path}: first seq {first}, {count} records, {end} bytes")
            print(f"records {info['records']}, last seq {info['last_seq']}")
            if info["torn"]:
                t = info["torn"]
                print(f"torn tail at {t['path']} offset {t['offset']} (never acknowledged; "
                      f"`tickwire journal repair` truncates it)")
                return 2
            return 0
        if args.journal_cmd == "repair":
            with J.Journal(args.dir, fsync="always") as j:
                t = j.recovery["torn"]
                if t:
                    print(f"truncated torn tail at {t['path']} offset {t['offset']} "
                          f"({t['discarded_bytes']} bytes, removed {len(t['removed_segments'])} empty segments)")
                else:
                    print("no torn tail")
                print(f"last seq {j.last_seq}")
            return 0
        return _dump(args, J)
    except J.JournalError as e:
        print(f"tickwire journal: {e}", file=sys.stderr)
        return 1
    except FileNotFoundError as e:
        print(f"tickwire journal: {e}", file=sys.stderr)
        return 1


def _dump(args, J) -> int:
    from engine.csvio import format_price
    from messaging.records import COMMAND_DTYPE, Action, OrdType, Side, Tif

    def name(enum, v):
        try:
            return enum(int(v)).name.lower()
        except ValueError:
            return str(int(v))

    seqs, ts, pay = J.read_records(args.dir, args.from_seq, args.to_seq, record_size=COMMAND_DTYPE.itemsize)
    cmds = pay.view(COMMAND_DTYPE).reshape(-1)
    out = sys.stdout
    out.write(COLUMNS + "\n")
    for c in cmds:
        out.write(",".join((
            str(int(c["seq"])), str(int(c["ts_ns"])), name(Action, c["action"]), str(int(c["order_id"])),
            str(int(c["account_id"])), str(int(c["firm_id"])), str(int(c["session_id"])), str(int(c["symbol_id"])),
            name(Side, c["side"]), name(OrdType, c["ord_type"]) if c["ord_type"] else "",
            name(Tif, c["tif"]) if c["tif"] else "", str(int(c["qty"])),
            format_price(int(c["price"])) if c["price"] else "",
            format_price(int(c["stop_price"])) if c["stop_price"] else "",
            str(int(c["display_qty"])), str(int(c["expire_ns"])), str(int(c["link_id"])), str(int(c["stp"])),
            str(int(c["flags"])))) + "\n")
    return 0
