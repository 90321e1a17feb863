"""A strategy by name (MODULE:CLASS) and its TOML configuration: for the backtest, the strategy host and
`tickwire strategy run`."""
from __future__ import annotations


def load_class(target: str):
    """MODULE:CLASS -> a Strategy (or FastStrategy) subclass, or ValueError with the reason."""
    import importlib

    from strategy.base import Strategy

    module, sep, name = target.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"{target!r}: expected MODULE:CLASS, e.g. strategy.examples.momentum:Momentum")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise ValueError(f"{target}: module {module!r} does not import: {e}") from None
    except Exception as e:  # noqa: BLE001 - the module's own code failed at import
        raise ValueError(f"{target}: module {module!r} failed at import: {type(e).__name__}: {e}") from None
    cls = getattr(mod, name, None)
    if cls is None:
        raise ValueError(f"{target}: {module} has no {name!r}")
    from strategy.fast import FastStrategy
    if not (isinstance(cls, type) and issubclass(cls, (Strategy, FastStrategy))):
        raise ValueError(f"{target}: {name} is not a strategy.base.Strategy or strategy.fast.FastStrategy subclass")
    return cls


def load_config(path: str) -> dict:
    import tomllib

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: config: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: config: not UTF-8 text: {e}") from None
