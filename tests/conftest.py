"""The suite's fixtures come from the forge_db.testing plugin (registered by entry point)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from forge_db.config import with_dbname
from forge_db.testing import TestServer

pytest_plugins = ["pytester"]


@pytest.fixture
def empty_database_url(
    forge_db_server: TestServer, forge_db_admin: psycopg.Connection
) -> Iterator[str]:
    """URL of a new database with nothing in it (not migrated)."""
    name = f"forge_db_empty_{secrets.token_hex(5)}"
    ident = sql.Identifier(name)
    forge_db_admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    try:
        yield with_dbname(forge_db_server.url, name)
    finally:
        forge_db_admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
