"""Ids that cross from Python into a dense C table (risk, positions): checked before any index.

A bad id is a one-line ``TableIdError`` naming the id and the table's size, never an out-of-bounds
access. ``TableIdError`` is a ``ValueError`` (bad argument) and, as the earlier checks raised, an
``IndexError``.
"""
from __future__ import annotations

import operator


class TableIdError(ValueError, IndexError):
    """An account / firm / symbol id outside its table."""


def table_id(value, limit: int, what: str, size_name: str) -> int:
    """``value`` as an int in ``0 .. limit - 1``, else ``TableIdError``.

    Parameters
    ----------
    value : the id given by the caller (any integer, e.g. -1, 2**32).
    limit : the table's size; ``size_name`` its configuration name (``max_accounts``).
    what : the kind of id, for the message (``account``).
    """
    try:
        i = operator.index(value)
    except TypeError:
        raise TableIdError(f"{what} id {value!r} is not an integer") from None
    if not 0 <= i < limit:
        raise TableIdError(f"{what} id {i} out of range: ids are 0..{limit - 1} ({size_name} {limit})")
    return i
