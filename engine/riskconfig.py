"""Pre-trade risk configuration: a TOML file (tomllib) -> ``RiskConfig`` -> ``engine.risk.RiskEngine``.

Units in the file are the ones people write: money in dollars (converted exactly, with
``Decimal``, to the engine's int64 1e-4 dollars), quantities in shares, percentages in percent
(stored as basis points), rates in messages per second with a burst. A limit left out is
unlimited. Example with every key: docs/examples/risk.toml; reference: docs/risk.md.

Layout::

    [sizes]            max_accounts, max_firms, max_symbols, max_sessions, max_orders, strict_accounts
    [defaults.account] limits of every account (overridden per [[account]])
    [defaults.firm]    limits of every firm (overridden per [[firm]])
    [defaults.symbol]  margin_pct, collar_pct, require_reference, restricted
    [defaults.session] cancel_on_disconnect
    [[account]] id, firm, limits..., symbols = [..], permissions = {"<sym>" = ["buy", "sell", "short"]}, kill
    [[firm]]    id, limits..., kill

Accounts and firms are named by ``id``: a number, or a name as in FIX tag 1 (``"ACME-7"``) that
``engine.names.NameTable`` gives an id from the top of the table (``max_accounts - 1`` down) once
every number is known; ``account_names`` / ``firm_names`` are those tables, shared with the order
CSV (``tickwire match``).
    [[symbol]]  id, name, margin_pct, collar_pct, require_reference, restricted, reference_price
    [[session]] id, cancel_on_disconnect
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, ROUND_HALF_EVEN
from pathlib import Path

from engine.names import NameError_, NameTable

PRICE_SCALE = 10_000
INT64_MAX = (1 << 63) - 1

ACCOUNT_LIMIT_KEYS = {
    "max_order_qty": "qty",
    "max_order_notional": "money",
    "max_open_orders": "count",
    "max_net_position": "qty",
    "max_gross_position": "qty",
    "buying_power": "money",
    "concentration_pct": "pct",
    "concentration_min_gross": "money",
    "order_rate": "rate",
    "message_rate": "rate",
}
FIRM_LIMIT_KEYS = {k: v for k, v in ACCOUNT_LIMIT_KEYS.items()
                   if k not in ("max_net_position", "concentration_pct", "concentration_min_gross")}
PERMISSIONS = {"buy": 1, "sell": 2, "short": 4}


class RiskConfigError(ValueError):
    """A configuration value that cannot be used (message names the key)."""


def money(value, key: str = "value") -> int:
    """Dollars (int, float or decimal string) -> int64 1e-4 dollars, exactly (no binary float drift)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RiskConfigError(f"{key}: expected an amount in dollars, got {value!r}")
    try:
        d = Decimal(str(value)) * PRICE_SCALE
    except Exception as exc:  # decimal.InvalidOperation
        raise RiskConfigError(f"{key}: not a number: {value!r}") from exc
    q = d.to_integral_value(rounding=ROUND_HALF_EVEN)
    if q != d:
        raise RiskConfigError(f"{key}: {value!r} has more than 4 decimals")
    if q < 0:
        raise RiskConfigError(f"{key}: must not be negative")
    return min(int(q), INT64_MAX)


def pct_bps(value, key: str) -> int:
    """Percent -> basis points (1 % = 100 bps)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RiskConfigError(f"{key}: expected a percentage, got {value!r}")
    if value < 0:
        raise RiskConfigError(f"{key}: must not be negative")
    return int((Decimal(str(value)) * 100).to_integral_value(rounding=ROUND_HALF_EVEN))


def _count(value, key):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RiskConfigError(f"{key}: expected a non-negative integer, got {value!r}")
    return value


def _rate(value, key):
    """{per_second, burst} -> GCRA (interval_ns, tolerance_ns)."""
    if not isinstance(value, dict) or "per_second" not in value:
        raise RiskConfigError(f"{key}: expected {{ per_second = N, burst = B }}")
    rate = value["per_second"]
    burst = value.get("burst", 1)
    if not isinstance(rate, (int, float)) or rate <= 0:
        raise RiskConfigError(f"{key}.per_second: must be > 0")
    _count(burst, f"{key}.burst")
    if burst < 1:
        raise RiskConfigError(f"{key}.burst: must be >= 1")
    interval = max(1, int(round(1e9 / rate)))
    return interval, (burst - 1) * interval


@dataclass
class Limits:
    """One account's or firm's limits in engine units (INT64_MAX = unlimited; rate 0 = off)."""
    max_order_qty: int = INT64_MAX
    max_order_notional: int = INT64_MAX
    max_open_orders: int = INT64_MAX
    max_net_position: int = INT64_MAX
    max_gross_position: int = INT64_MAX
    buying_power: int = INT64_MAX
    concentration_bps: int = 10_000
    concentration_min_gross: int = 0
    order_interval_ns: int = 0
    order_tolerance_ns: int = 0
    msg_interval_ns: int = 0
    msg_tolerance_ns: int = 0

    def update(self, table: dict, keys: dict, where: str) -> None:
        for key, value in table.items():
            kind = keys.get(key)
            if kind is None:
                continue
            k = f"{where}.{key}"
            if kind == "money":
                setattr(self, key, money(value, k))
            elif kind in ("qty", "count"):
                setattr(self, key, _count(value, k))
            elif kind == "pct":
                self.concentration_bps = pct_bps(value, k)
            elif kind == "rate":
                iv, tol = _rate(value, k)
                prefix = "order" if key == "order_rate" else "msg"
                setattr(self, f"{prefix}_interval_ns", iv)
                setattr(self, f"{prefix}_tolerance_ns", tol)


@dataclass
class AccountConfig:
    id: int
    firm: int = 0
    limits: Limits = field(default_factory=Limits)
    allow_short: bool = True
    symbols: list[int] | None = None              # permitted symbols (None = all)
    permissions: dict[int, int] = field(default_factory=dict)  # symbol -> PERM_* bits (overrides)
    kill: bool = False


@dataclass
class SymbolConfig:
    id: int
    name: str = ""
    margin_bps: int = 10_000
    collar_bps: int = 0
    require_reference: bool = False
    restricted: bool = False
    reference_price: int = 0


@dataclass
class RiskConfig:
    max_accounts: int = 64
    max_firms: int = 16
    max_symbols: int = 1024
    max_sessions: int = 256
    max_orders: int = 1 << 18
    strict_accounts: bool = False
    account_defaults: Limits = field(default_factory=Limits)
    default_allow_short: bool = True
    firm_defaults: Limits = field(default_factory=Limits)
    symbol_defaults: SymbolConfig = field(default_factory=lambda: SymbolConfig(-1))
    cod_default: bool = True
    accounts: dict[int, AccountConfig] = field(default_factory=dict)
    firms: dict[int, Limits] = field(default_factory=dict)
    firm_kill: dict[int, bool] = field(default_factory=dict)
    symbols: dict[int, SymbolConfig] = field(default_factory=dict)
    sessions: dict[int, bool] = field(default_factory=dict)
    source: str = ""                              # file path, for messages
    symbol_ids: dict[str, int] = field(default_factory=dict)  # names -> ids given by the caller
    account_names: NameTable | None = None        # account / firm names <-> ids (engine.names)
    firm_names: NameTable | None = None

    # ------------------------------------------------------------------ loading ----
    @classmethod
    def from_toml(cls, path, symbols: dict[str, int] | None = None) -> "RiskConfig":
        """Read a RISK.toml; ``symbols`` ({name: id}) resolves [[symbol]] tables given by name only."""
        path = Path(path)
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError as exc:
            raise RiskConfigError(f"{path}: no such file") from exc
        except tomllib.TOMLDecodeError as exc:
            raise RiskConfigError(f"{path}: {exc}") from exc
        try:
            cfg = cls.from_dict(data, symbols)
        except RiskConfigError as exc:
            raise RiskConfigError(f"{path}: {exc}") from None
        cfg.source = str(path)
        return cfg

    @classmethod
    def from_toml_string(cls, text: str, symbols: dict[str, int] | None = None) -> "RiskConfig":
        return cls.from_dict(tomllib.loads(text), symbols)

    @classmethod
    def from_dict(cls, data: dict, symbols: dict[str, int] | None = None) -> "RiskConfig":
        cfg = cls()
        cfg.symbol_ids = dict(symbols or {})
        known = {"sizes", "defaults", "account", "firm", "symbol", "session"}
        unknown = set(data) - known
        if unknown:
            raise RiskConfigError(f"unknown top-level keys: {sorted(unknown)}")
        sizes = data.get("sizes", {})
        for key in ("max_accounts", "max_firms", "max_symbols", "max_sessions", "max_orders"):
            if key in sizes:
                setattr(cfg, key, _count(sizes[key], f"sizes.{key}"))
                if getattr(cfg, key) < 1:
                    raise RiskConfigError(f"sizes.{key}: must be >= 1")
        cfg.strict_accounts = bool(sizes.get("strict_accounts", False))
        d = data.get("defaults", {})
        _check_keys(d.get("account", {}), set(ACCOUNT_LIMIT_KEYS) | {"allow_short"}, "defaults.account")
        cfg.account_defaults.update(d.get("account", {}), ACCOUNT_LIMIT_KEYS, "defaults.account")
        cfg.default_allow_short = bool(d.get("account", {}).get("allow_short", True))
        _check_keys(d.get("firm", {}), set(FIRM_LIMIT_KEYS), "defaults.firm")
        cfg.firm_defaults.update(d.get("firm", {}), FIRM_LIMIT_KEYS, "defaults.firm")
        cfg.symbol_defaults = _symbol(d.get("symbol", {}), SymbolConfig(-1), "defaults.symbol")
        cfg.cod_default = bool(d.get("session", {}).get("cancel_on_disconnect", True))

        cfg.account_names = NameTable("account", top=max(cfg.max_accounts - 1, 1))
        cfg.firm_names = NameTable("firm", top=max(cfg.max_firms - 1, 1))
        firm_ids = _name_ids(data.get("firm", []), cfg.firm_names, cfg.max_firms, "firm")
        account_ids = _name_ids(data.get("account", []), cfg.account_names, cfg.max_accounts, "account")
        for i, t in enumerate(data.get("firm", [])):
            fid = firm_ids[i]
            _check_keys(t, set(FIRM_LIMIT_KEYS) | {"id", "name", "kill"}, f"firm[{i}]")
            lim = Limits(**vars(cfg.firm_defaults))
            lim.update(t, FIRM_LIMIT_KEYS, f"firm[{fid}]")
            cfg.firms[fid] = lim
            cfg.firm_kill[fid] = bool(t.get("kill", False))
        for i, t in enumerate(data.get("symbol", [])):
            if "id" not in t and t.get("name") in cfg.symbol_ids:
                t = dict(t, id=cfg.symbol_ids[t["name"]])
            elif "id" not in t:
                raise RiskConfigError(f"symbol[{i}]: needs an id, or a name known to the symbol table "
                                      f"(tickwire match: list it with --symbols)")
            sid = _id(t, cfg.max_symbols, f"symbol[{i}]")
            base = SymbolConfig(sid, **{k: v for k, v in vars(cfg.symbol_defaults).items() if k != "id"})
            cfg.symbols[sid] = _symbol(t, base, f"symbol[{sid}]")
        for i, t in enumerate(data.get("account", [])):
            aid = account_ids[i]
            _check_keys(t, set(ACCOUNT_LIMIT_KEYS) | {"id", "name", "firm", "allow_short", "symbols",
                                                      "permissions", "kill"}, f"account[{aid}]")
            a = AccountConfig(aid, limits=Limits(**vars(cfg.account_defaults)))
            a.firm = _name_ref(t.get("firm", 0), cfg.firm_names, cfg.max_firms, f"account[{aid}].firm")
            a.limits.update(t, ACCOUNT_LIMIT_KEYS, f"account[{aid}]")
            a.allow_short = bool(t.get("allow_short", cfg.default_allow_short))
            if "symbols" in t:
                a.symbols = [_sym_ref(s, cfg, f"account[{aid}].symbols") for s in t["symbols"]]
            for sym, perms in t.get("permissions", {}).items():
                sid = _sym_ref(sym, cfg, f"account[{aid}].permissions")
                if isinstance(perms, str):
                    perms = [p.strip() for p in perms.split(",") if p.strip()]
                bits = 0
                for p in perms:
                    if p not in PERMISSIONS:
                        raise RiskConfigError(f"account[{aid}].permissions.{sym}: unknown permission {p!r} "
                                              f"(use {sorted(PERMISSIONS)})")
                    bits |= PERMISSIONS[p]
                a.permissions[sid] = bits
            a.kill = bool(t.get("kill", False))
            cfg.accounts[aid] = a
        for i, t in enumerate(data.get("session", [])):
            sid = _id(t, cfg.max_sessions, f"session[{i}]")
            cfg.sessions[sid] = bool(t.get("cancel_on_disconnect", cfg.cod_default))
        return cfg

    def symbol_id(self, name: str) -> int | None:
        for s in self.symbols.values():
            if s.name == name:
                return s.id
        return self.symbol_ids.get(name)


def _check_keys(table: dict, allowed: set, where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise RiskConfigError(f"{where}: unknown keys {sorted(unknown)}")


def _id(t: dict, bound: int, where: str) -> int:
    v = t.get("id")
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < bound:
        raise RiskConfigError(f"{where}.id: must be an integer in [0, {bound}) (raise [sizes] to allow more)")
    return v


def _name_ref(ref, table: NameTable, bound: int, where: str) -> int:
    """An account / firm given by number or name -> its id in ``table`` (below ``bound``)."""
    if isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise RiskConfigError(f"{where}: must be a number or a name, got {ref!r}")
    if isinstance(ref, int):
        if not 0 <= ref < bound:
            raise RiskConfigError(f"{where}: must be an integer in [0, {bound}) (raise [sizes] to allow more)")
        ref = str(ref)
    try:
        v = table.id(ref)
    except NameError_ as exc:
        raise RiskConfigError(f"{where}: {exc}") from None
    if not 0 <= v < bound:
        raise RiskConfigError(f"{where}: must be an integer in [0, {bound}) (raise [sizes] to allow more)")
    return v


def _name_ids(tables: list, table: NameTable, bound: int, what: str) -> list[int]:
    """Ids of the ``id`` keys of [[account]] / [[firm]] tables: numbers first, so names go above them."""
    refs = []
    for i, t in enumerate(tables):
        ref = t.get("id")
        if ref is None or isinstance(ref, bool) or not isinstance(ref, (int, str)):
            raise RiskConfigError(f"{what}[{i}].id: must be an integer in [0, {bound}) or a name")
        refs.append(ref)
    numeric = [isinstance(r, int) or r.isascii() and r.isdigit() for r in refs]
    ids = [0] * len(refs)
    for first in (True, False):
        for i, ref in enumerate(refs):
            if numeric[i] == first:
                ids[i] = _name_ref(ref, table, bound, f"{what}[{i}].id")
    return ids


def _sym_ref(ref, cfg: RiskConfig, where: str) -> int:
    """A symbol given by id (int or digit string) or by a configured name."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        sid = ref
    elif isinstance(ref, str) and ref.isdigit():
        sid = int(ref)
    elif isinstance(ref, str) and cfg.symbol_id(ref) is not None:
        sid = cfg.symbol_id(ref)
    else:
        raise RiskConfigError(f"{where}: unknown symbol {ref!r}")
    if not 0 <= sid < cfg.max_symbols:
        raise RiskConfigError(f"{where}: symbol id {sid} outside [0, {cfg.max_symbols})")
    return sid


def _symbol(t: dict, base: SymbolConfig, where: str) -> SymbolConfig:
    _check_keys(t, {"id", "name", "margin_pct", "collar_pct", "require_reference", "restricted",
                    "reference_price"}, where)
    s = SymbolConfig(**vars(base))
    if "name" in t:
        s.name = str(t["name"])
    if "margin_pct" in t:
        s.margin_bps = pct_bps(t["margin_pct"], f"{where}.margin_pct")
    if "collar_pct" in t:
        s.collar_bps = pct_bps(t["collar_pct"], f"{where}.collar_pct")
    if "require_reference" in t:
        s.require_reference = bool(t["require_reference"])
    if "restricted" in t:
        s.restricted = bool(t["restricted"])
    if "reference_price" in t:
        s.reference_price = money(t["reference_price"], f"{where}.reference_price")
    return s


def load(path) -> RiskConfig:
    """Read a RISK.toml file."""
    return RiskConfig.from_toml(path)
