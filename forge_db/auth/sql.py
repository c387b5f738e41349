"""What the auth domain's namespaces share: secret digests and rows of joined tables."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from ..query import Result

__all__ = ["digest", "prefixed", "split"]


def digest(secret: str) -> bytes:
    """The SHA-256 digest stored in place of a session or access token."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def prefixed(alias: str, columns: str, prefix: str) -> str:
    """``alias.c AS <prefix>c`` for each of the comma-separated ``columns``."""
    return ", ".join(f"{alias}.{c} AS {prefix}{c}" for c in columns.split(", "))


@lru_cache(maxsize=256)
def _positions(columns: tuple[str, ...], prefix: str) -> tuple[tuple[int, str], ...]:
    return tuple((i, c[len(prefix) :]) for i, c in enumerate(columns) if c.startswith(prefix))


def split(result: Result, row: tuple[Any, ...], prefix: str) -> dict[str, Any]:
    """The columns of one joined table (``prefix``-named) of a row, prefix removed."""
    return {name: row[i] for i, name in _positions(result.columns, prefix)}
