"""``db.workflows``: CI and agent work: definitions, runs and steps, runners, logs, agent
sessions, tool executions and LLM usage. The root keeps the entry points by the names the
forge's callers know (``db.workflows.start_run``), each an alias of its part's operation."""

from __future__ import annotations

from ..query import Namespace, R, alias
from .agents import Agents
from .definitions import Definitions
from .logs import Logs
from .runners import Runners
from .runs import Runs
from .tools import Tools
from .usage import Usage

__all__ = ["Workflows"]


class Workflows(Namespace[R]):
    """Workflows; ``definitions``, ``runs``, ``runners``, ``logs``, ``agents``, ``tools`` and
    ``usage`` are its parts."""

    definitions: Definitions[R]
    runs: Runs[R]
    runners: Runners[R]
    logs: Logs[R]
    agents: Agents[R]
    tools: Tools[R]
    usage: Usage[R]

    save_definition = alias(Definitions.save)
    get_definition = alias(Definitions.get)
    list_definitions = alias(Definitions.list)
    set_enabled = alias(Definitions.set_enabled)

    start_run = alias(Runs.start)
    get_run = alias(Runs.get)
    list_runs = alias(Runs.list)
    cancel_run = alias(Runs.cancel)
    run_tree = alias(Runs.tree)

    register_runner = alias(Runners.register)
    heartbeat = alias(Runners.heartbeat)
    claim_step = alias(Runners.claim)
    finish_step = alias(Runners.finish)
    reap_dead_runners = alias(Runners.reap_dead)

    append_logs = alias(Logs.append)
    tail_logs = alias(Logs.tail)

    start_agent_session = alias(Agents.start)
    end_agent_session = alias(Agents.end)
    agent_lineage = alias(Agents.lineage)
    resolve_agent_session = alias(Agents.resolve)

    start_tool_execution = alias(Tools.start)
    request_tool_execution = alias(Tools.request)
    begin_tool_execution = alias(Tools.begin)
    finish_tool_execution = alias(Tools.finish)
    list_tool_executions = alias(Tools.list)

    record_llm_usage = alias(Usage.record)
    usage_report = alias(Usage.report)
