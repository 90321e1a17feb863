#!/usr/bin/env python3
"""Benchmark: binaryFILE framing + full-depth books (+ BBO change detection) in tickwire's BookBuilder.

Usage::

    bench/bench_book.py [FILE ...] [--runs N] [--messages N] [--symbols N] [--peer]

With no FILE it builds a synthetic, self-consistent ITCH 5.0 day in memory (adds near the touch,
deletes, cancels, executions, replaces, trades; never crossing). Each configuration is timed after
a warm-up run, best of ``--runs``, in msgs/s and ns/msg; peak RSS is printed at the end.
Configurations: ``book-only`` (track_bbo=False, no events), ``bbo`` (BBO detection, counters only),
``bbo+events`` (BBO + trade events recorded and drained in batches as NumPy arrays). Then the
distribution of the per-message cost inside batches of 1024 messages (HdrHistogram percentiles,
after a warm-up pass; the batch includes one Python call, ~1 us).
``--peer`` also times the itch-book package (``pip install itch-book``) on the same buffer.
"""
import argparse
import random
import resource
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench._util import Results  # noqa: E402
from book.builder import BookBuilder  # noqa: E402

_A = struct.Struct(">cHHHIQcI8sI")     # 'A' 36 bytes (timestamp split in 2+4)
_D = struct.Struct(">cHHHIQ")          # 'D' 19
_E = struct.Struct(">cHHHIQIQ")        # 'E' 31
_X = struct.Struct(">cHHHIQI")         # 'X' 23
_U = struct.Struct(">cHHHIQQII")       # 'U' 35
_P = struct.Struct(">cHHHIQcI8sIQ")    # 'P' 44
_R = struct.Struct(">cHHHI8sccIcc2scccccIc")  # 'R' 39


def synthetic_day(n_messages: int, n_symbols: int = 500, seed: int = 1) -> bytes:
    """A self-consistent binaryFILE ITCH day: every E/X/D/U names a live order; books never cross."""
    rng = random.Random(seed)
    out = bytearray()
    ts = 34_200_000_000_000
    ref = 0
    match = 0

    def put(st, *fields):
        out.extend(struct.pack(">H", st.size))
        out.extend(st.pack(*fields))

    mids = []
    for loc in range(1, n_symbols + 1):
        sym = f"S{loc:05d}".encode().ljust(8)
        put(_R, b"R", loc, 0, ts >> 32, ts & 0xFFFFFFFF, sym, b"Q", b"N", 100, b"N", b"C", b"Z ",
            b"P", b"N", b"N", b"1", b"N", 0, b"N")
        mids.append(rng.randint(50_000, 2_000_000))
    live = [[] for _ in range(n_symbols + 1)]   # per locate: [ref, side, shares, price]
    where = {}
    weights = [1.0 / (i + 1) for i in range(n_symbols)]  # Zipf-like activity
    cum = list(np.cumsum(weights) / sum(weights))
    locs = np.searchsorted(cum, np.random.default_rng(seed).random(n_messages)) + 1
    r = np.random.default_rng(seed + 1).random((n_messages, 4))
    for k in range(n_messages - n_symbols):
        loc = int(min(locs[k], n_symbols))
        ts += 1000
        book = live[loc]
        u0, u1, u2, u3 = r[k]
        th, tl = ts >> 32, ts & 0xFFFFFFFF
        if len(book) < 20 or u0 < 0.50:
            ref += 1
            side = b"B" if u1 < 0.5 else b"S"
            tick = 1 + int(u2 * u2 * 40)
            px = mids[loc - 1] - tick * 100 if side == b"B" else mids[loc - 1] + tick * 100
            sh = 100 * (1 + int(u3 * 5))
            put(_A, b"A", loc, 0, th, tl, ref, side, sh, b"S%05d   " % loc, px)
            where[ref] = len(book)
            book.append([ref, side, sh, px])
            continue
        i = len(book) - 1 - int(u1 * u1 * (len(book) - 1))   # recent orders die first
        o = book[i]
        if u0 < 0.90:
            put(_D, b"D", loc, 0, th, tl, o[0])
            gone = True
        elif u0 < 0.94:
            ref += 1
            px = o[3] + (100 if o[1] == b"S" else -100)
            put(_U, b"U", loc, 0, th, tl, o[0], ref, o[2], px)
            del where[o[0]]
            o[0] = ref
            o[3] = px
            where[ref] = i
            gone = False
        elif u0 < 0.97:
            q = min(o[2], 100)
            match += 1
            put(_E, b"E", loc, 0, th, tl, o[0], q, match)
            o[2] -= q
            gone = o[2] == 0
        elif u0 < 0.99:
            q = min(o[2], 50)
            put(_X, b"X", loc, 0, th, tl, o[0], q)
            o[2] -= q
            gone = o[2] == 0
        else:
            match += 1
            put(_P, b"P", loc, 0, th, tl, 0, b"B", 100, b"S%05d   " % loc, mids[loc - 1], match)
            gone = False
        if gone:
            last = book.pop()
            del where[o[0]]
            if last is not o:
                book[i] = last
                where[last[0]] = i
    return bytes(out)


def count_messages(buf: bytes) -> int:
    n = off = 0
    end = len(buf)
    while off + 2 <= end:
        length = (buf[off] << 8) | buf[off + 1]
        if off + 2 + length > end:
            break
        off += 2 + length
        n += 1
    return n


def run_tickwire(arr, mode: str) -> tuple[float, BookBuilder]:
    bb = BookBuilder(track_bbo=mode != "book-only", record_events=mode == "bbo+events", event_high_water=1 << 16)
    n = len(arr)
    t0 = time.perf_counter_ns()
    off = bb.apply_binaryfile(arr)
    while off < n and bb.events_pending:
        bb.drain_events()
        off = bb.apply_binaryfile(arr, off)
    bb.drain_events()
    return (time.perf_counter_ns() - t0) / 1e9, bb


def batch_latency(arr, batch: int = 1024, out: dict | None = None) -> str:
    """Per-batch latency (ns per message inside batches of ``batch`` messages), HdrHistogram percentiles
    (also into ``out``: p50, p90, p99, p99.9, max)."""
    try:
        from hdrh.histogram import HdrHistogram
    except ImportError:
        return "hdrhistogram not installed"
    out = {} if out is None else out
    hist = HdrHistogram(1, 10_000_000, 3)
    for warm in (True, False):               # the first pass warms pools and caches, not recorded
        bb = BookBuilder(track_bbo=True, record_events=False)
        off, n = 0, len(arr)
        while off < n:
            t0 = time.perf_counter_ns()
            nxt = bb.apply_binaryfile(arr, off, batch)
            dt = time.perf_counter_ns() - t0
            if not warm:
                hist.record_value(max(1, dt * 10 // batch))      # 0.1 ns resolution
            off = nxt
    out.update({f"p{q:g}": hist.get_value_at_percentile(q) / 10 for q in (50, 90, 99, 99.9)})
    out["max"] = hist.get_max_value() / 10
    return "  ".join(f"p{q:g} {hist.get_value_at_percentile(q) / 10:.1f}" for q in (50, 90, 99, 99.9)) + \
        f"  max {hist.get_max_value() / 10:.1f} ns/msg"


def run_peer(buf: bytes, bbo: bool) -> float | None:
    try:
        from itch_book._core import Session
    except ImportError:
        return None
    s = Session(tables=["bbo"] if bbo else [], depth=0, symbols=[])
    t0 = time.perf_counter_ns()
    s.feed(buf)
    dt = (time.perf_counter_ns() - t0) / 1e9
    s.stats()
    return dt


def best_of(fn, runs: int) -> float:
    fn()                                    # warm-up (page faults, pool growth, caches)
    return min(fn() for _ in range(runs))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path, help="binaryFILE ITCH 5.0 days (default: synthetic)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--messages", type=int, default=2_000_000, help="synthetic day size")
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--peer", action="store_true", help="also time itch-book on the same buffer")
    args = ap.parse_args(argv)
    res = Results("book", f"each mode: one warm-up run, then best of {args.runs}; batch latency after a warm-up pass")
    inputs = []
    if args.files:
        for f in args.files:
            inputs.append((str(f), f.read_bytes()))
    else:
        t0 = time.perf_counter()
        buf = synthetic_day(args.messages, args.symbols)
        print(f"synthetic day: {args.messages:,} messages, {args.symbols} symbols "
              f"({time.perf_counter() - t0:.1f} s to build)")
        inputs.append(("synthetic", buf))
    for name, buf in inputs:
        n = count_messages(buf)
        arr = np.frombuffer(buf, dtype=np.uint8)
        print(f"\n{name}: {n:,} messages, {len(buf) / 1e6:.1f} MB")
        fig = res.figures[name] = {"messages": n}
        for mode in ("book-only", "bbo", "bbo+events"):
            dt = best_of(lambda: run_tickwire(arr, mode)[0], args.runs)
            print(f"  tickwire {mode:<11} {n / dt / 1e6:8.2f} M msgs/s {dt * 1e9 / n:8.1f} ns/msg")
            fig[f"tickwire/{mode}"] = {"msgs_per_s": n / dt, "ns_per_msg": dt * 1e9 / n}
        fig["batch1024_ns_per_msg"] = {}
        print(f"  batches of 1024 (bbo), ns/msg: {batch_latency(arr, out=fig['batch1024_ns_per_msg'])}")
        _, bb = run_tickwire(arr, "bbo")
        c = bb.counters()
        fig.update(books=bb.book_count, live_orders=bb.live_orders, bbo_changes=c["bbo_changes"], trades=c["trades"])
        print(f"  books {bb.book_count}, live orders {bb.live_orders:,}, bbo changes {c['bbo_changes']:,}, "
              f"trades {c['trades']:,}, unknown refs {c['unknown_refs']:,}, crossed now {bb.crossed_books()}")
        if args.peer:
            for bbo in (False, True):
                dt = best_of(lambda: run_peer(buf, bbo) or 0.0, args.runs)
                if dt:
                    label = "bbo" if bbo else "book-only"
                    print(f"  itch-book {label:<10} {n / dt / 1e6:8.2f} M msgs/s {dt * 1e9 / n:8.1f} ns/msg")
                    fig[f"itch-book/{label}"] = {"msgs_per_s": n / dt, "ns_per_msg": dt * 1e9 / n}
                else:
                    print("  itch-book not installed (pip install itch-book)")
                    break
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\npeak RSS {rss / 1024:.0f} MiB")
    res.figures["peak_rss_mib"] = rss / 1024
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
