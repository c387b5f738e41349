"""The workflow definition file, as pydantic validates it before it is stored.

A definition names its triggers, default runner labels, a timeout and its steps; a step names
the steps it ``needs`` (earlier steps, so the graph is acyclic by construction), its labels,
limits and retry policy. :meth:`WorkflowDefinition.stored` adds each step's plan (position,
dependency positions, labels) so that starting a run reads it in SQL without resolving names.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = ["StepDefinition", "Trigger", "WorkflowDefinition", "plan_steps"]

Trigger = Literal["manual", "push", "schedule", "landing", "issue", "agent", "api"]
_Name = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
]
_Label = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
_EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
_EnvValue = Annotated[str, StringConstraints(max_length=4096, pattern=r"^[^\x00]*$")]


def _manual() -> list[Trigger]:
    return ["manual"]


class StepDefinition(BaseModel):
    """One step of a definition file."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: _Name
    needs: list[_Name] = Field(default_factory=list, max_length=256)
    runs_on: list[_Label] = Field(default_factory=list, max_length=50)
    run: Annotated[str, StringConstraints(max_length=32768, pattern=r"^[^\x00]*$")] = ""
    env: dict[_EnvName, _EnvValue] = Field(default_factory=dict, max_length=64)
    timeout_seconds: int = Field(default=3600, ge=1, le=604_800)
    max_attempts: int = Field(default=1, ge=1, le=100)
    retry_delay_seconds: float = Field(default=1.0, gt=0, le=86_400)
    retry_max_delay_seconds: float = Field(default=300.0, gt=0, le=86_400)

    @model_validator(mode="after")
    def _delays_in_order(self) -> StepDefinition:
        if self.retry_max_delay_seconds < self.retry_delay_seconds:
            raise ValueError("retry_max_delay_seconds must be at least retry_delay_seconds")
        return self


class WorkflowDefinition(BaseModel):
    """A parsed definition file: triggers, default labels, run timeout, steps."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    name: _Name
    on: list[Trigger] = Field(default_factory=_manual, min_length=1, max_length=7)
    runs_on: list[_Label] = Field(default_factory=list, max_length=50)
    timeout_seconds: int = Field(default=21_600, ge=1, le=604_800)
    steps: list[StepDefinition] = Field(min_length=1, max_length=256)

    @model_validator(mode="after")
    def _steps_form_a_graph(self) -> WorkflowDefinition:
        plan_steps(self.steps, self.runs_on)
        return self

    def stored(self) -> dict[str, Any]:
        """The definition as stored: as given, each step with its plan beside it."""
        stored = self.model_dump(mode="json")
        stored["steps"] = plan_steps(self.steps, self.runs_on)
        return stored


def plan_steps(steps: list[StepDefinition], default_labels: list[str]) -> list[dict[str, Any]]:
    """Each step as a run's step row: its position, dependency positions, labels and limits.

    Raises ``ValueError`` for a repeated name or a ``needs`` that names no earlier step.
    """
    positions: dict[str, int] = {}
    planned = []
    for position, step in enumerate(steps):
        key = step.name.lower()
        if key in positions:
            raise ValueError(f"steps.{position}.name: {step.name!r} names two steps")
        missing = [n for n in step.needs if n.lower() not in positions]
        if missing:
            raise ValueError(f"steps.{position}.needs: {missing[0]!r} is not an earlier step")
        positions[key] = position
        labels = sorted(set(step.runs_on or default_labels))
        planned.append(
            {
                **step.model_dump(mode="json"),
                "position": position,
                "depends_on": sorted({positions[n.lower()] for n in step.needs}),
                "labels": labels,
                "spec": {"run": step.run, "env": step.env},
            }
        )
    return planned
