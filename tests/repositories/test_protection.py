"""db.repositories.protection: landing rules for the bookmarks a glob pattern matches."""

from __future__ import annotations

from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB, InvalidInput
from forge_db.repositories import Protection, Repository
from forge_db.users import User

from .conftest import ReadCase, ReadMatrix, WriteCase, WriteMatrix, classified

WRITES = {
    "set": WriteCase(
        "admin",
        lambda db, w, repo, actor: db.repositories.protection.set(
            repo, actor_id=actor, pattern="release/*", required_approvals=2
        ),
    ),
    "delete": WriteCase(
        "admin",
        lambda db, w, repo, actor: db.repositories.protection.delete(
            repo, actor_id=actor, pattern="main"
        ),
    ),
}
READS = {
    "list": ReadCase(
        lambda db, repo, viewer: [
            (r.pattern, r.required_approvals)
            for r in db.repositories.protection.list(repo, viewer_id=viewer)
        ],
        expected=lambda w: [("main", 1)],
        hidden=[],
        empty=[],
    ),
    "for_bookmark": ReadCase(
        lambda db, repo, viewer: [
            r.pattern
            for r in db.repositories.protection.for_bookmark(repo, "main", viewer_id=viewer)
        ],
        expected=lambda w: ["main"],
        hidden=[],
        empty=[],
    ),
}


def test_every_protection_operation_is_in_the_access_matrix() -> None:
    assert classified(Protection) == set(WRITES) | set(READS)


class TestWrites(WriteMatrix):
    writes = WRITES


class TestReads(ReadMatrix):
    reads = READS


Owned = tuple[User, Repository]


@pytest.fixture
def owned(fdb: ForgeDB) -> Owned:
    """A public repository and its owner."""
    owner = make_user(fdb)
    return owner, make_repository(fdb, owner)


def _patterns(db: ForgeDB, repo: Repository, name: str) -> list[str]:
    return [r.pattern for r in db.repositories.protection.for_bookmark(repo.id, name)]


def test_set_creates_a_rule_with_defaults(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    rule = fdb.repositories.protection.set(repo.id, actor_id=owner.id, pattern="main")
    assert (rule.repository_id, rule.pattern) == (repo.id, "main")
    assert (rule.required_approvals, rule.required_status_contexts) == (0, [])
    assert rule.land_min_role == "write"
    assert fdb.repositories.protection.list(repo.id) == [rule]


def test_set_stores_every_setting_given(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    rule = fdb.repositories.protection.set(
        repo.id,
        actor_id=owner.id,
        pattern="main",
        required_approvals=2,
        required_status_contexts=["ci", "lint"],
        land_min_role="admin",
    )
    assert (rule.required_approvals, rule.required_status_contexts) == (2, ["ci", "lint"])
    assert rule.land_min_role == "admin"
    assert fdb.repositories.protection.list(repo.id) == [rule]


def test_set_again_replaces_the_rule_of_the_pattern(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    first = fdb.repositories.protection.set(
        repo.id,
        actor_id=owner.id,
        pattern="main",
        required_approvals=2,
        required_status_contexts=["ci"],
        land_min_role="admin",
    )
    replaced = fdb.repositories.protection.set(
        repo.id, actor_id=owner.id, pattern="main", required_approvals=1
    )
    assert replaced.id == first.id
    assert (replaced.required_approvals, replaced.required_status_contexts) == (1, [])
    assert replaced.land_min_role == "write"
    assert fdb.repositories.protection.list(repo.id) == [replaced]


def test_a_repeated_status_context_is_stored_once(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    rule = fdb.repositories.protection.set(
        repo.id, actor_id=owner.id, pattern="main", required_status_contexts=["ci", "lint", "ci"]
    )
    assert rule.required_status_contexts == ["ci", "lint"]


def test_status_contexts_given_as_a_string_are_invalid_input(fdb: ForgeDB, owned: Owned) -> None:
    """Not ``['c', 'i']`` (issue 15, silent coercions)."""
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.protection.set(
            repo.id,
            actor_id=owner.id,
            pattern="main",
            required_status_contexts="ci",  # type: ignore[arg-type]
        )
    assert info.value.field == "required_status_contexts"
    assert fdb.repositories.protection.list(repo.id) == []


@pytest.mark.parametrize("contexts", [[""], ["a\nb"], [1], ["x" * 256], ["c"] * 51, {"ci": 1}])
def test_bad_status_contexts_are_invalid_input(fdb: ForgeDB, owned: Owned, contexts: Any) -> None:
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.protection.set(
            repo.id, actor_id=owner.id, pattern="main", required_status_contexts=contexts
        )
    assert info.value.field == "required_status_contexts"
    assert fdb.repositories.protection.list(repo.id) == []


@pytest.mark.parametrize("approvals", [True, False, -1, 101, 1.0, "1", None])
def test_required_approvals_is_an_integer_from_0_to_100(
    fdb: ForgeDB, owned: Owned, approvals: Any
) -> None:
    """``True`` is not 1 (issue 15, silent coercions)."""
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.protection.set(
            repo.id, actor_id=owner.id, pattern="main", required_approvals=approvals
        )
    assert info.value.field == "required_approvals"
    assert fdb.repositories.protection.list(repo.id) == []


@pytest.mark.parametrize("role", ["read", "none", "Admin", ""])
def test_land_min_role_is_write_or_admin(fdb: ForgeDB, owned: Owned, role: Any) -> None:
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.protection.set(
            repo.id, actor_id=owner.id, pattern="main", land_min_role=role
        )
    assert info.value.field == "land_min_role"


@pytest.mark.parametrize("pattern", ["", "x" * 256, None, ["main"]])
def test_a_pattern_is_non_empty_text(fdb: ForgeDB, owned: Owned, pattern: Any) -> None:
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.protection.set(repo.id, actor_id=owner.id, pattern=pattern)
    assert info.value.field == "pattern"


def test_rules_apply_to_bookmarks_by_glob(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    for pattern in ["main", "release/*", "**"]:
        fdb.repositories.protection.set(repo.id, actor_id=owner.id, pattern=pattern)
    assert _patterns(fdb, repo, "main") == ["**", "main"]
    assert _patterns(fdb, repo, "release/1.0") == ["**", "release/*"]
    assert _patterns(fdb, repo, "release/1.0/hotfix") == ["**"]


def test_a_single_star_and_a_question_mark_stay_within_one_segment(
    fdb: ForgeDB, owned: Owned
) -> None:
    owner, repo = owned
    fdb.repositories.protection.set(repo.id, actor_id=owner.id, pattern="v?/*")
    assert _patterns(fdb, repo, "v1/x") == ["v?/*"]
    assert _patterns(fdb, repo, "v12/x") == []
    assert _patterns(fdb, repo, "v1/x/y") == []
    assert _patterns(fdb, repo, "v/x") == []


def test_regex_characters_of_a_pattern_match_only_themselves(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    fdb.repositories.protection.set(repo.id, actor_id=owner.id, pattern="v1.0")
    fdb.repositories.protection.set(repo.id, actor_id=owner.id, pattern="(a|b)")
    assert _patterns(fdb, repo, "v1.0") == ["v1.0"]
    assert _patterns(fdb, repo, "v1x0") == []
    assert _patterns(fdb, repo, "a") == []
    assert _patterns(fdb, repo, "(a|b)") == ["(a|b)"]


def test_rules_of_another_repository_do_not_apply(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    other = make_repository(fdb, owner)
    fdb.repositories.protection.set(other.id, actor_id=owner.id, pattern="**")
    assert _patterns(fdb, repo, "main") == []
    assert fdb.repositories.protection.list(repo.id) == []


def test_delete_removes_the_rule_once(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    for pattern in ["main", "release/*"]:
        fdb.repositories.protection.set(repo.id, actor_id=owner.id, pattern=pattern)
    assert fdb.repositories.protection.delete(repo.id, actor_id=owner.id, pattern="main") is True
    assert fdb.repositories.protection.delete(repo.id, actor_id=owner.id, pattern="main") is False
    assert [r.pattern for r in fdb.repositories.protection.list(repo.id)] == ["release/*"]
    assert _patterns(fdb, repo, "main") == []


def test_list_orders_rules_by_pattern(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    for pattern in ["release/*", "main", "dev"]:
        fdb.repositories.protection.set(repo.id, actor_id=owner.id, pattern=pattern)
    assert [r.pattern for r in fdb.repositories.protection.list(repo.id)] == [
        "dev",
        "main",
        "release/*",
    ]
