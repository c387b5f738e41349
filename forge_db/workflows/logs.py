"""``db.workflows.logs``: runners append log lines in batches; readers tail them by line number.

Lines are numbered per run as they are appended: an append takes its numbers from the run's
counter row and holds that row until it commits, so lines become visible in number order and a
reader that asks for "the lines after n" never skips one. A large batch (``COPY_FROM`` lines or
more) reaches the server by ``COPY`` into a temporary table that the same statement consumes;
a smaller one travels as one array parameter. A run's log is capped at 64 MiB; lines past a
retention age are purged in batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Annotated, Final, Literal

from ..errors import InvalidInput, register_constraint_messages
from ..inputs import Bounded, Credential, Duration, Id
from ..query import Copy, Namespace, Query, R, Result, Shape, many, one, read, rowcount, write
from .models import LogAppended, LogLine, LogTail
from .sql import runner_auth, runner_digest
from .vocabulary import LogLines, Uuid

__all__ = ["Logs"]

register_constraint_messages(
    {
        "workflow_log_counters_bytes_check": "lines: the run's log is full (64 MiB)",
        "workflow_log_counters_lines_check": "lines: the run's log is full (10,000,000 lines)",
    },
    fields={
        "workflow_log_counters_bytes_check": "lines",
        "workflow_log_counters_lines_check": "lines",
    },
)

Level = Literal["debug", "info", "warning", "error"]
LineNumber = Annotated[int, Bounded(0, 2**62)]
TailLimit = Annotated[int, Bounded(1, 10_000)]
PurgeBatch = Annotated[int, Bounded(1, 100_000)]
MAX_BATCH_BYTES: Final = 8 * 1024 * 1024
_lines: Final = many(LogLine)

COPY_FROM = 5000
"""Batches of at least this many lines are sent by ``COPY``: below a few thousand lines the
array parameter is as fast or faster, above it ``COPY`` wins (bench/workflow_anchors.py)."""
_STAGE: Final = "pg_temp.workflow_log_stage"
_SETUP: Final = f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (n bigint, message text) ON COMMIT DROP"
_COPY: Final = f"COPY {_STAGE} (n, message) FROM STDIN (FORMAT BINARY)"
_TYPES: Final = ("int8", "text")


def _append(source: str, staged: bool) -> str:
    """The append statement, its lines (rows ``message, n``) read from ``source``, or from the
    staged rows that a ``COPY`` sent."""
    stage = f"staged AS (DELETE FROM {_STAGE} RETURNING n, message)," if staged else ""
    # Belt and braces: the rows staged must be the batch the counter numbers, or lines would
    # be missing from the numbering.
    mismatch = (
        """WHEN (SELECT count(*) FROM staged) <> %(count)s
                    THEN raise_error('FDC01', 'lines: the staged batch does not match')"""
        if staged
        else ""
    )
    return f"""
    WITH {stage} {runner_auth()},
    run AS (
        SELECT wr.repository_id, wr.id FROM workflow_runs wr
        WHERE wr.id = %(run_id)s AND (SELECT refused FROM auth) IS NULL
          AND EXISTS (SELECT FROM workflow_steps s, runner
                      WHERE s.run_id = wr.id AND s.runner_id = runner.id
                        AND (%(step_id)s::uuid IS NULL OR s.id = %(step_id)s))
    ), checked AS (
        SELECT CASE WHEN NOT EXISTS (SELECT FROM run)
                    THEN raise_error('FDN01', 'run or step not found on this runner')
                    {mismatch} END
               AS refused
    ), counter AS (
        INSERT INTO workflow_log_counters AS c (repository_id, run_id, lines, bytes)
        SELECT repository_id, id, %(count)s, %(bytes)s FROM run
        WHERE (SELECT refused FROM checked) IS NULL
        ON CONFLICT (repository_id, run_id) DO UPDATE
            SET lines = c.lines + EXCLUDED.lines, bytes = c.bytes + EXCLUDED.bytes
        RETURNING c.repository_id, c.run_id, c.lines - %(count)s AS before
    ), inserted AS (
        INSERT INTO workflow_logs (repository_id, run_id, step_id, line, level, message)
        SELECT c.repository_id, c.run_id, %(step_id)s, c.before + m.n, %(level)s, m.message
        FROM counter c, {source}
        RETURNING line
    )
    SELECT min(line) AS first_line, max(line) AS last_line FROM inserted
"""


_APPEND: Final = _append("unnest(%(lines)s::text[]) WITH ORDINALITY AS m(message, n)", False)
# The staged rows are consumed whether or not the append is refused, so a later append in the
# same transaction starts from an empty table.
_APPEND_STAGED: Final = _append("staged m", True)


def _staged(lines: Sequence[str]) -> Iterator[tuple[int, str]]:
    yield from enumerate(lines, 1)


def _tail(after_line: int) -> Shape[LogTail]:
    def convert(result: Result) -> LogTail:
        lines = _lines.convert(result)
        return LogTail(lines=lines, next_line=lines[-1].line if lines else after_line)

    return Shape(convert, _lines.columns)


class Logs(Namespace[R]):
    """Run and step logs."""

    @write
    def append(
        self,
        run_id: Uuid,
        *,
        runner_id: Uuid,
        runner_token: Credential,
        lines: LogLines,
        step_id: Uuid | None = None,
        level: Level = "info",
    ) -> Query[LogAppended]:
        """Append a batch of lines to a run's log (to one of its steps with ``step_id``).

        The runner must have run a step of that run (that step, with ``step_id``). Returns the
        line numbers the batch took, in order. A batch of ``COPY_FROM`` lines or more is sent
        by ``COPY``; either way the batch is one statement, all or nothing.
        """
        size = sum(len(line.encode("utf-8")) for line in lines)
        if size > MAX_BATCH_BYTES:
            raise InvalidInput(
                f"lines: a batch holds at most {MAX_BATCH_BYTES} bytes; append it in parts",
                field="lines",
            )
        params = {
            "runner_id": runner_id,
            "digest": runner_digest(runner_token),
            "run_id": run_id,
            "step_id": step_id,
            "level": level,
            "count": len(lines),
            "bytes": size,
        }
        if len(lines) >= COPY_FROM:
            return Query(
                _APPEND_STAGED,
                params,
                one(LogAppended, "no line appended"),
                copy=Copy(_SETUP, _COPY, _TYPES, _staged(lines)),
            )
        return Query(_APPEND, {**params, "lines": lines}, one(LogAppended, "no line appended"))

    @read
    def tail(
        self,
        repository_id: Id,
        run_id: Uuid,
        *,
        viewer_id: Id | None = None,
        after_line: LineNumber = 0,
        step_id: Uuid | None = None,
        limit: TailLimit = 1000,
    ) -> Query[LogTail]:
        """The lines after ``after_line`` (of one step, with ``step_id``), in order.

        ``next_line`` is where to continue, even when no line came: poll again with it.
        """
        return Query(
            f"""
            SELECT l.line, l.step_id, l.level, l.message, l.created_at FROM workflow_logs l
            WHERE l.repository_id = %(repository_id)s AND l.run_id = %(run_id)s
              AND l.line > %(after_line)s AND {"l.step_id = %(step_id)s AND" if step_id else ""}
                  can_read_repository(%(repository_id)s, %(viewer_id)s)
            ORDER BY l.line
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "run_id": run_id,
                "viewer_id": viewer_id,
                "after_line": after_line,
                "step_id": step_id,
                "limit": limit,
            },
            _tail(after_line),
        )

    @write
    def purge(self, *, older_than: Duration, batch: PurgeBatch = 10_000) -> Query[int]:
        """Administrative: delete up to ``batch`` of the oldest lines written before
        ``older_than`` ago; the number deleted (call again until it is 0)."""
        return Query(
            """
            WITH doomed AS (
                SELECT id FROM workflow_logs
                WHERE created_at < now() - %(older_than)s
                ORDER BY created_at
                LIMIT %(batch)s
            )
            DELETE FROM workflow_logs l USING doomed d WHERE l.id = d.id
            """,
            {"older_than": older_than, "batch": batch},
            rowcount,
        )
