"""Golden vectors: every message of the real pcaps and day-file excerpts, field by field.

Three independent views are compared: scapy's Ether/IP/UDP parsing vs our PcapSource (payload
bytes and capture timestamps), an independent struct decoder written here from the layout table
(../shared/specs/itch50_moldudp64_soupbintcp_layout.md) vs ``decode_message``, and a handful of
values read once from the files by hand and pinned.
"""
import collections
import struct
from pathlib import Path

import pytest

from testing.collect import CollectingSink
from feedhandlers.itch import ItchFramer, decode_message, iter_messages, SPEC_LENGTH
from feedhandlers.moldudp64 import MoldFramer
from datapath.pcap_source import PcapSource

scapy_all = pytest.importorskip("scapy.all")

# ---------------------------------------------------------------- reference decoder (from the layout md) ----
# type -> [(field, offset, length, kind)] after the common header; kind: "u" unsigned BE, "a" Alpha.
REF = {
    "S": [("event_code", 11, 1, "a")],
    "R": [("stock", 11, 8, "a"), ("market_category", 19, 1, "a"), ("financial_status_indicator", 20, 1, "a"),
          ("round_lot_size", 21, 4, "u"), ("round_lots_only", 25, 1, "a"), ("issue_classification", 26, 1, "a"),
          ("issue_sub_type", 27, 2, "a"), ("authenticity", 29, 1, "a"), ("short_sale_threshold_indicator", 30, 1, "a"),
          ("ipo_flag", 31, 1, "a"), ("luld_reference_price_tier", 32, 1, "a"), ("etp_flag", 33, 1, "a"),
          ("etp_leverage_factor", 34, 4, "u"), ("inverse_indicator", 38, 1, "a")],
    "H": [("stock", 11, 8, "a"), ("trading_state", 19, 1, "a"), ("reserved", 20, 1, "a"), ("reason", 21, 4, "a")],
    "Y": [("stock", 11, 8, "a"), ("reg_sho_action", 19, 1, "a")],
    "L": [("mpid", 11, 4, "a"), ("stock", 15, 8, "a"), ("primary_market_maker", 23, 1, "a"),
          ("market_maker_mode", 24, 1, "a"), ("market_participant_state", 25, 1, "a")],
    "V": [("level_1", 11, 8, "u"), ("level_2", 19, 8, "u"), ("level_3", 27, 8, "u")],
    "W": [("breached_level", 11, 1, "a")],
    "K": [("stock", 11, 8, "a"), ("ipo_quotation_release_time", 19, 4, "u"),
          ("ipo_quotation_release_qualifier", 23, 1, "a"), ("ipo_price", 24, 4, "u")],
    "J": [("stock", 11, 8, "a"), ("auction_collar_reference_price", 19, 4, "u"),
          ("upper_auction_collar_price", 23, 4, "u"), ("lower_auction_collar_price", 27, 4, "u"),
          ("auction_collar_extension", 31, 4, "u")],
    "h": [("stock", 11, 8, "a"), ("market_code", 19, 1, "a"), ("operational_halt_action", 20, 1, "a")],
    "A": [("order_reference_number", 11, 8, "u"), ("buy_sell_indicator", 19, 1, "a"), ("shares", 20, 4, "u"),
          ("stock", 24, 8, "a"), ("price", 32, 4, "u")],
    "F": [("order_reference_number", 11, 8, "u"), ("buy_sell_indicator", 19, 1, "a"), ("shares", 20, 4, "u"),
          ("stock", 24, 8, "a"), ("price", 32, 4, "u"), ("attribution", 36, 4, "a")],
    "E": [("order_reference_number", 11, 8, "u"), ("executed_shares", 19, 4, "u"), ("match_number", 23, 8, "u")],
    "C": [("order_reference_number", 11, 8, "u"), ("executed_shares", 19, 4, "u"), ("match_number", 23, 8, "u"),
          ("printable", 31, 1, "a"), ("execution_price", 32, 4, "u")],
    "X": [("order_reference_number", 11, 8, "u"), ("cancelled_shares", 19, 4, "u")],
    "D": [("order_reference_number", 11, 8, "u")],
    "U": [("original_order_reference_number", 11, 8, "u"), ("new_order_reference_number", 19, 8, "u"),
          ("shares", 27, 4, "u"), ("price", 31, 4, "u")],
    "P": [("order_reference_number", 11, 8, "u"), ("buy_sell_indicator", 19, 1, "a"), ("shares", 20, 4, "u"),
          ("stock", 24, 8, "a"), ("price", 32, 4, "u"), ("match_number", 36, 8, "u")],
    "Q": [("shares", 11, 8, "u"), ("stock", 19, 8, "a"), ("cross_price", 27, 4, "u"), ("match_number", 31, 8, "u"),
          ("cross_type", 39, 1, "a")],
    "B": [("match_number", 11, 8, "u")],
    "I": [("paired_shares", 11, 8, "u"), ("imbalance_shares", 19, 8, "u"), ("imbalance_direction", 27, 1, "a"),
          ("stock", 28, 8, "a"), ("far_price", 36, 4, "u"), ("near_price", 40, 4, "u"),
          ("current_reference_price", 44, 4, "u"), ("cross_type", 48, 1, "a"), ("price_variation_indicator", 49, 1, "a")],
    "N": [("stock", 11, 8, "a"), ("interest_flag", 19, 1, "a")],
    "O": [("stock", 11, 8, "a"), ("open_eligibility_status", 19, 1, "a"), ("minimum_allowable_price", 20, 4, "u"),
          ("maximum_allowable_price", 24, 4, "u"), ("near_execution_price", 28, 4, "u"),
          ("near_execution_time", 32, 8, "u"), ("lower_price_range_collar", 40, 4, "u"),
          ("upper_price_range_collar", 44, 4, "u")],
}
REF_LEN = {"S": 12, "R": 39, "H": 25, "Y": 20, "L": 26, "V": 35, "W": 12, "K": 28, "J": 35, "h": 21, "A": 36, "F": 40,
           "E": 31, "C": 36, "X": 23, "D": 19, "U": 35, "P": 44, "Q": 40, "B": 19, "I": 50, "N": 20, "O": 48}


def ref_decode(msg: bytes) -> dict:
    """Independent decoder: plain slicing and int.from_bytes, nothing shared with the product."""
    t = chr(msg[0])
    assert len(msg) == REF_LEN[t]
    out = {"type": t, "stock_locate": struct.unpack_from(">H", msg, 1)[0],
           "tracking_number": struct.unpack_from(">H", msg, 3)[0], "timestamp": int.from_bytes(msg[5:11], "big")}
    for name, off, n, kind in REF[t]:
        raw = msg[off:off + n]
        out[name] = int.from_bytes(raw, "big") if kind == "u" else (raw.decode("latin-1").rstrip(" ") if n > 1
                                                                   else raw.decode("latin-1"))
    # every byte of the message is covered by exactly one field
    covered = 11 + sum(n for _, _, n, _ in REF[t])
    assert covered == len(msg), (t, covered)
    return out


def check_fields(msg: bytes):
    m = decode_message(msg)
    ref = ref_decode(msg)
    assert m._fields == tuple(ref), (m._fields, tuple(ref))
    assert m.as_dict() == ref
    return m


def test_layout_tables_agree_with_spec_lengths():
    assert SPEC_LENGTH == REF_LEN
    assert sorted(REF) == sorted(REF_LEN) and len(REF) == 23


# ---------------------------------------------------------------- pcaps ----
def pcap_files(data_dir):
    files = sorted((data_dir / "pcap").glob("*/*.pcap"))
    assert len(files) == 38
    return files


def scapy_payloads(path: Path):
    out = []
    for pkt in scapy_all.rdpcap(str(path)):
        assert pkt.haslayer(scapy_all.Ether) and pkt.haslayer(scapy_all.IP) and pkt.haslayer(scapy_all.UDP)
        out.append((bytes(pkt[scapy_all.UDP].payload), int(pkt.time * 1_000_000_000)))
    return out


def test_pcap_payloads_match_scapy_and_every_field_decodes(data_dir):
    total = 0
    types = collections.Counter()
    for path in pcap_files(data_dir):
        ours = PcapSource(path).read_all()
        theirs = scapy_payloads(path)
        assert [(p, ts) for p, ts, _ in ours] == theirs, path
        for payload, _ in theirs:
            session, seq, count = struct.unpack_from(">10sQH", payload, 0)
            assert count == 1 and session == b"\0" * 10 and seq == 0     # re-wrapped capture (README)
            (mlen,) = struct.unpack_from(">H", payload, 20)
            assert 22 + mlen == len(payload)
            msg = payload[22:]
            m = check_fields(msg)
            types[m.type] += 1
            total += 1
        # the same bytes through MoldFramer reach a sink unchanged
        sink = CollectingSink()
        fr = MoldFramer(sink)
        fr.run_source(PcapSource(path))
        assert sink.messages() == [p[22:] for p, _ in theirs]
        assert sink.rx_times() == [ts for _, ts in theirs]
        assert fr.messages == len(theirs) and fr.unsequenced_packets == len(theirs)
    assert total == 178
    assert sorted(types) == sorted("ACDEFHIJLNPQSUXY")            # 16 of the 23 types


# values read once from the files (decode by hand with xxd) and pinned
PINNED = {
    "Nasdaq.Equities.TotalView.Itch.v5.0.20230822/AddOrderNoMPID.pcap": dict(
        type="A", stock_locate=5528, timestamp=34199999894278, order_reference_number=23508286,
        buy_sell_indicator="B", shares=1600, stock="IVOO", price=873900),
    "Nasdaq.Equities.TotalView.Itch.v5.0.20230822/AddOrderWithMPID.pcap": dict(
        type="F", stock_locate=1738, order_reference_number=18923125, buy_sell_indicator="S", shares=100,
        stock="CASY", price=2555200, attribution="FLTU"),
    "Nasdaq.Equities.TotalView.Itch.v5.0.20230822/NonCrossTrade.pcap": dict(
        type="P", stock_locate=4499, tracking_number=2, order_reference_number=0, buy_sell_indicator="B",
        shares=100, stock="GOOGL", price=1284600, match_number=255554),
    "Bx.Equities.TotalView.Itch.v5.0.20230822/NonCrossTradeMessage.pcap": dict(
        type="P", stock_locate=523, stock="AMZN", price=1351400, shares=1, match_number=27640),
    "Nasdaq.Equities.TotalView.Itch.v5.0.20230822/OrderExecutedWithPrice.pcap": dict(
        type="C", order_reference_number=19993566, executed_shares=4926, match_number=255581, printable="N",
        execution_price=224800),
    "Nasdaq.Equities.TotalView.Itch.v5.0.20230822/OrderReplace.pcap": dict(
        type="U", original_order_reference_number=15108479, new_order_reference_number=21361351, shares=100,
        price=1062600),
    "Nasdaq.Equities.TotalView.Itch.v5.0.20230822/StockTradingAction.pcap": dict(
        type="H", stock="ZXZZT", trading_state="P", reserved=" ", reason="LUDP"),
    "Nasdaq.Equities.TotalView.Itch.v5.0.20230822/MarketParticipantPosition.pcap": dict(
        type="L", mpid="MAXM", stock="FDLS", primary_market_maker="Y", market_maker_mode="N",
        market_participant_state="A"),
    "Nasdaq.Equities.TotalView.Itch.v5.0.20230822/CrossTrade.pcap": dict(
        type="Q", stock="BAC-Q", match_number=255550, cross_type="O"),
    "Nasdaq.Equities.TotalView.Itch.v5.0.20230822/SystemEvent.pcap": dict(
        type="S", stock_locate=0, timestamp=34200000070384, event_code="Q"),
}


@pytest.mark.parametrize("rel", sorted(PINNED))
def test_pinned_values(data_dir, rel):
    payload, rx_ns, _ = PcapSource(data_dir / "pcap" / rel).read_all(limit=1)[0]
    m = decode_message(payload[22:])
    for k, v in PINNED[rel].items():
        assert getattr(m, k) == v, k
    if rel.endswith("AddOrderNoMPID.pcap"):
        assert rx_ns == 1692711000_000059094                   # 2023-08-22 13:30:00.000059094 UTC, ns pcap


# ---------------------------------------------------------------- day-file excerpts ----
def test_snippet_with_directory(data_dir):
    directory = (data_dir / "itch50" / "bbekele_first1000_20191230.NASDAQ_ITCH50").read_bytes()
    snippet = (data_dir / "itch50" / "12302019_SNIPPET.NASDAQ_ITCH50").read_bytes()
    dmsgs = list(iter_messages(directory))
    assert collections.Counter(m.type for m in dmsgs) == {"S": 1, "R": 993, "H": 3, "Y": 3}
    symbols = {m.stock_locate: m.stock for m in dmsgs if m.type == "R"}
    assert sorted(symbols) == list(range(1, 994))
    assert [m.as_dict() for m in dmsgs] == [ref_decode(b) for b in raw_frames(directory)]  # field by field

    msgs = list(iter_messages(snippet))
    assert collections.Counter(m.type for m in msgs) == {
        "A": 367, "U": 225, "F": 193, "D": 167, "E": 28, "X": 6, "I": 4, "P": 4, "Q": 4, "S": 1, "C": 1}
    assert len({m.stock_locate for m in msgs}) == 322            # README: 322 stock locates (incl. 0 of 'S')
    with_stock = [m for m in msgs if hasattr(m, "stock")]
    assert len(with_stock) == 367 + 193 + 4 + 4 + 4
    # the directory covers locates 1..993; the excerpt's messages with a stock field in that range
    # (34 of them, 17 locates) must carry exactly the directory's symbol; the rest lie beyond it
    resolved = [m for m in with_stock if m.stock_locate in symbols]
    assert len(resolved) == 34 and len({m.stock_locate for m in resolved}) == 17
    for m in resolved:
        assert m.stock == symbols[m.stock_locate], m
    assert all(m.stock_locate > 993 for m in with_stock if m.stock_locate not in symbols)
    assert (symbols[716], symbols[322], symbols[357], symbols[933]) == ("BATRK", "ALTS", "AMJ", "BLV")
    for m in msgs:
        if m.type in "AF":
            assert m.buy_sell_indicator in ("B", "S") and m.shares > 0 and 0 < m.price <= 200_000_0000
    # every raw message also matches the reference decoder
    for b in raw_frames(snippet):
        check_fields(b)


def raw_frames(buf: bytes) -> list:
    """binaryFILE frames by plain slicing (independent of the framer)."""
    out, off = [], 0
    while off < len(buf):
        (n,) = struct.unpack_from(">H", buf, off)
        out.append(buf[off + 2:off + 2 + n])
        off += 2 + n
    assert off == len(buf)
    return out


def test_ritch_synthetic_counts(data_dir):
    raw = (data_dir / "itch50" / "RITCH_synthetic_3stocks.NASDAQ_ITCH50").read_bytes()
    fr = ItchFramer()
    fr.feed(raw)
    st = fr.finish()
    expected = {"P": 5000, "A": 4997, "D": 1745, "E": 198, "X": 45, "U": 12, "S": 6, "R": 3, "H": 3, "F": 3}
    assert st["by_type"] == expected
    assert st["messages"] == 12012 == st["frames"] and st["malformed"] == 0 and st["unknown_types"] == 0
    assert {m.stock for m in iter_messages(raw) if m.type == "R"} == {"ALC", "BOB", "CHAR"}
    assert collections.Counter(m.type for m in iter_messages(raw)) == expected


def test_framer_delivers_the_file_bytes_in_order(data_dir):
    raw = (data_dir / "itch50" / "12302019_SNIPPET.NASDAQ_ITCH50").read_bytes()
    sink = CollectingSink()
    fr = ItchFramer(sink)
    fr.feed(raw)
    fr.finish()
    assert sink.messages() == raw_frames(raw)
    assert sink.seqs() == list(range(1, 1001))
    assert set(sink.rx_times()) == {0}
