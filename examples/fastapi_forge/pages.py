"""Keyset pages over HTTP: a ``next`` URL in the body and in a ``Link`` header."""

from __future__ import annotations

from typing import Generic, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel

from forge_db.pagination import Page

T = TypeVar("T")


class Listing(BaseModel, Generic[T]):
    """One page: its items and the URL of the next page (``None`` on the last)."""

    items: list[T]
    next: str | None


def listing(page: Page[T], request: Request, response: Response) -> Listing[T]:
    """The page as a response; the next page's URL keeps the request's filters and limit."""
    if page.next_cursor is None:
        return Listing(items=page.items, next=None)
    # The cursor is bound to these filters: a next URL with other filters would be refused.
    following = str(request.url.include_query_params(cursor=page.next_cursor))
    response.headers["Link"] = f'<{following}>; rel="next"'
    return Listing(items=page.items, next=following)
