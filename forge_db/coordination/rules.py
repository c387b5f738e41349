"""Input rules the coordination namespaces share: JSON objects, UUIDs, component names."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Final
from uuid import UUID

from ..inputs import Bounded, Refused, Rule, Text

__all__ = [
    "UUID_RULE",
    "Component",
    "JsonObject",
    "Label",
    "Seconds",
    "Uuid",
    "json_text",
]

_JSON_LIMIT: Final = 1_048_576


def _finite(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise Refused("must hold finite numbers only (no NaN or infinity)")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise Refused("must have text keys")
            _finite(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _finite(item)


def json_text(value: Any, limit: int = _JSON_LIMIT) -> str:
    """``value`` as JSON text, or :class:`Refused` when it is not JSON or is too large."""
    _finite(value)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        raise Refused(
            "must be made of JSON values (dict, list, str, int, float, bool, None)"
        ) from None
    if "\\u0000" in text:
        raise Refused("must not contain NUL characters")
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        raise Refused("is not valid Unicode text (a lone surrogate?)") from None
    if size > limit:
        raise Refused(f"is larger than {limit} bytes as JSON")
    return text


class _JsonObject(Rule):
    """A ``dict`` of JSON values, at most ``limit`` bytes as JSON text."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sample: dict[str, Any] = {}

    def check(self, value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise Refused("must be a dict (a JSON object)")
        json_text(value, self.limit)
        return value


class _Uuid(Rule):
    sample = UUID("00000000-0000-7000-8000-000000000000")

    def check(self, value: Any) -> UUID:
        if type(value) is not UUID:
            raise Refused("must be a uuid.UUID")
        return value


UUID_RULE: Final = _Uuid()
JsonObject = Annotated[dict[str, Any], _JsonObject(_JSON_LIMIT)]
"""A JSON object (a ``dict`` with text keys), at most 1 MiB as JSON."""
Uuid = Annotated[UUID, UUID_RULE]
"""A row id of a machine-rate table (events, decisions): a ``uuid.UUID``."""
Component = Annotated[
    str,
    Text(
        100,
        min_length=1,
        pattern=r"[a-z][a-z0-9_.-]{0,99}",
        explain="must be lowercase letters, digits, '_', '.' or '-', starting with a letter",
        sample="landing",
    ),
]
"""A component's name (``landing``, ``runner``, ``event-consumer``)."""
Label = Annotated[str, Text(255, min_length=1, controls=False, sample="worker-1")]
"""A short one-line name without control characters (an instance, a holder, a source)."""
Seconds = Annotated[int, Bounded(0, 86_400)]
"""A number of seconds from 0 to a day."""
