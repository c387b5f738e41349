"""``db.coordination.decisions``: questions an agent asks a human, with a default and a timeout.

A decision is ``pending`` until a person decides (exactly once, one of its options) or, once
its timeout has passed, :meth:`Decisions.expire_due` resolves it to its default
(``auto_resolved``). Both are one ``UPDATE ... WHERE state = 'pending'``: when a decide and a
sweep race, the row lock orders them and the second finds the decision no longer pending, so
there is exactly one outcome. The state machine is the table's trigger.
"""

from __future__ import annotations

import builtins
from typing import Annotated, Final

from psycopg.types.json import Jsonb

from ..errors import InvalidInput, register_constraint_messages
from ..inputs import Bounded, Id, ListOf, Text
from ..query import Namespace, Query, R, many, one, read, write
from .models import Decision
from .rules import JsonObject, Label, Uuid

__all__ = ["Decisions"]

register_constraint_messages(
    {
        "decisions_choice_check": "choice: must be one of the decision's options",
        "decisions_default_option_check": "default: must be one of the options",
    },
    fields={"decisions_choice_check": "choice", "decisions_default_option_check": "default"},
)

DecisionType = Annotated[
    str,
    Text(
        100,
        min_length=1,
        pattern=r"[a-z][a-z0-9_.-]{0,99}",
        explain="must be lowercase letters, digits, '_', '.' or '-', starting with a letter",
        sample="merge",
    ),
]
Summary = Annotated[str, Text(4096, min_length=1, strip=True, sample="Land it?")]
_OPTION: Final = Text(255, min_length=1, controls=False, sample="yes")
Option = Annotated[str, _OPTION]
Options = Annotated[list[str], ListOf(_OPTION, 50, at_least=1, repeats=False)]
TimeoutSeconds = Annotated[int, Bounded(1, 366 * 86_400)]
Batch = Annotated[int, Bounded(1, 1000)]

_COLUMNS: Final = (
    "id, repository_id, decision_type, summary, options, default_option, context, requested_by, "
    "state, choice, decided_by_id, decided_at, expires_at, created_at"
)


class Decisions(Namespace[R]):
    """Request a decision, decide it once, resolve overdue ones to their default, list them."""

    @write
    def request(
        self,
        decision_type: DecisionType,
        summary: Summary,
        *,
        options: Options,
        default: Option,
        timeout: TimeoutSeconds,
        context: JsonObject | None = None,
        requested_by: Label | None = None,
        repository_id: Id | None = None,
    ) -> Query[Decision]:
        """Open a pending decision among ``options``; after ``timeout`` seconds ``default``."""
        if default not in options:
            raise InvalidInput("default: must be one of the options", field="default")
        return Query(
            f"""
            INSERT INTO decisions (decision_type, summary, options, default_option, context,
                                   requested_by, repository_id, expires_at)
            VALUES (%(decision_type)s, %(summary)s, %(options)s, %(default)s, %(context)s,
                    %(requested_by)s, %(repository_id)s,
                    now() + make_interval(secs => %(timeout)s))
            RETURNING {_COLUMNS}
            """,
            {
                "decision_type": decision_type,
                "summary": summary,
                "options": options,
                "default": default,
                "context": Jsonb(context or {}),
                "requested_by": requested_by,
                "repository_id": repository_id,
                "timeout": timeout,
            },
            one(Decision, "decision not requested"),
        )

    @write
    def decide(self, decision_id: Uuid, *, choice: Option, actor_id: Id) -> Query[Decision]:
        """Decide a pending decision: once. ``Conflict`` when it is already resolved,
        ``InvalidInput`` (field ``choice``) for a choice outside its options."""
        return Query(
            f"""
            WITH decided AS (
                UPDATE decisions SET state = 'decided', choice = %(choice)s,
                                     decided_by_id = %(actor_id)s, decided_at = now()
                WHERE id = %(decision_id)s AND state = 'pending'
                RETURNING {_COLUMNS}
            )
            SELECT {_COLUMNS} FROM decided
            UNION ALL
            SELECT {_COLUMNS} FROM decisions
            WHERE id = %(decision_id)s
              AND CASE WHEN EXISTS (SELECT FROM decided) THEN false
                       ELSE raise_error('FDC01', 'decision ' || %(decision_id)s::text
                                        || ' is already ' || state) IS NULL END
            """,
            {"decision_id": decision_id, "choice": choice, "actor_id": actor_id},
            one(Decision, f"decision {decision_id} not found"),
        )

    @write
    def expire_due(self, *, batch: Batch = 100) -> Query[builtins.list[Decision]]:
        """Resolve up to ``batch`` overdue pending decisions to their default
        (``auto_resolved``), in one statement; safe to run from many processes at once."""
        return Query(
            f"""
            UPDATE decisions d SET state = 'auto_resolved', choice = d.default_option,
                                   decided_at = now()
            FROM (SELECT id FROM decisions
                  WHERE state = 'pending' AND expires_at <= now()
                  ORDER BY expires_at LIMIT %(batch)s
                  FOR UPDATE SKIP LOCKED) due
            WHERE d.id = due.id
            RETURNING {", ".join(f"d.{c}" for c in _COLUMNS.split(", "))}
            """,
            {"batch": batch},
            many(Decision),
        )

    @read
    def get(self, decision_id: Uuid) -> Query[Decision]:
        """The decision with this id."""
        return Query(
            f"SELECT {_COLUMNS} FROM decisions WHERE id = %(decision_id)s",
            {"decision_id": decision_id},
            one(Decision, f"decision {decision_id} not found"),
        )

    @read
    def pending(
        self, *, repository_id: Id | None = None, limit: Batch = 100
    ) -> Query[builtins.list[Decision]]:
        """The oldest ``limit`` pending decisions (of one repository when given), oldest first."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM decisions
            WHERE state = 'pending'
              AND (%(repository_id)s::bigint IS NULL OR repository_id = %(repository_id)s)
            ORDER BY created_at, id
            LIMIT %(limit)s
            """,
            {"repository_id": repository_id, "limit": limit},
            many(Decision),
        )
