"""`tickwire generate`: determinism, structure, message mix, book invariants, pcap/MoldUDP64, gzip.

The invariants are proven by an independent pure-Python replay (dict of orders + price -> shares
per side) that shares no code with the Cython generator. When the project's decoder and book
builder are built, a generated day also goes through them (zero unknown refs, zero crossed books).
"""
from __future__ import annotations

import gzip
import hashlib
import struct
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickwire.commands.generate import summary_line
from lab.daygen import ERRORS, DayGen, cross_budget, generate_day, min_messages
from lab.pcapwrite import multicast_mac

SPEC_LEN = {'S': 12, 'R': 39, 'H': 25, 'Y': 20, 'L': 26, 'V': 35, 'W': 12, 'K': 28, 'J': 35, 'h': 21, 'A': 36,
            'F': 40, 'E': 31, 'C': 36, 'X': 23, 'D': 19, 'U': 35, 'P': 44, 'Q': 40, 'B': 19, 'I': 50, 'N': 20,
            'O': 48}
HOUR = 3600 * 10**9


# ------------------------------------------------------------ helpers ----
def frames(data: bytes):
    """binaryFILE records; asserts the framing is exact."""
    i = 0
    while i < len(data):
        (n,) = struct.unpack_from(">H", data, i)
        assert i + 2 + n <= len(data), f"truncated record at {i}"
        yield data[i + 2:i + 2 + n]
        i += 2 + n


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


class RefBook:
    """Naive reference: orders by reference, price -> shares per side per locate.

    ``feed`` checks every ITCH book rule the generator promises and raises AssertionError with the
    message number when one breaks.
    """

    def __init__(self):
        self.orders: dict[int, list] = {}
        self.books = defaultdict(lambda: ({}, {}))
        self.last_ref = 0
        self.last_match = 0
        self.last_ts = 0
        self.n = 0
        self.executions_checked = 0

    def best(self, loc):
        bids, asks = self.books[loc]
        return (max(bids) if bids else None), (min(asks) if asks else None)

    def _add(self, ref, loc, side, shares, price):
        assert ref > self.last_ref, f"msg {self.n}: order reference {ref} not increasing (last {self.last_ref})"
        assert ref not in self.orders
        assert shares > 0 and price > 0 and price % 100 == 0, f"msg {self.n}: shares {shares} price {price}"
        self.last_ref = ref
        self.orders[ref] = [loc, side, shares, price]
        lv = self.books[loc][side]
        lv[price] = lv.get(price, 0) + shares
        bid, ask = self.best(loc)
        assert bid is None or ask is None or bid < ask, f"msg {self.n}: book {loc} crossed/locked {bid} >= {ask}"

    def _take(self, ref, q):
        assert ref in self.orders, f"msg {self.n}: reference {ref} is not live"
        o = self.orders[ref]
        assert 0 < q <= o[2], f"msg {self.n}: {q} shares from an order of {o[2]}"
        lv = self.books[o[0]][o[1]]
        lv[o[3]] -= q
        if lv[o[3]] == 0:
            del lv[o[3]]
        o[2] -= q
        if o[2] == 0:
            del self.orders[ref]
        return o

    def _match(self, match):
        assert match > self.last_match, f"msg {self.n}: match number {match} not increasing"
        self.last_match = match

    def feed(self, m: bytes):
        self.n += 1
        t = chr(m[0])
        loc = struct.unpack_from(">H", m, 1)[0]
        ts = int.from_bytes(m[5:11], "big")
        assert ts >= self.last_ts, f"msg {self.n}: timestamp went back"
        self.last_ts = ts
        if t in "AF":
            ref, side, shares, _stock, price = struct.unpack_from(">Qc I8sI", m, 11)
            self._add(ref, loc, side == b"S", shares, price)
        elif t in "EC":
            ref, q, match = struct.unpack_from(">QIQ", m, 11)
            self._match(match)
            assert ref in self.orders, f"msg {self.n}: execution of dead reference {ref}"
            o = self.orders[ref]
            assert o[0] == loc, "execution on another stock locate"
            bid, ask = self.best(loc)
            assert o[3] == (ask if o[1] else bid), f"msg {self.n}: execution away from the touch"
            if t == "C":
                assert m[31:32] in (b"Y", b"N")
            self._take(ref, q)
            self.executions_checked += 1
        elif t == "X":
            ref, q = struct.unpack_from(">QI", m, 11)
            assert ref in self.orders and q < self.orders[ref][2], f"msg {self.n}: cancel must be partial"
            self._take(ref, q)
        elif t == "D":
            (ref,) = struct.unpack_from(">Q", m, 11)
            assert ref in self.orders, f"msg {self.n}: delete of dead reference {ref}"
            self._take(ref, self.orders[ref][2])
        elif t == "U":
            old, new, shares, price = struct.unpack_from(">QQII", m, 11)
            assert old in self.orders, f"msg {self.n}: replace of dead reference {old}"
            o = self._take(old, self.orders[old][2])
            assert o[0] == loc
            self._add(new, loc, o[1], shares, price)
        elif t == "P":
            ref, side = struct.unpack_from(">Qc", m, 11)
            assert ref == 0 and side == b"B"
            self._match(struct.unpack_from(">Q", m, 36)[0])
            price = struct.unpack_from(">I", m, 32)[0]
            bid, ask = self.best(loc)
            if bid is not None and ask is not None:
                assert bid <= price <= ask, "hidden trade outside the spread"
        elif t == "Q":
            self._match(struct.unpack_from(">Q", m, 31)[0])


# ----------------------------------------------------------- fixtures ----
@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """A medium day: 200 000 messages, 100 symbols, seed 11 (bytes, summary)."""
    p = tmp_path_factory.mktemp("gen") / "day.itch"
    r = generate_day(p, 200_000, 100, 11)
    return p.read_bytes(), r


@pytest.fixture(scope="module")
def msgs(day):
    return list(frames(day[0]))


# ---------------------------------------------------------- determinism ----
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, b, c = tmp_path / "a.itch", tmp_path / "b.itch", tmp_path / "c.itch"
    generate_day(a, 20_000, 30, 5)
    generate_day(b, 20_000, 30, 5)
    generate_day(c, 20_000, 30, 6)
    assert sha(a) == sha(b)
    assert sha(a) != sha(c)


def test_output_does_not_depend_on_buffer_size(tmp_path):
    ref = tmp_path / "ref.itch"
    generate_day(ref, 20_000, 30, 9)
    for size in (4096, 5000, 1 << 20):
        g = DayGen(20_000, 30, 9)
        buf = bytearray(size)
        out = bytearray()
        while n := g.fill(buf):
            out += buf[:n]
        assert bytes(out) == ref.read_bytes()
        assert g.done and g.emitted == 20_000


def test_pcap_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    generate_day(a, 10_000, 10, 2, pcap=True)
    generate_day(b, 10_000, 10, 2, pcap=True)
    assert sha(a) == sha(b)


# ------------------------------------------------------------ structure ----
def test_exact_count_and_spec_lengths(day, msgs):
    data, r = day
    assert len(msgs) == 200_000 == r["messages"]
    assert r["raw_bytes"] == len(data) == r["bytes"]
    for m in msgs:
        assert SPEC_LEN[chr(m[0])] == len(m)
    assert Counter(chr(m[0]) for m in msgs) == Counter(r["counts"])


def test_day_structure(msgs):
    s_events = [(i, m[11:12]) for i, m in enumerate(msgs) if m[:1] == b"S"]
    assert [e for _, e in s_events] == [b"O", b"S", b"Q", b"M", b"E", b"C"]
    assert s_events[0][0] == 0 and s_events[-1][0] == len(msgs) - 1 and s_events[-2][0] == len(msgs) - 2
    ts = {e: int.from_bytes(msgs[i][5:11], "big") for i, e in s_events}
    assert ts[b"S"] // HOUR == 4 and ts[b"E"] == 20 * HOUR
    assert ts[b"Q"] // 10**9 == 9 * 3600 + 30 * 60 and ts[b"M"] // 10**9 == 16 * 3600

    # stock directory: locates 1..S in alphabetical order before any other stock message
    rs = [m for m in msgs if m[:1] == b"R"]
    assert [struct.unpack_from(">H", m, 1)[0] for m in rs] == list(range(1, 101))
    first_other = next(i for i, m in enumerate(msgs) if m[:1] not in b"SR")
    assert all(m[:1] == b"R" for m in msgs[1:first_other])
    names = [m[11:19] for m in rs]
    assert names == sorted(names) and len(set(names)) == 100
    for n in names:
        t = n.rstrip(b" ")
        assert 1 <= len(t) <= 8 and t.isalpha() and t.isupper() and n == t.ljust(8)
    for m in rs:
        assert struct.unpack_from(">I", m, 21)[0] == 100          # round lot
        assert m[19:20] in b"QGSNPAZ" and m[29:30] == b"P"        # market category, production
    hs = [m for m in msgs if m[:1] == b"H"]
    assert len(hs) == 100 and all(m[19:20] == b"T" for m in hs)
    ys = [m for m in msgs if m[:1] == b"Y"]
    assert 0 < len(ys) < 100 and all(m[19:20] in b"012" for m in ys)

    # the body starts after 'S' (04:00); opening crosses after 'Q', closing crosses after 'M'
    idx = {e: i for i, e in s_events}
    first_add = next(i for i, m in enumerate(msgs) if m[:1] in b"AF")
    assert first_add > idx[b"S"]
    for i, m in enumerate(msgs):
        if m[:1] == b"Q":
            cross = m[39:40]
            assert (cross == b"O" and idx[b"Q"] < i < idx[b"M"]) or (cross == b"C" and idx[b"M"] < i < idx[b"E"])
        if m[:1] == b"I":
            t = int.from_bytes(m[5:11], "big")
            assert m[48:49] in b"OC" and (9 * HOUR < t < ts[b"Q"] or 15 * HOUR + 45 * 60 * 10**9 < t < ts[b"M"])
    n_cross, n_noii = cross_budget(200_000, 100)
    c = Counter(chr(m[0]) for m in msgs)
    assert c["Q"] == 2 * n_cross and c["I"] == 12 * n_noii


def test_timestamps_non_decreasing_and_market_hours_densest(msgs):
    ts = [int.from_bytes(m[5:11], "big") for m in msgs]
    assert all(a <= b for a, b in zip(ts, ts[1:]))
    body = [t for m, t in zip(msgs, ts) if m[:1] in b"AFDUECXP"]
    assert 4 * HOUR <= body[0] and body[-1] <= 20 * HOUR
    market = sum(1 for t in body if 9.5 * HOUR <= t < 16 * HOUR)
    assert market / len(body) > 0.85
    per_hour = Counter(t // HOUR for t in body)
    assert per_hour[9] > per_hour[12] < per_hour[15]     # U-shaped session


def test_message_mix(msgs):
    c = Counter(chr(m[0]) for m in msgs)
    n = len(msgs)
    pct = {t: 100.0 * c[t] / n for t in "AFDUECXPQI"}
    assert 42 <= pct["A"] + pct["F"] <= 47
    assert 0.07 <= c["F"] / (c["A"] + c["F"]) <= 0.13
    assert 38 <= pct["D"] <= 43
    assert 8 <= pct["U"] <= 10
    assert 2.0 <= pct["E"] <= 3.5
    assert 0.1 <= pct["C"] <= 0.6
    assert 1.5 <= pct["X"] <= 2.5
    assert 0.7 <= pct["P"] <= 1.3
    assert c["Q"] > 0 and c["I"] > 0


def test_symbol_activity_is_skewed(msgs):
    per = Counter(struct.unpack_from(">H", m, 1)[0] for m in msgs if m[:1] in b"AFDUECXP")
    total = sum(per.values())
    top10 = sum(v for _, v in per.most_common(10))       # 10 % of the symbols
    top30 = sum(v for _, v in per.most_common(30))
    assert top10 / total > 0.4 and top30 / total > 0.65
    assert per.most_common(1)[0][1] > 20 * per.most_common()[-1][1]
    assert len(per) == 100                               # every symbol trades a little


def test_prices_and_sizes_realistic(msgs):
    prices, sizes = [], []
    mpids = Counter()
    for m in msgs:
        if m[:1] in b"AF":
            _ref, _side, shares, _stock, price = struct.unpack_from(">QcI8sI", m, 11)
            prices.append(price)
            sizes.append(shares)
            if m[:1] == b"F":
                mpids[m[36:40]] += 1
    assert all(p % 100 == 0 for p in prices)                       # penny grid
    assert 1 * 10_000 <= min(prices) and max(prices) <= 700 * 10_000
    assert sum(1 for s in sizes if s % 100 == 0) / len(sizes) > 0.75    # round lots mostly
    assert all(k.isalpha() and k.isupper() for k in mpids) and len(mpids) > 5


# ---------------------------------------------------------- invariants ----
def test_reference_replay_every_ref_live_and_books_never_cross(msgs):
    per = Counter(struct.unpack_from(">H", m, 1)[0] for m in msgs if m[:1] in b"AFDUECXP")
    top = [loc for loc, _ in per.most_common(3)]
    ref = RefBook()
    depth = {}
    for m in msgs:
        ref.feed(m)
        if m[:1] == b"S" and m[11:12] in b"QM":      # depth at the open and at the close
            depth[m[11:12]] = [(len(ref.books[t][0]), len(ref.books[t][1])) for t in top]
    assert ref.n == len(msgs) and ref.executions_checked > 1000
    # deep books (tens of levels per side) on the most active names, already at the open
    for when in (b"Q", b"M"):
        assert all(b >= 15 and a >= 15 for b, a in depth[when]), depth


@pytest.mark.parametrize("seed,messages,symbols", [(1, 30_000, 10), (2, 30_000, 300), (3, 40_000, 1000 // 2)])
def test_reference_replay_other_shapes(tmp_path, seed, messages, symbols):
    p = tmp_path / "d.itch"
    generate_day(p, messages, symbols, seed)
    ref = RefBook()
    for m in frames(p.read_bytes()):
        ref.feed(m)
    assert ref.n == messages


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(symbols=st.integers(1, 150), extra=st.integers(0, 15_000), seed=st.integers(0, 2**64 - 1))
def test_property_any_shape_replays_clean(tmp_path, symbols, extra, seed):
    """Any (symbols, messages, seed): exact count, every reference live, no crossed book."""
    n = min_messages(symbols) + extra
    p = tmp_path / "h.itch"
    r = generate_day(p, n, symbols, seed)
    ref = RefBook()
    for m in frames(p.read_bytes()):
        ref.feed(m)
    assert ref.n == n == r["messages"]


def test_replace_keeps_side_and_stock_with_fresh_ref(msgs):
    side = {}
    seen = set()
    for m in msgs:
        if m[:1] in b"AF":
            ref = struct.unpack_from(">Q", m, 11)[0]
            side[ref] = (m[1:3], m[19:20])
            seen.add(ref)
        elif m[:1] == b"U":
            old, new = struct.unpack_from(">QQ", m, 11)
            assert new not in seen and new > old
            assert side[old][0] == m[1:3]
            side[new] = side[old]
            seen.add(new)


# ----------------------------------------------------------------- pcap ----
def test_pcap_layers_checksums_sequence_and_payload(tmp_path):
    scapy = pytest.importorskip("scapy.all")
    from scapy.all import IP, UDP, Ether, raw, rdpcap

    plain, cap = tmp_path / "d.itch", tmp_path / "d.pcap"
    generate_day(plain, 8_000, 10, 4)
    r = generate_day(cap, 8_000, 10, 4, pcap=True)
    head = cap.read_bytes()[:24]
    assert struct.unpack("<IHHiIII", head) == (0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    pkts = rdpcap(str(cap))
    assert len(pkts) == r["packets"]
    # record time = 2025-01-02 00:00 EST (05:00 UTC) + ITCH timestamp + publication latency
    first_itch = int.from_bytes(plain.read_bytes()[2 + 5:2 + 11], "big")
    assert int(pkts[0].time * 10**9) // 1000 == (1735794000 * 10**9 + first_itch + 2500) // 1000
    seq, payload_msgs, last_t = 1, [], 0
    for k, p in enumerate(pkts):
        assert p.haslayer(Ether) and p.haslayer(IP) and p.haslayer(UDP)
        assert p[Ether].dst == "01:00:5e:36:0c:6f" == ":".join(f"{b:02x}" for b in multicast_mac("233.54.12.111"))
        assert p[IP].dst == "233.54.12.111" and p[UDP].dport == 26477 and p[IP].ttl > 1
        ip = p[IP]
        fresh = ip.copy()
        del fresh.chksum
        del fresh[UDP].chksum
        rebuilt = IP(raw(fresh))
        assert ip.chksum == rebuilt.chksum, f"packet {k}: IPv4 checksum"
        assert p[UDP].chksum == rebuilt[UDP].chksum, f"packet {k}: UDP checksum"
        assert p[IP].len == len(raw(ip)) and p[UDP].len == len(raw(p[UDP]))
        body = bytes(p[UDP].payload)
        assert len(body) <= 1400
        session, first, count = body[:10], *struct.unpack_from(">QH", body, 10)
        assert session == b"TWSYNTH001"
        assert first == seq, f"packet {k}: sequence {first}, expected {seq}"
        assert p.time >= last_t
        last_t = p.time
        if count == 0xFFFF:
            assert k == len(pkts) - 1 and len(body) == 20       # end of session, last
            continue
        assert count >= 1                                       # no heartbeats
        i = 20
        for _ in range(count):
            (n,) = struct.unpack_from(">H", body, i)
            payload_msgs.append(body[i:i + 2 + n])
            i += 2 + n
        assert i == len(body)
        seq += count
    assert seq == 8_001
    assert b"".join(payload_msgs) == plain.read_bytes()
    assert sum(1 for p in pkts if bytes(p[UDP].payload)[18:20] not in (b"\x00\x01", b"\xff\xff")) > 0


# ----------------------------------------------------------------- gzip ----
def test_gzip_round_trip_and_determinism(tmp_path):
    plain, gz, gz2 = tmp_path / "d.itch", tmp_path / "d.itch.gz", tmp_path / "e.itch.gz"
    generate_day(plain, 20_000, 20, 8)
    r = generate_day(gz, 20_000, 20, 8)
    generate_day(gz2, 20_000, 20, 8)
    assert gzip.decompress(gz.read_bytes()) == plain.read_bytes()
    assert sha(gz) == sha(gz2)
    assert r["bytes"] < r["raw_bytes"] == plain.stat().st_size


# --------------------------------------------------------------- errors ----
def test_bad_arguments_say_why(tmp_path):
    with pytest.raises(ValueError, match="too few for 100 symbols: need at least"):
        generate_day(tmp_path / "x", 100, 100, 1)
    with pytest.raises(ValueError, match="symbols must be 1..65535"):
        generate_day(tmp_path / "x", 10_000, 0, 1)
    with pytest.raises(ValueError, match="not an IPv4 multicast group"):
        generate_day(tmp_path / "x", 10_000, 10, 1, pcap=True, group="10.0.0.1")
    with pytest.raises(ValueError, match="at most 10 ASCII"):
        generate_day(tmp_path / "x", 10_000, 10, 1, pcap=True, session="ELEVENCHARS")
    assert min_messages(100) <= 10_000
    assert set(ERRORS) == {-1101, -1102} and all(name.startswith("GEN_E_") for name, _ in ERRORS.values())


def test_cli_generate_prints_summary(tmp_path, capsys):
    from tickwire.cli import main

    out = tmp_path / "cli.itch"
    assert main(["generate", str(out), "--messages", "20000", "--symbols", "20", "--seed", "3"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("generated 20000 messages (S=6 R=20 H=20") and "20 symbols" in line
    assert f"{out.stat().st_size} bytes" in line and line.endswith(str(out))
    assert main(["generate", str(out), "--messages", "10", "--symbols", "20"]) == 2
    assert "too few" in capsys.readouterr().err
    r = generate_day(tmp_path / "again.itch", 20000, 20, 3)
    assert sha(out) == sha(tmp_path / "again.itch")
    assert summary_line(r).startswith("generated 20000 messages")


# ------------------------------------------- the project's decoder + book ----
def test_generated_day_replays_through_project_books(tmp_path):
    """binaryFILE and pcap through feedhandlers.reader + book.builder: no unknown ref, no crossed book."""
    builder = pytest.importorskip("book.builder", reason="book.builder not built (make build)")
    reader = pytest.importorskip("feedhandlers.reader", reason="feedhandlers.reader not built (make build)")
    for name, pcap in (("d.itch", False), ("d.pcap", True)):
        p = tmp_path / name
        generate_day(p, 50_000, 40, 12, pcap=pcap)
        books = builder.BookBuilder()
        stats = reader.open_feed(p).run(books)
        assert stats["messages"] == 50_000 and stats["malformed"] == 0 and stats["unknown_types"] == 0
        assert books.unknown_refs == 0 and books.crossed_events == 0
        assert books.duplicate_adds == 0 and books.over_executions == 0 and books.over_cancels == 0
        if pcap:
            assert stats["gaps"] == 0 and stats["end_of_session"] == 1 and stats["heartbeats"] == 0
