"""Helpers of the workflows domain's tests: people on two repositories, runners, step graphs."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any, Literal

import psycopg
import pytest
from support import World as World
from support import make_world

from forge_db import ForgeDB
from forge_db.workflows import ClaimedStep, RegisteredRunner

_names = itertools.count(1)


@pytest.fixture
def world(fdb: ForgeDB) -> World:
    return make_world(fdb)


def runner(db: ForgeDB, *labels: str, capacity: int = 1, **options: Any) -> RegisteredRunner:
    """A freshly registered shared runner with ``labels``."""
    return db.workflows.runners.register(
        name=f"runner-{next(_names)}", labels=list(labels), capacity=capacity, **options
    )


def claim(db: ForgeDB, who: RegisteredRunner, **options: Any) -> ClaimedStep | None:
    """The next step ``who`` may take."""
    return db.workflows.runners.claim(who.runner.id, runner_token=who.token, **options)


def finish(
    db: ForgeDB,
    who: RegisteredRunner,
    step: ClaimedStep,
    outcome: Literal["succeeded", "failed"] = "succeeded",
    **options: Any,
) -> Any:
    """Finish ``step`` as ``who`` with the token of its claim."""
    return db.workflows.runners.finish(
        step.id,
        runner_id=who.runner.id,
        runner_token=who.token,
        token=step.fencing_token,
        outcome=outcome,
        **options,
    )


DAG: list[dict[str, Any]] = [
    {"name": "checkout"},
    {"name": "build", "needs": ["checkout"]},
    {"name": "lint", "needs": ["checkout"]},
    {"name": "test", "needs": ["build", "lint"]},
    {"name": "package", "needs": ["build"]},
    {"name": "publish", "needs": ["test", "package"]},
]
"""Six steps, two of which wait for two others."""


def expire(conn: psycopg.Connection[Any], step_id: object) -> None:
    """Let the lease on ``step_id`` run out now (as if its lease time had passed)."""
    conn.execute(
        "UPDATE workflow_steps SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
        (step_id,),
    )


def silence(conn: psycopg.Connection[Any], who: RegisteredRunner, for_: timedelta) -> None:
    """Make ``who``'s last heartbeat ``for_`` old (as if it had stopped sending them)."""
    conn.execute(
        "UPDATE runner_pool SET last_heartbeat_at = now() - %s WHERE id = %s",
        (for_, who.runner.id),
    )


def due(conn: psycopg.Connection[Any], step_id: object) -> None:
    """Bring a retry's backoff to its end now (as if the delay had passed)."""
    conn.execute("UPDATE workflow_steps SET next_attempt_at = now() WHERE id = %s", (step_id,))
