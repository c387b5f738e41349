# TEMPORARY: replaced by forge_db.testing
"""Stand-in for the forge_db pytest plugin's database fixtures, with the same contract.

``SCHEMA_TEST_URL`` names the server (default: the local PostgreSQL on port 5432). db/schema.sql
is loaded once into a template database; each test gets a clone of it, dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SCHEMA = Path(__file__).resolve().parents[2] / "db" / "schema.sql"


def _url(base: str, dbname: str) -> str:
    params = conninfo_to_dict(base)
    params["dbname"] = dbname
    return make_conninfo(**params)


@pytest.fixture(scope="session")
def _schema_server() -> Iterator[tuple[str, psycopg.Connection[Any], str]]:
    base = os.environ.get("SCHEMA_TEST_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    template = f"schema_scratch_tpl_{secrets.token_hex(5)}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(template)))
        try:
            with psycopg.connect(_url(base, template), autocommit=True) as loader:
                loader.execute(SCHEMA.read_text())
            yield base, admin, template
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(template))
            )


@pytest.fixture
def database_url(_schema_server: tuple[str, psycopg.Connection[Any], str]) -> Iterator[str]:
    base, admin, template = _schema_server
    name = f"schema_scratch_{secrets.token_hex(6)}"
    admin.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    )
    try:
        yield _url(base, name)
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def server_version_num(_schema_server: tuple[str, psycopg.Connection[Any], str]) -> int:
    _, admin, _ = _schema_server
    row = admin.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None
    return int(row[0])
