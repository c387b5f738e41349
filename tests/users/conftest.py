"""Fixtures of the users tests: reading tables raw, to show what a refusal left unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

Conn = psycopg.Connection[Any]
Snapshot = Callable[..., dict[str, list[tuple[Any, ...]]]]


@pytest.fixture
def snapshot(conn: Conn) -> Snapshot:
    """Every row of the named tables (default: ``users`` and ``email_addresses``), read over
    ``conn``. Two equal snapshots mean nothing was inserted, updated or deleted in between."""

    def take(*tables: str) -> dict[str, list[tuple[Any, ...]]]:
        names = tables or ("users", "email_addresses")
        return {
            name: conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(name))
            ).fetchall()
            for name in names
        }

    return take
