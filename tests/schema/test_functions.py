"""Server-side functions and the triggers that keep derived values exact."""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
import pytest
from schema_factories import comment, issue, repository, user

Conn = psycopg.Connection[Any]


def _counts(conn: Conn, repository_id: int) -> tuple[int, int]:
    row = conn.execute(
        "SELECT open_issue_count, closed_issue_count FROM issue_counters WHERE repository_id = %s",
        (repository_id,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _close(conn: Conn, issue_id: int) -> None:
    conn.execute(
        "UPDATE issues SET state = 'closed', close_reason = 'completed', closed_at = now() WHERE id = %s",
        (issue_id,),
    )


def _reopen(conn: Conn, issue_id: int) -> None:
    conn.execute(
        "UPDATE issues SET state = 'open', close_reason = NULL, closed_at = NULL WHERE id = %s",
        (issue_id,),
    )


# --- UUIDv7 ----------------------------------------------------------------------------------


def test_uuid_generate_v7_sets_version_7_and_the_rfc_variant(conn: Conn) -> None:
    ids = [
        row[0] for row in conn.execute("SELECT uuid_generate_v7() FROM generate_series(1, 1000)")
    ]
    assert all(isinstance(i, uuid.UUID) and i.version == 7 for i in ids)
    assert all(i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == len(ids)


def test_uuid_generate_v7_carries_the_current_unix_time_in_milliseconds(conn: Conn) -> None:
    # Bracketed by the clock read just before and just after: no window to tune, however
    # slowly a loaded server runs the statement.
    row = conn.execute(
        """
        SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint,
               uuid_generate_v7(),
               ceil(extract(epoch FROM clock_timestamp()) * 1000)::bigint
        """
    ).fetchone()
    assert row is not None
    before_ms, generated, after_ms = row
    assert before_ms <= generated.int >> 80 <= after_ms


def test_uuid_generate_v7_is_time_ordered(conn: Conn) -> None:
    # Within a statement: the time fields (48-bit ms + 12-bit fraction) never go backwards.
    ids = [
        row[0] for row in conn.execute("SELECT uuid_generate_v7() FROM generate_series(1, 2000)")
    ]
    stamps = [(i.int >> 80, (i.int >> 64) & 0xFFF) for i in ids]
    assert stamps == sorted(stamps)
    # Across statements a few milliseconds apart: strictly increasing, as uuid values too.
    spaced = []
    for _ in range(5):
        row = conn.execute("SELECT uuid_generate_v7()").fetchone()
        assert row is not None
        spaced.append(row[0])
        time.sleep(0.002)
    assert spaced == sorted(spaced)
    assert len(set(spaced)) == 5


# --- updated_at ------------------------------------------------------------------------------


def test_updated_at_moves_on_update_and_created_at_stays(conn: Conn) -> None:
    alice = user(conn)
    before = conn.execute(
        "SELECT created_at, updated_at FROM users WHERE id = %s", (alice,)
    ).fetchone()
    conn.execute("UPDATE users SET display_name = 'Alice' WHERE id = %s", (alice,))
    after = conn.execute(
        "SELECT created_at, updated_at FROM users WHERE id = %s", (alice,)
    ).fetchone()
    assert before is not None
    assert after is not None
    assert after[0] == before[0]
    assert after[1] > before[1]


# --- issue counters --------------------------------------------------------------------------


def test_comment_count_follows_inserts_soft_deletes_and_deletes(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    target = issue(conn, repo)

    def count() -> int:
        row = conn.execute("SELECT comment_count FROM issues WHERE id = %s", (target,)).fetchone()
        assert row is not None
        return int(row[0])

    notes = [comment(conn, repo, target) for _ in range(3)]
    assert count() == 3
    conn.execute("UPDATE comments SET deleted_at = now(), body = '' WHERE id = %s", (notes[0],))
    assert count() == 2
    conn.execute(
        "UPDATE comments SET body = 'edited', edited_at = now() WHERE id = %s", (notes[1],)
    )
    assert count() == 2
    conn.execute("DELETE FROM comments WHERE id = %s", (notes[0],))  # a tombstone: not counted
    assert count() == 2
    conn.execute("DELETE FROM comments WHERE id = %s", (notes[1],))
    assert count() == 1


def test_open_and_closed_counts_follow_the_issue_lifecycle(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    issues = [issue(conn, repo) for _ in range(4)]
    assert _counts(conn, repo) == (4, 0)
    _close(conn, issues[0])
    _close(conn, issues[1])
    assert _counts(conn, repo) == (2, 2)
    _reopen(conn, issues[1])
    assert _counts(conn, repo) == (3, 1)
    conn.execute("DELETE FROM issues WHERE id = ANY(%s)", ([issues[0], issues[2]],))
    assert _counts(conn, repo) == (2, 0)
    conn.execute("UPDATE issues SET title = 'renamed' WHERE id = %s", (issues[3],))
    assert _counts(conn, repo) == (2, 0)


def test_issue_counts_follow_a_transfer_between_repositories(conn: Conn) -> None:
    alice = user(conn)
    here, there = repository(conn, alice), repository(conn, alice)
    moved = issue(conn, here)
    issue(conn, there)
    conn.execute(
        "UPDATE issues SET repository_id = %(t)s, number = get_next_issue_number(%(t)s) WHERE id = %(i)s",
        {"t": there, "i": moved},
    )
    assert (_counts(conn, here), _counts(conn, there)) == ((0, 0), (2, 0))


def test_an_issue_inserted_with_its_own_number_creates_and_raises_the_counter(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    conn.execute(
        "INSERT INTO issues (repository_id, number, title) VALUES (%s, 7, 'imported')", (repo,)
    )
    assert _counts(conn, repo) == (1, 0)
    row = conn.execute("SELECT get_next_issue_number(%s)", (repo,)).fetchone()
    assert row == (8,)


def test_deleting_a_repository_with_issues_and_counters_succeeds(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    target = issue(conn, repo)
    comment(conn, repo, target)
    conn.execute("DELETE FROM repositories WHERE id = %s", (repo,))
    row = conn.execute(
        "SELECT count(*) FROM issue_counters WHERE repository_id = %s", (repo,)
    ).fetchone()
    assert row == (0,)


def test_check_issue_counts_reports_injected_drift(conn: Conn) -> None:
    alice = user(conn)
    drifted, missing, healthy = (repository(conn, alice) for _ in range(3))
    for repo in (drifted, missing, healthy):
        issue(conn, repo)
    _close(conn, issue(conn, drifted))
    assert conn.execute("SELECT * FROM check_issue_counts()").fetchall() == []

    conn.execute(
        "UPDATE issue_counters SET open_issue_count = 5 WHERE repository_id = %s", (drifted,)
    )
    conn.execute("DELETE FROM issue_counters WHERE repository_id = %s", (missing,))
    rows = conn.execute("SELECT * FROM check_issue_counts() ORDER BY 1").fetchall()
    assert rows == [(drifted, 5, 1, 1, 1), (missing, 0, 0, 1, 0)]
    one = conn.execute("SELECT * FROM check_issue_counts(%s)", (drifted,)).fetchall()
    assert one == [(drifted, 5, 1, 1, 1)]
    assert conn.execute("SELECT * FROM check_issue_counts(%s)", (healthy,)).fetchall() == []


# --- permission ------------------------------------------------------------------------------


def test_repository_access_level_follows_ownership_roles_and_visibility(conn: Conn) -> None:
    owner, admin, writer, reader, stranger = (user(conn) for _ in range(5))
    public, private = repository(conn, owner), repository(conn, owner, private=True)
    for repo in (public, private):
        conn.execute(
            "INSERT INTO repository_collaborators (repository_id, user_id, role)"
            " VALUES (%(r)s, %(a)s, 'admin'), (%(r)s, %(w)s, 'write'), (%(r)s, %(rd)s, 'read')",
            {"r": repo, "a": admin, "w": writer, "rd": reader},
        )

    def levels(repo: int) -> list[int]:
        viewers = [owner, admin, writer, reader, stranger, None]
        return [
            conn.execute("SELECT repository_access_level(%s, %s)", (repo, viewer)).fetchone()[0]  # type: ignore[index]
            for viewer in viewers
        ]

    assert levels(public) == [3, 3, 2, 1, 1, 1]
    assert levels(private) == [3, 3, 2, 1, 0, 0]
    readable = conn.execute(
        "SELECT can_read_repository(%s, %s), can_read_repository(%s, NULL), can_read_repository(%s, %s)",
        (private, reader, private, private, stranger),
    ).fetchone()
    assert readable == (True, False, False)
    assert conn.execute("SELECT repository_access_level(-1, %s)", (owner,)).fetchone() == (0,)


def test_an_inactive_user_gets_nothing_beyond_public_read(conn: Conn) -> None:
    owner, writer = user(conn), user(conn)
    public, private = repository(conn, owner), repository(conn, owner, private=True)
    for repo in (public, private):
        conn.execute(
            "INSERT INTO repository_collaborators (repository_id, user_id, role) VALUES (%s, %s, 'write')",
            (repo, writer),
        )
    conn.execute("UPDATE users SET active = false WHERE id = ANY(%s)", ([owner, writer],))
    rows = conn.execute(
        "SELECT repository_access_level(r, u) FROM unnest(%s::bigint[]) AS r, unnest(%s::bigint[]) AS u"
        " ORDER BY r, u",
        ([public, private], [owner, writer]),
    ).fetchall()
    assert [r[0] for r in rows] == [1, 1, 0, 0]


def test_repository_guard_refuses_with_the_error_the_actor_may_see(conn: Conn) -> None:
    owner, reader, stranger = user(conn), user(conn), user(conn)
    repo = repository(conn, owner, private=True)
    conn.execute(
        "INSERT INTO repository_collaborators (repository_id, user_id, role) VALUES (%s, %s, 'read')",
        (repo, reader),
    )

    def outcome(actor: int | None, level: int, write: bool = True) -> object:
        try:
            row = conn.execute(
                "SELECT repository_guard(%s, %s, %s::smallint, %s)", (repo, actor, level, write)
            ).fetchone()
        except psycopg.Error as exc:
            return exc.sqlstate
        assert row is not None
        return row[0]

    assert [outcome(stranger, 1), outcome(None, 1), outcome(reader, 2), outcome(reader, 1)] == [
        "FDN01",
        "FDN01",
        "FDP01",
        repo,
    ]
    conn.execute("UPDATE repositories SET archived = true WHERE id = %s", (repo,))
    assert [outcome(owner, 3), outcome(owner, 3, write=False)] == ["FDC01", repo]


def test_raise_error_raises_only_when_reached(conn: Conn) -> None:
    row = conn.execute(
        "SELECT coalesce(1, raise_error('FDN01', 'never')), CASE WHEN false THEN raise_error('FDC01', 'no') END"
    ).fetchone()
    assert row == (1, None)
    with pytest.raises(psycopg.Error) as info:
        conn.execute("SELECT coalesce(NULL::bigint, raise_error('FDN01', 'issue #7 not found'))")
    assert (info.value.sqlstate, info.value.diag.message_primary) == ("FDN01", "issue #7 not found")


# --- repositories and refs -------------------------------------------------------------------


def test_a_renamed_repository_keeps_resolving_until_the_name_is_reused(conn: Conn) -> None:
    alice = user(conn)
    repo = repository(conn, alice, "Old-Name")
    conn.execute("UPDATE repositories SET name = 'new-name' WHERE id = %s", (repo,))
    resolve = "SELECT repository_id FROM repository_redirects WHERE owner_id = %s AND lower(old_name) = lower(%s)"
    assert conn.execute(resolve, (alice, "old-name")).fetchall() == [(repo,)]
    reused = repository(conn, alice, "OLD-NAME")
    assert reused != repo
    assert conn.execute(resolve, (alice, "old-name")).fetchall() == []


def test_branch_patterns_are_globs_over_path_segments(conn: Conn) -> None:
    cases = [
        ("main", "main", True),
        ("release/*", "release/1.0", True),
        ("release/*", "release/1.0/hotfix", False),
        ("release/**", "release/1.0/hotfix", True),
        ("v?.x", "v1.x", True),
        ("v?.x", "v10.x", False),
        ("a.b", "axb", False),  # '.' is literal, not a regex wildcard
        ("feat-(x)", "feat-(x)", True),
    ]
    for pattern, name, expected in cases:
        row = conn.execute("SELECT branch_pattern_matches(%s, %s)", (pattern, name)).fetchone()
        assert row == (expected,), (pattern, name)


# --- event bus -------------------------------------------------------------------------------


def test_publishing_an_event_queues_a_delivery_per_matching_subscription(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    conn.execute(
        "INSERT INTO event_subscriptions (name, topic_pattern, repository_id, active) VALUES"
        " ('all', '*', NULL, true), ('issues', 'issues.*', NULL, true),"
        " ('exact', 'issues.created', NULL, true), ('other-repo', 'issues.*', %s, true),"
        " ('landing', 'landing.*', NULL, true), ('paused', '*', NULL, false)",
        (repository(conn, user(conn)),),
    )
    row = conn.execute(
        "INSERT INTO events (topic, repository_id, payload) VALUES ('issues.created', %s, '{}') RETURNING id",
        (repo,),
    ).fetchone()
    assert row is not None
    names = conn.execute(
        "SELECT s.name FROM event_deliveries d JOIN event_subscriptions s ON s.id = d.subscription_id"
        " WHERE d.event_id = %s AND d.state = 'pending' ORDER BY s.name",
        (row[0],),
    ).fetchall()
    assert [n[0] for n in names] == ["all", "exact", "issues"]
