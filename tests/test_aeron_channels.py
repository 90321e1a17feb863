"""messaging.channels: the default stream registry, its page (docs/streams.md), TOML overrides and their errors."""
from __future__ import annotations

import pickle
import tomllib
from pathlib import Path

import pytest

from messaging.channels import (DEFAULT_DIR, DEFAULT_STREAMS, AeronConfigError, Policy, default_dir, markdown,
                                parse_streams)

ROOT = Path(__file__).resolve().parents[1]


def test_default_registry():
    ids = {s.name: s.stream_id for s in DEFAULT_STREAMS.values()}
    assert ids == {"market_data": 1001, "snapshot_request": 1002, "snapshot": 1003, "order_entry": 2001,
                   "exec_reports": 2002, "drop_copy": 2003, "latency": 3001}
    assert all(s.channel == "aeron:ipc" for s in DEFAULT_STREAMS.values())
    assert DEFAULT_STREAMS["market_data"].policy == Policy.FAIL_FAST
    assert DEFAULT_STREAMS["order_entry"].policy == Policy.RETRY_BOUNDED
    assert DEFAULT_STREAMS["order_entry"].retry_ns > 0


def test_streams_page_is_the_registry():
    assert (ROOT / "docs" / "streams.md").read_text() == markdown(), \
        "docs/streams.md is stale: python -m messaging.channels --markdown > docs/streams.md"
    for s in DEFAULT_STREAMS.values():
        assert f"`{s.name}` | {s.stream_id} |" in markdown()


def test_default_dir(monkeypatch):
    monkeypatch.delenv("TICKWIRE_AERON_DIR", raising=False)
    assert default_dir() == DEFAULT_DIR == "/dev/shm/tickwire-aeron"
    monkeypatch.setenv("TICKWIRE_AERON_DIR", "/dev/shm/other")
    assert default_dir() == "/dev/shm/other"


def test_toml_overrides():
    table = tomllib.loads("""
[streams.market_data]
channel = "aeron:udp?endpoint=239.1.1.1:40456|interface=127.0.0.1"
[streams.order_entry]
channel = "aeron:udp?endpoint=127.0.0.1:40123"
stream_id = 7
policy = "fail_fast"
retry_ns = 0
""")["streams"]
    s = parse_streams(table)
    assert s["market_data"].channel.startswith("aeron:udp?endpoint=239.1.1.1:40456")
    assert s["market_data"].stream_id == 1001
    assert (s["order_entry"].stream_id, s["order_entry"].policy, s["order_entry"].retry_ns) == (7, Policy.FAIL_FAST, 0)
    assert s["exec_reports"] == DEFAULT_STREAMS["exec_reports"]
    assert parse_streams(None) == DEFAULT_STREAMS


@pytest.mark.parametrize("table,key,why", [
    ({"quotes": {}}, "streams.quotes", "unknown stream"),
    ({"latency": {"chanel": "aeron:ipc"}}, "streams.latency.chanel", "unknown key"),
    ({"latency": {"channel": "tcp://x"}}, "streams.latency.channel", "is not an aeron:ipc or aeron:udp"),
    ({"latency": {"channel": "aeron:udp?interface=lo"}}, "streams.latency.channel", "needs endpoint"),
    ({"latency": {"channel": "aeron:udp?endpoint=127.0.0.1:70000"}}, "streams.latency.channel", "port 1..65535"),
    ({"latency": {"stream_id": 0}}, "streams.latency.stream_id", "1..2147483647"),
    ({"latency": {"stream_id": "5"}}, "streams.latency.stream_id", "1..2147483647"),
    ({"latency": {"policy": "drop"}}, "streams.latency.policy", "retry_bounded or fail_fast"),
    ({"latency": {"retry_ns": -1}}, "streams.latency.retry_ns", "0..60e9"),
    ({"latency": {"stream_id": 1001}}, "streams.latency.stream_id", "already stream market_data"),
    ({"latency": "aeron:ipc"}, "streams.latency", "must be a table"),
])
def test_bad_overrides_name_key_and_reason(table, key, why):
    with pytest.raises(AeronConfigError) as e:
        parse_streams(table)
    assert e.value.key == key and why in str(e.value)
    assert str(e.value).startswith(f"AERON_E_CONFIG (-1313): {key}: ")
    again = pickle.loads(pickle.dumps(e.value))
    assert str(again) == str(e.value)


def test_same_id_on_other_channel_is_fine():
    s = parse_streams({"latency": {"stream_id": 1001, "channel": "aeron:udp?endpoint=127.0.0.1:40999"}})
    assert s["latency"].stream_id == 1001
