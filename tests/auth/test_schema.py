"""The auth tables refuse what the forge must never hold. Each test names the SQLSTATE and constraint
the Python layer maps."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
from schema_factories import digest, refused, user

Conn = psycopg.Connection[Any]


def test_token_digests_are_sha256_sized(conn: Conn) -> None:
    alice = user(conn)
    statements = {
        "auth_sessions": "INSERT INTO auth_sessions (user_id, token_digest, expires_at, idle_timeout,"
        " absolute_expires_at) VALUES (%s, %s, now() + interval '1 day', interval '1 day',"
        " now() + interval '30 days')",
        "access_tokens": "INSERT INTO access_tokens (user_id, name, token_digest, token_hint, scopes)"
        " VALUES (%s, 'ci', %s, 'fdb_abcd', '{repo:read}')",
    }
    for table, statement in statements.items():
        for size in (0, 20, 31, 33, 64):
            with refused("23514", f"{table}_token_digest_check"):
                conn.execute(statement, (alice, secrets.token_bytes(size)))
        conn.execute(statement, (alice, digest()))


def test_session_token_digests_are_unique(conn: Conn) -> None:
    alice, token = user(conn), digest()
    insert = (
        "INSERT INTO auth_sessions (user_id, token_digest, expires_at, idle_timeout, absolute_expires_at)"
        " VALUES (%s, %s, now() + interval '1 day', interval '1 day', now() + interval '30 days')"
    )
    conn.execute(insert, (alice, token))
    with refused("23505", "auth_sessions_token_digest_key"):
        conn.execute(insert, (alice, token))


def test_access_token_scopes_come_from_the_vocabulary(conn: Conn) -> None:
    alice = user(conn)
    with refused("23514", "access_tokens_scopes_check"):
        conn.execute(
            "INSERT INTO access_tokens (user_id, name, token_digest, token_hint, scopes)"
            " VALUES (%s, 'ci', %s, 'fdb_abcd', '{repo:read,root}')",
            (alice, digest()),
        )


def test_siwe_nonces_need_sixteen_alphanumerics(conn: Conn) -> None:
    with refused("23514", "siwe_nonces_nonce_check"):
        conn.execute(
            "INSERT INTO siwe_nonces (nonce, expires_at) VALUES ('abc123', now() + interval '10 minutes')"
        )
