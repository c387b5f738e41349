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
