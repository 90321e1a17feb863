# cython: language_level=3
"""pcap / pcapng reader as a zero-copy PacketSource (see pcap_source.pxd).

Errors: a record or block whose header or body runs past the end of the file stops the source with
PCAP_E_TRUNCATED and its byte offset (the frames before it were handed out); an invalid pcapng
block (length < 12, not a multiple of 4, trailing length mismatch) or a record larger than 256 KiB
gives PCAP_E_BAD_BLOCK. ``rx_burst`` then returns SRC_E_IO and ``raise_error()`` raises FeedError.
Frames that are not IPv4/UDP or not for the wanted group/port count in ``dropped_filter``
(split into ``dropped_linktype``, ``dropped_not_udp``, ``dropped_dest``, with the filtered destinations
in ``filtered_destinations()``); malformed headers in ``dropped_bad``, of which ``dropped_snaplen``
are records cut by the capture's snaplen (captured length < original length).
"""
import mmap
import os
import socket
import struct

from libc.string cimport memcpy
from libc.stdint cimport int64_t

from core.compiler cimport tw_unlikely, tw_likely
from core.endian cimport tw_be16, tw_be32
from core.codes cimport *
from datapath.batch cimport Frame, PacketSource, SRC_E_END, SRC_E_IO, SRC_E_CLOSED
from datapath.packet cimport (UdpView, udp_parse_ether, udp_parse_ip, udp_accept, PKT_OK, PKT_E_FILTERED,
                              PKT_E_NOT_IPV4, PKT_E_NOT_UDP)

from core.codes import FeedError

__all__ = ["PcapSource", "open_source", "sniff_capture"]

cdef extern from *:
    """
    static inline uint32_t tw_rd32(const uint8_t *p, int sw) { uint32_t v; memcpy(&v, p, 4); return sw ? __builtin_bswap32(v) : v; }
    static inline uint16_t tw_rd16(const uint8_t *p, int sw) { uint16_t v; memcpy(&v, p, 2); return sw ? __builtin_bswap16(v) : v; }
    /* pcapng timestamp units -> ns: if_tsresol bit 7 = power of 2, else power of 10 */
    static inline uint64_t tw_ts_ns(uint64_t ts, uint8_t res) {
        static const uint64_t p10[20] = {1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
            100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
            100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
            1000000000000000000ULL, 10000000000000000000ULL};
        if (res & 0x80) {
            unsigned k = res & 0x7F;
            if (k >= 64) return 0;
            uint64_t sec = ts >> k, frac = ts - (sec << k);
            return sec * 1000000000ULL + (uint64_t)(((unsigned __int128)frac * 1000000000ULL) >> k);
        }
        if (res <= 9) return ts * p10[9 - res];
        if (res <= 28) return ts / p10[res - 9 > 19 ? 19 : res - 9];
        return 0;
    }
    """
    uint32_t tw_rd32(const uint8_t *p, int sw) noexcept nogil
    uint16_t tw_rd16(const uint8_t *p, int sw) noexcept nogil
    uint64_t tw_ts_ns(uint64_t ts, uint8_t res) noexcept nogil

cdef enum:
    LT_NULL = 0
    LT_ETHERNET = 1
    LT_RAW = 101
    LT_LINUX_SLL = 113
    LT_IPV4 = 228
    LT_LINUX_SLL2 = 276
    LT_UNSUPPORTED = 0xFFFF

    BT_SHB = 0x0A0D0D0A
    BT_IDB = 1
    BT_SPB = 3
    BT_EPB = 6

PCAP_MAGICS = {0xa1b2c3d4: ("pcap", "us"), 0xa1b23c4d: ("pcap", "ns")}


cdef inline bint linktype_ok(uint32_t lt) noexcept nogil:
    return lt == LT_ETHERNET or lt == LT_RAW or lt == LT_IPV4 or lt == LT_LINUX_SLL or lt == LT_LINUX_SLL2 \
        or lt == LT_NULL


cdef inline int parse_link(const uint8_t *p, uint32_t n, uint32_t lt, UdpView *v) noexcept nogil:
    cdef uint32_t fam
    if lt == LT_ETHERNET:
        return udp_parse_ether(p, n, v)
    v.vlan = 0
    if lt == LT_RAW or lt == LT_IPV4:
        return udp_parse_ip(p, n, v)
    if lt == LT_LINUX_SLL:
        if n < 16:
            return -1
        if tw_be16(p + 14) != 0x0800:
            return PKT_E_NOT_IPV4
        return udp_parse_ip(p + 16, n - 16, v)
    if lt == LT_LINUX_SLL2:
        if n < 20:
            return -1
        if tw_be16(p) != 0x0800:
            return PKT_E_NOT_IPV4
        return udp_parse_ip(p + 20, n - 20, v)
    if lt == LT_NULL:
        if n < 4:
            return -1
        fam = tw_rd32(p, 0)
        if fam != 2 and fam != 0x02000000:              # AF_INET in either byte order
            return PKT_E_NOT_IPV4
        return udp_parse_ip(p + 4, n - 4, v)
    return PKT_E_NOT_IPV4


cdef class PcapSource(PacketSource):
    """A pcap/pcapng file as a PacketSource.

    Parameters
    ----------
    path : str | os.PathLike, the capture file (mmapped read-only). Or ``data=`` bytes (tests).
    dst_port : int, keep only UDP datagrams to this port (0 = any).
    group : str | None, keep only datagrams to this IPv4 destination (multicast group), e.g. "233.54.12.111".

    Raises FeedError at open: PCAP_E_EMPTY, PCAP_E_BAD_MAGIC, PCAP_E_VERSION, PCAP_E_LINKTYPE (classic pcap),
    PCAP_E_TRUNCATED.
    """

    def __init__(self, path=None, *, data=None, int dst_port=0, group=None):
        cdef uint32_t magic
        if (path is None) == (data is None):
            raise TypeError("PcapSource needs exactly one of path= or data=")
        self.path = os.fspath(path) if path is not None else None
        if path is not None:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    raise FeedError(PCAP_E_EMPTY, f"{self.path}: empty file", 0)
                self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            self.mm = bytes(data)
            if len(self.mm) == 0:
                raise FeedError(PCAP_E_EMPTY, "empty capture", 0)
        self.view = self.mm
        self.base = &self.view[0]
        self.size = self.view.shape[0]
        self.dst_port = dst_port
        self.dst_ip = struct.unpack(">I", socket.inet_aton(group))[0] if group else 0
        if self.size < 4:
            raise FeedError(PCAP_E_EMPTY, f"{self.size} bytes: too short for a capture header", 0)
        magic = tw_rd32(self.base, 0)
        if magic == BT_SHB:
            self.fmt = FMT_PCAPNG
            self.position = 0                               # blocks are parsed by next_packet
            if self.size < 28:
                raise FeedError(PCAP_E_TRUNCATED, f"pcapng section header needs 28 bytes, file has {self.size}", 0)
        else:
            self.fmt = FMT_PCAP
            if magic == 0xa1b2c3d4 or magic == 0xd4c3b2a1:
                self.frac_mul = 1000
            elif magic == 0xa1b23c4d or magic == 0x4d3cb2a1:
                self.frac_mul = 1
            else:
                raise FeedError(PCAP_E_BAD_MAGIC, f"magic 0x{tw_be32(self.base):08x} is neither pcap "
                                                  f"(a1b2c3d4, a1b23c4d, either byte order) nor pcapng (0a0d0d0a)", 0)
            self.swapped = magic == 0xd4c3b2a1 or magic == 0x4d3cb2a1
            if self.size < 24:
                raise FeedError(PCAP_E_TRUNCATED, f"pcap global header needs 24 bytes, file has {self.size}", 0)
            if tw_rd16(self.base + 4, self.swapped) != 2:   # 2.4 today; 2.3 and 2.2 only in old files
                raise FeedError(PCAP_E_VERSION, f"pcap format version {tw_rd16(self.base + 4, self.swapped)}."
                                                f"{tw_rd16(self.base + 6, self.swapped)} is not 2.x", 4)
            self.linktype = tw_rd32(self.base + 20, self.swapped) & 0xFFFF
            if not linktype_ok(self.linktype):
                raise FeedError(PCAP_E_LINKTYPE, f"link type {self.linktype} is not supported (Ethernet 1, raw IPv4 "
                                                 f"101/228, Linux SLL 113, SLL2 276, BSD null 0)", 20)
            self.position = 24

    # ------------------------------------------------------------ parsing ----
    cdef int fail(self, int code, uint64_t off, uint64_t need, uint64_t have) noexcept nogil:
        if self.error == 0:
            self.error = code
            self.error_offset = off
            self.error_need = need
            self.error_have = have
        return code

    cdef int next_packet(self, const uint8_t **data, uint32_t *caplen, uint32_t *linktype,
                         uint64_t *ts_ns) noexcept nogil:
        cdef uint64_t pos, remain, blen, ts
        cdef uint32_t btype, incl, ifid, olen, code, i
        cdef uint64_t optpos, optend
        cdef uint16_t ocode, olen16
        cdef bint sw
        cdef const uint8_t *b
        if self.error:
            return self.error
        while True:
            pos = self.position
            if pos >= self.size:
                return 0
            remain = self.size - pos
            b = self.base + pos
            if self.fmt == FMT_PCAP:
                if remain < 16:
                    return self.fail(PCAP_E_TRUNCATED, pos, 16, remain)
                incl = tw_rd32(b + 8, self.swapped)
                if incl > PCAP_MAX_RECORD:
                    return self.fail(PCAP_E_BAD_BLOCK, pos, incl, PCAP_MAX_RECORD)
                if 16 + <uint64_t>incl > remain:
                    return self.fail(PCAP_E_TRUNCATED, pos, 16 + <uint64_t>incl, remain)
                self.position = pos + 16 + incl
                self.records += 1
                self.orig_len = tw_rd32(b + 12, self.swapped)
                data[0] = b + 16
                caplen[0] = incl
                linktype[0] = self.linktype
                ts_ns[0] = <uint64_t>tw_rd32(b, self.swapped) * 1000000000ULL + \
                    <uint64_t>tw_rd32(b + 4, self.swapped) * self.frac_mul
                return 1
            # ---- pcapng block
            if remain < 12:
                return self.fail(PCAP_E_TRUNCATED, pos, 12, remain)
            btype = tw_rd32(b, self.swapped)
            if btype == BT_SHB:
                code = tw_rd32(b + 8, 0)
                if code == 0x1A2B3C4D:
                    self.swapped = False
                elif code == 0x4D3C2B1A:
                    self.swapped = True
                else:
                    return self.fail(PCAP_E_BAD_BLOCK, pos, 0, code)
                self.n_if = 0
            sw = self.swapped
            blen = tw_rd32(b + 4, sw)
            if blen < 12 or (blen & 3) != 0:
                return self.fail(PCAP_E_BAD_BLOCK, pos, blen, 12)
            if blen > remain:
                return self.fail(PCAP_E_TRUNCATED, pos, blen, remain)
            if tw_rd32(b + blen - 4, sw) != blen:
                return self.fail(PCAP_E_BAD_BLOCK, pos, blen, tw_rd32(b + blen - 4, sw))
            self.position = pos + blen
            if btype == BT_SHB:
                if blen < 28:
                    return self.fail(PCAP_E_BAD_BLOCK, pos, 28, blen)
                continue
            if btype == BT_IDB:
                if blen < 20:
                    return self.fail(PCAP_E_BAD_BLOCK, pos, 20, blen)
                if self.n_if >= PCAP_MAX_IF:
                    return self.fail(PCAP_E_BAD_BLOCK, pos, PCAP_MAX_IF, self.n_if)
                i = self.n_if
                self.if_linktype[i] = tw_rd16(b + 8, sw)
                self.if_tsresol[i] = 6
                self.if_tsoffset_ns[i] = 0
                optpos = 16
                optend = blen - 4
                while optpos + 4 <= optend:
                    ocode = tw_rd16(b + optpos, sw)
                    olen16 = tw_rd16(b + optpos + 2, sw)
                    if ocode == 0:
                        break
                    if ocode == 9 and olen16 >= 1 and optpos + 5 <= optend:
                        self.if_tsresol[i] = b[optpos + 4]
                    elif ocode == 14 and olen16 == 8 and optpos + 12 <= optend:     # if_tsoffset, seconds
                        self.if_tsoffset_ns[i] = <int64_t>((<uint64_t>tw_rd32(b + optpos + 4 + (0 if sw else 4), sw) << 32)
                                                           | tw_rd32(b + optpos + 4 + (4 if sw else 0), sw)) * 1000000000
                    optpos += 4 + ((<uint64_t>olen16 + 3) & ~(<uint64_t>3))
                self.n_if += 1
                continue
            if btype == BT_EPB:
                if blen < 32:
                    return self.fail(PCAP_E_BAD_BLOCK, pos, 32, blen)
                ifid = tw_rd32(b + 8, sw)
                incl = tw_rd32(b + 20, sw)
                if 28 + <uint64_t>incl + 4 > blen or ifid >= self.n_if:
                    return self.fail(PCAP_E_BAD_BLOCK, pos, 28 + <uint64_t>incl + 4, blen)
                ts = (<uint64_t>tw_rd32(b + 12, sw) << 32) | tw_rd32(b + 16, sw)
                self.records += 1
                self.orig_len = tw_rd32(b + 24, sw)
                data[0] = b + 28
                caplen[0] = incl
                linktype[0] = self.if_linktype[ifid]
                ts_ns[0] = tw_ts_ns(ts, self.if_tsresol[ifid]) + <uint64_t>self.if_tsoffset_ns[ifid]
                return 1
            if btype == BT_SPB:
                if blen < 16 or self.n_if == 0:
                    return self.fail(PCAP_E_BAD_BLOCK, pos, 16, blen)
                olen = tw_rd32(b + 8, sw)
                incl = <uint32_t>(blen - 16)
                if olen < incl:
                    incl = olen
                self.records += 1
                self.orig_len = olen
                data[0] = b + 12
                caplen[0] = incl
                linktype[0] = self.if_linktype[0]
                ts_ns[0] = 0
                return 1
            self.other_blocks += 1

    cdef int rx_burst(self, Frame *frames, int max_frames) noexcept nogil:
        cdef int k = 0, rc
        cdef const uint8_t *data
        cdef uint32_t caplen, lt
        cdef uint64_t ts
        cdef UdpView v
        if tw_unlikely(self.closed):
            return SRC_E_CLOSED
        while k < max_frames:
            rc = self.next_packet(&data, &caplen, &lt, &ts)
            if rc <= 0:
                if k:
                    return k                                # hand these out first; the code comes next call
                return SRC_E_END if rc == 0 else SRC_E_IO
            if tw_unlikely(not linktype_ok(lt)):
                self.dropped_linktype += 1
                self.dropped_filter += 1
                continue
            rc = parse_link(data, caplen, lt, &v)
            if rc == PKT_OK:
                rc = udp_accept(&v, self.dst_ip, self.dst_port)
            if tw_unlikely(rc != PKT_OK):
                if rc == PKT_E_FILTERED:
                    self.dropped_filter += 1
                    self.note_dest(v.dst_ip, v.dst_port)
                elif rc == PKT_E_NOT_IPV4 or rc == PKT_E_NOT_UDP:
                    self.dropped_filter += 1
                    self.dropped_not_udp += 1
                else:
                    self.dropped_bad += 1
                    if self.orig_len > caplen:
                        self.dropped_snaplen += 1
                continue
            frames[k].data = v.payload
            frames[k].length = v.length
            frames[k].src_ip = v.src_ip
            frames[k].rx_ns = ts
            self.rx_packets += 1
            self.rx_bytes += v.length
            k += 1
        return k

    cdef void rx_release(self) noexcept nogil:
        pass                                                # frames point into the mmap: nothing to give back

    cdef void note_dest(self, uint32_t ip, uint16_t port) noexcept nogil:
        cdef uint32_t i
        self.dropped_dest += 1
        for i in range(self.n_dest):
            if self.dest_ip[i] == ip and self.dest_port[i] == port:
                self.dest_n[i] += 1
                return
        if self.n_dest < PCAP_TOP_DEST:
            self.dest_ip[self.n_dest] = ip
            self.dest_port[self.n_dest] = port
            self.dest_n[self.n_dest] = 1
            self.n_dest += 1
        else:
            self.dest_other += 1

    # ------------------------------------------------------------- Python ----
    @property
    def format(self) -> str:
        return "pcapng" if self.fmt == FMT_PCAPNG else "pcap"

    @property
    def link_type(self) -> int:
        """Link type of a classic pcap (pcapng: of interface 0 once seen, else -1)."""
        if self.fmt == FMT_PCAP:
            return self.linktype
        return self.if_linktype[0] if self.n_if else -1

    def exception(self):
        """FeedError for the sticky error (None when there is none)."""
        if self.error == 0:
            return None
        cdef int code = self.error
        where = f"{self.path}: " if self.path else ""
        if code == PCAP_E_TRUNCATED:
            what = "record" if self.fmt == FMT_PCAP else "block"
            msg = (f"{where}truncated capture: the {what} at byte offset {self.error_offset} needs "
                   f"{self.error_need} bytes, only {self.error_have} remain in the file")
        elif code == PCAP_E_BAD_BLOCK:
            if self.fmt == FMT_PCAP:
                msg = f"{where}record captured length {self.error_need} exceeds {PCAP_MAX_RECORD} (corrupt record)"
            else:
                msg = f"{where}invalid pcapng block (length/structure: {self.error_need} vs {self.error_have})"
        else:
            msg = None
        return FeedError(code, msg, self.error_offset)

    def rx_error(self, int code):
        """The exception ``recv`` raises: the sticky FeedError, EOFError at the end of the file."""
        if code == SRC_E_END:
            return EOFError(f"{self.path or 'capture'}: end of capture")
        return self.exception() or PacketSource.rx_error(self, code)

    @classmethod
    def open_source(cls, path=None, dst_port=0, group=None, **_ignored):
        """Registry factory (``datapath.registry``: "pcap"): an open PcapSource on ``path``."""
        if path is None:
            raise ValueError("the pcap source needs path=FILE")
        return cls(path, dst_port=dst_port, group=group)

    def raise_error(self):
        """Raise the sticky error as FeedError (no-op when there is none)."""
        e = self.exception()
        if e is not None:
            raise e

    def read_all(self, limit: int = 0) -> list:
        """Every remaining frame as (payload bytes, rx_ns, src_ip): tests and tools. Raises on errors."""
        cdef Frame frames[32]
        cdef int k, i
        out = []
        while True:
            k = self.rx_burst(frames, 32)
            if k == SRC_E_END:
                return out
            if k < 0:
                self.raise_error()
                raise FeedError(PCAP_E_BAD_BLOCK, f"source returned {k}", self.position)
            for i in range(k):
                out.append((bytes(frames[i].data[:frames[i].length]), frames[i].rx_ns, frames[i].src_ip))
            self.rx_release()
            if limit and len(out) >= limit:
                return out

    def close(self):
        self.closed = True
        self.base = NULL
        self.view = None
        if isinstance(self.mm, mmap.mmap):
            self.mm.close()
        self.mm = None

    def counters(self):
        c = PacketSource.counters(self)
        c.update(records=self.records, other_blocks=self.other_blocks, dropped_linktype=self.dropped_linktype,
                 dropped_not_udp=self.dropped_not_udp, dropped_dest=self.dropped_dest,
                 dropped_snaplen=self.dropped_snaplen, filtered_destinations=self.filtered_destinations(),
                 position=self.position, size=self.size)
        return c

    def filtered_destinations(self) -> list:
        """[("group:port", datagrams), ...] of the filtered datagrams, most first (the first 8
        destinations seen; datagrams to others are in ``("other", n)`` at the end)."""
        out = sorted(((f"{socket.inet_ntoa(struct.pack('>I', self.dest_ip[i]))}:{self.dest_port[i]}", self.dest_n[i])
                      for i in range(self.n_dest)), key=lambda kv: -kv[1])
        if self.dest_other:
            out.append(("other", self.dest_other))
        return out


open_source = PcapSource.open_source


def sniff_capture(head: bytes):
    """("pcap"|"pcapng", "us"|"ns"|None) when ``head`` (>= 4 bytes) starts a capture, else None."""
    if len(head) < 4:
        return None
    le, = struct.unpack("<I", head[:4])
    be, = struct.unpack(">I", head[:4])
    if le == BT_SHB:
        return ("pcapng", None)
    for m in (le, be):
        if m in PCAP_MAGICS:
            return PCAP_MAGICS[m]
    return None
