"""Keyset pagination: pages, and opaque cursors bound to the list they came from.

A list declares its order once, as a :class:`Keyset` (the model and the fields it sorts by,
the row id last). A cursor carries the sort key of the last row of a page and a tag of the
list's *scope* (which repository, which filters, which order), authenticated with HMAC-SHA256
over both: a cursor presented to another list, or altered in any bit, is ``InvalidInput``
instead of silently paging something else, and so is a key whose values do not have the types
of the order's fields. Every list query also filters by its scope and the viewer's access in
SQL, so even a forged cursor reaches no row outside that list.

The HMAC key is ``FORGE_DB_CURSOR_SECRET`` when set (every process serving one forge must share
it); without it a built-in key still detects corruption and cross-list reuse, though not a
deliberate forgery, which the SQL filters make harmless anyway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from types import NoneType, UnionType
from typing import Any, Final, Generic, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict

from .errors import InvalidInput
from .query import Result, Shape, many

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "Keyset", "Page", "page_size"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DEFAULT_PAGE_SIZE: Final = 30
MAX_PAGE_SIZE: Final = 100
_MAX_CURSOR: Final = 1024
_BUILT_IN_KEY: Final = b"forge_db cursor integrity"


class Page(BaseModel, Generic[T]):
    """One page of a list: its items and the cursor of the next page (``None`` at the end)."""

    model_config = ConfigDict(frozen=True)

    items: list[T]
    next_cursor: str | None = None


@cache
def _secret() -> bytes:
    configured = os.environ.get("FORGE_DB_CURSOR_SECRET", "")
    return configured.encode() if configured else _BUILT_IN_KEY


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": str(value)}
    return value


def _tag(scope: Sequence[Any], key: list[Any]) -> str:
    text = json.dumps([[_plain(p) for p in scope], key], separators=(",", ":"), default=str)
    return hmac.new(_secret(), text.encode(), hashlib.sha256).hexdigest()[:24]


def _key_kind(annotation: Any) -> type:
    """The one type a key field holds: ``int``, ``float``, ``str``, ``datetime`` or ``UUID``."""
    if get_origin(annotation) in (Union, UnionType):
        kinds = [a for a in get_args(annotation) if a is not NoneType]
        if len(kinds) == 1:
            return _key_kind(kinds[0])
    if annotation in (int, float, str, datetime, uuid.UUID):
        return annotation  # type: ignore[no-any-return]
    raise TypeError(f"a keyset field must be int, float, str, datetime or UUID, not {annotation!r}")


class Keyset(Generic[M]):
    """The order of a list: ``model``'s ``fields``, ending with a unique one (the row id)."""

    __slots__ = ("_rows", "fields", "kinds", "model")

    def __init__(self, model: type[M], *fields: str) -> None:
        self.model = model
        self.fields = fields
        self.kinds = tuple(_key_kind(model.model_fields[f].annotation) for f in fields)
        self._rows = many(model)

    def after(self, cursor: str | None, scope: Sequence[Any]) -> list[Any]:
        """The sort key a cursor points after (``None`` for each field on the first page).

        Raises ``InvalidInput`` when the cursor is malformed, altered, made for another list,
        or carries values of the wrong types.
        """
        if cursor is None:
            return [None] * len(self.fields)
        invalid = InvalidInput("cursor is not valid for this list", field="cursor")
        if not isinstance(cursor, str) or len(cursor) > _MAX_CURSOR:
            raise invalid
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            tag, key = json.loads(raw)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise invalid from None
        if (
            not isinstance(tag, str)
            or not isinstance(key, list)
            or len(key) != len(self.kinds)
            or not hmac.compare_digest(tag, _tag(scope, key))
        ):
            raise invalid
        return [
            self._restore(part, kind, invalid) for part, kind in zip(key, self.kinds, strict=False)
        ]

    @staticmethod
    def _restore(part: Any, kind: type, invalid: InvalidInput) -> Any:
        if kind is datetime:
            if not isinstance(part, dict) or set(part) != {"t"} or not isinstance(part["t"], str):
                raise invalid
            try:
                moment = datetime.fromisoformat(part["t"])
            except ValueError:
                raise invalid from None
            if moment.tzinfo is None:
                raise invalid
            return moment
        if kind is uuid.UUID:
            if not isinstance(part, dict) or set(part) != {"u"} or not isinstance(part["u"], str):
                raise invalid
            try:
                return uuid.UUID(part["u"])
            except ValueError:
                raise invalid from None
        if kind is float:
            if type(part) not in (int, float) or not math.isfinite(part):
                raise invalid
            return float(part)
        if type(part) is not kind:
            raise invalid
        return part

    def cursor(self, scope: Sequence[Any], item: M) -> str:
        """The cursor of the page that follows ``item`` in the list identified by ``scope``."""
        return self.encode(scope, [getattr(item, f) for f in self.fields])

    def encode(self, scope: Sequence[Any], values: Sequence[Any]) -> str:
        """The cursor pointing after the row whose sort key is ``values``."""
        key = [_plain(value) for value in values]
        payload = json.dumps([_tag(scope, key), key], separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    def page(self, limit: int, scope: Sequence[Any]) -> Shape[Page[M]]:
        """Shape for a keyset query that fetched ``limit + 1`` rows: a page and its next cursor."""
        rows_to_models = self._rows

        def convert(result: Result) -> Page[M]:
            items = rows_to_models.convert(result)
            next_cursor = None
            if len(items) > limit:
                del items[limit:]
                next_cursor = self.cursor(scope, items[-1])
            return Page[M].model_construct(items=items, next_cursor=next_cursor)

        return Shape(convert, rows_to_models.columns, paging=(self, tuple(scope)))


def page_size(limit: int | None) -> int:
    """The rows a page holds: ``limit`` (already checked to be 1..100), else the default."""
    return DEFAULT_PAGE_SIZE if limit is None else limit
