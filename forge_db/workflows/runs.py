"""``db.workflows.runs``: start runs (idempotently), read them, cancel them with their children.

A run is made in one statement with its steps, from a saved definition or from an ad-hoc step
list (agent tasks). An idempotency key makes a retried start find the run the first one made.
A run may have a parent run in any repository the actor can write; cancelling a run reaches its
descendants, down to :data:`~forge_db.workflows.sql.MAX_DEPTH` generations.
"""

from __future__ import annotations

import builtins
from typing import Annotated, Final, Literal

from psycopg.types.json import Jsonb

from ..access import gate, guard, readable
from ..errors import InvalidInput, NotFound, register_constraint_messages
from ..inputs import Bounded, CommitId, Cursor, Id, Limit, OptionalLine, Text
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, Result, Shape, many, one, read, scalar, write
from .models import Cancelled, Run, RunNode, RunState, RunSummary, StartedRun
from .sql import CHANNEL, MAX_DEPTH, run_columns, steps_of
from .vocabulary import JsonObject, StepList, Uuid

__all__ = ["Runs"]

register_constraint_messages(
    {
        "workflow_runs_repository_id_idempotency_key_key": "a run with this idempotency key",
        "workflow_runs_inputs_check": "inputs: a JSON object of at most 1 MiB",
    }
)

Trigger = Literal["manual", "push", "schedule", "landing", "issue", "agent", "api"]
IdempotencyKey = Annotated[str, Text(255, min_length=1, controls=False, sample="key-1")]
TimeoutSeconds = Annotated[int, Bounded(1, 604_800)]
_NEWEST: Final = Keyset(RunSummary, "created_at", "id")
_STEP_COLUMNS: Final = """position int, name text, depends_on int[], labels text[], spec jsonb,
    max_attempts int, timeout_seconds int, retry_delay_seconds float8,
    retry_max_delay_seconds float8"""

_START: Final = f"""
    WITH guard AS ({guard("write")}),
    definition AS (
        SELECT d.id, d.enabled, d.definition FROM workflow_definitions d, guard
        WHERE d.repository_id = guard.id AND d.id = %(definition_id)s
    ), parent AS (
        SELECT p.id, ({guard("write", repository="p.repository_id")}) AS allowed
        FROM workflow_runs p WHERE p.id = %(parent_run_id)s
    ), plan AS (
        SELECT guard.id AS repository_id,
               coalesce(%(steps)s::jsonb, (SELECT definition -> 'steps' FROM definition)) AS steps,
               coalesce(%(timeout_seconds)s::int,
                        (SELECT (definition ->> 'timeout_seconds')::int FROM definition),
                        21600) AS timeout,
               CASE WHEN %(definition_id)s::bigint IS NOT NULL
                         AND NOT EXISTS (SELECT FROM definition)
                    THEN raise_error('FDN01', 'workflow definition not found')
                    WHEN NOT coalesce((SELECT enabled FROM definition), true)
                    THEN raise_error('FDC01', 'the workflow is disabled')
                    WHEN %(parent_run_id)s::uuid IS NOT NULL AND NOT EXISTS (SELECT FROM parent)
                    THEN raise_error('FDN01', 'parent run not found')
               END AS refused
        FROM guard
    ), run AS (
        INSERT INTO workflow_runs AS r
               (repository_id, definition_id, parent_run_id, triggered_by_id, trigger,
                idempotency_key, inputs, commit_id, steps_total, deadline_at)
        SELECT plan.repository_id, %(definition_id)s, (SELECT id FROM parent), %(actor_id)s,
               %(trigger)s, %(idempotency_key)s, %(inputs)s, %(commit_id)s,
               jsonb_array_length(plan.steps), now() + make_interval(secs => plan.timeout)
        FROM plan WHERE plan.refused IS NULL
        -- A retried start finds the run of its key (and waits for it to commit): the no-op
        -- update returns that row, which a DO NOTHING would not.
        ON CONFLICT (repository_id, idempotency_key)
            DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
        RETURNING r.*, (r.xmax = 0) AS created
    ), steps AS (
        INSERT INTO workflow_steps
               (repository_id, run_id, position, name, depends_on, blockers, labels, spec,
                max_attempts, timeout_seconds, retry_delay_seconds, retry_max_delay_seconds)
        SELECT r.repository_id, r.id, s.position, s.name, s.depends_on, cardinality(s.depends_on),
               s.labels, s.spec, s.max_attempts, s.timeout_seconds, s.retry_delay_seconds,
               s.retry_max_delay_seconds
        FROM run r, plan, jsonb_to_recordset(plan.steps) AS s({_STEP_COLUMNS})
        WHERE r.created
        RETURNING 1
    ), woken AS (
        -- New work wakes idle runners; NOTIFY is sent on commit, once per transaction.
        SELECT pg_notify('{CHANNEL}', '') FROM run WHERE run.created
    )
    SELECT {run_columns("r", viewer=None)}, r.created
    FROM run r
    WHERE (SELECT count(*) FROM steps) >= 0 AND (SELECT count(*) FROM woken) >= 0
"""


def _tree(result: Result) -> builtins.list[RunNode]:
    nodes = _nodes.convert(result)
    if not nodes:
        raise NotFound("run not found")
    return nodes


_nodes: Final = many(RunNode)


def _missing(repository_id: int, run_id: object) -> str:
    return f"run {run_id} not found in repository {repository_id}"


class Runs(Namespace[R]):
    """Runs: start, read, list, cancel, time out, and their family trees."""

    @write
    def start(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        definition_id: Id | None = None,
        steps: StepList | None = None,
        trigger: Trigger = "manual",
        idempotency_key: IdempotencyKey | None = None,
        inputs: JsonObject | None = None,
        commit_id: CommitId | None = None,
        parent_run_id: Uuid | None = None,
        timeout_seconds: TimeoutSeconds | None = None,
    ) -> Query[StartedRun]:
        """Start a run of a definition, or of ad-hoc ``steps``, with its steps, at once.

        With an ``idempotency_key``, a retried start returns the run the first one made
        (``created`` is ``False``) instead of starting another. A ``parent_run_id`` may be a run
        of any repository the actor can write. The run times out after ``timeout_seconds``
        (default: the definition's, else six hours).
        """
        if (definition_id is None) == (steps is None):
            raise InvalidInput("give a definition_id or steps, not both", field="steps")
        return Query(
            _START,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "definition_id": definition_id,
                "steps": None if steps is None else Jsonb(steps),
                "trigger": trigger,
                "idempotency_key": idempotency_key,
                "inputs": Jsonb(inputs or {}),
                "commit_id": commit_id,
                "parent_run_id": parent_run_id,
                "timeout_seconds": timeout_seconds,
            },
            one(StartedRun, "run not started"),
        )

    @read
    def get(self, repository_id: Id, run_id: Uuid, *, viewer_id: Id | None = None) -> Query[Run]:
        """A run with its steps, if the viewer may read the repository."""
        return Query(
            f"""
            SELECT {run_columns()}, {steps_of()} AS steps
            FROM workflow_runs r
            WHERE r.repository_id = %(repository_id)s AND r.id = %(run_id)s AND {readable()}
            """,
            {"repository_id": repository_id, "run_id": run_id, "viewer_id": viewer_id},
            one(Run, _missing(repository_id, run_id)),
        )

    @read
    def list(
        self,
        repository_id: Id,
        *,
        viewer_id: Id | None = None,
        state: RunState | None = None,
        definition_id: Id | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[RunSummary]]:
        """A keyset page of runs, newest first; ``state`` and ``definition_id`` filter."""
        size = page_size(limit)
        scope = ("workflows.runs", repository_id, state, definition_id)
        after_time, after_id = _NEWEST.after(cursor, scope)
        return Query(
            f"""
            SELECT {run_columns()} FROM workflow_runs r
            WHERE r.repository_id = %(repository_id)s AND {readable()}
              AND (%(state)s::text IS NULL OR r.state = %(state)s)
              AND (%(definition_id)s::bigint IS NULL OR r.definition_id = %(definition_id)s)
              AND (%(after_id)s::uuid IS NULL
                   OR (r.created_at, r.id) < (%(after_time)s, %(after_id)s))
            ORDER BY r.created_at DESC, r.id DESC
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "state": state,
                "definition_id": definition_id,
                "after_time": after_time,
                "after_id": after_id,
                "limit": size + 1,
            },
            _NEWEST.page(size, scope),
        )

    @write
    def cancel(
        self, repository_id: Id, run_id: Uuid, *, actor_id: Id, reason: OptionalLine = ""
    ) -> Query[Cancelled]:
        """Cancel a run, its pending and running steps, and every descendant run, at once.

        Descendants in other repositories are cancelled too: a child run lives within its
        parent. Runs already finished are left as they are. A runner holding a cancelled step
        finds its fencing token refused.
        """
        return Query(
            f"""
            WITH RECURSIVE guard AS ({guard("write")}),
            root AS (
                SELECT r.id FROM workflow_runs r, guard
                WHERE r.repository_id = guard.id AND r.id = %(run_id)s
            ), checked AS (
                SELECT CASE WHEN NOT EXISTS (SELECT FROM root)
                            THEN raise_error('FDN01', 'run not found') END AS refused
                FROM guard WHERE {gate()}
            ), tree AS (
                SELECT id, 0 AS depth FROM root
                UNION ALL
                SELECT c.id, t.depth + 1 FROM workflow_runs c JOIN tree t ON c.parent_run_id = t.id
                WHERE t.depth < {MAX_DEPTH}
            ), locked AS (
                -- Every writer of a run locks the run row before its steps: no deadlocks.
                SELECT r.id FROM workflow_runs r
                WHERE r.id IN (SELECT id FROM tree) AND r.state IN ('queued', 'running')
                  AND (SELECT count(*) FROM checked) >= 0
                ORDER BY r.id
                FOR NO KEY UPDATE
            ), runs AS (
                -- The clock, not now(): a claim that started this run may have begun later.
                UPDATE workflow_runs r SET state = 'cancelled', finished_at = clock_timestamp(),
                       error = CASE WHEN %(reason)s = '' THEN 'cancelled'
                                    ELSE 'cancelled: ' || %(reason)s END
                FROM locked l WHERE r.id = l.id
                RETURNING r.id
            ), steps AS (
                UPDATE workflow_steps s SET state = 'cancelled', finished_at = clock_timestamp()
                FROM locked l WHERE s.run_id = l.id AND s.state IN ('pending', 'running')
                RETURNING s.id
            )
            SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM steps) AS steps
            FROM checked
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "run_id": run_id,
                "reason": reason,
            },
            one(Cancelled, _missing(repository_id, run_id)),
        )

    @read
    def tree(
        self, repository_id: Id, run_id: Uuid, *, viewer_id: Id | None = None
    ) -> Query[builtins.list[RunNode]]:
        """The run's ancestors (negative depth), itself (0) and descendants (positive).

        Runs the viewer may not read are left out, and so is a parent id that would name one.
        """
        return Query(
            f"""
            WITH RECURSIVE root AS (
                SELECT r.id, r.parent_run_id FROM workflow_runs r
                WHERE r.repository_id = %(repository_id)s AND r.id = %(run_id)s AND {readable()}
            ), up AS (
                SELECT id, parent_run_id, 0 AS depth FROM root
                UNION ALL
                SELECT p.id, p.parent_run_id, u.depth - 1
                FROM workflow_runs p JOIN up u ON p.id = u.parent_run_id
                WHERE u.depth > -{MAX_DEPTH}
            ), down AS (
                SELECT id, 0 AS depth FROM root
                UNION ALL
                SELECT c.id, d.depth + 1 FROM workflow_runs c JOIN down d ON c.parent_run_id = d.id
                WHERE d.depth < {MAX_DEPTH}
            ), visible AS (
                SELECT r.*, n.depth
                FROM (SELECT id, depth FROM up UNION SELECT id, depth FROM down) n
                JOIN workflow_runs r ON r.id = n.id
                WHERE {readable("r.repository_id")}
            )
            SELECT v.id, v.repository_id,
                   CASE WHEN v.parent_run_id IN (SELECT id FROM visible)
                        THEN v.parent_run_id END AS parent_run_id,
                   v.state, v.trigger, v.depth, v.created_at
            FROM visible v
            ORDER BY v.depth, v.created_at, v.id
            """,
            {"repository_id": repository_id, "run_id": run_id, "viewer_id": viewer_id},
            Shape(_tree, _nodes.columns),
        )

    @write
    def time_out(self, *, limit: Annotated[int, Bounded(1, 10_000)] = 1000) -> Query[int]:
        """Administrative: end up to ``limit`` runs past their deadline as ``timed_out``, and
        cancel their unfinished steps; the number of runs ended. For a periodic job."""
        return Query(
            """
            WITH locked AS (
                -- The deadlines of unfinished runs only, oldest first (workflow_run_deadlines).
                SELECT r.id FROM workflow_run_deadlines d
                JOIN workflow_runs r ON r.repository_id = d.repository_id AND r.id = d.run_id
                WHERE d.deadline_at <= now() AND r.state IN ('queued', 'running')
                ORDER BY d.deadline_at, d.run_id
                LIMIT %(limit)s
                FOR NO KEY UPDATE OF r SKIP LOCKED
            ), runs AS (
                UPDATE workflow_runs r SET state = 'timed_out', finished_at = clock_timestamp(),
                       error = 'the run passed its deadline'
                FROM locked l WHERE r.id = l.id
                RETURNING r.id
            ), steps AS (
                UPDATE workflow_steps s SET state = 'cancelled', finished_at = clock_timestamp()
                FROM locked l WHERE s.run_id = l.id AND s.state IN ('pending', 'running')
            )
            SELECT count(*) FROM runs
            """,
            {"limit": limit},
            scalar(int),
        )
