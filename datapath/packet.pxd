# cython: language_level=3
"""Ethernet (+802.1Q/802.1ad VLAN) / IPv4 / UDP parsing, header-only, for every packet source.

The raw sources (pcap, AF_PACKET, AF_XDP, DPDK, verbs) see whole Ethernet frames; the feed handler wants
UDP payloads. ``udp_parse`` finds the payload in place and returns a result code (never raises).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t

from core.compiler cimport tw_unlikely
from core.endian cimport tw_be16, tw_be32
# udp_parse's negative results (values, messages: core/codes.pxd)
from core.codes cimport (PKT_E_SHORT, PKT_E_NOT_IPV4, PKT_E_NOT_UDP, PKT_E_FRAGMENT, PKT_E_BAD_IP,
                         PKT_E_BAD_UDP, PKT_E_FILTERED)

# ----------------------------------------------------------- result codes ----
cdef enum:
    PKT_OK = 0

# ------------------------------------------------------------ parsed view ----
cdef struct UdpView:
    const uint8_t *payload   # first byte of the UDP payload
    uint32_t length          # payload length (from the UDP header, checked against the frame)
    uint32_t src_ip          # host byte order
    uint32_t dst_ip          # host byte order
    uint16_t src_port
    uint16_t dst_port
    uint16_t vlan            # innermost VLAN id, 0 when untagged


cdef inline int udp_parse_ip(const uint8_t *ip, uint32_t n, UdpView *out) noexcept nogil:
    """Parse an IPv4 packet starting at ``ip`` (``n`` bytes) down to its UDP payload."""
    cdef uint32_t ihl, total, frag, ulen
    if tw_unlikely(n < 20):
        return PKT_E_SHORT
    if tw_unlikely((ip[0] >> 4) != 4):
        return PKT_E_NOT_IPV4
    ihl = (ip[0] & 0x0F) * 4
    total = tw_be16(ip + 2)
    if tw_unlikely(ihl < 20 or total < ihl or total > n):
        return PKT_E_BAD_IP
    frag = tw_be16(ip + 6)
    if tw_unlikely((frag & 0x3FFF) != 0):   # MF flag or a fragment offset
        return PKT_E_FRAGMENT
    if tw_unlikely(ip[9] != 17):
        return PKT_E_NOT_UDP
    if tw_unlikely(total < ihl + 8):
        return PKT_E_SHORT
    ulen = tw_be16(ip + ihl + 4)
    if tw_unlikely(ulen < 8 or ulen > total - ihl):
        return PKT_E_BAD_UDP
    out.src_ip = tw_be32(ip + 12)
    out.dst_ip = tw_be32(ip + 16)
    out.src_port = tw_be16(ip + ihl)
    out.dst_port = tw_be16(ip + ihl + 2)
    out.payload = ip + ihl + 8
    out.length = ulen - 8
    return PKT_OK


cdef inline int udp_parse_ether(const uint8_t *frame, uint32_t n, UdpView *out) noexcept nogil:
    """Parse an Ethernet frame (up to two VLAN tags) down to its UDP payload."""
    cdef uint32_t off = 12
    cdef uint16_t ethertype
    out.vlan = 0
    if tw_unlikely(n < 14):
        return PKT_E_SHORT
    ethertype = tw_be16(frame + off)
    while ethertype == 0x8100 or ethertype == 0x88A8:
        if tw_unlikely(n < off + 6):
            return PKT_E_SHORT
        out.vlan = tw_be16(frame + off + 2) & 0x0FFF
        off += 4
        ethertype = tw_be16(frame + off)
    if tw_unlikely(ethertype != 0x0800):
        return PKT_E_NOT_IPV4
    return udp_parse_ip(frame + off + 2, n - off - 2, out)


cdef inline int udp_accept(const UdpView *v, uint32_t dst_ip, uint16_t dst_port) noexcept nogil:
    """Filter on destination: 0 in ``dst_ip`` / ``dst_port`` matches any."""
    if (dst_ip != 0 and v.dst_ip != dst_ip) or (dst_port != 0 and v.dst_port != dst_port):
        return PKT_E_FILTERED
    return PKT_OK
