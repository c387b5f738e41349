"""Driver errors become typed forge_db errors, in one place, naming what was wrong."""

from __future__ import annotations

import threading

import psycopg
import pytest

from forge_db import (
    AlreadyExists,
    AuthenticationFailed,
    Conflict,
    ForgeDB,
    ForgeDBError,
    InvalidInput,
    Misconfigured,
    NotFound,
    PermissionDenied,
    SchemaNotReady,
    Unavailable,
)
from forge_db.errors import redact, register_constraint_messages, translate
from forge_db.query import Query, execute_sync, nothing, scalar


@pytest.fixture
def tables(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(
        """
        CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL,
                             CONSTRAINT parent_name_short CHECK (length(name) < 10));
        CREATE UNIQUE INDEX parent_name_lower_key ON parent (lower(name));
        CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent);
        INSERT INTO parent VALUES (1, 'alice');
        """
    )
    return conn


def _error(conn: psycopg.Connection, sql: str) -> Exception:
    with pytest.raises(psycopg.Error) as info:
        conn.execute(sql)
    return translate(info.value)


def test_unique_violation_names_the_rule_and_the_value(tables: psycopg.Connection) -> None:
    error = _error(tables, "INSERT INTO parent VALUES (2, 'ALICE')")
    assert isinstance(error, AlreadyExists)
    assert error.constraint == "parent_name_lower_key"
    assert "(lower(name))=(alice) already exists" in str(error)


def test_registered_constraint_meaning_is_used(tables: psycopg.Connection) -> None:
    register_constraint_messages({"parent_name_lower_key": "a parent with this name"})
    error = _error(tables, "INSERT INTO parent VALUES (2, 'Alice')")
    assert str(error).startswith("a parent with this name")


def test_foreign_key_violation_is_not_found(tables: psycopg.Connection) -> None:
    error = _error(tables, "INSERT INTO child VALUES (1, 42)")
    assert isinstance(error, NotFound)
    assert "parent" in str(error)
    assert "42" in str(error)


def test_deleting_a_referenced_row_is_a_conflict(tables: psycopg.Connection) -> None:
    tables.execute("INSERT INTO child VALUES (1, 1)")
    error = _error(tables, "DELETE FROM parent WHERE id = 1")
    assert isinstance(error, Conflict)
    assert "still referenced" in str(error)


def test_check_violation_is_invalid_input(tables: psycopg.Connection) -> None:
    error = _error(tables, "INSERT INTO parent VALUES (3, 'a very long name')")
    assert isinstance(error, InvalidInput)
    assert "parent name short" in str(error)


def test_not_null_violation_names_the_column(tables: psycopg.Connection) -> None:
    error = _error(tables, "INSERT INTO parent VALUES (3, NULL)")
    assert isinstance(error, InvalidInput)
    assert error.field == "name"


def test_bad_text_is_invalid_input(conn: psycopg.Connection) -> None:
    assert isinstance(_error(conn, "SELECT 'x'::int"), InvalidInput)


def _run(url: str, sql: str, params: tuple[object, ...] = ()) -> Exception:
    """The error that running ``sql`` through forge_db's executor raises."""
    with psycopg.connect(url, autocommit=True) as raw, pytest.raises(ForgeDBError) as info:
        execute_sync(raw, Query(sql, params, nothing))
    return info.value


def test_missing_schema_table_says_to_migrate(empty_database_url: str) -> None:
    error = _run(empty_database_url, "SELECT * FROM users")
    assert isinstance(error, SchemaNotReady)
    assert isinstance(error, Unavailable)
    assert "forge-db migrate" in str(error)


def test_unmigrated_database_reads_as_schema_not_ready_through_the_api(
    empty_database_url: str,
) -> None:
    with ForgeDB.connect(empty_database_url, migrate=False) as db:  # noqa: SIM117
        with pytest.raises(SchemaNotReady, match="forge-db migrate"):
            db.meta.applied_migrations()


def test_missing_table_outside_the_schema_is_not_an_outage(conn: psycopg.Connection) -> None:
    error = _error(conn, "SELECT * FROM no_such_table")
    assert type(error) is ForgeDBError
    assert "no_such_table" in str(error)


def test_missing_from_clause_entry_is_not_an_outage(conn: psycopg.Connection) -> None:
    error = _error(conn, "SELECT users.id FROM issues")
    assert not isinstance(error, Unavailable)


def test_missing_schema_function_says_to_migrate(empty_database_url: str) -> None:
    error = _run(empty_database_url, "SELECT can_read_repository(%s, %s)", (1, 2))
    assert isinstance(error, SchemaNotReady)
    assert "can_read_repository" in str(error)


def test_schema_function_given_wrong_argument_types_is_invalid_input(database_url: str) -> None:
    # 2**63 does not fit bigint, so psycopg sends it as numeric: no such overload exists.
    error = _run(database_url, "SELECT can_read_repository(%s, %s)", (2**63, 1))
    assert isinstance(error, InvalidInput)
    assert "can_read_repository" in str(error)


def test_operator_missing_for_the_operand_types_is_invalid_input(conn: psycopg.Connection) -> None:
    # What a forged cursor key produced: a boolean compared with a timestamp.
    error = _error(conn, "SELECT now() < true")
    assert isinstance(error, InvalidInput)
    assert "migrate" not in str(error)


def test_operator_missing_through_the_executor_is_invalid_input(database_url: str) -> None:
    error = _run(database_url, "SELECT now() < %s", (True,))
    assert isinstance(error, InvalidInput)
    assert "migrate" not in str(error)


def test_unknown_function_outside_the_schema_is_not_an_outage(conn: psycopg.Connection) -> None:
    error = _error(conn, "SELECT lower(1)")
    assert isinstance(error, InvalidInput)
    assert "migrate" not in str(error)


@pytest.mark.parametrize(
    "sql",
    [
        "EXECUTE _pg3_7",  # the statement another server connection prepared
        "PREPARE _pg3_0 AS SELECT 1; PREPARE _pg3_0 AS SELECT 2",  # prepared by another client
    ],
)
def test_foreign_prepared_statement_names_the_option_to_turn_off(
    conn: psycopg.Connection, sql: str
) -> None:
    error = _error(conn, sql)
    assert isinstance(error, Misconfigured)
    assert error.field == "prepared_statements"
    assert "prepared_statements=False" in str(error)


def test_prepared_statement_replaced_behind_psycopgs_back_names_the_option(
    database_url: str,
) -> None:
    # What a transaction pooler does: the next server connection holds another statement
    # under the name psycopg gave its own, so the parameters do not fit.
    query = Query("SELECT %s::int + %s::int + %s::int", (1, 2, 3), scalar(int))
    with psycopg.connect(database_url, autocommit=True, prepare_threshold=0) as raw:
        assert execute_sync(raw, query) == 6
        raw.execute("DEALLOCATE _pg3_0", prepare=False)
        raw.execute("PREPARE _pg3_0(int, int, int, int) AS SELECT $1 + $2 + $3 + $4", prepare=False)
        with pytest.raises(Misconfigured) as info:
            execute_sync(raw, query)
    assert info.value.field == "prepared_statements"
    assert "bind message supplies 3 parameters" in str(info.value)


def test_own_prepared_statement_errors_are_not_taken_for_a_pooler(
    conn: psycopg.Connection,
) -> None:
    error = _error(conn, "EXECUTE my_statement")
    assert not isinstance(error, Misconfigured)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("FDN01", NotFound),
        ("FDA01", AlreadyExists),
        ("FDC01", Conflict),
        ("FDI01", InvalidInput),
        ("FDP01", PermissionDenied),
    ],
)
def test_custom_sqlstates_map_to_their_error(
    conn: psycopg.Connection, code: str, kind: type
) -> None:
    error = _error(
        conn,
        f"DO $$ BEGIN RAISE EXCEPTION 'the thing is wrong' USING ERRCODE = '{code}'; END $$",
    )
    assert type(error) is kind
    assert str(error) == "the thing is wrong"


def test_custom_authentication_failure_carries_its_reason(conn: psycopg.Connection) -> None:
    error = _error(
        conn,
        "DO $$ BEGIN RAISE EXCEPTION 'nonce was used' "
        "USING ERRCODE = 'FDU01', HINT = 'nonce_unknown_or_used'; END $$",
    )
    assert isinstance(error, AuthenticationFailed)
    assert error.reason == "nonce_unknown_or_used"


def test_serialization_failure_is_a_conflict(database_url: str, conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE counter (n int); INSERT INTO counter VALUES (0)")
    with psycopg.connect(database_url) as a, psycopg.connect(database_url) as b:
        for c in (a, b):
            c.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            c.execute("SELECT n FROM counter").fetchone()
        a.execute("UPDATE counter SET n = n + 1")
        a.commit()
        with pytest.raises(psycopg.Error) as info:
            b.execute("UPDATE counter SET n = n + 1")
        b.rollback()
    assert isinstance(translate(info.value), Conflict)


def test_deadlock_is_a_conflict(database_url: str, conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE pair (id int PRIMARY KEY); INSERT INTO pair VALUES (1), (2)")
    errors: list[Exception] = []
    barrier = threading.Barrier(2)

    def worker(first: int, second: int) -> None:
        with psycopg.connect(database_url) as c:
            c.execute("SET deadlock_timeout = '50ms'")
            c.execute("SELECT 1 FROM pair WHERE id = %s FOR UPDATE", (first,))
            barrier.wait()
            try:
                c.execute("SELECT 1 FROM pair WHERE id = %s FOR UPDATE", (second,))
            except psycopg.Error as exc:
                errors.append(translate(exc))
            c.rollback()

    threads = [threading.Thread(target=worker, args=p) for p in ((1, 2), (2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1
    assert isinstance(errors[0], Conflict)


def test_statement_timeout_is_unavailable_and_names_it(database_url: str) -> None:
    with ForgeDB.connect(database_url, statement_timeout=0.1) as db:  # noqa: SIM117
        with db.connection() as raw, pytest.raises(psycopg.Error) as info:
            raw.execute("SELECT pg_sleep(2)")
    error = translate(info.value)
    assert isinstance(error, Unavailable)
    assert "statement_timeout" in str(error)


def test_redact_hides_passwords_in_urls() -> None:
    text = "could not connect to postgresql://bob:s3cret@db.example:5432/forge"
    assert "s3cret" not in redact(text)
    assert "bob:***@db.example" in redact(text)
