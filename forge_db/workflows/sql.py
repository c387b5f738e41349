"""SQL shared by the workflows domain's namespaces; each fragment takes the aliases it reads."""

from __future__ import annotations

import hashlib
from typing import Final

from ..errors import AuthenticationFailed

__all__ = [
    "CHANNEL",
    "MAX_DEPTH",
    "fail_runs",
    "run_columns",
    "runner_auth",
    "runner_digest",
    "steps_of",
]

CHANNEL: Final = "forge_db_workflow_steps"
"""The LISTEN/NOTIFY channel on which new claimable work wakes idle runners."""
MAX_DEPTH: Final = 32
"""How many generations a tree or lineage query follows, up and down."""


def run_columns(r: str = "r", viewer: str | None = "%(viewer_id)s") -> str:
    """The columns of a run summary from run ``r``.

    The parent's id shows only when ``viewer`` may read the parent's repository (runs may
    have parents elsewhere); ``viewer=None`` shows it to the actor who just wrote the run.
    """
    parent = (
        f"{r}.parent_run_id"
        if viewer is None
        else f"""CASE WHEN EXISTS (SELECT FROM workflow_runs p WHERE p.id = {r}.parent_run_id
                                AND can_read_repository(p.repository_id, {viewer}))
                      THEN {r}.parent_run_id END AS parent_run_id"""
    )
    return f"""{r}.id, {r}.repository_id, {r}.definition_id, {parent}, {r}.triggered_by_id,
        {r}.trigger, {r}.state, {r}.idempotency_key, {r}.inputs, {r}.commit_id, {r}.error,
        {r}.steps_total, {r}.steps_succeeded, {r}.deadline_at, {r}.started_at, {r}.finished_at,
        {r}.created_at"""


def steps_of(r: str = "r") -> str:
    """The steps of run ``r`` as a JSON array in position order (no claim secrets)."""
    return f"""coalesce((
        SELECT json_agg(json_build_object(
            'id', s.id, 'run_id', s.run_id, 'position', s.position, 'name', s.name,
            'state', s.state, 'depends_on', s.depends_on, 'labels', s.labels,
            'attempts', s.attempts, 'max_attempts', s.max_attempts,
            'next_attempt_at', s.next_attempt_at, 'runner_id', s.runner_id,
            'claimed_by', s.claimed_by, 'exit_code', s.exit_code, 'error', s.error,
            'started_at', s.started_at, 'finished_at', s.finished_at) ORDER BY s.position)
        FROM workflow_steps s WHERE s.repository_id = {r}.repository_id AND s.run_id = {r}.id),
        '[]')"""


def runner_auth(runner: str = "%(runner_id)s", digest: str = "%(digest)s") -> str:
    """Two CTEs: ``runner`` (the runner whose token digest matches) and ``auth``, which raises
    ``AuthenticationFailed`` when none does. Reference ``auth`` so that it runs."""
    return f"""runner AS (
        SELECT rp.* FROM runner_pool rp WHERE rp.id = {runner} AND rp.token_digest = {digest}
    ), auth AS (
        SELECT CASE WHEN NOT EXISTS (SELECT FROM runner)
                    THEN raise_error('FDU01', 'runner: not registered, or its token is wrong')
               END AS refused
    )"""


def fail_runs(failed: str, name: str = "failed_runs", skipped: str = "skipped") -> str:
    """Two CTEs ending the runs listed in CTE ``failed`` (column ``run_id``, ``error``): the
    run fails (if still running) and its pending steps are skipped, dependents among them."""
    return f"""{name} AS (
        UPDATE workflow_runs wr SET state = 'failed', finished_at = clock_timestamp(),
                                    error = left(f.error, 65536)
        FROM (SELECT DISTINCT ON (run_id) run_id, error FROM {failed} ORDER BY run_id) f
        WHERE wr.id = f.run_id AND wr.state = 'running'
        RETURNING wr.id
    ), {skipped} AS (
        UPDATE workflow_steps p SET state = 'skipped', finished_at = clock_timestamp(),
                                    error = 'not run: an earlier step failed'
        FROM (SELECT DISTINCT run_id FROM {failed}) f
        WHERE p.run_id = f.run_id AND p.state = 'pending'
        RETURNING p.id
    )"""


def runner_digest(token: object) -> bytes:
    """The stored digest of a runner token; anything but a token is refused as one."""
    refused = AuthenticationFailed("malformed", "runner: not registered, or its token is wrong")
    if type(token) is not str or len(token) > 4096:
        raise refused
    try:
        return hashlib.sha256(token.encode("utf-8")).digest()
    except UnicodeEncodeError:
        raise refused from None
