"""The input vocabulary of workflows: ids, labels, JSON objects, money, definitions, step lists.

Each rule is a :class:`forge_db.inputs.Rule` with a ``sample``, like the shared vocabulary, so
that the operations' signatures say what they take and the contract tests can call them.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final

from pydantic import ValidationError

from ..inputs import Bounded, ListOf, Refused, Rule, Text
from .definition import StepDefinition, WorkflowDefinition, plan_steps

__all__ = [
    "AgentName",
    "Currency",
    "Definition",
    "JsonObject",
    "JsonValue",
    "LabelList",
    "LogLines",
    "ModelName",
    "Money",
    "ProviderName",
    "ShortId",
    "StepList",
    "TokenCount",
    "TokenList",
    "ToolName",
    "Uuid",
    "UuidList",
    "WorkflowPath",
]

LABEL_PATTERN: Final = r"[A-Za-z0-9._:-]{1,64}"


class _Uuid(Rule):
    sample = uuid.UUID(int=1)

    def check(self, value: Any) -> uuid.UUID:
        if type(value) is uuid.UUID:
            return value
        if type(value) is str and len(value) <= 36:
            try:
                return uuid.UUID(value)
            except ValueError:
                pass
        raise Refused("must be a UUID")


class _JsonObject(Rule):
    """A JSON object (a ``dict`` of JSON values) of at most ``max_bytes`` as UTF-8 JSON."""

    sample: dict[str, Any] = {}

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def check(self, value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise Refused("must be a JSON object (a dict)")
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
            size = len(text.encode("utf-8"))
        except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
            raise Refused("must hold only JSON values (text, numbers, lists, objects)") from None
        if "\\u0000" in text or "\x00" in text:
            raise Refused("must not contain NUL characters")
        if size > self.max_bytes:
            raise Refused(f"is larger than {self.max_bytes} bytes as JSON")
        return value


class _JsonValue(_JsonObject):
    """Any JSON value (text, number, list, object...) of at most ``max_bytes``."""

    sample: Any = {"ok": True}

    def check(self, value: Any) -> Any:
        return super().check({"": value})[""]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


class _Definition(Rule):
    sample: dict[str, Any] = {"name": "ci", "steps": [{"name": "build", "run": "make"}]}

    def check(self, value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise Refused("must be the parsed definition file (a dict)")
        try:
            return WorkflowDefinition.model_validate(value).stored()
        except ValidationError as exc:
            raise Refused(_first_error(exc)) from None
        except (TypeError, ValueError, RecursionError):
            raise Refused("is not a workflow definition") from None


class _StepList(Rule):
    sample: list[dict[str, Any]] = [{"name": "task"}]

    def check(self, value: Any) -> list[dict[str, Any]]:
        if type(value) is not list or not value:
            raise Refused("must be a non-empty list of steps")
        if len(value) > 256:
            raise Refused("holds more than 256 steps")
        try:
            steps = [StepDefinition.model_validate(step) for step in value]
            return plan_steps(steps, [])
        except ValidationError as exc:
            raise Refused(_first_error(exc)) from None
        except (TypeError, ValueError, RecursionError) as exc:
            raise Refused(str(exc) if isinstance(exc, ValueError) else "are not steps") from None


class _Sequence(Rule):
    """A list of 1 to ``limit`` values of ``item``, in order, repeats kept (unlike ``ListOf``)."""

    def __init__(self, item: Rule, limit: int) -> None:
        self.item, self.limit = item, limit
        self.sample = [item.sample]

    def check(self, value: Any) -> list[Any]:
        if type(value) not in (list, tuple):
            raise Refused("must be a list")
        if not 1 <= len(value) <= self.limit:
            raise Refused(f"must hold 1 to {self.limit} values")
        checked = []
        for index, element in enumerate(value):
            try:
                checked.append(self.item.check(element))
            except Refused as exc:
                raise Refused(exc.message, f"[{index}]{exc.where}") from None
        return checked


class _Money(Rule):
    """An exact non-negative amount: ``Decimal`` or ``int`` (never a float), 10 decimals."""

    sample = Decimal("0.0125")

    def check(self, value: Any) -> Decimal:
        if type(value) is int and not isinstance(value, bool):
            value = Decimal(value)
        if type(value) is not Decimal or not value.is_finite():
            raise Refused("must be an exact amount (Decimal or int, not a float)")
        try:
            exact = value.quantize(Decimal("1e-10"))
        except InvalidOperation:
            raise Refused("is too large") from None
        if exact != value:
            raise Refused("has more than 10 decimal places")
        if not Decimal(0) <= value < Decimal("1e10"):
            raise Refused("must be from 0 to below 10,000,000,000")
        return value


Uuid = Annotated[uuid.UUID, _Uuid()]
"""A UUID (runs, steps, sessions, runners...), or its text."""
UuidList = Annotated[list[uuid.UUID], ListOf(_Uuid(), 1000, at_least=1, repeats=False)]
"""1 to 1000 distinct UUIDs."""
TokenList = Annotated[list[int], _Sequence(Bounded(1, 2**63 - 1), 1000)]
"""Fencing tokens, one per step of the list beside it."""
LabelList = Annotated[
    list[str],
    ListOf(
        Text(64, min_length=1, pattern=LABEL_PATTERN, explain="letters, digits, . _ : -"),
        50,
    ),
]
"""Up to 50 runner labels (``linux``, ``gpu``, ``arch:arm64``)."""
JsonObject = Annotated[dict[str, Any], _JsonObject(1_048_576)]
"""A JSON object of at most 1 MiB."""
JsonValue = Annotated[Any, _JsonValue(1_048_576)]
"""Any JSON value of at most 1 MiB."""
Definition = Annotated[dict[str, Any], _Definition()]
"""A parsed workflow definition file (see :class:`WorkflowDefinition`)."""
StepList = Annotated[list[dict[str, Any]], _StepList()]
"""Ad-hoc steps of a run, each as a definition file's step."""
Money = Annotated[Decimal, _Money()]
"""An exact amount of money."""
Currency = Annotated[
    str, Text(3, pattern=r"[A-Z]{3}", explain="must be an ISO 4217 code", sample="USD")
]
"""An ISO 4217 currency code."""
TokenCount = Annotated[int, Bounded(0, 2**62)]
"""A number of LLM tokens."""
ProviderName = Annotated[str, Text(100, min_length=1, controls=False, sample="anthropic")]
"""An LLM provider."""
ModelName = Annotated[str, Text(200, min_length=1, controls=False, sample="claude")]
"""An LLM model name."""
AgentName = Annotated[str, Text(100, min_length=1, controls=False, sample="coder")]
"""Which agent runs a session."""
ToolName = Annotated[
    str,
    Text(200, min_length=1, pattern=r"[^\s\x00-\x1f\x7f]+", explain="no spaces", sample="shell"),
]
"""A tool's name (``shell``, ``edit_file``, ``mcp:search``)."""
WorkflowPath = Annotated[str, Text(1024, min_length=1, controls=False, sample=".forge/ci.yml")]
"""Where a definition file lives in the repository."""
ShortId = Annotated[
    str,
    Text(
        36,
        min_length=4,
        pattern=r"[0-9a-fA-F-]+",
        explain="must be hex digits of a session id",
        sample="0190abcd",
    ),
]
"""A prefix of a session id's hex digits (dashes ignored)."""
LogLines = Annotated[list[str], _Sequence(Text(65536, sample="line"), 10_000)]
"""1 to 10,000 log lines of at most 64 KiB each."""
