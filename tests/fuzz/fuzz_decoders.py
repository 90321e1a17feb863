"""Coverage-guided fuzzing of the feed decoders with atheris (run by hand, not part of pytest).

    .venv/bin/pip install atheris
    .venv/bin/python tests/fuzz/fuzz_decoders.py itch   -max_total_time=60 [corpus_dir]
    .venv/bin/python tests/fuzz/fuzz_decoders.py mold   -max_total_time=60
    .venv/bin/python tests/fuzz/fuzz_decoders.py pcap   -max_total_time=60
    .venv/bin/python tests/fuzz/fuzz_decoders.py decode -max_total_time=60

Targets: ``itch`` ItchFramer (whole buffer, then the same bytes in 7-byte chunks: both runs must
agree), ``mold`` MoldFramer over back-to-back packets, ``pcap`` PcapSource -> MoldFramer,
``decode`` decode_message. Python-level coverage only (the Cython modules are not built with
-fsanitize=fuzzer); any exception other than FeedError, or a counter mismatch, is a finding.
Seeds: pass ../shared/data/itch50 (or a copy) as the corpus directory.
"""
import sys

import atheris

with atheris.instrument_imports():
    from core.codes import FeedError
    from testing.collect import CollectingSink
    from feedhandlers.itch import ItchFramer, decode_message
    from feedhandlers.moldudp64 import MoldFramer
    from datapath.pcap_source import PcapSource


def run_itch(data: bytes):
    results = []
    for step in (len(data) or 1, 7):
        sink = CollectingSink()
        fr = ItchFramer(sink, recover_zero_lengths=bool(data[:1] == b"\x00"), probe_frames=data[0] % 9 if data else 8)
        err = None
        try:
            for i in range(0, len(data), step):
                fr.feed(data[i:i + step])
            fr.finish()
        except FeedError as e:
            err = (e.code, e.offset)
        s = fr.stats()
        assert s["frames"] == s["messages"] + s["unknown_types"] + s["malformed"]
        results.append((sink.messages(), err))
    assert results[0] == results[1], "chunking changed the outcome"


def run_mold(data: bytes):
    fr = MoldFramer(CollectingSink())
    fr.feed_stream(data)
    s = fr.stats()
    assert sum(s["by_type"].values()) == s["messages"]


def run_pcap(data: bytes):
    try:
        src = PcapSource(data=data)
        MoldFramer(CollectingSink()).run_source(src)
    except FeedError:
        pass


def run_decode(data: bytes):
    try:
        decode_message(data)
    except FeedError:
        pass


TARGETS = {"itch": run_itch, "mold": run_mold, "pcap": run_pcap, "decode": run_decode}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(TARGETS)}}} [libFuzzer options] [corpus]")
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
