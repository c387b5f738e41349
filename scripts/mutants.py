"""Inject each kind of bug the suite claims to catch into a scratch copy; the suite must fail.

``python scripts/mutants.py [NAME ...]`` copies this checkout to a temporary directory, applies
one mutation at a time (a small change of behaviour the tests are meant to notice: a write
allowed to a reader, a keyset off by one, a secret stored in the clear, a state machine frozen,
...), runs the tests that guard it against ``FORGE_DB_TEST_URL`` (default: the machine's
PostgreSQL at 127.0.0.1:5432) and reports CAUGHT or MISSED. It exits non-zero when a mutation
goes unnoticed, or when its anchor text is gone (then the mutation needs updating).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (what the bug is, file, text, replacement, tests that must fail)
MUTATIONS: list[tuple[str, str, str, str, str]] = [
    (
        "pins writable with read access",
        "forge_db/issues/pins.py",
        'WITH guard AS ({guard("write")}),\n            target AS',
        'WITH guard AS ({guard("read")}),\n            target AS',
        "tests/contracts/test_privacy.py tests/issues/test_pins.py",
    ),
    (
        "pin answers a stranger PermissionDenied",
        "forge_db/issues/pins.py",
        'WITH guard AS ({guard("write")}),\n            target AS',
        "WITH guard AS (SELECT CASE WHEN has_repository_role(%(repository_id)s, %(actor_id)s, 'write') THEN %(repository_id)s ELSE raise_error('FDP01', 'no') END AS id),\n            target AS",
        "tests/contracts/test_privacy.py tests/issues/test_pins.py",
    ),
    (
        "comment found by id alone",
        "forge_db/issues/comments.py",
        "WHERE c.repository_id = %(repository_id)s AND c.id = %(comment_id)s\n              AND {readable()}",
        "WHERE c.id = %(comment_id)s\n              AND {readable()}",
        "tests/contracts/test_privacy.py tests/issues/test_comments.py",
    ),
    (
        "reader sees nothing in lists",
        "forge_db/issues/issues.py",
        "          AND {readable()}\n        ORDER BY i.{field}",
        "          AND {readable()} AND false\n        ORDER BY i.{field}",
        "tests/contracts/test_privacy.py",
    ),
    (
        "list_public keyset <=",
        "forge_db/repositories/repositories.py",
        "OR (r.created_at, r.id) < (%(after_at)s, %(after_id)s))",
        "OR (r.created_at, r.id) <= (%(after_at)s, %(after_id)s))",
        "tests/contracts/test_pagination.py tests/repositories/test_repositories.py",
    ),
    (
        "search keyset <=",
        "forge_db/issues/issues.py",
        "OR (rank, id) < (%(after_rank)s::float8, %(after_id)s::bigint)",
        "OR (rank, id) <= (%(after_rank)s::float8, %(after_id)s::bigint)",
        "tests/contracts/test_pagination.py tests/issues/test_issues.py",
    ),
    (
        "token stored in plain text trimmed",
        "forge_db/auth/tokens.py",
        '"digest": digest(token),\n                "hint"',
        '"digest": token.encode()[4:36],\n                "hint"',
        "tests/auth/test_tokens.py",
    ),
    (
        "nonce domain binding ignored",
        "forge_db/auth/auth.py",
        "          AND (domain IS NULL OR lower(domain) = lower(%(domain)s))\n",
        "",
        "tests/auth/test_auth.py",
    ),
    (
        "fan-out skips readability at write time",
        "db/migrations/0003_collaboration_fan_out.sql",
        "           AND can_read_repository(p_repository_id, c.user_id)\n         ORDER BY",
        "         ORDER BY",
        "tests/collaboration/test_fanout.py tests/contracts/test_privacy.py",
    ),
    (
        "validator refuses non-ASCII text",
        "forge_db/inputs.py",
        "        if not text.isascii():\n",
        "        if not text.isascii():\n            raise _refuse('ascii only')\n",
        "tests/contracts/test_hostile_input.py",
    ),
    (
        "validator refuses titles with a space",
        "forge_db/inputs.py",
        "        if self.pattern is not None and not self.pattern.fullmatch(text):",
        "        if self.single_line and self.strip and ' ' in text:\n            raise _refuse('no spaces')\n        if self.pattern is not None and not self.pattern.fullmatch(text):",
        "tests/contracts/test_hostile_input.py",
    ),
    (
        "every state machine frozen",
        "db/migrations/0017_cheaper_transition_checks.sql",
        "RETURN p_to IS NOT DISTINCT FROM p_from OR (p_from || '>' || p_to) = ANY (p_allowed);",
        "RETURN p_to IS NOT DISTINCT FROM p_from;",
        "tests/contracts/test_state_machines.py",
    ),
    (
        "reused databases not emptied",
        "forge_db/testing.py",
        "conn.execute(self._reset_sql.encode())",
        "pass",
        "tests/test_testing_plugin.py",
    ),
    (
        "async proxy lenient",
        "forge_db/testing.py",
        "            if awaitable:\n                raise TypeError(",
        "            if False:\n                raise TypeError(",
        "tests/test_testing_plugin.py",
    ),
    (
        "replica reads ignore the caller's writes",
        "forge_db/replicas.py",
        "                and replica.replayed >= needed\n",
        "",
        "tests/test_replicas.py",
    ),
    (
        "writes routed like reads",
        "forge_db/query.py",
        'run_read = None if op.writes else getattr(runner, "run_read", None)',
        'run_read = getattr(runner, "run_read", None)',
        "tests/test_replicas.py",
    ),
    (
        "a replica read that lost its connection surfaces",
        "forge_db/replicas.py",
        "    return bool(conn.closed or isinstance(exc.__cause__, _RETRY_ON_PRIMARY))",
        "    return isinstance(exc.__cause__, _RETRY_ON_PRIMARY)",
        "tests/test_replicas.py",
    ),
    (
        "a lagging replica kept in rotation",
        "forge_db/replicas.py",
        "        if replica.lag > self.max_lag:",
        "        if False:",
        "tests/test_replicas.py",
    ),
    (
        "a writing operation declared a read",
        "forge_db/auth/auth.py",
        "    @write\n    def get_session(",
        "    @read\n    def get_session(",
        "tests/contracts/test_reads_are_read_only.py",
    ),
    (
        "jj heads keep the parents",
        "db/migrations/0009_jj_store.sql",
        "    DELETE FROM jj_operation_heads h\n     WHERE (h.repository_id",
        "    DELETE FROM jj_operation_heads h\n     WHERE false AND (h.repository_id",
        "tests/jj/test_operations.py -k one_head",
    ),
    (
        "jj rewritten commit stays visible",
        "db/migrations/0009_jj_store.sql",
        "UPDATE changes c SET hidden = true",
        "UPDATE changes c SET hidden = c.hidden",
        "tests/jj/test_changes.py -k rewrite",
    ),
    (
        "jj workspace transition not audited",
        "db/migrations/0009_jj_store.sql",
        "IF TG_OP = 'INSERT' OR NEW.state IS DISTINCT FROM OLD.state THEN",
        "IF TG_OP = 'INSERT' THEN",
        "tests/jj/test_workspaces.py -k audit",
    ),
    (
        "jj garbage collection deletes a blob still held",
        "db/migrations/0009_jj_store.sql",
        "         WHERE b.hash = v_hash\n           AND NOT EXISTS (SELECT FROM repository_blobs rb",
        "         WHERE b.hash = v_hash\n           AND true OR NOT EXISTS (SELECT FROM repository_blobs rb",
        "tests/jj/test_blobs.py -k only_what",
    ),
    (
        "bulk COPY fallback without rolling back to the savepoint",
        "forge_db/query.py",
        "        except psycopg.errors.UniqueViolation:\n            yield _Run(_ROLLBACK_TO)\n",
        "        except psycopg.errors.UniqueViolation:\n            pass\n",
        "tests/jj/test_blobs.py tests/test_query.py",
    ),
    (
        "bulk COPY never falls back: the direct path used for existing rows",
        "forge_db/query.py",
        "        except psycopg.errors.UniqueViolation:\n",
        "        except psycopg.errors.CheckViolation:\n",
        "tests/jj/test_blobs.py tests/test_query.py",
    ),
    (
        "put_blobs copies in the order given, not by hash",
        "forge_db/jj/blobs.py",
        "rows = sorted(dict(zip(digests, contents, strict=True)).items())",
        "rows = list(dict(zip(digests, contents, strict=True)).items())",
        "tests/jj/test_blobs.py::test_a_put_sends_its_rows_in_hash_order"
        " tests/jj/test_blobs.py::test_eight_threads_putting_overlapping_sets_store_each_blob_once",
    ),
    (
        "jj workspace lock not exclusive",
        "forge_db/jj/locks.py",
        "l.holder, l.fencing_token, l.expires_at, l.acquired",
        "l.holder, l.fencing_token, l.expires_at, true AS acquired",
        "tests/jj/test_locks.py -k exclusive",
    ),
    (
        "jj blob read without its repository link",
        "forge_db/jj/blobs.py",
        "WHERE rb.repository_id = %(repository_id)s AND rb.hash = decode(%(hash)s, 'hex')",
        "WHERE rb.hash = decode(%(hash)s, 'hex')",
        "tests/jj/test_blobs.py -k private_blob",
    ),
    (
        "jj workspace transition with read access",
        "forge_db/jj/workspaces.py",
        'WITH guard AS ({guard("write")}),\n            moved AS',
        'WITH guard AS ({guard("read")}),\n            moved AS',
        "tests/jj/test_workspaces.py -k private",
    ),
    (
        "jj shortest prefix ignores the next id",
        "forge_db/jj/sql.py",
        'f"jj_common_prefix_length({value}, {above})))"',
        'f"0))"',
        "tests/jj/test_changes.py -k shortest",
    ),
    (
        "jj operation log keyset <=",
        "forge_db/jj/operations.py",
        "OR (o.ended_at, o.operation_id) < (%(after_at)s, %(after_id)s::text))",
        "OR (o.ended_at, o.operation_id) <= (%(after_at)s, %(after_id)s::text))",
        "tests/jj/test_operations.py -k log_walks",
    ),
    (
        "jj snapshot history deletable",
        "db/migrations/0014_jj_snapshots.sql",
        "    IF EXISTS (SELECT FROM jj_workspaces w",
        "    IF false AND EXISTS (SELECT FROM jj_workspaces w",
        "tests/jj/test_snapshots.py -k append_only",
    ),
    (
        "jj snapshot history refuses its own cascade",
        "db/migrations/0014_jj_snapshots.sql",
        "       AND EXISTS (SELECT FROM jj_operations o",
        "       OR EXISTS (SELECT FROM jj_operations o",
        "tests/jj/test_snapshots.py -k cascade",
    ),
    (
        "jj part names a blob another repository holds",
        "forge_db/jj/parts.py",
        "WHERE rb.repository_id = %(repository_id)s\n                              AND rb.hash = s.new_blob_hash",
        "WHERE rb.hash = s.new_blob_hash",
        "tests/jj/test_parts.py -k cannot_name",
    ),
    (
        "jj path history shows hidden commits",
        "forge_db/jj/parts.py",
        "p.path = %(path)s AND NOT c.hidden",
        "p.path = %(path)s",
        "tests/jj/test_parts.py -k history",
    ),
    (
        "jj parts list keyset >=",
        "forge_db/jj/parts.py",
        "OR p.path > %(after)s)",
        "OR p.path >= %(after)s)",
        "tests/contracts/test_pagination.py -k parts",
    ),
    (
        "jj file change check ignores the mtime",
        "forge_db/jj/file_trackers.py",
        "AND f.mtime IS NOT DISTINCT FROM s.mtime)",
        ")",
        "tests/jj/test_file_trackers.py -k changed",
    ),
    (
        "jj files tracked in an archived workspace",
        "forge_db/jj/file_trackers.py",
        "CASE WHEN w.state = 'archived'",
        "CASE WHEN false",
        "tests/jj/test_file_trackers.py -k archived",
    ),
    (
        "jj file trackers upserted in any order",
        "forge_db/jj/file_trackers.py",
        "                ORDER BY k.path\n                ON CONFLICT",
        "                ORDER BY random()\n                ON CONFLICT",
        "tests/jj/test_file_trackers.py -k deadlock",
    ),
    (
        "jj snapshots of an archived workspace",
        "forge_db/jj/snapshots.py",
        "CASE WHEN w.state = 'archived'",
        "CASE WHEN false",
        "tests/jj/test_snapshots.py -k live_workspace",
    ),
    (
        "jj snapshot list keyset <=",
        "forge_db/jj/snapshots.py",
        "OR s.id < %(after)s)",
        "OR s.id <= %(after)s)",
        "tests/jj/test_snapshots.py -k newest_first",
    ),
    (
        "event consume without SKIP LOCKED",
        "forge_db/coordination/events.py",
        "FOR UPDATE OF d SKIP LOCKED",
        "FOR UPDATE OF d",
        "tests/coordination/test_events.py",
    ),
    (
        "event ack without the fencing token",
        "forge_db/coordination/events.py",
        """            WHERE d.subscription_id = sub.id AND d.event_id = %(event_id)s
              AND d.state = 'in_flight' AND {held("d")}
            \"\"\",
            {"subscription": subscription, "event_id": event_id, "token": token},""",
        """            WHERE d.subscription_id = sub.id AND d.event_id = %(event_id)s
              AND d.state = 'in_flight'
            \"\"\",
            {"subscription": subscription, "event_id": event_id, "token": token},""",
        "tests/coordination/test_events.py",
    ),
    (
        "event acked twice",
        "forge_db/coordination/events.py",
        "UPDATE event_deliveries d SET state = 'acked', acked_at = now()\n            FROM ({_SUBSCRIPTION}) sub\n            WHERE d.subscription_id = sub.id AND d.event_id = %(event_id)s\n              AND d.state = 'in_flight'",
        "UPDATE event_deliveries d SET state = 'acked', acked_at = now()\n            FROM ({_SUBSCRIPTION}) sub\n            WHERE d.subscription_id = sub.id AND d.event_id = %(event_id)s\n              AND d.state IN ('in_flight', 'acked')",
        "tests/coordination/test_events.py",
    ),
    (
        "fan-out ignores the source filter",
        "db/migrations/0015_coordination_waiters.sql",
        "           AND (s.source_filter IS NULL OR s.source_filter = NEW.source)\n",
        "",
        "tests/coordination/test_events.py tests/coordination/test_schema.py",
    ),
    (
        "publish notifies with nobody waiting",
        "db/migrations/0015_coordination_waiters.sql",
        "        SELECT DISTINCT subscription_id FROM live\n",
        "        SELECT DISTINCT s FROM unnest(v_subscriptions) AS s\n",
        "tests/coordination/test_events.py -k notifies_only",
    ),
    (
        "publish not ordered against a registering waiter",
        "db/migrations/0015_coordination_waiters.sql",
        "    PERFORM pg_advisory_xact_lock_shared(1701147252, (s % 2147483648)::integer)\n"
        "       FROM unnest(v_subscriptions) AS s;\n",
        "",
        "tests/coordination/test_events.py -k uncommitted_publish",
    ),
    (
        "timed-out delivery redelivered forever",
        "forge_db/coordination/events.py",
        "state = CASE WHEN d.attempts >= sub.max_attempts THEN 'dead'\n                                 ELSE 'in_flight' END,",
        "state = 'in_flight',",
        "tests/coordination/test_events.py",
    ),
    (
        "deadlock cycles reported once per member",
        "forge_db/coordination/leases.py",
        """                  AND w.start = (SELECT min(m COLLATE "C") FROM unnest(w.path) AS m)""",
        "",
        "tests/coordination/test_leases.py",
    ),
    (
        "deadlock victim is the oldest waiter",
        "forge_db/coordination/leases.py",
        "ORDER BY u.s DESC, u.m",
        "ORDER BY u.s ASC, u.m",
        "tests/coordination/test_leases.py",
    ),
    (
        "decision decided twice",
        "forge_db/coordination/decisions.py",
        "WHERE id = %(decision_id)s AND state = 'pending'\n                RETURNING",
        "WHERE id = %(decision_id)s\n                RETURNING",
        "tests/coordination/test_decisions.py",
    ),
    (
        "rate limit lets everything through",
        "db/migrations/0011_coordination_bus.sql",
        "    allowed := v_tokens >= p_cost;",
        "    allowed := true;",
        "tests/coordination/test_limits.py",
    ),
    (
        "config get returns a secret",
        "forge_db/coordination/config.py",
        '"key, repository_id, value_type, CASE WHEN secret THEN NULL ELSE value END AS value, secret, "',
        '"key, repository_id, value_type, value, secret, "',
        "tests/coordination/test_config.py",
    ),
    (
        "alert recurrence not counted",
        "forge_db/coordination/alerts.py",
        "occurrences = a.occurrences + 1, last_seen_at = now(),",
        "last_seen_at = now(),",
        "tests/coordination/test_alerts.py",
    ),
    (
        "short RSA ssh keys accepted",
        "forge_db/users/ssh_keys.py",
        "MIN_RSA_BITS: Final = 2048",
        "MIN_RSA_BITS: Final = 1024",
        "tests/users/test_ssh_keys.py",
    ),
    (
        "ssh key last use written on every login",
        "forge_db/users/ssh_keys.py",
        "AND (f.last_used_at IS NULL OR f.last_used_at < now() - interval '1 minute')",
        "",
        "tests/users/test_ssh_keys.py",
    ),
    (
        "commit status writable with read access",
        "forge_db/repositories/statuses.py",
        'WITH guard AS ({guard("write")})',
        'WITH guard AS ({guard("read")})',
        "tests/repositories/test_statuses.py",
    ),
    (
        "commit status read without the privacy filter",
        "forge_db/repositories/statuses.py",
        """            WHERE repository_id = %(repository_id)s AND commit_id = %(commit_id)s
              AND {readable()}
            ORDER BY context""",
        """            WHERE repository_id = %(repository_id)s AND commit_id = %(commit_id)s
            ORDER BY context""",
        "tests/repositories/test_statuses.py",
    ),
    (
        "combined status: error counts as success",
        "forge_db/repositories/statuses.py",
        "WHERE state IN ('failure', 'error'))",
        "WHERE state IN ('failure'))",
        "tests/repositories/test_statuses.py",
    ),
    (
        "step claim waits instead of SKIP LOCKED",
        "forge_db/workflows/runners.py",
        "FOR NO KEY UPDATE OF s, wr SKIP LOCKED",
        "FOR NO KEY UPDATE OF s, wr",
        "tests/workflows/test_runners.py -k skips_a_step",
    ),
    (
        "step finish without the fencing match",
        "forge_db/workflows/runners.py",
        'AND {held("s", value="g.token")} AND s.runner_id = runner.id',
        "AND s.runner_id = runner.id",
        "tests/workflows/test_runners.py -k stale_fencing",
    ),
    (
        "expired lease taken over without attempts left",
        "forge_db/workflows/runners.py",
        "s.lease_expires_at <= now() AND s.attempts < s.max_attempts",
        "s.lease_expires_at <= now()",
        "tests/workflows/test_runners.py -k out_of_attempts_is_not",
    ),
    (
        "retry without backoff",
        "forge_db/workflows/runners.py",
        "THEN now() + workflow_retry_delay(",
        "THEN now() + 0 * workflow_retry_delay(",
        "tests/workflows/test_runners.py -k backoff_formula",
    ),
    (
        "reaping forgets the attempts",
        "forge_db/workflows/runners.py",
        "next_attempt_at = now(), finished_at = clock_timestamp(),",
        "attempts = 0, next_attempt_at = now(), finished_at = clock_timestamp(),",
        "tests/workflows/test_runners.py -k attempt_counted",
    ),
    (
        "cancel stops at the run itself",
        "forge_db/workflows/runs.py",
        "                WHERE t.depth < {MAX_DEPTH}\n            ), locked AS (",
        "                WHERE t.depth < 0\n            ), locked AS (",
        "tests/workflows/test_runs.py -k three_generations",
    ),
    (
        "idempotent start loses the existing run",
        "forge_db/workflows/runs.py",
        "DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key",
        "DO NOTHING",
        "tests/workflows/test_runs.py -k retried_start",
    ),
    (
        "a run that ends keeps its deadline row",
        "db/migrations/0018_workflows_run_deadlines.sql",
        "    IF NEW.finished_at IS NOT NULL OR NEW.deadline_at IS NULL THEN",
        "    IF NEW.deadline_at IS NULL THEN",
        "tests/workflows/test_schema.py -k deadline_row",
    ),
    (
        "the time-out sweep skips queued runs",
        "forge_db/workflows/runs.py",
        "WHERE d.deadline_at <= now() AND r.state IN ('queued', 'running')",
        "WHERE d.deadline_at <= now() AND r.state = 'running'",
        "tests/workflows/test_runs.py -k past_their_deadline",
    ),
    (
        "a pending tool call never times out",
        "forge_db/workflows/tools.py",
        "WHERE status IN ('pending', 'running') AND deadline_at <= now()",
        "WHERE status = 'running' AND deadline_at <= now()",
        "tests/workflows/test_tools.py -k past_its_wait",
    ),
    (
        "the tool status machine forbids starting a pending call",
        "db/migrations/0016_workflows_tool_pending.sql",
        "'pending>running', 'pending>cancelled'",
        "'pending>cancelled'",
        "tests/workflows/test_tools.py -k no_start_until",
    ),
    (
        "a COPY append leaves its staged lines for the next",
        "forge_db/workflows/logs.py",
        'f"staged AS (DELETE FROM {_STAGE} RETURNING n, message),"',
        'f"staged AS (SELECT n, message FROM {_STAGE}),"',
        "tests/workflows/test_logs.py -k one_transaction",
    ),
    (
        "a large log batch never goes by COPY",
        "forge_db/workflows/logs.py",
        "if len(lines) >= COPY_FROM:",
        "if len(lines) > 10_000:",
        "tests/workflows/test_logs.py -k large_batch",
    ),
    (
        "a private run's log readable by anyone",
        "forge_db/workflows/logs.py",
        "can_read_repository(%(repository_id)s, %(viewer_id)s)",
        "true",
        "tests/workflows/test_logs.py -k invisible",
    ),
    (
        "landing claim waits instead of SKIP LOCKED",
        "db/migrations/0008_landing_queue.sql",
        "FOR UPDATE OF q SKIP LOCKED;",
        "FOR UPDATE OF q;",
        "tests/landing/test_workers.py",
    ),
    (
        "landing finish ignores the fencing token",
        "db/migrations/0008_landing_queue.sql",
        "WHERE b.id = p_batch_id AND b.state = 'running' AND b.fencing_token = p_token\n     FOR UPDATE;\n    IF NOT FOUND THEN\n        RETURN;\n    END IF;\n    SELECT array_agg",
        "WHERE b.id = p_batch_id AND b.state = 'running'\n     FOR UPDATE;\n    IF NOT FOUND THEN\n        RETURN;\n    END IF;\n    SELECT array_agg",
        "tests/landing/test_workers.py",
    ),
    (
        "landing claim takes requests that are not ready",
        "db/migrations/0008_landing_queue.sql",
        "           AND l.state = 'queued'\n           AND (SELECT r.ready FROM landing_readiness(l.repository_id, l.id) r)\n",
        "           AND l.state = 'queued'\n",
        "tests/landing/test_workers.py",
    ),
    (
        "landing forms a batch beside a live one",
        "db/migrations/0008_landing_queue.sql",
        "                CONTINUE;  -- a live batch: the bookmark is busy",
        "                NULL;",
        "tests/concurrency/test_landing_concurrency.py tests/landing/test_workers.py",
    ),
    (
        "landing submit without the counter lock",
        "db/migrations/0008_landing_queue.sql",
        "    PERFORM 1 FROM issue_counters WHERE repository_id = p_repository_id FOR UPDATE;\n",
        "",
        "tests/concurrency/test_landing_concurrency.py",
    ),
    (
        "landing stale approvals still count",
        "db/migrations/0013_landing_shared_readiness.sql",
        "AND latest.commit_id IS NOT DISTINCT FROM l.commit_id)::integer AS approvals",
        ")::integer AS approvals",
        "tests/landing/test_reviews.py",
    ),
    (
        "landing bisection spends the attempts of the innocent",
        "db/migrations/0008_landing_queue.sql",
        "attempts = greatest(attempts - 1, 0), last_error = p_error,",
        "last_error = p_error,",
        "tests/landing/test_workers.py",
    ),
    (
        "landing request readable by strangers",
        "forge_db/landing/requests.py",
        "WHERE l.repository_id = %(repository_id)s AND l.number = %(number)s\n              AND {readable()}",
        "WHERE l.repository_id = %(repository_id)s AND l.number = %(number)s",
        "tests/contracts/test_privacy.py",
    ),
    (
        "landing cancel of a running request allowed",
        "forge_db/landing/requests.py",
        "state = CASE WHEN l.state <> 'queued'\n",
        "state = CASE WHEN false\n",
        "tests/landing/test_requests.py",
    ),
    (
        "landing draft reviews shown to everyone",
        "forge_db/landing/reviews.py",
        "AND (r.state <> 'pending' OR r.reviewer_id = %(viewer_id)s)",
        "AND true",
        "tests/landing/test_reviews.py",
    ),
    (
        "landing queue pause answers a stranger PermissionDenied",
        "forge_db/landing/queues.py",
        'WITH guard AS ({guard("write")}),\n        changed AS',
        "WITH guard AS (SELECT CASE WHEN has_repository_role(%(repository_id)s, %(actor_id)s, 'write') THEN %(repository_id)s ELSE raise_error('FDP01', 'no') END AS id),\n        changed AS",
        "tests/contracts/test_privacy.py tests/landing/test_queues.py",
    ),
    (
        "merge readiness ignores the required contexts",
        "db/migrations/0013_landing_shared_readiness.sql",
        "                    AND r.required_contexts <@ s.passing))",
        "                    ))",
        "tests/landing/test_reviews.py tests/landing/test_pulls.py",
    ),
    (
        "combined status ignores the bookmark's required contexts",
        "db/migrations/0013_landing_shared_readiness.sql",
        "     WHERE p.repository_id = p_repository_id AND branch_pattern_matches(p.pattern, p_ref)\n$$;",
        "     WHERE p.repository_id = p_repository_id AND branch_pattern_matches(p.pattern, p_ref)\n       AND false\n$$;",
        "tests/repositories/test_statuses.py tests/landing/test_reviews.py",
    ),
    (
        "deadline never closes a frozen connection",
        "forge_db/deadline.py",
        "                call.stage = 2\n                _shut(call.conn)",
        "                call.stage = 2",
        "tests/test_deadline.py",
    ),
    (
        "deadline fires without cancelling",
        "forge_db/deadline.py",
        "threading.Thread(target=_cancel, args=(cancel,), daemon=True).start()",
        "None",
        "tests/test_deadline.py",
    ),
    (
        "every state transition allowed",
        "db/migrations/0017_cheaper_transition_checks.sql",
        "RETURN p_to IS NOT DISTINCT FROM p_from OR (p_from || '>' || p_to) = ANY (p_allowed);",
        "RETURN true;",
        "tests/contracts/test_state_machines.py",
    ),
    (
        "step and run triggers never check the state machine",
        "db/migrations/0017_cheaper_transition_checks.sql",
        "    IF NOT transition_allowed(OLD.state, NEW.state, TG_ARGV) THEN",
        "    IF false THEN",
        "tests/contracts/test_state_machines.py",
    ),
    (
        "a failed step finishes as succeeded",
        "forge_db/workflows/runners.py",
        '_FINISH: Final = {o: _finish_sql(o) for o in ("succeeded", "failed")}',
        '_FINISH: Final = {o: _finish_sql("succeeded") for o in ("succeeded", "failed")}',
        "tests/workflows",
    ),
]


def main(argv: list[str]) -> int:
    """Run every mutation (or those whose names contain one of ``argv``); 0 if all are caught."""
    url = os.environ.get("FORGE_DB_TEST_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="forge-mutants-") as scratch:
        tree = Path(scratch) / "tree"
        for name, path, old, new, tests in MUTATIONS:
            if argv and not any(wanted in name for wanted in argv):
                continue
            if tree.exists():
                shutil.rmtree(tree)
            shutil.copytree(
                ROOT,
                tree,
                ignore=shutil.ignore_patterns(
                    ".venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".hypothesis"
                ),
            )
            target = tree / path
            text = target.read_text()
            if old not in text:
                print(f"STALE   {name}: the text to change is gone from {path}")
                failures += 1
                continue
            target.write_text(text.replace(old, new, 1))
            if path.startswith("db/migrations/"):
                # Keep schema.sql in step, so that what fails is the behaviour, not the drift test.
                schema = tree / "db" / "schema.sql"
                schema.write_text(schema.read_text().replace(old, new, 1))
            result = subprocess.run(  # noqa: S603 - this interpreter, our own tests
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "-x",
                    *tests.split(),
                ],
                cwd=tree,
                env={**os.environ, "PYTHONPATH": str(tree), "FORGE_DB_TEST_URL": url},
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            summary = [line for line in result.stdout.splitlines() if " in " in line][-1:]
            caught = result.returncode != 0
            failures += not caught
            print(f"{'CAUGHT' if caught else 'MISSED'}  {name}  {' '.join(summary)}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
