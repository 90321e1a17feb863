"""argparse ``type=`` helpers shared by the sub-commands: a nonsense value is refused by argparse itself
(``tickwire CMD: error: argument --port: 70000 is not a port (1..65535)``, exit 2), never deep in a C
conversion as a traceback.

Each factory returns a callable that parses the text or raises ``argparse.ArgumentTypeError`` with the
reason; argparse prefixes the argument's name. Bounds are the C types the values feed (``INT32_MAX``
order pools, 64-bit counters, 16-bit ports and locates, ...).
"""
from __future__ import annotations

import argparse
import ipaddress
import math
import os

INT32_MAX = (1 << 31) - 1
INT64_MAX = (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1
SESSION_LEN = 10            # MoldUDP64 / SoupBinTCP session field, bytes


def _err(text: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(text)


def int_range(lo: int, hi: int, what: str = "") -> callable:
    """An integer in lo..hi (base 10, or 0x.. / 0o.. / 0b..)."""
    def parse(text: str) -> int:
        try:
            v = int(text, 0)
        except ValueError:
            try:
                v = int(text, 10)            # leading zeros: "007"
            except ValueError:
                raise _err(f"{text!r} is not an integer") from None
        if not lo <= v <= hi:
            raise _err(f"{text} is out of range {lo}..{hi}" + (f" ({what})" if what else ""))
        return v
    parse.__name__ = "integer"
    return parse


def positive_int(max: int = INT64_MAX, what: str = "") -> callable:          # noqa: A002 - argparse-style name
    """An integer in 1..max (zero and negatives are nonsense: counts, sizes, levels)."""
    return int_range(1, max, what)


def nonneg_int(max: int = INT64_MAX, what: str = "") -> callable:            # noqa: A002
    """An integer in 0..max (0 meaning none / never where the option says so)."""
    return int_range(0, max, what)


def port(allow_zero: bool = False) -> callable:
    """A UDP/TCP port 1..65535 (0 too, an ephemeral port, when ``allow_zero``)."""
    return int_range(0 if allow_zero else 1, 65535, "a port" if not allow_zero else "a port; 0: any free one")


def _float(lo: float, hi: float, lo_open: bool, hi_open: bool, what: str) -> callable:
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise _err(f"{text!r} is not a number") from None
        if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi):
            raise _err(f"{text} is not {what}")
        return v
    parse.__name__ = "number"
    return parse


def positive_float(max: float = 1e18) -> callable:                            # noqa: A002
    """A finite number > 0 (rates, speeds, intervals)."""
    return _float(0.0, max, True, False, f"a number > 0 (up to {max:g})")


def nonneg_float(max: float = 1e18) -> callable:                              # noqa: A002
    """A finite number >= 0 (durations where 0 means none)."""
    return _float(0.0, max, False, False, f"a number >= 0 (up to {max:g})")


def fraction(text: str) -> float:
    """A probability in [0, 1) (loss fractions)."""
    return _float(0.0, 1.0, False, True, "a fraction in [0, 1)")(text)


def ipv4(text: str) -> str:
    """A dotted IPv4 address."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        raise _err(f"{text!r} is not an IPv4 address") from None
    return text


def multicast_group(text: str) -> str:
    """An IPv4 multicast group (224.0.0.0/4)."""
    if not ipaddress.IPv4Address(ipv4(text)).is_multicast:
        raise _err(f"{text} is not an IPv4 multicast group (224.0.0.0 .. 239.255.255.255)")
    return text


def hostport(default_port: int | None = None, multicast: bool = False) -> callable:
    """``ADDR:PORT`` checked (the text is returned; ``tickwire.hostport.parse_hostport`` splits it);
    ``ADDR`` alone takes ``default_port`` (an error when None). ADDR is an IPv4 multicast group when
    ``multicast``, else an address or host name."""
    def parse(text: str) -> str:
        host, sep, p = text.rpartition(":")
        if not sep:
            if default_port is None:
                raise _err(f"{text!r}: expected HOST:PORT")
            host, p = text, str(default_port)
        if not host:
            raise _err(f"{text!r}: expected HOST:PORT (no host)")
        try:
            number = int(p, 10)
        except ValueError:
            raise _err(f"{text!r}: port {p!r} is not an integer") from None
        if not 1 <= number <= 65535:
            raise _err(f"{text!r}: port {number} is out of range 1..65535")
        if multicast:
            multicast_group(host)
        elif any(c.isspace() for c in host):
            raise _err(f"{text!r}: {host!r} is not a host")
        return text
    parse.__name__ = "HOST:PORT"
    return parse


def existing_file(text: str) -> str:
    """A readable regular file (or character device / FIFO, e.g. /dev/stdin): not a directory."""
    if not text:
        raise _err("empty path")
    if not os.path.exists(text):
        raise _err(f"{text}: no such file")
    if os.path.isdir(text):
        raise _err(f"{text}: is a directory, not a file")
    if not os.access(text, os.R_OK):
        raise _err(f"{text}: not readable (permission denied)")
    return text


def session_name(text: str) -> str:
    """A MoldUDP64 / SoupBinTCP session name: 1..10 printable ASCII characters (space padded on the wire)."""
    if not text.strip():
        raise _err("empty session name")
    if not (text.isascii() and text.isprintable()):
        raise _err(f"{text!r} is not printable ASCII")
    if len(text) > SESSION_LEN:
        raise _err(f"{text!r} is {len(text)} characters; the session field holds {SESSION_LEN}")
    return text


def iso_date(text: str) -> str:
    """A calendar date YYYY-MM-DD."""
    import datetime as dt
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise _err(f"{text!r} is not a date YYYY-MM-DD") from None
    return text


def name_list(text: str) -> str:
    """``A,B,...``: at least one non-blank name (the text is returned)."""
    if not any(s.strip() for s in text.split(",")):
        raise _err(f"{text!r}: expected NAME[,NAME...]")
    return text


def nonempty(text: str) -> str:
    """Any non-blank string (interface names, addresses given by name)."""
    if not text.strip():
        raise _err("empty value")
    return text
