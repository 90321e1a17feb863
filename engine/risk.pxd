# cython: language_level=3
"""Pre-trade risk: every command is checked in front of matching; exposure follows the events.

Deterministic: state changes only through ``check`` (commands, with their ``ts_ns`` as the clock
for throttles) and ``on_event`` (the matching engine's events), so replaying a journal rebuilds
exactly the same state. Dense C arrays indexed by account / firm / symbol id and an
open-addressing order table; no Python object per command.

Units: prices int64 in 1e-4 dollars (as ITCH); quantities shares; notional = price x qty, so
also 1e-4 dollars; percentages stored as basis points (1/10000). ``INT64_MAX`` = unlimited.
Check order, codes (-100..-199) and config format: docs/risk.md, engine/riskconfig.py.
"""
cimport cython
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from messaging.records cimport Command, Event
from core.codes cimport (RISK_UNKNOWN_ACCOUNT, RISK_UNKNOWN_SYMBOL, RISK_UNKNOWN_FIRM, RISK_FIRM_MISMATCH,
                         RISK_KILL_SWITCH, RISK_RESTRICTED_SYMBOL, RISK_NOT_PERMITTED, RISK_SHORT_SALE,
                         RISK_MAX_ORDER_QTY, RISK_MAX_ORDER_NOTIONAL, RISK_NO_REFERENCE_PRICE,
                         RISK_PRICE_COLLAR, RISK_MAX_OPEN_ORDERS, RISK_NET_POSITION, RISK_GROSS_POSITION,
                         RISK_CONCENTRATION, RISK_BUYING_POWER, RISK_ORDER_RATE, RISK_MESSAGE_RATE,
                         RISK_FIRM_OPEN_ORDERS, RISK_FIRM_GROSS_POSITION, RISK_FIRM_BUYING_POWER,
                         RISK_FIRM_ORDER_RATE, RISK_FIRM_MESSAGE_RATE, RISK_COD_DISABLED,
                         RISK_ORDER_TABLE_FULL, RC_DUPLICATE_ORDER_ID)
from engine.positions cimport Positions
from engine.loop cimport RiskHook


# ------------------------------------------------------------- codes ----
cdef enum:
    RISK_OK = 0
    RISK_DUP_SLOT = 8                 # rej_counts slot of RC_DUPLICATE_ORDER_ID (the retired -108's)

    # order table entry states
    OE_EMPTY = 0
    OE_PENDING = 1                    # accepted by risk, not yet acknowledged by matching
    OE_OPEN = 2                       # acknowledged, counted as working exposure
    OE_DONE = 3                       # filled / cancelled / expired (id stays used until end of day)
    OE_TOMB = 4                       # deleted (rejected by matching): probe chains continue past it

    # permission bits per (account, symbol)
    PERM_BUY = 1
    PERM_SELL = 2
    PERM_SHORT = 4



# ------------------------------------------------------------ structs ----
cdef struct Limits:
    int64_t max_order_qty             # shares per order
    int64_t max_order_notional        # 1e-4 $ per order (price x qty)
    int64_t max_open_orders
    int64_t max_net_position          # shares, per symbol (account only)
    int64_t max_gross_position        # shares, sum over symbols of worst-case |position|
    int64_t buying_power              # 1e-4 $, cap on the margin requirement
    int64_t concentration_bps         # max share of one symbol in gross notional (account only)
    int64_t concentration_min_gross   # 1e-4 $: concentration applies above this gross notional
    int64_t order_interval_ns         # GCRA emission interval of the order throttle (0 = off)
    int64_t order_tolerance_ns        # GCRA burst tolerance (burst - 1) x interval
    int64_t msg_interval_ns
    int64_t msg_tolerance_ns


cdef struct Agg:
    int64_t open_orders
    int64_t gross_qty                 # sum of cells' worst_qty
    int64_t gross_notional            # sum of cells' exposure
    int64_t margin                    # sum of cells' margin
    int64_t order_tat                 # GCRA theoretical arrival times (ns, command clock)
    int64_t msg_tat
    uint32_t firm                     # accounts: firm id (0 = not yet known)
    uint8_t killed
    uint8_t configured                # accounts: 1 configured, 2 firm fixed by the first command


cdef struct Cell:
    int64_t pos                       # net shares, + long
    int64_t buy_qty                   # working buy leaves
    int64_t sell_qty
    int64_t buy_notional              # sum of leaves x exposure price of working buys
    int64_t sell_notional
    int64_t worst_qty                 # max(|pos + buy_qty|, |pos - sell_qty|)
    int64_t exposure                  # max(|pos x mark + buy_notional|, |pos x mark - sell_notional|)
    int64_t margin                    # exposure x margin_bps / 10000


cdef struct OrderEntry:
    uint64_t order_id
    int64_t px                        # exposure price: limit, else stop, else reference at entry
    uint32_t account
    uint32_t symbol
    uint32_t leaves
    uint32_t filled
    uint8_t side
    uint8_t state                     # OE_*


# ------------------------------------------------------------- engine ----
@cython.final                         # no subclasses: internal calls are direct (inlinable) C calls
cdef class RiskEngine(RiskHook):      # the loop's risk hook itself (no forwarding call)
    # ------------------------------------------------------------ sizes ----
    cdef readonly uint32_t n_accounts
    cdef readonly uint32_t n_firms
    cdef readonly uint32_t n_symbols
    cdef readonly uint32_t n_sessions
    cdef readonly uint64_t max_orders
    cdef readonly bint strict_accounts
    # ----------------------------------------------------------- config ----
    cdef Limits *acct_limits          # [n_accounts]
    cdef Limits *firm_limits          # [n_firms]
    cdef uint8_t *perm                # [n_accounts x n_symbols] PERM_* bits
    cdef int64_t *margin_bps          # [n_symbols]
    cdef int64_t *collar_bps          # [n_symbols] 0 = no collar
    cdef uint8_t *require_ref         # [n_symbols] market orders / collar need a reference price
    cdef uint8_t *restricted          # [n_symbols]
    cdef uint8_t *cod                 # [n_sessions] cancel-on-disconnect enabled
    # ------------------------------------------------------------ state ----
    cdef int64_t *ref_px              # [n_symbols] reference / last trade price (mark)
    cdef Agg *accts                   # [n_accounts]
    cdef Agg *firms                   # [n_firms]
    cdef Cell *cells                  # [n_accounts x cell_stride], cell (a, s) at a * cell_stride + s
    cdef uint64_t cell_stride         # n_symbols rounded up to odd (rows not a power of two lines apart)
    cdef OrderEntry *orders           # open-addressing table, power-of-two capacity
    cdef uint64_t ot_cap
    cdef uint64_t ot_used             # non-empty slots (pending + open + done + tombstones)
    cdef OrderEntry *hint             # last entry inserted / found (the next event is usually about it), or NULL
    cdef readonly uint64_t ot_live    # pending + open entries
    # ack fast path: figures of the last accepted new order's check (a cache, not state; see on_event)
    cdef OrderEntry *ck_entry         # its entry; NULL once any cell changed since (_set_metrics) or its ack came
    cdef int64_t ck_qty               # checked quantity
    cdef int64_t ck_mark              # mark price the check used
    cdef int64_t ck_wq                # the order side's working qty / notional of the cell after the order
    cdef int64_t ck_wn
    cdef int64_t ck_w                 # worst_qty, exposure, margin of the cell after the order
    cdef int64_t ck_x
    cdef int64_t ck_m
    # --------------------------------------------------------- counters ----
    cdef readonly uint64_t checked
    cdef readonly uint64_t rejected
    cdef readonly uint64_t debug_violations   # TW_DEBUG build: negative working / open counts seen (must stay 0)
    cdef uint64_t rej_counts[32]      # index -code - 100; RC_DUPLICATE_ORDER_ID counts in RISK_DUP_SLOT
    cdef public Positions positions   # optional: ACT_SET_REFERENCE_PRICE marks are forwarded to it
    cdef readonly object config       # the engine.riskconfig.RiskConfig it was built from

    # ------------------------------------------------------------ calls ----
    # RiskHook methods (declared in engine/loop.pxd; the loop calls them on the engine directly):
    #   int check(const Command *cmd): 0 to accept ``cmd`` (it goes on to matching), or a RISK_* code
    #       (< 0, state unchanged but throttles).
    #   void on_event(const Event *ev): follow one matching event: acks open working exposure, fills
    #       move it to positions, cancels release it.
    #   void prefetch(const Command *cmd): prefetch the order-table slot (and for a new order its cell)
    #       ``check(cmd)`` will read; no state change.
    #   void prefetch_events(const Event *evs, Py_ssize_t n): prefetch the order-table slots and cells
    #       the ``on_event`` calls for these events will use.
    cdef void set_reference(self, uint32_t symbol, int64_t price) noexcept nogil
    """Set the reference (mark) price of a symbol and re-mark every account's exposure in it."""
    cdef OrderEntry *_insert(self, uint64_t order_id) noexcept nogil
    cdef void _purge_done(self) noexcept nogil
    cdef int _rej(self, int code) noexcept nogil
    cdef void _set_limits(self, Limits *L, object lim)
