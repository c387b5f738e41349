"""db.repositories.bookmarks: jj bookmarks, conflicted targets, compare-and-swap, renames."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import psycopg
import pytest
from support import make_repository, make_user

from forge_db import AlreadyExists, AsyncForgeDB, Conflict, ForgeDB, InvalidInput, NotFound
from forge_db.repositories import Bookmarks, Repository
from forge_db.users import User

from .conftest import A, B, C, ReadCase, ReadMatrix, WriteCase, WriteMatrix, classified

WRITES = {
    "set": WriteCase(
        "write",
        lambda db, w, repo, actor: db.repositories.bookmarks.set(
            repo, actor_id=actor, name="main", targets=B
        ),
    ),
    "delete": WriteCase(
        "write",
        lambda db, w, repo, actor: db.repositories.bookmarks.delete(
            repo, actor_id=actor, name="main"
        ),
    ),
    "rename": WriteCase(
        "write",
        lambda db, w, repo, actor: db.repositories.bookmarks.rename(
            repo, actor_id=actor, old_name="main", new_name="trunk"
        ),
    ),
}
READS = {
    "get": ReadCase(
        lambda db, repo, viewer: (
            db.repositories.bookmarks.get(repo, "main", viewer_id=viewer).targets
        ),
        expected=lambda w: [A],
    ),
    "list": ReadCase(
        lambda db, repo, viewer: [
            (b.name, b.targets) for b in db.repositories.bookmarks.list(repo, viewer_id=viewer)
        ],
        expected=lambda w: [("main", [A])],
        hidden=[],
        empty=[],
    ),
    "resolve": ReadCase(
        lambda db, repo, viewer: db.repositories.bookmarks.resolve(repo, "old", viewer_id=viewer),
        expected=lambda w: "main",
        empty="old",
    ),
}


def test_every_bookmark_operation_is_in_the_access_matrix() -> None:
    assert classified(Bookmarks) == set(WRITES) | set(READS)


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


# --- set -------------------------------------------------------------------------------------


def test_set_creates_a_bookmark_on_one_commit(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    created = fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=A)
    assert (created.repository_id, created.name, created.targets) == (repo.id, "main", [A])
    assert created.conflicted is False
    assert fdb.repositories.bookmarks.get(repo.id, "main") == created


def test_set_moves_an_existing_bookmark(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    first = fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=A)
    moved = fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=[B])
    assert (moved.id, moved.targets) == (first.id, [B])
    assert [b.targets for b in fdb.repositories.bookmarks.list(repo.id)] == [[B]]


def test_several_targets_make_a_bookmark_conflicted(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    both = fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=[A, B])
    assert (both.targets, both.conflicted) == ([A, B], True)
    one = fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=[C])
    assert (one.targets, one.conflicted) == ([C], False)


def test_a_repeated_target_is_one_target(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    bookmark = fdb.repositories.bookmarks.set(
        repo.id, actor_id=owner.id, name="main", targets=[A, A]
    )
    assert (bookmark.targets, bookmark.conflicted) == ([A], False)


def test_expected_empty_targets_create_only_a_missing_bookmark(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    created = fdb.repositories.bookmarks.set(
        repo.id, actor_id=owner.id, name="main", targets=A, expected_targets=[]
    )
    assert created.targets == [A]
    with pytest.raises(Conflict, match="has moved"):
        fdb.repositories.bookmarks.set(
            repo.id, actor_id=owner.id, name="main", targets=B, expected_targets=[]
        )
    assert fdb.repositories.bookmarks.get(repo.id, "main").targets == [A]


def test_expected_targets_move_a_bookmark_only_from_where_it_points(
    fdb: ForgeDB, owned: Owned
) -> None:
    owner, repo = owned
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=A)
    fdb.repositories.bookmarks.set(
        repo.id, actor_id=owner.id, name="main", targets=[A, B], expected_targets=[A]
    )
    with pytest.raises(Conflict, match="has moved"):
        fdb.repositories.bookmarks.set(
            repo.id, actor_id=owner.id, name="main", targets=C, expected_targets=[A]
        )
    assert fdb.repositories.bookmarks.get(repo.id, "main").targets == [A, B]


def test_expected_targets_compare_as_a_set(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    stored = fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=[B, A])
    assert stored.targets == [B, A]
    resolved = fdb.repositories.bookmarks.set(
        repo.id, actor_id=owner.id, name="main", targets=C, expected_targets=[A, B]
    )
    assert resolved.targets == [C]


def test_expected_targets_of_a_missing_bookmark_are_a_conflict(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    with pytest.raises(Conflict, match="has moved"):
        fdb.repositories.bookmarks.set(
            repo.id, actor_id=owner.id, name="main", targets=B, expected_targets=[A]
        )
    assert fdb.repositories.bookmarks.list(repo.id) == []


@pytest.mark.parametrize(
    "targets", [[], "", "abc", ["abc"], ["A" * 40], [A, "HEAD"], "ci", [A] * 65, None, 7]
)
def test_targets_that_are_not_commit_ids_are_invalid_input(
    fdb: ForgeDB, owned: Owned, targets: Any
) -> None:
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=targets)
    assert info.value.field == "targets"
    assert fdb.repositories.bookmarks.list(repo.id) == []


@pytest.mark.parametrize("expected", [A, "", ["abc"], 0])
def test_expected_targets_must_be_a_list_of_commit_ids(
    fdb: ForgeDB, owned: Owned, expected: Any
) -> None:
    """(A bare string is not a list of one: issue 15, silent coercions.)"""
    owner, repo = owned
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=A)
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.bookmarks.set(
            repo.id, actor_id=owner.id, name="main", targets=B, expected_targets=expected
        )
    assert info.value.field == "expected_targets"
    assert fdb.repositories.bookmarks.get(repo.id, "main").targets == [A]


@pytest.mark.parametrize(
    "name",
    ["", "@", "-x", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "x.lock", "/a", "a/"],
)
def test_bookmark_names_follow_the_git_ref_rules(fdb: ForgeDB, owned: Owned, name: str) -> None:
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name=name, targets=A)
    assert info.value.field == "name"


@pytest.mark.parametrize("bad", [True, 0, -1, 2**63, "1", None])
def test_ids_that_are_not_positive_bigints_are_invalid_input(
    fdb: ForgeDB, owned: Owned, bad: Any
) -> None:
    owner, repo = owned
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.bookmarks.set(bad, actor_id=owner.id, name="main", targets=A)
    assert info.value.field == "repository_id"
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.bookmarks.set(repo.id, actor_id=bad, name="main", targets=A)
    assert info.value.field == "actor_id"


# --- delete ----------------------------------------------------------------------------------


def test_delete_removes_the_bookmark_once(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=A)
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="dev", targets=B)
    assert fdb.repositories.bookmarks.delete(repo.id, actor_id=owner.id, name="main") is True
    assert fdb.repositories.bookmarks.delete(repo.id, actor_id=owner.id, name="main") is False
    assert [b.name for b in fdb.repositories.bookmarks.list(repo.id)] == ["dev"]
    with pytest.raises(NotFound):
        fdb.repositories.bookmarks.get(repo.id, "main")


# --- get, list, resolve ----------------------------------------------------------------------


def test_get_of_a_missing_bookmark_is_not_found(fdb: ForgeDB, owned: Owned) -> None:
    _, repo = owned
    with pytest.raises(NotFound, match="'main'"):
        fdb.repositories.bookmarks.get(repo.id, "main")


def test_list_orders_bookmarks_by_name(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    for name in ["main", "dev", "release/2", "feature/x"]:
        fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name=name, targets=A)
    names = [b.name for b in fdb.repositories.bookmarks.list(repo.id)]
    assert names == ["dev", "feature/x", "main", "release/2"]


def test_list_holds_only_the_repositorys_own_bookmarks(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    other = make_repository(fdb, owner)
    fdb.repositories.bookmarks.set(other.id, actor_id=owner.id, name="elsewhere", targets=A)
    assert fdb.repositories.bookmarks.list(repo.id) == []


def test_resolve_gives_a_never_renamed_name_back(fdb: ForgeDB, owned: Owned) -> None:
    _, repo = owned
    assert fdb.repositories.bookmarks.resolve(repo.id, "never-renamed") == "never-renamed"


def test_resolve_of_a_missing_repository_is_not_found(fdb: ForgeDB) -> None:
    with pytest.raises(NotFound):
        fdb.repositories.bookmarks.resolve(2**62, "main")


# --- rename ----------------------------------------------------------------------------------


def test_rename_moves_the_bookmark_to_its_new_name(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    before = fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="master", targets=A)
    renamed = fdb.repositories.bookmarks.rename(
        repo.id, actor_id=owner.id, old_name="master", new_name="main"
    )
    assert (renamed.id, renamed.name, renamed.targets) == (before.id, "main", [A])
    assert [b.name for b in fdb.repositories.bookmarks.list(repo.id)] == ["main"]


def test_renamed_bookmarks_resolve_old_names_through_a_chain(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="master", targets=A)
    fdb.repositories.bookmarks.rename(
        repo.id, actor_id=owner.id, old_name="master", new_name="main"
    )
    fdb.repositories.bookmarks.rename(repo.id, actor_id=owner.id, old_name="main", new_name="trunk")
    assert fdb.repositories.bookmarks.get(repo.id, "master").name == "trunk"
    assert fdb.repositories.bookmarks.get(repo.id, "main").name == "trunk"
    assert fdb.repositories.bookmarks.resolve(repo.id, "master") == "trunk"
    assert fdb.repositories.bookmarks.resolve(repo.id, "main") == "trunk"


def test_renaming_back_leaves_no_cycle(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="master", targets=A)
    rename = fdb.repositories.bookmarks.rename
    rename(repo.id, actor_id=owner.id, old_name="master", new_name="main")
    rename(repo.id, actor_id=owner.id, old_name="main", new_name="master")
    assert fdb.repositories.bookmarks.resolve(repo.id, "master") == "master"
    assert fdb.repositories.bookmarks.resolve(repo.id, "main") == "master"
    assert fdb.repositories.bookmarks.get(repo.id, "main").name == "master"


def test_a_live_bookmark_wins_over_a_rename_recorded_from_its_name(
    fdb: ForgeDB, owned: Owned
) -> None:
    owner, repo = owned
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="master", targets=A)
    fdb.repositories.bookmarks.rename(
        repo.id, actor_id=owner.id, old_name="master", new_name="main"
    )
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="master", targets=B)
    assert fdb.repositories.bookmarks.get(repo.id, "master").targets == [B]
    assert fdb.repositories.bookmarks.get(repo.id, "main").targets == [A]


def test_resolve_agrees_with_get_when_a_live_bookmark_has_a_renamed_name(
    fdb: ForgeDB, owned: Owned
) -> None:
    """``get`` lets a live bookmark win over a rename recorded from its name; ``resolve``,
    which says what ``name`` currently means, must say the same."""
    owner, repo = owned
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="master", targets=A)
    fdb.repositories.bookmarks.rename(
        repo.id, actor_id=owner.id, old_name="master", new_name="main"
    )
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="master", targets=B)
    live = fdb.repositories.bookmarks.get(repo.id, "master").name
    assert fdb.repositories.bookmarks.resolve(repo.id, "master") == live == "master"


def test_rename_to_the_same_name_is_invalid_input(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=A)
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.bookmarks.rename(
            repo.id, actor_id=owner.id, old_name="main", new_name="main"
        )
    assert info.value.field == "new_name"


def test_rename_of_a_missing_bookmark_is_not_found_and_records_nothing(
    fdb: ForgeDB, owned: Owned
) -> None:
    owner, repo = owned
    with pytest.raises(NotFound, match="'ghost'"):
        fdb.repositories.bookmarks.rename(
            repo.id, actor_id=owner.id, old_name="ghost", new_name="main"
        )
    assert fdb.repositories.bookmarks.resolve(repo.id, "ghost") == "ghost"


def test_rename_onto_an_existing_bookmark_already_exists(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=A)
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="dev", targets=B)
    with pytest.raises(AlreadyExists, match="a bookmark with this name"):
        fdb.repositories.bookmarks.rename(
            repo.id, actor_id=owner.id, old_name="dev", new_name="main"
        )
    bookmarks = fdb.repositories.bookmarks.list(repo.id)
    assert [(b.name, b.targets) for b in bookmarks] == [("dev", [B]), ("main", [A])]
    assert fdb.repositories.bookmarks.resolve(repo.id, "dev") == "dev"


def test_rename_to_a_bad_name_is_invalid_input(fdb: ForgeDB, owned: Owned) -> None:
    owner, repo = owned
    fdb.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=A)
    with pytest.raises(InvalidInput) as info:
        fdb.repositories.bookmarks.rename(
            repo.id, actor_id=owner.id, old_name="main", new_name="a..b"
        )
    assert info.value.field == "new_name"


# --- compare-and-swap under real concurrency -------------------------------------------------


Results = dict[str, str]  # target -> "won" or "conflict"


def _race_sync(url: str, barrier: threading.Barrier, repo: int, actor: int, target: str) -> str:
    with ForgeDB.connect(url, min_size=1, max_size=1) as own:
        own.meta.server_version()  # connected before the start line
        barrier.wait()
        try:
            own.repositories.bookmarks.set(
                repo, actor_id=actor, name="main", targets=target, expected_targets=[A]
            )
        except Conflict:
            return "conflict"
        return "won"


def _race_async(url: str, barrier: threading.Barrier, repo: int, actor: int, target: str) -> str:
    async def race() -> str:
        own = await AsyncForgeDB.connect(url, min_size=1, max_size=1)
        try:
            await own.meta.server_version()
            barrier.wait()  # blocks this thread's own event loop only
            try:
                await own.repositories.bookmarks.set(
                    repo, actor_id=actor, name="main", targets=target, expected_targets=[A]
                )
            except Conflict:
                return "conflict"
            return "won"
        finally:
            await own.close()

    return asyncio.run(race())


@pytest.mark.parametrize("api", ["sync", "async"])
def test_two_racing_compare_and_swaps_from_one_target_let_exactly_one_win(
    db: ForgeDB, database_url: str, conn: psycopg.Connection[Any], api: str
) -> None:
    owner = make_user(db)
    repo = make_repository(db, owner)
    racer = _race_sync if api == "sync" else _race_async
    for round_ in range(20):
        db.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="main", targets=A)
        targets = [f"{round_:02x}{side}".ljust(40, "0") for side in "12"]
        barrier = threading.Barrier(2)
        results: Results = {}

        def run(
            target: str, barrier: threading.Barrier = barrier, results: Results = results
        ) -> None:
            results[target] = racer(database_url, barrier, repo.id, owner.id, target)

        threads = [threading.Thread(target=run, args=(t,)) for t in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results.values()) == ["conflict", "won"], f"round {round_}: {results}"
        [winner] = [t for t, result in results.items() if result == "won"]
        assert db.repositories.bookmarks.get(repo.id, "main").targets == [winner]
        rows = conn.execute(
            "SELECT count(*) FROM bookmarks WHERE repository_id = %s", (repo.id,)
        ).fetchone()
        assert rows == (1,)
