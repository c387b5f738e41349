"""``db.workflows.usage``: the LLM usage ledger, its roll-ups, and monthly budgets.

Each call is recorded once with its model, provider, token counts and its cost as an exact
number with a currency, charged to the session's account (else the run's trigger, else the one
who records it). Reports roll the ledger up over a time range by run, user, model and day; the
budget check says how much of this month's budget the repository has spent, in one statement.
"""

from __future__ import annotations

import builtins
from decimal import Decimal
from typing import Annotated, Final, Literal

from ..access import guard, readable
from ..errors import InvalidInput
from ..inputs import AwareTime, Day, Id, Text
from ..query import Namespace, Query, R, many, one, read, write
from .models import Budget, UsageRow
from .models import Usage as UsageRecord
from .vocabulary import Currency, ModelName, Money, ProviderName, TokenCount, Uuid

__all__ = ["Usage"]

Dimension = Literal["run", "user", "model", "day"]
RequestId = Annotated[str, Text(255, min_length=1, controls=False, sample="req_1")]
_COLUMNS: Final = (
    "u.id, u.repository_id, u.agent_session_id, u.workflow_run_id, u.user_id, u.provider, "
    "u.model, u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens, "
    "u.cost, u.currency, u.request_id, u.created_at"
)


class Usage(Namespace[R]):
    """LLM usage and budgets."""

    @write
    def record(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        provider: ProviderName,
        model: ModelName,
        session_id: Uuid | None = None,
        run_id: Uuid | None = None,
        input_tokens: TokenCount = 0,
        output_tokens: TokenCount = 0,
        cache_read_tokens: TokenCount = 0,
        cache_write_tokens: TokenCount = 0,
        cost: Money = Decimal(0),
        currency: Currency = "USD",
        request_id: RequestId | None = None,
    ) -> Query[UsageRecord]:
        """Record one LLM call of a session or a run (of this repository)."""
        if session_id is None and run_id is None:
            raise InvalidInput(
                "give the session_id or the run_id the call belongs to", field="session_id"
            )
        return Query(
            f"""
            WITH guard AS ({guard("write")}),
            session AS (
                SELECT s.id, s.user_id, s.workflow_run_id FROM agent_sessions s, guard
                WHERE s.repository_id = guard.id AND s.id = %(session_id)s
            ), run AS (
                SELECT r.id, r.triggered_by_id FROM workflow_runs r, guard
                WHERE r.repository_id = guard.id
                  AND r.id = coalesce(%(run_id)s, (SELECT workflow_run_id FROM session))
            ), checked AS (
                SELECT CASE WHEN %(session_id)s::uuid IS NOT NULL AND NOT EXISTS (SELECT FROM session)
                            THEN raise_error('FDN01', 'agent session not found')
                            WHEN %(run_id)s::uuid IS NOT NULL AND NOT EXISTS (SELECT FROM run)
                            THEN raise_error('FDN01', 'run not found') END AS refused
            ), u AS (
                INSERT INTO llm_usage (repository_id, agent_session_id, workflow_run_id, user_id,
                                       provider, model, input_tokens, output_tokens,
                                       cache_read_tokens, cache_write_tokens, cost, currency,
                                       request_id)
                SELECT guard.id, %(session_id)s, (SELECT id FROM run),
                       coalesce((SELECT user_id FROM session), (SELECT triggered_by_id FROM run),
                                %(actor_id)s),
                       %(provider)s, %(model)s, %(input_tokens)s, %(output_tokens)s,
                       %(cache_read_tokens)s, %(cache_write_tokens)s, %(cost)s, %(currency)s,
                       %(request_id)s
                FROM guard WHERE (SELECT refused FROM checked) IS NULL
                RETURNING *
            )
            SELECT {_COLUMNS} FROM u
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "session_id": session_id,
                "run_id": run_id,
                "provider": provider,
                "model": model,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_read_tokens": cache_read_tokens,
                "cache_write_tokens": cache_write_tokens,
                "cost": cost,
                "currency": currency,
                "request_id": request_id,
            },
            one(UsageRecord, "usage not recorded"),
        )

    @read
    def report(
        self,
        repository_id: Id,
        *,
        since: AwareTime,
        until: AwareTime | None = None,
        viewer_id: Id | None = None,
        by: builtins.list[Dimension] | None = None,
    ) -> Query[builtins.list[UsageRow]]:
        """Calls, tokens and cost from ``since`` (included) to ``until`` (excluded; default
        now), per
        currency and per each dimension in ``by`` (``run``, ``user``, ``model``, ``day`` in UTC);
        the dimensions left out are ``None``."""
        if until is not None and until <= since:
            raise InvalidInput("until: must come after since", field="until")
        chosen = set(by or [])
        return Query(
            f"""
            SELECT CASE WHEN %(by_run)s THEN u.workflow_run_id END AS run_id,
                   CASE WHEN %(by_user)s THEN u.user_id END AS user_id,
                   CASE WHEN %(by_model)s THEN u.model END AS model,
                   CASE WHEN %(by_day)s THEN (u.created_at AT TIME ZONE 'UTC')::date END AS day,
                   u.currency,
                   count(*) AS calls,
                   sum(u.input_tokens)::bigint AS input_tokens,
                   sum(u.output_tokens)::bigint AS output_tokens,
                   sum(u.cache_read_tokens)::bigint AS cache_read_tokens,
                   sum(u.cache_write_tokens)::bigint AS cache_write_tokens,
                   sum(u.cost) AS cost
            FROM llm_usage u
            WHERE u.repository_id = %(repository_id)s AND {readable()}
              AND u.created_at >= %(since)s
              AND u.created_at < coalesce(%(until)s::timestamptz, now())
            GROUP BY 1, 2, 3, 4, 5
            ORDER BY 5, 4 NULLS FIRST, 3 NULLS FIRST, 2 NULLS FIRST, 1 NULLS FIRST
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "since": since,
                "until": until,
                "by_run": "run" in chosen,
                "by_user": "user" in chosen,
                "by_model": "model" in chosen,
                "by_day": "day" in chosen,
            },
            many(UsageRow),
        )

    @write
    def set_budget(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        monthly_limit: Money,
        currency: Currency = "USD",
    ) -> Query[Budget]:
        """Set the repository's monthly LLM budget (admin); the answer is this month's state."""
        if monthly_limit <= 0:
            raise InvalidInput("monthly_limit: must be more than 0", field="monthly_limit")
        return Query(
            f"""
            WITH guard AS ({guard("admin")}),
            b AS (
                INSERT INTO llm_budgets AS b (repository_id, monthly_limit, currency)
                SELECT id, %(monthly_limit)s, %(currency)s FROM guard
                ON CONFLICT (repository_id) DO UPDATE
                    SET monthly_limit = EXCLUDED.monthly_limit, currency = EXCLUDED.currency
                RETURNING b.*
            )
            {_budget_select("b", "b.repository_id", "b.currency")}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "monthly_limit": monthly_limit,
                "currency": currency,
                "month": None,
            },
            one(Budget, "budget not set"),
        )

    @read
    def budget(
        self, repository_id: Id, *, viewer_id: Id | None = None, month: Day | None = None
    ) -> Query[Budget]:
        """How much of the monthly budget the repository spent in ``month`` (default: this
        month, in UTC); without a budget, the limit, remainder and fraction are ``None``."""
        return Query(
            f"""
            {
                _budget_select(
                    "(SELECT %(repository_id)s::bigint AS id) r "
                    "LEFT JOIN llm_budgets b ON b.repository_id = r.id",
                    "r.id",
                    "coalesce(b.currency, 'USD')",
                )
            }
            WHERE {readable("r.id")}
            """,
            {"repository_id": repository_id, "viewer_id": viewer_id, "month": month},
            one(Budget, f"repository {repository_id} not found"),
        )


def _budget_select(source: str, repository: str, currency: str) -> str:
    """A budget row from ``source`` (which has the budget as ``b``), spending summed once."""
    return f"""
        SELECT {repository} AS repository_id, m.start AS month, b.monthly_limit,
               {currency} AS currency, s.spent,
               b.monthly_limit - s.spent AS remaining,
               (s.spent / b.monthly_limit)::float8 AS fraction_spent
        FROM {source}
        CROSS JOIN (SELECT date_trunc('month', coalesce(%(month)s::date,
                                                        (now() AT TIME ZONE 'UTC')::date))::date
                           AS start) m
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(u.cost), 0) AS spent FROM llm_usage u
            WHERE u.repository_id = {repository} AND u.currency = {currency}
              AND u.created_at >= (m.start::timestamp AT TIME ZONE 'UTC')
              AND u.created_at < ((m.start + interval '1 month') AT TIME ZONE 'UTC')
        ) s"""
