"""The appliance's configuration: one TOML file -> ``ApplianceConfig`` (validated before anything starts).

``tickwire run CONFIG.toml`` reads it; every service process reads the same file and takes its own
section. An annotated example with every key: ``docs/examples/appliance.toml``; reference:
``docs/appliance.md``.

Every problem is reported as ``ConfigError`` naming the key and the reason
(``feed.line_a: not HOST:PORT ('239.1.1.1')``), and all problems of a file are collected, so one run
shows them all. Nothing is started until the whole file is valid: unknown keys are errors (a typo must
not silently fall back to a default), cores must be ones this process may run on, files must exist,
strategy classes must import.

Layout::

    [appliance]   name, aeron_dir, driver ("auto" | "external"), driver_threading, run_dir, stop_timeout_s
    [streams.NAME] channel, stream_id, policy, retry_ns   (overrides of messaging.channels' defaults)
    [feed]        core, idle, source, line_a, line_b, retrans, interface, pcap, group, symbols,
                  stale_after_s, start_seq, snapshot_interval_ms, strategy ("module:Class" of a
                  strategy.fast.FastStrategy run in the feed's thread), strategy_config, strategy_user,
                  strategy_credential_env | strategy_credential_file
    [gateway]     core, idle, symbols, risk, journal, snapshot_every, heartbeat_timeout_ms,
                  cancel_on_disconnect, max_orders
    [[gateway.user]]  name, account, firm, credential (a salted hash: `tickwire user hash`)
    [[strategy]]  name, class ("module:Class"), config, user, credential_env | credential_file, core, idle,
                  critical
"""
from __future__ import annotations

import importlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SOURCES = ("pcap", "udp", "afpacket", "afxdp", "dpdk")
SYMBOL_RE = re.compile(r"^[\x21-\x7e]{1,8}$")   # ITCH: up to 8 printable ASCII characters
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


class ConfigError(ValueError):
    """One or more configuration problems; ``problems`` lists ``(key, reason)``."""

    def __init__(self, path, problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = problems
        first = "; ".join(f"{k}: {r}" for k, r in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"{self.path}: {first}{more}")


@dataclass
class FeedConfig:
    core: int | None = None
    idle: str = "backoff"
    source: str = "udp"
    line_a: tuple[str, int] | None = None
    line_b: tuple[str, int] | None = None
    retrans: tuple[str, int] | None = None
    interface: str = "lo"
    pcap: str | None = None
    symbols: list[str] = field(default_factory=list)
    stale_after_s: float = 3.0
    start_seq: int = 1
    snapshot_interval_ms: int = 0      # 0: snapshots only on request
    speed: float = 0.0                # pcap source: 0 = as fast as possible, else x recorded pace
    # in-process strategy (a strategy.fast.FastStrategy called by the feed on each book change)
    strategy: str | None = None       # "module:Class"
    strategy_config: str | None = None
    strategy_user: str | None = None
    strategy_credential_env: str | None = None
    strategy_credential_file: str | None = None


@dataclass
class UserConfig:
    name: str
    account: str
    firm: str
    credential: str                   # access.credentials hash string, never a plain password


@dataclass
class GatewayConfig:
    core: int | None = None
    idle: str = "backoff"
    symbols: list[str] = field(default_factory=list)
    risk: str | None = None
    journal: str = "journal"
    snapshot_every: int = 100_000
    heartbeat_timeout_ms: int = 1000
    cancel_on_disconnect: bool = True
    max_orders: int = 1_000_000
    users: list[UserConfig] = field(default_factory=list)


@dataclass
class StrategyConfig:
    name: str
    cls: str                          # "module:Class"
    config: str | None = None
    user: str | None = None
    credential_env: str | None = None
    credential_file: str | None = None
    core: int | None = None
    idle: str = "backoff"
    critical: bool = False


@dataclass
class ApplianceConfig:
    path: str
    name: str = "tickwire"
    aeron_dir: str | None = None
    driver: str = "auto"
    driver_threading: str = "shared"
    run_dir: str = "var/appliance"
    stop_timeout_s: float = 5.0
    streams: dict = field(default_factory=dict)   # name -> messaging.channels.StreamSpec
    feed: FeedConfig | None = None
    gateway: GatewayConfig | None = None
    strategies: list[StrategyConfig] = field(default_factory=list)

    def resolve(self, p: str | None) -> str | None:
        """A path of the file, relative to the file's own directory."""
        if p is None:
            return None
        q = Path(p)
        return str(q if q.is_absolute() else (Path(self.path).parent / q))

    def run_path(self, *parts: str) -> str:
        return str(Path(self.resolve(self.run_dir)).joinpath(*parts))


class _Checker:
    """Collects (key, reason) pairs while the sections are read."""

    def __init__(self):
        self.problems: list[tuple[str, str]] = []

    def bad(self, key, reason):
        self.problems.append((key, reason))

    def take(self, table: dict, prefix: str, spec: dict) -> dict:
        """Values of ``table`` checked against ``spec`` {key: checker(key, value) -> value}; unknown keys
        are problems."""
        out = {}
        for k, v in table.items():
            key = f"{prefix}.{k}" if prefix else k
            if k not in spec:
                self.bad(key, f"unknown key (known: {', '.join(sorted(spec))})")
                continue
            try:
                out[k] = spec[k](key, v)
            except _Bad as e:
                self.bad(key, str(e))
        return out


class _Bad(Exception):
    pass


# ------------------------------------------------------------------ value checkers ----
def _int(lo=None, hi=None):
    def check(key, v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad(f"not an integer ({v!r})")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _Bad(f"{v} out of range {lo}..{hi if hi is not None else ''}")
        return v
    return check


def _num(lo=0.0, hi=None):
    def check(key, v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise _Bad(f"not a number ({v!r})")
        if v < lo or (hi is not None and v > hi):
            raise _Bad(f"{v} out of range {lo}..{hi if hi is not None else ''}")
        return float(v)
    return check


def _bool(key, v):
    if not isinstance(v, bool):
        raise _Bad(f"not true/false ({v!r})")
    return v


def _str(key, v):
    if not isinstance(v, str) or not v:
        raise _Bad(f"not a non-empty string ({v!r})")
    return v


def _choice(*options):
    def check(key, v):
        if v not in options:
            raise _Bad(f"{v!r} is not one of {', '.join(options)}")
        return v
    return check


def _name(key, v):
    if not isinstance(v, str) or not NAME_RE.match(v):
        raise _Bad(f"not a name of 1-32 letters, digits, '_', '.', '-' ({v!r})")
    return v


def _idle(key, v):
    """Checked by the parser the services use (messaging.transport.IdleStrategy.parse): one grammar."""
    from messaging.channels import AeronConfigError
    from messaging.transport import IdleStrategy
    if not isinstance(v, str):
        raise _Bad(f"{v!r} is not an idle strategy (busy-spin, yield, backoff[:SPINS,YIELDS,MIN,MAX], sleep:DURATION)")
    try:
        IdleStrategy.parse(v)
    except AeronConfigError:
        raise _Bad(f"{v!r} is not an idle strategy (busy-spin, yield, noop, backoff[:SPINS,YIELDS,MIN,MAX], "
                   f"sleep:DURATION)") from None
    return v


def _core(key, v):
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Bad(f"not a CPU number ({v!r})")
    allowed = sorted(os.sched_getaffinity(0))
    if v not in allowed:
        raise _Bad(f"CPU {v} is not one this process may run on ({allowed})")
    return v


def idle_problem(spec) -> str | None:
    """Why ``spec`` is not an idle strategy, or None (for command-line options that take one)."""
    try:
        _idle("idle", spec)
    except _Bad as e:
        return str(e)
    return None


def _hostport(key, v):
    if not isinstance(v, str) or v.count(":") != 1:
        raise _Bad(f"not HOST:PORT ({v!r})")
    host, port = v.rsplit(":", 1)
    try:
        import ipaddress
        ipaddress.IPv4Address(host)
    except ValueError:
        raise _Bad(f"{host!r} is not an IPv4 address") from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _Bad(f"port {port!r} is not 1..65535")
    return host, int(port)


def _symbols(key, v):
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise _Bad("not a list of symbols")
    bad = [s for s in v if not SYMBOL_RE.match(s)]
    if bad:
        raise _Bad(f"not a symbol (1-8 printable ASCII characters): {bad[0]!r}")
    if len(set(v)) != len(v):
        raise _Bad("a symbol is listed twice")
    return list(v)


def _class_ref(key, v):
    if not isinstance(v, str) or not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", v):
        raise _Bad(f"not MODULE:CLASS ({v!r})")
    return v


# ------------------------------------------------------------------ sections ----
def load(path: str | os.PathLike, *, check_imports: bool = True) -> ApplianceConfig:
    """Read and validate an appliance file; raise ``ConfigError`` listing every problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, [("(file)", "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError(path, [("(file)", "is a directory")]) from None
    except UnicodeDecodeError as e:
        raise ConfigError(path, [("(file)", f"not UTF-8 text ({e.reason} at byte {e.start})")]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(path, [("(file)", f"not TOML: {e}")]) from None
    c = _Checker()
    cfg = ApplianceConfig(path=str(path))
    top = c.take(raw, "", {"appliance": _table, "streams": _table, "feed": _table, "gateway": _table,
                           "strategy": _table_list})
    a = c.take(top.get("appliance", {}), "appliance", {
        "name": _name, "aeron_dir": _str, "driver": _choice("auto", "external"),
        "driver_threading": _choice("shared", "dedicated"), "run_dir": _str,
        "stop_timeout_s": _num(0.1, 600)})
    for k, v in a.items():
        setattr(cfg, k, v)
    cfg.streams = _streams(c, top.get("streams"))
    if "feed" in top:
        cfg.feed = _feed(c, cfg, top["feed"], check_imports)
    if "gateway" in top:
        cfg.gateway = _gateway(c, cfg, top["gateway"])
    for i, s in enumerate(top.get("strategy", [])):
        st = _strategy(c, cfg, s, i, check_imports)
        if st:
            cfg.strategies.append(st)
    _cross_checks(c, cfg)
    if c.problems:
        raise ConfigError(path, c.problems)
    return cfg


def _table(key, v):
    if not isinstance(v, dict):
        raise _Bad("not a table")
    return v


def _table_list(key, v):
    if not isinstance(v, list) or not all(isinstance(t, dict) for t in v):
        raise _Bad("not an array of tables ([[strategy]])")
    return v


def _streams(c: _Checker, raw) -> dict:
    """``{name: messaging.channels.StreamSpec}``: the defaults with the file's [streams.NAME] overrides."""
    from messaging import channels
    try:
        return channels.parse_streams(raw)
    except channels.AeronConfigError as e:
        text = str(e)
        at = text.find(f"{e.key}: ")
        c.bad(e.key, text[at + len(e.key) + 2:] if at >= 0 else text)
        return dict(channels.DEFAULT_STREAMS)


def _feed(c: _Checker, cfg: ApplianceConfig, raw: dict, check_imports: bool = True) -> FeedConfig:
    v = c.take(raw, "feed", {
        "core": _core, "idle": _idle, "source": _choice(*SOURCES), "line_a": _hostport, "line_b": _hostport,
        "retrans": _hostport, "interface": _str, "pcap": _str, "symbols": _symbols,
        "stale_after_s": _num(0.1, 3600), "start_seq": _int(1, (1 << 63) - 1),
        "snapshot_interval_ms": _int(0, 3_600_000), "speed": _num(0.0, 1e6), "strategy": _class_ref,
        "strategy_config": _str, "strategy_user": _name, "strategy_credential_env": _str,
        "strategy_credential_file": _str})
    f = FeedConfig(**v)
    _feed_strategy(c, cfg, f, raw, check_imports)
    if f.source == "pcap":
        if not f.pcap:
            c.bad("feed.pcap", "required when feed.source = \"pcap\"")
        elif not Path(cfg.resolve(f.pcap)).is_file():
            c.bad("feed.pcap", f"no such file ({cfg.resolve(f.pcap)})")
    elif f.line_a is None and "line_a" not in raw:
        c.bad("feed.line_a", f"required for feed.source = \"{f.source}\" (GROUP:PORT of line A)")
    if f.line_a and f.line_b and f.line_a == f.line_b:
        c.bad("feed.line_b", "the same group and port as feed.line_a")
    return f


def _feed_strategy(c: _Checker, cfg: ApplianceConfig, f: FeedConfig, raw: dict, check_imports: bool) -> None:
    """``[feed] strategy``: the in-process mode (checked here; the user against [gateway] in the cross checks)."""
    keys = ("strategy_config", "strategy_user", "strategy_credential_env", "strategy_credential_file")
    if not f.strategy:
        for k in keys:
            if k in raw:
                c.bad(f"feed.{k}", "given without feed.strategy")
        return
    if "strategy_user" not in raw:
        c.bad("feed.strategy_user", "required with feed.strategy (the in-process strategy sends orders)")
    if not (f.strategy_credential_env or f.strategy_credential_file):
        c.bad("feed.strategy_credential_env", "feed.strategy needs strategy_credential_env or strategy_credential_file")
    if f.strategy_credential_env and f.strategy_credential_file:
        c.bad("feed.strategy_credential_env", "give strategy_credential_env or strategy_credential_file, not both")
    for k in ("strategy_config", "strategy_credential_file"):
        v = getattr(f, k)
        if v and not Path(cfg.resolve(v)).is_file():
            c.bad(f"feed.{k}", f"no such file ({cfg.resolve(v)})")
    if not check_imports:
        return
    mod, _, name = f.strategy.partition(":")
    try:
        obj = getattr(importlib.import_module(mod), name)
    except ImportError as e:
        c.bad("feed.strategy", f"cannot import {mod}: {e}")
        return
    except AttributeError:
        c.bad("feed.strategy", f"{mod} has no {name}")
        return
    from strategy.fast import FastStrategy
    if not (isinstance(obj, type) and issubclass(obj, FastStrategy)):
        c.bad("feed.strategy", f"{f.strategy} is not a strategy.fast.FastStrategy subclass (only those run "
                               "in the feed's thread; a strategy.base.Strategy runs as a [[strategy]])")


def _gateway(c: _Checker, cfg: ApplianceConfig, raw: dict) -> GatewayConfig:
    users_raw = raw.get("user", [])
    raw = {k: v for k, v in raw.items() if k != "user"}
    v = c.take(raw, "gateway", {
        "core": _core, "idle": _idle, "symbols": _symbols, "risk": _str, "journal": _str,
        "snapshot_every": _int(0, 1 << 40), "heartbeat_timeout_ms": _int(10, 600_000),
        "cancel_on_disconnect": _bool, "max_orders": _int(1, 1 << 31)})
    g = GatewayConfig(**v)
    if not g.symbols and "symbols" not in raw:
        c.bad("gateway.symbols", "required: the symbols the gateway's engine trades")
    if g.risk and not Path(cfg.resolve(g.risk)).is_file():
        c.bad("gateway.risk", f"no such file ({cfg.resolve(g.risk)})")
    elif g.risk:
        from engine.riskconfig import RiskConfig, RiskConfigError
        try:      # symbol ids are positions in gateway.symbols, as `tickwire match --symbols` gives them
            RiskConfig.from_toml(cfg.resolve(g.risk), symbols={s: i for i, s in enumerate(g.symbols)})
        except (RiskConfigError, OSError, ValueError) as e:
            c.bad("gateway.risk", str(e))
    if not isinstance(users_raw, list):
        c.bad("gateway.user", "not an array of tables ([[gateway.user]])")
        users_raw = []
    from access.credentials import CredentialError, parse_hash
    names = set()
    for i, u in enumerate(users_raw):
        key = f"gateway.user[{i}]"
        if not isinstance(u, dict):
            c.bad(key, "not a table")
            continue
        uv = c.take(u, key, {"name": _name, "account": _name, "firm": _name, "credential": _str})
        missing = [k for k in ("name", "account", "credential") if k not in u]
        for k in missing:
            c.bad(f"{key}.{k}", "required")
        if any(k not in uv for k in ("name", "account", "credential")):
            continue
        try:
            parse_hash(uv["credential"])
        except CredentialError as e:
            c.bad(f"{key}.credential", f"{e} (make one with `tickwire user hash`)")
            continue
        if uv["name"] in names:
            c.bad(f"{key}.name", f"user {uv['name']!r} is defined twice")
        names.add(uv["name"])
        g.users.append(UserConfig(uv["name"], uv["account"], uv.get("firm", uv["account"]), uv["credential"]))
    return g


def _strategy(c: _Checker, cfg: ApplianceConfig, raw: dict, i: int, check_imports: bool):
    key = f"strategy[{i}]"
    v = c.take(raw, key, {"name": _name, "class": _class_ref, "config": _str, "user": _name,
                          "credential_env": _str, "credential_file": _str, "core": _core, "idle": _idle,
                          "critical": _bool})
    for k in ("name", "class"):
        if k not in raw:
            c.bad(f"{key}.{k}", "required")
    if "name" not in v or "class" not in v:
        return None
    s = StrategyConfig(name=v["name"], cls=v["class"], config=v.get("config"), user=v.get("user"),
                       credential_env=v.get("credential_env"), credential_file=v.get("credential_file"),
                       core=v.get("core"), idle=v.get("idle", "backoff"), critical=v.get("critical", False))
    if s.config and not Path(cfg.resolve(s.config)).is_file():
        c.bad(f"{key}.config", f"no such file ({cfg.resolve(s.config)})")
    if s.credential_file and not Path(cfg.resolve(s.credential_file)).is_file():
        c.bad(f"{key}.credential_file", f"no such file ({cfg.resolve(s.credential_file)})")
    if s.credential_env and s.credential_file:
        c.bad(f"{key}.credential_env", "give credential_env or credential_file, not both")
    if check_imports:
        mod, _, name = s.cls.partition(":")
        try:
            obj = getattr(importlib.import_module(mod), name)
        except ImportError as e:
            c.bad(f"{key}.class", f"cannot import {mod}: {e}")
        except AttributeError:
            c.bad(f"{key}.class", f"{mod} has no {name}")
        else:
            if not isinstance(obj, type):
                c.bad(f"{key}.class", f"{s.cls} is not a class")
    return s


def _cross_checks(c: _Checker, cfg: ApplianceConfig) -> None:
    users = {u.name for u in cfg.gateway.users} if cfg.gateway else set()
    seen = set()
    for i, s in enumerate(cfg.strategies):
        key = f"strategy[{i}]"
        if s.name in seen:
            c.bad(f"{key}.name", f"strategy {s.name!r} is defined twice")
        seen.add(s.name)
        if s.user is not None:
            if cfg.gateway is None:
                c.bad(f"{key}.user", "names a gateway user but there is no [gateway]")
            elif s.user not in users:
                c.bad(f"{key}.user", f"no [[gateway.user]] named {s.user!r}")
            if not (s.credential_env or s.credential_file):
                c.bad(f"{key}.credential_env", "a strategy that logs in needs credential_env or credential_file")
    if cfg.feed and cfg.feed.strategy_user:
        if cfg.gateway is None:
            c.bad("feed.strategy_user", "names a gateway user but there is no [gateway]")
        elif cfg.feed.strategy_user not in users:
            c.bad("feed.strategy_user", f"no [[gateway.user]] named {cfg.feed.strategy_user!r}")
    if cfg.feed and cfg.gateway and cfg.feed.symbols and cfg.gateway.symbols:
        extra = sorted(set(cfg.gateway.symbols) - set(cfg.feed.symbols))
        if extra:
            c.bad("gateway.symbols", f"not published by the feed (feed.symbols): {', '.join(extra)}")
    if not (cfg.feed or cfg.gateway or cfg.strategies):
        c.bad("(file)", "no service: give at least one of [feed], [gateway], [[strategy]]")
