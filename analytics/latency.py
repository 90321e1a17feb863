"""Tick-to-trade, hop by hop: stamps recorded by the strategies -> HdrHistogram percentiles, JSON, PNG.

Every order a strategy sends because of a market-data message carries that message's stamps, and every
execution report carries the order's, so the strategy that receives the report holds one row of
``STAMPS`` (ns since the epoch, CLOCK_REALTIME on one host; 0 = not stamped):

    send       the packet's INTENDED send time (the sender's TWTS trailer: on a paced run the schedule,
               so a late sender or a stalled receiver shows up as latency: no coordinated omission)
    rx         received by the feed service          book     book updated
    md_pub     market data published                strat_rx the strategy received it
    order_tx   the strategy sent the order           gw_rx    the gateway received it
    risk       pre-trade risk passed                 match    matched
    er_pub     execution report published           er_rx    the strategy received the report

Rows are written by ``LatencyRecorder`` (a preallocated NumPy array, no allocation per row) to
``NAME.latency.npy``; ``tickwire latency FILE...`` prints the table and writes JSON and a PNG.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

STAMPS = ("send", "rx", "book", "md_pub", "strat_rx", "order_tx", "gw_rx", "risk", "match", "er_pub", "er_rx")
#: (name, from stamp, to stamp): the hops, then the spans people quote.
HOPS = (
    ("wire + kernel", "send", "rx"),
    ("book update", "rx", "book"),
    ("md encode + publish", "book", "md_pub"),
    ("md over Aeron", "md_pub", "strat_rx"),
    ("strategy", "strat_rx", "order_tx"),
    ("order over Aeron", "order_tx", "gw_rx"),
    ("risk", "gw_rx", "risk"),
    ("match", "risk", "match"),
    ("report encode + publish", "match", "er_pub"),
    ("report over Aeron", "er_pub", "er_rx"),
    ("tick-to-trade (send -> order sent)", "send", "order_tx"),
    ("tick-to-trade (rx -> order sent)", "rx", "order_tx"),
    ("book -> order sent (either strategy mode)", "book", "order_tx"),
    ("order round trip (order sent -> report)", "order_tx", "er_rx"),
    ("end to end (send -> report)", "send", "er_rx"),
)
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
#: Largest latency a histogram records (60 s); a longer span is clipped and counted as such.
MAX_NS = 60_000_000_000


class LatencyRecorder:
    """Rows of stamps in a preallocated array; ``add`` takes the 11 stamps, ``save`` writes the rows."""

    def __init__(self, capacity: int = 1 << 20):
        self.rows = np.zeros((capacity, len(STAMPS)), dtype=np.uint64)
        self.n = 0
        self.dropped = 0                   # rows that did not fit (counted, never a reallocation)

    def add(self, stamps) -> None:
        if self.n >= len(self.rows):
            self.dropped += 1
            return
        self.rows[self.n] = stamps
        self.n += 1

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, self.rows[:self.n])
        return path


def load(paths) -> np.ndarray:
    """Rows of every file (``.npy`` of uint64[N, 11]); ``ValueError`` naming a file that is not one."""
    parts = []
    for p in paths:
        try:
            a = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"{p}: not a latency file ({e})") from None
        if a.ndim != 2 or a.shape[1] != len(STAMPS) or a.dtype != np.uint64:
            raise ValueError(f"{p}: not a latency file (shape {a.shape}, dtype {a.dtype}; want N x {len(STAMPS)} "
                             f"uint64)")
        parts.append(a)
    return np.concatenate(parts) if parts else np.zeros((0, len(STAMPS)), dtype=np.uint64)


def hop_values(rows: np.ndarray, a: str, b: str) -> tuple[np.ndarray, int]:
    """Durations (ns) of a hop over the rows that have both stamps, and how many ran backwards
    (clock steps: counted, not recorded)."""
    ia, ib = STAMPS.index(a), STAMPS.index(b)
    ok = (rows[:, ia] > 0) & (rows[:, ib] > 0)
    x, y = rows[ok, ia].astype(np.int64), rows[ok, ib].astype(np.int64)
    d = y - x
    neg = int((d < 0).sum())
    return d[d >= 0], neg


def summarize(rows: np.ndarray) -> dict:
    """Per hop: count, p50/p90/p99/p99.9/max (ns), from an HdrHistogram (3 significant digits)."""
    from hdrh.histogram import HdrHistogram

    out = {"rows": int(len(rows)), "method": "HdrHistogram (1 ns .. 60 s, 3 significant digits) of each hop over the "
           "rows that carry both stamps; 'send' is the packet's intended send time (no coordinated omission)",
           "hops": []}
    for name, a, b in HOPS:
        d, neg = hop_values(rows, a, b)
        h = HdrHistogram(1, MAX_NS, 3)
        clipped = int((d > MAX_NS).sum())
        for v in np.minimum(np.maximum(d, 1), MAX_NS).tolist():
            h.record_value(v)
        row = {"hop": name, "from": a, "to": b, "count": int(len(d)), "negative": neg, "clipped": clipped}
        if len(d):
            row.update({f"p{p:g}": int(h.get_value_at_percentile(p)) for p in PERCENTILES})
            row["max"] = int(d.max())
            row["min"] = int(d.min())
        out["hops"].append(row)
    return out


def format_table(summary: dict) -> str:
    cols = [f"p{p:g}" for p in PERCENTILES] + ["max"]
    lines = [f"{'hop':<42} {'count':>8} " + " ".join(f"{c + ' us':>10}" for c in cols)]
    for r in summary["hops"]:
        if not r["count"]:
            lines.append(f"{r['hop']:<42} {0:>8} " + " ".join(f"{'-':>10}" for _ in cols))
            continue
        lines.append(f"{r['hop']:<42} {r['count']:>8} " + " ".join(f"{r[c] / 1000:>10.2f}" for c in cols))
    lines.append(f"({summary['rows']} orders; {summary['method']})")
    return "\n".join(lines)


def plot(rows: np.ndarray, path, title: str = "tickwire tick-to-trade") -> Path:
    """A PNG of each hop's latency distribution (percentile curve, log axes), beside the JSON."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 6), dpi=100)
    colors = plt.get_cmap("tab20").colors
    for k, (name, a, b) in enumerate(HOPS):
        d, _ = hop_values(rows, a, b)
        if len(d) < 2:
            continue
        d = np.sort(np.maximum(d, 1)) / 1000.0
        q = 1.0 - np.arange(len(d)) / len(d)          # fraction of samples at or above
        ax.plot(1.0 / q, d, label=name, color=colors[k % len(colors)], linewidth=2.0 if k >= 10 else 1.0,
                linestyle="-" if k >= 10 else "--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([1, 2, 10, 100, 1000, 10000])
    ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (us)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_json(summary: dict, path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(summary, indent=1))
    return path
