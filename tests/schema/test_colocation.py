"""Sharding readiness (docs/scaling.md): the schema distributes by ``repository_id`` on Citus.

A repository-scoped table is one with a ``repository_id NOT NULL`` column (and ``repositories``
itself, distributed by its ``id``); a table whose ``repository_id`` may be NULL holds rows of no
repository too, so it cannot be distributed by it (Citus refuses a NULL distribution value). Citus can only enforce a primary key or unique constraint of a
distributed table when it includes the distribution column, and only enforce a foreign key
between two distributed tables when both sides include it (colocated joins, single-shard
writes). Tables without the column are reference tables (copied to every node), which any
table may reference.
"""

from __future__ import annotations

from typing import Any

import psycopg

_TABLES = """
    SELECT c.relname,
           EXISTS (SELECT FROM pg_attribute a
                   WHERE a.attrelid = c.oid AND a.attname = 'repository_id' AND a.attnotnull
                     AND NOT a.attisdropped)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND c.relname NOT LIKE '\\_yoyo%%' AND c.relname NOT LIKE 'yoyo%%'
"""

_KEYS = """
    SELECT con.conrelid::regclass::text, con.contype::text, con.conname,
           array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(num, i)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                 ORDER BY k.i),
           con.confrelid::regclass::text,
           array(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(num, i)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
                 ORDER BY k.i)
    FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
    WHERE n.nspname = 'public' AND con.contype IN ('p', 'u', 'f')
"""


def _catalog(conn: psycopg.Connection[Any]) -> tuple[set[str], list[tuple[Any, ...]]]:
    scoped = {name for name, has in conn.execute(_TABLES).fetchall() if has}
    return scoped | {"repositories"}, conn.execute(_KEYS).fetchall()


def _distribution_column(table: str) -> str:
    return "id" if table == "repositories" else "repository_id"


def test_there_are_repository_scoped_tables(conn: psycopg.Connection[Any]) -> None:
    scoped, _ = _catalog(conn)
    assert {"issues", "labels", "repositories"} <= scoped


def test_every_repository_scoped_table_has_a_key_with_repository_id(
    conn: psycopg.Connection[Any],
) -> None:
    scoped, keys = _catalog(conn)
    keyed = {
        table
        for table, kind, _name, columns, _ref, _ref_columns in keys
        if kind in ("p", "u") and _distribution_column(table) in columns
    }
    assert sorted(scoped - keyed) == []


# References that cross repositories on purpose: on Citus each becomes a reference the
# application checks (docs/scaling.md, "What would change").
_CROSS_REPOSITORY = {
    "workflow_runs_parent_run_id_fkey",  # a run may start runs in other repositories
}


def test_foreign_keys_between_repository_scoped_tables_include_repository_id(
    conn: psycopg.Connection[Any],
) -> None:
    scoped, keys = _catalog(conn)
    wrong = [
        f"{table}.{name}: ({', '.join(columns)}) -> {ref}({', '.join(ref_columns)})"
        for table, kind, name, columns, ref, ref_columns in keys
        if kind == "f"
        and table in scoped
        and ref in scoped
        and name not in _CROSS_REPOSITORY
        and not (
            _distribution_column(table) in columns
            and _distribution_column(ref) in ref_columns
            and columns.index(_distribution_column(table))
            == ref_columns.index(_distribution_column(ref))
        )
    ]
    assert wrong == []
