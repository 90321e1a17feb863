"""A deliberately naive ITCH 5.0 book (pure Python) with BookBuilder's exact semantics and fault policies.

Used by the tests for differential testing: the same messages go through ``BookBuilder`` and
``ReferenceBook`` and every result code, event, counter and final depth must agree. Nothing here is
fast or clever: dicts of orders, a ``SortedDict`` of price -> insertion-ordered dict (FIFO) per side,
level aggregates summed on demand.
"""
import struct

from sortedcontainers import SortedDict

from book import codes as C

DEFAULT_MAX_REF = (1 << 34) - 1
ITCH_LEN = {b"S": 12, b"R": 39, b"H": 25, b"Y": 20, b"L": 26, b"V": 35, b"W": 12, b"K": 28, b"J": 35, b"h": 21,
            b"A": 36, b"F": 40, b"E": 31, b"C": 36, b"X": 23, b"D": 19, b"U": 35, b"P": 44, b"Q": 40, b"B": 19,
            b"I": 50, b"N": 20, b"O": 48}
B, S = 0, 1


def u(m, off, n):
    return int.from_bytes(m[off:off + n], "big")


class ReferenceBook:
    def __init__(self, track_bbo=True, record_events=True, max_ref=DEFAULT_MAX_REF, max_locates=65536):
        self.track_bbo, self.record_events = track_bbo, record_events
        self.max_ref, self.max_locates = max_ref, max_locates
        self.orders = {}            # ref -> [locate, side, price, shares]
        self.books = {}             # locate -> (bids, asks): SortedDict price -> {ref: None} (FIFO)
        self.pub = {}               # locate -> [(bid_px, bid_sz), (ask_px, ask_sz)] last published
        self.info = {}              # locate -> dict
        self.msgs = {}
        self.events = []
        self._types = {}
        self.c = dict.fromkeys(["messages", "unknown_refs", "duplicate_adds", "over_executions", "over_cancels",
                                "rejected_adds", "bad_refs", "bad_locates", "replace_onto_live", "zero_share_mods",
                                "locate_mismatches", "no_memory", "bad_messages", "bbo_changes", "trades",
                                "broken_trades", "empty_crosses", "crossed_events", "events_dropped", "callback_errors",
                                "frames_skipped"], 0)

    # ---------------------------------------------------------------- book primitives ----
    def _book(self, loc):
        if loc not in self.books:
            self.books[loc] = (SortedDict(), SortedDict())
            self.pub[loc] = [(0, 0), (0, 0)]
        return self.books[loc]

    def _inf(self, loc):
        return self.info.setdefault(loc, {"symbol": None, "has_directory": False, "trading_state": "",
                                          "reg_sho": "", "last_trade": (0, 0, 0, 0)})

    def _best(self, loc, s):
        side = self._book(loc)[s]
        if not side:
            return 0, 0
        px = side.peekitem(-1 if s == B else 0)[0]
        return px, sum(self.orders[r][3] for r in side[px])

    def _remove(self, ref):
        loc, s, px, _ = self.orders.pop(ref)
        level = self._book(loc)[s][px]
        del level[ref]
        if not level:
            del self._book(loc)[s][px]

    def _insert(self, loc, s, ref, shares, px):
        self.orders[ref] = [loc, s, px, shares]
        self._book(loc)[s].setdefault(px, {})[ref] = None     # appended: back of the FIFO

    def _touch(self, loc, s, seq, ts):
        if not self.track_bbo:
            return
        now = self._best(loc, s)
        if now == self.pub[loc][s]:
            return
        self.pub[loc][s] = now
        self.c["bbo_changes"] += 1
        if self.record_events:
            self.events.append((1, ord("BS"[s]), loc, 0, seq, ts) + self._bbo4(loc) + (0, 0))

    def _bbo4(self, loc):
        (bp, bs), (ap, az) = self._best(loc, B), self._best(loc, S)
        return bp, ap, bs, az

    def _trade(self, loc, side, px, qty, match, seq, ts):
        self.c["trades"] += 1
        self._inf(loc)["last_trade"] = (px, qty, match, ts)
        if self.record_events:
            self.events.append((2, side, loc, px, seq, ts) + self._bbo4(loc) + (qty, match))

    def _crossed(self, loc):
        (bp, _), (ap, _) = self._best(loc, B), self._best(loc, S)
        return bool(bp and ap and bp >= ap)

    def _set_symbol(self, loc, raw):
        inf = self._inf(loc)
        if inf["symbol"] is None:
            inf["symbol"] = raw.decode("ascii", "replace").rstrip(" \x00")

    # ---------------------------------------------------------------- messages ----
    def apply_message(self, m, seq=0):
        m = bytes(m)
        if not m or ITCH_LEN.get(m[:1]) != len(m):
            self.c["bad_messages"] += 1
            return C.BAD_MESSAGE
        return self.on_message(m, seq)

    def on_message(self, m, seq):
        t, loc, ts = m[:1], u(m, 1, 2), u(m, 5, 6)
        self.c["messages"] += 1
        self._types[t.decode()] = self._types.get(t.decode(), 0) + 1
        if loc >= self.max_locates:
            self.c["bad_locates"] += 1
            return C.LOCATE_OUT_OF_RANGE
        self.msgs[loc] = self.msgs.get(loc, 0) + 1
        rc = C.OK
        if t in b"AF":
            ref, sc, shares, px = u(m, 11, 8), m[19:20], u(m, 20, 4), u(m, 32, 4)
            if loc == 0:
                self.c["bad_locates"] += 1
                return C.LOCATE_OUT_OF_RANGE
            for bad, code in ((sc not in (b"B", b"S"), C.BAD_SIDE), (shares == 0, C.ZERO_SHARES),
                              (px == 0, C.ZERO_PRICE), (ref == 0, C.ZERO_REF)):
                if bad:
                    self.c["rejected_adds"] += 1
                    return code
            if ref > self.max_ref:
                self.c["bad_refs"] += 1
                return C.REF_OUT_OF_RANGE
            self._set_symbol(loc, m[24:32])
            s = B if sc == b"B" else S
            touched = []
            if ref in self.orders:
                self.c["duplicate_adds"] += 1
                rc = C.DUPLICATE_ADD
                touched.append(tuple(self.orders[ref][:2]))
                self._remove(ref)
            self._insert(loc, s, ref, shares, px)
            self._touch_all(touched + [(loc, s)], seq, ts)
        elif t in b"ECXD":
            ref = u(m, 11, 8)
            if ref not in self.orders:
                key = "bad_refs" if ref > self.max_ref else "unknown_refs"
                self.c[key] += 1
                return C.REF_OUT_OF_RANGE if ref > self.max_ref else C.UNKNOWN_REF
            o = self.orders[ref]
            oloc, s, px = o[0], o[1], o[2]
            if oloc != loc:
                self.c["locate_mismatches"] += 1
            if t == b"D":
                self._remove(ref)
            else:
                q = u(m, 19, 4)
                if q == 0:
                    self.c["zero_share_mods"] += 1
                    return C.ZERO_SHARES_MOD
                done = min(q, o[3])
                if q > o[3]:
                    self.c["over_cancels" if t == b"X" else "over_executions"] += 1
                    rc = C.OVER_CANCEL if t == b"X" else C.OVER_EXECUTION
                o[3] -= done
                if o[3] == 0:
                    self._remove(ref)
                side = ord("BS"[s])
                if t == b"E":
                    self._trade(oloc, side, px, done, u(m, 23, 8), seq, ts)
                elif t == b"C" and m[31:32] == b"Y":
                    self._trade(oloc, side, u(m, 32, 4), done, u(m, 23, 8), seq, ts)
            self._touch_all([(oloc, s)], seq, ts)
        elif t == b"U":
            ref, new, shares, px = u(m, 11, 8), u(m, 19, 8), u(m, 27, 4), u(m, 31, 4)
            if ref not in self.orders:
                key = "bad_refs" if ref > self.max_ref else "unknown_refs"
                self.c[key] += 1
                return C.REF_OUT_OF_RANGE if ref > self.max_ref else C.UNKNOWN_REF
            if new > self.max_ref:
                self.c["bad_refs"] += 1
                return C.REF_OUT_OF_RANGE
            if shares == 0 or px == 0 or new == 0:
                self.c["rejected_adds"] += 1
                return C.ZERO_SHARES if shares == 0 else C.ZERO_PRICE if px == 0 else C.ZERO_REF
            oloc, s = self.orders[ref][:2]
            self._remove(ref)
            touched = []
            if new in self.orders:
                self.c["replace_onto_live"] += 1
                rc = C.REPLACE_ONTO_LIVE
                touched.append(tuple(self.orders[new][:2]))
                self._remove(new)
            self._insert(oloc, s, new, shares, px)
            self._touch_all(touched + [(oloc, s)], seq, ts)
        elif t == b"P":
            self._set_symbol(loc, m[24:32])
            self._trade(loc, m[19], u(m, 32, 4), u(m, 20, 4), u(m, 36, 8), seq, ts)
        elif t == b"Q":
            self._set_symbol(loc, m[19:27])
            if u(m, 11, 8) == 0:
                self.c["empty_crosses"] += 1
                return rc
            self._trade(loc, 0, u(m, 27, 4), u(m, 11, 8), u(m, 31, 8), seq, ts)
        elif t == b"B":
            self.c["broken_trades"] += 1
        elif t == b"R":
            inf = self._inf(loc)
            inf["symbol"] = m[11:19].decode("ascii", "replace").rstrip(" \x00")
            inf["has_directory"] = True
        elif t in b"HYKJhNO":
            self._set_symbol(loc, m[11:19])
            if t == b"H":
                self._inf(loc)["trading_state"] = chr(m[19])
            elif t == b"Y":
                self._inf(loc)["reg_sho"] = chr(m[19])
        elif t == b"L":
            self._set_symbol(loc, m[15:23])
        elif t == b"I":
            self._set_symbol(loc, m[28:36])
        return rc

    def _touch_all(self, touched, seq, ts):
        seen = []
        for key in touched:
            if key not in seen:
                seen.append(key)
                self._touch(key[0], key[1], seq, ts)

    def apply_binaryfile(self, buf, start=0):
        buf, off, seq = bytes(buf), start, 0
        while off + 2 <= len(buf):
            n = u(buf, off, 2)
            if off + 2 + n > len(buf):
                break
            m = buf[off + 2:off + 2 + n]
            off += 2 + n
            seq += 1
            if n == 0 or ITCH_LEN.get(m[:1]) != n:
                self.c["frames_skipped"] += 1
                continue
            self.on_message(m, seq)
        return off

    # ---------------------------------------------------------------- queries (BookBuilder's API) ----
    def drain_events(self):
        ev, self.events = self.events, []
        return ev

    def bbo(self, loc):
        if loc not in self.books:
            return 0, 0, 0, 0, 0, 0
        out = []
        for s in (B, S):
            px, sz = self._best(loc, s)
            out += [px, sz, len(self.books[loc][s][px]) if px else 0]
        return tuple(out)

    def depth(self, loc, n=10):
        if loc not in self.books:
            return [], []
        res = []
        for s in (B, S):
            side = self.books[loc][s]
            prices = list(reversed(side.keys())) if s == B else list(side.keys())
            res.append([(p, sum(self.orders[r][3] for r in side[p]), len(side[p])) for p in prices[:n]])
        return tuple(res)

    def orders_at(self, loc, side, price):
        s = B if side in ("B", b"B", 0, 66) else S
        level = self.books.get(loc, ({}, {}))[s].get(price, {})
        return [(r, self.orders[r][3]) for r in level]

    def order(self, ref):
        if ref not in self.orders:
            return None
        loc, s, px, sh = self.orders[ref]
        return {"ref": ref, "locate": loc, "side": "BS"[s], "price": px, "shares": sh}

    def symbol(self, loc):
        return self.info.get(loc, {}).get("symbol")

    def locate_of(self, symbol):
        symbol = symbol.decode() if isinstance(symbol, bytes) else symbol
        return min((loc for loc, i in self.info.items() if i["symbol"] == symbol.strip()), default=None)

    def symbol_info(self, loc):
        return dict(self._inf(loc), messages=self.msgs.get(loc, 0),
                    orders=sum(1 for o in self.orders.values() if o[0] == loc))

    @property
    def live_orders(self):
        return len(self.orders)

    @property
    def book_count(self):
        locs = {o[0] for o in self.orders.values()} | {k for k, i in self.info.items() if i["has_directory"]}
        return len(locs)

    def message_count(self, loc):
        return self.msgs.get(loc, 0)

    def most_active(self, n=10):
        return [loc for loc, c in sorted(self.msgs.items(), key=lambda kv: (-kv[1], kv[0]))[:n] if c]

    def locates(self):
        return sorted({o[0] for o in self.orders.values()} | {k for k, i in self.info.items() if i["has_directory"]})

    def type_counts(self):
        return dict(sorted(self._types.items()))

    def crossed_books(self):
        return sum(1 for loc in self.books if self._crossed(loc))

    def counters(self):
        return dict(self.c, live_orders=len(self.orders))
