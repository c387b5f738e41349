"""SQL shared by the issues domain's namespaces: how an issue row becomes a model row.

Every fragment takes the aliases it reads (``i`` for the issue, ``au`` for its author, ``dup``
for the issue it duplicates) as arguments; the defaults are the names the callers use.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ISSUE_DETAIL",
    "ISSUE_FROM",
    "ISSUE_SUMMARY",
    "assignees_of",
    "detail_columns",
    "issue_joins",
    "labels_of",
    "reactions_of",
    "summary_columns",
]


def labels_of(i: str = "i") -> str:
    """The labels of issue ``i`` as a JSON array, from the tables."""
    return f"""coalesce((
        SELECT json_agg(json_build_object('id', l.id, 'name', l.name, 'color', l.color)
                        ORDER BY lower(l.name))
        FROM issue_labels il JOIN labels l ON l.id = il.label_id
        WHERE il.repository_id = {i}.repository_id AND il.issue_id = {i}.id), '[]')"""


def assignees_of(i: str = "i") -> str:
    """The assignees of issue ``i`` as a JSON array, from the tables."""
    return f"""coalesce((
        SELECT json_agg(json_build_object('id', u.id, 'username', u.username)
                        ORDER BY lower(u.username))
        FROM issue_assignees ia JOIN users u ON u.id = ia.user_id
        WHERE ia.repository_id = {i}.repository_id AND ia.issue_id = {i}.id), '[]')"""


def reactions_of(target: str, column: str) -> str:
    """Reaction counts by emoji of row ``target`` (``column``: ``issue_id`` or ``comment_id``)."""
    return f"""coalesce((
        SELECT json_object_agg(emoji, n) FROM (
            SELECT r.emoji, count(*) AS n FROM reactions r
            WHERE r.repository_id = {target}.repository_id AND r.{column} = {target}.id
            GROUP BY r.emoji) AS grouped), '{{}}')"""


def summary_columns(
    labels: str | None = None, assignees: str | None = None, i: str = "i", au: str = "au"
) -> str:
    """The IssueSummary columns of issue ``i`` and author ``au``.

    A statement that changes labels or assignees passes its own JSON for them: a statement does
    not see its own writes, so the tables would show the old ones.
    """
    return f"""
        {i}.id, {i}.repository_id, {i}.number, {i}.title, {i}.state, {i}.close_reason,
        {i}.author_id, {au}.username AS author, {i}.locked, {i}.comment_count, {i}.milestone_id,
        {labels or labels_of(i)} AS labels, {assignees or assignees_of(i)} AS assignees,
        {i}.created_at, {i}.updated_at, {i}.closed_at"""


def detail_columns(
    labels: str | None = None, assignees: str | None = None, i: str = "i", dup: str = "dup"
) -> str:
    """The Issue columns: the summary, the body, the duplicated issue's number, reactions."""
    return f"""{summary_columns(labels, assignees, i)},
        {i}.body, {dup}.number AS duplicate_of, {i}.edited_at,
        {reactions_of(i, "issue_id")} AS reactions"""


def issue_joins(i: str = "i", au: str = "au", dup: str = "dup") -> str:
    """Joins of issue ``i``'s author (``au``) and the issue it duplicates (``dup``)."""
    return f"""
    LEFT JOIN users {au} ON {au}.id = {i}.author_id
    LEFT JOIN issues {dup} ON {dup}.repository_id = {i}.repository_id AND {dup}.id = {i}.duplicate_of_id"""


ISSUE_SUMMARY: Final = summary_columns()
ISSUE_DETAIL: Final = detail_columns()
ISSUE_FROM: Final = issue_joins()
