"""db.coordination.config: typed values, global or per repository, and secrets kept out of
get, list, repr and error texts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB, ForgeDBError, InvalidInput

SECRET = "hunter2-very-secret-token"


def test_values_are_typed_by_inference_or_declaration(fdb: ForgeDB) -> None:
    config = fdb.coordination.config
    cases: list[tuple[str, Any, str | None, str, Any]] = [
        ("a.string", "x", None, "string", "x"),
        ("a.integer", 3, None, "integer", 3),
        ("a.number", 0.5, None, "number", 0.5),
        ("a.boolean", False, None, "boolean", False),
        ("a.json", {"k": [1, 2]}, None, "json", {"k": [1, 2]}),
        ("a.duration", timedelta(minutes=2), None, "duration", 120),
        ("a.seconds", 30, "duration", "duration", 30),
        ("a.float", 2, "number", "number", 2),
    ]
    for key, value, declared, kind, stored in cases:
        setting = config.set(key, value, value_type=declared)  # type: ignore[arg-type]
        assert (setting.value_type, setting.value) == (kind, stored), key
        got = config.get(key)
        assert got is not None
        assert got.value == stored


@pytest.mark.parametrize(
    ("value", "value_type"),
    [
        ("3", "integer"),
        (1.5, "integer"),
        (True, "integer"),
        (1, "boolean"),
        ("x", "number"),
        (-1, "duration"),
        (3, "string"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_by_name(
    fdb: ForgeDB, value: Any, value_type: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.coordination.config.set("a.b", value, value_type=value_type)  # type: ignore[arg-type]
    assert refused.value.field == "value"
    assert fdb.coordination.config.get("a.b") is None


def test_a_repository_value_overrides_the_global_one(fdb: ForgeDB) -> None:
    config = fdb.coordination.config
    repo = make_repository(fdb, make_user(fdb))
    config.set("landing.max_attempts", 3)
    config.set("landing.max_attempts", 5, repository_id=repo.id)
    config.set("landing.batch", 10)
    own = config.get("landing.max_attempts", repository_id=repo.id)
    assert own is not None
    assert (own.value, own.repository_id) == (5, repo.id)
    other = config.get("landing.max_attempts")
    assert other is not None
    assert other.value == 3
    listed = config.list(repository_id=repo.id, prefix="landing.")
    assert [(s.key, s.value) for s in listed] == [
        ("landing.batch", 10),
        ("landing.max_attempts", 5),
    ]
    assert config.delete("landing.max_attempts", repository_id=repo.id) is True
    back = config.get("landing.max_attempts", repository_id=repo.id)
    assert back is not None
    assert back.value == 3


def test_a_secret_is_absent_from_get_list_and_repr(fdb: ForgeDB) -> None:
    config = fdb.coordination.config
    stored = config.set("ci.token", SECRET, secret=True, description="CI token")
    got = config.get("ci.token")
    listed = config.list()
    revealed = config.get_secret("ci.token")
    assert got is not None
    assert revealed is not None
    for shown in (stored, got, *listed):
        assert shown.secret is True
        assert shown.value is None
        assert SECRET not in repr(shown) + shown.model_dump_json()
    assert revealed.value == SECRET
    assert SECRET not in repr(revealed) + str(revealed) + revealed.model_dump_json()
    assert config.get_secret("ci.missing") is None


def test_a_secret_is_absent_from_error_texts(fdb: ForgeDB) -> None:
    config = fdb.coordination.config
    texts: list[str] = []
    attempts: list[Callable[[], object]] = [
        lambda: config.set("ci.token", SECRET, value_type="integer", secret=True),
        lambda: config.set("Bad Key", SECRET, secret=True),
        lambda: config.set("ci.token", [SECRET, float("nan")], secret=True),
        lambda: config.set("ci.token", {SECRET: object()}, secret=True),
    ]
    for attempt in attempts:
        with pytest.raises(ForgeDBError) as refused:
            attempt()
        texts.append(f"{refused.value!s} {refused.value!r}")
    assert all(SECRET not in text for text in texts), texts


def test_get_secret_does_not_read_a_setting_that_is_not_secret(fdb: ForgeDB) -> None:
    fdb.coordination.config.set("public.name", "forge")
    assert fdb.coordination.config.get_secret("public.name") is None
