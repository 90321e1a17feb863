#!/usr/bin/env python3
"""Benchmark: ITCH 5.0 framing + validation throughput (ItchFramer -> null MessageSink), and the pcap path.

Usage::

    bench/bench_decode.py [FILE] [--messages N] [--runs N] [--chunk BYTES] [--no-pcap]

FILE is a binaryFILE (plain); default: the RITCH synthetic day from ../shared/data repeated in
memory to ~``--messages`` (10 M). Figures (best of ``--runs`` after a warm-up run):

* ``framer/whole``: one ``feed`` over the whole buffer (the framing cost per message: the type-length
  table lookup, the counters and one vtable call into the null sink);
* ``framer/chunked``: the same in ``--chunk`` slices (carry of cut frames, as gzip/socket streaming);
* ``pcap+mold``: an in-memory pcap of Ethernet/IPv4/UDP/MoldUDP64 packets (~1400 B each) through
  PcapSource -> MoldFramer -> null sink (1/10 of the messages);
* ``decode_message``: the Python view (tools only), on 100 k messages.
"""
import argparse
import os
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._util import Results, machine, peak_rss_mib  # noqa: E402
from feedhandlers.itch import ItchFramer, iter_messages  # noqa: E402
from feedhandlers.moldudp64 import MoldFramer, build_packet  # noqa: E402
from datapath.pcap_source import PcapSource  # noqa: E402
from feedhandlers.sink import MessageSink  # noqa: E402

# ../shared beside the project, as in tests/conftest.py (TICKWIRE_ROOT: a checkout whose ../shared to use)
DATA = Path(os.environ.get("TICKWIRE_ROOT", Path(__file__).resolve().parents[1])).parent / "shared" / "data"
RITCH = DATA / "itch50" / "RITCH_synthetic_3stocks.NASDAQ_ITCH50"


def load(path: Path | None, messages: int) -> tuple[bytes, int]:
    raw = (path or RITCH).read_bytes()
    n = ItchFramer(probe_frames=0)
    n.feed(raw)
    per = n.finish()["frames"]
    if path is not None:
        return raw, per
    reps = max(1, messages // per)
    return raw * reps, per * reps


def best(fn, runs: int) -> float:
    fn()                                                       # warm-up (page faults, caches)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def report(name: str, n: int, nbytes: int, secs: float) -> dict:
    print(f"{name:<16} {n:>11,} msgs  {n / secs / 1e6:8.2f} M msgs/s  {secs * 1e9 / n:7.2f} ns/msg  "
          f"{nbytes / secs / 1e9:6.2f} GB/s")
    return {"messages": n, "msgs_per_s": n / secs, "ns_per_msg": secs * 1e9 / n, "gb_per_s": nbytes / secs / 1e9}


def pcap_of(buf: bytes, limit: int) -> tuple[bytes, int]:
    """Pack the buffer's messages into MoldUDP64 packets of ~1400 B inside an in-memory pcap."""
    out = [struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)]
    eth_ip_udp = bytes.fromhex("01005e360c6fd4aff7cb20d50800")
    msgs, size, seq, off, n = [], 0, 1, 0, 0
    def flush():
        nonlocal msgs, size, seq
        payload = build_packet(b"BENCH", seq, msgs)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, bytes(4), bytes([233, 54, 12, 1]))
        udp = struct.pack(">HHHH", 1, 26477, 8 + len(payload), 0)
        frame = eth_ip_udp + ip + udp + payload
        out.append(struct.pack("<IIII", 1, seq, len(frame), len(frame)) + frame)
        seq += len(msgs)
        msgs, size = [], 0
    while off < len(buf) and n < limit:
        (L,) = struct.unpack_from(">H", buf, off)
        msgs.append(buf[off + 2:off + 2 + L])
        size += 2 + L
        off += 2 + L
        n += 1
        if size > 1400:
            flush()
    if msgs:
        flush()
    return b"".join(out), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", type=Path)
    ap.add_argument("--messages", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=4 << 20)
    ap.add_argument("--no-pcap", action="store_true")
    a = ap.parse_args()

    res = Results("decode", f"one warm-up run, then best of {a.runs} (decode_message: one timed pass)")
    buf, n = load(a.file, a.messages)
    print(f"# {machine()}")
    print(f"# input: {a.file or RITCH.name + ' x ' + str(len(buf) // RITCH.stat().st_size)}: "
          f"{n:,} messages, {len(buf) / 1e6:.1f} MB")
    sink = MessageSink()

    def whole():
        fr = ItchFramer(sink)
        fr.feed(buf)
        assert fr.finish()["messages"] == n

    def chunked():
        fr = ItchFramer(sink)
        mv = memoryview(buf)
        for i in range(0, len(buf), a.chunk):
            fr.feed(mv[i:i + a.chunk])
        assert fr.finish()["messages"] == n

    fig = res.figures
    fig["framer/whole"] = report("framer/whole", n, len(buf), best(whole, a.runs))
    fig["framer/chunked"] = report("framer/chunked", n, len(buf), best(chunked, a.runs))

    if not a.no_pcap:
        cap, pn = pcap_of(buf, max(1, n // 10))

        def pcap_run():
            fr = MoldFramer(sink)
            fr.run_source(PcapSource(data=cap))
            assert fr.messages == pn and fr.gaps == 0

        fig["pcap+mold"] = report("pcap+mold", pn, len(cap), best(pcap_run, a.runs))

    k = 100_000
    t0 = time.perf_counter()
    cnt = 0
    for _ in iter_messages(memoryview(buf)):
        cnt += 1
        if cnt == k:
            break
    secs = time.perf_counter() - t0
    fig["decode_message"] = report("decode_message", cnt, 0, secs)
    print(f"# peak RSS {peak_rss_mib():.0f} MiB")
    fig["peak_rss_mib"] = peak_rss_mib()
    res.save()


if __name__ == "__main__":
    main()
