"""Result codes of the feed handlers: code -> (NAME, message), and the one exception class.

The Cython hot paths return these negative integers (``core/codes.pxd``); only the Python
layers (``ItchFramer.feed``, readers, ``decode_message``) turn them into :class:`FeedError`.
Ranges: -1xx ITCH framing/decoding, -2xx MoldUDP64, -3xx pcap/pcapng, -4xx readers.
"""
from __future__ import annotations

# ITCH framing / decoding
ITCH_E_TRUNCATED = -101
ITCH_E_ZERO_LENGTH = -102
ITCH_E_NOT_ITCH50 = -103
ITCH_E_ZERO_LENGTH_UNKNOWN = -104
ITCH_E_STOPPED = -105
ITCH_E_UNKNOWN_TYPE = -106
ITCH_E_BAD_LENGTH = -107
ITCH_E_LOST_FRAMING = -108
# MoldUDP64
MOLD_E_SHORT = -201
MOLD_E_TRUNCATED = -202
MOLD_E_DUPLICATE = -203
MOLD_E_HELD = -204
# pcap / pcapng
PCAP_E_BAD_MAGIC = -301
PCAP_E_TRUNCATED = -302
PCAP_E_BAD_BLOCK = -303
PCAP_E_LINKTYPE = -304
PCAP_E_EMPTY = -305
# readers
READ_E_GZIP_TRUNCATED = -401
READ_E_GZIP_BAD = -402
READ_E_FORMAT = -403
READ_E_NO_MESSAGES = -404

#: code -> (NAME, message)
CODES: dict[int, tuple[str, str]] = {
    ITCH_E_TRUNCATED: ("ITCH_E_TRUNCATED", "stream ends inside an ITCH frame (truncated file or packet)"),
    ITCH_E_ZERO_LENGTH: ("ITCH_E_ZERO_LENGTH",
                         "zero length prefix (not valid binaryFILE framing; recover_zero_lengths=True frames by type)"),
    ITCH_E_NOT_ITCH50: ("ITCH_E_NOT_ITCH50",
                        "not an ITCH 5.0 stream: the first frames are not ITCH 5.0 message types of spec length"),
    ITCH_E_ZERO_LENGTH_UNKNOWN: ("ITCH_E_ZERO_LENGTH_UNKNOWN",
                                 "zero length prefix followed by a byte that is not an ITCH 5.0 type: cannot recover"),
    ITCH_E_STOPPED: ("ITCH_E_STOPPED", "the framer stopped at an earlier error"),
    ITCH_E_UNKNOWN_TYPE: ("ITCH_E_UNKNOWN_TYPE", "message type is not an ITCH 5.0 type"),
    ITCH_E_BAD_LENGTH: ("ITCH_E_BAD_LENGTH", "message length differs from the type's spec length"),
    ITCH_E_LOST_FRAMING: ("ITCH_E_LOST_FRAMING",
                          "length prefix above the longest ITCH 5.0 message (50 bytes): the framing is lost"),
    MOLD_E_SHORT: ("MOLD_E_SHORT", "packet shorter than the 20-byte MoldUDP64 header"),
    MOLD_E_TRUNCATED: ("MOLD_E_TRUNCATED", "MoldUDP64 message count announces more messages than the packet holds"),
    MOLD_E_DUPLICATE: ("MOLD_E_DUPLICATE", "every message of the MoldUDP64 packet was already delivered"),
    MOLD_E_HELD: ("MOLD_E_HELD", "packet held by the session layer after a gap"),
    PCAP_E_BAD_MAGIC: ("PCAP_E_BAD_MAGIC", "not a pcap or pcapng file (unknown magic number)"),
    PCAP_E_TRUNCATED: ("PCAP_E_TRUNCATED", "truncated capture: a record runs past the end of the file"),
    PCAP_E_BAD_BLOCK: ("PCAP_E_BAD_BLOCK", "invalid pcapng block"),
    PCAP_E_LINKTYPE: ("PCAP_E_LINKTYPE", "unsupported link type (supported: Ethernet, raw IPv4, Linux SLL/SLL2, BSD null)"),
    PCAP_E_EMPTY: ("PCAP_E_EMPTY", "file too short for a capture header"),
    READ_E_GZIP_TRUNCATED: ("READ_E_GZIP_TRUNCATED", "gzip stream truncated before its end-of-stream marker"),
    READ_E_GZIP_BAD: ("READ_E_GZIP_BAD", "corrupt gzip data"),
    READ_E_FORMAT: ("READ_E_FORMAT", "file format not recognised"),
    READ_E_NO_MESSAGES: ("READ_E_NO_MESSAGES", "the capture has frames but not one ITCH 5.0 message"),
}


def code_name(code: int) -> str:
    """NAME of a code (``"UNKNOWN(-999)"`` for a code not in the table)."""
    return CODES.get(code, (f"UNKNOWN({code})", ""))[0]


def code_message(code: int) -> str:
    """Default message of a code."""
    return CODES.get(code, ("", f"unknown result code {code}"))[1]


class FeedError(Exception):
    """A fatal feed-handling error, raised by the Python layers only.

    Attributes
    ----------
    code : int      negative result code (see ``CODES``)
    name : str      its NAME, e.g. ``"ITCH_E_TRUNCATED"``
    message : str   what went wrong, specific to this occurrence
    offset : int | None  byte offset in the stream/file where it happened (None when not applicable)
    stats : dict | None  reader statistics up to the error (set by ``reader.open_feed(...).run``)
    """

    def __init__(self, code: int, message: str | None = None, offset: int | None = None):
        self.code = code
        self.name = code_name(code)
        self.message = message or code_message(code)
        self.offset = offset
        self.stats = None
        where = f" at byte offset {offset}" if offset is not None else ""
        super().__init__(f"{self.name} ({code}){where}: {self.message}")

    def __reduce__(self):
        return (FeedError, (self.code, self.message, self.offset))
