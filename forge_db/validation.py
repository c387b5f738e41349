"""Input checks that run before SQL, so a refusal names the field in plain words.

The database enforces the same rules (CHECK constraints); these only make the message clearer
and spare a round trip. Nothing here decides an invariant on its own.
"""

from __future__ import annotations

import re
from typing import Any, Final

from .errors import InvalidInput

__all__ = ["identifier", "optional_text", "text", "username"]

_USERNAME: Final = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")


def text(
    value: Any,
    field: str,
    *,
    max_length: int,
    min_length: int = 0,
    strip: bool = False,
    single_line: bool = False,
) -> str:
    """A string of bounded length without NUL bytes (stripped first when ``strip``)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL bytes", field=field)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{field} is not valid Unicode text", field=field) from None
    if strip:
        value = value.strip()
    if single_line and ("\n" in value or "\r" in value):
        raise InvalidInput(f"{field} must be a single line", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters", field=field)
    if len(value) < min_length:
        if min_length == 1:
            raise InvalidInput(f"{field} must not be empty", field=field)
        raise InvalidInput(f"{field} is shorter than {min_length} characters", field=field)
    cleaned: str = value
    return cleaned


def optional_text(
    value: Any, field: str, *, max_length: int, single_line: bool = False
) -> str | None:
    """``None``, or :func:`text` of the value."""
    if value is None:
        return None
    return text(value, field, max_length=max_length, single_line=single_line)


def identifier(value: Any, field: str) -> int:
    """A positive bigint id."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
        raise InvalidInput(f"{field} must be a positive integer id", field=field)
    return value


def username(value: Any, field: str = "username") -> str:
    """1-39 of [A-Za-z0-9-], no leading, trailing or double hyphen."""
    name = text(value, field, max_length=39, min_length=1)
    if not _USERNAME.fullmatch(name):
        raise InvalidInput(
            f"{field} may hold letters, digits and single hyphens between them", field=field
        )
    return name
