"""Helpers of the repositories tests: a repository with one user of each standing on it, the
access matrix every namespace of ``db.repositories`` is tried against, and table snapshots that
prove a refused write changed nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import psycopg
import pytest
from support import make_repository, make_user

from forge_db import Conflict, ForgeDB, NotFound, PermissionDenied
from forge_db.access import ROLES, Role
from forge_db.pagination import Page
from forge_db.query import Namespace, operations
from forge_db.repositories import Repository
from forge_db.users import User

T = TypeVar("T")

A = "a" * 40
B = "b" * 40
C = "c" * 40

# Tables the repositories domain writes: a refused write leaves every one of them as it was.
_TABLES = (
    "repositories",
    "repository_redirects",
    "repository_collaborators",
    "bookmarks",
    "renamed_branches",
    "branches",
    "protected_branches",
    "commit_statuses",
    "commit_status_history",
)


@dataclass(frozen=True)
class World:
    """A repository holding one of each child, and a user of every standing on it.

    Its children are all named ``main``: a bookmark (renamed from ``old``), a git branch and a
    protection rule. ``empty`` is a public repository of the same owner with no children, for
    reads given a public repository's id and the names of the private one's children.
    """

    repo: Repository
    empty: Repository
    owner: User
    admin: User
    writer: User
    reader: User
    stranger: User

    def holding(self, role: Role) -> User:
        """The collaborator holding exactly ``role``."""
        return {"read": self.reader, "write": self.writer, "admin": self.admin}[role]

    def below(self, role: Role) -> list[User]:
        """Users who can see the repository but hold less than ``role``."""
        lower = [self.holding(r) for r in ROLES[: ROLES.index(role)]]
        # A stranger reads a public repository, so is below any role above read there.
        return lower if self.repo.private or role == "read" else [self.stranger, *lower]


def build_world(db: ForgeDB, *, private: bool) -> World:
    """A :class:`World` around a new repository, private or public."""
    owner, admin, writer, reader, stranger = (make_user(db) for _ in range(5))
    repo = make_repository(db, owner, private=private)
    for user, role in ((admin, "admin"), (writer, "write"), (reader, "read")):
        db.repositories.collaborators.set(repo.id, actor_id=owner.id, user_id=user.id, role=role)  # type: ignore[arg-type]
    db.repositories.bookmarks.set(repo.id, actor_id=owner.id, name="old", targets=A)
    db.repositories.bookmarks.rename(repo.id, actor_id=owner.id, old_name="old", new_name="main")
    db.repositories.branches.set(repo.id, actor_id=owner.id, name="main", commit_id=A)
    db.repositories.protection.set(repo.id, actor_id=owner.id, pattern="main", required_approvals=1)
    db.repositories.statuses.set(
        repo.id, actor_id=owner.id, commit_id=A, context="ci/test", state="success"
    )
    return World(
        repo=db.repositories.get_by_id(repo.id, viewer_id=owner.id),
        empty=make_repository(db, owner),
        owner=owner,
        admin=admin,
        writer=writer,
        reader=reader,
        stranger=stranger,
    )


@pytest.fixture
def private_world(fdb: ForgeDB) -> World:
    """A private repository with a user of every standing on it."""
    return build_world(fdb, private=True)


@pytest.fixture
def public_world(fdb: ForgeDB) -> World:
    """A public repository with a user of every standing on it."""
    return build_world(fdb, private=False)


Snapshot = Callable[[], dict[str, list[str]]]


@pytest.fixture
def snapshot(conn: psycopg.Connection[Any]) -> Snapshot:
    """Every row of the repositories tables, as text, to compare before and after a write."""

    def take() -> dict[str, list[str]]:
        return {
            table: [
                row[0]
                for row in conn.execute(f"SELECT to_jsonb(t)::text FROM {table} t ORDER BY 1")
            ]
            for table in _TABLES
        }

    return take


# --- the access matrix -----------------------------------------------------------------------

MISSING_ID = 2**62  # a repository id no test creates


@dataclass(frozen=True)
class WriteCase:
    """A write by ``actor`` on repository ``repository_id`` of a world, and the least role it
    needs; ``archived_ok`` for the kind of write an archived repository still accepts."""

    role: Role
    call: Callable[[ForgeDB, World, int, int], Any]
    archived_ok: bool = False


@dataclass(frozen=True)
class ReadCase:
    """A read of a repository's children by a viewer, reduced to comparable values.

    ``expected`` is what anyone who can read ``world.repo`` gets; ``hidden`` what a stranger or
    an anonymous viewer of a private repository gets (``NotFound``: raised; else the value);
    ``empty`` what anyone gets from ``world.empty``, which holds none of the children.
    """

    call: Callable[[ForgeDB, int, int | None], Any]
    expected: Callable[[World], Any]
    hidden: Any = NotFound
    empty: Any = NotFound


def outcome(call: Callable[..., T], *args: Any) -> T | type[NotFound]:
    """``call(*args)``, or ``NotFound`` (the class) when it raised that."""
    try:
        return call(*args)
    except NotFound:
        return NotFound


def anonymised(error: BaseException, repository_id: int) -> str:
    """An error's message with the repository id taken out, to compare two refusals."""
    return str(error).replace(str(repository_id), "<id>")


def classified(namespace: type[Namespace[Any]]) -> set[str]:
    """The operation names a namespace class defines (its sub-namespaces are not included)."""
    return set(operations(namespace))


class WriteMatrix:
    """Every write of a namespace, tried by each standing (subclass and set ``writes``).

    A stranger to a private repository gets exactly what a missing repository gives
    (``NotFound``, nothing revealed); a user below the write's role gets ``PermissionDenied``;
    the role itself suffices; an archived repository refuses with ``Conflict``. A refusal
    changes no row of the domain's tables.
    """

    writes: ClassVar[dict[str, WriteCase]]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "write" in metafunc.fixturenames:
            metafunc.parametrize("write", sorted(self.writes))

    def test_a_stranger_to_a_private_repository_gets_what_a_missing_one_gives(
        self, fdb: ForgeDB, private_world: World, snapshot: Snapshot, write: str
    ) -> None:
        case, world = self.writes[write], private_world
        before = snapshot()
        with pytest.raises(NotFound) as hidden:
            case.call(fdb, world, world.repo.id, world.stranger.id)
        with pytest.raises(NotFound) as missing:
            case.call(fdb, world, MISSING_ID, world.stranger.id)
        assert anonymised(hidden.value, world.repo.id) == anonymised(missing.value, MISSING_ID)
        assert snapshot() == before

    @pytest.mark.parametrize("private", [True, False], ids=["private", "public"])
    def test_a_user_below_the_role_is_denied_and_changes_nothing(
        self, fdb: ForgeDB, snapshot: Snapshot, write: str, private: bool
    ) -> None:
        case = self.writes[write]
        world = build_world(fdb, private=private)
        before = snapshot()
        assert world.below(case.role), "nobody to try"
        for user in world.below(case.role):
            with pytest.raises(PermissionDenied, match=f"needs the {case.role} role"):
                case.call(fdb, world, world.repo.id, user.id)
        assert snapshot() == before

    def test_the_role_suffices(
        self, fdb: ForgeDB, private_world: World, snapshot: Snapshot, write: str
    ) -> None:
        case, world = self.writes[write], private_world
        before = snapshot()
        case.call(fdb, world, world.repo.id, world.holding(case.role).id)
        assert snapshot() != before

    def test_an_archived_repository_refuses_it_with_a_conflict(
        self, fdb: ForgeDB, private_world: World, snapshot: Snapshot, write: str
    ) -> None:
        case, world = self.writes[write], private_world
        fdb.repositories.update(world.repo.id, actor_id=world.owner.id, archived=True)
        before = snapshot()
        if case.archived_ok:
            case.call(fdb, world, world.repo.id, world.owner.id)
            assert snapshot() != before
            return
        with pytest.raises(Conflict, match="archived"):
            case.call(fdb, world, world.repo.id, world.owner.id)
        assert snapshot() == before


class ReadMatrix:
    """Every read of a namespace, tried by each standing (subclass and set ``reads``)."""

    reads: ClassVar[dict[str, ReadCase]]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "read" in metafunc.fixturenames:
            metafunc.parametrize("read", sorted(self.reads))

    def test_strangers_and_anonymous_get_nothing_of_a_private_repository(
        self, fdb: ForgeDB, private_world: World, read: str
    ) -> None:
        case, world = self.reads[read], private_world
        assert case.expected(world) != case.hidden, "the case cannot tell a leak"
        for viewer in (world.stranger.id, None):
            assert outcome(case.call, fdb, world.repo.id, viewer) == case.hidden

    def test_everyone_who_can_read_the_repository_gets_its_rows(
        self, fdb: ForgeDB, private_world: World, read: str
    ) -> None:
        case, world = self.reads[read], private_world
        for user in (world.reader, world.writer, world.admin, world.owner):
            assert outcome(case.call, fdb, world.repo.id, user.id) == case.expected(world)

    def test_a_public_repositorys_id_reaches_no_child_of_the_private_one(
        self, fdb: ForgeDB, private_world: World, read: str
    ) -> None:
        case, world = self.reads[read], private_world
        assert case.expected(world) != case.empty, "the case cannot tell a leak"
        for viewer in (world.stranger.id, world.reader.id, None):
            assert outcome(case.call, fdb, world.empty.id, viewer) == case.empty


def walk(fetch: Callable[[str | None], Page[T]], limit: int) -> list[T]:
    """Every item of a paged list, following cursors; each page but the last is full."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        assert len(page.items) <= limit
        items += page.items
        if page.next_cursor is None:
            return items
        assert len(page.items) == limit, "a page before the last one is short"
        cursor = page.next_cursor
