"""Workflows (``db.workflows``) and their parts: ``definitions``, ``runs``, ``runners``,
``logs``, ``agents``, ``tools`` and ``usage``; :mod:`.wakeup` lets idle runners sleep until
work arrives."""

from .agents import Agents
from .definition import StepDefinition, WorkflowDefinition
from .definitions import Definitions
from .logs import Logs
from .models import (
    AgentSession,
    AgentSessionNode,
    Budget,
    Cancelled,
    ClaimedStep,
    Definition,
    FinishedStep,
    Heartbeat,
    LogAppended,
    LogLine,
    LogTail,
    Reaped,
    RegisteredRunner,
    Run,
    Runner,
    RunNode,
    RunState,
    RunSummary,
    SessionState,
    StartedRun,
    Step,
    StepState,
    ToolExecution,
    ToolStatus,
    UsageRow,
)
from .models import Usage as UsageRecord
from .runners import Runners
from .runs import Runs
from .tools import Tools
from .usage import Usage
from .workflows import Workflows

__all__ = [
    "AgentSession",
    "AgentSessionNode",
    "Agents",
    "Budget",
    "Cancelled",
    "ClaimedStep",
    "Definition",
    "Definitions",
    "FinishedStep",
    "Heartbeat",
    "LogAppended",
    "LogLine",
    "LogTail",
    "Logs",
    "Reaped",
    "RegisteredRunner",
    "Run",
    "RunNode",
    "RunState",
    "RunSummary",
    "Runner",
    "Runners",
    "Runs",
    "SessionState",
    "StartedRun",
    "Step",
    "StepDefinition",
    "StepState",
    "ToolExecution",
    "ToolStatus",
    "Tools",
    "Usage",
    "UsageRecord",
    "UsageRow",
    "WorkflowDefinition",
    "Workflows",
]
