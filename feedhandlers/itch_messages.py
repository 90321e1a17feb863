"""Python view of every ITCH 5.0 message type (tools and tests; not the hot path).

One ``namedtuple`` class per type (``AddOrder``, ``StockDirectory``, ...), all subclasses of
:class:`ItchMessage`. Fields are named after the spec in snake_case and start with the common
header ``type, stock_locate, tracking_number, timestamp``. Conventions:

* integers and prices are ``int``: Price(4) in 1e-4 dollars, Price(8) in 1e-8 (as on the wire);
* ``timestamp`` is nanoseconds since midnight (48-bit on the wire);
* multi-byte Alpha fields (stock, mpid, attribution, reason, issue_sub_type) are ``str`` with the
  right space padding stripped; one-byte Alpha fields (sides, flags, codes) are a 1-char ``str``
  kept as is (a space is a meaningful value, e.g. "not available").

Each type is decoded by one precompiled ``struct.Struct`` and a generated function.
Layouts: ../shared/specs/itch50_moldudp64_soupbintcp_layout.md.
"""
from __future__ import annotations

import struct
from collections import namedtuple

from core.codes import ITCH_E_BAD_LENGTH, ITCH_E_UNKNOWN_TYPE, FeedError

# Field kinds: "u2/u4/u8" integer, "p4"/"p8" Price(4)/Price(8) (int), "c" one-byte Alpha, "aN" Alpha(N).
# (type, ClassName, spec length, [(field, kind), ...] after the 11-byte header)
LAYOUT = [
    ("S", "SystemEvent", 12, [("event_code", "c")]),
    ("R", "StockDirectory", 39, [
        ("stock", "a8"), ("market_category", "c"), ("financial_status_indicator", "c"), ("round_lot_size", "u4"),
        ("round_lots_only", "c"), ("issue_classification", "c"), ("issue_sub_type", "a2"), ("authenticity", "c"),
        ("short_sale_threshold_indicator", "c"), ("ipo_flag", "c"), ("luld_reference_price_tier", "c"),
        ("etp_flag", "c"), ("etp_leverage_factor", "u4"), ("inverse_indicator", "c")]),
    ("H", "StockTradingAction", 25, [("stock", "a8"), ("trading_state", "c"), ("reserved", "c"), ("reason", "a4")]),
    ("Y", "RegShoRestriction", 20, [("stock", "a8"), ("reg_sho_action", "c")]),
    ("L", "MarketParticipantPosition", 26, [
        ("mpid", "a4"), ("stock", "a8"), ("primary_market_maker", "c"), ("market_maker_mode", "c"),
        ("market_participant_state", "c")]),
    ("V", "MwcbDeclineLevel", 35, [("level_1", "p8"), ("level_2", "p8"), ("level_3", "p8")]),
    ("W", "MwcbStatus", 12, [("breached_level", "c")]),
    ("K", "IpoQuotingPeriodUpdate", 28, [
        ("stock", "a8"), ("ipo_quotation_release_time", "u4"), ("ipo_quotation_release_qualifier", "c"),
        ("ipo_price", "p4")]),
    ("J", "LuldAuctionCollar", 35, [
        ("stock", "a8"), ("auction_collar_reference_price", "p4"), ("upper_auction_collar_price", "p4"),
        ("lower_auction_collar_price", "p4"), ("auction_collar_extension", "u4")]),
    ("h", "OperationalHalt", 21, [("stock", "a8"), ("market_code", "c"), ("operational_halt_action", "c")]),
    ("A", "AddOrder", 36, [
        ("order_reference_number", "u8"), ("buy_sell_indicator", "c"), ("shares", "u4"), ("stock", "a8"),
        ("price", "p4")]),
    ("F", "AddOrderMpid", 40, [
        ("order_reference_number", "u8"), ("buy_sell_indicator", "c"), ("shares", "u4"), ("stock", "a8"),
        ("price", "p4"), ("attribution", "a4")]),
    ("E", "OrderExecuted", 31, [("order_reference_number", "u8"), ("executed_shares", "u4"), ("match_number", "u8")]),
    ("C", "OrderExecutedWithPrice", 36, [
        ("order_reference_number", "u8"), ("executed_shares", "u4"), ("match_number", "u8"), ("printable", "c"),
        ("execution_price", "p4")]),
    ("X", "OrderCancel", 23, [("order_reference_number", "u8"), ("cancelled_shares", "u4")]),
    ("D", "OrderDelete", 19, [("order_reference_number", "u8")]),
    ("U", "OrderReplace", 35, [
        ("original_order_reference_number", "u8"), ("new_order_reference_number", "u8"), ("shares", "u4"),
        ("price", "p4")]),
    ("P", "Trade", 44, [
        ("order_reference_number", "u8"), ("buy_sell_indicator", "c"), ("shares", "u4"), ("stock", "a8"),
        ("price", "p4"), ("match_number", "u8")]),
    ("Q", "CrossTrade", 40, [
        ("shares", "u8"), ("stock", "a8"), ("cross_price", "p4"), ("match_number", "u8"), ("cross_type", "c")]),
    ("B", "BrokenTrade", 19, [("match_number", "u8")]),
    ("I", "Noii", 50, [
        ("paired_shares", "u8"), ("imbalance_shares", "u8"), ("imbalance_direction", "c"), ("stock", "a8"),
        ("far_price", "p4"), ("near_price", "p4"), ("current_reference_price", "p4"), ("cross_type", "c"),
        ("price_variation_indicator", "c")]),
    ("N", "RetailInterest", 20, [("stock", "a8"), ("interest_flag", "c")]),
    ("O", "DirectListingCapitalRaise", 48, [
        ("stock", "a8"), ("open_eligibility_status", "c"), ("minimum_allowable_price", "p4"),
        ("maximum_allowable_price", "p4"), ("near_execution_price", "p4"), ("near_execution_time", "u8"),
        ("lower_price_range_collar", "p4"), ("upper_price_range_collar", "p4")]),
]

HEADER_FIELDS = ("type", "stock_locate", "tracking_number", "timestamp")
SPEC_LENGTH: dict[str, int] = {t: n for t, _, n, _ in LAYOUT}
MESSAGE_NAMES: dict[str, str] = {t: name for t, name, _, _ in LAYOUT}


class ItchMessage(tuple):
    """Base of every message class: a namedtuple of the header fields and the type's fields."""
    __slots__ = ()

    @property
    def name(self) -> str:
        """Class name of the message type (e.g. ``"AddOrder"``)."""
        return type(self).__name__

    def as_dict(self) -> dict:
        return dict(zip(self._fields, self))


_KIND_FMT = {"u2": "H", "u4": "I", "u8": "Q", "p4": "I", "p8": "Q", "c": "c"}
MESSAGE_CLASSES: dict[str, type] = {}
_DECODERS: dict[int, tuple[int, object]] = {}


def _build(t: str, cls_name: str, length: int, fields: list) -> None:
    fmt = ">cHHHI"
    args = ["chr(_t[0])", "_loc", "_trk", "(_th << 32) | _tl"]
    names = ["_t", "_loc", "_trk", "_th", "_tl"]
    for i, (fname, kind) in enumerate(fields):
        var = f"_f{i}"
        names.append(var)
        if kind[0] == "a":
            fmt += f"{kind[1:]}s"
            args.append(f"{var}.decode('latin-1').rstrip(' ')")
        else:
            fmt += _KIND_FMT[kind]
            args.append(f"{var}.decode('latin-1')" if kind == "c" else var)
    st = struct.Struct(fmt)
    assert st.size == length, (t, st.size, length)
    base = namedtuple(cls_name, HEADER_FIELDS + tuple(f for f, _ in fields))
    cls = type(cls_name, (base, ItchMessage), {"__slots__": (), "__module__": __name__})
    src = (f"def _decode(buf, off, _unpack=_unpack, _new=tuple.__new__, _c=_cls):\n"
           f"    {', '.join(names)}, = _unpack(buf, off)\n"
           f"    return _new(_c, ({', '.join(args)},))\n")
    ns = {"_unpack": st.unpack_from, "_cls": cls}
    exec(src, ns)
    MESSAGE_CLASSES[t] = cls
    globals()[cls_name] = cls
    _DECODERS[ord(t)] = (length, ns["_decode"])


for _entry in LAYOUT:
    _build(*_entry)
del _entry


def decode_message(buf, offset: int = 0, length: int | None = None) -> ItchMessage:
    """Decode one ITCH 5.0 message (without its length prefix) into its message class.

    Parameters
    ----------
    buf : bytes-like holding the message at ``offset``.
    length : the framed length; default ``len(buf) - offset``. Must equal the type's spec length.

    Raises
    ------
    FeedError : ITCH_E_UNKNOWN_TYPE (type byte not ITCH 5.0), ITCH_E_BAD_LENGTH (length differs from
        the spec length).
    """
    if length is None:
        length = len(buf) - offset
    if length <= 0:
        raise FeedError(ITCH_E_BAD_LENGTH, f"empty message (length {length})", offset)
    t = buf[offset]
    entry = _DECODERS.get(t)
    if entry is None:
        raise FeedError(ITCH_E_UNKNOWN_TYPE, f"message type byte 0x{t:02x} ({chr(t)!r}) is not an ITCH 5.0 type",
                        offset)
    spec, dec = entry
    if length != spec:
        raise FeedError(ITCH_E_BAD_LENGTH, f"type {chr(t)!r} message of {length} bytes, spec length is {spec}",
                        offset)
    return dec(buf, offset)
