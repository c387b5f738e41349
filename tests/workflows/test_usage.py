"""db.workflows.usage: the ledger, roll-ups that match a recount, and the monthly budget."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import psycopg
import pytest

from forge_db import ForgeDB, InvalidInput, NotFound

from .conftest import World


def test_rollups_match_a_recount(fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]) -> None:
    flows = fdb.workflows
    rng = random.Random(7)
    sessions = [
        flows.start_agent_session(world.repo.id, actor_id=user.id, agent="a")
        for user in (world.owner, world.writer)
    ]
    run = flows.start_run(world.repo.id, actor_id=world.writer.id, steps=[{"name": "s"}])
    for n in range(30):
        options: dict[str, Any] = (
            {"session_id": rng.choice(sessions).id} if n % 3 else {"run_id": run.id}
        )
        flows.record_llm_usage(
            world.repo.id, actor_id=world.owner.id, provider="anthropic",
            model=rng.choice(["m-small", "m-large", "m-mid"]),
            input_tokens=rng.randint(0, 5000), output_tokens=rng.randint(0, 900),
            cache_read_tokens=rng.randint(0, 100), cost=Decimal(rng.randint(0, 10**6)) / 10**7,
            **options,
        )  # fmt: skip
    # Two calls on an earlier day, written as an import would.
    conn.execute(
        "INSERT INTO llm_usage (repository_id, workflow_run_id, provider, model, cost, created_at)"
        " VALUES (%s, %s, 'p', 'm-old', 0.25, now() - interval '3 days'),"
        " (%s, %s, 'p', 'm-old', 0.5, now() - interval '3 days')",
        (world.repo.id, run.id, world.repo.id, run.id),
    )
    rows = conn.execute(
        "SELECT workflow_run_id, user_id, model, (created_at AT TIME ZONE 'UTC')::date, currency,"
        " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost"
        " FROM llm_usage WHERE repository_id = %s",
        (world.repo.id,),
    ).fetchall()
    since = datetime.now(UTC) - timedelta(days=10)
    dims: list[Literal["run", "user", "model", "day"]] = ["run", "user", "model", "day"]
    for width in range(5):
        for chosen in itertools.combinations(dims, width):
            report = flows.usage_report(world.repo.id, since=since, by=list(chosen))
            expected: dict[tuple[Any, ...], list[Any]] = defaultdict(
                lambda: [0, 0, 0, 0, 0, Decimal(0)]
            )
            for row in rows:
                key = (*tuple(row[i] if dims[i] in chosen else None for i in range(4)), row[4])
                total = expected[key]
                total[0] += 1
                for i in range(4):
                    total[i + 1] += row[5 + i]
                total[5] += row[9]
            got = {
                (r.run_id, r.user_id, r.model, r.day, r.currency): [
                    r.calls, r.input_tokens, r.output_tokens, r.cache_read_tokens,
                    r.cache_write_tokens, r.cost,
                ]
                for r in report
            }  # fmt: skip
            assert got == dict(expected), chosen


def test_usage_is_charged_to_the_sessions_account_and_its_run(fdb: ForgeDB, world: World) -> None:
    run = fdb.workflows.start_run(world.repo.id, actor_id=world.writer.id, steps=[{"name": "s"}])
    session = fdb.workflows.start_agent_session(
        world.repo.id, actor_id=world.owner.id, agent="a", workflow_run_id=run.id
    )
    used = fdb.workflows.record_llm_usage(
        world.repo.id, actor_id=world.writer.id, provider="p", model="m", session_id=session.id,
        cost=Decimal("0.0000000001"), currency="EUR",
    )  # fmt: skip
    assert (used.user_id, used.workflow_run_id, used.cost, used.currency) == (
        world.owner.id, run.id, Decimal("0.0000000001"), "EUR"
    )  # fmt: skip


@pytest.mark.parametrize("cost", [0.1, Decimal("1e-11"), Decimal("-1"), Decimal("NaN"), True])
def test_cost_is_an_exact_amount(fdb: ForgeDB, world: World, cost: Any) -> None:
    run = fdb.workflows.start_run(world.repo.id, actor_id=world.writer.id, steps=[{"name": "s"}])
    with pytest.raises(InvalidInput) as refused:
        fdb.workflows.record_llm_usage(
            world.repo.id, actor_id=world.writer.id, provider="p", model="m", run_id=run.id,
            cost=cost,
        )  # fmt: skip
    assert refused.value.field == "cost"


def test_the_budget_check_says_how_much_of_the_month_is_spent(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    run = fdb.workflows.start_run(world.repo.id, actor_id=world.writer.id, steps=[{"name": "s"}])
    assert fdb.workflows.usage.budget(world.repo.id).monthly_limit is None
    fdb.workflows.usage.set_budget(world.repo.id, actor_id=world.owner.id, monthly_limit=Decimal(8))
    for cost in ("1.5", "0.5"):
        fdb.workflows.record_llm_usage(
            world.repo.id, actor_id=world.writer.id, provider="p", model="m", run_id=run.id,
            cost=Decimal(cost),
        )  # fmt: skip
    conn.execute(
        "INSERT INTO llm_usage (repository_id, workflow_run_id, provider, model, cost, created_at)"
        " VALUES (%s, %s, 'p', 'm', 100, now() - interval '40 days')",
        (world.repo.id, run.id),
    )
    budget = fdb.workflows.usage.budget(world.repo.id, viewer_id=world.reader.id)
    assert (budget.spent, budget.remaining, budget.fraction_spent) == (
        Decimal(2), Decimal(6), 0.25
    )  # fmt: skip
    assert budget.month == datetime.now(UTC).date().replace(day=1)
    with pytest.raises(NotFound):
        fdb.workflows.usage.budget(world.private.id, viewer_id=world.stranger.id)
