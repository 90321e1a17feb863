"""`tickwire latency FILE...`: tick-to-trade per hop from recorded stamps (HdrHistogram table, JSON, PNG)."""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("latency", help="per-hop tick-to-trade percentiles from *.latency.npy files "
                                              "(written by strategies under the appliance's run_dir)",
                              description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", help="NAME.latency.npy files")
    p.add_argument("--json", metavar="FILE", help="write the table as JSON (default: beside the first file)")
    p.add_argument("--png", metavar="FILE", help="write the plot (default: beside the JSON)")
    p.add_argument("--no-plot", action="store_true", help="no PNG")
    p.set_defaults(func=run)


def run(args) -> int:
    import os
    from pathlib import Path

    from analytics import latency as L

    for f in args.files:
        if not os.path.isfile(f):
            print(f"tickwire latency: {f}: {'is a directory' if os.path.isdir(f) else 'no such file'}",
                  file=sys.stderr)
            return 2
    try:
        rows = L.load(args.files)
    except ValueError as e:
        print(f"tickwire latency: {e}", file=sys.stderr)
        return 1
    if not len(rows):
        print("tickwire latency: no rows in the files (no order was sent, or the strategies did not stop cleanly)",
              file=sys.stderr)
        return 1
    summary = L.summarize(rows)
    print(L.format_table(summary))
    jpath = Path(args.json) if args.json else Path(args.files[0]).with_suffix(".json")
    L.write_json(summary, jpath)
    print(f"json: {jpath}")
    if not args.no_plot:
        png = Path(args.png) if args.png else jpath.with_suffix(".png")
        L.plot(rows, png)
        print(f"plot: {png}")
    return 0
