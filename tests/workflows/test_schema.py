"""The workflows tables keep their invariants whoever writes: the claim, counters, caps."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from schema_factories import repository, user

Conn = psycopg.Connection[Any]


def _run(conn: Conn) -> tuple[int, Any]:
    repo = repository(conn, user(conn))
    row = conn.execute(
        "INSERT INTO workflow_runs (repository_id, trigger, steps_total) VALUES (%s, 'api', 2) "
        "RETURNING id",
        (repo,),
    ).fetchone()
    assert row is not None
    return repo, row[0]


@pytest.mark.parametrize(
    ("columns", "constraint"),
    [
        ("state, depends_on", "workflow_steps_claim_check"),  # running without a claim
        ("blockers, depends_on", "workflow_steps_blockers_check"),  # more blockers than deps
        ("labels, depends_on", "workflow_steps_labels_check"),
    ],
)
def test_steps_refuse_what_their_checks_forbid(conn: Conn, columns: str, constraint: str) -> None:
    repo, run = _run(conn)
    values = {
        "workflow_steps_claim_check": ("running", []),
        "workflow_steps_blockers_check": (2, [0]),
        "workflow_steps_labels_check": (["bad label"], []),
    }[constraint]
    with pytest.raises(psycopg.errors.CheckViolation) as refused:
        conn.execute(
            f"INSERT INTO workflow_steps (repository_id, run_id, position, name, {columns}) "
            "VALUES (%s, %s, 1, 's', %s, %s)",
            (repo, run, *values),
        )
    assert refused.value.diag.constraint_name == constraint


def test_a_run_cannot_count_more_successes_than_steps(conn: Conn) -> None:
    _, run = _run(conn)
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE workflow_runs SET steps_succeeded = 3 WHERE id = %s", (run,))


def test_a_queued_run_may_time_out_without_having_started(conn: Conn) -> None:
    _, run = _run(conn)
    conn.execute(
        "UPDATE workflow_runs SET state = 'timed_out', finished_at = now() WHERE id = %s", (run,)
    )


def test_log_lines_are_unique_per_run(conn: Conn) -> None:
    repo, run = _run(conn)
    insert = (
        "INSERT INTO workflow_logs (repository_id, run_id, line, message) VALUES (%s, %s, 1, 'x')"
    )
    conn.execute(insert, (repo, run))
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(insert, (repo, run))


def test_the_short_id_prefix_function_counts_shared_digits(conn: Conn) -> None:
    row = conn.execute(
        "SELECT uuid_common_prefix_length('01234567-89ab-7def-8123-456789abcdef',"
        " '01234567-89ab-7fff-8123-456789abcdef'), uuid_common_prefix_length("
        "'01234567-89ab-7def-8123-456789abcdef', '01234567-89ab-7def-8123-456789abcdef')"
    ).fetchone()
    assert row == (13, 32)


# --- run deadlines (0018): kept beside the runs, so that a run's transitions are HOT -----------


def _deadline(conn: Conn, run: Any) -> Any:
    row = conn.execute(
        "SELECT deadline_at FROM workflow_run_deadlines WHERE run_id = %s", (run,)
    ).fetchone()
    return None if row is None else row[0]


def _set(conn: Conn, run: Any, assignments: str) -> Any:
    conn.execute(f"UPDATE workflow_runs SET {assignments} WHERE id = %s", (run,))
    row = conn.execute("SELECT deadline_at FROM workflow_runs WHERE id = %s", (run,)).fetchone()
    assert row is not None
    return row[0]


def test_a_run_has_a_deadline_row_while_it_can_time_out(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    row = conn.execute(
        "INSERT INTO workflow_runs (repository_id, trigger, steps_total, deadline_at) "
        "VALUES (%s, 'api', 1, now() + interval '1 hour'), (%s, 'api', 1, NULL) RETURNING id",
        (repo, repo),
    ).fetchall()
    timed, untimed = row[0][0], row[1][0]
    assert _deadline(conn, untimed) is None
    first = _set(conn, timed, "state = 'running', started_at = now()")
    assert _deadline(conn, timed) == first
    moved = _set(conn, timed, "deadline_at = deadline_at + interval '1 hour'")
    assert moved > first
    assert _deadline(conn, timed) == moved
    given = _set(conn, untimed, "deadline_at = now() + interval '1 minute'")
    assert _deadline(conn, untimed) == given
    _set(conn, untimed, "deadline_at = NULL")
    assert _deadline(conn, untimed) is None
    _set(conn, timed, "state = 'succeeded', steps_succeeded = 1, finished_at = now()")
    assert _deadline(conn, timed) is None
    # A finished run's deadline, changed after the fact, arms nothing.
    _set(conn, timed, "deadline_at = deadline_at + interval '1 hour'")
    assert _deadline(conn, timed) is None


@pytest.mark.parametrize("end", ["cancelled", "timed_out"])
def test_a_queued_run_that_ends_loses_its_deadline_row(conn: Conn, end: str) -> None:
    _, run = _run(conn)
    _set(conn, run, "deadline_at = now() + interval '1 hour'")
    assert _deadline(conn, run) is not None
    _set(conn, run, f"state = '{end}', finished_at = now()")
    assert _deadline(conn, run) is None


def test_no_index_of_workflow_runs_names_a_column_that_its_transitions_write(conn: Conn) -> None:
    # Claims, finishes, cancels and time-outs write these (updated_at by trigger); an index on
    # any of them, in its key, expressions or predicate, makes every such update non-HOT.
    written = {"state", "started_at", "finished_at", "steps_succeeded", "error", "updated_at"}
    rows = conn.execute(
        r"""
        SELECT i.indexrelid::regclass::text, a.attname
        FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum > 0
        WHERE i.indrelid = 'workflow_runs'::regclass
          AND (a.attnum = ANY (i.indkey)
               OR coalesce(pg_get_expr(i.indpred, i.indrelid), '') ~ ('\m' || a.attname || '\M')
               OR coalesce(pg_get_expr(i.indexprs, i.indrelid), '') ~ ('\m' || a.attname || '\M'))
        """
    ).fetchall()
    assert rows, "the query sees workflow_runs' indexes"
    assert sorted((index, column) for index, column in rows if column in written) == []


def test_a_run_starting_and_ending_is_updated_in_place(conn: Conn) -> None:
    # HOT: each new version of the row on its page, and no index entry added for it.
    _, run = _run(conn)
    before = _hot(conn)
    _set(conn, run, "state = 'running', started_at = now()")
    _set(conn, run, "state = 'succeeded', steps_succeeded = 2, finished_at = now()")
    assert _hot(conn) - before == 2


def _hot(conn: Conn) -> int:
    conn.execute("SELECT pg_stat_force_next_flush()")
    row = conn.execute(
        "SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'workflow_runs'::regclass"
    ).fetchone()
    assert row is not None
    return int(row[0])
