# cython: language_level=3
"""Binary records of the order side: ``Command`` in, ``Event`` out.

Fixed-size packed C structs in host (little-endian x86-64) byte order. A batch of
commands is a contiguous array of ``Command`` (a NumPy structured array with
``messaging.records.COMMAND_DTYPE``, same offsets); the engine writes ``Event``
records into a preallocated buffer (``EVENT_DTYPE``) drained in batches. No
Python object per command or event.

Fields are ordered 8-byte first, so every field is naturally aligned inside an
aligned array even though the structs are declared ``packed`` (packed only
pins the layout: no compiler-chosen padding).

Units: prices are int64 in 1e-4 dollars (as ITCH), quantities uint32 shares,
timestamps int64 nanoseconds. Codes: ``reason`` is 0, a negative reject code
(``RC_*`` below) or a positive cancel/expire reason (``CR_*``). Ranges:
-1..-99 matching/validation, -100..-199 pre-trade risk (engine/risk.pyx),
-200..-255 journal/loop. ``messaging/records.py`` holds the table
code -> (NAME, message).
"""
from libc.stdint cimport int16_t, int64_t, uint8_t, uint32_t, uint64_t


# -------------------------------------------------------------- enums ----
cdef enum:
    # Command.action
    ACT_NEW = 1                  # enter a new order
    ACT_CANCEL = 2               # cancel order_id (all of its leaves)
    ACT_MODIFY = 3               # order_id gets qty (new total open size) and price
    ACT_MASS_CANCEL = 4          # cancel orders of account_id; symbol_id (SYMBOL_ANY = all) and side (0 = both) filter
    ACT_END_OF_DAY = 5           # expire every DAY order (all symbols), purge done order ids
    ACT_SESSION_DISCONNECT = 6   # cancel-on-disconnect: cancel every open order entered on session_id
    ACT_KILL_SWITCH = 7          # cancel every open order of firm_id (firm_id != 0) else of account_id (FLAG_KILL_*: not)
    ACT_SET_REFERENCE_PRICE = 8  # set the last/reference price of symbol_id to price (may trigger stops)
    ACT_CLOCK = 9                # advance the clock to ts_ns only (expires due GTD orders)

    # Command.side / Event.side
    SIDE_NONE = 0                # mass cancel: both sides
    SIDE_BUY = 1
    SIDE_SELL = 2

    # Command.ord_type
    TYPE_LIMIT = 1
    TYPE_MARKET = 2
    TYPE_STOP = 3                # becomes MARKET when last trade crosses stop_price
    TYPE_STOP_LIMIT = 4          # becomes LIMIT at price when last trade crosses stop_price

    # Command.tif
    TIF_DAY = 1                  # expires at ACT_END_OF_DAY
    TIF_GTC = 2                  # good till cancelled
    TIF_IOC = 3                  # immediate or cancel: the rest is cancelled
    TIF_FOK = 4                  # fill or kill: all immediately, else rejected untouched
    TIF_GTD = 5                  # good till expire_ns (checked against command ts_ns)

    # Command.flags (bit set)
    FLAG_POST_ONLY = 1           # rejected if it would take liquidity
    FLAG_ICEBERG = 2             # shows display_qty; refreshed slices go to the back of the level
    FLAG_KILL_BLOCK_ONLY = 0x40  # ACT_KILL_SWITCH: engage (risk blocks new orders) but leave open orders working
    FLAG_KILL_RELEASE = 0x80     # ACT_KILL_SWITCH: release the switch; cancels nothing

    # Command.stp (self-trade prevention, applied when a taker meets a resting order of the same account)
    STP_NONE = 0                 # allow self-trades
    STP_CANCEL_NEWEST = 1        # cancel the rest of the incoming (taker) order
    STP_CANCEL_OLDEST = 2        # cancel the resting order, keep matching
    STP_CANCEL_BOTH = 3          # cancel both
    STP_DECREMENT = 4            # reduce both by the overlap; the larger survives with the difference

    # Event.kind
    EV_ACK = 1                   # new order accepted (leaves_qty = its open size)
    EV_REJECT = 2                # command refused; reason < 0; nothing changed
    EV_FILL = 3                  # one match: order_id = taker, price = maker's price
    EV_CANCEL = 4                # (partial) cancel: qty = cancelled now, leaves_qty = what stays open
    EV_MODIFY_ACK = 5            # modify applied: price, qty = new open size, leaves_qty = new leaves
    EV_MODIFY_REJECT = 6         # modify refused; reason < 0
    EV_CANCEL_REJECT = 7         # cancel / mass cancel refused; reason < 0
    EV_EXPIRE = 8                # DAY at end of day, GTD at expire_ns: qty = expired leaves
    EV_TRIGGER = 9               # stop triggered: price = trade price that triggered it

    # Order id space: 0 is "no order" (Command.link_id, Event.maker_order_id, ...)
    NO_ORDER = 0

cdef extern from *:
    """
    #define TW_SYMBOL_ANY 0xFFFFFFFFu
    """
    const uint32_t SYMBOL_ANY "TW_SYMBOL_ANY"  # mass cancel over all symbols


# Reject codes of the engine (ORDER -1..-99 and the loop's -200..; values and messages in core/codes.pxd).
from core.codes cimport (RC_INVALID_QTY, RC_PRICE_NOT_ON_TICK, RC_UNKNOWN_SYMBOL, RC_UNKNOWN_ORDER,
                         RC_DUPLICATE_ORDER_ID, RC_ORDER_NOT_OPEN, RC_POST_ONLY_WOULD_CROSS,
                         RC_FOK_NOT_FILLABLE, RC_MARKET_NO_LIQUIDITY, RC_INVALID_DISPLAY_QTY,
                         RC_INVALID_TIF_TYPE, RC_GTD_WITHOUT_EXPIRY, RC_GTD_EXPIRED, RC_INVALID_PRICE,
                         RC_INVALID_STOP_PRICE, RC_INVALID_SIDE, RC_INVALID_TYPE, RC_INVALID_TIF,
                         RC_INVALID_ACTION, RC_NOT_OWNER, RC_MODIFY_INVALID, RC_POOL_EXHAUSTED, RC_MALFORMED,
                         RC_INVALID_STP, RC_INVALID_FLAGS, RC_INVALID_LINK, RC_SEQ_OUT_OF_ORDER,
                         RC_JOURNAL_FAILED, RC_LOOP_STOPPED)


# ----------------------------------------------------------- reasons ----
cdef enum:
    RC_OK = 0
    # rejects (negative, RC_*): cimported from core/codes.pxd below

    # ---- cancel / expire reasons (positive)
    CR_REQUESTED = 1                  # cancel command
    CR_IOC_REMAINDER = 2              # IOC / market rest not fillable
    CR_STP = 3                        # self-trade prevention
    CR_OCO = 4                        # the other leg of an OCO pair filled or was cancelled
    CR_MASS_CANCEL = 5                # mass cancel
    CR_SESSION_DISCONNECT = 6         # cancel on disconnect
    CR_KILL_SWITCH = 7                # kill switch
    CR_END_OF_DAY = 8                 # DAY order expired at end of day
    CR_GTD_EXPIRED = 9                # GTD order reached expire_ns
    CR_MODIFY_TO_ZERO = 10            # modify left nothing open (qty <= already filled)


# ------------------------------------------------------------ Command ----
cdef packed struct Command:
    uint64_t order_id  # @0 Client order id (engine-wide unique, 0 invalid); target of cancel/modify.
    uint64_t link_id  # @8 OCO partner order id (0 = none): when either fills or is cancelled, the other is cancelled.
    uint64_t seq  # @16 Sequence number assigned by the sequencer (strictly increasing); copied into events.
    int64_t price  # @24 Limit price, 1e-4 dollars (new / modify / stop-limit; reference price for SET_REFERENCE_PRICE).
    int64_t stop_price  # @32 Trigger price of stop / stop-limit, 1e-4 dollars.
    int64_t expire_ns  # @40 GTD expiry time (ns); 0 otherwise.
    int64_t ts_ns  # @48 Command timestamp (ns), the engine's clock; GTD expiry is checked against it.
    uint32_t qty  # @56 Order quantity (new) or new total quantity (modify).
    uint32_t display_qty  # @60 Iceberg displayed slice (FLAG_ICEBERG), else 0.
    uint32_t account_id  # @64 Account (owner of the order; STP and mass cancel scope).
    uint32_t firm_id  # @68 Firm (kill-switch scope, risk limits).
    uint32_t session_id  # @72 Gateway session that entered the command (cancel-on-disconnect scope).
    uint32_t symbol_id  # @76 Symbol id (configured with a tick); SYMBOL_ANY for mass cancel over all.
    uint8_t action  # @80 ACT_*.
    uint8_t side  # @81 SIDE_*.
    uint8_t ord_type  # @82 TYPE_*.
    uint8_t tif  # @83 TIF_*.
    uint8_t flags  # @84 FLAG_* bit set.
    uint8_t stp  # @85 STP_* mode of the incoming order.
    uint8_t reserved[10]  # @86 Zero; pads the record to 96 bytes.


# -------------------------------------------------------------- Event ----
cdef packed struct Event:
    uint64_t order_id  # @0 Order the event is about (the taker for fills; 0 for a refused control command).
    uint64_t maker_order_id  # @8 Fill: resting order id; else 0.
    uint64_t taker_order_id  # @16 Fill: incoming order id; else 0.
    uint64_t seq  # @24 seq of the command that caused the event.
    int64_t price  # @32 Fill: trade price (always the resting order's); ack/modify_ack: limit price; trigger: trade price.
    int64_t ts_ns  # @40 ts_ns of the command that caused the event.
    uint32_t qty  # @48 Fill: traded qty; cancel/expire: qty removed now; ack/modify_ack: order qty.
    uint32_t leaves_qty  # @52 Open quantity of order_id after the event.
    uint32_t maker_leaves_qty  # @56 Fill: open quantity of the maker after the fill.
    uint32_t account_id  # @60 Account of order_id (taker for fills).
    uint32_t maker_account_id  # @64 Fill: account of the maker.
    uint32_t symbol_id  # @68 Symbol of order_id.
    int16_t reason  # @72 0, RC_* (< 0, rejects) or CR_* (> 0, cancel/expire reasons).
    uint8_t kind  # @74 EV_*.
    uint8_t side  # @75 Side of order_id (taker side for fills).
    uint8_t reserved[4]  # @76 Zero; pads the record to 80 bytes.
