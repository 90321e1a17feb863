"""Aeron streams of the appliance: one :class:`StreamSpec` per named stream, and the directory of the media driver.

Every service takes its channel, stream id and back-pressure policy from here. The defaults are
``aeron:ipc`` (one host); a TOML ``[streams.NAME]`` table overrides any of ``channel``,
``stream_id``, ``policy`` and ``retry_ns`` per stream, e.g. to run market data over UDP to other hosts::

    [streams.market_data]
    channel = "aeron:udp?endpoint=239.1.1.1:40456|interface=127.0.0.1"   # multicast
    [streams.order_entry]
    channel = "aeron:udp?endpoint=10.0.0.5:40123"                          # unicast
    retry_ns = 2_000_000

:func:`parse_streams` validates such a table and names the key and the reason of anything wrong
(``AeronConfigError``, ``AERON_E_CONFIG``). ``docs/streams.md`` lists the defaults
(``python -m messaging.channels --markdown``; ``tests/test_aeron_channels.py`` checks it).
"""
from __future__ import annotations

import enum
import os
import re
import sys
from dataclasses import dataclass, replace

from core.codes import AERON_E_CONFIG, TickwireError

#: Directory of the media driver when neither an argument nor ``TICKWIRE_AERON_DIR`` names one.
DEFAULT_DIR = "/dev/shm/tickwire-aeron"


def default_dir() -> str:
    """The media driver's directory: ``$TICKWIRE_AERON_DIR``, else ``/dev/shm/tickwire-aeron``."""
    return os.environ.get("TICKWIRE_AERON_DIR") or DEFAULT_DIR


class Policy(enum.IntEnum):
    """What a publisher does when an offer fails (``messaging.transport.Publisher``)."""
    #: retry with the client's idle strategy for up to ``retry_ns``, then return the failure code
    RETRY_BOUNDED = 1
    #: return the failure code at once (counted); the caller conflates and marks a gap itself
    FAIL_FAST = 2


class AeronConfigError(TickwireError):
    """A stream or transport setting that cannot be used: ``key`` names it, the message says why."""

    def __init__(self, key: str, why: str):
        self.key = key
        super().__init__(AERON_E_CONFIG, f"{key}: {why}")

    def __reduce__(self):
        return (type(self), (self.key, self.message.split(": ", 1)[-1]))


class AeronError(TickwireError):
    """A transport failure with its AERON_E_* code (no media driver, a refused channel, a client that died)."""


@dataclass(frozen=True)
class StreamSpec:
    """One Aeron stream: its name, channel URI, stream id, back-pressure policy and retry bound (ns)."""
    name: str
    channel: str
    stream_id: int
    policy: Policy
    retry_ns: int = 0
    what: str = ""

    def __post_init__(self):
        object.__setattr__(self, "policy", Policy(self.policy))


IPC = "aeron:ipc"
_MS = 1_000_000

#: The default registry, in the order docs/streams.md lists it.
DEFAULT_STREAMS: dict[str, StreamSpec] = {s.name: s for s in (
    StreamSpec("market_data", IPC, 1001, Policy.FAIL_FAST, 0,
               "feed service -> subscribers: book updates, trades, status; a failed offer is counted, the "
               "newest state kept and a gap marked (recovered with a snapshot)"),
    StreamSpec("snapshot_request", IPC, 1002, Policy.RETRY_BOUNDED, 1 * _MS,
               "subscriber -> feed service: ask for full-depth snapshots (late join, after a gap)"),
    StreamSpec("snapshot", IPC, 1003, Policy.RETRY_BOUNDED, 5 * _MS,
               "feed service -> subscribers: full-depth snapshot of each symbol"),
    StreamSpec("order_entry", IPC, 2001, Policy.RETRY_BOUNDED, 1 * _MS,
               "strategy -> order gateway: login, orders, cancels; past the bound the order is rejected "
               "with its own code"),
    StreamSpec("exec_reports", IPC, 2002, Policy.RETRY_BOUNDED, 1 * _MS,
               "order gateway -> the session that sent the order: execution reports"),
    StreamSpec("drop_copy", IPC, 2003, Policy.RETRY_BOUNDED, 1 * _MS,
               "order gateway -> risk / back office: every execution report"),
    StreamSpec("latency", IPC, 3001, Policy.FAIL_FAST, 0,
               "every service -> latency collector: per-hop stamps (lossy by design)"),
)}

_KEYS = {"channel", "stream_id", "policy", "retry_ns"}
_ENDPOINT = re.compile(r"^(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d+)$")


def check_channel(key: str, channel) -> str:
    """``channel`` if it is an Aeron IPC or UDP (unicast / multicast) URI tickwire supports; else AeronConfigError."""
    if not isinstance(channel, str) or not channel:
        raise AeronConfigError(key, "must be a non-empty string such as \"aeron:ipc\"")
    if channel == IPC or channel.startswith(IPC + "?"):
        return channel
    if not channel.startswith("aeron:udp?"):
        raise AeronConfigError(key, f"{channel!r} is not an aeron:ipc or aeron:udp?endpoint=HOST:PORT channel")
    params = {}
    for part in channel[len("aeron:udp?"):].split("|"):
        k, sep, v = part.partition("=")
        if not sep or not k:
            raise AeronConfigError(key, f"{channel!r}: parameter {part!r} is not key=value")
        params[k] = v
    ep = params.get("endpoint")
    if ep is None and "control" not in params:
        raise AeronConfigError(key, f"{channel!r}: a UDP channel needs endpoint=HOST:PORT")
    if ep is not None:
        m = _ENDPOINT.match(ep)
        if not m or not 1 <= int(m["port"]) <= 65535:
            raise AeronConfigError(key, f"{channel!r}: endpoint {ep!r} is not HOST:PORT with a port 1..65535")
    return channel


def parse_streams(table: dict | None, base: dict[str, StreamSpec] | None = None) -> dict[str, StreamSpec]:
    """The registry with the overrides of a TOML ``[streams]`` table (``{name: {key: value}}``) applied.

    Every problem is an :class:`AeronConfigError` naming the key (``streams.NAME.KEY``): an unknown
    stream or key, a channel that is not IPC or UDP, a stream id outside 1..2**31-1, an unknown
    policy, a negative retry bound, two streams on the same channel and stream id.
    """
    streams = dict(base or DEFAULT_STREAMS)
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise AeronConfigError("streams", "must be a table of [streams.NAME] tables")
    for name, over in table.items():
        key = f"streams.{name}"
        if name not in streams:
            raise AeronConfigError(key, f"unknown stream (known: {', '.join(streams)})")
        if not isinstance(over, dict):
            raise AeronConfigError(key, "must be a table with channel, stream_id, policy or retry_ns")
        for k in over:
            if k not in _KEYS:
                raise AeronConfigError(f"{key}.{k}", f"unknown key (known: {', '.join(sorted(_KEYS))})")
        spec = streams[name]
        channel = check_channel(f"{key}.channel", over.get("channel", spec.channel))
        sid = over.get("stream_id", spec.stream_id)
        if isinstance(sid, bool) or not isinstance(sid, int) or not 1 <= sid <= 2**31 - 1:
            raise AeronConfigError(f"{key}.stream_id", f"{sid!r} is not an integer in 1..2147483647")
        policy = over.get("policy", spec.policy)
        if isinstance(policy, str):
            try:
                policy = Policy[policy.upper().replace("-", "_")]
            except KeyError:
                raise AeronConfigError(f"{key}.policy", f"{policy!r} is not retry_bounded or fail_fast") from None
        elif not isinstance(policy, Policy):
            raise AeronConfigError(f"{key}.policy", f"{policy!r} is not retry_bounded or fail_fast")
        retry = over.get("retry_ns", spec.retry_ns)
        if isinstance(retry, bool) or not isinstance(retry, int) or not 0 <= retry <= 60_000_000_000:
            raise AeronConfigError(f"{key}.retry_ns", f"{retry!r} is not an integer number of ns in 0..60e9")
        streams[name] = replace(spec, channel=channel, stream_id=sid, policy=policy, retry_ns=retry)
    seen: dict[tuple[str, int], str] = {}
    for s in streams.values():
        other = seen.setdefault((s.channel, s.stream_id), s.name)
        if other != s.name:
            raise AeronConfigError(f"streams.{s.name}.stream_id",
                                   f"{s.stream_id} on {s.channel} is already stream {other}")
    return streams


def markdown(streams: dict[str, StreamSpec] | None = None) -> str:
    """The table docs/streams.md holds."""
    streams = streams or DEFAULT_STREAMS
    out = ["# Aeron streams",
           "",
           "Generated by `python -m messaging.channels --markdown > docs/streams.md` from the default registry",
           "(`messaging/channels.py`); `tests/test_aeron_channels.py` checks this page against it.",
           "",
           "Every service connects to the media driver at `TICKWIRE_AERON_DIR` (default `/dev/shm/tickwire-aeron`;",
           "`tickwire driver` runs one). Channels default to `aeron:ipc` (same host); a TOML `[streams.NAME]`",
           "table may set `channel` (`aeron:ipc`, or `aeron:udp?endpoint=HOST:PORT` unicast or multicast),",
           "`stream_id`, `policy` (`retry_bounded`, `fail_fast`) and `retry_ns`.",
           "",
           "Back-pressure is never a silent drop: `RETRY_BOUNDED` retries with the idle strategy up to `retry_ns`,",
           "then returns the failure code; `FAIL_FAST` returns it at once. Every failed attempt is counted by reason",
           "(`back_pressured`, `not_connected`, `admin_action`, `closed`, `max_position_exceeded`).",
           "",
           "| stream | stream id | default channel | policy | retry bound | what |",
           "|---|---|---|---|---|---|"]
    for s in streams.values():
        bound = f"{s.retry_ns / 1e6:g} ms" if s.retry_ns else "—"
        out.append(f"| `{s.name}` | {s.stream_id} | `{s.channel}` | {s.policy.name} | {bound} | {s.what} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown())
    else:
        print("usage: python -m messaging.channels --markdown", file=sys.stderr)
        sys.exit(2)
