"""Text helpers: @mentions in Markdown bodies and full-text search queries."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MAX_MENTIONS", "extract_mentions", "search_terms"]

MAX_MENTIONS: Final = 50

# Fenced blocks first (``` or ~~~, to the closing fence or the end), then inline code spans of
# any backtick run length: mentions inside code are not mentions.
_FENCED: Final = re.compile(
    r"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}\1[`~]*[ \t]*$|\Z)", re.M | re.S
)
_INLINE: Final = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_MENTION: Final = re.compile(
    r"(?<![A-Za-z0-9_.@/`-])@([A-Za-z0-9](?:-?[A-Za-z0-9]){0,38})(?![A-Za-z0-9_/-]|@|\.[A-Za-z0-9])"
)
_WORD: Final = re.compile(r"\w+", re.UNICODE)
_ISSUE_REF: Final = re.compile(r"(?<!\w)#([0-9]{1,18})(?!\w)")


def extract_mentions(body: str) -> list[str]:
    """Lowercased usernames @mentioned in ``body`` outside code, first occurrence order."""
    text = _INLINE.sub(" ", _FENCED.sub(" ", body))
    seen: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        seen.setdefault(match.group(1).lower(), None)
        if len(seen) >= MAX_MENTIONS:
            break
    return list(seen)


def search_terms(query: str) -> tuple[str | None, list[int]]:
    """A prefix-matching ``to_tsquery('simple', ...)`` text for ``query``, and its ``#numbers``.

    Every word becomes a quoted prefix lexeme (``'word':*``) joined with ``&``, so no input can
    inject tsquery operators; ``#123`` tokens are returned separately to match issue numbers.
    """
    numbers = [int(n) for n in _ISSUE_REF.findall(query)]
    words = _WORD.findall(_ISSUE_REF.sub(" ", query).lower())[:32]
    # A one-letter prefix matches most of the corpus; keep those only when nothing else is left.
    words = [w for w in words if len(w) > 1] or words
    if not words:
        return None, numbers
    return " & ".join(f"'{w}':*" for w in words), numbers
