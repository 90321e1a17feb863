"""Live MoldUDP64 listener (used by `tickwire listen` and the feed service): source(s) -> MoldSession (A/B arbitration, gap recovery) -> sink.

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


LINE_NAMES = ("A", "B", "retrans")


class LineWatch:
    """Says when a line goes quiet and when the re-request server stops answering (and when they are back).

    MoldUDP64 servers send a heartbeat every second while idle, so a line without any packet for
    ``stale_after_ns`` is dead (the line, the network or the server). The re-request server is down
    when requests went out and nothing came back on the retransmission line for ``stale_after_ns``.
    Reads only the session's per-line packet counters and ``requests_sent`` (no work on the packet path);
    ``clock_ns`` is injected (the session's context clock) so tests drive it. ``on_event(kind, name,
    seconds)``: kind "stale" / "back" (name = line) or "server_down" / "server_up" (name = "retrans").
    Silence after End of Session is not reported.
    """

    def __init__(self, session, lines=(0,), stale_after_s: float = 3.0, clock_ns=None, on_event=None,
                 watch_server: bool = False):
        self.session = session
        self.lines = tuple(lines)
        self.stale_after_ns = int(stale_after_s * 1e9)
        self.clock_ns = clock_ns or time.time_ns
        self.on_event = on_event
        self.watch_server = watch_server
        now = self.clock_ns()
        pk = session.packets
        self.seen = {i: (pk[i], now) for i in self.lines}        # last count, when it last changed
        self.stale = dict.fromkeys(self.lines, False)
        self.stale_events = dict.fromkeys(self.lines, 0)
        self.answers = pk[2]
        self.requests_at_answer = session.requests_sent
        self.waiting_since = None                                # first request not answered yet
        self.server_down = False
        self.server_down_events = 0

    def _event(self, kind, name, seconds):
        if self.on_event is not None:
            self.on_event(kind, name, seconds)

    def check(self, now_ns=None) -> None:
        if self.stale_after_ns <= 0:
            return
        now = self.clock_ns() if now_ns is None else now_ns
        pk = self.session.packets
        quiet_ok = self.session.ended                 # after End of Session silence is the normal state
        for i in self.lines:
            count, since = self.seen[i]
            if pk[i] != count:
                if self.stale[i]:
                    self.stale[i] = False
                    self._event("back", LINE_NAMES[i], (now - since) / 1e9)
                self.seen[i] = (pk[i], now)
            elif not self.stale[i] and not quiet_ok and now - since >= self.stale_after_ns:
                self.stale[i] = True
                self.stale_events[i] += 1
                self._event("stale", LINE_NAMES[i], (now - since) / 1e9)
        if not self.watch_server:
            return
        sent = self.session.requests_sent
        if pk[2] != self.answers:
            self.answers = pk[2]
            self.requests_at_answer = sent
            if self.server_down:
                self.server_down = False
                self._event("server_up", "retrans", (now - self.waiting_since) / 1e9)
            self.waiting_since = None
        elif sent > self.requests_at_answer:
            if self.waiting_since is None:
                self.waiting_since = now
            elif not self.server_down and now - self.waiting_since >= self.stale_after_ns:
                self.server_down = True
                self.server_down_events += 1
                self._event("server_down", "retrans", (now - self.waiting_since) / 1e9)

    def counters(self) -> dict:
        return {"stale_line_events": {LINE_NAMES[i]: n for i, n in self.stale_events.items()},
                "stale_lines_now": [LINE_NAMES[i] for i in self.lines if self.stale[i]],
                "retrans_down_events": self.server_down_events, "retrans_down_now": self.server_down}


@dataclass
class Listener:
    session: object                    # feedhandlers.mold_session.MoldSession
    lines: list[Line]
    requester: object | None = None    # UdpRequester / SoupRecovery (answers on its fileno(), as LINE_RETRANS)
    busy_poll: bool = False
    warmup_packets: int = 0            # latency samples of the first N packets are not recorded
    watch: object | None = None        # LineWatch: stale lines / re-request server down (checked every loop)
    snapshot: object | None = None     # callable(target_seq) -> bool: rebuild the books up to target_seq - 1
    snapshot_interval_s: float = 10.0  # least time between two snapshots during the run
    on_session_change: object | None = None  # callable(old_name, new_name): a session change was followed
                                             # (checked between slices: old_name is the one just before)
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
        last_snapshot = t0 - self.snapshot_interval_s
        changes = s.session_changes
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
            if self.watch is not None:
                self.watch.check()
            if s.session_changes != changes:
                changes = s.session_changes
                if self.on_session_change is not None:
                    self.on_session_change(s.previous_session_name, s.session_name)
            if self.snapshot is not None and s.not_exact_since and not s.gap_open and s.next_seq > 1 \
                    and now - last_snapshot >= self.snapshot_interval_s and not (until_eos and s.ended):
                # Books marked not exact and no gap open: the live sequence number is a clean point to
                # rebuild them at. The lines wait in their socket buffers meanwhile.
                self.snapshot(s.next_seq)
                last_snapshot = now = time.monotonic()
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


def filtered(counters: dict, sources=()) -> dict:
    """What the listener dropped on purpose or could not use, by reason (the ``filtered`` object of --json):
    per line, the frames the source did not deliver (not IPv4/UDP or not the wanted group/port, malformed
    headers, kernel drops), and the packets / messages the session refused (``counters``: the session's)."""
    out = {"lines": {}}
    for name, src in zip(LINE_NAMES, sources):
        c = src.counters() if hasattr(src, "counters") else {}
        out["lines"][name] = {"not_the_feed": int(c.get("dropped_filter", 0)),
                              "malformed_frames": int(c.get("dropped_bad", 0)),
                              "kernel_drops": int(c.get("kernel_drops", 0))}
    out["other_session"] = int(counters.get("wrong_session", 0))
    out["suspect_sequence"] = int(counters.get("implausible_seq", 0))
    out["suspect_session"] = int(counters.get("suspect_session", 0))
    out["impossible_count"] = int(counters.get("impossible_count", 0))
    out["malformed_packets"] = int(counters.get("bad_packets", 0))
    out["invalid_messages"] = int(counters.get("bad_messages", 0))
    out["trailing_bytes"] = int(counters.get("trailing_bytes", 0))
    return out


def describe_filtered(f: dict, group: str = "") -> str:
    """One line for stderr / the text summary; empty when nothing was filtered."""
    parts = []
    for name, c in f["lines"].items():
        bits = [f"{n:,} {label}" for n, label in ((c["not_the_feed"], f"frames not for {group or 'the feed'}"
                                                   if name == "A" else "frames not for line B"),
                                                  (c["malformed_frames"], "malformed frames"),
                                                  (c["kernel_drops"], "kernel drops")) if n]
        if bits:
            parts.append(f"line {name}: " + ", ".join(bits))
    for key, label in (("other_session", "packets of another session"),
                       ("suspect_sequence", "packets with an implausible sequence number"),
                       ("suspect_session", "packets of an unconfirmed new session name (mid-stream)"),
                       ("impossible_count", "packets with an impossible message count"),
                       ("malformed_packets", "short or truncated packets"),
                       ("invalid_messages", "invalid messages (unknown type / wrong length)"),
                       ("trailing_bytes", "packets with unexpected trailing bytes")):
        if f[key]:
            parts.append(f"{f[key]:,} {label}")
    return "; ".join(parts)


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
