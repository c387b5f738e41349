"""Every paged list, paged through: the pages joined equal the unpaged order, no row twice.

Each list gets more than twice the page size in rows, made in one transaction so that they tie
on their timestamps (and on comment counts and search ranks), then is walked page by page in
every sort and direction it offers. A keyset comparison that is off by one (``<=`` for ``<``),
a tie-breaker left out of the order or of the cursor, shows as a duplicate or a gap here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, get_type_hints

import pytest
from support import make_repository, make_user

from forge_db import ForgeDB
from forge_db.jj import CommitRecord, FileState, OperationRecord, PartRecord
from forge_db.pagination import Page

from .operations import OPERATIONS

PAGE = 3
ROWS = 2 * PAGE + 2  # more than two pages, and a last page that is not full

W = dict[str, Any]
Lister = Callable[..., Page[Any]]


def _populate(db: ForgeDB) -> W:
    owner, other, fan = make_user(db, "pg"), make_user(db, "pgo"), make_user(db, "pgf")
    with db.transaction() as tx:  # one transaction: every row ties on now()
        repos = [make_repository(tx, owner) for _ in range(ROWS)]  # type: ignore[arg-type]
        main = repos[0]
        session = tx.workflows.agents.start(main.id, actor_id=owner.id, agent="pager")
        for n in range(ROWS):
            tx.issues.create(main.id, actor_id=owner.id, title=f"same words {n % 2}", body="tie")
            tx.issues.comments.create(main.id, 1, actor_id=other.id, body=f"c{n}")
            tx.collaboration.stars.toggle(repos[n].id, actor_id=fan.id)
            tx.collaboration.messages.send(actor_id=owner.id, recipient_id=other.id, body=f"m{n}")
            tx.issues.create(
                main.id, actor_id=other.id, title=f"ping {n}", body=f"@{fan.username} ping"
            )
            tx.workflows.definitions.save(
                main.id,
                actor_id=owner.id,
                path=f".forge/{n}.yml",
                definition={"name": f"flow-{n % 2}-{n}", "steps": [{"name": "s"}]},
            )
            tx.workflows.runs.start(main.id, actor_id=owner.id, steps=[{"name": "s"}])
            tx.workflows.agents.start(main.id, actor_id=owner.id, agent=f"agent{n}")
            tx.workflows.tools.start(main.id, session.id, actor_id=owner.id, tool="shell")
    for n in (2, 3, 5):  # a few distinct comment counts, many ties at zero
        for _ in range(n % 3 + 1):
            db.issues.comments.create(main.id, n, actor_id=owner.id, body="more")
    _populate_jj(db, main.id, owner.id)
    db.collaboration.watches.set(main.id, actor_id=fan.id, level="watching")
    db.issues.create(main.id, actor_id=other.id, title="one more for the watchers")
    with db.transaction() as tx:
        numbers = []
        for n in range(ROWS):
            change = "".join("klmnopqrstuvwxyz"[(n >> (4 * i)) & 15] for i in range(32))
            request = tx.landing.submit(
                main.id,
                actor_id=owner.id,
                change_id=change,
                commit_id="a" * 40,
                bookmark="main",
                title=f"land {n}",
                priority=n % 2,  # ties within a priority
            )
            numbers.append(request.number)
            tx.landing.comment_line(
                main.id, numbers[0], actor_id=other.id, path="a", line=1, body=f"c{n}"
            )
            tx.landing.pulls.open(
                main.id,
                actor_id=other.id,
                title=f"pull {n}",
                head_ref=f"f{n}",
                base_ref="main",
                head_commit_id="b" * 40,
            )
    return {
        "owner": owner,
        "other": other,
        "fan": fan,
        "main": main,
        "session": session,
        "landing": numbers[0],
    }


def _populate_jj(db: ForgeDB, repository_id: int, owner_id: int) -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)  # every operation ends at once: a tie
    operations = [
        OperationRecord(
            operation_id=secrets.token_hex(64),
            view_id="a" * 128,
            started_at=moment,
            ended_at=moment,
        )
        for _ in range(ROWS)
    ]
    with db.transaction() as tx:
        tx.jj.record_operations(repository_id, operations, actor_id=owner_id)
        for n in range(ROWS):
            tx.jj.create_workspace(repository_id, actor_id=owner_id, name=f"ws-{n}")
        moved = tx.jj.create_workspace(repository_id, actor_id=owner_id, name="moved")
        for state in ("active", "stale") * (ROWS // 2):
            tx.jj.transition_workspace(repository_id, moved.id, actor_id=owner_id, state=state)
        # ROWS commits touching one path, tied on their committer time; the first touches
        # ROWS paths; a tracked file and a snapshot per row.
        commits = [
            CommitRecord(
                change_id="k" * 31 + "klmnopqrstuvwxyz"[n],
                commit_id=secrets.token_hex(20),
                authored_at=moment,
                committed_at=moment,
            )
            for n in range(ROWS)
        ]
        tx.jj.record_commits(repository_id, commits, actor_id=owner_id)
        parts = [PartRecord(commit_id=c.commit_id, path="same", status="added") for c in commits]
        parts += [
            PartRecord(commit_id=commits[0].commit_id, path=f"p{n}", status="added")
            for n in range(ROWS)
        ]
        tx.jj.parts.record(repository_id, parts, actor_id=owner_id)
        tx.jj.file_trackers.set(
            repository_id,
            moved.id,
            actor_id=owner_id,
            files=[FileState(path=f"f{n}", size=n) for n in range(ROWS)],
        )
        for n in range(ROWS):
            tx.jj.snapshots.record(
                repository_id,
                moved.id,
                actor_id=owner_id,
                operation_id=operations[n].operation_id,
                working_copy_commit_id=commits[n].commit_id,
            )


@dataclass(frozen=True)
class Paged:
    """How to call a paged list, and the variants (sort, direction, filters) to walk."""

    call: Callable[[ForgeDB, W, dict[str, Any]], Page[Any]]
    variants: list[dict[str, Any]] = field(default_factory=lambda: [{}])


_ISSUE_ORDERS = [
    {"sort": sort, "direction": direction, "state": "all"}
    for sort in ("created", "updated", "comments")
    for direction in ("asc", "desc")
]

LISTS: dict[str, Paged] = {
    "db.jj.operations.log": Paged(lambda db, w, kw: db.jj.operation_log(w["main"].id, **kw)),
    "db.jj.workspaces.list": Paged(
        lambda db, w, kw: db.jj.list_workspaces(w["main"].id, **kw),
        [{}, {"state": "provisioning"}],
    ),
    "db.jj.workspaces.history": Paged(
        lambda db, w, kw: db.jj.workspace_history(
            w["main"].id, db.jj.list_workspaces(w["main"].id, state="stale").items[0].id, **kw
        )
    ),
    "db.jj.parts.list": Paged(
        lambda db, w, kw: db.jj.parts.list(
            w["main"].id, db.jj.parts.history(w["main"].id, "p0").items[0].commit_id, **kw
        )
    ),
    "db.jj.parts.history": Paged(lambda db, w, kw: db.jj.parts.history(w["main"].id, "same", **kw)),
    "db.jj.file_trackers.list": Paged(
        lambda db, w, kw: db.jj.file_trackers.list(
            w["main"].id, db.jj.list_workspaces(w["main"].id, state="stale").items[0].id, **kw
        )
    ),
    "db.jj.snapshots.list": Paged(
        lambda db, w, kw: db.jj.snapshots.list(
            w["main"].id, db.jj.list_workspaces(w["main"].id, state="stale").items[0].id, **kw
        )
    ),
    "db.jj.workspaces.find_stale": Paged(
        lambda db, w, kw: db.jj.find_stale_workspaces(
            w["main"].id, older_than=timedelta(microseconds=1), **kw
        )
    ),
    "db.landing.requests.list": Paged(
        lambda db, w, kw: db.landing.list(w["main"].id, **kw),
        [{}, {"state": "all"}, {"bookmark": "main"}],
    ),
    "db.landing.queues.entries": Paged(
        lambda db, w, kw: db.landing.queue(w["main"].id, "main", **kw)
    ),
    "db.landing.reviews.comments": Paged(
        lambda db, w, kw: db.landing.reviews.comments(w["main"].id, w["landing"], **kw)
    ),
    "db.landing.pulls.list": Paged(
        lambda db, w, kw: db.landing.pulls.list(w["main"].id, **kw), [{}, {"base_ref": "main"}]
    ),
    "db.repositories.list_for_owner": Paged(
        lambda db, w, kw: db.repositories.list_for_owner(w["owner"].username, **kw)
    ),
    "db.repositories.list_for_viewer": Paged(
        lambda db, w, kw: db.repositories.list_for_viewer(viewer_id=w["owner"].id, **kw)
    ),
    "db.repositories.list_public": Paged(lambda db, w, kw: db.repositories.list_public(**kw)),
    "db.issues.list": Paged(
        lambda db, w, kw: db.issues.list(w["main"].id, **kw),
        [*_ISSUE_ORDERS, {"author_id": None, "state": "open"}],
    ),
    "db.issues.search": Paged(
        lambda db, w, kw: db.issues.search(w["main"].id, "same words", **kw),
        [{}, {"state": "open"}],
    ),
    "db.issues.comments.list": Paged(
        lambda db, w, kw: db.issues.comments.list(w["main"].id, 1, **kw)
    ),
    "db.collaboration.notifications.list": Paged(
        lambda db, w, kw: db.collaboration.notifications.list(viewer_id=w["fan"].id, **kw),
        [{}, {"unread_only": True}],
    ),
    "db.collaboration.stars.list": Paged(
        lambda db, w, kw: db.collaboration.stars.list(w["fan"].id, **kw)
    ),
    "db.collaboration.messages.list": Paged(
        lambda db, w, kw: db.collaboration.messages.list(
            w["other"].id, viewer_id=w["owner"].id, **kw
        )
    ),
    "db.workflows.definitions.list": Paged(
        lambda db, w, kw: db.workflows.definitions.list(w["main"].id, **kw),
        [{}, {"enabled": True}],
    ),
    "db.workflows.runs.list": Paged(
        lambda db, w, kw: db.workflows.runs.list(w["main"].id, **kw), [{}, {"state": "queued"}]
    ),
    "db.workflows.agents.list": Paged(
        lambda db, w, kw: db.workflows.agents.list(w["main"].id, **kw), [{}, {"state": "active"}]
    ),
    "db.workflows.tools.list": Paged(
        lambda db, w, kw: db.workflows.tools.list(w["main"].id, w["session"].id, **kw)
    ),
}


def test_every_paged_list_is_walked() -> None:
    paged = {
        path
        for path, op in OPERATIONS.items()
        if "Page[" in str(get_type_hints(op.__wrapped__).get("return"))
    }
    assert paged == set(LISTS)


@pytest.fixture
def populated(fdb: ForgeDB) -> W:
    return _populate(fdb)


def _key(item: Any) -> Any:
    return getattr(item, "id", None) or item


@pytest.mark.parametrize("path", sorted(LISTS))
def test_pages_joined_equal_the_whole_list(fdb: ForgeDB, populated: W, path: str) -> None:
    paged = LISTS[path]
    for variant in paged.variants:
        whole = paged.call(fdb, populated, {**variant, "limit": 100})
        assert whole.next_cursor is None
        expected = [_key(item) for item in whole.items]
        assert len(expected) > 2 * PAGE, f"{path} {variant}: too few rows to page ({expected})"
        walked: list[Any] = []
        cursor = None
        for _ in range(len(expected) + 2):
            page = paged.call(fdb, populated, {**variant, "limit": PAGE, "cursor": cursor})
            assert len(page.items) <= PAGE
            walked += [_key(item) for item in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert walked == expected, f"{path} {variant}: pages {walked} != whole {expected}"
        assert len(set(walked)) == len(walked), f"{path} {variant}: a row twice"
