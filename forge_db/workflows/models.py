"""Models of the workflows domain: definitions, runs, steps, runners, logs, agents, usage."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AgentSession",
    "AgentSessionNode",
    "Budget",
    "Cancelled",
    "ClaimedStep",
    "Definition",
    "FinishedStep",
    "Heartbeat",
    "LogAppended",
    "LogLine",
    "LogTail",
    "Reaped",
    "RegisteredRunner",
    "Run",
    "RunNode",
    "RunState",
    "RunSummary",
    "Runner",
    "SessionState",
    "StartedRun",
    "Step",
    "StepState",
    "ToolExecution",
    "ToolStatus",
    "Usage",
    "UsageRow",
]

RunState = Literal["queued", "running", "succeeded", "failed", "cancelled", "timed_out"]
StepState = Literal["pending", "running", "succeeded", "failed", "skipped", "cancelled"]
SessionState = Literal["active", "completed", "failed", "cancelled"]
ToolStatus = Literal["pending", "running", "succeeded", "failed", "cancelled", "timed_out"]
RunnerState = Literal["idle", "busy", "draining", "offline"]
LogLevel = Literal["debug", "info", "warning", "error"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Definition(_Frozen):
    """A saved workflow definition: where it came from and what it says."""

    id: int
    repository_id: int
    name: str
    path: str
    source_commit_id: str | None
    definition: dict[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class Step(_Frozen):
    """A step of a run, with its claim while it runs."""

    id: UUID
    run_id: UUID
    position: int
    name: str
    state: StepState
    depends_on: list[int]
    labels: list[str]
    attempts: int
    max_attempts: int
    next_attempt_at: datetime
    runner_id: UUID | None
    claimed_by: str | None
    exit_code: int | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class RunSummary(_Frozen):
    """A run of a workflow or an ad-hoc task, as a list shows it."""

    id: UUID
    repository_id: int
    definition_id: int | None
    parent_run_id: UUID | None
    triggered_by_id: int | None
    trigger: str
    state: RunState
    idempotency_key: str | None
    inputs: dict[str, Any]
    commit_id: str | None
    error: str | None
    steps_total: int
    steps_succeeded: int
    deadline_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime


class Run(RunSummary):
    """A run with its steps in position order."""

    steps: list[Step]


class StartedRun(RunSummary):
    """What starting a run gave: the run, and whether this call created it (``False``: the
    idempotency key named a run started before, which is returned unchanged)."""

    created: bool


class RunNode(_Frozen):
    """A run in a tree: ``depth`` below (positive) or above (negative) the run asked about."""

    id: UUID
    repository_id: int
    parent_run_id: UUID | None
    state: RunState
    trigger: str
    depth: int
    created_at: datetime


class Cancelled(_Frozen):
    """What a cancellation reached: runs (the run and its descendants) and their steps."""

    runs: int
    steps: int


class Runner(_Frozen):
    """A registered runner."""

    id: UUID
    repository_id: int | None
    name: str
    labels: list[str]
    state: RunnerState
    capacity: int
    hostname: str | None
    version: str | None
    last_heartbeat_at: datetime | None
    created_at: datetime


class RegisteredRunner(_Frozen):
    """A runner just registered, and its token: shown once, only its digest is stored."""

    runner: Runner
    token: str


class Heartbeat(_Frozen):
    """A runner's renewed liveness: the steps it still holds, their leases extended."""

    runner_id: UUID
    state: RunnerState
    held: list[UUID]
    lease_expires_at: datetime | None


class ClaimedStep(_Frozen):
    """A step a runner took: what to run, the attempt, and the claim to present later."""

    id: UUID
    run_id: UUID
    repository_id: int
    position: int
    name: str
    attempt: int
    max_attempts: int
    spec: dict[str, Any]
    labels: list[str]
    timeout_seconds: int
    commit_id: str | None
    inputs: dict[str, Any]
    started_at: datetime
    fencing_token: int
    claimed_by: str
    lease_expires_at: datetime


class FinishedStep(_Frozen):
    """A step a runner finished: its new state (``pending`` again for a retry) and its run's."""

    id: UUID
    run_id: UUID
    state: StepState
    attempts: int
    next_attempt_at: datetime
    run_state: RunState


class Reaped(_Frozen):
    """What reaping found: runners marked offline, steps given back, steps failed for good."""

    runners: int
    requeued: int
    failed: int


class LogLine(_Frozen):
    """One log line of a run (and of one of its steps)."""

    line: int
    step_id: UUID | None
    level: LogLevel
    message: str
    created_at: datetime


class LogAppended(_Frozen):
    """The numbers the appended lines took: ``first_line`` to ``last_line``."""

    first_line: int
    last_line: int


class LogTail(_Frozen):
    """Lines after a position, and the position to ask after next time (even when empty)."""

    lines: list[LogLine]
    next_line: int


class AgentSession(_Frozen):
    """An agent's working session; ``short_id`` is the shortest prefix (8+) that names it."""

    id: UUID
    short_id: str
    repository_id: int
    user_id: int | None
    workflow_run_id: UUID | None
    parent_session_id: UUID | None
    workspace_id: UUID | None
    agent: str
    model: str | None
    state: SessionState
    goal: str
    summary: str | None
    ended_at: datetime | None
    created_at: datetime


class AgentSessionNode(_Frozen):
    """A session in a lineage: ``depth`` below (positive) or above (negative) the one asked."""

    id: UUID
    parent_session_id: UUID | None
    agent: str
    state: SessionState
    depth: int
    created_at: datetime


class ToolExecution(_Frozen):
    """One tool call of a session: arguments, output, status, duration measured by the server."""

    id: UUID
    repository_id: int
    agent_session_id: UUID
    tool: str
    arguments: dict[str, Any]
    output: Any
    status: ToolStatus
    exit_code: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime | None
    duration_ms: int | None


class Usage(_Frozen):
    """One recorded LLM call."""

    id: UUID
    repository_id: int
    agent_session_id: UUID | None
    workflow_run_id: UUID | None
    user_id: int | None
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: Decimal
    currency: str
    request_id: str | None
    created_at: datetime


class UsageRow(_Frozen):
    """A roll-up of LLM usage; the dimensions not grouped by are ``None``."""

    run_id: UUID | None
    user_id: int | None
    model: str | None
    day: date | None
    currency: str
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost: Decimal


class Budget(_Frozen):
    """A repository's monthly budget and what this month has spent of it."""

    repository_id: int
    month: date
    monthly_limit: Decimal | None
    currency: str
    spent: Decimal
    remaining: Decimal | None
    fraction_spent: float | None
