# cython: language_level=3
"""Fast path of ``tickwire match``: order CSV bytes -> ``Command`` batches, ``Event`` batches -> CSV bytes.

``OrderCsvParser.parse`` walks the input bytes and writes commands straight into a
``COMMAND_DTYPE`` array: no Python object per row. It accepts only rows it understands completely
(one line of printable ASCII without quotes, every cell valid); it stops at any other row and leaves
it to the reference (``engine.csvio.read_record`` / ``row_to_command``), which rejects it with its
reason. A first-seen symbol, account or firm name is interned on the spot by the same Python call the
reference makes at the same point of the row (``SymbolTable.lookup``, ``NameTable.id``: once per
name, not per row); a name they refuse leaves the row to the reference. Names the reference added
are picked up by the next ``parse``. So both paths give the same commands and the same reject rows,
byte for byte (tests/test_csv_orders_diff.py).

``EventFormatter.format`` writes a drained ``EVENT_DTYPE`` batch as CSV rows into one buffer.
"""
import numpy as np

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.stdint cimport INT64_MAX, UINT32_MAX, UINT64_MAX, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memcmp, memcpy, memset

from engine.matching cimport MatchingEngine
from messaging.records cimport (Command, Event, FLAG_KILL_RELEASE, ACT_NEW, ACT_KILL_SWITCH, ACT_SET_REFERENCE_PRICE, EV_FILL,
                                EV_REJECT, EV_CANCEL_REJECT, EV_MODIFY_REJECT, EV_CANCEL, EV_EXPIRE, FLAG_ICEBERG,
                                FLAG_POST_ONLY, SYMBOL_ANY, TIF_DAY)

from engine.csvio import INPUT_COLUMNS, OPTIONAL_COLUMNS, KILL_RELEASE, MAX_SYMBOL, RowError, csv_field
from engine.names import MAX_NAME, NameError_
from messaging.records import EventKind, code_name

DEF MAX_LINE = 65536      # longer lines go to the reference (csv.field_size_limit applies there)
DEF MAX_FIELDS = 64
DEF SYMBOL_MAX = 8       # engine.csvio.MAX_SYMBOL (ITCH)
DEF KEY_MAX = 32          # interned keys: symbols (8) and account / firm names (engine.names.MAX_NAME)
DEF CODE_LO = -1024       # reason codes with a prebuilt name; others are named by code_name() per event
DEF CODE_HI = 1024

# column codes (header names in INPUT_COLUMNS + OPTIONAL_COLUMNS order)
cdef enum:
    C_SEQ, C_ACTION, C_ORDER_ID, C_ACCOUNT, C_SYMBOL, C_SIDE, C_TYPE, C_TIF, C_QTY, C_PRICE, C_STOP, C_DISPLAY, \
        C_EXPIRE, C_TS, C_LINK, C_STP, C_POST, C_FIRM, C_SESSION, C_FLAGS, N_COLS

# enum words, NUL separated, case-insensitive (engine.csvio ACTIONS, SIDES, ... in the same order)
cdef const char *W_ACTION = b"new\0cancel\0modify\0mass_cancel\0end_of_day\0session_disconnect\0kill_switch\0" \
                            b"set_reference_price\0clock\0"
cdef const char *W_SIDE = b"buy\0sell\0b\0s\0"
cdef const char *W_TYPE = b"limit\0market\0stop\0stop_limit\0"
cdef const char *W_TIF = b"day\0gtc\0ioc\0fok\0gtd\0"
cdef const char *W_STP = b"none\0cancel_newest\0cancel_oldest\0cancel_both\0decrement\0"
cdef const char *W_BOOL = b"1\0true\0yes\0y\0" b"0\0false\0no\0n\0"
cdef const char *W_FLAG = b"post_only\0release\0"

cdef uint8_t CLS[256]          # bytes of a fast-path line: 0 printable ASCII except '"' and ',', 1 ',', 2 any other
cdef int _b
for _b in range(256):
    CLS[_b] = 1 if _b == 0x2C else 0 if 0x20 <= _b <= 0x7E and _b != 0x22 else 2


cdef int _word(const uint8_t *p, Py_ssize_t n, const char *words) noexcept nogil:
    """Index of the ASCII case-insensitive match of p[:n] in ``words`` (NUL separated), -1 if none."""
    cdef int k = 0
    cdef Py_ssize_t i, wl
    cdef uint8_t ch
    while words[0] != 0:
        wl = 0
        while words[wl] != 0:
            wl += 1
        if wl == n:
            i = 0
            while i < n:
                ch = p[i]
                if 0x41 <= ch <= 0x5A:
                    ch += 0x20
                if ch != <uint8_t>words[i]:
                    break
                i += 1
            if i == n:
                return k
        words += wl + 1
        k += 1
    return -1


cdef bint _uint(const uint8_t *p, Py_ssize_t n, uint64_t hi, uint64_t *out) noexcept nogil:
    """ASCII digits only, value <= hi (anything else: False, the reference decides)."""
    cdef uint64_t v = 0, d
    cdef Py_ssize_t i
    if n == 0:
        out[0] = 0
        return True
    if n < 20:                     # 19 digits cannot overflow
        for i in range(n):
            d = p[i] - 0x30
            if d > 9:
                return False
            v = v * 10 + d
    else:
        for i in range(n):
            d = p[i] - 0x30
            if d > 9 or v > (UINT64_MAX - d) // 10:
                return False
            v = v * 10 + d
    if v > hi:
        return False
    out[0] = v
    return True


cdef bint _price(const uint8_t *p, Py_ssize_t n, int64_t *out) noexcept nogil:
    """Dollars with at most 4 significant decimals -> 1e-4 dollars; below 1 << 62."""
    cdef Py_ssize_t i = 0, sig = 0, k
    cdef int64_t whole = 0, frac = 0
    cdef uint8_t d
    while i < n and p[i] != 0x2E:
        d = p[i] - 0x30
        if d > 9:
            return False
        if whole or d:
            sig += 1
            if sig > 15:
                return False
        whole = whole * 10 + d
        i += 1
    if i == 0:
        return False
    if i < n:                      # '.' and at least one digit
        i += 1
        if i == n:
            return False
        k = 0
        while i < n:
            d = p[i] - 0x30
            if d > 9:
                return False
            if k < 4:
                frac = frac * 10 + d
            elif d:
                return False       # PRICE_NOT_ON_TICK: the reference says so
            k += 1
            i += 1
        while k < 4:
            frac *= 10
            k += 1
    whole = whole * 10000 + frac
    if whole >= (<int64_t>1 << 62):
        return False
    out[0] = whole
    return True


# ------------------------------------------------------------ intern table ----
cdef inline uint32_t _fnv(const uint8_t *p, Py_ssize_t n) noexcept nogil:
    cdef uint32_t h = <uint32_t>2166136261
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ p[i]) * <uint32_t>16777619
    return h


cdef struct Slot:
    uint8_t key[KEY_MAX]
    uint32_t len        # 0: empty
    uint32_t id


cdef class _Intern:
    """Open-addressing table name bytes (<= 32) -> id: a cache of a Python name table."""
    cdef Slot *slots
    cdef uint32_t mask
    cdef uint32_t count

    def __cinit__(self):
        self.mask = 63
        self.slots = <Slot *>calloc(self.mask + 1, sizeof(Slot))
        if self.slots == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.slots)

    cdef long get(self, const uint8_t *p, Py_ssize_t n) noexcept nogil:
        cdef uint32_t i = _fnv(p, n) & self.mask
        cdef Py_ssize_t k
        while self.slots[i].len:
            if self.slots[i].len == n:
                k = 0
                while k < n and self.slots[i].key[k] == p[k]:   # short keys: no memcmp call
                    k += 1
                if k == n:
                    return self.slots[i].id
            i = (i + 1) & self.mask
        return -1

    cdef int put(self, bytes key, uint32_t id) except -1:
        cdef const uint8_t *p = <const uint8_t *>PyBytes_AS_STRING(key)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(key)
        cdef Slot *old
        cdef uint32_t i, j, cap
        if n == 0 or n > KEY_MAX or self.get(p, n) >= 0:
            return 0
        if (self.count + 1) * 2 > self.mask + 1:
            old, cap = self.slots, self.mask + 1
            self.slots = <Slot *>calloc(cap * 2, sizeof(Slot))
            if self.slots == NULL:
                self.slots = old
                raise MemoryError()
            self.mask = cap * 2 - 1
            for j in range(cap):
                if old[j].len:
                    i = _fnv(old[j].key, old[j].len) & self.mask
                    while self.slots[i].len:
                        i = (i + 1) & self.mask
                    self.slots[i] = old[j]
            free(old)
        i = _fnv(p, n) & self.mask
        while self.slots[i].len:
            i = (i + 1) & self.mask
        memcpy(self.slots[i].key, p, n)
        self.slots[i].len = <uint32_t>n
        self.slots[i].id = id
        self.count += 1
        return 0


cdef struct NameState:
    int64_t top          # engine.names.NameTable.top / floor / max_numeric
    int64_t floor
    int64_t max_numeric


# ------------------------------------------------------------ parser ----
cdef class OrderCsvParser:
    """Parse order rows into ``Command`` records until a row needs the reference or the batch is full.

    Parameters
    ----------
    columns : list[str]
        The header's column names in file order (``engine.csvio.parse_header``).
    symbols : engine.csvio.SymbolTable
    accounts, firms : engine.names.NameTable
    """
    cdef int ncols
    cdef int col[MAX_FIELDS]
    cdef object symbols, accounts, firms
    cdef object engine      # SymbolTable.lookup configures a first-seen symbol in it (None: left to the reference)
    cdef bint has_engine
    cdef object pending     # an exception a name table raised (not a refusal): parse raises it
    cdef _Intern syms, accts, frms
    cdef Py_ssize_t n_syms, n_accts, n_firms     # names of each table already in the caches
    cdef NameState acc, firm

    def __init__(self, columns, symbols, accounts, firms):
        codes = {name: k for k, name in enumerate(INPUT_COLUMNS + OPTIONAL_COLUMNS)}
        assert len(codes) == N_COLS
        if len(columns) > MAX_FIELDS:
            raise ValueError(f"more than {MAX_FIELDS} columns")
        self.ncols = len(columns)
        for k, name in enumerate(columns):
            self.col[k] = codes[name]
        self.symbols, self.accounts, self.firms = symbols, accounts, firms
        self.syms, self.accts, self.frms = _Intern(), _Intern(), _Intern()

    cdef int _sync(self) except -1:
        """Load the names the reference added since the last call, and the name tables' bounds."""
        self._sync_symbols()
        self._sync_names(self.accounts, self.accts, &self.acc, 0)
        self._sync_names(self.firms, self.frms, &self.firm, 1)
        return 0

    cdef int _sync_symbols(self) except -1:
        names = self.symbols.names
        while self.n_syms < len(names):
            name = names[self.n_syms]
            if name.isascii() and len(name) <= MAX_SYMBOL:
                self.syms.put(name.encode(), self.symbols.ids[name])
            self.n_syms += 1
        return 0

    cdef int _sync_names(self, table, _Intern cache, NameState *st, int which) except -1:
        cdef Py_ssize_t *seen = &self.n_accts if which == 0 else &self.n_firms
        names = table.names
        while seen[0] < len(names):
            cache.put(names[seen[0]].encode(), table.top - seen[0])
            seen[0] += 1
        st.top, st.floor, st.max_numeric = table.top, table.floor, table.max_numeric
        return 0

    cdef int _name(self, const uint8_t *p, Py_ssize_t n, int which, NameState *st, uint32_t *out) noexcept nogil:
        """engine.names.NameTable.id on the fast path: 1 done, 0 leave the row to the reference, -1 ``pending``."""
        cdef uint64_t v
        cdef Py_ssize_t i
        cdef long sid
        if n == 0:
            out[0] = 0
            return 1
        for i in range(n):
            if not (0x30 <= p[i] <= 0x39):
                break
        else:
            if not _uint(p, n, UINT32_MAX, &v):
                return 0
            if <int64_t>v <= st.top:
                if <int64_t>v >= st.floor:
                    return 0
                if <int64_t>v > st.max_numeric:
                    st.max_numeric = v        # the row is valid (checked last): NameTable.numeric's update
            out[0] = <uint32_t>v
            return 1
        if n > KEY_MAX:
            return 0
        if which == 0:
            sid = self.accts.get(p, n)
        else:
            sid = self.frms.get(p, n)
        if sid < 0:
            sid = self._new_name(p, n, which, st)
            if sid < 0:
                return <int>sid + 1
        out[0] = <uint32_t>sid
        return 1

    cdef long _new_name(self, const uint8_t *p, Py_ssize_t n, int which, NameState *st) noexcept with gil:
        """A first-seen name: ``NameTable.id`` as the reference calls it at this point of the row.

        Its id (the table keeps it whatever becomes of the row, as in the reference), -1 when the table
        refuses the name (the reference says why), -2 when it raised something else (``pending``).
        """
        cdef NameState *kept = &self.acc if which == 0 else &self.firm
        table = self.accounts if which == 0 else self.firms
        try:
            table.max_numeric = kept.max_numeric     # numbers of the rows parsed so far (parse writes it back too)
            sid = table.id(PyUnicode_DecodeASCII(<const char *>p, n, NULL))
            self._sync_names(table, self.accts if which == 0 else self.frms, kept, which)
        except NameError_:
            return -1
        except BaseException as e:
            self.pending = e
            return -2
        st.floor = kept.floor                     # the row's own copy (its table field is this name)
        return sid

    cdef long _new_symbol(self, const uint8_t *p, Py_ssize_t n) noexcept with gil:
        """A first-seen symbol: ``SymbolTable.lookup`` as the reference calls it (configures it in the engine).

        Its id, -1 when the table refuses it (the reference says why), -2 when it raised something else.
        """
        try:
            sid = self.symbols.lookup(PyUnicode_DecodeASCII(<const char *>p, n, NULL), self.engine)
            self._sync_symbols()
        except RowError:
            return -1
        except BaseException as e:
            self.pending = e
            return -2
        return sid

    cdef int _row(self, const uint8_t *p, const Py_ssize_t *cut, int nf, Command *c, uint64_t ordinal) noexcept nogil:
        """Fill ``c`` from one simple line of ``nf`` cells (cell ``f`` is p[cut[f] + 1:cut[f + 1]], cut[0] = -1):
        1 done, 0 leave the row to the reference, -1 a name table raised (``pending``)."""
        cdef const uint8_t *v[N_COLS]
        cdef Py_ssize_t vl[N_COLS]
        cdef Py_ssize_t i, s, e
        cdef uint64_t u
        cdef uint32_t id32
        cdef int f, k, act, w, r
        cdef int64_t px
        cdef uint8_t flags = 0
        cdef NameState acc = self.acc, firm = self.firm
        memset(vl, 0, sizeof(vl))
        for f in range(nf):
            s, e = cut[f] + 1, cut[f + 1]
            while s < e and p[s] == 0x20:
                s += 1
            while e > s and p[e - 1] == 0x20:
                e -= 1
            k = self.col[f]
            v[k] = p + s
            vl[k] = e - s
        memset(c, 0, sizeof(Command))
        if vl[C_SEQ]:
            if not _uint(v[C_SEQ], vl[C_SEQ], UINT64_MAX, &u):
                return 0
            c.seq = u
        else:
            c.seq = ordinal
        act = _word(v[C_ACTION], vl[C_ACTION], W_ACTION) + 1
        if act <= 0:
            return 0
        c.action = act
        if not _uint(v[C_ORDER_ID], vl[C_ORDER_ID], UINT64_MAX, &u):
            return 0
        c.order_id = u
        r = self._name(v[C_ACCOUNT], vl[C_ACCOUNT], 0, &acc, &id32)
        if r <= 0:
            return r
        c.account_id = id32
        r = self._name(v[C_FIRM], vl[C_FIRM], 1, &firm, &id32)
        if r <= 0:
            return r
        c.firm_id = id32
        if not _uint(v[C_SESSION], vl[C_SESSION], UINT32_MAX, &u):
            return 0
        c.session_id = <uint32_t>u
        if not _uint(v[C_TS], vl[C_TS], <uint64_t>INT64_MAX, &u):
            return 0
        c.ts_ns = <int64_t>u
        if not _uint(v[C_LINK], vl[C_LINK], UINT64_MAX, &u):
            return 0
        c.link_id = u
        if vl[C_SYMBOL]:
            if vl[C_SYMBOL] > SYMBOL_MAX:
                return 0
            k = self.syms.get(v[C_SYMBOL], vl[C_SYMBOL])
            if k < 0:
                if not self.has_engine:
                    return 0
                k = self._new_symbol(v[C_SYMBOL], vl[C_SYMBOL])
                if k < 0:
                    return k + 1
            c.symbol_id = <uint32_t>k
        elif act == ACT_NEW or act == ACT_SET_REFERENCE_PRICE:
            return 0
        else:
            c.symbol_id = SYMBOL_ANY
        if vl[C_SIDE]:
            w = _word(v[C_SIDE], vl[C_SIDE], W_SIDE)
            if w < 0:
                return 0
            c.side = 1 + (w & 1)
        elif act == ACT_NEW:
            return 0
        if vl[C_FLAGS]:
            s = 0
            while True:                       # words separated by '|', each applying to one action
                e = s
                while e < vl[C_FLAGS] and v[C_FLAGS][e] != 0x7C:
                    e += 1
                i = e
                while s < e and v[C_FLAGS][s] == 0x20:
                    s += 1
                while e > s and v[C_FLAGS][e - 1] == 0x20:
                    e -= 1
                w = _word(v[C_FLAGS] + s, e - s, W_FLAG)
                if w == 0 and act == ACT_NEW:
                    flags |= FLAG_POST_ONLY
                elif w == 1 and act == ACT_KILL_SWITCH:
                    flags |= FLAG_KILL_RELEASE
                else:
                    return 0
                if i == vl[C_FLAGS]:
                    break
                s = i + 1
        if act == ACT_NEW:
            w = _word(v[C_TYPE], vl[C_TYPE], W_TYPE)
            if w < 0:
                return 0
            c.ord_type = w + 1
            if vl[C_TIF]:
                w = _word(v[C_TIF], vl[C_TIF], W_TIF)
                if w < 0:
                    return 0
                c.tif = w + 1
            else:
                c.tif = TIF_DAY
            if vl[C_STP]:
                w = _word(v[C_STP], vl[C_STP], W_STP)
                if w < 0:
                    return 0
                c.stp = w
            if vl[C_POST]:
                w = _word(v[C_POST], vl[C_POST], W_BOOL)
                if w < 0:
                    return 0
                if w < 4:
                    flags |= FLAG_POST_ONLY
            if vl[C_DISPLAY]:
                flags |= FLAG_ICEBERG
                if not _uint(v[C_DISPLAY], vl[C_DISPLAY], UINT32_MAX, &u):
                    return 0
                c.display_qty = <uint32_t>u
            if not _uint(v[C_EXPIRE], vl[C_EXPIRE], <uint64_t>INT64_MAX, &u):
                return 0
            c.expire_ns = <int64_t>u
        c.flags = flags
        if vl[C_QTY]:
            if not _uint(v[C_QTY], vl[C_QTY], UINT32_MAX, &u):
                return 0
            c.qty = <uint32_t>u
        if vl[C_PRICE]:
            if not _price(v[C_PRICE], vl[C_PRICE], &px):
                return 0
            c.price = px
        if vl[C_STOP]:
            if not _price(v[C_STOP], vl[C_STOP], &px):
                return 0
            c.stop_price = px
        self.acc, self.firm = acc, firm     # the row is good: keep NameTable.numeric's updates
        return 1

    def parse(self, const uint8_t[::1] data, Py_ssize_t pos, cmds, Py_ssize_t n, Py_ssize_t rows, Py_ssize_t lines,
              engine=None):
        """Parse rows from byte ``pos`` into ``cmds[n:]``; ``engine``: where a first-seen symbol is configured
        (None: such a row is left to the reference).

        Returns ``(pos, n, rows, lines, full)``: ``full`` when ``cmds`` is full; otherwise ``pos``
        is the end of ``data`` or the start of a row for the reference (engine.csvio.read_record).
        ``rows`` counts non-blank records (a row's default seq), ``lines`` physical lines.
        """
        cdef uint8_t[::1] raw = cmds.view(np.uint8)
        cdef Command *out = <Command *>&raw[0]
        cdef Py_ssize_t cap = cmds.shape[0], end = data.shape[0], q, nxt
        cdef const uint8_t *p = &data[0] if end else NULL
        cdef bint full = False
        cdef int r, nf
        cdef uint8_t cls
        cdef Py_ssize_t cut[MAX_FIELDS + 1]
        self.engine = engine
        self.has_engine = engine is not None
        self._sync()
        with nogil:
            while pos < end:
                if n == cap:
                    full = True
                    break
                q, nf = pos, 0                  # one pass: the line's end and its commas
                cut[0] = -1
                while q < end:
                    cls = CLS[p[q]]
                    if cls == 1:
                        nf += 1
                        if nf >= self.ncols:
                            break               # cells beyond the header: the reference says so
                        cut[nf] = q - pos
                    elif cls:
                        break
                    q += 1
                if q == end:
                    nxt = end
                elif p[q] == 0x0A:
                    nxt = q + 1
                elif p[q] == 0x0D and q + 1 < end and p[q + 1] == 0x0A:
                    nxt = q + 2
                else:
                    break                       # quote, CR alone, control or non-ASCII byte, too many cells
                if q - pos > MAX_LINE:
                    break
                if q > pos:
                    nf += 1
                    cut[nf] = q - pos
                    r = self._row(p + pos, cut, nf, &out[n], rows + 1)
                    if r <= 0:
                        break
                    rows += 1
                    n += 1
                lines += 1
                pos = nxt
        self.engine, self.has_engine = None, False
        self.accounts.max_numeric = self.acc.max_numeric
        self.firms.max_numeric = self.firm.max_numeric
        if self.pending is not None:              # as the reference would raise it from this row
            e, self.pending = self.pending, None
            raise e
        return pos, n, rows, lines, full


assert KILL_RELEASE == FLAG_KILL_RELEASE


# ------------------------------------------------------------ formatter ----
cdef const char *DIGITS2 = (b"00010203040506070809101112131415161718192021222324"
                            b"25262728293031323334353637383940414243444546474849"
                            b"50515253545556575859606162636465666768697071727374"
                            b"75767778798081828384858687888990919293949596979899")     # "00" .. "99"


cdef inline char *_u64(char *o, uint64_t v) noexcept nogil:
    cdef char tmp[24]
    cdef int k = 24
    cdef unsigned d
    while v >= 100:
        d = <unsigned>(v % 100) * 2
        v //= 100
        k -= 2
        tmp[k] = DIGITS2[d]
        tmp[k + 1] = DIGITS2[d + 1]
    if v >= 10:
        k -= 2
        tmp[k] = DIGITS2[v * 2]
        tmp[k + 1] = DIGITS2[v * 2 + 1]
    else:
        k -= 1
        tmp[k] = <char>(0x30 + v)
    memcpy(o, tmp + k, 24 - k)
    return o + 24 - k


cdef inline char *_i64(char *o, int64_t v) noexcept nogil:
    if v < 0:
        o[0] = 0x2D
        return _u64(o + 1, <uint64_t>0 - <uint64_t>v)
    return _u64(o, <uint64_t>v)


cdef inline char *_price_text(char *o, int64_t v) noexcept nogil:
    """engine.csvio.format_price: at least 2 decimals, trailing zeros dropped."""
    cdef uint64_t a, frac
    cdef int nd = 4
    if v < 0:
        o[0] = 0x2D
        o += 1
        a = <uint64_t>0 - <uint64_t>v
    else:
        a = <uint64_t>v
    o = _u64(o, a // 10000)
    o[0] = 0x2E
    frac = a % 10000
    o[1] = DIGITS2[frac // 100 * 2]
    o[2] = DIGITS2[frac // 100 * 2 + 1]
    o[3] = DIGITS2[frac % 100 * 2]
    o[4] = DIGITS2[frac % 100 * 2 + 1]
    while nd > 2 and o[nd] == 0x30:
        nd -= 1
    return o + 1 + nd


cdef struct Text:
    const char *p       # into a bytes object the formatter keeps
    Py_ssize_t n


cdef inline char *_text(char *o, Text t) noexcept nogil:
    memcpy(o, t.p, t.n)
    return o + t.n


cdef class _Texts:
    """A growing array of ``Text`` over bytes objects it keeps alive."""
    cdef Text *items
    cdef Py_ssize_t n, cap
    cdef list keep
    cdef Py_ssize_t longest

    def __cinit__(self):
        self.keep = []

    def __dealloc__(self):
        free(self.items)

    cdef int append(self, bytes b) except -1:
        cdef Text *grown
        if self.n == self.cap:
            grown = <Text *>realloc(self.items, max(16, 2 * self.cap) * sizeof(Text))
            if grown == NULL:
                raise MemoryError()
            self.items, self.cap = grown, max(16, 2 * self.cap)
        self.keep.append(b)
        self.items[self.n].p = PyBytes_AS_STRING(b)
        self.items[self.n].n = PyBytes_GET_SIZE(b)
        self.longest = max(self.longest, PyBytes_GET_SIZE(b))
        self.n += 1
        return 0


cdef class EventFormatter:
    """``EVENT_DTYPE`` batches -> output CSV bytes (engine.csvio.format_event, byte for byte).

    Writes into one buffer it keeps between batches (grown as needed); no Python object per event
    (a reason code outside CODE_LO..CODE_HI is named by ``code_name`` when it occurs).
    """
    cdef object symbols, accounts
    cdef _Texts sym_csv, acc_csv, codes, kinds
    cdef char *buf
    cdef Py_ssize_t cap

    def __init__(self, symbols, accounts):
        self.symbols, self.accounts = symbols, accounts
        self.sym_csv, self.acc_csv, self.codes, self.kinds = _Texts(), _Texts(), _Texts(), _Texts()
        for c in range(CODE_LO, CODE_HI + 1):
            self.codes.append(code_name(c).encode())
        names = {k.value: k.name.lower() for k in EventKind}
        for k in range(256):
            self.kinds.append((names[k] if k in names else str(k)).encode())

    def __dealloc__(self):
        free(self.buf)

    cdef int _sync(self) except -1:
        names = self.symbols.names
        while self.sym_csv.n < len(names):
            self.sym_csv.append(csv_field(names[self.sym_csv.n]).encode("utf-8", "replace"))
        names = self.accounts.names
        while self.acc_csv.n < len(names):
            self.acc_csv.append(csv_field(names[self.acc_csv.n]).encode("utf-8", "replace"))
        return 0

    cdef int _reserve(self, Py_ssize_t need) except -1:
        cdef char *grown
        cdef Py_ssize_t cap = max(need, 2 * self.cap, 1 << 16)
        if need <= self.cap:
            return 0
        grown = <char *>realloc(self.buf, cap)
        if grown == NULL:
            raise MemoryError()
        self.buf, self.cap = grown, cap
        return 0

    def format(self, evs):
        """CSV rows (with newlines) of an ``EVENT_DTYPE`` array, as bytes."""
        cdef Py_ssize_t n = evs.shape[0]
        if n == 0:
            return b""
        arr = np.ascontiguousarray(evs)
        cdef const uint8_t[::1] raw = arr.view(np.uint8)
        return self._format(<const Event *>&raw[0], n)

    def take(self, MatchingEngine engine):
        """``format(engine.take_events())`` without the copy to an array: ``(bytes, number of events)``;
        the engine's event buffer is cleared as ``take_events`` clears it."""
        cdef Py_ssize_t n = engine.ev_n
        if n == 0:
            return b"", 0
        text = self._format(engine.evs, n)
        engine.ev_n = 0
        return text, n

    cdef bytes _format(self, const Event *base, Py_ssize_t n):
        cdef Py_ssize_t i, used
        cdef const Event *e
        self._sync()
        cdef Text *syms = self.sym_csv.items
        cdef Text *accts = self.acc_csv.items
        cdef Text *codes = self.codes.items
        cdef Text *kinds = self.kinds.items
        # a row's longest: 15 commas and a newline, 5 u64 (20), 4 u32 (10), a price (25), a side (4),
        # an int16 (6), a kind, a reason name, a symbol and two accounts (a u64 or a CSV name)
        cdef Py_ssize_t row_max = (16 + 5 * 20 + 4 * 10 + 25 + 4 + 6 + self.kinds.longest + self.codes.longest
                                   + max(self.sym_csv.longest, 20) + 2 * max(self.acc_csv.longest, 20))
        cdef int64_t top = self.accounts.top, floor = self.accounts.floor
        cdef Py_ssize_t nsym = self.sym_csv.n
        cdef bint fill, show
        cdef int r
        cdef bytes odd
        cdef char *o
        self._reserve(min(n, 4096) * row_max)
        o = self.buf
        for i in range(n):
            used = o - self.buf
            if self.cap - used < row_max:
                self._reserve(2 * self.cap)
                o = self.buf + used
            e = &base[i]
            fill = e.kind == EV_FILL
            show = (e.kind == EV_REJECT or e.kind == EV_CANCEL_REJECT or e.kind == EV_MODIFY_REJECT
                    or e.kind == EV_CANCEL or e.kind == EV_EXPIRE)
            o = _u64(o, e.seq)
            o[0] = 0x2C
            o = _text(o + 1, kinds[e.kind])
            o[0] = 0x2C
            o = _u64(o + 1, e.order_id)
            o[0] = 0x2C
            o += 1
            if floor <= e.account_id <= top:
                o = _text(o, accts[top - e.account_id])
            else:
                o = _u64(o, e.account_id)
            o[0] = 0x2C
            o += 1
            if e.symbol_id < nsym:
                o = _text(o, syms[e.symbol_id])
            elif e.symbol_id != SYMBOL_ANY:
                o = _u64(o, e.symbol_id)
            o[0] = 0x2C
            o += 1
            if e.side == 1:
                memcpy(o, b"buy", 3)
                o += 3
            elif e.side == 2:
                memcpy(o, b"sell", 4)
                o += 4
            elif e.side != 0:
                o = _u64(o, e.side)
            o[0] = 0x2C
            o += 1
            if e.price:
                o = _price_text(o, e.price)
            o[0] = 0x2C
            o = _u64(o + 1, e.qty)
            o[0] = 0x2C
            o += 1
            if fill:
                o = _u64(o, e.maker_order_id)
            o[0] = 0x2C
            o += 1
            if fill:
                o = _u64(o, e.taker_order_id)
            o[0] = 0x2C
            o = _u64(o + 1, e.leaves_qty)
            o[0] = 0x2C
            o += 1
            if fill:
                o = _u64(o, e.maker_leaves_qty)
            o[0] = 0x2C
            o += 1
            if fill:
                if floor <= e.maker_account_id <= top:
                    o = _text(o, accts[top - e.maker_account_id])
                else:
                    o = _u64(o, e.maker_account_id)
            o[0] = 0x2C
            o += 1
            if show:
                r = e.reason
                o = _i64(o, r)
                o[0] = 0x2C
                o += 1
                if CODE_LO <= r <= CODE_HI:
                    o = _text(o, codes[r - CODE_LO])
                else:                                  # rare: its name's length is not in row_max
                    odd = code_name(r).encode()
                    used = o - self.buf
                    self._reserve(used + PyBytes_GET_SIZE(odd) + 2)
                    o = self.buf + used
                    memcpy(o, PyBytes_AS_STRING(odd), PyBytes_GET_SIZE(odd))
                    o += PyBytes_GET_SIZE(odd)
            else:
                o[0] = 0x2C
                o += 1
            o[0] = 0x0A
            o += 1
        return PyBytes_FromStringAndSize(self.buf, o - self.buf)
assert MAX_SYMBOL == SYMBOL_MAX and MAX_NAME == KEY_MAX
