"""db.repositories.statuses: commit statuses, their history, and the combined status."""

from __future__ import annotations

from typing import Any

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB, InvalidInput, NotFound
from forge_db.repositories import Statuses

from .conftest import A, B, ReadCase, ReadMatrix, WriteCase, WriteMatrix, classified

WRITES = {
    "set": WriteCase(
        "write",
        lambda db, w, repo, actor: db.repositories.statuses.set(
            repo, actor_id=actor, commit_id=A, context="ci/lint", state="failure"
        ),
    ),
}
READS = {
    "list": ReadCase(
        lambda db, repo, viewer: [
            (s.context, s.state) for s in db.repositories.statuses.list(repo, A, viewer_id=viewer)
        ],
        expected=lambda w: [("ci/test", "success")],
        hidden=[],
        empty=[],
    ),
    "history": ReadCase(
        lambda db, repo, viewer: [
            (s.context, s.state)
            for s in db.repositories.statuses.history(repo, A, viewer_id=viewer)
        ],
        expected=lambda w: [("ci/test", "success")],
        hidden=[],
        empty=[],
    ),
    "combined": ReadCase(
        lambda db, repo, viewer: (lambda c: (c.state, c.total_count, c.missing_contexts))(
            db.repositories.statuses.combined(repo, A, viewer_id=viewer)
        ),
        expected=lambda w: ("success", 1, []),
        empty=("pending", 0, []),
    ),
}


def test_every_status_operation_is_in_the_access_matrix() -> None:
    assert classified(Statuses) == set(WRITES) | set(READS)


class TestWrites(WriteMatrix):
    writes = WRITES


class TestReads(ReadMatrix):
    reads = READS


@pytest.fixture
def repo(fdb: ForgeDB) -> Any:
    owner = make_user(fdb)
    return make_repository(fdb, owner), owner


def _report(db: ForgeDB, repo: Any, owner: Any, commit: str, states: dict[str, str]) -> None:
    for context, state in states.items():
        db.repositories.statuses.set(
            repo.id,
            actor_id=owner.id,
            commit_id=commit,
            context=context,
            state=state,  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    ("states", "combined"),
    [
        ({}, "pending"),
        ({"ci/a": "success"}, "success"),
        ({"ci/a": "success", "ci/b": "success"}, "success"),
        ({"ci/a": "success", "ci/b": "pending"}, "pending"),
        ({"ci/a": "pending", "ci/b": "failure"}, "failure"),
        ({"ci/a": "success", "ci/b": "error"}, "failure"),
        ({"ci/a": "error"}, "failure"),
        ({"ci/a": "pending"}, "pending"),
    ],
)
def test_combined_status_follows_githubs_rule(
    fdb: ForgeDB, repo: Any, states: dict[str, str], combined: str
) -> None:
    repository, owner = repo
    _report(fdb, repository, owner, A, states)
    result = fdb.repositories.combined_status(repository.id, A, viewer_id=owner.id)
    assert (result.state, result.total_count) == (combined, len(states))
    assert [s.context for s in result.statuses] == sorted(states)


def test_the_latest_report_wins_and_history_is_kept(fdb: ForgeDB, repo: Any) -> None:
    repository, owner = repo
    statuses = fdb.repositories.statuses
    for state in ("pending", "failure", "success"):
        fdb.repositories.set_commit_status(
            repository.id, actor_id=owner.id, commit_id=A, context="ci/test", state=state
        )
    assert [(s.context, s.state) for s in statuses.list(repository.id, A)] == [
        ("ci/test", "success")
    ]
    assert [s.state for s in statuses.history(repository.id, A)] == [
        "success",
        "failure",
        "pending",
    ]
    assert statuses.combined(repository.id, A).state == "success"
    assert statuses.combined(repository.id, B).state == "pending"  # another commit


def test_combined_status_reports_the_missing_required_contexts(fdb: ForgeDB, repo: Any) -> None:
    repository, owner = repo
    fdb.repositories.protection.set(
        repository.id,
        actor_id=owner.id,
        pattern="release/*",
        required_status_contexts=["ci/test", "ci/lint", "sec/scan"],
    )
    _report(fdb, repository, owner, A, {"ci/test": "success", "ci/other": "success"})
    combined = fdb.repositories.combined_status(repository.id, A, bookmark="release/1.0")
    assert combined.state == "success"
    assert combined.required_contexts == ["ci/lint", "ci/test", "sec/scan"]
    assert combined.missing_contexts == ["ci/lint", "sec/scan"]
    unprotected = fdb.repositories.combined_status(repository.id, A, bookmark="main")
    assert (unprotected.required_contexts, unprotected.missing_contexts) == ([], [])


def test_bad_reports_are_refused_by_name(fdb: ForgeDB, repo: Any) -> None:
    repository, owner = repo
    with pytest.raises(InvalidInput) as commit:
        fdb.repositories.statuses.set(
            repository.id, actor_id=owner.id, commit_id="xyz", context="ci", state="success"
        )
    assert commit.value.field == "commit_id"
    with pytest.raises(InvalidInput) as url:
        fdb.repositories.statuses.set(
            repository.id,
            actor_id=owner.id,
            commit_id=A,
            context="ci",
            state="success",
            target_url="javascript:alert(1)",
        )
    assert url.value.field == "target_url"


def test_a_private_repositorys_combined_status_is_not_found_for_a_stranger(
    fdb: ForgeDB,
) -> None:
    owner, stranger = make_user(fdb), make_user(fdb)
    private = make_repository(fdb, owner, private=True)
    with pytest.raises(NotFound):
        fdb.repositories.combined_status(private.id, A, viewer_id=stranger.id)
