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
        "db/migrations/0001_initial.sql",
        "    IF NEW.state IS DISTINCT FROM OLD.state\n       AND NOT (OLD.state || '>' || NEW.state) = ANY (TG_ARGV) THEN",
        "    IF NEW.state IS DISTINCT FROM OLD.state THEN",
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
        "db/migrations/0008_landing_queue.sql",
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
