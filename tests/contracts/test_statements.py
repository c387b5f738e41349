"""Every statement every operation can send is checked against the schema, before behaviour.

For each public operation, one call per distinct SQL text (every filter, sort, direction and
cursor of a list) is built and PREPAREd on the migrated database, which checks every table,
column, function and operator it names. Then the statement's result columns are compared with
what the operation's shape expects: the same names, types that convert to the model's field
types, and no column the schema lets be NULL feeding a field that cannot hold ``None``. A
renamed column, a type that no longer fits, or a model field that no statement fills fails here.
"""

from __future__ import annotations

import datetime as dt
import types
import uuid
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import psycopg
import pytest
from psycopg import pq
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer
from pydantic import BaseModel

from .operations import OPERATIONS, statement_variants

# Type OIDs of the server, by the Python types psycopg loads them as.
_INT = {20, 21, 23}
_TEXT = {25, 1043, 19, 1042, 705}
_JSON = {114, 3802}
_ACCEPTED: dict[Any, set[int]] = {
    int: _INT,
    float: {700, 701, 1700},
    str: _TEXT,
    bool: {16},
    bytes: {17},
    dt.datetime: {1184},
    dt.date: {1082},
    dt.timedelta: {1186},
    uuid.UUID: {2950},
    Decimal: {1700},
    IPv4Address: {869},
    IPv6Address: {869},
    dict: _JSON,
}
_ARRAYS = {1005: int, 1007: int, 1016: int, 1009: str, 1015: str}


def _strip(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``None``, and whether ``None`` was allowed."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [m for m in get_args(annotation) if m is not type(None)]
        nullable = len(members) != len(get_args(annotation))
        inner = members[0] if len(members) == 1 else Union[tuple(members)]  # noqa: UP007
        return inner, nullable
    return annotation, annotation is Any


def _fits(annotation: Any, oid: int) -> bool:
    if annotation is Any:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_fits(m, oid) for m in get_args(annotation))
    if get_origin(annotation) is Literal:
        return oid in _TEXT
    if get_origin(annotation) is list or annotation is list:
        item = (get_args(annotation) or (Any,))[0]
        return oid in _JSON or (oid in _ARRAYS and _fits(item, _ANY_OID[_ARRAYS[oid]]))
    if get_origin(annotation) is dict:
        return oid in _JSON
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return oid in _JSON
    return oid in _ACCEPTED.get(annotation, set())


_ANY_OID = {int: 20, str: 25}


def _describe(
    conn: psycopg.Connection[Any], sql: Any, params: Any
) -> list[tuple[str, int, int, int]]:
    """PREPARE the statement; its result columns as (name, type oid, table oid, column number)."""
    converted = PostgresQuery(Transformer(conn))
    converted.convert(sql, params)
    pgconn = conn.pgconn
    prepared = pgconn.prepare(b"contract_check", converted.query, converted.types)
    if prepared.status != pq.ExecStatus.COMMAND_OK:
        raise AssertionError((prepared.error_message or b"").decode())
    described = pgconn.describe_prepared(b"contract_check")
    pgconn.exec_(b"DEALLOCATE contract_check")
    return [
        (
            (described.fname(i) or b"").decode(),
            described.ftype(i),
            described.ftable(i),
            described.ftablecol(i),
        )
        for i in range(described.nfields)
    ]


@pytest.fixture(scope="module")
def nullable_columns(forge_db_pool: Any) -> Any:
    """A lookup: is (table oid, column number) nullable in the schema?"""
    name = forge_db_pool.checkout()
    try:
        with psycopg.connect(forge_db_pool.url(name)) as conn:
            # Tables only: a view's columns are always nullable in the catalog, whatever they
            # select; yoyo's bookkeeping is not the forge's schema.
            rows = conn.execute(
                "SELECT a.attrelid::bigint, a.attnum, NOT a.attnotnull FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE a.attnum > 0 AND c.relkind IN ('r', 'p') AND c.relname NOT LIKE '%yoyo%'"
            ).fetchall()
    finally:
        forge_db_pool.checkin(name)
    return {(table, column): nullable for table, column, nullable in rows}


def test_every_operation_is_checked() -> None:
    assert len(OPERATIONS) > 100, sorted(OPERATIONS)


def _mismatches(
    where: str,
    columns: list[tuple[str, int, int, int]],
    query: Any,
    nullable_columns: dict[tuple[int, int], bool],
) -> list[str]:
    """What is wrong between a statement's result columns and the shape that reads them."""
    expected = query.shape.columns
    if expected is None:
        return []
    names = [name for name, *_ in columns]
    if set(expected) == {""}:
        if len(columns) < 1:
            return [f"{where}: returns no column"]
        expected = {names[0]: expected[""]}
    problems: list[str] = []
    missing = set(expected) - set(names)
    extra = set(names) - set(expected)
    if missing or extra:
        problems.append(f"{where}: columns missing {sorted(missing)}, unexpected {sorted(extra)}")
    for name, oid, table, column in columns:
        if name not in expected:
            continue
        annotation, nullable = _strip(expected[name])
        if not _fits(annotation, oid):
            problems.append(f"{where}: column {name} has type oid {oid}, model wants {annotation}")
        if table and column and nullable_columns.get((table, column)) and not nullable:
            problems.append(f"{where}: column {name} may be NULL in the schema, model field cannot")
    return problems


@pytest.mark.parametrize("path", sorted(OPERATIONS))
def test_every_statement_prepares_and_returns_what_its_model_needs(
    path: str,
    conn: psycopg.Connection[Any],
    nullable_columns: dict[tuple[int, int], bool],
) -> None:
    problems: list[str] = []
    variants = 0
    for args, query in statement_variants(path):
        variants += 1
        # A bulk operation's direct path ends in a statement of its own, read by the same shape.
        direct = query.copy.direct if query.copy is not None else None
        statements = [("", query.sql, query.params)]
        if direct is not None:
            statements.append(("direct path: ", direct.follow, direct.params))
        for label, sql, params in statements:
            try:
                # A bulk statement reads the temporary table its COPY fills: make it first.
                with conn.transaction(force_rollback=True):
                    if query.copy is not None:
                        conn.execute(query.copy.setup)
                    columns = _describe(conn, sql, params)
            except AssertionError as exc:
                problems.append(f"{label}{args}: does not prepare: {exc}")
                continue
            problems += _mismatches(f"{label}{args}", columns, query, nullable_columns)
    assert variants >= 1
    assert not problems, f"{path}:\n" + "\n".join(problems[:20])
