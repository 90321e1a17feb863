"""``HOST:PORT`` command-line arguments (listen, send, mold serve)."""
from __future__ import annotations


def parse_hostport(text: str, default_port: int | None = None) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT``; ``HOST`` alone takes ``default_port`` (ValueError when None)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        if default_port is None:
            raise ValueError(f"{text!r}: expected HOST:PORT")
        return text, default_port
    return host, int(port)
