"""``db.workflows.runners``: runners register, heartbeat, claim steps, finish them; dead ones are reaped.

Runners are machines, not accounts: each operation after registration presents the runner's id
and the token registration handed out once (``AuthenticationFailed`` otherwise). Steps are
claimed the one way of :mod:`forge_db.claims`: one statement picks claimable steps with
``FOR UPDATE SKIP LOCKED`` (pending ones whose dependencies all succeeded and whose backoff has
passed, and running ones whose lease expired, taken over), marks them ``running`` with a lease
and a fresh fencing token; finishing presents the token, and a stale one is ``Conflict``.

Lock order, which keeps these statements free of deadlocks: whoever changes a run's state
(finish, cancel, reap, time-out) locks the run row before its steps; a claim never waits, it
skips rows that others hold (the step and its run).
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from typing import Annotated, Any, Final, Literal

from psycopg.types.json import Jsonb

from ..access import guard
from ..claims import LEASE_SECONDS, LeaseSeconds, Token, fenced, held, take
from ..errors import AlreadyExists, InvalidInput, register_constraint_messages
from ..inputs import Bounded, Credential, Flag, Id, Text
from ..query import Namespace, Query, R, Result, Shape, many, model_columns, one, read, write
from .models import ClaimedStep, FinishedStep, Heartbeat, Reaped, RegisteredRunner, Runner
from .sql import CHANNEL, fail_runs, runner_auth, runner_digest
from .vocabulary import JsonObject, LabelList, TokenList, Uuid, UuidList

__all__ = ["Runners"]

register_constraint_messages(
    {
        "runner_pool_name_lower_key": "a runner with this name",
        "runner_pool_name_check": "name: letters, digits, '.', '_', '-', starting with one of the first two",
    }
)

RunnerName = Annotated[
    str,
    Text(
        100,
        min_length=1,
        pattern=r"[A-Za-z0-9][A-Za-z0-9._-]*",
        explain="letters, digits, '.', '_' and '-', starting with a letter or digit",
        sample="runner-1",
    ),
]
Capacity = Annotated[int, Bounded(1, 1024)]
BatchSize = Annotated[int, Bounded(1, 1000)]
Outcome = Literal["succeeded", "failed"]
ExitCode = Annotated[int, Bounded(-(2**31), 2**31 - 1)]
ErrorText = Annotated[str, Text(65536, sample="exit status 1")]
HostName = Annotated[str, Text(255, min_length=1, controls=False, sample="build-host")]
Version = Annotated[str, Text(100, min_length=1, controls=False, sample="1.0")]
_RUNNER: Final = (
    "rp.id, rp.repository_id, rp.name, rp.labels, rp.state, rp.capacity, rp.hostname, "
    "rp.version, rp.last_heartbeat_at, rp.created_at"
)


def _registered(token: str) -> Shape[RegisteredRunner]:
    rows = many(Runner)

    def convert(result: Result) -> RegisteredRunner:
        found = rows.convert(result)
        if not found:
            raise AlreadyExists(
                "a runner with this name is registered for another repository",
                constraint="runner_pool_name_lower_key",
            )
        return RegisteredRunner(runner=found[0], token=token)

    return Shape(convert, model_columns(Runner))


# Candidates of a claim, one arm per kind (each with its own index): expired leases first, taken
# over while attempts remain, then pending steps whose dependencies succeeded and whose backoff
# has passed. The run row is locked with the step, both skipped when held by someone else, so a
# claim never waits and the run it starts cannot be changed under it.
def _candidates(kind: Literal["expired", "pending"], room: str) -> str:
    which = (
        "s.state = 'running' AND s.lease_expires_at <= now() AND s.attempts < s.max_attempts"
        if kind == "expired"
        else "s.state = 'pending' AND s.blockers = 0 AND s.next_attempt_at <= now()"
    )
    order = "s.lease_expires_at" if kind == "expired" else "s.next_attempt_at, s.id"
    return f"""
        SELECT s.id FROM capacity c, workflow_steps s
        JOIN workflow_runs wr ON wr.id = s.run_id
        WHERE {which}
          AND wr.state IN ('queued', 'running')
          AND s.labels <@ c.labels
          AND (c.repository_id IS NULL OR s.repository_id = c.repository_id)
          AND (cardinality(s.depends_on) = 0 OR NOT EXISTS (
                SELECT FROM workflow_steps d
                WHERE d.run_id = s.run_id AND d.position = ANY (s.depends_on)
                  AND d.state <> 'succeeded'))
        ORDER BY {order}
        LIMIT {room}
        FOR NO KEY UPDATE OF s, wr SKIP LOCKED"""


_CLAIM: Final = f"""
    WITH {runner_auth()},
    capacity AS (
        SELECT r.id, r.name, r.labels, r.repository_id,
               greatest(0, least(%(limit)s, r.capacity - (
                   SELECT count(*) FROM workflow_steps w
                   WHERE w.runner_id = r.id AND w.state = 'running'))) AS room
        FROM runner r
        WHERE (SELECT refused FROM auth) IS NULL AND r.state IN ('idle', 'busy')
    ), expired AS ({_candidates("expired", "(SELECT room FROM capacity)")}
    ), fresh AS ({_candidates("pending", "(SELECT room FROM capacity) - (SELECT count(*) FROM expired)")}
    ), claimed AS (
        UPDATE workflow_steps s SET
            state = 'running', attempts = s.attempts + 1, runner_id = c.id,
            -- The clock after the snapshot of the statement: later than the finish of every
            -- dependency this claim saw succeed (now() may precede that snapshot).
            started_at = clock_timestamp(), finished_at = NULL, exit_code = NULL, error = NULL,
            {take(worker="c.name")}
        FROM (SELECT id FROM expired UNION ALL SELECT id FROM fresh) p, capacity c
        WHERE s.id = p.id
        RETURNING s.*
    ), started AS (
        UPDATE workflow_runs wr SET state = 'running', started_at = now()
        WHERE wr.id IN (SELECT run_id FROM claimed) AND wr.state = 'queued'
    )
    SELECT c.id, c.run_id, c.repository_id, c.position, c.name, c.attempts AS attempt,
           c.max_attempts, c.spec, c.labels, c.timeout_seconds, wr.commit_id, wr.inputs,
           coalesce(c.started_at) AS started_at,
           -- Set by this claim; coalesce() says so to the contract test, which reads the
           -- nullability of the columns from the table (other rows may hold no claim).
           coalesce(c.fencing_token) AS fencing_token, coalesce(c.claimed_by) AS claimed_by,
           coalesce(c.lease_expires_at) AS lease_expires_at
    FROM claimed c JOIN workflow_runs wr ON wr.id = c.run_id
    ORDER BY c.started_at, c.id
"""


# Finishing: the runs first (locked in id order), then the steps presented with their tokens.
# A success unblocks the steps that wait for it and may end its run; a failure with attempts
# left goes back to pending after a backoff with jitter; a failure for good fails the run and
# skips its pending steps. NOTIFY wakes idle runners only when a step became claimable.
def _finish_sql(outcome: Outcome) -> str:
    return f"""
    WITH {runner_auth()},
    given AS (
        SELECT g.step_id, g.token FROM unnest(%(step_ids)s::uuid[], %(tokens)s::bigint[])
                                       AS g(step_id, token)
        WHERE (SELECT refused FROM auth) IS NULL
    ), locked_runs AS (
        -- Steps, then runs, each by = ANY over its primary key: a join with the unnested ids
        -- became, in the cached generic plan, a hash join over a whole table.
        SELECT wr.id, wr.state FROM workflow_runs wr
        WHERE wr.id = ANY (ARRAY(SELECT s.run_id FROM workflow_steps s
                                 WHERE s.id = ANY (%(step_ids)s::uuid[])))
          AND (SELECT refused FROM auth) IS NULL
        ORDER BY wr.id
        FOR NO KEY UPDATE
    ), doomed AS (
        -- Runs a failure for good ends: their other failures in this batch are not retried.
        SELECT DISTINCT s.run_id FROM workflow_steps s
        WHERE s.id = ANY (%(step_ids)s::uuid[]) AND (SELECT refused FROM auth) IS NULL
          AND '{outcome}' = 'failed' AND s.attempts >= s.max_attempts
    ), finished AS (
        UPDATE workflow_steps s SET
            state = CASE WHEN '{outcome}' = 'succeeded' THEN 'succeeded'
                         WHEN s.attempts < s.max_attempts AND lr.state IN ('queued', 'running')
                              AND s.run_id NOT IN (SELECT run_id FROM doomed) THEN 'pending'
                         ELSE 'failed' END,
            next_attempt_at = CASE
                WHEN '{outcome}' = 'failed' AND s.attempts < s.max_attempts
                THEN now() + workflow_retry_delay(s.attempts, s.retry_delay_seconds,
                                                  s.retry_max_delay_seconds, random())
                ELSE s.next_attempt_at END,
            finished_at = now(), exit_code = %(exit_code)s, output = %(output)s,
            error = %(error)s
        FROM given g, locked_runs lr, runner
        WHERE s.id = g.step_id AND lr.id = s.run_id AND s.state = 'running'
          AND {held("s", value="g.token")} AND s.runner_id = runner.id
        RETURNING s.id, s.run_id, s.position, s.state, s.attempts, s.next_attempt_at
    ), outcome AS (
        SELECT f.run_id, count(*) FILTER (WHERE f.state = 'succeeded') AS succeeded,
               bool_or(f.state = 'failed') AS failed
        FROM finished f GROUP BY f.run_id
    ), unblocked AS (
        UPDATE workflow_steps d SET blockers = d.blockers - x.n
        FROM (SELECT d2.id, count(*) AS n FROM finished f
              JOIN workflow_steps d2 ON d2.run_id = f.run_id AND f.position = ANY (d2.depends_on)
              WHERE f.state = 'succeeded' GROUP BY d2.id) x
        WHERE d.id = x.id AND d.run_id NOT IN (SELECT run_id FROM outcome WHERE failed)
        RETURNING d.blockers
    ), succeeded_runs AS (
        UPDATE workflow_runs wr SET
            steps_succeeded = wr.steps_succeeded + o.succeeded,
            state = CASE WHEN wr.state = 'running' AND wr.steps_succeeded + o.succeeded
                                                        = wr.steps_total
                         THEN 'succeeded' ELSE wr.state END,
            finished_at = CASE WHEN wr.state = 'running' AND wr.steps_succeeded + o.succeeded
                                                             = wr.steps_total
                               THEN now() ELSE wr.finished_at END
        FROM outcome o WHERE wr.id = o.run_id AND NOT o.failed AND o.succeeded > 0
        RETURNING wr.id, wr.state
    ), lost AS (
        SELECT run_id, 'step failed: ' || coalesce(%(error)s, 'no error given') AS error
        FROM outcome WHERE failed
    ), {fail_runs("lost")}, woken AS (
        SELECT pg_notify('{CHANNEL}', '')
        WHERE EXISTS (SELECT FROM unblocked WHERE blockers = 0)
    )
    SELECT f.id, f.run_id, f.state, f.attempts, f.next_attempt_at,
           CASE WHEN f.run_id IN (SELECT id FROM failed_runs) THEN 'failed'
                ELSE coalesce((SELECT sr.state FROM succeeded_runs sr WHERE sr.id = f.run_id),
                              (SELECT lr.state FROM locked_runs lr WHERE lr.id = f.run_id))
           END AS run_state
    FROM finished f
    WHERE (SELECT count(*) FROM woken) >= 0
    ORDER BY f.id
"""


# One statement per outcome, with the outcome written into it: the planner folds the branches of
# the other outcome away, so the plan it caches for the prepared statement (a generic one) costs
# what a plan made for the parameters would, and is used. With the outcome as a parameter, the
# generic plan looked dearer than a custom one and every finish was planned afresh (~1 ms).
_FINISH: Final = {o: _finish_sql(o) for o in ("succeeded", "failed")}


class Runners(Namespace[R]):
    """Runners and the steps they take."""

    @write
    def register(
        self,
        *,
        name: RunnerName,
        labels: LabelList | None = None,
        capacity: Capacity = 1,
        repository_id: Id | None = None,
        actor_id: Id | None = None,
        hostname: HostName | None = None,
        version: Version | None = None,
    ) -> Query[RegisteredRunner]:
        """Register a runner (again, by name: its token is replaced) and hand out its token.

        A shared runner (no ``repository_id``) is the operator's to register; one dedicated to
        a repository needs that repository's admin role. The token is shown once.
        """
        token = "fdr_" + secrets.token_urlsafe(32)
        return Query(
            f"""
            WITH guard AS (
                SELECT CASE WHEN %(repository_id)s::bigint IS NULL THEN NULL
                            ELSE ({guard("admin")}) END AS id
            )
            INSERT INTO runner_pool AS rp
                   (repository_id, name, labels, capacity, token_digest, hostname, version,
                    last_heartbeat_at)
            SELECT guard.id, %(name)s, %(labels)s, %(capacity)s, %(digest)s, %(hostname)s,
                   %(version)s, now()
            FROM guard
            ON CONFLICT ((lower(name))) DO UPDATE SET
                name = EXCLUDED.name, labels = EXCLUDED.labels, capacity = EXCLUDED.capacity,
                token_digest = EXCLUDED.token_digest, hostname = EXCLUDED.hostname,
                version = EXCLUDED.version, state = 'idle', last_heartbeat_at = now()
            WHERE rp.repository_id IS NOT DISTINCT FROM EXCLUDED.repository_id
            RETURNING {_RUNNER}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "name": name,
                "labels": sorted(labels or []),
                "capacity": capacity,
                "digest": hashlib.sha256(token.encode()).digest(),
                "hostname": hostname,
                "version": version,
            },
            _registered(token),
        )

    @write
    def heartbeat(
        self,
        runner_id: Uuid,
        *,
        runner_token: Credential,
        lease_seconds: LeaseSeconds = LEASE_SECONDS,
    ) -> Query[Heartbeat]:
        """Renew the runner's liveness and the leases of the steps it holds.

        ``held`` lists the steps whose leases were extended: a step missing from it was
        cancelled, finished, or taken over, and its fencing token no longer counts.
        """
        return Query(
            f"""
            WITH {runner_auth()},
            renewed AS (
                UPDATE workflow_steps s
                SET lease_expires_at = now() + make_interval(secs => %(lease)s)
                WHERE s.id IN (SELECT w.id FROM workflow_steps w, runner
                               WHERE w.runner_id = runner.id AND w.state = 'running'
                               ORDER BY w.id FOR NO KEY UPDATE SKIP LOCKED)
                RETURNING s.id, s.lease_expires_at
            ), alive AS (
                UPDATE runner_pool rp SET last_heartbeat_at = now(),
                       state = CASE WHEN rp.state = 'draining' THEN 'draining'
                                    WHEN EXISTS (SELECT FROM renewed) THEN 'busy'
                                    ELSE 'idle' END
                FROM runner WHERE rp.id = runner.id AND (SELECT refused FROM auth) IS NULL
                RETURNING rp.id, rp.state
            )
            SELECT a.id AS runner_id, a.state,
                   coalesce((SELECT json_agg(id ORDER BY id) FROM renewed), '[]') AS held,
                   (SELECT max(lease_expires_at) FROM renewed) AS lease_expires_at
            FROM alive a
            """,
            {
                "runner_id": runner_id,
                "digest": runner_digest(runner_token),
                "lease": lease_seconds,
            },
            one(Heartbeat, "runner not found"),
        )

    @write
    def drain(
        self, runner_id: Uuid, *, runner_token: Credential, draining: Flag = True
    ) -> Query[Runner]:
        """Stop (or resume) taking new steps; the steps in hand finish as usual."""
        return Query(
            f"""
            WITH {runner_auth()}
            UPDATE runner_pool rp SET state = CASE WHEN %(draining)s THEN 'draining' ELSE 'idle' END
            FROM runner WHERE rp.id = runner.id AND (SELECT refused FROM auth) IS NULL
            RETURNING {_RUNNER}
            """,
            {"runner_id": runner_id, "digest": runner_digest(runner_token), "draining": draining},
            one(Runner, "runner not found"),
        )

    @write
    def claim(
        self,
        runner_id: Uuid,
        *,
        runner_token: Credential,
        lease_seconds: LeaseSeconds = LEASE_SECONDS,
    ) -> Query[ClaimedStep | None]:
        """Take the next step this runner may run, or ``None``: one statement, SKIP LOCKED.

        Only steps whose dependencies have all succeeded, whose labels the runner has, and
        whose retry backoff has passed; a step whose lease expired is taken over. The claim
        carries the fencing token to present to :meth:`finish`.
        """
        return Query(
            _CLAIM,
            {
                "runner_id": runner_id,
                "digest": runner_digest(runner_token),
                "lease": lease_seconds,
                "limit": 1,
            },
            _first_or_none,
        )

    @write
    def claim_many(
        self,
        runner_id: Uuid,
        *,
        runner_token: Credential,
        limit: BatchSize = 10,
        lease_seconds: LeaseSeconds = LEASE_SECONDS,
    ) -> Query[builtins.list[ClaimedStep]]:
        """Take up to ``limit`` steps at once (never more than the runner's free capacity)."""
        return Query(
            _CLAIM,
            {
                "runner_id": runner_id,
                "digest": runner_digest(runner_token),
                "lease": lease_seconds,
                "limit": limit,
            },
            many(ClaimedStep),
        )

    @write
    def finish(
        self,
        step_id: Uuid,
        *,
        runner_id: Uuid,
        runner_token: Credential,
        token: Token,
        outcome: Outcome,
        exit_code: ExitCode | None = None,
        output: JsonObject | None = None,
        error: ErrorText | None = None,
    ) -> Query[FinishedStep]:
        """Finish a claimed step, and its run with it when this decides it.

        ``succeeded`` may unblock dependents and end the run; ``failed`` retries after an
        exponential backoff with jitter while attempts remain, else fails the run and skips
        its pending steps. A stale ``token`` (the lease was taken over, or the run cancelled)
        is ``Conflict`` and changes nothing.
        """
        return Query(
            _FINISH[outcome],
            _finish_params(runner_id, runner_token, [step_id], [token], exit_code, output, error),
            fenced(one(FinishedStep, "step not found"), "finish step"),
        )

    @write
    def finish_many(
        self,
        *,
        runner_id: Uuid,
        runner_token: Credential,
        step_ids: UuidList,
        tokens: TokenList,
        outcome: Outcome = "succeeded",
    ) -> Query[builtins.list[FinishedStep]]:
        """Finish several claimed steps with one outcome in one statement.

        The steps whose token was stale are missing from the result (nothing changed them).
        """
        if len(step_ids) != len(tokens):
            raise InvalidInput("tokens: one per step id, in the same order", field="tokens")
        return Query(
            _FINISH[outcome],
            _finish_params(runner_id, runner_token, step_ids, tokens, None, None, None),
            many(FinishedStep),
        )

    @write
    def reap_dead(self, *, silent_for: LeaseSeconds = 3 * LEASE_SECONDS) -> Query[Reaped]:
        """Administrative: runners silent for ``silent_for`` seconds go offline, and their steps
        come back to pending with their attempts counted, or fail once out of attempts (and
        their run with them). For a periodic job."""
        return Query(
            f"""
            WITH dead AS (
                UPDATE runner_pool r SET state = 'offline'
                WHERE r.state <> 'offline'
                  AND coalesce(r.last_heartbeat_at, r.created_at)
                      < now() - make_interval(secs => %(silent_for)s)
                RETURNING r.id
            ), locked_runs AS (
                SELECT wr.id, wr.state FROM workflow_runs wr
                WHERE wr.id IN (SELECT s.run_id FROM workflow_steps s JOIN dead d
                                ON s.runner_id = d.id WHERE s.state = 'running')
                ORDER BY wr.id
                FOR NO KEY UPDATE
            ), doomed AS (
                SELECT DISTINCT s.run_id FROM workflow_steps s JOIN dead d ON s.runner_id = d.id
                WHERE s.state = 'running' AND s.attempts >= s.max_attempts
            ), lost AS (
                UPDATE workflow_steps s SET
                    state = CASE WHEN s.attempts < s.max_attempts
                                      AND lr.state IN ('queued', 'running')
                                      AND s.run_id NOT IN (SELECT run_id FROM doomed)
                                 THEN 'pending'
                                 WHEN s.attempts < s.max_attempts THEN 'cancelled'
                                 ELSE 'failed' END,
                    next_attempt_at = now(), finished_at = clock_timestamp(),
                    error = 'its runner stopped sending heartbeats'
                FROM dead d, locked_runs lr
                WHERE s.runner_id = d.id AND s.state = 'running' AND lr.id = s.run_id
                RETURNING s.run_id, s.state
            ), out_of_attempts AS (
                SELECT run_id, 'step failed: its runner stopped sending heartbeats' AS error
                FROM lost WHERE state = 'failed'
            ), {fail_runs("out_of_attempts")}, woken AS (
                SELECT pg_notify('{CHANNEL}', '') WHERE EXISTS (SELECT FROM lost WHERE state = 'pending')
            )
            SELECT (SELECT count(*) FROM dead) AS runners,
                   (SELECT count(*) FROM lost WHERE state = 'pending') AS requeued,
                   (SELECT count(*) FROM lost WHERE state = 'failed') AS failed
            WHERE (SELECT count(*) FROM woken) >= 0
            """,
            {"silent_for": silent_for},
            one(Reaped, "nothing reaped"),
        )

    @read
    def list(self) -> Query[builtins.list[Runner]]:
        """Administrative: every registered runner, by name."""
        return Query(
            f"SELECT {_RUNNER} FROM runner_pool rp ORDER BY lower(rp.name), rp.id",
            {},
            many(Runner),
        )


def _finish_params(
    runner_id: Any,
    runner_token: object,
    step_ids: list[Any],
    tokens: list[int],
    exit_code: int | None,
    output: dict[str, Any] | None,
    error: str | None,
) -> dict[str, Any]:
    return {
        "runner_id": runner_id,
        "digest": runner_digest(runner_token),
        "step_ids": step_ids,
        "tokens": tokens,
        "exit_code": exit_code,
        "output": None if output is None else Jsonb(output),
        "error": error,
    }


_claimed: Final = many(ClaimedStep)


def _first(result: Result) -> ClaimedStep | None:
    found = _claimed.convert(result)
    return found[0] if found else None


_first_or_none: Final = Shape(_first, _claimed.columns)
