"""ITCH 5.0 message encoders and random message streams (tests, benches, examples).

Encoders return one message without its length prefix; ``binaryfile`` frames a list of them.
``random_stream`` makes streams that exercise every fault path (unknown refs, duplicates,
over-executions, zero shares, bad sides, refs over the cap, locate 0 ...); ``consistent_stream``
makes valid streams whose books never cross (every modify names a live order, bids below the
best ask, asks above the best bid).
"""
import struct

__all__ = ["add", "execute", "execute_px", "cancel", "delete", "replace", "trade", "cross", "broken",
           "directory", "trading_action", "system_event", "binaryfile", "random_stream", "consistent_stream"]


def _hdr(t: bytes, loc: int, ts: int, track: int = 0) -> bytes:
    return t + struct.pack(">HH", loc, track) + ts.to_bytes(6, "big")


def _stock(s) -> bytes:
    s = s.encode() if isinstance(s, str) else s
    return s.ljust(8)[:8]


def add(ref, side, shares, price, loc=1, stock="TEST", ts=0, mpid=None) -> bytes:
    """'A' (or 'F' when ``mpid`` is given) add order."""
    side = side.encode() if isinstance(side, str) else side
    body = struct.pack(">Qc", ref, side) + struct.pack(">I", shares) + _stock(stock) + struct.pack(">I", price)
    if mpid is None:
        return _hdr(b"A", loc, ts) + body
    return _hdr(b"F", loc, ts) + body + _stock(mpid)[:4]


def execute(ref, shares, match=0, loc=1, ts=0) -> bytes:
    return _hdr(b"E", loc, ts) + struct.pack(">QIQ", ref, shares, match)


def execute_px(ref, shares, price, printable=True, match=0, loc=1, ts=0) -> bytes:
    return _hdr(b"C", loc, ts) + struct.pack(">QIQcI", ref, shares, match, b"Y" if printable else b"N", price)


def cancel(ref, shares, loc=1, ts=0) -> bytes:
    return _hdr(b"X", loc, ts) + struct.pack(">QI", ref, shares)


def delete(ref, loc=1, ts=0) -> bytes:
    return _hdr(b"D", loc, ts) + struct.pack(">Q", ref)


def replace(ref, new_ref, shares, price, loc=1, ts=0) -> bytes:
    return _hdr(b"U", loc, ts) + struct.pack(">QQII", ref, new_ref, shares, price)


def trade(shares, price, match=0, side="B", ref=0, loc=1, stock="TEST", ts=0) -> bytes:
    side = side.encode() if isinstance(side, str) else side
    return _hdr(b"P", loc, ts) + struct.pack(">Qc", ref, side) + struct.pack(">I", shares) + _stock(stock) \
        + struct.pack(">IQ", price, match)


def cross(shares, price, match=0, cross_type="O", loc=1, stock="TEST", ts=0) -> bytes:
    return _hdr(b"Q", loc, ts) + struct.pack(">Q", shares) + _stock(stock) + struct.pack(">IQ", price, match) \
        + cross_type.encode()


def broken(match, loc=1, ts=0) -> bytes:
    return _hdr(b"B", loc, ts) + struct.pack(">Q", match)


def directory(loc, stock, market_category="Q", round_lot=100, ts=0) -> bytes:
    return (_hdr(b"R", loc, ts) + _stock(stock) + market_category.encode() + b"N" + struct.pack(">I", round_lot)
            + b"NCZ PNN1N" + struct.pack(">I", 0) + b"N")


def trading_action(loc, stock, state="T", reason="    ", ts=0) -> bytes:
    return _hdr(b"H", loc, ts) + _stock(stock) + state.encode() + b" " + reason.encode().ljust(4)[:4]


def system_event(code="O", ts=0) -> bytes:
    return _hdr(b"S", 0, ts) + code.encode()


def binaryfile(msgs) -> bytes:
    """Frame messages as binaryFILE: [uint16 BE length][message] ..."""
    return b"".join(struct.pack(">H", len(m)) + m for m in msgs)


def random_stream(rng, n, n_refs=12, n_locates=3, prices=(9_900, 10_000, 10_100, 10_200), big_ref=None):
    """``n`` messages over a small ref space, valid and invalid alike (every fault path gets hit)."""
    out = []
    for i in range(n):
        ts = 1_000 * (i + 1)
        loc = rng.randint(1, n_locates) if rng.random() > 0.03 else rng.choice([0, n_locates + 1])
        ref = rng.randint(1, n_refs) if big_ref is None or rng.random() > 0.03 else big_ref
        px = rng.choice(prices) if rng.random() > 0.03 else 0
        sh = rng.choice([1, 50, 100, 300]) if rng.random() > 0.05 else 0
        k = rng.random()
        if k < 0.35:
            side = rng.choice("BS") if rng.random() > 0.03 else "Z"
            out.append(add(ref, side, sh, px, loc, ts=ts, mpid="MPID" if rng.random() < 0.2 else None))
        elif k < 0.47:
            out.append(execute(ref, sh, match=i, loc=loc, ts=ts))
        elif k < 0.53:
            out.append(execute_px(ref, sh, px, rng.random() < 0.7, match=i, loc=loc, ts=ts))
        elif k < 0.62:
            out.append(cancel(ref, sh, loc, ts=ts))
        elif k < 0.75:
            out.append(delete(ref, loc, ts=ts))
        elif k < 0.88:
            new = rng.randint(1, n_refs) if big_ref is None or rng.random() > 0.03 else big_ref
            out.append(replace(ref, new, sh, px, loc, ts=ts))
        elif k < 0.92:
            out.append(trade(sh, px, match=i, loc=loc, ts=ts))
        elif k < 0.94:
            out.append(cross(sh, px, match=i, loc=loc, ts=ts))
        elif k < 0.96:
            out.append(broken(i, loc, ts=ts))
        elif k < 0.98:
            out.append(directory(loc, f"SYM{loc}", ts=ts))
        else:
            out.append(trading_action(loc, f"SYM{loc}", rng.choice("HPQT"), ts=ts))
    return out


def consistent_stream(rng, n, n_locates=3, mid=100_000, tick=100, max_depth=6):
    """``n`` valid messages: every E/C/X/D/U names a live order with enough shares; books never cross."""
    live = {}                                  # ref -> [loc, side, shares, price]
    best = {}                                  # (loc, side) -> {price: count}
    next_ref = 1
    out = []

    def levels(loc, side):
        return best.setdefault((loc, side), {})

    def put(loc, side, price, d):
        lv = levels(loc, side)
        lv[price] = lv.get(price, 0) + d
        if lv[price] == 0:
            del lv[price]

    def valid_price(loc, side):
        bids, asks = levels(loc, "B"), levels(loc, "S")
        if side == "B":
            top = min(asks) - tick if asks else mid + max_depth * tick
            return top - tick * rng.randint(0, max_depth)
        bottom = max(bids) + tick if bids else mid - max_depth * tick
        return bottom + tick * rng.randint(0, max_depth)

    for i in range(n):
        ts = 1_000 * (i + 1)
        k = rng.random()
        if not live or k < 0.4:
            loc, side = rng.randint(1, n_locates), rng.choice("BS")
            price, sh = valid_price(loc, side), rng.choice([1, 100, 200, 500])
            if price <= 0:
                continue
            out.append(add(next_ref, side, sh, price, loc, ts=ts))
            live[next_ref] = [loc, side, sh, price]
            put(loc, side, price, 1)
            next_ref += 1
            continue
        ref = rng.choice(list(live))
        loc, side, sh, price = live[ref]
        if k < 0.6:
            out.append(delete(ref, loc, ts=ts))
            q = sh
        elif k < 0.75:
            q = rng.randint(1, sh)
            out.append(execute(ref, q, match=i, loc=loc, ts=ts))
        elif k < 0.8:
            q = rng.randint(1, sh)
            out.append(execute_px(ref, q, price, rng.random() < 0.8, match=i, loc=loc, ts=ts))
        elif k < 0.9:
            q = rng.randint(1, sh)
            out.append(cancel(ref, q, loc, ts=ts))
        else:
            put(loc, side, price, -1)
            del live[ref]
            new_price = valid_price(loc, side)
            if new_price <= 0:
                new_price = price
            new_sh = rng.choice([1, 100, 300])
            out.append(replace(ref, next_ref, new_sh, new_price, loc, ts=ts))
            live[next_ref] = [loc, side, new_sh, new_price]
            put(loc, side, new_price, 1)
            next_ref += 1
            continue
        live[ref][2] -= q
        if live[ref][2] == 0:
            put(loc, side, price, -1)
            del live[ref]
    return out
