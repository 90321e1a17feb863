"""`tickwire demo`: the whole appliance on this machine, with no configuration, and what happened.

1. The day: ``var/sample.itch`` (``make run`` generates it; ``--day`` another), and its most active
   symbols (a replay of the file).
2. An appliance file in ``var/demo/`` (written fresh each run, credentials random and hashed): the
   media driver, the feed service on loopback multicast, the gateway (risk, matching, journal) trading
   the chosen symbols, and the two example strategies (market maker, momentum) as two users.
3. ``tickwire run`` starts it; once every service is ready, ``tickwire send`` replays the day over
   loopback multicast at ``--rate`` messages/s for ``--seconds``.
4. A progress line each second; then SIGTERM, every service stops, and the summary: messages and
   books, orders, fills, rejects by reason, positions and P&L per strategy, the tick-to-trade table.

Exit status: 0 done; 1 the appliance or the sender failed (the appliance log's last lines are shown);
3 the appliance did not start.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GROUP = "239.192.7.1:31001"
#: Every service of the demo shares 2 cores with the others and the sender: spin a little, yield a little,
#: then park for at most 20 us (Linux timer slack makes a park about 50 us more): no busy-spinning process
#: takes a core from the rest. On isolated cores an appliance file would say busy-spin.
IDLE = "backoff:100,50,1us,20us"


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def _tw(*args) -> list[str]:
    return [sys.executable, "-m", "tickwire", *args]


def say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def most_active(day: str, n: int) -> list[str]:
    r = subprocess.run(_tw("replay", day, "--json", "--top", str(n)), capture_output=True, text=True, env=_env())
    if r.returncode not in (0, 3):
        raise RuntimeError(f"replay of {day} failed: {r.stderr.strip()}")
    return [m["symbol"] for m in json.loads(r.stdout)["most_active"]][:n]


def write_config(run: Path, day_symbols: list[str], aeron_dir: str, creds: dict[str, str]) -> Path:
    from access.credentials import hash_credential

    syms = json.dumps(day_symbols)
    (run / "risk.toml").write_text(
        "# demo risk limits (docs/risk.md)\n[sizes]\nmax_accounts = 16\nmax_firms = 4\nmax_symbols = 64\n"
        "max_orders = 1_000_000\n\n[defaults.account]\nmax_order_qty = 5_000\nmax_order_notional = 2_000_000.00\n"
        "max_open_orders = 1_000\nmax_net_position = 20_000\n\n[defaults.symbol]\ncollar_pct = 10\n")
    (run / "mm.toml").write_text(
        f"symbols = {syms}\n\n[limits]\nmax_order_qty = 500\nmax_position = 2000\nmax_open_orders = 200\n"
        "max_loss = 50000.0\nmax_notional = 2000000.0\n\n[params]\nquote_size = 100\nedge_ticks = 0\n"
        "skew_unit = 100\nskew_ticks = 1\nmax_inventory = 1000\nmin_spread_ticks = 1\n")
    (run / "mo.toml").write_text(
        f"symbols = {syms}\ntimer_ms = 100\n\n[limits]\nmax_order_qty = 1000\nmax_position = 1000\n"
        "max_open_orders = 50\nmax_loss = 50000.0\n\n[params]\nqty = 100\nlookback = 10\nthreshold_ticks = 1\n"
        "min_trade_flow = 0\nslippage_ticks = 1\nstop_ticks = 5\ntarget_ticks = 10\nmax_hold_ms = 2000\n")
    users = [("mm", "MM-1", "MAKERS", hash_credential(creds["mm"])), ("mo", "MO-1", "TAKERS", hash_credential(creds["mo"]))]
    strategies = [{"name": "mm", "class": "strategy.examples.market_maker:MarketMaker", "config": "mm.toml", "user": "mm",
                   "credential_env": "TICKWIRE_DEMO_MM", "core": 0},
                  {"name": "mo", "class": "strategy.examples.momentum:Momentum", "config": "mo.toml", "user": "mo",
                   "credential_env": "TICKWIRE_DEMO_MO", "core": 1}]
    path = run / "appliance.toml"
    path.write_text(appliance_text("demo", aeron_dir, day_symbols, users, strategies))
    return path


def appliance_text(name: str, aeron_dir: str, symbols: list[str], users, strategies, feed_extra: str = "") -> str:
    """The appliance file of a lab run on this host: driver, a udp feed on GROUP, the gateway trading
    ``symbols`` with ``risk.toml``, the ``users`` ((name, account, firm, credential hash)) and the
    ``strategies`` (dicts of [[strategy]] keys; ``core`` is an index spread over the CPUs), every
    service on IDLE. ``feed_extra``: more [feed] lines (the in-process strategy of a benchmark)."""
    ncpu = len(os.sched_getaffinity(0))
    core = (lambda i: i % ncpu) if ncpu > 1 else (lambda i: 0)
    syms = json.dumps(symbols)
    text = f"""# written by tickwire/demo.py; docs/appliance.md explains every key
[appliance]
name = "{name}"
aeron_dir = "{aeron_dir}"
driver = "auto"
run_dir = "."
stop_timeout_s = 5.0

[feed]
core = {core(1)}
idle = "{IDLE}"
source = "udp"
line_a = "{GROUP}"
interface = "lo"
symbols = {syms}
{feed_extra}
[gateway]
core = {core(0)}
idle = "{IDLE}"
symbols = {syms}
risk = "risk.toml"
journal = "journal"
heartbeat_timeout_ms = 2000
"""
    for u, account, firm, cred in users:
        text += f'\n[[gateway.user]]\nname = "{u}"\naccount = "{account}"\nfirm = "{firm}"\ncredential = "{cred}"\n'
    for st in strategies:
        text += "\n[[strategy]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in st.items() if k != "core")
        text += f'core = {core(st.get("core", 0))}\nidle = "{IDLE}"\n'
    return text


def replay_through(cfg: Path, day: str, rate: int, seconds: float, env: dict, tell=say, progress=None) -> int:
    """Start ``tickwire run CFG`` (its output to ``appliance.log`` beside CFG), replay ``day`` with
    ``tickwire send`` at ``rate`` for ``seconds`` once every service is ready, then SIGTERM it.
    ``progress(elapsed_s)`` is called each second. 0 done; 1 the appliance stopped or did not stop
    cleanly (its log's last lines said); 3 it did not start."""
    log = cfg.parent / "appliance.log"
    tell(f"starting the appliance ({cfg}; its log: {log})")
    with open(log, "wb") as logf:
        app = subprocess.Popen(_tw("run", str(cfg)), stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=cfg.parent)
    rc = 0
    sender = None
    try:
        deadline = time.monotonic() + 60
        while b"running:" not in log.read_bytes():
            if app.poll() is not None:
                tell(f"the appliance did not start (exit {app.returncode}):\n{_tail(log)}")
                return 3
            if time.monotonic() > deadline:
                tell(f"the appliance was not ready within 60 s:\n{_tail(log)}")
                return 3
            time.sleep(0.1)
        tell(f"appliance running; sending {day} to {GROUP} on lo at {rate:,} messages/s for {seconds:g} s")
        sender = subprocess.Popen(_tw("send", day, "--to", GROUP, "--rate", str(rate)),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds and sender.poll() is None:
            time.sleep(1.0)
            if app.poll() is not None:
                tell(f"the appliance stopped (exit {app.returncode}):\n{_tail(log)}")
                rc = 1
                break
            if progress is not None:
                progress(time.monotonic() - t0)
        if sender.poll() is None:
            sender.send_signal(signal.SIGINT)
        try:
            sender.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sender.kill()
        time.sleep(0.5)                      # let the last packets reach the books and the strategies
    finally:
        if sender is not None and sender.poll() is None:
            sender.kill()
        if app.poll() is None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(timeout=30)
            except subprocess.TimeoutExpired:
                app.kill()
                app.wait()
    if app.returncode not in (0, None) and rc == 0:
        tell(f"the appliance exited {app.returncode}:\n{_tail(log)}")
        rc = 1
    return rc


def _status(run: Path) -> dict:
    out = {}
    for p in run.glob("*.status.json"):
        try:
            out[p.name[:-len(".status.json")]] = json.loads(p.read_text())
        except (OSError, ValueError):
            pass
    return out


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def run_demo(day: str, seconds: float, rate: int, symbols: int, run_dir: Path, as_json: bool) -> int:
    if not Path(day).is_file():
        say(f"{day}: no such file (make run generates var/sample.itch; or --day FILE)")
        return 1
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    say(f"choosing the {symbols} most active symbols of {day} ...")
    syms = most_active(day, symbols)
    creds = {"mm": secrets.token_urlsafe(16), "mo": secrets.token_urlsafe(16)}
    aeron_dir = f"/dev/shm/tickwire-demo-{os.getpid()}"
    cfg = write_config(run_dir, syms, aeron_dir, creds)
    env = dict(_env(), TICKWIRE_DEMO_MM=creds["mm"], TICKWIRE_DEMO_MO=creds["mo"])
    say(f"symbols {', '.join(syms)}")

    def progress(elapsed):
        say(f"{elapsed:4.0f} s  " + "  ".join(f"{k}: {_brief(k, v)}" for k, v in sorted(_status(run_dir).items())))

    rc = replay_through(cfg, day, rate, seconds, env, progress=progress)
    if rc == 3:
        return 3
    summary = summarize(run_dir, syms, day, rate, seconds)
    if as_json:
        print(json.dumps(summary, indent=1, default=str))
    else:
        print(render(summary))
    return rc


def _brief(name: str, st: dict) -> str:
    if "strategy" in st:
        s = st["strategy"]
        o = s.get("orders", {})
        return f"{o.get('orders', 0)} orders {o.get('fills', 0)} fills"
    for k in ("messages_published", "published", "messages"):
        if k in st:
            return f"{st[k]:,} msgs"
    for k in ("commands", "orders"):
        if k in st:
            return f"{st[k]:,} {k}"
    return "up"


def summarize(run: Path, syms, day, rate, seconds) -> dict:
    st = _status(run)
    out = {"day": day, "symbols": syms, "rate": rate, "seconds": seconds, "services": st}
    lat = sorted(run.glob("*.latency.npy"))
    if lat:
        from analytics import latency as L
        rows = L.load(lat)
        if len(rows):
            out["latency"] = L.summarize(rows)
            L.write_json(out["latency"], run / "latency.json")
            L.plot(rows, run / "latency.png", title="tickwire demo: tick-to-trade per hop")
            out["latency_files"] = [str(run / "latency.json"), str(run / "latency.png")]
    return out


def render(s: dict) -> str:
    lines = [f"tickwire demo: {s['day']} at {s['rate']:,} msgs/s for {s['seconds']:g} s, symbols "
             f"{', '.join(s['symbols'])}"]
    for name, st in sorted(s["services"].items()):
        if "strategy" in st:
            continue
        keys = {k: v for k, v in st.items() if isinstance(v, (int, float)) and v}
        lines.append(f"  {name}: " + ", ".join(f"{k} {v:,}" for k, v in list(keys.items())[:12]))
    for name, st in sorted(s["services"].items()):
        if "strategy" not in st:
            continue
        x = st["strategy"]
        o = x.get("orders", {})
        lines.append(f"  strategy {name} ({st.get('class', '')}): orders {o.get('orders', 0)}, fills {o.get('fills', 0)}"
                     f" ({o.get('filled_qty', 0):,} shares), cancels {o.get('cancels', 0)}, rejects {o.get('rejects', 0)}"
                     + (f" {x.get('rejects')}" if x.get("rejects") else "") + f", P&L ${x.get('pnl', 0) / 10_000:,.2f}")
        for sym, p in x.get("positions", {}).items():
            lines.append(f"      {sym:<8} position {p.get('qty', 0):>6}  avg {p.get('avg_price', 0) / 10_000:>10.4f}"
                         f"  realized ${p.get('realized', 0) / 10_000:>10,.2f}  unrealized ${p.get('unrealized', 0) / 10_000:>10,.2f}")
    if "latency" in s:
        from analytics.latency import format_table
        lines.append("")
        lines.append(format_table(s["latency"]))
        lines.append("latency: " + ", ".join(s.get("latency_files", [])))
    else:
        lines.append("  no latency rows (no order reached the gateway)")
    return "\n".join(lines)
