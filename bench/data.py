"""The benchmark's data set: users with live sessions, repositories, labels, issues by COPY."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

WORDS = [
    "parser",
    "crash",
    "landing",
    "queue",
    "bookmark",
    "conflict",
    "rebase",
    "workspace",
    "operation",
    "log",
    "snapshot",
    "agent",
    "runner",
    "timeout",
    "deadlock",
    "index",
    "search",
    "notification",
    "review",
    "change",
    "commit",
    "merge",
    "divergent",
    "change",
    "id",
    "prefix",
    "resolve",
    "error",
    "panic",
    "slow",
    "memory",
    "leak",
    "upload",
    "blob",
    "hash",
    "tree",
    "diff",
    "hunk",
    "editor",
    "terminal",
    "config",
    "secret",
    "token",
    "session",
    "wallet",
    "signature",
    "nonce",
    "domain",
]
LABELS = ("bug", "enhancement", "docs", "performance", "agent", "ui", "security", "infra")


@dataclass
class Dataset:
    """What the benchmark loaded, and the handles the workloads use."""

    user_ids: list[int]
    session_tokens: list[str]
    small_repos: list[int]
    list_repos: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _vocabulary(rng: random.Random, size: int = 20000) -> tuple[list[str], list[float]]:
    """Words and their cumulative Zipf-like weights (the forge's words among thousands)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(size)]
    for rank, word in enumerate(WORDS):
        words[50 + rank * 37] = word  # spread over the common-to-rare range
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(size)))
    return words, cumulative


_VOCABULARY: tuple[list[str], list[float]] | None = None


def _sentence(rng: random.Random, words: int) -> str:
    global _VOCABULARY
    if _VOCABULARY is None:
        _VOCABULARY = _vocabulary(random.Random(11))
    return " ".join(rng.choices(_VOCABULARY[0], cum_weights=_VOCABULARY[1], k=words))


def load(url: str, *, big_sizes: tuple[int, ...], seed: int = 7) -> Dataset:
    """Load users, sessions, 8 small repositories and one repository per size in ``big_sizes``."""
    started = time.monotonic()
    rng = random.Random(seed)
    with psycopg.connect(url, autocommit=True) as conn:
        user_ids = [
            row[0]
            for row in conn.execute(
                "INSERT INTO users (username, wallet_address) "
                "SELECT 'bench-' || n, '0x' || lpad(to_hex(n), 40, '0') "
                "FROM generate_series(1, 1000) AS n RETURNING id"
            )
        ]
        tokens = [secrets.token_urlsafe(32) for _ in range(2000)]
        now = datetime.now(UTC)
        with conn.cursor().copy(
            "COPY auth_sessions (user_id, token_digest, expires_at, absolute_expires_at, "
            "idle_timeout, created_at) FROM STDIN"
        ) as copy:
            for token in tokens:
                copy.write_row(
                    (
                        rng.choice(user_ids),
                        hashlib.sha256(token.encode()).digest(),
                        now + timedelta(days=6),
                        now + timedelta(days=30),
                        timedelta(days=7),
                        now,
                    )
                )
        owner = user_ids[0]
        small = [_repository(conn, owner, f"small-{n}") for n in range(8)]
        big = {}
        for size in big_sizes:
            repo = _repository(conn, owner, f"issues-{size}")
            _copy_issues(conn, rng, repo, size, user_ids)
            big[str(size)] = repo
        conn.execute("VACUUM ANALYZE")
        # Flush the load now, so its checkpoint does not land on a measured workload.
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")
    return Dataset(user_ids, tokens, small, big, time.monotonic() - started)


def _repository(conn: psycopg.Connection, owner: int, name: str) -> int:
    row = conn.execute(
        "INSERT INTO repositories (owner_id, name) VALUES (%s, %s) RETURNING id", (owner, name)
    ).fetchone()
    assert row is not None
    repo = int(row[0])
    conn.execute(
        "INSERT INTO labels (repository_id, name) SELECT %s, unnest(%s::text[])",
        (repo, list(LABELS)),
    )
    return repo


def _copy_issues(
    conn: psycopg.Connection, rng: random.Random, repo: int, count: int, users: list[int]
) -> None:
    """COPY ``count`` issues with labels and reactions; 80% open, 80% labelled bug."""
    start = datetime.now(UTC) - timedelta(seconds=count)
    with conn.transaction():
        # Bulk load: per-row counter triggers would serialise on one row; counts are set below.
        conn.execute("SET LOCAL session_replication_role = replica")
        with conn.cursor().copy(
            "COPY issues (repository_id, number, author_id, title, body, state, close_reason, "
            "closed_at, created_at, updated_at) FROM STDIN"
        ) as copy:
            for n in range(1, count + 1):
                created = start + timedelta(seconds=n)
                closed = rng.random() < 0.2
                copy.write_row(
                    (
                        repo,
                        n,
                        rng.choice(users),
                        _sentence(rng, 6).capitalize(),
                        _sentence(rng, 30),
                        "closed" if closed else "open",
                        "completed" if closed else None,
                        created if closed else None,
                        created,
                        created,
                    )
                )
        conn.execute(
            """
            INSERT INTO issue_labels (repository_id, issue_id, label_id)
            SELECT i.repository_id, i.id, l.id
            FROM issues i JOIN labels l ON l.repository_id = i.repository_id
            WHERE i.repository_id = %(repo)s
              AND ((l.name = 'bug' AND hashint4(i.number::int) %% 5 <> 0)
                   OR (l.name <> 'bug' AND hashint4(i.number::int + l.id::int) %% 7 = 0))
            """,
            {"repo": repo},
        )
        conn.execute(
            """
            INSERT INTO reactions (repository_id, issue_id, user_id, emoji)
            SELECT i.repository_id, i.id, %(user)s, e
            FROM issues i, unnest(ARRAY['+1', 'heart']) AS e
            WHERE i.repository_id = %(repo)s AND i.number %% 3 = 0
            """,
            {"repo": repo, "user": users[1]},
        )
        conn.execute(
            """
            INSERT INTO issue_counters (repository_id, last_number, open_issue_count, closed_issue_count)
            SELECT %(repo)s, max(number), count(*) FILTER (WHERE state = 'open'),
                   count(*) FILTER (WHERE state = 'closed')
            FROM issues WHERE repository_id = %(repo)s
            ON CONFLICT (repository_id) DO UPDATE SET last_number = EXCLUDED.last_number,
                open_issue_count = EXCLUDED.open_issue_count,
                closed_issue_count = EXCLUDED.closed_issue_count
            """,
            {"repo": repo},
        )
