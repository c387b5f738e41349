"""One definition, two APIs: the meta namespace through ForgeDB and AsyncForgeDB."""

from __future__ import annotations

import inspect
import re
from datetime import datetime
from typing import Annotated, Any

import psycopg
import pytest

from forge_db import AlreadyExists, AsyncForgeDB, ForgeDB, InvalidInput, NotFound
from forge_db.inputs import Bounded, Id
from forge_db.meta import AppliedMigration, Meta
from forge_db.migrations import migrations_dir
from forge_db.query import (
    AsyncRunner,
    Copy,
    Direct,
    Query,
    R,
    Result,
    Shape,
    alias,
    aliases,
    execute_async,
    execute_sync,
    many,
    one,
    operations,
    optional,
    read,
    rowcount,
    scalar,
    write,
)


def test_server_version_matches_the_server(fdb: ForgeDB, server_version_num: int) -> None:
    assert fdb.meta.server_version_num() == server_version_num
    assert re.match(r"^\d+(\.\d+)?", fdb.meta.server_version())


def test_applied_migrations_lists_every_migration_file(fdb: ForgeDB) -> None:
    expected = sorted(p.stem for p in migrations_dir().glob("*.sql") if ".rollback" not in p.name)
    applied = fdb.meta.applied_migrations()
    assert all(isinstance(m, AppliedMigration) for m in applied)
    assert [m.migration_id for m in applied] == expected
    assert all(m.applied_at.tzinfo is not None for m in applied)


def test_pool_options_reach_the_session(database_url: str) -> None:
    with ForgeDB.connect(database_url, application_name="forge-test", statement_timeout=7) as db:
        settings = db.meta.session_settings()
    assert settings.application_name == "forge-test"
    assert settings.statement_timeout == "7s"
    assert settings.in_transaction is False


def test_transaction_binds_namespaces_to_one_connection(fdb: ForgeDB) -> None:
    with fdb.transaction(isolation="serializable", read_only=True) as tx:
        settings = tx.meta.session_settings()
        assert tx.meta.database_name() == fdb.meta.database_name()
    assert settings.transaction_isolation == "serializable"
    assert settings.transaction_read_only is True
    assert settings.in_transaction is True


def test_transaction_without_options_uses_read_committed(fdb: ForgeDB) -> None:
    with fdb.transaction() as tx:
        settings = tx.meta.session_settings()
    assert settings.transaction_isolation == "read committed"
    assert settings.transaction_read_only is False


def test_transaction_rolls_back_when_the_block_raises(
    db: ForgeDB, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE TABLE scratch (x int)")
    with pytest.raises(RuntimeError), db.transaction() as tx:
        tx.connection.execute("INSERT INTO scratch VALUES (1)")
        raise RuntimeError("abort")
    with db.transaction() as tx:
        tx.connection.execute("INSERT INTO scratch VALUES (2)")
    assert conn.execute("SELECT array_agg(x) FROM scratch").fetchone() == ([2],)


@pytest.mark.anyio
async def test_async_transaction_rolls_back_when_the_block_raises(
    adb: AsyncForgeDB, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE TABLE scratch (x int)")
    with pytest.raises(RuntimeError):
        async with adb.transaction() as tx:
            await tx.connection.execute("INSERT INTO scratch VALUES (1)")
            raise RuntimeError("abort")
    async with adb.transaction() as tx:
        await tx.connection.execute("INSERT INTO scratch VALUES (2)")
    assert conn.execute("SELECT array_agg(x) FROM scratch").fetchone() == ([2],)


@pytest.mark.anyio
async def test_async_api_returns_the_same_values_as_sync(adb: AsyncForgeDB, db: ForgeDB) -> None:
    assert await adb.meta.server_version() == db.meta.server_version()
    assert await adb.meta.applied_migrations() == db.meta.applied_migrations()


@pytest.mark.parametrize(
    ("spelling", "level"),
    [
        ("READ COMMITTED", "read committed"),
        ("Repeatable Read", "repeatable read"),
        ("repeatable_read", "repeatable read"),
        ("SERIALIZABLE", "serializable"),
        ("  read   committed ", "read committed"),
    ],
)
def test_isolation_level_is_accepted_in_any_case(fdb: ForgeDB, spelling: str, level: str) -> None:
    with fdb.transaction(isolation=spelling) as tx:
        assert tx.meta.session_settings().transaction_isolation == level


@pytest.mark.parametrize(
    "isolation",
    ["chaos", "", "read", ["serializable"], 1, True, b"serializable", "serial\x00izable", "\ud800"],
    ids=repr,
)
def test_unknown_isolation_level_is_invalid_input_naming_it(
    fdb: ForgeDB, isolation: object
) -> None:
    with pytest.raises(InvalidInput) as info, fdb.transaction(isolation=isolation):  # type: ignore[arg-type]
        pass
    assert info.value.field == "isolation"
    assert "isolation" in str(info.value)


@pytest.mark.parametrize("read_only", ["yes", "no", "False", 1, 0, None, [], 1.0], ids=repr)
def test_read_only_must_be_a_real_bool(fdb: ForgeDB, read_only: object) -> None:
    with pytest.raises(InvalidInput) as info, fdb.transaction(read_only=read_only):  # type: ignore[arg-type]
        pass
    assert info.value.field == "read_only"


def test_refused_transaction_options_leave_the_pool_usable(db: ForgeDB) -> None:
    for _ in range(db.settings.max_size + 1):
        with pytest.raises(InvalidInput), db.transaction(isolation="chaos"):
            pass
    assert db.meta.server_version_num() > 0


def test_operation_exposes_its_query_without_running_it(db: ForgeDB) -> None:
    query = Meta.server_version.query(db.meta)
    assert isinstance(query, Query)
    assert "server_version" in str(query.sql)
    assert "server_version" in str(db.meta.server_version.query().sql)


def test_operation_keeps_the_docstring(db: ForgeDB) -> None:
    assert Meta.server_version.__doc__
    assert "version" in Meta.server_version.__doc__
    assert db.meta.server_version.__doc__ == Meta.server_version.__doc__


def test_an_operation_says_whether_it_writes() -> None:
    assert Meta.server_version.writes is False
    assert Echo.store.writes is True
    assert set(operations(Echo)) >= {"echo", "store", "server_version"}


def test_a_bound_operation_is_made_once_per_namespace(db: ForgeDB) -> None:
    assert db.meta.server_version is db.meta.server_version


def _result(
    rows: list[tuple[object, ...]], columns: tuple[str, ...] = ("migration_id", "applied_at")
) -> Result:
    return Result(rows, columns, len(rows))


def test_one_raises_not_found_with_the_given_message() -> None:
    with pytest.raises(NotFound, match="migration 7 not found"):
        one(AppliedMigration, "migration 7 not found").convert(_result([]))


def test_optional_many_scalar_and_rowcount_shapes() -> None:
    row = ("0001", "2026-01-01T00:00:00+00:00")
    assert optional(AppliedMigration).convert(_result([])) is None
    assert optional(AppliedMigration).convert(_result([row])) == AppliedMigration.model_validate(
        {"migration_id": "0001", "applied_at": "2026-01-01T00:00:00+00:00"}
    )
    assert len(many(AppliedMigration).convert(_result([row, row]))) == 2
    assert scalar(int).convert(_result([(3,)], ("n",))) == 3
    assert rowcount.convert(Result([], (), 5)) == 5


def test_a_shape_names_the_columns_it_expects() -> None:
    assert one(AppliedMigration, "x").columns == {"migration_id": str, "applied_at": datetime}
    assert scalar(int).columns == {"": int}
    assert rowcount.columns is None


class Echo(Meta[R]):
    """A namespace of test operations."""

    @read
    def echo(self, value: Annotated[int, Bounded(0, 100)]) -> Query[int]:
        """Return the value."""
        if value == 13:
            raise InvalidInput("value must not be 13", field="value")
        return Query("SELECT %s::int", (value,), scalar(int))

    @write
    def store(self, value: Id) -> Query[int]:
        """Pretend to store."""
        return Query("SELECT %s::int", (value,), scalar(int))


@pytest.mark.parametrize("value", [-1, 101, True, 1.0, "1", None])
def test_an_argument_outside_its_type_is_invalid_input_naming_it(
    db: ForgeDB, value: object
) -> None:
    echo = Echo(db.meta._runner)
    with pytest.raises(InvalidInput) as info:
        echo.echo(value)  # type: ignore[arg-type]
    assert info.value.field == "value"
    assert str(info.value).startswith("value ")


def test_a_call_that_does_not_fit_the_signature_is_a_type_error(db: ForgeDB) -> None:
    echo = Echo(db.meta._runner)
    with pytest.raises(TypeError, match="echo"):
        echo.echo()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="nonsense"):
        echo.echo(1, nonsense=2)  # type: ignore[call-arg]


def test_validation_in_an_operation_raises_before_any_sql(db: ForgeDB) -> None:
    echo = Echo(db.meta._runner)
    assert echo.echo(4) == 4
    with pytest.raises(InvalidInput, match="13") as info:
        echo.echo(13)
    assert info.value.field == "value"


@pytest.mark.anyio
async def test_async_validation_error_surfaces_when_awaited(adb: AsyncForgeDB) -> None:
    echo: Echo[AsyncRunner] = Echo(adb.meta._runner)
    assert await echo.echo(5) == 5
    pending = echo.echo(13)
    with pytest.raises(InvalidInput, match="13"):
        await pending


@pytest.mark.anyio
async def test_an_async_operation_returns_a_coroutine(adb: AsyncForgeDB) -> None:
    pending = adb.meta.server_version()
    assert inspect.iscoroutine(pending)
    assert isinstance(await pending, str)


def test_compact_folds_whitespace_and_drops_comments_but_not_in_literals() -> None:
    from forge_db.query import compact

    sql = "SELECT  1 -- note\n  , '--  kept  ' , \"odd  name\"\n\tFROM t  WHERE x = 'it''s  '"
    assert compact(sql) == "SELECT 1 , '--  kept  ' , \"odd  name\" FROM t WHERE x = 'it''s  '"


def test_compact_reads_a_quote_inside_a_comment_as_comment_text(
    conn: psycopg.Connection[Any],
) -> None:
    """A comment saying "the run's steps" once opened a literal that swallowed the statement."""
    from forge_db.query import compact

    sql = "SELECT 1 AS a, -- the run's steps\n  2 AS b -- and 'another\n  , $$ it's  $$ AS c"
    folded = compact(sql)
    assert folded == "SELECT 1 AS a, 2 AS b , $$ it's  $$ AS c"
    assert conn.execute(folded).fetchone() == (1, 2, " it's  ")


class WithAlias(Meta[R]):
    """A namespace that keeps a child's operation under a second name."""

    echoes: Echo[R]
    echo = alias(Echo.echo)


def test_an_alias_is_the_very_operation_of_the_child(db: ForgeDB) -> None:
    parent: WithAlias[Any] = WithAlias(db.meta._runner)
    assert parent.echo(7) == 7
    assert WithAlias.echo is Echo.echo
    assert parent.echo.operation is parent.echoes.echo.operation
    assert aliases(WithAlias) == {"echo": Echo.echo}
    assert "echo" not in operations(WithAlias)
    with pytest.raises(InvalidInput) as info:
        parent.echo(13)
    assert info.value.field == "value"


# --- the direct path of a bulk statement -------------------------------------------------------

_KEYS_TABLE = "CREATE TABLE scratch_keys (k int PRIMARY KEY, v text NOT NULL)"
_KEYS_SETUP = "CREATE TEMP TABLE IF NOT EXISTS scratch_stage (k int, v text) ON COMMIT DROP"
_KEYS_STAGED = """
    WITH staged AS (DELETE FROM pg_temp.scratch_stage RETURNING k, v),
    inserted AS (
        INSERT INTO scratch_keys SELECT k, v FROM staged ORDER BY k
        ON CONFLICT (k) DO NOTHING RETURNING 1
    )
    SELECT 'staged' AS path, (SELECT count(*) FROM inserted) AS inserted
"""


def _keys(rows: list[tuple[int, str]], follow: str = "") -> Query[tuple[str, int]]:
    """Rows for ``scratch_keys``: straight in when every key is new, else through staging."""
    return Query(
        _KEYS_STAGED,
        (),
        Shape(lambda r: (r.rows[0][0], r.rows[0][1]), {"path": str, "inserted": int}),
        copy=Copy(
            _KEYS_SETUP,
            "COPY pg_temp.scratch_stage (k, v) FROM STDIN (FORMAT BINARY)",
            ("int4", "text"),
            iter(rows),  # a one-pass iterable: the fallback must still have the rows
            direct=Direct(
                "COPY scratch_keys (k, v) FROM STDIN (FORMAT BINARY)",
                follow or "SELECT 'direct' AS path, %(n)s::bigint AS inserted",
                {"n": len(rows)},
            ),
        ),
    )


def test_a_bulk_statement_goes_direct_unless_a_row_exists(conn: psycopg.Connection) -> None:
    conn.execute(_KEYS_TABLE)
    assert execute_sync(conn, _keys([(1, "a"), (2, "b")]), deadline=30) == ("direct", 2)
    assert execute_sync(conn, _keys([(3, "c"), (2, "x"), (4, "d")]), deadline=30) == (
        "staged",
        2,
    )
    # Inside a caller's transaction the fallback rolls back only its own savepoint.
    with conn.transaction():
        conn.execute("INSERT INTO scratch_keys VALUES (10, 'j')")
        assert execute_sync(conn, _keys([(5, "e"), (1, "y")])) == ("staged", 1)
        assert execute_sync(conn, _keys([(6, "f")])) == ("direct", 1)
    rows = conn.execute("SELECT k, v FROM scratch_keys ORDER BY k").fetchall()
    assert rows == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e"), (6, "f"), (10, "j")]
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_an_error_after_the_direct_copy_is_the_operations_error(
    conn: psycopg.Connection,
) -> None:
    """Only the direct ``COPY``'s unique violation takes the fallback: the follow statement's
    own is raised (and the rows of the direct ``COPY`` go with the rolled-back transaction)."""
    conn.execute(_KEYS_TABLE)
    conn.execute("INSERT INTO scratch_keys VALUES (1, 'a')")
    # n = 1, the key already there.
    duplicate = "INSERT INTO scratch_keys VALUES (%(n)s, 'z') RETURNING 'direct' AS path, k"
    with pytest.raises(AlreadyExists):
        execute_sync(conn, _keys([(2, "b")], follow=duplicate))
    assert conn.execute("SELECT count(*) FROM scratch_keys").fetchone() == (1,)
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


@pytest.mark.anyio
async def test_async_bulk_statement_goes_direct_unless_a_row_exists(
    database_url: str, conn: psycopg.Connection
) -> None:
    conn.execute(_KEYS_TABLE)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as aconn:
        assert await execute_async(aconn, _keys([(1, "a"), (2, "b")]), deadline=30) == (
            "direct",
            2,
        )
        assert await execute_async(aconn, _keys([(2, "x"), (3, "c")]), deadline=30) == (
            "staged",
            1,
        )
        async with aconn.transaction():
            assert await execute_async(aconn, _keys([(1, "y"), (4, "d")])) == ("staged", 1)
            assert await execute_async(aconn, _keys([(5, "e")])) == ("direct", 1)
    rows = conn.execute("SELECT k, v FROM scratch_keys ORDER BY k").fetchall()
    assert rows == [(1, "a"), (2, "b"), (3, "c"), (4, "d"), (5, "e")]
