"""``forge-db demo``: build a small, realistic forge and show it working.

The demo lives in its own database (``forge_demo`` by default) on the chosen server, dropped and
rebuilt on every run, so it never touches an application's data: the database is marked as the
demo's when it is created, and the demo refuses to drop one without that mark, a system
database, or the database its URL points at.
"""

from __future__ import annotations

import getpass
import random
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, TextIO
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql as pgsql

from . import migrations
from .collaboration.models import Notification
from .config import parse_url, target_of, with_dbname
from .database import ForgeDB, Transaction
from .errors import Conflict, InvalidInput, translate
from .issues.models import IssueSummary
from .repositories.models import Repository
from .users.models import User

__all__ = ["DEMO_MARK", "DemoSummary", "build_demo", "count", "next_step", "run_demo", "url_form"]

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
    "notification fan-out",
    "search",
    "runner pool",
)
# No random title or remark says "crash": the search of the tour finds only SEARCH_SHOWCASE.
PROBLEMS: Final = (
    "fails on empty input",
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
# A third term per title, so that every title is distinct (12 x 12 x 24 = 3456 combinations).
CONTEXTS: Final = (
    "after a rebase",
    "on Windows",
    "on macOS",
    "in CI",
    "with 10,000 files",
    "behind a proxy",
    "for agent sessions",
    "since the last release",
    "on first run",
    "with a detached head",
    "over SSH",
    "with colocated git",
    "in nested directories",
    "with unicode paths",
    "when offline",
    "on a fresh clone",
    "with many bookmarks",
    "after an abandoned change",
    "on ARM",
    "with sparse checkouts",
    "on a slow disk",
    "with long commit messages",
    "with a shallow clone",
    "after an undo",
)
# The tour searches "landing crash": these issues match it, each less closely than the one
# before (the words nearer together, and in the body too), so their ranks are distinct.
SEARCH_QUERY: Final = "landing crash"
SEARCH_SHOWCASE: Final = (
    (
        "Landing queue crashes on an empty change",
        "The landing queue crashed twice today: a crash on every empty change.",
    ),
    ("Crash while landing a conflicted change", "Seen once."),
    ("Flaky landing: the runner pool crashes when the queue is long", "Nothing in the logs."),
    ("Landing bot retries forever after a runner crash", ""),
    ("Docs: explain what the landing queue does with a change after a crash of its runner", ""),
)
# Why a notification was sent, as its reader would put it (notifications.reason).
REASONS: Final = {
    "mention": "you were mentioned",
    "assign": "you are assigned",
    "author": "you opened it",
    "comment": "you commented on it",
    "subscribed": "you watch the repository",
    "state_change": "it was closed or reopened",
    "review_requested": "your review was requested",
    "landing": "a landing you queued",
    "security": "a security report",
}
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
    showcase = list(SEARCH_SHOWCASE[:total])
    titles = _titles(rng, total - len(showcase))
    for start in range(0, total, 100):
        with db.transaction() as tx:
            for _ in range(min(100, total - start)):
                if showcase:  # first, in the main repository
                    (title, body), target = showcase.pop(0), repos[0]
                else:
                    title, body, target = next(titles), None, rng.choices(repos, weights)[0]
                comments_added, reactions_added = _one_issue(
                    tx, rng, target, users, names, title, body
                )
                comments += comments_added
                reactions += reactions_added
        bar.advance(min(100, total - start))
    return len(users), len(repos), total, comments, reactions


def _titles(rng: random.Random, count: int) -> Iterator[str]:
    """``count`` distinct titles: a shuffle of every combination, then numbered repeats."""
    combinations = [
        f"{_sentence_case(component)} {problem} {context}"
        for component in COMPONENTS
        for problem in PROBLEMS
        for context in CONTEXTS
    ]
    rng.shuffle(combinations)
    for i in range(count):
        title = combinations[i % len(combinations)]
        yield title if i < len(combinations) else f"{title} (report {i // len(combinations) + 1})"


def _one_issue(
    tx: Transaction,
    rng: random.Random,
    repo: Repository,
    users: dict[str, User],
    names: list[str],
    title: str,
    body: str | None,
) -> tuple[int, int]:
    author = users[rng.choice(names if not repo.private else ["alice", "bob"])]
    mentioned = rng.choice(names)
    if body is None:
        remark = rng.choice(REMARKS)
        body = f"{remark}\n\ncc @{mentioned}" if rng.random() < 0.4 else remark
    labels = rng.sample([name for name, _ in LABELS], rng.choice((0, 1, 1, 2)))
    curator = users["alice"] if repo.owner_id == users["alice"].id else users["bob"]
    issue = tx.issues.create(
        repo.id,
        actor_id=curator.id if labels else author.id,
        title=title,
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


_IRREGULAR: Final = {"repository": "repositories"}


def count(number: int, noun: str) -> str:
    """``number`` and ``noun``, in the plural unless it is one: "1 comment", "2 comments"."""
    *rest, last = noun.split(" ")
    plural = _IRREGULAR.get(last, last + "s")
    return f"{number:,} " + " ".join([*rest, last if number == 1 else plural])


def _listed(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def url_form(url: str) -> tuple[str, bool]:
    """``url`` as a ``postgresql://`` URL to paste into ``export DATABASE_URL=`` or ``psql``.

    A ``key=value`` string is rewritten; the ``connect_timeout`` the CLI adds is dropped (psql
    and forge_db have their own), and so is a password, so that it never lands in a terminal's
    scrollback or a log: the second value says whether one was left out.
    """
    info = {k: str(v) for k, v in parse_url(url).items() if v not in (None, "")}
    info.pop("connect_timeout", None)
    had_password = info.pop("password", None) is not None
    user, host, port = info.pop("user", None), info.pop("host", None), info.pop("port", None)
    dbname = info.pop("dbname", None)
    netloc = f"{quote(user, safe='')}@" if user else ""
    query: dict[str, str] = {}
    if host and not host.startswith("/") and "," not in host:
        netloc += f"[{host}]" if ":" in host else quote(host, safe="")
        netloc += f":{port}" if port else ""
    else:  # a unix socket directory, or several hosts: libpq reads them from the query
        query.update({"host": host} if host else {})
        query.update({"port": port} if port else {})
    query.update(sorted(info.items()))
    path = f"/{quote(dbname, safe='')}" if dbname else ""
    tail = f"?{urlencode(query, safe='/,', quote_via=quote)}" if query else ""
    return f"postgresql://{netloc}{path}{tail}", had_password


def run_demo(url: str, out: TextIO, *, database: str = "forge_demo", issues: int = 3000) -> None:
    """Build the demo and print a short tour of it, ending with how to open it yourself."""
    summary = build_demo(url, database=database, issues=issues)
    print(
        f"\nbuilt in {summary.seconds:.1f} s: {count(summary.users, 'user')}, "
        f"{count(summary.repositories, 'repository')}, {count(summary.issues, 'issue')}, "
        f"{count(summary.comments, 'comment')}, {count(summary.reactions, 'reaction')}",
        file=out,
    )
    with ForgeDB.connect(summary.url, max_size=1) as db:
        bob = db.users.find_by_username("bob")
        eve = db.users.find_by_username("eve")
        assert bob is not None
        assert eve is not None
        repo = db.repositories.get("alice", "jj-forge", viewer_id=bob.id)
        counts = db.issues.counts(repo.id)
        print(
            f"\n{repo.full_name}: {count(counts.open, 'open issue')}, {counts.closed:,} closed",
            file=out,
        )
        _tour_search(db, repo, out)
        _tour_pages(db, repo, out)
        _tour_notifications(db, bob, out)
        private = db.repositories.list_for_owner("alice", viewer_id=eve.id)
        print(
            f"\n{eve.username} sees {len(private.items)} of alice's repositories "
            "(the private one is invisible to her)",
            file=out,
        )
    next_step(summary.url, out)


def _tour_search(db: ForgeDB, repo: Repository, out: TextIO) -> None:
    print(f'\nsearch "{SEARCH_QUERY}", best match first:', file=out)
    for hit in db.issues.search(repo.id, SEARCH_QUERY, limit=5).items:
        print(f"  #{hit.number:<5} {hit.title}  (rank {hit.rank:.3f})", file=out)


def _tour_pages(db: ForgeDB, repo: Repository, out: TextIO) -> None:
    print("\nopen issues labelled bug, newest first, 5 a page:", file=out)
    page = db.issues.list(repo.id, labels=["bug"], limit=5)
    _print_issues("page 1", page.items, out)
    if page.next_cursor is None:
        print("  (no page 2: page 1 held them all)", file=out)
        return
    # The cursor carries the last row's key: page 2 starts after it, however many rows
    # were added in between, and costs the same as page 1.
    page = db.issues.list(repo.id, labels=["bug"], limit=5, cursor=page.next_cursor)
    _print_issues("page 2, from page 1's next_cursor", page.items, out)


def _print_issues(heading: str, items: list[IssueSummary], out: TextIO) -> None:
    print(f"  {heading}:", file=out)
    if not items:
        print("    (none)", file=out)
    for issue in items:
        labels = ", ".join(label.name for label in issue.labels)
        print(
            f"    #{issue.number:<5} {issue.title}  [{labels}] "
            f"{count(issue.comment_count, 'comment')}",
            file=out,
        )


def _tour_notifications(db: ForgeDB, user: User, out: TextIO, *, shown: int = 5) -> None:
    unread = db.collaboration.notifications.unread_count(viewer_id=user.id)
    latest = db.collaboration.notifications.list(viewer_id=user.id, unread_only=True, limit=100)
    # One notification per event, several per issue: a reader wants one line per issue.
    by_issue: dict[tuple[str, int | None], list[Notification]] = {}
    for note in latest.items:
        by_issue.setdefault((note.repository, note.issue_number), []).append(note)
    heading = f"\n{user.username}'s unread notifications: {unread:,}"
    if len(by_issue) > shown:
        heading += (
            f". By issue, the {shown} most recent of the {count(len(by_issue), 'issue')} "
            f"in the latest {count(len(latest.items), 'notification')}:"
        )
    elif by_issue:
        heading += ", by issue:"
    print(heading, file=out)
    for (repository, number), notes in list(by_issue.items())[:shown]:
        reasons = list(dict.fromkeys(REASONS.get(note.reason, note.reason) for note in notes))
        actors = sorted({note.actor for note in notes if note.actor})
        subject = f"{repository}#{number}" if number is not None else repository
        print(f"  {subject}: {notes[0].issue_title or ''}", file=out)
        print(
            f"      {count(len(notes), 'notification')}"
            + (f" from {_listed(actors)}" if actors else "")
            + f"; why: {'; '.join(reasons)}",
            file=out,
        )


def next_step(url: str, out: TextIO) -> None:
    """Print how to open the demo database: its `DATABASE_URL` to export, and `psql`."""
    form, had_password = url_form(url)
    print("\nnext: open the demo database yourself, from forge_db or psql:", file=out)
    print(f"  export DATABASE_URL={shlex.quote(form)}", file=out)
    if had_password:
        print("  export PGPASSWORD=...   # the password, left out of the URL above", file=out)
    print('  psql "$DATABASE_URL"', file=out)
    print(
        "(then try \\d+ issues in psql, or ForgeDB.connect() in Python, which reads DATABASE_URL)",
        file=out,
    )
