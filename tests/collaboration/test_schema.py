"""The collaboration tables refuse what the forge must never hold. Each test names the SQLSTATE and constraint
the Python layer maps."""

from __future__ import annotations

from typing import Any

import psycopg
from schema_factories import comment, issue, refused, repository, user

Conn = psycopg.Connection[Any]


def test_reactions_are_unique_per_user_target_and_emoji(conn: Conn) -> None:
    alice = user(conn)
    repo = repository(conn, alice)
    target = issue(conn, repo)
    note = comment(conn, repo, target)
    on_issue = (
        "INSERT INTO reactions (repository_id, issue_id, user_id, emoji) VALUES (%s, %s, %s, %s)"
    )
    on_comment = (
        "INSERT INTO reactions (repository_id, comment_id, user_id, emoji) VALUES (%s, %s, %s, %s)"
    )
    conn.execute(on_issue, (repo, target, alice, "+1"))
    conn.execute(on_issue, (repo, target, alice, "heart"))  # another emoji
    conn.execute(on_comment, (repo, note, alice, "+1"))  # another target
    conn.execute(on_issue, (repo, target, user(conn), "+1"))  # another user
    with refused("23505", "reactions_issue_user_emoji_key"):
        conn.execute(on_issue, (repo, target, alice, "+1"))
    with refused("23505", "reactions_comment_user_emoji_key"):
        conn.execute(on_comment, (repo, note, alice, "+1"))


def test_reactions_use_the_fixed_emoji_set(conn: Conn) -> None:
    alice = user(conn)
    repo = repository(conn, alice)
    with refused("23514", "reactions_emoji_check"):
        conn.execute(
            "INSERT INTO reactions (repository_id, issue_id, user_id, emoji) VALUES (%s, %s, %s, 'thumbsup')",
            (repo, issue(conn, repo), alice),
        )


def test_a_reaction_has_exactly_one_target(conn: Conn) -> None:
    alice = user(conn)
    repo = repository(conn, alice)
    target = issue(conn, repo)
    with refused("23514", "reactions_one_target_check"):
        conn.execute(
            "INSERT INTO reactions (repository_id, issue_id, comment_id, user_id, emoji)"
            " VALUES (%s, %s, %s, %s, 'eyes')",
            (repo, target, comment(conn, repo, target), alice),
        )
    with refused("23514", "reactions_one_target_check"):
        conn.execute(
            "INSERT INTO reactions (repository_id, user_id, emoji) VALUES (%s, %s, 'eyes')",
            (repo, alice),
        )


def test_mentions_are_recorded_once_per_target_and_user(conn: Conn) -> None:
    alice = user(conn)
    repo = repository(conn, alice)
    target = issue(conn, repo)
    insert = "INSERT INTO mentions (repository_id, issue_id, mentioned_user_id) VALUES (%s, %s, %s)"
    conn.execute(insert, (repo, target, alice))
    with refused("23505", "mentions_target_user_key"):
        conn.execute(insert, (repo, target, alice))
