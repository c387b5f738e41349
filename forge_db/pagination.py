"""Keyset pagination: pages, and opaque cursors bound to the list they came from.

A cursor carries the sort key of the last row of a page and the *scope* of the list (which
repository, which filters, which order). A cursor presented to another list is refused with
``InvalidInput`` instead of silently paging something else; and because every list query
filters by its scope and the viewer's access in SQL, no cursor, however crafted, reaches rows
outside that list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from .errors import InvalidInput
from .query import Result, Shape, many

__all__ = ["MAX_PAGE_SIZE", "Page", "decode_cursor", "encode_cursor", "page_size", "paged"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DEFAULT_PAGE_SIZE: Final = 30
MAX_PAGE_SIZE: Final = 100


class Page(BaseModel, Generic[T]):
    """One page of a list: its items and the cursor of the next page (``None`` at the end)."""

    model_config = ConfigDict(frozen=True)

    items: list[T]
    next_cursor: str | None = None


def page_size(limit: int | None) -> int:
    """Validate a requested page size; ``None`` means the default."""
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    return limit


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"t"}:
        return datetime.fromisoformat(value["t"])
    return value


def _scope_tag(scope: Sequence[Any]) -> str:
    # A digest keeps cursors short however many filters a list has.
    text = json.dumps([_plain(part) for part in scope], separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_cursor(scope: Sequence[Any], key: Sequence[Any]) -> str:
    """An opaque cursor for the row with sort ``key`` in the list identified by ``scope``."""
    payload = json.dumps([_scope_tag(scope), list(map(_plain, key))], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, scope: Sequence[Any], arity: int) -> list[Any]:
    """The sort key in ``cursor``; ``InvalidInput`` if malformed or made for another list."""
    invalid = InvalidInput("cursor is not valid for this list", field="cursor")
    if not isinstance(cursor, str) or len(cursor) > 1024:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_scope, key = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(key, list) or len(key) != arity:
        raise invalid
    if cursor_scope != _scope_tag(scope):
        raise invalid
    try:
        return [_restore(part) for part in key]
    except (ValueError, TypeError):
        raise invalid from None


def paged(
    model: type[M], limit: int, scope: Sequence[Any], key: Callable[[M], Sequence[Any]]
) -> Shape[Page[M]]:
    """Shape for a keyset query that fetched ``limit + 1`` rows: a page and its next cursor."""
    rows_to_models = many(model)

    def shape(result: Result) -> Page[M]:
        items = rows_to_models(result)
        cursor = None
        if len(items) > limit:
            del items[limit:]
            cursor = encode_cursor(scope, key(items[-1]))
        return Page[M].model_construct(items=items, next_cursor=cursor)

    return shape
