"""The workflows domain's part of the privacy matrix (test_privacy.py): its world and calls.

The private repository gets a definition, a run with a claimed step and logs, a runner, an agent
session with a child, a tool execution, LLM usage and a budget, each with "secret" in its text;
the stranger's public repository gets a run and a session of its own, none of them secret.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from forge_db import ForgeDB

W = dict[str, Any]
_SINCE = datetime(2000, 1, 1, tzinfo=UTC)


def populate(db: ForgeDB, w: W) -> None:
    """Add the workflows domain's rows to the privacy world ``w``."""
    flows = db.workflows
    private, public, owner, stranger = w["private"], w["public"], w["owner"], w["stranger"]
    definition = flows.definitions.save(
        private.id,
        actor_id=owner.id,
        path=".forge/secret.yml",
        definition={"name": "secret-ci", "steps": [{"name": "secret-build", "run": "secret"}]},
    )
    run = flows.runs.start(
        private.id,
        actor_id=owner.id,
        steps=[{"name": "secret-step"}, {"name": "secret-later", "needs": ["secret-step"]}],
        inputs={"secret": "value"},
        idempotency_key="secret-key",
    )
    child = flows.runs.start(
        private.id, actor_id=owner.id, steps=[{"name": "secret-child"}], parent_run_id=run.id
    )
    runner = flows.runners.register(name=f"privacy-{private.id}")
    claimed = flows.runners.claim(runner.runner.id, runner_token=runner.token)
    assert claimed is not None
    assert claimed.run_id == run.id
    flows.logs.append(
        run.id, runner_id=runner.runner.id, runner_token=runner.token, lines=["secret log"]
    )
    session = flows.agents.start(private.id, actor_id=owner.id, agent="secret-agent", goal="secret")
    flows.agents.start(
        private.id, actor_id=owner.id, agent="secret-sub", parent_session_id=session.id
    )
    execution = flows.tools.start(
        private.id, session.id, actor_id=owner.id, tool="secret-tool", arguments={"q": "secret"}
    )
    pending = flows.tools.request(
        private.id, session.id, actor_id=owner.id, tool="secret-pending", arguments={"q": "secret"}
    )
    flows.usage.record(
        private.id, actor_id=owner.id, provider="secret-provider", model="secret-model",
        session_id=session.id, cost=Decimal("1.25"),
    )  # fmt: skip
    flows.usage.set_budget(private.id, actor_id=owner.id, monthly_limit=Decimal(100))
    public_run = flows.runs.start(public.id, actor_id=stranger.id, steps=[{"name": "open-step"}])
    public_session = flows.agents.start(public.id, actor_id=stranger.id, agent="open-agent")
    w.update(
        definition=definition,
        run=run,
        child_run=child,
        runner=runner,
        claimed=claimed,
        session=session,
        execution=execution,
        pending=pending,
        public_run=public_run,
        public_session=public_session,
    )


def _budget_shown(result: Any) -> bool:
    return bool(result.monthly_limit == Decimal(100))


Call = Callable[[ForgeDB, W, int | None, Any], Any]

# path -> (call, what a reader of the private repository must see, or None for "secret")
READS: dict[str, tuple[Call, Callable[[Any], bool] | None]] = {
    "db.workflows.definitions.get": (
        lambda db, w, v, r: db.workflows.definitions.get(r.id, w["definition"].id, viewer_id=v),
        None,
    ),
    "db.workflows.definitions.list": (
        lambda db, w, v, r: db.workflows.definitions.list(r.id, viewer_id=v).items,
        None,
    ),
    "db.workflows.runs.get": (
        lambda db, w, v, r: db.workflows.runs.get(r.id, w["run"].id, viewer_id=v),
        None,
    ),
    "db.workflows.runs.list": (
        lambda db, w, v, r: db.workflows.runs.list(r.id, viewer_id=v).items,
        None,
    ),
    "db.workflows.runs.tree": (
        lambda db, w, v, r: [
            db.workflows.runs.get(r.id, node.id, viewer_id=v)
            for node in db.workflows.runs.tree(r.id, w["run"].id, viewer_id=v)
        ],
        None,
    ),
    "db.workflows.logs.tail": (
        lambda db, w, v, r: db.workflows.logs.tail(r.id, w["run"].id, viewer_id=v),
        None,
    ),
    "db.workflows.agents.get": (
        lambda db, w, v, r: db.workflows.agents.get(r.id, w["session"].id, viewer_id=v),
        None,
    ),
    "db.workflows.agents.list": (
        lambda db, w, v, r: db.workflows.agents.list(r.id, viewer_id=v).items,
        None,
    ),
    "db.workflows.agents.resolve": (
        lambda db, w, v, r: db.workflows.agents.resolve(r.id, str(w["session"].id), viewer_id=v),
        None,
    ),
    "db.workflows.agents.lineage": (
        lambda db, w, v, r: [
            db.workflows.agents.get(r.id, node.id, viewer_id=v)
            for node in db.workflows.agents.lineage(r.id, w["session"].id, viewer_id=v)
        ],
        None,
    ),
    "db.workflows.tools.list": (
        lambda db, w, v, r: db.workflows.tools.list(r.id, w["session"].id, viewer_id=v).items,
        None,
    ),
    "db.workflows.usage.report": (
        lambda db, w, v, r: db.workflows.usage.report(
            r.id,
            since=_SINCE,
            until=datetime.now(UTC) + timedelta(days=1),
            viewer_id=v,
            by=["model"],
        ),
        None,
    ),
    "db.workflows.usage.budget": (
        lambda db, w, v, r: db.workflows.usage.budget(r.id, viewer_id=v),
        _budget_shown,
    ),
}

Write = Callable[[ForgeDB, W, int, Any], Any]

# path -> (least role, call, whether a child id is involved)
WRITES: dict[str, tuple[str, Write, bool]] = {
    "db.workflows.definitions.save": (
        "write",
        lambda db, w, a, r: db.workflows.definitions.save(
            r.id, actor_id=a, path="x.yml", definition={"name": "x", "steps": [{"name": "s"}]}
        ),
        False,
    ),
    "db.workflows.definitions.set_enabled": (
        "write",
        lambda db, w, a, r: db.workflows.definitions.set_enabled(
            r.id, w["definition"].id, actor_id=a, enabled=False
        ),
        True,
    ),
    "db.workflows.runs.start": (
        "write",
        lambda db, w, a, r: db.workflows.runs.start(r.id, actor_id=a, steps=[{"name": "s"}]),
        False,
    ),
    "db.workflows.runs.cancel": (
        "write",
        lambda db, w, a, r: db.workflows.runs.cancel(r.id, w["run"].id, actor_id=a),
        True,
    ),
    "db.workflows.runners.register": (
        "admin",
        lambda db, w, a, r: db.workflows.runners.register(
            name=f"dedicated-{r.id}", repository_id=r.id, actor_id=a
        ),
        False,
    ),
    "db.workflows.agents.start": (
        "write",
        lambda db, w, a, r: db.workflows.agents.start(r.id, actor_id=a, agent="x"),
        False,
    ),
    "db.workflows.agents.end": (
        "write",
        lambda db, w, a, r: db.workflows.agents.end(
            r.id, w["session"].id, actor_id=a, state="completed"
        ),
        True,
    ),
    "db.workflows.tools.start": (
        "write",
        lambda db, w, a, r: db.workflows.tools.start(r.id, w["session"].id, actor_id=a, tool="x"),
        True,
    ),
    "db.workflows.tools.request": (
        "write",
        lambda db, w, a, r: db.workflows.tools.request(r.id, w["session"].id, actor_id=a, tool="x"),
        True,
    ),
    "db.workflows.tools.begin": (
        "write",
        lambda db, w, a, r: db.workflows.tools.begin(r.id, w["pending"].id, actor_id=a),
        True,
    ),
    "db.workflows.tools.finish": (
        "write",
        lambda db, w, a, r: db.workflows.tools.finish(
            r.id, w["execution"].id, actor_id=a, status="succeeded"
        ),
        True,
    ),
    "db.workflows.usage.record": (
        "write",
        lambda db, w, a, r: db.workflows.usage.record(
            r.id, actor_id=a, provider="p", model="m", session_id=w["session"].id
        ),
        True,
    ),
    "db.workflows.usage.set_budget": (
        "admin",
        lambda db, w, a, r: db.workflows.usage.set_budget(
            r.id, actor_id=a, monthly_limit=Decimal(5)
        ),
        False,
    ),
}

# Runners are machines authenticated by their own token, not accounts (tests/workflows/
# test_runners.py and test_logs.py check them); the rest are operators' periodic jobs.
ADMINISTRATIVE = {
    "db.workflows.runners.heartbeat",
    "db.workflows.runners.drain",
    "db.workflows.runners.claim",
    "db.workflows.runners.claim_many",
    "db.workflows.runners.finish",
    "db.workflows.runners.finish_many",
    "db.workflows.runners.reap_dead",
    "db.workflows.runners.list",
    "db.workflows.runs.time_out",
    "db.workflows.logs.append",
    "db.workflows.logs.purge",
    "db.workflows.tools.time_out",
}

TABLES = (
    "workflow_definitions", "workflow_runs", "workflow_steps", "workflow_logs", "agent_sessions",
    "tool_executions", "llm_usage", "llm_budgets",
)  # fmt: skip
