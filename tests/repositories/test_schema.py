"""The repositories tables refuse what the forge must never hold. Each test names the SQLSTATE and constraint
the Python layer maps."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
from schema_factories import refused, repository, user

Conn = psycopg.Connection[Any]


def test_repository_names_are_unique_per_owner_case_insensitively(conn: Conn) -> None:
    alice, bob = user(conn), user(conn)
    repository(conn, alice, "Forge")
    repository(conn, bob, "forge")  # another owner may use the name
    with refused("23505", "repositories_owner_id_name_lower_key"):
        repository(conn, alice, "FORGE")


def test_malformed_repository_names_are_refused(conn: Conn) -> None:
    owner = user(conn)
    for name in ["", ".", "..", "x.git", "X.GIT", "a b", "a/b", "ümlaut", "r" * 101]:
        with refused("23514", "repositories_name_check"):
            repository(conn, owner, name)


def test_well_formed_repository_names_are_accepted(conn: Conn) -> None:
    owner = user(conn)
    for name in ["a", ".github", "x.git.bak", "A_b-c.d", "r" * 100]:
        repository(conn, owner, name)


def test_collaborator_roles_come_from_the_vocabulary(conn: Conn) -> None:
    alice = user(conn)
    with refused("23514", "repository_collaborators_role_check"):
        conn.execute(
            "INSERT INTO repository_collaborators (repository_id, user_id, role) VALUES (%s, %s, 'owner')",
            (repository(conn, alice), user(conn)),
        )


def test_conflicted_bookmark_targets_are_commit_ids(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    commit = secrets.token_hex(20)
    row = conn.execute(
        "INSERT INTO bookmarks (repository_id, name, targets) VALUES (%s, 'main', %s) RETURNING conflicted",
        (repo, [commit, secrets.token_hex(20)]),
    ).fetchone()
    assert row == (True,)
    with refused("23514", "bookmarks_targets_check"):
        conn.execute(
            "INSERT INTO bookmarks (repository_id, name, targets) VALUES (%s, 'dev', %s)",
            (repo, [commit, "HEAD"]),
        )
