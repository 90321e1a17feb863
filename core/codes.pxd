# cython: language_level=3
"""Result codes of the feed handlers (C side). Header-only: nothing to import at run time.

Every code is negative; ``core/codes.py`` maps each to (NAME, message) for the Python
layers (``FeedError``), and tests check that both lists agree. Ranges: -1xx ITCH framing and
decoding, -2xx MoldUDP64 packets, -3xx pcap/pcapng files, -4xx file readers (gzip, sniffing).
"""

# ------------------------------------------------------------ ITCH framing ----
cdef enum:
    ITCH_OK = 0
    ITCH_E_TRUNCATED = -101           # the stream ends inside a frame (length prefix or message body)
    ITCH_E_ZERO_LENGTH = -102         # a 2-byte length prefix is 0 (never in a NASDAQ binaryFILE)
    ITCH_E_NOT_ITCH50 = -103          # the first frames are not ITCH 5.0 messages of spec length
    ITCH_E_ZERO_LENGTH_UNKNOWN = -104 # recovery mode: the type after a zero prefix is not ITCH 5.0
    ITCH_E_STOPPED = -105             # the framer stopped at an earlier error; feed a new framer
    ITCH_E_UNKNOWN_TYPE = -106        # decode_message: the type byte is not an ITCH 5.0 type
    ITCH_E_BAD_LENGTH = -107          # decode_message: length differs from the type's spec length
    ITCH_E_LOST_FRAMING = -108        # a length prefix above the longest ITCH 5.0 message (50): framing lost

# ---------------------------------------------------------- MoldUDP64 ----
cdef enum:
    MOLD_E_SHORT = -201               # packet shorter than the 20-byte MoldUDP64 header
    MOLD_E_TRUNCATED = -202           # message count announces more than the packet holds: dropped
    MOLD_E_DUPLICATE = -203           # every message of the packet was already delivered: dropped
    MOLD_E_HELD = -204                # on_gap() asked to hold the packet (session layer recovers)

# ---------------------------------------------------------- pcap/pcapng ----
cdef enum:
    PCAP_E_BAD_MAGIC = -301           # not a pcap (a1b2c3d4 / a1b23c4d) or pcapng file
    PCAP_E_TRUNCATED = -302           # a record/block header or body runs past the end of the file
    PCAP_E_BAD_BLOCK = -303           # pcapng block length/structure invalid
    PCAP_E_LINKTYPE = -304            # link type not supported (Ethernet, raw IPv4, SLL, SLL2, null)
    PCAP_E_EMPTY = -305               # file too short for a pcap global header / pcapng section

# ---------------------------------------------------------- readers ----
cdef enum:
    READ_E_GZIP_TRUNCATED = -401      # the gzip stream ends before its end-of-stream marker
    READ_E_GZIP_BAD = -402            # corrupt gzip data
    READ_E_FORMAT = -403              # format not recognised / not supported
    READ_E_NO_MESSAGES = -404         # a capture with frames but not one ITCH 5.0 message (Python layers)
