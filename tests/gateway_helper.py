"""Child processes of the gateway tests: an order-entry client that logs in, enters resting orders, says
so on stdout and waits to be killed (``python tests/gateway_helper.py hold DIR USER PASSWORD N``)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from messaging.transport import AeronClient  # noqa: E402
from strategy.oe_client import OrderEntryClient  # noqa: E402
from strategy.ports import OrdType, Side, Tif  # noqa: E402


def hold(dir, user, password, n):
    import json
    import os
    from messaging.channels import DEFAULT_STREAMS, StreamSpec
    ids = json.loads(os.environ.get("TW_STREAMS", "{}"))
    streams = {n: StreamSpec(n, "aeron:ipc", i, DEFAULT_STREAMS[n].policy, DEFAULT_STREAMS[n].retry_ns)
               for n, i in ids.items()}
    c = AeronClient(dir, idle="backoff")
    oe = OrderEntryClient(c, user, password, streams, heartbeat_ms=100, symbols=["AAPL", "MSFT"])
    if not oe.login(30):
        print(f"login failed: {oe.login_reason}", flush=True)
        sys.exit(3)
    acks = []
    oe.on_execution = acks.append
    for i in range(int(n)):
        oe.send_new(100 + i, "AAPL", Side.BUY, 10, 1_000_000 - 100 * i, OrdType.LIMIT, Tif.DAY, 0)
    deadline = time.monotonic() + 30
    while len(acks) < int(n) and time.monotonic() < deadline:
        oe.poll()
        time.sleep(0.001)
    print(f"acked {len(acks)}", flush=True)
    while True:
        oe.poll()
        time.sleep(0.01)


if __name__ == "__main__":
    {"hold": hold}[sys.argv[1]](*sys.argv[2:])
