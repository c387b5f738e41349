"""SQL fragments shared by the issue operations: how an issue row becomes a model row."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ASSIGNEES_OF",
    "FANOUT",
    "ISSUE_DETAIL",
    "ISSUE_FROM",
    "ISSUE_SUMMARY",
    "LABELS_OF",
    "REACTIONS_OF_COMMENT",
    "REACTIONS_OF_ISSUE",
    "author_or_writer",
    "detail_columns",
    "summary_columns",
]

# Labels and assignees of issue alias ``i``, as JSON arrays, from the tables. Statements that
# change labels or assignees in the same statement build these from their own CTEs instead,
# because a statement does not see its own writes.
LABELS_OF: Final = """coalesce((
        SELECT json_agg(json_build_object('id', l.id, 'name', l.name, 'color', l.color)
                        ORDER BY lower(l.name))
        FROM issue_labels il JOIN labels l ON l.id = il.label_id
        WHERE il.repository_id = i.repository_id AND il.issue_id = i.id), '[]')"""
ASSIGNEES_OF: Final = """coalesce((
        SELECT json_agg(json_build_object('id', u.id, 'username', u.username)
                        ORDER BY lower(u.username))
        FROM issue_assignees ia JOIN users u ON u.id = ia.user_id
        WHERE ia.repository_id = i.repository_id AND ia.issue_id = i.id), '[]')"""
REACTIONS_OF_ISSUE: Final = """coalesce((
        SELECT json_object_agg(emoji, n) FROM (
            SELECT r.emoji, count(*) AS n FROM reactions r
            WHERE r.repository_id = i.repository_id AND r.issue_id = i.id
            GROUP BY r.emoji) AS grouped), '{}')"""
REACTIONS_OF_COMMENT: Final = """coalesce((
        SELECT json_object_agg(emoji, n) FROM (
            SELECT r.emoji, count(*) AS n FROM reactions r
            WHERE r.repository_id = c.repository_id AND r.comment_id = c.id
            GROUP BY r.emoji) AS grouped), '{}')"""


def summary_columns(labels: str = LABELS_OF, assignees: str = ASSIGNEES_OF) -> str:
    """The IssueSummary columns of issue alias ``i`` (author alias ``au``)."""
    return f"""
        i.id, i.repository_id, i.number, i.title, i.state, i.close_reason, i.author_id,
        au.username AS author, i.locked, i.comment_count, i.milestone_id,
        {labels} AS labels, {assignees} AS assignees,
        i.created_at, i.updated_at, i.closed_at"""


def detail_columns(labels: str = LABELS_OF, assignees: str = ASSIGNEES_OF) -> str:
    """The Issue columns of issue alias ``i`` (author ``au``, duplicate target ``dup``)."""
    return f"""{summary_columns(labels, assignees)},
        i.body, dup.number AS duplicate_of, i.edited_at, {REACTIONS_OF_ISSUE} AS reactions"""


ISSUE_SUMMARY: Final = summary_columns()
ISSUE_DETAIL: Final = detail_columns()
# Joins for the author and the duplicate target of issue alias ``i``.
ISSUE_FROM: Final = """
    LEFT JOIN users au ON au.id = i.author_id
    LEFT JOIN issues dup ON dup.repository_id = i.repository_id AND dup.id = i.duplicate_of_id"""

# Notification fan-out for an event on issue ``target`` (a CTE with repository_id and id) by
# %(actor)s. ``candidates`` (a CTE: user_id, reason, priority) lists who could be told; this keeps
# one row per user (the most specific reason), drops the actor, inactive users, users who
# ignore the repository and users who cannot read it (a private repository's activity never
# reaches a stranger).
FANOUT: Final = """
    notified AS (
        INSERT INTO notifications (user_id, repository_id, issue_id, comment_id, actor_id, reason)
        SELECT DISTINCT ON (c.user_id)
               c.user_id, t.repository_id, t.id, %(comment_id)s::bigint, %(actor)s, c.reason
        FROM candidates c
        CROSS JOIN target t
        JOIN users u ON u.id = c.user_id AND u.active
        WHERE c.user_id <> %(actor)s
          AND NOT EXISTS (SELECT 1 FROM watches w
                          WHERE w.user_id = c.user_id AND w.repository_id = t.repository_id
                            AND w.level = 'ignoring')
          AND can_read_repository(t.repository_id, c.user_id)
        ORDER BY c.user_id, c.priority
        RETURNING user_id
    )"""


def author_or_writer(alias: str, action: str) -> str:
    """A condition: the actor wrote row ``alias`` or may write the repository, else FDP01.

    CASE fixes the evaluation order, so the refusal is raised only when both tests fail.
    """
    return f"""CASE WHEN {alias}.author_id = %(actor)s
                     OR repository_access_level(guard.id, %(actor)s) >= 2
                THEN true
                ELSE raise_error('FDP01', 'only the author or a writer may {action}') IS NULL END"""
