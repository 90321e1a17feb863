"""One DPDK scenario per process (the EAL can be initialised only once per process).

Run as ``python tests/dpdk_helper.py '<json spec>'``; prints ``TWREADY`` once every port is started
(senders wait for it) and, at the end, one line ``TWJSON {...}`` with the result. Spec keys:

- ``eal``: EAL arguments (list). ``ports``: ethdev names or ids to open (each its own source).
- ``group``, ``dst_port``: destination filter. ``mbufs``, ``rx_desc``: per port.
- ``expect``: stop once this many frames were accepted in total (0: run to ``idle``/``max_seconds``).
- ``idle``: stop after this long without a frame (after the first). ``max_seconds``: hard limit.
- ``wait_first``: seconds to wait for a first frame before giving up (default ``max_seconds``).

The result: ``ok``, per port ``payloads`` (hex, in arrival order), ``src_ips``, ``rx_ns`` (first
and last), ``counters``; on error ``error`` (class), ``code``, ``name``, ``errno``, ``message``.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))      # last: a PYTHONPATH build (build-debug/lib) wins


def emit(obj) -> None:
    sys.stdout.write("TWJSON " + json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(spec: dict) -> None:
    from dpdk_bindings import eal, ethdev
    from datapath import dpdk_source, registry

    mode = spec.get("mode", "recv")
    try:
        if mode == "registry":
            # Through the registry, as `tickwire listen --source dpdk` does: EAL args in the options.
            sources = [registry.open_source("dpdk", dpdk_args=spec.get("eal", []), port=spec["ports"][0],
                                            group=spec.get("group"), dst_port=spec.get("dst_port", 0),
                                            mbufs=spec.get("mbufs", 16383))]
        else:
            eal.init(spec.get("eal", []), quiet=not spec.get("verbose"))
            sources = []
            for name in spec.get("ports", [0]):
                if isinstance(name, list):
                    # [name, N]: one port with N Rx queues, a source per queue sharing the port.
                    name, nq = name
                    port = ethdev.Port.open(name, rx_queues=nq, rx_desc=spec.get("rx_desc", 1024),
                                            mbufs=spec.get("mbufs", 16383))
                    for q in range(nq):
                        sources.append(dpdk_source.DpdkSource(port, q, spec.get("group"), spec.get("dst_port", 0)))
                    continue
                sources.append(dpdk_source.open_source(
                    None, name, spec.get("group"), spec.get("dst_port", 0), spec.get("mbufs", 16383),
                    rx_desc=spec.get("rx_desc", 1024)))
    except eal.DpdkError as e:
        emit({"ok": False, "error": type(e).__name__, "code": e.code, "name": e.name, "errno": e.errno,
              "message": str(e)})
        return
    info = [ethdev.port_info(s.port_id) for s in sources]
    sys.stdout.write("TWREADY\n")
    sys.stdout.flush()
    if mode == "poll":
        # The nogil loop (MoldUDP64 header walk), stopped by a limit, idleness or SIGINT/SIGTERM.
        before = sorted(__import__("os").sched_getaffinity(0))   # the EAL pins its main thread (-l)
        r = dpdk_source.poll(sources[0], None, cpu=spec.get("cpu"), max_packets=spec.get("expect", 0),
                             max_seconds=spec.get("max_seconds", 20.0), idle_seconds=spec.get("idle", 0.0))
        r["affinity_before"] = before
        r["affinity_after"] = sorted(__import__("os").sched_getaffinity(0))
        sources[0].close()
        emit({"ok": True, "poll": r})
        return

    expect = spec.get("expect", 0)
    idle = spec.get("idle", 1.0)
    max_seconds = spec.get("max_seconds", 20.0)
    wait_first = spec.get("wait_first", max_seconds)
    got = [{"payloads": [], "src_ips": [], "rx_ns": []} for _ in sources]
    total = seen = 0
    start = last = time.monotonic()
    first = None
    while True:
        busy = False
        for i, src in enumerate(sources):
            for payload, src_ip, rx_ns in src.recv(32):
                got[i]["payloads"].append(payload.hex())
                got[i]["src_ips"].append(src_ip)
                got[i]["rx_ns"].append(rx_ns)
                total += 1
                busy = True
        now = time.monotonic()
        frames_seen = sum(src.rx_frames for src in sources)     # dropped frames count as activity
        if frames_seen != seen:
            seen = frames_seen
            busy = True
        if busy:
            last = now
            first = first or now
        if expect and total >= expect:
            # Let anything extra (a duplicate would be a bug) arrive before the verdict.
            settle_until = now + spec.get("settle", 0.2)
            while time.monotonic() < settle_until:
                for i, src in enumerate(sources):
                    for payload, src_ip, rx_ns in src.recv(32):
                        got[i]["payloads"].append(payload.hex())
                        got[i]["src_ips"].append(src_ip)
                        got[i]["rx_ns"].append(rx_ns)
            break
        if first is not None and idle and now - last >= idle:
            break
        if first is None and now - start >= wait_first:
            break
        if now - start >= max_seconds:
            break
    result = {"ok": True, "ports": [], "module_file": dpdk_source.__file__}
    for src, g, inf in zip(sources, got, info):
        c = src.counters()
        result["ports"].append({"name": src.port.name, "queue": src.queue, "driver": inf["driver"], "payloads": g["payloads"],
                                "src_ips": g["src_ips"],
                                "rx_ns": [g["rx_ns"][0], g["rx_ns"][-1]] if g["rx_ns"] else [],
                                "counters": c, "pool": src.port.pool_counts()})
    for src in sources:
        src.close()
        src.port.close()
    emit(result)


def run_scenario(spec: dict, timeout: float = 60.0) -> dict:
    """Run ``spec`` in a fresh interpreter (root namespace); return its TWJSON result."""
    import os
    import subprocess
    # The working directory first: `make test-debug` runs from build-debug/lib (the TW_DEBUG build).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), str(ROOT)] + [p for p in sys.path if p]))
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), json.dumps(spec)],
                       capture_output=True, text=True, timeout=timeout, env=env)
    return parse_result(p.stdout, p.stderr, p.returncode)


def parse_result(stdout: str, stderr: str, returncode: int) -> dict:
    for line in stdout.splitlines():
        if line.startswith("TWJSON "):
            r = json.loads(line[7:])
            r["returncode"] = returncode
            r["stderr"] = stderr
            return r
    raise AssertionError(f"DPDK scenario printed no result (exit {returncode}):\n{stdout[-2000:]}\n{stderr[-4000:]}")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
