# cython: language_level=3
"""Deterministic synthetic NASDAQ TotalView-ITCH 5.0 day (binaryFILE or MoldUDP64 pcap).

``generate_day(path, messages, symbols, seed, pcap=False)`` writes one realistic day: system
events, stock directory, trading actions, Reg SHO, a Zipf-skewed body of order flow with the
message mix of a real NASDAQ day, NOII and crosses around the open and close. The generator
keeps each symbol's book (FIFO levels on a dense tick grid) so every E/C/X/D/U references a
live order, executions take the touch, and no book ever crosses. See docs/generate.md.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset

from core.compiler cimport TW_DEBUG, tw_likely, tw_unlikely
from core.endian cimport tw_put_be16, tw_put_be32, tw_put_be48, tw_put_be64

import math
import os
import struct
import time

from core import codes as _codes

cdef extern from *:
    """
    #include <stdint.h>
    #include <string.h>
    static inline void tw_putle32(uint8_t *p, uint32_t v) { p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24; }
    static inline uint64_t tw_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    static inline int tw_clz64(uint64_t x) { return __builtin_clzll(x); }
    static inline int tw_ctz64(uint64_t x) { return __builtin_ctzll(x); }
    /* One's-complement sum of big-endian 16-bit words (RFC 1071), folded later. */
    static inline uint32_t tw_csum(const uint8_t *p, int n, uint32_t s) {
        int i;
        for (i = 0; i + 1 < n; i += 2) s += ((uint32_t)p[i] << 8) | p[i + 1];
        if (n & 1) s += (uint32_t)p[n - 1] << 8;
        return s;
    }
    static inline uint16_t tw_fold(uint32_t s) {
        while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
        return (uint16_t)s;
    }
    """
    void tw_putle32(uint8_t *p, uint32_t v) noexcept nogil
    uint64_t tw_rotl(uint64_t x, int k) noexcept nogil
    int tw_clz64(uint64_t x) noexcept nogil
    int tw_ctz64(uint64_t x) noexcept nogil
    uint32_t tw_csum(const uint8_t *p, int n, uint32_t s) noexcept nogil
    uint16_t tw_fold(uint32_t s) noexcept nogil

# ------------------------------------------------------------- codes ----
ERRORS = {c.value: (c.name, c.message) for c in _codes.CODES.values() if c.area == "GEN"}
"""Result code -> (NAME, message) of `DayGen.err` (GEN_E_* of core/codes.pxd)."""


class GenError(_codes.TickwireError, RuntimeError):
    """``DayGen.fill`` stopped on a GEN_E_* code (a RuntimeError too, as before)."""

# ----------------------------------------------------------- the day ----
cdef uint64_t NS = 1000000000
cdef uint64_t T_O = 3 * 3600 * NS + 5 * 60 * NS        # 03:05 start of messages
cdef uint64_t T_DIR = 3 * 3600 * NS + 5 * 60 * NS + 30 * NS
cdef uint64_t T_HY = 3 * 3600 * NS + 10 * 60 * NS
cdef uint64_t T_S = 4 * 3600 * NS                       # 04:00 start of system hours
cdef uint64_t T_Q = 9 * 3600 * NS + 30 * 60 * NS        # 09:30 start of market hours
cdef uint64_t T_M = 16 * 3600 * NS                      # 16:00 end of market hours
cdef uint64_t T_E = 20 * 3600 * NS                      # 20:00 end of system hours
cdef uint64_t T_C = 20 * 3600 * NS + 5 * 60 * NS        # 20:05 end of messages
cdef uint64_t BIN_NS = 60 * NS
cdef uint64_t PUBLISH_NS = 2500                         # matching engine -> wire, stamped on pcap records

cdef enum:
    PH_O = 0
    PH_DIR = 1
    PH_HY = 2
    PH_S = 3
    PH_BODY = 4
    PH_E = 5
    PH_C = 6
    PH_EOS = 7
    PH_DONE = 8

# Body message draw (per 65536): A, F, D, U, E, C, X, P. Executions sweep (an aggressor takes
# several orders at the touch) so E ends near 2.7 %; see docs/generate.md for the real-day mix.
cdef uint32_t CUT_A = 26149     # 39.9 %
cdef uint32_t CUT_F = 29098     # +4.5 %
cdef uint32_t CUT_D = 56032     # +41.1 %
cdef uint32_t CUT_U = 61930     # +9.0 %
cdef uint32_t CUT_E = 63371     # +2.2 %
cdef uint32_t CUT_C = 63568     # +0.3 %
cdef uint32_t CUT_X = 64879     # +2.0 %  (P takes the rest, 1.0 %)

MPIDS = [(b"CTDL", 33), (b"CDRG", 26), (b"VIRT", 22), (b"GSCO", 8), (b"NITE", 6), (b"BARD", 6),
         (b"RBCM", 6), (b"MAXM", 5), (b"WBLR", 5), (b"COWN", 5), (b"UBSS", 4), (b"WABR", 4),
         (b"MLCO", 4), (b"CANT", 4), (b"ADAM", 4), (b"STFL", 4), (b"MZHO", 4), (b"WEDB", 4),
         (b"RAJA", 4), (b"KEYB", 4), (b"JPMS", 3), (b"MSCO", 3), (b"SUSQ", 3), (b"JANE", 3)]

cdef inline uint64_t splitmix64(uint64_t *x) noexcept nogil:
    x[0] += <uint64_t>0x9E3779B97F4A7C15
    cdef uint64_t z = x[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


def _bin_weights():
    """Relative message rate of each minute from 04:00 to 20:00 (a U-shaped regular session)."""
    w = []
    for m in range(N_BINS):
        hm = 4 * 60 + m  # minutes since midnight
        if hm < 7 * 60:
            x = 0.03
        elif hm < 8 * 60:
            x = 0.06
        elif hm < 9 * 60:
            x = 0.12
        elif hm < 9 * 60 + 30:
            x = 0.25
        elif hm < 16 * 60:
            k = hm - (9 * 60 + 30)
            x = (1.0 + 3.0 * math.exp(-k / 15.0) + 1.5 * math.exp(-(389 - k) / 10.0)
                 - 0.25 * math.exp(-((k - 180) / 60.0) ** 2))
        elif hm < 16 * 60 + 30:
            x = 0.25
        elif hm < 18 * 60:
            x = 0.06
        else:
            x = 0.02
        w.append(x)
    return w


cdef class DayGen:
    """One synthetic day; call ``fill`` until it returns 0.

    Parameters
    ----------
    messages : total messages of the day, exactly (>= ``min_messages(symbols)``).
    symbols : 1..65535 stock locates.
    seed : any integer; the same arguments give byte-identical output.
    pcap : frame as nanosecond pcap of Ethernet/IPv4/UDP/MoldUDP64 packets instead of binaryFILE.
    header_template : 42 bytes Ethernet+IPv4+UDP (`lab.pcapwrite.header_template`).
    session : 10-byte MoldUDP64 session.
    window_ns : a packet carries messages stamped within this span of its first one (and <= 1400 bytes).
    epoch_ns : epoch ns of the day's midnight (US/Eastern), added to ITCH timestamps on pcap records.
    """

    def __cinit__(self):
        self.nsym = 0

    def __init__(self, int64_t messages, int symbols, seed, bint pcap=False, header_template=None,
                 session=b"TWSYNTH001", uint64_t window_ns=200000, uint64_t epoch_ns=0):
        cdef int i, s, r
        cdef uint64_t x
        if symbols < 1 or symbols > 65535:
            raise ValueError(f"symbols must be 1..65535 (stock locate is 16 bits), not {symbols}")
        need = min_messages(symbols)
        if messages < need:
            raise ValueError(f"--messages {messages} is too few for {symbols} symbols: need at least {need}")
        self.nsym = symbols
        self.pcap = pcap
        self.seed = <uint64_t>(int(seed) & 0xFFFFFFFFFFFFFFFF)
        x = self.seed
        for i in range(4):
            self.rs[i] = splitmix64(&x)
        self.window_ns = window_ns
        self.epoch_ns = epoch_ns
        if len(session) != 10:
            raise ValueError("MoldUDP64 session must be 10 bytes")
        memcpy(self.session, <const char *>session, 10)
        if pcap:
            if header_template is None or len(header_template) != 42:
                raise ValueError("pcap needs a 42-byte Ethernet/IPv4/UDP header template")
            memcpy(self.tmpl, <const char *>header_template, 42)
            # pseudo-header: source + destination address + protocol (length added per packet)
            self.src_sum = tw_csum(self.tmpl + 26, 8, 17)
        self.seq_next = 1

        n = symbols
        self.ticker = <uint8_t *>calloc(n * 8, 1)
        self.dir_msgs = <uint8_t *>calloc(n * (R_LEN + H_LEN + Y_LEN), 1)
        self.has_y = <uint8_t *>calloc(n, 1)
        self.lo = <int32_t *>calloc(n, 4)
        self.fair = <int32_t *>calloc(n, 4)
        self.best = <int32_t *>malloc(n * 2 * 4)
        self.bits = <uint64_t *>calloc(n * 2 * GRID_WORDS, 8)
        # calloc: pages of levels never touched stay unmapped, so RSS follows the live books
        self.head = <int32_t *>calloc(<size_t>n * 2 * GRID_W, 4)
        self.live = <int32_t **>calloc(n, sizeof(int32_t *))
        self.live_n = <int32_t *>calloc(n, 4)
        self.live_cap = <int32_t *>calloc(n, 4)
        self.trk = <uint16_t *>calloc(n, 2)
        self.drift_p16 = <uint32_t *>calloc(n, 4)
        self.dscale = <uint32_t *>calloc(n, 4)
        self.farmax = <int32_t *>calloc(n, 4)
        self.floor = <int32_t *>calloc(n, 4)
        self.xlots = <uint32_t *>calloc(n, 4)
        self.sizemul = <uint32_t *>calloc(n, 4)
        self.zcum = <uint64_t *>calloc(n, 8)
        self.rank2sym = <int32_t *>calloc(n, 4)
        if not (self.ticker and self.dir_msgs and self.has_y and self.lo and self.fair and self.best
                and self.bits and self.head and self.live and self.live_n and self.live_cap
                and self.trk and self.drift_p16 and self.dscale and self.farmax and self.floor and self.xlots and self.sizemul
                and self.zcum and self.rank2sym):
            raise MemoryError("DayGen: symbol tables")
        memset(self.best, 0xFF, n * 2 * 4)
        self.ocap = 1 << 16
        self.o_ref = <uint64_t *>malloc(self.ocap * 8)
        self.o_sh = <uint32_t *>malloc(self.ocap * 4)
        self.o_px = <int32_t *>malloc(self.ocap * 4)
        self.o_sym = <int32_t *>malloc(self.ocap * 4)
        self.o_side = <uint8_t *>malloc(self.ocap)
        self.o_prev = <int32_t *>malloc(self.ocap * 4)
        self.o_next = <int32_t *>malloc(self.ocap * 4)
        self.o_pos = <int32_t *>malloc(self.ocap * 4)
        self.freel = <int32_t *>malloc(self.ocap * 4)
        if not (self.o_ref and self.o_sh and self.o_px and self.o_sym and self.o_side and self.o_prev
                and self.o_next and self.o_pos and self.freel):
            raise MemoryError("DayGen: order arrays")

        self._build_tables()
        self._build_symbols(messages)
        self.ref_next = 1 + self._below(1000)
        self.match_next = 1 + self._below(1000)
        self.phase = PH_O

    # ------------------------------------------------------------ set-up ----
    def _u(self):
        """Uniform float in [0, 1) from the generator's stream (set-up only)."""
        return (self._next() >> 11) * (1.0 / 9007199254740992.0)

    def _fill_urn(self, values, weights, int size):
        """Values repeated in proportion to weights over ``size`` slots (largest remainder)."""
        total = float(sum(weights))
        raw = [w * size / total for w in weights]
        k = [int(v) for v in raw]
        short = size - sum(k)
        for j in sorted(range(len(raw)), key=lambda j: k[j] - raw[j])[:short]:
            k[j] += 1
        out = []
        for v, c in zip(values, k):
            out.extend([v] * c)
        return out

    def _build_tables(self):
        cdef int i
        # ticks from the own touch: 30 % join it, a geometric-like body, a tail to ~50
        dv = list(range(0, 50))
        dw = [30, 15, 10, 8, 6] + [3.0] * 5 + [1.0] * 10 + [0.2] * 30
        for i, v in enumerate(self._fill_urn(dv, dw, 1024)):
            self.dist_urn[i] = v
        # order sizes: round lots dominate; odd and mixed lots and a few big ones
        sv, sw = [], []
        for v, w in ((100, 36), (200, 14), (300, 8), (400, 4), (500, 8), (600, 1.2), (700, 0.8), (800, 1.2),
                     (900, 0.8), (1000, 5), (1500, 0.8), (2000, 1.5), (2500, 0.5), (3000, 0.6), (5000, 0.5),
                     (10000, 0.1)):
            sv.append(v); sw.append(w)
        for v in range(1, 100):
            sv.append(v); sw.append(12.0 / 99 * (3 if v in (1, 5, 10, 20, 25, 50) else 1))
        for v in range(101, 1000, 7):
            sv.append(v); sw.append(4.0 / 129)
        for i, v in enumerate(self._fill_urn(sv, sw, 4096)):
            self.size_urn[i] = v
        for i in range(len(MPIDS)):
            memcpy(self.mpids + 4 * i, <const char *>MPIDS[i][0], 4)
        for i, v in enumerate(self._fill_urn(list(range(len(MPIDS))), [w for _, w in MPIDS], 256)):
            self.mpid_urn[i] = v
        for i, v in enumerate(self._fill_urn([0, 1, 2, 3, 4, 5], [70, 14, 9, 3, 2, 2], 64)):
            self.trk_urn[i] = v

    def _build_symbols(self, int64_t messages):
        cdef int n = self.nsym, i, s, r
        cdef bytes tb, rmsg, hmsg, ymsg
        cdef Py_ssize_t base
        # tickers: mostly 3-4 letters, some 1-2 and 5, rare 6-8 (test and when-issued style names)
        lens = self._fill_urn([1, 2, 3, 4, 5, 6, 7, 8], [1.5, 6, 27, 55, 9.5, 0.5, 0.3, 0.2], 1000)
        seen = set()
        names = []
        guard = 0
        while len(names) < n:
            ln = lens[self._below(1000)]
            if n > 2000 and ln < 3:
                ln = 3 + self._below(3)   # short names run out; keep the draw cheap
            t = bytes(65 + self._below(26) for _ in range(ln))
            if t not in seen:
                seen.add(t)
                names.append(t)
            guard += 1
            if guard > 100 * n + 1000:
                raise RuntimeError("could not draw unique tickers")
        names.sort()                     # NASDAQ assigns locates in alphabetical order
        # activity ranks: a random permutation, Zipf weights 1/(rank + 2) over ranks
        perm = list(range(n))
        for i in range(n - 1, 0, -1):
            r = self._below(i + 1)
            perm[i], perm[r] = perm[r], perm[i]
        weights = [1.0 / (k + 2) for k in range(n)]      # Zipf-Mandelbrot, q = 1
        total = sum(weights)
        acc = 0.0
        for k in range(n):
            self.rank2sym[k] = perm[k]
            acc += weights[k]
            self.zcum[k] = min(<uint64_t>1 << 32, <uint64_t>(acc / total * 4294967296.0))
        self.zcum[n - 1] = <uint64_t>1 << 32
        rank_of = [0] * n
        for k in range(n):
            rank_of[perm[k]] = k

        body_guess = max(1, messages - 3 * n)
        cats = self._fill_urn([b"Q", b"G", b"S", b"N", b"P", b"A", b"Z"], [20, 10, 14, 41, 8, 4, 3], 100)
        for s in range(n):
            t = names[s]
            tb = t.ljust(8)
            memcpy(self.ticker + 8 * s, <const char *>tb, 8)
            # price level: log-uniform $5..$500, in cents
            cents = int(round(500 * math.exp(self._u() * math.log(100.0))))
            lo = max(1, cents - GRID_W // 2)
            self.lo[s] = lo
            self.fair[s] = cents - lo
            w = weights[rank_of[s]] / total
            exp_msgs = max(1.0, body_guess * w)
            p = (0.015 * cents) ** 2 / exp_msgs        # daily sd of the fair value ~1.5 %
            self.drift_p16[s] = int(min(32768, max(1, p * 65536)))
            self.dscale[s] = int(65536 * (1.0 + cents / 20000.0))
            self.farmax[s] = int(min(GRID_W // 4, max(20, cents // 25)))
            # resting-order floor: removals on a book thinner than this add instead (the pre-market
            # builds the book, so active names open deep, as on a real day)
            self.floor[s] = int(min(600, max(4, exp_msgs / 100)))
            # cross / NOII size in round lots: the busy names cross millions of shares, thin ones hundreds
            self.xlots[s] = int(min(50000, max(20, 200000 * w)))
            self.sizemul[s] = 1 + self._below(4) if cents < 1000 else 1
            self.trk[s] = self.trk_urn[self._below(64)]
            cat = cats[self._below(100)]
            nasdaq = cat in (b"Q", b"G", b"S")
            etf = cat == b"P" or (self._below(100) < 8)
            fin = (b"D" if self._below(100) < 3 else b"N") if nasdaq else b" "
            cls = b"Q" if etf else (b"C" if self._below(100) < 90 else b"A")
            sub = b"I " if etf else (b"Z " if self._below(100) < 85 else b"A ")
            tier = b"1" if rank_of[s] < max(1, n // 6) else b"2"
            ipo = b"N" if nasdaq else b" "
            ssi = b"Y" if self._below(1000) < 5 else b"N"
            lev = 1 if etf else 0
            rmsg = (b"R" + struct.pack(">HH", s + 1, 0) + b"\0" * 6 + t.ljust(8) + cat + fin
                    + struct.pack(">I", 100) + b"N" + cls + sub + b"P" + ssi + ipo + tier
                    + (b"Y" if etf else b"N") + struct.pack(">I", lev) + b"N")
            hmsg = b"H" + struct.pack(">HH", s + 1, 0) + b"\0" * 6 + t.ljust(8) + b"T" + b" " + b"    "
            yact = b"1" if self._below(100) < 15 else b"0"
            ymsg = b"Y" + struct.pack(">HH", s + 1, 0) + b"\0" * 6 + t.ljust(8) + yact
            assert len(rmsg) == R_LEN and len(hmsg) == H_LEN and len(ymsg) == Y_LEN
            base = s * (R_LEN + H_LEN + Y_LEN)
            memcpy(self.dir_msgs + base, <const char *>rmsg, R_LEN)
            memcpy(self.dir_msgs + base + R_LEN, <const char *>hmsg, H_LEN)
            memcpy(self.dir_msgs + base + R_LEN + H_LEN, <const char *>ymsg, Y_LEN)
            self.has_y[s] = 1 if self._below(100) < 10 else 0

        # scheduled messages: NOII before the crosses, the crosses, Q/M system events
        n_cross, n_noii = cross_budget(messages, n)
        by_rank = [self.rank2sym[k] for k in range(n)]
        cross_syms = sorted(by_rank[:n_cross])
        noii_syms = sorted(by_rank[:n_noii])
        sched = []  # (ts, kind, arg, cross type)
        for cross, snaps in ((b"O", (9 * 3600 + 25 * 60, 9 * 3600 + 26 * 60, 9 * 3600 + 27 * 60,
                                     9 * 3600 + 28 * 60, 9 * 3600 + 29 * 60, 9 * 3600 + 29 * 60 + 30)),
                             (b"C", (15 * 3600 + 50 * 60, 15 * 3600 + 52 * 60, 15 * 3600 + 54 * 60,
                                     15 * 3600 + 56 * 60, 15 * 3600 + 58 * 60, 15 * 3600 + 59 * 60 + 30))):
            for sec in snaps:
                t0 = sec * NS + self._below(2000000)
                for j, s in enumerate(noii_syms):
                    sched.append((t0 + j * 3000, 1, s, cross))
        sched.append((T_Q + self._below(5000), 0, ord("Q"), b" "))
        t0 = T_Q + 12000000 + self._below(1000000)
        for j, s in enumerate(cross_syms):
            sched.append((t0 + j * 25000, 2, s, b"O"))
        sched.append((T_M + self._below(5000), 0, ord("M"), b" "))
        t0 = T_M + 15000000 + self._below(1000000)
        for j, s in enumerate(cross_syms):
            sched.append((t0 + j * 25000, 2, s, b"C"))
        sched.sort(key=lambda e: e[0])
        self.n_sched = len(sched)
        self.sched_ts = <uint64_t *>malloc(max(1, self.n_sched) * 8)
        self.sched_kind = <uint8_t *>malloc(max(1, self.n_sched))
        self.sched_arg = <int32_t *>malloc(max(1, self.n_sched) * 4)
        self.sched_x = <uint8_t *>malloc(max(1, self.n_sched))
        if not (self.sched_ts and self.sched_kind and self.sched_arg and self.sched_x):
            raise MemoryError("DayGen: schedule")
        for i, (t0, kind, arg, cross) in enumerate(sched):
            self.sched_ts[i] = t0
            self.sched_kind[i] = kind
            self.sched_arg[i] = arg
            self.sched_x[i] = cross[0]

        n_header = 1 + n + n + sum(self.has_y[s] for s in range(n)) + 1
        self.n_body = messages - n_header - self.n_sched - 2
        self.n_total = messages
        if self.n_body < messages // 2:
            raise ValueError(f"--messages {messages} is too few for {n} symbols")
        # order-flow messages per minute bin: cumulative floor keeps the total exact
        w = _bin_weights()
        tot = sum(w)
        acc = 0.0
        prev = 0
        for i in range(N_BINS):
            acc += w[i]
            cur = self.n_body if i == N_BINS - 1 else int(self.n_body * acc / tot)
            self.bin_n[i] = cur - prev
            prev = cur

    def __dealloc__(self):
        cdef int s
        if self.live != NULL:
            for s in range(self.nsym):
                free(self.live[s])
        free(self.ticker); free(self.dir_msgs); free(self.has_y); free(self.lo); free(self.fair)
        free(self.best); free(self.bits); free(self.head); free(self.live)
        free(self.live_n); free(self.live_cap); free(self.trk); free(self.drift_p16); free(self.dscale)
        free(self.farmax); free(self.floor); free(self.xlots); free(self.sizemul); free(self.zcum); free(self.rank2sym)
        free(self.o_ref); free(self.o_sh); free(self.o_px); free(self.o_sym); free(self.o_side)
        free(self.o_prev); free(self.o_next); free(self.o_pos); free(self.freel)
        free(self.sched_ts); free(self.sched_kind); free(self.sched_arg); free(self.sched_x)

    # ---------------------------------------------------------- public ----
    def fill(self, uint8_t[::1] buf):
        """Write the next part of the day into ``buf``; returns the bytes written (0 = day complete).

        ``buf`` must hold at least 4096 bytes. Raises RuntimeError (message from `ERRORS`) when the
        generator stopped on a result code.
        """
        if buf.shape[0] < 2 * MAX_RECORD:
            raise ValueError("fill buffer must hold at least 4096 bytes")
        self.out = &buf[0]
        self.out_cap = buf.shape[0]
        self.out_pos = 0
        with nogil:
            while self.phase != PH_DONE and self.out_pos + MAX_RECORD <= self.out_cap and self.err == 0:
                self._step()
        self.out = NULL
        if self.err:
            raise GenError(self.err)
        return self.out_pos

    @property
    def done(self):
        return self.phase == PH_DONE

    @property
    def counts(self):
        """Messages written so far by type, e.g. {'A': 812345, ...}."""
        return {chr(i): self.tcount[i] for i in range(256) if self.tcount[i]}

    @property
    def tickers(self):
        """Tickers by stock locate - 1 (stripped)."""
        return [bytes(self.ticker[8 * s:8 * s + 8]).rstrip().decode() for s in range(self.nsym)]

    # ------------------------------------------------------------- PRNG ----
    cdef inline uint64_t _next(self) noexcept nogil:
        # xoshiro256** (Blackman & Vigna)
        cdef uint64_t *s = self.rs
        cdef uint64_t result = tw_rotl(s[1] * 5, 7) * 9
        cdef uint64_t t = s[1] << 17
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = tw_rotl(s[3], 45)
        return result

    cdef inline uint32_t _below(self, uint32_t n) noexcept nogil:
        """Uniform in [0, n) (Lemire's multiply-shift; n < 2**32)."""
        return <uint32_t>(((self._next() >> 32) * <uint64_t>n) >> 32)

    cdef inline bint _chance(self, uint32_t p16) noexcept nogil:
        return (self._next() >> 48) < p16

    cdef inline int _zipf(self) noexcept nogil:
        cdef uint64_t u = self._next() >> 32
        cdef int lo = 0, hi = self.nsym - 1, mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self.zcum[mid] > u:
                hi = mid
            else:
                lo = mid + 1
        return self.rank2sym[lo]

    # ------------------------------------------------------------- book ----
    cdef int32_t _scan(self, int s, int side, int32_t frm) noexcept nogil:
        """Best non-empty level at or beyond ``frm`` away from the spread, -1 if none."""
        cdef uint64_t *b = self.bits + (s * 2 + side) * GRID_WORDS
        cdef int w = frm >> 6
        cdef uint64_t word
        if side == 0:
            word = b[w] & ((<uint64_t>0xFFFFFFFFFFFFFFFF) >> (63 - (frm & 63)))
            while True:
                if word:
                    return w * 64 + 63 - tw_clz64(word)
                w -= 1
                if w < 0:
                    return -1
                word = b[w]
        else:
            word = b[w] & ((<uint64_t>0xFFFFFFFFFFFFFFFF) << (frm & 63))
            while True:
                if word:
                    return w * 64 + tw_ctz64(word)
                w += 1
                if w >= GRID_WORDS:
                    return -1
                word = b[w]

    cdef int32_t _add(self, int s, int side, int32_t idx, uint32_t sh) noexcept nogil:
        cdef int32_t slot, lvl, t, first, cap, ncap
        cdef int32_t *grown
        if TW_DEBUG:
            if (side == 0 and self.best[2 * s + 1] >= 0 and idx >= self.best[2 * s + 1]) or \
               (side == 1 and self.best[2 * s] >= 0 and idx <= self.best[2 * s]) or idx < 0 or idx >= GRID_W \
               or sh == 0:
                self.err = GEN_E_INVARIANT
                return -1
        if self.nfree:
            self.nfree -= 1
            slot = self.freel[self.nfree]
        else:
            if tw_unlikely(self.onext == self.ocap):
                ncap = self.ocap * 2
                if not (_grow(<void **>&self.o_ref, ncap, 8) and _grow(<void **>&self.o_sh, ncap, 4)
                        and _grow(<void **>&self.o_px, ncap, 4) and _grow(<void **>&self.o_sym, ncap, 4)
                        and _grow(<void **>&self.o_side, ncap, 1) and _grow(<void **>&self.o_prev, ncap, 4)
                        and _grow(<void **>&self.o_next, ncap, 4) and _grow(<void **>&self.o_pos, ncap, 4)
                        and _grow(<void **>&self.freel, ncap, 4)):
                    self.err = GEN_E_NOMEM
                    return -1
                self.ocap = ncap
            slot = self.onext
            self.onext += 1
        self.o_ref[slot] = self.ref_next
        self.ref_next += 1 + self._below(4)
        self.o_sh[slot] = sh
        self.o_px[slot] = idx
        self.o_sym[slot] = s
        self.o_side[slot] = side
        # level FIFO: circular doubly-linked list, head[lvl] = first slot + 1 (0 = empty), tail = prev(first)
        lvl = (s * 2 + side) * GRID_W + idx
        t = self.head[lvl] - 1
        if t >= 0:
            first = t
            t = self.o_prev[first]
            self.o_next[t] = slot
            self.o_prev[slot] = t
            self.o_next[slot] = first
            self.o_prev[first] = slot
        else:
            self.head[lvl] = slot + 1
            self.o_prev[slot] = slot
            self.o_next[slot] = slot
            self.bits[(s * 2 + side) * GRID_WORDS + (idx >> 6)] |= (<uint64_t>1) << (idx & 63)
        t = self.best[2 * s + side]
        if t < 0 or (side == 0 and idx > t) or (side == 1 and idx < t):
            self.best[2 * s + side] = idx
        cap = self.live_cap[s]
        if tw_unlikely(self.live_n[s] == cap):
            ncap = 64 if cap == 0 else cap * 2
            grown = <int32_t *>realloc(self.live[s], ncap * 4)
            if grown == NULL:
                self.err = GEN_E_NOMEM
                return -1
            self.live[s] = grown
            self.live_cap[s] = ncap
        self.o_pos[slot] = self.live_n[s]
        self.live[s][self.live_n[s]] = slot
        self.live_n[s] += 1
        self.live_orders += 1
        if self.live_orders > self.max_live_orders:
            self.max_live_orders = self.live_orders
        return slot

    cdef void _remove(self, int32_t slot) noexcept nogil:
        cdef int s = self.o_sym[slot], side = self.o_side[slot]
        cdef int32_t idx = self.o_px[slot]
        cdef int32_t lvl = (s * 2 + side) * GRID_W + idx
        cdef int32_t p = self.o_prev[slot], q = self.o_next[slot], pos, last
        if q != slot:
            self.o_next[p] = q
            self.o_prev[q] = p
            if self.head[lvl] == slot + 1:
                self.head[lvl] = q + 1
        else:
            self.head[lvl] = 0
            self.bits[(s * 2 + side) * GRID_WORDS + (idx >> 6)] &= ~((<uint64_t>1) << (idx & 63))
            if self.best[2 * s + side] == idx:
                self.best[2 * s + side] = self._scan(s, side, idx)
        pos = self.o_pos[slot]
        self.live_n[s] -= 1
        last = self.live[s][self.live_n[s]]
        self.live[s][pos] = last
        self.o_pos[last] = pos
        self.freel[self.nfree] = slot
        self.nfree += 1
        self.live_orders -= 1

    cdef int32_t _pick(self, int s) noexcept nogil:
        """A live order of ``s`` to cancel or modify: mostly recent ones (quote flicker), stale
        quotes on the wrong side of the fair value, else any."""
        cdef int32_t n = self.live_n[s], k
        cdef uint32_t r = <uint32_t>(self._next() >> 48)
        cdef int32_t bid, ask, f
        if r < 36000:
            k = n if n < 12 else 12
            return self.live[s][n - 1 - <int32_t>self._below(k)]
        if r < 46000:
            bid = self.best[2 * s]
            ask = self.best[2 * s + 1]
            f = self.fair[s]
            if ask >= 0 and f >= ask:
                return self.head[(s * 2 + 1) * GRID_W + ask] - 1
            if bid >= 0 and f <= bid:
                return self.head[(s * 2) * GRID_W + bid] - 1
        return self.live[s][self._below(n)]

    cdef inline uint32_t _size(self, int s) noexcept nogil:
        cdef uint32_t v = self.size_urn[self._next() >> 52]
        if v >= 100 and v % 100 == 0:
            v *= self.sizemul[s]
        return v

    cdef inline int32_t _dist(self, int s) noexcept nogil:
        if tw_unlikely(self._chance(2048)):       # 1/32: a far-from-touch order
            return self._below(self.farmax[s] + 1)
        return <int32_t>((<uint64_t>self.dist_urn[self._next() >> 54] * self.dscale[s]) >> 16)

    cdef int32_t _mid_index(self, int s) noexcept nogil:
        cdef int32_t bid = self.best[2 * s], ask = self.best[2 * s + 1]
        if bid >= 0 and ask >= 0:
            return (bid + ask) >> 1
        return self.fair[s]

    cdef int32_t _add_price(self, int s, int side) noexcept nogil:
        """A price (grid index) for a new order on ``side`` that cannot cross, or -1."""
        cdef int32_t bid = self.best[2 * s], ask = self.best[2 * s + 1], f = self.fair[s], p, gap, room
        cdef uint32_t imp
        if side == 0:
            if ask == 0:
                return -1
            if bid >= 0:
                gap = (ask - bid - 1) if ask >= 0 else 0
                imp = 40000 if f > bid + 1 else 12000     # step in harder when the fair value moved up
                if gap > 0 and self._chance(imp):
                    room = f - bid
                    if room > gap:
                        room = gap
                    if room < 1:
                        room = 1
                    p = bid + 1 + <int32_t>self._below(room)
                else:
                    p = bid - self._dist(s)
            else:
                p = f - 1 - self._dist(s)
            if ask >= 0 and p >= ask:
                p = ask - 1
            if p < 0:
                p = bid if bid >= 0 else 0
            return p
        else:
            if bid == GRID_W - 1:
                return -1
            if ask >= 0:
                gap = (ask - bid - 1) if bid >= 0 else 0
                imp = 40000 if f < ask - 1 else 12000
                if gap > 0 and self._chance(imp):
                    room = ask - f
                    if room > gap:
                        room = gap
                    if room < 1:
                        room = 1
                    p = ask - 1 - <int32_t>self._below(room)
                else:
                    p = ask + self._dist(s)
            else:
                p = f + 1 + self._dist(s)
            if bid >= 0 and p <= bid:
                p = bid + 1
            if p >= GRID_W:
                p = ask if ask >= 0 else GRID_W - 1
            return p

    # ---------------------------------------------------------- framing ----
    cdef inline void _header(self, uint8_t t, int s, uint64_t ts) noexcept nogil:
        cdef uint8_t *m = self.msg
        m[0] = t
        tw_put_be16(m + 1, <uint16_t>(s + 1) if s >= 0 else 0)
        tw_put_be16(m + 3, self.trk[s] if s >= 0 else 0)
        tw_put_be48(m + 5, ts)

    cdef void _emit(self, int length, uint64_t ts) noexcept nogil:
        """Frame ``self.msg`` (binaryFILE record, or into the current MoldUDP64 packet)."""
        cdef uint8_t *o
        self.tcount[self.msg[0]] += 1
        self.emitted += 1
        self.last_ts = ts
        if not self.pcap:
            o = self.out + self.out_pos
            tw_put_be16(o, <uint16_t>length)
            memcpy(o + 2, self.msg, length)
            self.out_pos += 2 + length
            return
        if self.pkt_count and (self.pkt_len + 2 + length > 1400 or ts - self.pkt_first_ts > self.window_ns):
            self._flush_packet()
        if self.pkt_count == 0:
            self.pkt_first_ts = ts
            self.pkt_len = 20
            memcpy(self.pkt, self.session, 10)
            tw_put_be64(self.pkt + 10, self.seq_next)
        tw_put_be16(self.pkt + self.pkt_len, <uint16_t>length)
        memcpy(self.pkt + self.pkt_len + 2, self.msg, length)
        self.pkt_len += 2 + length
        self.pkt_count += 1
        self.pkt_last_ts = ts
        self.seq_next += 1

    cdef void _flush_packet(self) noexcept nogil:
        """Write the current MoldUDP64 packet as one pcap record (Ethernet/IPv4/UDP, checksums)."""
        cdef uint8_t *o = self.out + self.out_pos
        cdef uint8_t *f = o + 16
        cdef uint64_t ts
        cdef int ulen, flen
        cdef uint32_t sm
        if self.pkt_count == 0:
            return
        tw_put_be16(self.pkt + 18, <uint16_t>self.pkt_count)
        ulen = 8 + self.pkt_len
        flen = 14 + 20 + ulen
        ts = self.epoch_ns + self.pkt_last_ts + PUBLISH_NS
        tw_putle32(o, <uint32_t>(ts // NS))
        tw_putle32(o + 4, <uint32_t>(ts % NS))
        tw_putle32(o + 8, flen)
        tw_putle32(o + 12, flen)
        memcpy(f, self.tmpl, 42)
        tw_put_be16(f + 16, <uint16_t>(20 + ulen))
        tw_put_be16(f + 18, self.ip_id)
        self.ip_id += 1
        tw_put_be16(f + 24, ~tw_fold(tw_csum(f + 14, 20, 0)) & 0xFFFF)
        tw_put_be16(f + 38, <uint16_t>ulen)
        memcpy(f + 42, self.pkt, self.pkt_len)
        sm = tw_csum(f + 34, ulen, self.src_sum + ulen)
        sm = ~tw_fold(sm) & 0xFFFF
        tw_put_be16(f + 40, <uint16_t>(sm if sm else 0xFFFF))
        self.out_pos += 16 + flen
        self.packets += 1
        self.pkt_count = 0
        self.pkt_len = 0

    cdef void _emit_eos(self) noexcept nogil:
        """MoldUDP64 End of Session: count 0xFFFF, sequence = next expected, no messages."""
        cdef uint8_t *o
        cdef uint8_t *f
        cdef uint64_t ts
        cdef uint32_t sm
        self._flush_packet()
        o = self.out + self.out_pos
        f = o + 16
        memcpy(self.pkt, self.session, 10)
        tw_put_be64(self.pkt + 10, self.seq_next)
        tw_put_be16(self.pkt + 18, 0xFFFF)
        ts = self.epoch_ns + self.last_ts + PUBLISH_NS + 1000000
        tw_putle32(o, <uint32_t>(ts // NS))
        tw_putle32(o + 4, <uint32_t>(ts % NS))
        tw_putle32(o + 8, 14 + 20 + 8 + 20)
        tw_putle32(o + 12, 14 + 20 + 8 + 20)
        memcpy(f, self.tmpl, 42)
        tw_put_be16(f + 16, 20 + 8 + 20)
        tw_put_be16(f + 18, self.ip_id)
        self.ip_id += 1
        tw_put_be16(f + 24, ~tw_fold(tw_csum(f + 14, 20, 0)) & 0xFFFF)
        tw_put_be16(f + 38, 8 + 20)
        memcpy(f + 42, self.pkt, 20)
        sm = ~tw_fold(tw_csum(f + 34, 28, self.src_sum + 28)) & 0xFFFF
        tw_put_be16(f + 40, <uint16_t>(sm if sm else 0xFFFF))
        self.out_pos += 16 + 62
        self.packets += 1

    # --------------------------------------------------------- messages ----
    cdef void _sys(self, uint8_t code, uint64_t ts) noexcept nogil:
        self._header(b'S', -1, ts)
        self.msg[11] = code
        self._emit(12, ts)

    cdef void _do_add(self, int s, uint64_t ts) noexcept nogil:
        cdef int side = <int>(self._next() >> 63)
        cdef int32_t p = self._add_price(s, side), slot
        cdef uint32_t sh
        cdef bint mpid
        if p < 0:
            side ^= 1
            p = self._add_price(s, side)
        sh = self._size(s)
        slot = self._add(s, side, p, sh)
        if slot < 0:
            return
        mpid = self._chance(6640)                # ~10 % of adds carry an MPID (F)
        self._header(70 if mpid else 65, s, ts)    # 'F' / 'A'
        tw_put_be64(self.msg + 11, self.o_ref[slot])
        self.msg[19] = 83 if side else 66          # 'S' / 'B'
        tw_put_be32(self.msg + 20, sh)
        memcpy(self.msg + 24, self.ticker + 8 * s, 8)
        tw_put_be32(self.msg + 32, <uint32_t>((self.lo[s] + p) * 100))
        if mpid:
            memcpy(self.msg + 36, self.mpids + 4 * self.mpid_urn[self._next() >> 56], 4)
            self._emit(40, ts)
        else:
            self._emit(36, ts)

    cdef bint _do_exec(self, int s, bint with_price, uint64_t ts) noexcept nogil:
        """Execute (part of) the order at the head of the touch; 0 when the book is empty."""
        cdef int32_t bid = self.best[2 * s], ask = self.best[2 * s + 1], slot, lots, f
        cdef int side
        cdef uint32_t rem, q, pa
        if self.sweep_left:
            side = self.sweep_side
            self.sweep_left = 0
            if self.best[2 * s + side] < 0:
                side ^= 1
        elif bid < 0 and ask < 0:
            return 0
        elif bid < 0:
            side = 1
        elif ask < 0:
            side = 0
        else:
            # buyers lift the offer when the fair value is above the mid, sellers hit the bid below it
            f = self.fair[s] * 2
            pa = 49152 if f > bid + ask + 1 else (16384 if f < bid + ask - 1 else 32768)
            side = 1 if self._chance(pa) else 0
        if self.best[2 * s + side] < 0:
            return 0
        slot = self.head[(s * 2 + side) * GRID_W + self.best[2 * s + side]] - 1
        rem = self.o_sh[slot]
        if rem == 1 or self._chance(39000):
            q = rem
        else:
            lots = (rem - 1) // 100
            q = 100 * (1 + self._below(lots)) if lots >= 1 else 1 + self._below(rem - 1)
        self._header(67 if with_price else 69, s, ts)   # 'C' / 'E'
        tw_put_be64(self.msg + 11, self.o_ref[slot])
        tw_put_be32(self.msg + 19, q)
        tw_put_be64(self.msg + 23, self.match_next)
        self.match_next += 1
        if with_price:
            self.msg[31] = 78 if self._chance(19660) else 89   # printable 'N' / 'Y'
            tw_put_be32(self.msg + 32, <uint32_t>((self.lo[s] + self.o_px[slot]) * 100))
            self._emit(36, ts)
        else:
            self._emit(31, ts)
        if q == rem:
            self._remove(slot)
            if not with_price and self._chance(22937):   # ~35 %: the aggressor takes the next order too
                self.sweep_left = 1
                self.sweep_sym = s
                self.sweep_side = side
        else:
            self.o_sh[slot] = rem - q
        return 1

    cdef bint _do_delete(self, int s, uint64_t ts) noexcept nogil:
        cdef int32_t slot
        if self.live_n[s] == 0:
            return 0
        slot = self._pick(s)
        self._header(b'D', s, ts)
        tw_put_be64(self.msg + 11, self.o_ref[slot])
        self._emit(19, ts)
        self._remove(slot)
        return 1

    cdef bint _do_cancel(self, int s, uint64_t ts) noexcept nogil:
        cdef int32_t slot = -1, lots
        cdef int tries
        cdef uint32_t rem, q
        if self.live_n[s] == 0:
            return 0
        for tries in range(4):
            slot = self._pick(s)
            if self.o_sh[slot] > 1:
                break
        rem = self.o_sh[slot]
        if rem < 2:
            return 0
        lots = (rem - 1) // 100
        q = 100 * (1 + self._below(lots)) if lots >= 1 else 1 + self._below(rem - 1)
        self._header(b'X', s, ts)
        tw_put_be64(self.msg + 11, self.o_ref[slot])
        tw_put_be32(self.msg + 19, q)
        self._emit(23, ts)
        self.o_sh[slot] = rem - q
        return 1

    cdef bint _do_replace(self, int s, uint64_t ts) noexcept nogil:
        cdef int32_t slot, p, np, bid, ask, d, f, nslot
        cdef int side
        cdef uint64_t old_ref
        cdef uint32_t sh, r
        if self.live_n[s] == 0:
            return 0
        slot = self._pick(s)
        side = self.o_side[slot]
        p = self.o_px[slot]
        f = self.fair[s]
        r = <uint32_t>(self._next() >> 48)
        if r < 22937:
            d = 0
        elif r < 49152:
            d = 1
        else:
            d = 2 + <int32_t>self._below(4)
        # move toward the fair value two times in three
        if d and ((f > p) == (self._below(3) != 0)):
            np = p + d
        else:
            np = p - d
        bid = self.best[2 * s]
        ask = self.best[2 * s + 1]
        if side == 0:
            if ask >= 0 and np >= ask:
                np = ask - 1
        else:
            if bid >= 0 and np <= bid:
                np = bid + 1
        if np < 0:
            np = 0
        if np >= GRID_W:
            np = GRID_W - 1
        sh = self.o_sh[slot] if self._chance(36044) else self._size(s)
        old_ref = self.o_ref[slot]
        self._remove(slot)
        nslot = self._add(s, side, np, sh)
        if nslot < 0:
            return 1
        self._header(b'U', s, ts)
        tw_put_be64(self.msg + 11, old_ref)
        tw_put_be64(self.msg + 19, self.o_ref[nslot])
        tw_put_be32(self.msg + 27, sh)
        tw_put_be32(self.msg + 31, <uint32_t>((self.lo[s] + np) * 100))
        self._emit(35, ts)
        return 1

    cdef void _do_trade(self, int s, uint64_t ts) noexcept nogil:
        """Non-cross trade against a hidden order: priced inside the spread, reference 0, side 'B'."""
        cdef int32_t bid = self.best[2 * s], ask = self.best[2 * s + 1], p
        if bid >= 0 and ask >= 0:
            p = bid + <int32_t>self._below(ask - bid + 1)
        elif bid >= 0:
            p = bid
        elif ask >= 0:
            p = ask
        else:
            p = self.fair[s]
        self._header(b'P', s, ts)
        tw_put_be64(self.msg + 11, 0)
        self.msg[19] = 66                        # 'B' (always, since 2014)
        tw_put_be32(self.msg + 20, self._size(s))
        memcpy(self.msg + 24, self.ticker + 8 * s, 8)
        tw_put_be32(self.msg + 32, <uint32_t>((self.lo[s] + p) * 100))
        tw_put_be64(self.msg + 36, self.match_next)
        self.match_next += 1
        self._emit(44, ts)

    cdef void _do_sched(self, uint64_t ts) noexcept nogil:
        cdef int64_t i = self.sched_i
        cdef int kind = self.sched_kind[i], s = self.sched_arg[i]
        cdef uint8_t cross = self.sched_x[i]
        cdef uint64_t paired, imb, shares
        cdef uint32_t ref, r
        cdef int32_t mid
        self.sched_i += 1
        ts = self.sched_ts[i] if self.sched_ts[i] > self.last_ts else self.last_ts
        if kind == 0:
            self._sys(<uint8_t>s, ts)
            return
        mid = self._mid_index(s)
        ref = <uint32_t>((self.lo[s] + mid) * 100)
        if kind == 1:
            # Net Order Imbalance Indicator ahead of the open / close cross
            self._header(b'I', s, ts)
            self.msg[3] = 0
            self.msg[4] = 0
            r = self._below(100)
            paired = 100 * (<uint64_t>self._below(self.xlots[s]) + 10)
            imb = 0 if r < 15 else 100 * (<uint64_t>self._below(self.xlots[s] // 4 + 1) + 1)
            tw_put_be64(self.msg + 11, paired)
            tw_put_be64(self.msg + 19, imb)
            self.msg[27] = 78 if r < 10 else (79 if r < 15 else (66 if r < 58 else 83))   # N O B S
            memcpy(self.msg + 28, self.ticker + 8 * s, 8)
            tw_put_be32(self.msg + 36, ref + 100 * (self._below(21)) - 1000 if ref > 1000 else ref)
            tw_put_be32(self.msg + 40, ref + 100 * (self._below(7)) - 300 if ref > 300 else ref)
            tw_put_be32(self.msg + 44, ref)
            self.msg[48] = cross
            r = self._below(100)
            self.msg[49] = 76 if r < 70 else (32 if r < 80 else 49 + self._below(9))   # 'L', ' ', '1'..'9'
            self._emit(50, ts)
        else:
            # Cross trade: the opening / closing print; some thin names cross nothing (0 shares, price 0)
            r = self._below(100)
            shares = 0 if r < 8 else 100 * (<uint64_t>self._below(self.xlots[s]) + 1)
            self._header(b'Q', s, ts)
            tw_put_be64(self.msg + 11, shares)
            memcpy(self.msg + 19, self.ticker + 8 * s, 8)
            tw_put_be32(self.msg + 27, ref if shares else 0)
            tw_put_be64(self.msg + 31, self.match_next)
            self.match_next += 1
            self.msg[39] = cross
            self._emit(40, ts)

    cdef void _body_step(self) noexcept nogil:
        cdef uint64_t t, slotlen
        cdef int s, tries
        cdef uint32_t r
        cdef bint ok
        if self.body_i >= self.n_body:
            if self.sched_i < self.n_sched:
                self._do_sched(self.last_ts)
            else:
                self.phase = PH_E
            return
        if not self.have_t:
            while self.bin_k >= self.bin_n[self.bin_i]:
                self.bin_i += 1
                self.bin_k = 0
            self.follow = self.body_i > 0 and self._chance(39322)      # ~60 % ride on a burst
            if self.follow:
                t = self.last_ts + 20 + self._below(1500)
            else:
                slotlen = BIN_NS // <uint64_t>self.bin_n[self.bin_i]
                t = (T_S + <uint64_t>self.bin_i * BIN_NS + <uint64_t>self.bin_k * slotlen
                     + (((self._next() >> 40) * slotlen) >> 24))
            self.bin_k += 1
            self.next_t = t if t > self.last_ts else self.last_ts
            self.have_t = 1
        if self.sched_i < self.n_sched and self.sched_ts[self.sched_i] <= self.next_t:
            self._do_sched(self.last_ts)
            return
        self.have_t = 0
        t = self.next_t
        self.body_i += 1
        if self.sweep_left:
            s = self.sweep_sym
            if self._do_exec(s, 0, t):
                self.last_sym = s
                return
        if self.follow and self._chance(49152):
            s = self.last_sym
        else:
            s = self._zipf()
        if self._chance(self.drift_p16[s]):
            if self._next() >> 63:
                if self.fair[s] < GRID_W - 1 - GRID_MARGIN:
                    self.fair[s] += 1
            elif self.fair[s] > GRID_MARGIN:
                self.fair[s] -= 1
        r = <uint32_t>(self._next() >> 48)
        if r >= CUT_X:
            self._do_trade(s, t)
        elif r < CUT_F or self.live_n[s] < self.floor[s]:
            self._do_add(s, t)
        else:
            # removals on an empty book: try other symbols, then add instead
            tries = 0
            while True:
                if r < CUT_D:
                    ok = self._do_delete(s, t)
                elif r < CUT_U:
                    ok = self._do_replace(s, t)
                elif r < CUT_E:
                    ok = self._do_exec(s, 0, t)
                elif r < CUT_C:
                    ok = self._do_exec(s, 1, t)
                else:
                    ok = self._do_cancel(s, t)
                if ok:
                    break
                tries += 1
                if tries == 4:
                    self._do_add(s, t)
                    break
                s = self._zipf()
        self.last_sym = s

    cdef void _step(self) noexcept nogil:
        cdef int64_t i = self.phase_i
        cdef int s
        cdef uint8_t *d
        cdef uint64_t ts
        if self.phase == PH_BODY:
            self._body_step()
        elif self.phase == PH_O:
            self._sys(b'O', T_O + self._below(50000000))
            self.phase = PH_DIR
            self.phase_i = 0
        elif self.phase == PH_DIR:
            ts = (T_DIR if i == 0 else self.last_ts) + 20000 + self._below(100000)
            d = self.dir_msgs + i * (R_LEN + H_LEN + Y_LEN)
            memcpy(self.msg, d, R_LEN)
            tw_put_be48(self.msg + 5, ts)
            self._emit(R_LEN, ts)
            self.phase_i += 1
            if self.phase_i == self.nsym:
                self.phase = PH_HY
                self.phase_i = 0
                self.phase_sub = 0
        elif self.phase == PH_HY:
            ts = (T_HY if (i == 0 and self.phase_sub == 0) else self.last_ts) + 5000 + self._below(60000)
            d = self.dir_msgs + i * (R_LEN + H_LEN + Y_LEN) + R_LEN
            if self.phase_sub == 0:
                memcpy(self.msg, d, H_LEN)
                tw_put_be48(self.msg + 5, ts)
                self._emit(H_LEN, ts)
                if self.has_y[i]:
                    self.phase_sub = 1
                else:
                    self.phase_i += 1
            else:
                memcpy(self.msg, d + H_LEN, Y_LEN)
                tw_put_be48(self.msg + 5, ts)
                self._emit(Y_LEN, ts)
                self.phase_sub = 0
                self.phase_i += 1
            if self.phase_i == self.nsym:
                self.phase = PH_S
        elif self.phase == PH_S:
            self._sys(b'S', T_S + self._below(20000))
            self.phase = PH_BODY
        elif self.phase == PH_E:
            self._sys(b'E', T_E if T_E > self.last_ts else self.last_ts)
            self.phase = PH_C
        elif self.phase == PH_C:
            self._sys(b'C', T_C if T_C > self.last_ts else self.last_ts)
            self.phase = PH_EOS if self.pcap else PH_DONE
        elif self.phase == PH_EOS:
            self._emit_eos()
            self.phase = PH_DONE


cdef bint _grow(void **p, int32_t n, int size) noexcept nogil:
    cdef void *q = realloc(p[0], <size_t>n * size)
    if q == NULL:
        return 0
    p[0] = q
    return 1


# ----------------------------------------------------------- budget ----
def cross_budget(int64_t messages, int symbols):
    """(symbols with an opening and closing cross, symbols with NOII snapshots) for a day size."""
    n_cross = min(symbols, max(1, messages // 200))
    n_noii = min(n_cross, 64, max(1, messages // 20000))
    return n_cross, n_noii


def min_messages(int symbols):
    """Smallest ``messages`` a day of ``symbols`` symbols accepts (the body must be >= half the day)."""
    return max(1000, 2 * (5 * symbols + 800))


# -------------------------------------------------------------- API ----
def generate_day(path, int64_t messages, int symbols, seed, bint pcap=False, *, session=b"TWSYNTH001",
                 group="233.54.12.111", int port=26477, date="2025-01-02", int pcap_window_us=200,
                 int gzip_level=1, int chunk=8 << 20):
    """Write a deterministic synthetic ITCH 5.0 day to ``path``; returns a summary dict.

    binaryFILE (``[uint16 BE length][message]...``; gzip when ``path`` ends in ``.gz``) or, with
    ``pcap``, a nanosecond pcap of Ethernet/IPv4/UDP/MoldUDP64 packets to ``group:port``.
    The same arguments always give byte-identical files.

    Returns
    -------
    dict : path, messages, symbols, seed, pcap, counts (type -> n), bytes (file size),
        raw_bytes (before gzip), packets (pcap records), seconds, live_orders_end, max_live_orders.
    """
    import datetime as dt
    import gzip

    from lab import pcapwrite

    if isinstance(session, str):
        session = session.encode()
    if len(session) > 10 or not session.isascii():
        raise ValueError(f"MoldUDP64 session must be at most 10 ASCII characters, not {session!r}")
    session = bytes(session).ljust(10)
    tmpl = pcapwrite.header_template(group=group, port=port) if pcap else None
    epoch = pcapwrite.eastern_midnight_utc_ns(dt.date.fromisoformat(date)) if pcap else 0
    gen = DayGen(messages, symbols, seed, pcap=pcap, header_template=tmpl, session=session,
                 window_ns=pcap_window_us * 1000, epoch_ns=epoch)
    path = os.fspath(path)
    t0 = time.perf_counter()
    buf = bytearray(max(chunk, 1 << 16))
    view = memoryview(buf)
    raw = 0
    raw_file = open(path, "wb")
    try:
        out = (gzip.GzipFile(filename="", mode="wb", fileobj=raw_file, mtime=0, compresslevel=gzip_level)
               if path.endswith(".gz") else raw_file)
        try:
            if pcap:
                out.write(pcapwrite.GLOBAL_HEADER)
                raw += len(pcapwrite.GLOBAL_HEADER)
            while True:
                n = gen.fill(buf)
                if n == 0:
                    break
                out.write(view[:n])
                raw += n
        finally:
            if out is not raw_file:
                out.close()
    finally:
        raw_file.close()
    seconds = time.perf_counter() - t0
    if gen.emitted != messages:
        raise RuntimeError(f"generator wrote {gen.emitted} messages, expected {messages}")
    return {
        "path": path, "messages": int(gen.emitted), "symbols": symbols, "seed": int(seed), "pcap": bool(pcap),
        "counts": gen.counts, "bytes": os.path.getsize(path), "raw_bytes": raw,
        "packets": int(gen.packets), "seconds": seconds,
        "live_orders_end": int(gen.live_orders), "max_live_orders": int(gen.max_live_orders),
    }
