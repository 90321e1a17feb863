#!/usr/bin/env python3
"""Figures of README.md and docs/*.md from the benchmarks' JSON, so a page cannot drift from its data.

Every ``bench/bench_*.py`` run writes ``var/bench/<name>.json`` (``bench/_util.Results``: machine, date,
commit, command, method, figures). This script renders Markdown tables from the JSON in
``docs/figures/`` and rewrites each region of the pages between

    <!-- figures:NAME -->
    ...
    <!-- /figures:NAME -->

(NAME one of REGIONS below); every row names the command that produced it.

    bench/figures.py                     # re-render the pages from docs/figures/*.json
    bench/figures.py --from var/bench    # first copy the runs' JSON there (`make figures`)
    bench/figures.py --check             # exit 1 if a page differs from what its JSON renders
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "figures"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REGION = re.compile(r"(<!-- figures:([\w-]+) -->\n)(.*?)(<!-- /figures:\2 -->)", re.S)


# ------------------------------------------------------------------ formatting ----
def mps(x, unit="M/s"):
    return "–" if x is None else f"{x / 1e6:.2f} {unit}"


def ns(x, digits=0):
    return "–" if x is None else f"{x:,.{digits}f} ns"


def dur(v):
    """A duration in ns, in the unit that reads best."""
    if v is None:
        return "–"
    if v < 1_000:
        return f"{v:.0f} ns"
    if v < 1_000_000:
        return f"{v / 1e3:.1f} µs"
    return f"{v / 1e6:.1f} ms"


def us(v):
    return "–" if v is None else ("<0.1" if v < 0.1 else f"{v:,.1f}")


class Runs:
    """The JSON files, and which of them a region used (for its footer)."""

    def __init__(self, folder: Path):
        self.data = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
        self.used: list[str] = []

    def get(self, name: str) -> dict | None:
        d = self.data.get(name)
        if d is not None and name not in self.used:
            self.used.append(name)
        return d

    def fig(self, name: str, *keys):
        d = self.get(name)
        d = d and d["figures"]
        for k in keys:
            if not isinstance(d, dict):
                return None
            d = d.get(k)
        return d

    def cmd(self, name: str) -> str:
        d = self.get(name)
        return f"`{d['command']}`" if d else f"not run (no docs/figures/{name}.json)"

    def footer(self) -> str:
        lines = []
        for name in self.used:
            d = self.data[name]
            m, g = d["machine"], d["git"]
            commit = (g.get("commit") or "?")[:10] + (" + local changes" if g.get("dirty") else "")
            lines.append(f"`{name}.json`: {d['date'][:10]}, {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
                         f"commit {commit}, load average {m['loadavg_start'][0]:.2f} at start, {d.get('elapsed_s', 0):.0f} s. "
                         f"Method: {d['method']}.")
        return "\n".join(f"- {x}" for x in lines)


def table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# --------------------------------------------------------------------- regions ----
def market_data(r: Runs) -> str:
    rows = []
    for mode, what in (("bbo", "parse + book + BBO-change detection, generated day"), ("book-only", "same, book only (no BBO tracking)")):
        ours, peer = r.fig("replay", f"tickwire/{mode}"), r.fig("replay", f"itch-book/{mode}")
        if ours:
            fig = f"tickwire {mps(ours['msgs_per_s'], 'M msgs/s')} ({ours['ns_per_msg']:.0f} ns/msg), median {mps(ours['median_msgs_per_s'])}"
            if peer:
                fig += (f" vs itch-book {mps(peer['msgs_per_s'], 'M msgs/s')} ({peer['ns_per_msg']:.0f} ns/msg): "
                        f"**{ours['msgs_per_s'] / peer['msgs_per_s']:.2f}×**")
            what += f" of {ours['messages'] / 1e6:.0f} M messages"
        else:
            fig = "–"
        rows.append([what, r.cmd("replay"), fig])
    rss = [r.fig("replay", k, "peak_rss_mib") for k in ("tickwire/bbo", "tickwire/book-only", "itch-book/bbo", "itch-book/book-only")]
    rows.append(["peak RSS, same day", r.cmd("replay"),
                 f"tickwire {rss[0] or 0:.0f} MiB with BBO events, {rss[1] or 0:.0f} MiB book only "
                 f"(itch-book {rss[2] or 0:.0f} / {rss[3] or 0:.0f} MiB)" if rss[0] else "–"])
    w, p = r.fig("decode", "framer/chunked"), r.fig("decode", "pcap+mold")
    rows.append(["binaryFILE framing + validation only (chunked); pcap + MoldUDP64", r.cmd("decode"),
                 f"{ns(w['ns_per_msg'], 1)}/msg ({mps(w['msgs_per_s'], 'M msgs/s')}); pcap + MoldUDP64 {ns(p['ns_per_msg'], 1)}/msg"
                 if w and p else "–"])
    b = r.fig("book", "synthetic")
    rows.append([f"books on a synthetic day{f' of {b['messages'] / 1e6:.0f} M messages' if b else ''}, batch latency",
                 r.cmd("book"),
                 f"{mps(b['tickwire/bbo']['msgs_per_s'], 'M msgs/s')} with BBO; per batch of 1024 messages "
                 + ", ".join(f"{k} {b['batch1024_ns_per_msg'].get(k, 0):.0f}" for k in ("p50", "p99", "p99.9")) + " ns/msg"
                 if b else "–"])
    g = r.get("generate")
    if g:
        f = g["figures"]
        rows.append([f"generator, {f['messages'] / 1e6:.0f} M messages (binaryFILE)", r.cmd("generate"),
                     f"{f['binaryFILE/devnull']['best_s']:.2f} s to /dev/null ({mps(f['messages'] / f['binaryFILE/devnull']['best_s'], 'M msgs/s')}), "
                     f"{f['binaryFILE/file']['wall_s']:.2f} s to a file; {f['peak_rss_mib']:.0f} MiB RSS"])
    else:
        rows.append(["generator", r.cmd("generate"), "–"])
    return table(["what", "command", "figure"], rows)


def _dp(x: dict | None) -> str:
    if not x:
        return "–"
    return (f"{x['received']:,} of {x['sent']:,} packets at {x['rx_mpps']:.2f} Mpps; **{ns(x['cpu_ns_per_packet'])}/packet** "
            f"({ns(x['cpu_ns_per_message'])}/message, {x['decode']})")


def datapaths(r: Runs) -> str:
    rows = []
    for src, what in (("afpacket", "AF_PACKET TPACKET_V3 ring on veth, into MoldFramer"),
                      ("afxdp", "AF_XDP (libxdp, copy mode: veth has no zero-copy), blocking"),
                      ("udp", "UDP multicast socket, `recvmmsg`")):
        rows.append([what, r.cmd("datapath"), _dp(r.fig("datapath", src))])
        walk = r.fig("datapath-walk", src)
        if walk:
            rows.append([f"same, header walk only", r.cmd("datapath-walk"), f"{ns(walk['cpu_ns_per_packet'])}/packet"])
    for name in sorted((n for n in r.data if n.startswith("datapath-coalesce")), key=lambda n: int(n[17:])):
        x = r.fig(name, f"afxdp/{name[17:]}us")
        rows.append([f"AF_XDP, wake-ups coalesced (`coalesce_us={name[17:]}`)", r.cmd(name), _dp(x)])
    d = r.get("dpdk")
    for key, what in (("net_pcap DpdkSource -> MoldFramer", "DPDK `net_pcap`, DpdkSource → MoldFramer"),
                      ("net_pcap DpdkSource -> drain (Mold header walk)", "DPDK `net_pcap`, DpdkSource → drain (header walk)"),
                      ("net_null DpdkSource (parse, drop, free)", "DPDK `net_null`, parse + drop")):
        x = r.fig("dpdk", key)
        raw = r.fig("dpdk", key.split()[0] + " raw rx_burst + free_bulk")
        rows.append([what, r.cmd("dpdk"),
                     f"{x['mpps']:.1f} Mpps, {x['cpu_ns_per_pkt']:.1f} ns/packet = **{x['ratio_vs_raw']:.2f}× a raw "
                     f"`rte_eth_rx_burst` + free loop** ({raw['cpu_ns_per_pkt']:.1f} ns)" if x and raw else "–"])
    s, sb = r.fig("wire_latency", "session only"), r.fig("wire_latency", "session + books")
    rows.append(["MoldUDP64 session layer, in order, from a pcap", r.cmd("wire_latency"),
                 f"{ns(s['ns_per_msg'], 1)}/message; with books {ns(sb['ns_per_msg'], 1)}/message" if s and sb else "–"])
    w = r.fig("wire_latency", "wire_to_book")
    lat = (w or {}).get("latency_ns") or {}
    rate = f", {w['rate'] / 1e3:,.0f} k msgs/s fixed schedule" if w else ", fixed schedule"
    rows.append([f"wire-to-book latency{rate}, UDP over veth (intended send time → book)", r.cmd("wire_latency"),
                 ", ".join(f"{k} {dur(lat[k])}" for k in ("p50", "p90", "p99", "p99.9", "max") if k in lat)
                 if lat.get("count") else "– (needs root and network namespaces)"])
    return table(["what", "command", "figure"], rows)


def datapath(r: Runs) -> str:
    """docs/datapath.md: one row per source and run."""
    rows = []
    for name in ["datapath", "datapath-walk"] + sorted((n for n in r.data if n.startswith("datapath-coalesce")),
                                                       key=lambda n: int(n[17:])):
        d = r.get(name)
        if not d:
            rows.append(["–", f"not run (no docs/figures/{name}.json)", "–", "–"])
            continue
        for key, x in d["figures"].items():
            if isinstance(x, dict):
                rows.append([f"{x['source']} ({x['mode']}, {x['decode']})", r.cmd(name),
                             f"{x['received']:,} of {x['sent']:,} at {x['rx_mpps']:.2f} Mpps",
                             f"{ns(x['cpu_ns_per_packet'])}/packet ({ns(x['cpu_ns_per_message'])}/message)"])
    return table(["source", "command", "received", "receiver CPU"], rows)


def engine(r: Runs) -> str:
    rows = []
    for label, what in (("match", "matching alone: mixed stream (42 % new limit, 33 % cancel, 15 % modify, 10 % market IOC) over 8 deep books"),
                        ("risk+match", "risk + match, same stream, every check running, limits set wide")):
        t = r.fig("engine", f"throughput/{label}")
        rows.append([what, r.cmd("engine"),
                     f"best **{mps(t['best_per_s'], 'M commands/s')}** ({1e9 / t['best_per_s']:.0f} ns/command), "
                     f"median {mps(t['median_per_s'])} of {t['runs']} alternated runs of {t['commands']:,} commands" if t else "–"])
    k = r.get("risk")
    if k:
        f = k["figures"]
        rows.append(["engine, + risk, + positions, + journal (fsync never); every limit active, throttles, collars, "
                     "8 % reference-price updates that re-mark every account", r.cmd("risk"),
                     " / ".join(f"{f[p]['per_s'] / 1e6:.2f}" for p in ("engine", "+risk", "+positions", "+journal"))
                     + " M commands/s (" + " / ".join(f"{f[p]['ns_per_command']:.0f}" for p in ("engine", "+risk", "+positions", "+journal"))
                     + " ns/command)"])
    else:
        rows.append(["engine, + risk, + positions, + journal", r.cmd("risk"), "–"])
    m = r.get("match_cli")
    if m:
        f = m["figures"]
        d, o = f["devnull"], f["file"]
        rows.append([f"`tickwire match` end to end: CSV order file in, event CSV out ({d['rows']:,} rows, "
                     f"{d['events']:,} events; goal {f['goal_rows_per_s'] / 1e6:g} M rows/s)", r.cmd("match_cli"),
                     f"to /dev/null best **{mps(d['best_rows_per_s'], 'M rows/s')}**, median {mps(d['median_rows_per_s'])}; "
                     f"to a file best {mps(o['best_rows_per_s'])}, median {mps(o['median_rows_per_s'])}; "
                     f"engine alone on the same commands {mps(f['engine_alone']['commands_per_s'], 'M commands/s')}; "
                     f"Python reference parser {f['reference']['rows_per_s'] / 1e3:,.0f} k rows/s"])
    return table(["what", "command", "figure"], rows)


def engine_latency(r: Runs) -> str:
    rows = []
    for label, pipe in (("match", "match"), ("risk+match", "risk + match"), ("clock only", "clock ticks only (no order work)")):
        for rate in ("100000", "1000000"):
            x = r.fig("engine", f"latency/{label}/{rate}")
            if not x:
                continue
            for kind, frm in (("latency", "intended time"), ("service", "actual start (service)")):
                if kind == "service" and label == "clock only":
                    continue
                p = x[kind]
                extra = ""
                st = x.get("service_steps_over_5us") or {}
                if kind == "service" and st.get("median_apart_us"):
                    extra = f"{st['count']:,} steps > 5 µs, {st['median_us']:.0f} µs long, {st['median_apart_us']:,.0f} µs apart"
                rows.append([pipe, f"{int(rate) / 1e6:g} M/s" if int(rate) >= 1_000_000 else f"{int(rate) / 1e3:g} k/s", frm, *(dur(p[q]) for q in ("p50", "p90", "p99", "p99.9")),
                             extra])
    if not rows:
        return f"Not run (no docs/figures/engine.json)."
    return (f"{r.cmd('engine')}:\n\n"
            + table(["pipeline", "rate", "measured from", "p50", "p90", "p99", "p99.9", "service steps"], rows))


def risk(r: Runs) -> str:
    k = r.get("risk")
    if not k:
        return "Not run (no docs/figures/risk.json)."
    f = k["figures"]
    rows = [[p, f"{f[p]['per_s']:,.0f}", f"{f[p]['ns_per_command']:.0f}", f[p]["rejects"],
             *(us(f[p][q]) for q in ("p50_us", "p99_us", "p99.9_us", "max_us"))]
            for p in ("engine", "+risk", "+positions", "+journal") if p in f]
    return (f"{r.cmd('risk')} ({f['commands']:,} commands; latency paced at {f['paced_per_s'] / 1e3:,.0f} k/s "
            "from the intended time):\n\n"
            + table(["pipeline", "commands/s", "ns/command", "rejects", "p50 µs", "p99 µs", "p99.9 µs", "max µs"], rows))


JOURNAL_ROWS = [("never", "never"), ("never, buffered", "never, write-behind buffer (as `tickwire match --journal`)"),
                ("batch 64 / 1 ms", "batch: fdatasync every 64 records or 1 ms"),
                ("commit / 64", "commit: fdatasync per loop batch of 64 (group commit)"),
                ("commit buffered", "commit, write-behind buffer"), ("always", "always: fdatasync per record")]


def journal(r: Runs) -> str:
    if not r.get("journal"):
        return "Not run (no docs/figures/journal.json)."
    rows = []
    for key, what in JOURNAL_ROWS:
        b, x = r.fig("journal", f"{key}/back-to-back"), r.fig("journal", f"{key}/fixed")
        if not b:
            continue
        rows.append([what, f"{b['records_per_s']:,.0f}", " / ".join(us(b[q]) for q in ("p50_us", "p99_us", "p99.9_us")),
                     f"{x['rate']:,}/s: " + " / ".join(us(x[q]) for q in ("p50_us", "p99_us", "p99.9_us")) if x else "–"])
    return (f"{r.cmd('journal')} (96-byte commands, 120 bytes framed):\n\n"
            + table(["policy", "back-to-back records/s", "append p50 / p99 / p99.9 µs",
                     "fixed rate: p50 / p99 / p99.9 µs from the intended time"], rows))


def generate(r: Runs) -> str:
    g = r.get("generate")
    if not g:
        return "Not run (no docs/figures/generate.json)."
    f = g["figures"]
    rows = []
    for kind in ("binaryFILE", "pcap"):
        d, o = f.get(f"{kind}/devnull"), f.get(f"{kind}/file")
        if d:
            rows.append([f"{kind} → /dev/null", f"{d['best_s']:.2f} (median {d['median_s']:.2f})", f"{d['cpu_s']:.2f}",
                         mps(d["msgs_per_s"], "M msgs/s"), f"{d['bytes']:,}"])
        if o:
            rows.append([f"{kind} → file", f"{o['wall_s']:.2f}", f"{o['cpu_s']:.2f}", mps(o["msgs_per_s"], "M msgs/s"),
                         f"{o['bytes']:,}"])
    return (f"{r.cmd('generate')} ({f['messages']:,} messages; peak RSS {f['peak_rss_mib']:.0f} MiB):\n\n"
            + table(["output", "wall s", "CPU s", "rate", "bytes"], rows))


def aeron(r: Runs) -> str:
    f = r.fig("aeron")
    if not f:
        return "Not run (no docs/figures/aeron.json)."
    rows = []
    for key, label in (("rtt_cython", "Cython ↔ Cython (tickwire `Publisher.offer` / `Subscriber.poll`)"),
                       ("rtt_python_pyaeron", "Python ↔ Python (pyaeron `offer` / `poll`)")):
        d = f.get(key)
        if d:
            rows.append([label, f"{d['p50_us']:,.2f}", f"{d['p90_us']:,.2f}", f"{d['p99_us']:,.2f}",
                         f"{d['p99.9_us']:,.2f}", f"{d['max_us']:,.1f}", f"{d['count']:,}"])
    fan = []
    for k in (1, 4):
        d = f.get(f"fanout_{k}")
        if d:
            fan.append([str(k), mps(d["msgs_per_s_per_subscriber"], "M msgs/s"), mps(d["publisher_msgs_per_s"], "M msgs/s"),
                        f"{d['messages']:,}"])
    return (f"{r.cmd('aeron')}, IPC round trip of a 32-byte message between two processes (µs):\n\n"
            + table(["path", "p50", "p90", "p99", "p99.9", "max", "round trips"], rows)
            + "\n\nFan-out of 64-byte messages (claim / commit, nothing lost):\n\n"
            + table(["subscriber processes", "per subscriber", "publisher", "messages"], fan))


def md_fanout(r: Runs) -> str:
    f = r.fig("md_fanout")
    if not f:
        return "Not run (no docs/figures/md_fanout.json)."
    rows = []
    for k in (1, 4):
        d = f.get(f"fanout_{k}")
        if d:
            rows.append([str(k), mps(d["msgs_per_s_per_subscriber"], "M msgs/s"), ", ".join(map(str, d["lost_per_subscriber"])),
                         f"{d['md_messages']:,}", f"{d['feed_messages']:,}"])
    return (f"{r.cmd('md_fanout')}, the feed service replaying a recorded day (pcap source, full speed) to compiled "
            "subscriber processes over Aeron IPC (FAIL_FAST):\n\n"
            + table(["subscriber processes", "per subscriber (slowest)", "lost per subscriber", "market-data messages",
                     "ITCH messages"], rows))


def appliance(r: Runs) -> str:
    """README.md: the goals of the appliance (issue 8), each with its figure and command."""
    rows = []
    c = r.fig("codec")
    if c:
        for m in ("BboUpdate", "NewOrder"):
            d = c.get(f"{m}/both")
            if d:
                rows.append([f"SBE encode + decode, {m}", f"{d['median_ns']:.1f} ns (best {d['best_ns']:.1f})",
                             "< 50 ns", "met" if d["median_ns"] < 50 else "missed", r.cmd("codec")])
    a = r.fig("aeron")
    if a and a.get("rtt_cython"):
        d = a["rtt_cython"]
        rows.append(["Aeron IPC round trip, Cython ↔ Cython, p99", f"{d['p99_us']:.1f} µs (p50 {d['p50_us']:.2f})",
                     "< 20 µs", "met" if d["p99_us"] < 20 else f"missed by {d['p99_us'] - 20:.1f} µs", r.cmd("aeron")])
    m = r.fig("md_fanout")
    if m and m.get("fanout_1"):
        d = m["fanout_1"]
        v = d["msgs_per_s_per_subscriber"]
        rows.append(["market-data fan-out to 1 subscriber (feed service, real day)", mps(v, "M msgs/s"), "≥ 5 M msgs/s",
                     "met" if v >= 5e6 else "missed", r.cmd("md_fanout")])
    o = r.fig("order_rtt")
    if o:
        for k in sorted((k for k in o if k.startswith("rate_")), key=lambda k: o[k]["rate"]):
            d = o[k]
            rows.append([f"order round trip at {d['rate']:,} orders/s, p99", dur(d["p99_us"] * 1000)
                         + f" (p50 {dur(d['p50_us'] * 1000)})", "< 20 µs",
                         "met" if d["p99_us"] < 20 else "missed", r.cmd("order_rtt")])
    t = r.fig("tick_to_trade")
    if t:
        for rate, d in sorted(t.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0):
            if not rate.isdigit() or not d.get("hops"):
                continue
            h = d["hops"].get("tick-to-trade (rx -> order sent)")
            if h and h.get("count"):
                rows.append([f"tick-to-trade (received -> order sent), Python strategies, {int(rate):,} msgs/s, p99",
                             dur(h["p99"]) + f" (p50 {dur(h['p50'])})", "< 20 µs",
                             "met" if h["p99"] < 20_000 else "missed", r.cmd("tick_to_trade")])
    tf = r.fig("tick_to_trade_fast")
    if tf:
        rate = tf.get("params", {}).get("rate", 0)
        for key, label in (("python", "Python strategy host"), ("fast-process", "FastStrategy (Cython) in its host"),
                           ("fast-in-feed", "FastStrategy in the feed's thread")):
            h = (tf.get(key) or {}).get("hops", {}).get("tick-to-trade (rx -> order sent)")
            if h and h.get("count"):
                rows.append([f"tick-to-trade (received -> order sent), {label}, {rate:,} msgs/s, p99",
                             dur(h["p99"]) + f" (p50 {dur(h['p50'])})", "< 20 µs",
                             "met" if h["p99"] < 20_000 else "missed", r.cmd("tick_to_trade_fast")])
        h = (tf.get("fast-in-feed") or {}).get("hops", {}).get("book -> order sent (either strategy mode)")
        if h and h.get("count"):
            rows.append([f"book updated -> order sent, FastStrategy in the feed's thread, {rate:,} msgs/s, p99",
                         dur(h["p99"]) + f" (p50 {dur(h['p50'])})", "(the part tickwire's code controls)",
                         "under 20 µs" if h["p99"] < 20_000 else "over 20 µs", r.cmd("tick_to_trade_fast")])
    if not rows:
        return "Not run (no docs/figures/{codec,aeron,md_fanout,order_rtt,tick_to_trade}.json)."
    return table(["what", "measured", "goal", "", "command"], rows)


REGIONS = {"appliance": appliance, "md-fanout": md_fanout, "aeron": aeron, "market-data": market_data, "datapaths": datapaths, "datapath": datapath, "engine": engine,
           "engine-latency": engine_latency, "risk": risk, "journal": journal, "generate": generate}


def render(name: str, folder: Path) -> str:
    if name not in REGIONS:
        raise SystemExit(f"figures: unknown region {name!r} (known: {', '.join(REGIONS)})")
    runs = Runs(folder)
    body = REGIONS[name](runs)
    foot = runs.footer()
    # blank lines around the content so that Markdown ends the table before the closing marker
    return f"\n{body}\n\n{foot}\n\n" if foot else f"\n{body}\n\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="src", type=Path, help="copy this folder's *.json (a `make bench` run) to docs/figures first")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is out of date")
    args = ap.parse_args(argv)
    if args.src and not args.check:
        found = sorted(args.src.glob("*.json"))
        if not found:
            print(f"figures: no *.json in {args.src} (run `make bench` first); rendering docs/figures as is", file=sys.stderr)
        DATA.mkdir(parents=True, exist_ok=True)
        for p in found:
            shutil.copy2(p, DATA / p.name)
            print(f"figures: {p.name} -> {DATA.relative_to(ROOT)}/")
    stale = []
    for page in PAGES:
        text = page.read_text()
        new = REGION.sub(lambda m: m.group(1) + render(m.group(2), DATA) + m.group(4), text)
        if new != text:
            stale.append(page.relative_to(ROOT))
            if not args.check:
                page.write_text(new)
    if args.check:
        if stale:
            print("figures: out of date with docs/figures/*.json: " + ", ".join(map(str, stale))
                  + " (run `make figures`)", file=sys.stderr)
            return 1
        print("figures: every page matches docs/figures/*.json")
        return 0
    for p in stale:
        print(f"figures: rewrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
