"""Live MoldUDP64 listener: source(s) -> MoldSession (A/B arbitration, gap recovery) -> sink.

``Listener`` runs one or two lines (any ``datapath.batch.PacketSource``, e.g. from
``datapath.registry.open_source``, or a plain datagram socket through ``UdpSource.adopt``) plus the
re-request socket into one ``MoldSession``, until End of Session (or a timeout / stop), polling the
gap-recovery state machine between bursts and collecting wire-to-book latency (TWTS trailers) in an
HdrHistogram. When every input has a file descriptor the loop sleeps in poll(2) while idle (1 ms
at most) instead of spinning; ``busy_poll=True`` spins (pin it to an isolated core).
"""
from __future__ import annotations

import select
import time
from dataclasses import dataclass, field

from core.codes import SRC_E_END, code_name

LAT_MAX_NS = 60_000_000_000


def new_histogram():
    from hdrh.histogram import HdrHistogram

    return HdrHistogram(1, LAT_MAX_NS, 3)


def percentiles(hist, scale: float = 1.0) -> dict:
    """p50/p90/p99/p99.9/p99.99/max (ns) and count of an HdrHistogram."""
    if hist is None or hist.get_total_count() == 0:
        return {"count": 0}
    out = {"count": int(hist.get_total_count())}
    for p in (50, 90, 99, 99.9, 99.99):
        out[f"p{p:g}"] = int(hist.get_value_at_percentile(p) * scale)
    out["max"] = int(hist.get_max_value() * scale)
    out["mean"] = int(hist.get_mean_value() * scale)
    return out


@dataclass
class Line:
    """One input of the session: a PacketSource, and its line index (0 A, 1 B, 2 retrans)."""

    reader: object
    line: int
    fd: int | None = None


def line(reader, index: int) -> Line:
    """A Line for a PacketSource, with its fd when it has one (idle waits in poll(2))."""
    fd = None
    if hasattr(reader, "fileno"):
        try:
            fd = int(reader.fileno())
        except Exception:
            fd = None
    elif hasattr(reader, "fd"):
        fd = int(reader.fd)
    return Line(reader, index, fd if fd is not None and fd >= 0 else None)


@dataclass
class Listener:
    session: object                    # feedhandlers.mold_session.MoldSession
    lines: list[Line]
    requester: object | None = None    # UdpRequester / SoupRecovery (answers on its fileno(), as LINE_RETRANS)
    busy_poll: bool = False
    warmup_packets: int = 0            # latency samples of the first N packets are not recorded
    hist: object = field(default=None)
    samples_seen: int = 0
    elapsed_s: float = 0.0
    stop_reason: str = ""

    def _inputs(self):
        from datapath.udp_source import UdpSource

        ins = list(self.lines)
        if self.requester is not None:
            ins.append(Line(UdpSource.adopt(self.requester.fileno()), 2, self.requester.fileno()))
        return ins

    def _drain_latency(self) -> None:
        lat = self.session.drain_latency()
        if not len(lat):
            return
        skip = max(0, self.warmup_packets - self.samples_seen)
        self.samples_seen += len(lat)
        if self.hist is None:
            self.hist = new_histogram()
        for v in lat[skip:].tolist():
            self.hist.record_value(min(max(v, 1), LAT_MAX_NS))

    def run(self, until_eos: bool = True, timeout_s: float | None = None, idle_timeout_s: float | None = None,
            stop=None, max_messages: int | None = None) -> str:
        """Run until End of Session (``until_eos``), ``timeout_s``, ``idle_timeout_s`` without packets,
        ``stop()`` returning true, or ``max_messages`` applied. Returns the reason it stopped.

        Lines that are PacketSources (the registry's) run in ``MoldSession.run_slice``: bursts, session
        and sink in C without the GIL, back in Python only for the request path, latency draining and
        the stop checks (every 10 ms at most).
        """
        from datapath.batch import PacketSource
        from feedhandlers.mold_session import RUN_ENDED, RUN_LATENCY, RUN_POLL

        s = self.session
        ins = self._inputs()
        t0 = time.monotonic()
        last_rx, last_lat, last_count = t0, t0, 0
        reason = ""
        fast = len(self.lines) <= 2 and all(isinstance(i.reader, PacketSource) for i in self.lines) \
            and all(i.line == n for n, i in enumerate(self.lines))
        if fast:
            a = self.lines[0].reader if self.lines else None
            b = self.lines[1].reader if len(self.lines) > 1 else None
            rt = ins[-1].reader if self.requester is not None else None
            fds = tuple(i.fd for i in ins if i.fd is not None) if len(ins) == sum(i.fd is not None for i in ins) else ()
        else:
            poller = None
            if not self.busy_poll and all(i.fd is not None for i in ins):
                poller = select.poll()
                for i in ins:
                    poller.register(i.fd, select.POLLIN)
        while True:
            if fast:
                rc = s.run_slice(a, b, rt, fds, 10_000_000, 1, self.busy_poll)
                if rc < 0:
                    reason = "end of input" if rc == SRC_E_END else f"source error {code_name(rc)} ({rc})"
                    break
                if rc == RUN_POLL:
                    s.poll()
                got = s.packets_total
                got, last_count = got - last_count, got
                if rc == RUN_LATENCY:
                    self._drain_latency()
            else:
                got = 0
                for i in ins:
                    n = s.pump_source(i.reader, i.line)
                    if n > 0:
                        got += n
                s.poll()
            now = time.monotonic()
            if got:
                last_rx = now
            if now - last_lat > 0.05:
                self._drain_latency()
                last_lat = now
            if until_eos and s.ended:
                reason = "end of session"
                break
            if max_messages is not None and s.messages >= max_messages:
                reason = "max messages"
                break
            if timeout_s is not None and now - t0 >= timeout_s:
                reason = "timeout"
                break
            if idle_timeout_s is not None and now - last_rx >= idle_timeout_s:
                reason = "idle timeout"
                break
            if stop is not None and stop():
                reason = "stopped"
                break
            if not fast and not got and poller is not None:
                poller.poll(1)
        self.elapsed_s = time.monotonic() - t0
        self._drain_latency()
        self.stop_reason = reason
        return reason

    def latency(self) -> dict:
        return percentiles(self.hist)


def session_stats(session, sources=()) -> dict:
    """The replay-summary ``stats`` dict from a session's counters (plus the sources' byte counts)."""
    c = session.counters()
    stats = {
        "messages": c["messages"],
        "by_type": session.by_type(),
        "malformed": c["bad_messages"] + c["bad_packets"],
        "gaps": c["gaps"],
        "gap_messages": c["gap_messages"],
        "duplicates": c["duplicates_a"] + c["duplicates_b"] + c["duplicates_retrans"],
        "packets": c["packets_a"] + c["packets_b"] + c["packets_retrans"],
        "bytes": sum(int(getattr(src, "rx_bytes", 0)) for src in sources),
    }
    return stats
