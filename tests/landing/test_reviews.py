"""db.landing.reviews: reviews, stale approvals, drafts, line comments and threads, summaries."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from forge_db import Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.landing import PullRequest

from .conftest import World, commit_id, submit


def _pull(fdb: ForgeDB, world: World, **options: Any) -> PullRequest:
    return fdb.landing.open_pull_request(
        world.repo.id,
        actor_id=options.pop("actor_id", world.writer.id),
        title="a pull request",
        head_ref="feature",
        base_ref="main",
        head_commit_id=options.pop("head_commit_id", commit_id()),
        **options,
    )


def _notified(conn: psycopg.Connection[Any], user_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT reason, landing_id IS NOT NULL, pull_request_id IS NOT NULL FROM notifications"
        " WHERE user_id = %s ORDER BY id",
        (user_id,),
    ).fetchall()


def test_an_approval_counts_until_the_change_is_rewritten(fdb: ForgeDB, world: World) -> None:
    fdb.repositories.protection.set(
        world.repo.id, actor_id=world.owner.id, pattern="main", required_approvals=1
    )
    request = submit(fdb, world.repo, world.writer)
    review = fdb.landing.review(
        world.repo.id, request.number, actor_id=world.owner.id, state="approved"
    )
    assert (review.commit_id, review.stale) == (request.commit_id, False)
    summary = fdb.landing.reviews.summary(world.repo.id, request.number)
    assert (summary.approvals, summary.stale_approvals, summary.ready) == (1, 0, True)
    fdb.landing.requests.update_commit(
        world.repo.id, request.number, actor_id=world.writer.id, commit_id=commit_id()
    )
    summary = fdb.landing.reviews.summary(world.repo.id, request.number)
    assert (summary.approvals, summary.stale_approvals, summary.ready) == (0, 1, False)
    (listed,) = fdb.landing.reviews.list(world.repo.id, request.number)
    assert (listed.state, listed.stale) == ("approved", True)
    assert fdb.landing.claim("w", 60) is None


def test_a_rule_that_dismisses_stale_approvals_dismisses_them(fdb: ForgeDB, world: World) -> None:
    fdb.repositories.protection.set(
        world.repo.id,
        actor_id=world.owner.id,
        pattern="main",
        required_approvals=1,
        dismiss_stale_approvals=True,
    )
    request = submit(fdb, world.repo, world.writer)
    fdb.landing.review(world.repo.id, request.number, actor_id=world.owner.id, state="approved")
    fdb.landing.requests.update_commit(
        world.repo.id, request.number, actor_id=world.writer.id, commit_id=commit_id()
    )
    (listed,) = fdb.landing.reviews.list(world.repo.id, request.number)
    assert listed.state == "dismissed"


def test_only_the_latest_non_dismissed_review_of_each_reviewer_counts(
    fdb: ForgeDB, world: World
) -> None:
    fdb.repositories.protection.set(
        world.repo.id, actor_id=world.owner.id, pattern="main", required_approvals=1
    )
    request = submit(fdb, world.repo, world.writer)
    reviews = fdb.landing.reviews
    reviews.review(world.repo.id, request.number, actor_id=world.owner.id, state="approved")
    blocking = reviews.review(
        world.repo.id, request.number, actor_id=world.owner.id, state="changes_requested"
    )
    summary = reviews.summary(world.repo.id, request.number)
    assert (summary.approvals, summary.changes_requested, summary.ready) == (0, 1, False)
    reviews.dismiss(world.repo.id, blocking.id, actor_id=world.owner.id)
    summary = reviews.summary(world.repo.id, request.number)
    assert (summary.approvals, summary.changes_requested, summary.ready) == (1, 0, True)


def test_approving_needs_write_and_never_ones_own_change(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    with pytest.raises(PermissionDenied):
        fdb.landing.review(
            world.repo.id, request.number, actor_id=world.reader.id, state="approved"
        )
    with pytest.raises(PermissionDenied):
        fdb.landing.review(
            world.repo.id, request.number, actor_id=world.writer.id, state="approved"
        )
    commented = fdb.landing.review(
        world.repo.id, request.number, actor_id=world.reader.id, state="commented", body="hm"
    )
    assert commented.state == "commented"
    with pytest.raises(NotFound):
        fdb.landing.review(
            world.private.id, request.number, actor_id=world.stranger.id, state="commented"
        )


def test_a_landing_review_cannot_be_a_draft(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    with pytest.raises(InvalidInput) as refused:
        fdb.landing.review(world.repo.id, request.number, actor_id=world.owner.id, state="pending")
    assert refused.value.field == "state"


def test_a_draft_review_is_seen_by_its_author_only_until_submitted(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    pull = _pull(fdb, world)
    reviews = fdb.landing.reviews
    draft = reviews.review(
        world.repo.id, pull.number, actor_id=world.owner.id, state="pending", kind="pull"
    )
    note = reviews.comment_line(
        world.repo.id,
        pull.number,
        actor_id=world.owner.id,
        kind="pull",
        path="src/a.rs",
        line=3,
        body="rename this",
        review_id=draft.id,
    )
    for viewer in (world.writer.id, world.reader.id, None):
        assert reviews.list(world.repo.id, pull.number, kind="pull", viewer_id=viewer) == []
        page = reviews.comments(world.repo.id, pull.number, kind="pull", viewer_id=viewer)
        assert page.items == []
    own = reviews.list(world.repo.id, pull.number, kind="pull", viewer_id=world.owner.id)
    assert [r.id for r in own] == [draft.id]
    own_notes = reviews.comments(world.repo.id, pull.number, kind="pull", viewer_id=world.owner.id)
    assert [c.id for c in own_notes.items] == [note.id]
    assert _notified(conn, world.writer.id) == []  # a draft tells no one
    with pytest.raises(NotFound):
        reviews.submit(world.repo.id, draft.id, actor_id=world.writer.id, state="approved")
    submitted = reviews.submit(world.repo.id, draft.id, actor_id=world.owner.id, state="approved")
    assert submitted.state == "approved"
    seen = reviews.list(world.repo.id, pull.number, kind="pull", viewer_id=world.reader.id)
    assert [r.id for r in seen] == [draft.id]
    assert _notified(conn, world.writer.id) == [("author", False, True)]


def test_line_comments_thread_by_reply_and_resolve_and_reopen(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    reviews = fdb.landing.reviews
    root = fdb.landing.comment_line(
        world.repo.id,
        request.number,
        actor_id=world.reader.id,
        path="src/lib.rs",
        line=10,
        side="old",
        body="why?",
    )
    assert (root.commit_id, root.path, root.line, root.side) == (
        request.commit_id,
        "src/lib.rs",
        10,
        "old",
    )
    reply = reviews.comment_line(
        world.repo.id, request.number, actor_id=world.writer.id, in_reply_to=root.id, body="because"
    )
    deeper = reviews.comment_line(
        world.repo.id, request.number, actor_id=world.reader.id, in_reply_to=reply.id, body="ok"
    )
    assert reply.in_reply_to_id == root.id
    assert deeper.in_reply_to_id == root.id
    assert (reply.path, reply.line, reply.side) == ("src/lib.rs", 10, "old")
    assert reviews.summary(world.repo.id, request.number).unresolved_threads == 1
    with pytest.raises(PermissionDenied):
        fdb.landing.resolve_thread(world.repo.id, root.id, actor_id=world.stranger.id)
    resolved = fdb.landing.resolve_thread(world.repo.id, deeper.id, actor_id=world.reader.id)
    assert resolved.id == root.id
    assert resolved.resolved_at is not None
    summary = reviews.summary(world.repo.id, request.number)
    assert (summary.comments, summary.unresolved_threads) == (3, 0)
    reopened = fdb.landing.resolve_thread(
        world.repo.id, root.id, actor_id=world.writer.id, resolved=False
    )
    assert reopened.resolved_at is None


def test_a_comment_that_is_no_reply_needs_an_anchor(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    with pytest.raises(InvalidInput) as refused:
        fdb.landing.comment_line(world.repo.id, request.number, actor_id=world.reader.id, body="x")
    assert refused.value.field == "path"


def test_a_reply_cannot_reach_a_thread_of_another_request(fdb: ForgeDB, world: World) -> None:
    one = submit(fdb, world.repo, world.writer)
    other = submit(fdb, world.repo, world.writer)
    root = fdb.landing.comment_line(
        world.repo.id, one.number, actor_id=world.reader.id, path="a", line=1, body="x"
    )
    with pytest.raises(NotFound):
        fdb.landing.comment_line(
            world.repo.id, other.number, actor_id=world.reader.id, in_reply_to=root.id, body="y"
        )


def test_reviews_and_mentions_notify_readers_only(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    request = submit(fdb, world.private, world.writer)
    fdb.landing.review(
        world.private.id,
        request.number,
        actor_id=world.owner.id,
        state="commented",
        body=f"@{world.reader.username} @{world.stranger.username} have a look",
    )
    fdb.landing.comment_line(
        world.private.id,
        request.number,
        actor_id=world.reader.id,
        path="a",
        line=1,
        body=f"@{world.stranger.username} too",
    )
    assert _notified(conn, world.writer.id) == [("author", True, False), ("comment", True, False)]
    assert _notified(conn, world.reader.id) == [("mention", True, False)]
    assert _notified(conn, world.stranger.id) == []


def test_review_requests_of_a_finished_request_are_refused(fdb: ForgeDB, world: World) -> None:
    request = submit(fdb, world.repo, world.writer)
    fdb.landing.cancel(world.repo.id, request.number, actor_id=world.writer.id)
    with pytest.raises(Conflict):
        fdb.landing.review(world.repo.id, request.number, actor_id=world.owner.id, state="approved")


def test_the_summary_reports_missing_statuses_and_conflicts(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    fdb.repositories.protection.set(
        world.repo.id,
        actor_id=world.owner.id,
        pattern="main",
        required_status_contexts=["ci/test", "ci/lint"],
    )
    request = submit(fdb, world.repo, world.writer)
    conn.execute(
        "INSERT INTO commit_statuses (repository_id, commit_id, context, state)"
        " VALUES (%s, %s, 'ci/lint', 'success')",
        (world.repo.id, request.commit_id),
    )
    summary = fdb.landing.reviews.summary(world.repo.id, request.number)
    assert summary.required_contexts == ["ci/lint", "ci/test"]
    assert (summary.passing_contexts, summary.missing_contexts) == (["ci/lint"], ["ci/test"])
    assert not summary.ready
    with pytest.raises(NotFound):
        fdb.landing.reviews.summary(world.private.id, request.number, viewer_id=world.stranger.id)


def test_a_review_request_tells_the_reviewers_who_can_read(
    fdb: ForgeDB, world: World, conn: psycopg.Connection[Any]
) -> None:
    request = submit(fdb, world.private, world.writer)
    told = fdb.landing.reviews.request_review(
        world.private.id,
        request.number,
        actor_id=world.writer.id,
        reviewer_ids=[world.reader.id, world.owner.id, world.stranger.id],
    )
    assert told == 2
    assert _notified(conn, world.reader.id) == [("review_requested", True, False)]
    assert _notified(conn, world.stranger.id) == []
    with pytest.raises(PermissionDenied):
        fdb.landing.reviews.request_review(
            world.private.id, request.number, actor_id=world.reader.id, reviewer_ids=[]
        )
