"""SQL shared by the landing domain's namespaces: how its rows become model rows.

Every fragment takes the aliases it reads as arguments; the defaults are the names the callers
use (``l`` for a landing request, ``au`` for its author).
"""

from __future__ import annotations

from typing import Final

__all__ = ["REQUEST_COLUMNS", "REQUEST_FROM", "request_columns", "request_joins"]


def request_columns(l: str = "l", au: str = "au") -> str:  # noqa: E741 - the domain's alias
    """The LandingRequest columns of request ``l`` and its author ``au``."""
    return f"""
        {l}.id, {l}.repository_id, {l}.number, {l}.author_id, {au}.username AS author,
        {l}.change_id, {l}.commit_id, {l}.target_bookmark, {l}.title, {l}.description,
        {l}.priority::integer AS priority, {l}.never_batch, {l}.state, {l}.state_reason,
        {l}.attempts, {l}.max_attempts, {l}.batch_id, {l}.claimed_by, {l}.lease_expires_at,
        {l}.landed_commit_id, {l}.last_error, {l}.created_at, {l}.updated_at, {l}.finished_at"""


def request_joins(l: str = "l", au: str = "au") -> str:  # noqa: E741 - the domain's alias
    """The join of request ``l``'s author ``au``."""
    return f"LEFT JOIN users {au} ON {au}.id = {l}.author_id"


REQUEST_COLUMNS: Final = request_columns()
REQUEST_FROM: Final = request_joins()
