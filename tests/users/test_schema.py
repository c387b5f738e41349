"""The users tables refuse what the forge must never hold. Each test names the SQLSTATE and constraint
the Python layer maps."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
from schema_factories import refused, user

Conn = psycopg.Connection[Any]


def test_usernames_are_unique_case_insensitively(conn: Conn) -> None:
    user(conn, "Alice")
    with refused("23505", "users_username_lower_key"):
        user(conn, "aLICE")


def test_malformed_usernames_are_refused(conn: Conn) -> None:
    for username in ["", "-alice", "alice-", "al--ice", "al_ice", "al ice", "ålice", "a" * 40]:
        with refused("23514", "users_username_check"):
            user(conn, username)


def test_well_formed_usernames_are_accepted(conn: Conn) -> None:
    for username in ["a", "A-b-C", "x" * 39, "0-9"]:
        user(conn, username)


def test_wallet_addresses_are_stored_only_in_canonical_form(conn: Conn) -> None:
    for address in [
        "0xABCDEF0123456789abcdef0123456789ABCDEF01",  # EIP-55 mixed case: fold before storing
        "abcdef0123456789abcdef0123456789abcdef01",
        "0x" + "a" * 39,
        "0X" + "a" * 40,
    ]:
        with refused("23514", "users_wallet_address_check"):
            conn.execute(
                "INSERT INTO users (username, wallet_address) VALUES ('w', %s)", (address,)
            )
    conn.execute(
        "INSERT INTO users (username, wallet_address) VALUES ('w', %s)", ("0x" + "a" * 40,)
    )


def test_eth_usernames_are_reserved_for_their_wallet(conn: Conn) -> None:
    wallet = "0x" + "ab" * 20
    insert = "INSERT INTO users (username, wallet_address) VALUES (%s, %s)"
    with refused("23514", "users_username_reserved_check"):
        conn.execute(insert, ("eth-" + "ab" * 8, None))
    with refused("23514", "users_username_reserved_check"):
        conn.execute(insert, ("ETH-" + "cd" * 8, wallet))
    conn.execute(insert, ("eth-" + "ab" * 8, wallet))


def test_wallet_addresses_are_unique(conn: Conn) -> None:
    address = "0x" + secrets.token_hex(20)
    conn.execute("INSERT INTO users (username, wallet_address) VALUES ('a', %s)", (address,))
    with refused("23505", "users_wallet_address_key"):
        conn.execute("INSERT INTO users (username, wallet_address) VALUES ('b', %s)", (address,))


def test_email_addresses_are_unique_case_insensitively(conn: Conn) -> None:
    alice, bob = user(conn), user(conn)
    conn.execute(
        "INSERT INTO email_addresses (user_id, email) VALUES (%s, 'Alice@Example.org')", (alice,)
    )
    with refused("23505", "email_addresses_email_lower_key"):
        conn.execute(
            "INSERT INTO email_addresses (user_id, email) VALUES (%s, 'alice@EXAMPLE.ORG')", (bob,)
        )


def test_a_user_has_at_most_one_primary_email(conn: Conn) -> None:
    alice = user(conn)
    insert = "INSERT INTO email_addresses (user_id, email, is_primary) VALUES (%s, %s, %s)"
    conn.execute(insert, (alice, "a@example.org", True))
    conn.execute(insert, (alice, "b@example.org", False))
    with refused("23P01", "email_addresses_one_primary_excl"):
        conn.execute(insert, (alice, "c@example.org", True))
