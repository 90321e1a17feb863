"""Child processes of the Aeron tests and benchmark: a publisher of sequence numbers, and one that holds
its publication open until killed. Run as ``python tests/aeron_helper.py MODE ...`` from the tree root."""
from __future__ import annotations

import json
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from messaging.channels import Policy, StreamSpec  # noqa: E402
from messaging.transport import AeronClient  # noqa: E402


def _connected(pub, what):
    deadline = time.monotonic() + 30
    while not pub.is_connected:
        if time.monotonic() > deadline:
            print(f"{what}: no subscriber connected", file=sys.stderr)
            sys.exit(4)
        time.sleep(0.001)


def publish(dir, channel, stream_id, n, policy, retry_ns, size):
    """Offers messages 0..n-1 (each starts with its sequence number, u64 LE), once each; prints the
    publisher's counters as JSON and closes (the subscriber sees the image go away after the last)."""
    spec = StreamSpec("test", channel, int(stream_id), Policy[policy], int(retry_ns))
    n, size = int(n), int(size)
    with AeronClient(dir, idle="backoff") as c:
        pub = c.publication(spec)
        _connected(pub, "publish")
        buf = bytearray(size)
        for i in range(n):
            struct.pack_into("<Q", buf, 0, i)
            pub.offer_bytes(buf)
        print(json.dumps(pub.counters()), flush=True)


def hold(dir, channel, stream_id):
    """Publishes one message, prints its session id, then sleeps until killed."""
    spec = StreamSpec("test", channel, int(stream_id), Policy.RETRY_BOUNDED, 1_000_000_000)
    c = AeronClient(dir, idle="backoff")
    pub = c.publication(spec)
    _connected(pub, "hold")
    pub.offer_bytes(b"hello")
    print(pub.session_id, flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    {"publish": publish, "hold": hold}[sys.argv[1]](*sys.argv[2:])
