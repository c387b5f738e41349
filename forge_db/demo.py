"""``forge-db demo``: build a small, realistic forge and show it working.

The demo lives in its own database (``forge_demo`` by default) on the chosen server, dropped and
rebuilt on every run, so it never touches an application's data: the database is marked as the
demo's when it is created, and the demo refuses to drop one without that mark, a system
database, or the database its URL points at.
"""

from __future__ import annotations

import getpass
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, TextIO

import psycopg
from psycopg import sql as pgsql

from . import migrations
from .config import parse_url, target_of, with_dbname
from .database import ForgeDB, Transaction
from .errors import Conflict, InvalidInput, translate
from .repositories.models import Repository
from .users.models import User

__all__ = ["DEMO_MARK", "DemoSummary", "build_demo", "run_demo"]

# The comment on a database the demo created; only a database carrying it is ever dropped.
DEMO_MARK: Final = "forge_db demo database, rebuilt by `forge-db demo`"
_SYSTEM_DATABASES: Final = ("postgres", "template0", "template1")

USERS: Final = ("alice", "bob", "carol", "dave", "eve", "merge-agent")
COMPONENTS: Final = (
    "parser",
    "landing queue",
    "bookmark sync",
    "web UI",
    "SIWE sign-in",
    "workspace",
    "operation log",
    "conflict resolution",
    "CLI",
    "notifications",
    "search",
    "runner pool",
)
PROBLEMS: Final = (
    "crashes on empty input",
    "is slow with large repositories",
    "shows the wrong author",
    "fails when the bookmark is conflicted",
    "should support prefixes",
    "leaks a file handle",
    "times out under load",
    "loses the last line",
    "needs better error messages",
    "rejects valid names",
    "double-counts reactions",
    "panics after rebase",
)
LABELS: Final = (
    ("bug", "#d73a4a"),
    ("enhancement", "#a2eeef"),
    ("performance", "#fbca04"),
    ("docs", "#0075ca"),
    ("good first issue", "#7057ff"),
    ("agent", "#0e8a16"),
)
REMARKS: Final = (
    "I can reproduce this on main.",
    "Here is a minimal repro: `jj new -r @-`.",
    "This looks related to the operation log rewrite.",
    "Fixed in the latest change, please verify.",
    "Could this be a race in the landing queue?",
    "+1, this bites us daily.",
    "The agent hit this during an automated rebase.",
    "Workaround: `jj op restore`.",
)
EMOJI: Final = ("+1", "heart", "rocket", "eyes", "hooray", "laugh")


@dataclass(frozen=True)
class DemoSummary:
    """What the demo built."""

    url: str
    users: int
    repositories: int
    issues: int
    comments: int
    reactions: int
    seconds: float


class _Progress:
    """A one-line progress bar on a terminal; elsewhere a line at each quarter reached."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = total
        self.done = 0
        self.out = out
        self.live = out.isatty()
        self.shown = 0 if not self.live else -1

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        percent = self.done * 100 // self.total
        if self.live:
            if percent != self.shown:
                self.shown = percent
                end = "\r" if self.done < self.total else "\n"
                self._write(percent, end)
            return
        # Steps may jump past a quarter (3000 issues in steps of 100 never land on 25%):
        # print every quarter passed, so a log always shows 25, 50, 75 and 100.
        for quarter in range(self.shown + 25, percent - percent % 25 + 1, 25):
            self.shown = quarter
            self._write(quarter, "\n")

    def _write(self, percent: int, end: str) -> None:
        filled = percent * 30 // 100
        bar = "#" * filled + "-" * (30 - filled)
        self.out.write(f"building the demo forge [{bar}] {percent:3d}% {end}")
        self.out.flush()


@contextmanager
def _fresh_database(url: str, name: str) -> Iterator[str]:
    """Create database ``name`` marked as the demo's, dropping first one the demo made."""
    info = parse_url(url)
    own = str(info.get("dbname") or info.get("user") or getpass.getuser())
    if name in _SYSTEM_DATABASES:
        raise InvalidInput(
            f"{name!r} is a system database; the demo never drops it: choose another --database",
            field="database",
        )
    if name == own:
        raise InvalidInput(
            f"{name!r} is the database the URL points at; the demo builds its own: "
            "choose another --database",
            field="database",
        )
    ident = pgsql.Identifier(name)
    try:
        admin_url = migrations.with_connect_timeout(with_dbname(url, own))
        with psycopg.connect(admin_url, autocommit=True) as admin:
            row = admin.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                (name,),
            ).fetchone()
            if row is not None:
                if row[0] != DEMO_MARK:
                    raise Conflict(
                        f"database {name!r} exists and was not created by forge-db demo; "
                        "refusing to drop it: choose another --database"
                    )
                admin.execute(pgsql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident))
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(ident))
            admin.execute(
                pgsql.SQL("COMMENT ON DATABASE {} IS {}").format(ident, pgsql.Literal(DEMO_MARK))
            )
    except psycopg.Error as exc:
        raise translate(exc, target=target_of(url)) from exc
    yield with_dbname(url, name)


def build_demo(
    url: str,
    *,
    database: str = "forge_demo",
    issues: int = 3000,
    seed: int = 4361,
    progress: TextIO | None = None,
) -> DemoSummary:
    """Drop and rebuild ``database`` on ``url``'s server with a small forge; return what it holds."""
    if not database.replace("_", "").isalnum():
        raise InvalidInput("database: letters, digits and underscores only", field="database")
    started = time.monotonic()
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not secrets
    with _fresh_database(url, database) as demo_url:
        migrations.migrate(demo_url)
        with ForgeDB.connect(demo_url, max_size=2) as db:
            counts = _populate(db, rng, issues, _Progress(issues, progress or sys.stderr))
    return DemoSummary(demo_url, *counts, seconds=time.monotonic() - started)


def _populate(
    db: ForgeDB, rng: random.Random, total: int, bar: _Progress
) -> tuple[int, int, int, int, int]:
    users = {name: db.users.create(username=name, display_name=name.title()) for name in USERS}
    alice, bob = users["alice"], users["bob"]
    repos = [
        db.repositories.create(owner_id=alice.id, name="jj-forge", description="The forge itself"),
        db.repositories.create(owner_id=alice.id, name="landing-bot", description="Lands changes"),
        db.repositories.create(owner_id=bob.id, name="dotfiles"),
        db.repositories.create(
            owner_id=alice.id, name="security", private=True, description="Embargoed reports"
        ),
    ]
    for repo in repos:
        owner_id = repo.owner_id
        for other in users.values():
            if other.id != owner_id and (
                not repo.private or other.username in ("bob", "merge-agent")
            ):
                db.repositories.collaborators.set(
                    repo.id, actor_id=owner_id, user_id=other.id, role=rng.choice(("read", "write"))
                )
        for name, color in LABELS:
            db.issues.labels.create(repo.id, actor_id=owner_id, name=name, color=color)
        db.repositories.bookmarks.set(
            repo.id, actor_id=owner_id, name="main", targets=f"{rng.getrandbits(160):040x}"
        )
    db.collaboration.watches.set(repos[0].id, actor_id=bob.id, level="watching")
    names = list(users)
    comments = reactions = 0
    weights = (70, 15, 8, 7)  # most activity on the main repository
    for start in range(0, total, 100):
        with db.transaction() as tx:
            for _ in range(min(100, total - start)):
                comments_added, reactions_added = _one_issue(tx, rng, repos, weights, users, names)
                comments += comments_added
                reactions += reactions_added
        bar.advance(min(100, total - start))
    return len(users), len(repos), total, comments, reactions


def _one_issue(
    tx: Transaction,
    rng: random.Random,
    repos: list[Repository],
    weights: tuple[int, ...],
    users: dict[str, User],
    names: list[str],
) -> tuple[int, int]:
    repo = rng.choices(repos, weights)[0]
    author = users[rng.choice(names if not repo.private else ["alice", "bob"])]
    mentioned = rng.choice(names)
    body = (
        f"{rng.choice(REMARKS)}\n\ncc @{mentioned}" if rng.random() < 0.4 else rng.choice(REMARKS)
    )
    labels = rng.sample([name for name, _ in LABELS], rng.choice((0, 1, 1, 2)))
    curator = users["alice"] if repo.owner_id == users["alice"].id else users["bob"]
    issue = tx.issues.create(
        repo.id,
        actor_id=curator.id if labels else author.id,
        title=f"{_sentence_case(rng.choice(COMPONENTS))} {rng.choice(PROBLEMS)}",
        body=body,
        labels=labels,
    )
    comments = rng.choice((0, 0, 1, 1, 2, 3))
    for _ in range(comments):
        commenter = users[rng.choice(names if not repo.private else ["alice", "bob"])]
        tx.issues.comments.create(
            repo.id, issue.number, actor_id=commenter.id, body=rng.choice(REMARKS)
        )
    reactions = rng.choice((0, 0, 1, 2))
    for reactor in rng.sample(["alice", "bob"] if repo.private else names, reactions):
        tx.collaboration.reactions.toggle(
            repo.id, actor_id=users[reactor].id, emoji=rng.choice(EMOJI), issue_number=issue.number
        )
    if rng.random() < 0.35:
        tx.issues.close(
            repo.id,
            issue.number,
            actor_id=curator.id,
            reason=rng.choice(("completed", "completed", "not_planned")),
        )
    return comments, reactions


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def run_demo(url: str, out: TextIO, *, database: str = "forge_demo", issues: int = 3000) -> None:
    """Build the demo and print a short tour of it."""
    summary = build_demo(url, database=database, issues=issues)
    print(
        f"\nbuilt in {summary.seconds:.1f} s: {summary.users} users, {summary.repositories} "
        f"repositories, {summary.issues} issues, {summary.comments} comments, "
        f"{summary.reactions} reactions",
        file=out,
    )
    print(f"DATABASE_URL={summary.url}\n", file=out)
    with ForgeDB.connect(summary.url, max_size=1) as db:
        bob = db.users.find_by_username("bob")
        eve = db.users.find_by_username("eve")
        assert bob is not None
        assert eve is not None
        repo = db.repositories.get("alice", "jj-forge", viewer_id=bob.id)
        counts = db.issues.counts(repo.id)
        print(f"{repo.full_name}: {counts.open} open, {counts.closed} closed issues", file=out)

        print('\nsearch "landing crash":', file=out)
        for hit in db.issues.search(repo.id, "landing crash", limit=5).items:
            print(f"  #{hit.number:<5} {hit.title}  (rank {hit.rank:.3f})", file=out)

        print("\nopen issues labelled bug, newest first (first page of 5):", file=out)
        page = db.issues.list(repo.id, labels=["bug"], limit=5)
        for issue in page.items:
            labels = ", ".join(label.name for label in issue.labels)
            print(
                f"  #{issue.number:<5} {issue.title}  [{labels}] {issue.comment_count} comments",
                file=out,
            )
        print(f"  next page cursor: {page.next_cursor}", file=out)

        print(
            f"\n{bob.username}'s unread notifications: "
            f"{db.collaboration.notifications.unread_count(viewer_id=bob.id)}",
            file=out,
        )
        for note in db.collaboration.notifications.list(viewer_id=bob.id, limit=5).items:
            print(
                f"  {note.reason:<10} {note.repository}#{note.issue_number}: {note.issue_title}"
                f" (by {note.actor})",
                file=out,
            )

        private = db.repositories.list_for_owner("alice", viewer_id=eve.id)
        print(
            f"\n{eve.username} sees {len(private.items)} of alice's repositories "
            "(the private one is invisible to her)",
            file=out,
        )
