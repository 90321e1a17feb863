# cython: language_level=3
"""Positions and P&L per account and symbol, from fills; integer arithmetic only.

Units: quantities in shares (signed, + long); prices in 1e-4 dollars; money (cost basis, P&L,
exposure, margin) in 1e-4 dollars (price x shares). Average cost: the open position's signed
cost basis ``cost`` (sum of signed qty x price of the lots still open); reducing a position
removes ``cost x closed / |qty|`` (truncated toward zero) from it, so the remainder of the
division stays in the basis and no money is created or lost over a round trip:
``realized + unrealized == sum(sells) - sum(buys) + qty x mark`` always holds exactly.
Reference: docs/risk.md ("Positions and P&L"), naive spec in tests/test_positions_pnl.py.
"""
from libc.stdint cimport int64_t, uint32_t, uint64_t

from messaging.records cimport Event


# ------------------------------------------------------------ structs ----
cdef struct PosCell:
    int64_t qty              # net shares, + long / - short
    int64_t cost             # signed cost basis of the open position (1e-4 $); avg price = cost / qty
    int64_t realized         # realized P&L (1e-4 $)
    int64_t bought           # shares bought (today)
    int64_t sold             # shares sold
    int64_t buy_value        # sum of price x qty bought (1e-4 $)
    int64_t sell_value       # sum of price x qty sold
    uint64_t fills           # fills applied


# ------------------------------------------------------------ Positions ----
cdef class Positions:
    # ------------------------------------------------------------ state ----
    cdef readonly uint32_t n_accounts
    cdef readonly uint32_t n_symbols
    cdef PosCell *cells              # [n_accounts x n_symbols]
    cdef int64_t *mark               # [n_symbols] mark price: set_mark, else the last fill price
    cdef int64_t *margin_bps         # [n_symbols] margin requirement, bps of exposure
    cdef readonly uint64_t fills     # fills applied
    cdef readonly uint64_t dropped   # fills with an account / symbol id beyond the tables (counted, ignored)

    # ------------------------------------------------------------ calls ----
    cdef void on_fill(self, const Event *ev) noexcept nogil
    """Apply one EV_FILL to the taker (account_id, side) and the maker (maker_account_id, other side)."""
    cdef void apply(self, uint32_t account, uint32_t symbol, int64_t signed_qty, int64_t price) noexcept nogil
    """Apply one execution of ``signed_qty`` (+ buy / - sell) shares at ``price``."""
    cdef void set_mark_c(self, uint32_t symbol, int64_t price) noexcept nogil
    """Set the mark (reference) price of a symbol; ignored when out of range or not positive."""
