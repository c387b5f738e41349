"""Every state machine of the schema, tested from its trigger's own arguments.

The catalog says which tables have a state machine (a trigger on ``enforce_state_transition``,
or on ``enforce_status_transition`` for a table whose column is ``status``), which transitions
it allows (the trigger's arguments) and which states exist (the table's ``<table>_state_check``
or ``<table>_status_check``). On the real table, every allowed transition must succeed and every
other change of state must fail with ``Conflict`` (FDC01). The CHECK constraints that tie other
columns to the state (a claim to ``running``, a time to ``finished``) are dropped inside the
test's transaction, which is rolled back, so that only the state machine decides.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

Conn = psycopg.Connection[Any]

_MACHINES = """
    SELECT c.relname, encode(t.tgargs, 'escape'), t.tgnargs,
           CASE p.proname WHEN 'enforce_status_transition' THEN 'status' ELSE 'state' END
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE p.proname IN ('enforce_state_transition', 'enforce_status_transition')
      AND NOT t.tgisinternal
    ORDER BY c.relname
"""

# A row of each table in a given state, with the rows it needs; %(state)s is the state.
# The parent rows are made once per table (see _parents).
_ROWS: dict[str, str] = {
    "landing_queue": """
        INSERT INTO landing_queue (repository_id, number, change_id, target_bookmark, title, state)
        VALUES (%(repository_id)s, %(n)s, repeat('k', 32), 'main', 't', %(state)s) RETURNING id::text""",
    "pull_requests": """
        INSERT INTO pull_requests (repository_id, number, title, head_ref, base_ref,
                                   head_commit_id, state)
        VALUES (%(repository_id)s, %(n)s, 't', 'feature', 'main', repeat('a', 40), %(state)s)
        RETURNING id::text""",
    "landing_batches": """
        WITH q AS (INSERT INTO landing_queues (repository_id, bookmark)
                   VALUES (%(repository_id)s, 'machine') ON CONFLICT DO NOTHING)
        INSERT INTO landing_batches (repository_id, target_bookmark, size, state)
        VALUES (%(repository_id)s, 'machine', 1, %(state)s) RETURNING id::text""",
    "jj_workspaces": """
        INSERT INTO jj_workspaces (repository_id, user_id, name, state)
        VALUES (%(repository_id)s, %(user_id)s, 'w' || %(n)s, %(state)s) RETURNING id::text""",
    "event_deliveries": """
        WITH e AS (INSERT INTO events (topic) VALUES ('test.machine') RETURNING id)
        INSERT INTO event_deliveries (subscription_id, event_id, state)
        SELECT %(subscription_id)s, e.id, %(state)s FROM e
        ON CONFLICT (subscription_id, event_id) DO UPDATE SET state = EXCLUDED.state
        RETURNING event_id::text""",
    "alerts": """
        INSERT INTO alerts (component, severity, dedupe_key, title, state)
        VALUES ('forge', 'info', 'k' || %(n)s, 't', %(state)s) RETURNING id::text""",
    "decisions": """
        INSERT INTO decisions (decision_type, summary, options, default_option, expires_at, state,
                               choice, decided_at)
        SELECT 'merge', 's', '{yes,no}', 'no', now() + interval '1 hour', %(state)s,
               CASE WHEN %(state)s IN ('decided', 'auto_resolved') THEN 'no' END,
               CASE WHEN %(state)s <> 'pending' THEN now() END
        RETURNING id::text""",
    "workflow_runs": """
        INSERT INTO workflow_runs (repository_id, trigger, state)
        VALUES (%(repository_id)s, 'manual', %(state)s) RETURNING id::text""",
    "workflow_steps": """
        INSERT INTO workflow_steps (repository_id, run_id, position, name, state)
        VALUES (%(repository_id)s, %(run_id)s, %(n)s, 's', %(state)s) RETURNING id::text""",
    "agent_sessions": """
        INSERT INTO agent_sessions (repository_id, agent, state)
        VALUES (%(repository_id)s, 'agent', %(state)s) RETURNING id::text""",
    "tool_executions": """
        INSERT INTO tool_executions (repository_id, agent_session_id, tool, status)
        VALUES (%(repository_id)s, %(session_id)s, 't', %(state)s) RETURNING id::text""",
}
_KEYS = {"event_deliveries": "event_id"}


def _machines(conn: Conn) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table, args, count, _ in conn.execute(_MACHINES).fetchall():
        transitions = [a for a in args.split("\\000") if a]
        assert len(transitions) == count, (table, args)
        found[table] = set(transitions)
    return found


def _column(conn: Conn, table: str) -> str:
    """The column a table's state machine guards: ``state``, or ``status``."""
    column: str = {row[0]: row[3] for row in conn.execute(_MACHINES).fetchall()}[table]
    return column


def _states(conn: Conn, table: str) -> list[str]:
    column = _column(conn, table)
    row = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s",
        (f"{table}_{column}_check",),
    ).fetchone()
    assert row is not None, f"{table} has no {table}_{column}_check"
    return re.findall(r"'([a-z_]+)'::text", row[0])


def _parents(conn: Conn) -> dict[str, Any]:
    user = conn.execute("INSERT INTO users (username) VALUES ('machine') RETURNING id").fetchone()[
        0
    ]  # type: ignore[index]
    repository = conn.execute(
        "INSERT INTO repositories (owner_id, name) VALUES (%s, 'machine') RETURNING id", (user,)
    ).fetchone()[0]  # type: ignore[index]
    subscription = conn.execute(
        "INSERT INTO event_subscriptions (name, topic_pattern) VALUES ('m', 'nothing.matches') "
        "RETURNING id"
    ).fetchone()[0]  # type: ignore[index]
    run = conn.execute(
        "INSERT INTO workflow_runs (repository_id, trigger) VALUES (%s, 'manual') RETURNING id",
        (repository,),
    ).fetchone()[0]  # type: ignore[index]
    session = conn.execute(
        "INSERT INTO agent_sessions (repository_id, agent) VALUES (%s, 'machine') RETURNING id",
        (repository,),
    ).fetchone()[0]  # type: ignore[index]
    return {
        "user_id": user,
        "repository_id": repository,
        "subscription_id": subscription,
        "run_id": run,
        "session_id": session,
    }


def _drop_coupled_checks(conn: Conn, table: str) -> None:
    column = _column(conn, table)
    coupled = conn.execute(
        """
        SELECT conname FROM pg_constraint
        WHERE conrelid = %s::regclass AND contype = 'c' AND conname <> %s
          AND pg_get_constraintdef(oid) ~ ('\\m' || %s || '\\M')
        """,
        (table, f"{table}_{column}_check", column),
    ).fetchall()
    for (name,) in coupled:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')


def test_the_schema_has_its_eleven_state_machines(conn: Conn) -> None:
    assert set(_machines(conn)) == set(_ROWS)


@pytest.mark.parametrize("table", sorted(_ROWS))
def test_allowed_transitions_succeed_and_all_others_fail(conn: Conn, table: str) -> None:
    allowed = _machines(conn)[table]
    states = _states(conn, table)
    column = _column(conn, table)
    assert {a.split(">")[0] for a in allowed} | {a.split(">")[1] for a in allowed} <= set(states)
    outcomes: dict[str, bool] = {}
    with conn.transaction(force_rollback=True):
        parents = _parents(conn)
        _drop_coupled_checks(conn, table)
        for n, (old, new) in enumerate(
            (old, new) for old in states for new in states if old != new
        ):
            with conn.transaction(force_rollback=True):
                key = conn.execute(_ROWS[table], {**parents, "state": old, "n": n + 1}).fetchone()[
                    0
                ]  # type: ignore[index]
                try:
                    with conn.transaction():
                        conn.execute(
                            f"UPDATE {table} SET {column} = %s "
                            f"WHERE {_KEYS.get(table, 'id')}::text = %s",
                            (new, key),
                        )
                    outcomes[f"{old}>{new}"] = True
                except psycopg.Error as exc:
                    # Only the state machine may refuse: anything else is a broken test row.
                    if (exc.sqlstate, exc.diag.constraint_name) != (
                        "FDC01",
                        f"{table}_{column}_transition",
                    ):
                        raise
                    outcomes[f"{old}>{new}"] = False
    succeeded = {transition for transition, ok in outcomes.items() if ok}
    assert succeeded == allowed, {
        "refused though allowed": sorted(allowed - succeeded),
        "allowed though not declared": sorted(succeeded - allowed),
    }
    assert len(outcomes) == len(states) * (len(states) - 1)


def test_an_unchanged_state_always_passes(conn: Conn) -> None:
    with conn.transaction(force_rollback=True):
        parents = _parents(conn)
        _drop_coupled_checks(conn, "alerts")
        key = conn.execute(_ROWS["alerts"], {**parents, "state": "resolved", "n": 1}).fetchone()
        assert key is not None
        conn.execute("UPDATE alerts SET state = 'resolved', title = 'x' WHERE id::text = %s", key)
