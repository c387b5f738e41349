"""Notification fan-out, for any domain's statement: one schema function decides who is told.

``notification_recipients()`` (in the schema) keeps the rules: once per user with the most
specific reason, never the actor, an inactive user, someone ignoring the repository, or anyone
who cannot read it. :func:`fan_out` writes the data-modifying CTE that stores what it returns,
with the statement's own CTE names passed in.
"""

from __future__ import annotations

__all__ = ["fan_out"]


def fan_out(
    *,
    subject: str,
    candidates: str,
    issue: str,
    comment: str = "NULL",
    actor: str = "%(actor_id)s",
    name: str = "notified",
    landing: str = "NULL",
    pull_request: str = "NULL",
    match: str = "true",
) -> str:
    """A CTE ``name`` inserting the notifications of one event; a data-modifying CTE always runs.

    ``subject`` names a CTE with the event's ``repository_id`` (its alias inside is ``s``);
    ``candidates`` names a CTE of ``(user_id, reason, priority)`` rows, lowest priority first;
    ``issue`` and ``comment`` (or ``landing`` and ``pull_request``) are SQL expressions over
    ``s`` for what the notification is about. Where ``subject`` holds several events, each with
    candidates of its own, ``match`` is the condition over ``s`` and ``c`` that pairs them.
    """
    return f"""{name} AS (
        INSERT INTO notifications (user_id, repository_id, issue_id, comment_id, landing_id,
                                   pull_request_id, actor_id, reason)
        SELECT r.user_id, s.repository_id, {issue}, {comment}, {landing}, {pull_request},
               {actor}, r.reason
        FROM {subject} s,
             notification_recipients(
                 s.repository_id, {actor},
                 ARRAY(SELECT c.user_id FROM {candidates} c WHERE {match}
                       ORDER BY c.priority, c.user_id),
                 ARRAY(SELECT c.reason FROM {candidates} c WHERE {match}
                       ORDER BY c.priority, c.user_id)) r
        -- Most events tell no one: then the function is not even called.
        WHERE EXISTS (SELECT 1 FROM {candidates})
        RETURNING user_id
    )"""
