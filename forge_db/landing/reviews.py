"""``db.landing.reviews``: reviews and line comments of landing requests and pull requests.

One module serves both, from an allow-list of their tables (``landing_reviews`` and
``landing_line_comments`` for landing requests, ``reviews`` and ``review_comments`` for pull
requests): the seed's tables stay apart, the rules are written once. A request or pull request
is found by its number (one sequence numbers both) and ``kind``.

Anyone who can read the repository may comment; approving or requesting changes needs the write
role, and an author cannot approve their own change. Only the latest non-dismissed review of
each reviewer counts; an approval of an older commit is stale. A pending review (pull requests
only) is a draft that only its author sees, with its line comments, until it is submitted.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Final, Literal

from ..access import author_or_role, guard, readable
from ..collaboration.fanout import fan_out
from ..errors import InvalidInput
from ..inputs import Body, CommitId, Cursor, Flag, Id, IdList, Limit, Text
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, many, one, read, scalar, write
from ..text import extract_mentions
from .models import FilePath, LineComment, LineNumber, Review, ReviewKind, ReviewSummary, Side

__all__ = ["CommentBody", "ReviewState", "Reviews"]

ReviewState = Literal["commented", "approved", "changes_requested", "pending"]
SubmittedState = Literal["commented", "approved", "changes_requested"]
CommentBody = Annotated[str, Text(65536, min_length=1, strip=True, sample="looks good")]


@dataclass(frozen=True)
class _Kind:
    target: str  # the reviewed table
    reviews: str
    comments: str
    key: str  # the foreign key of reviews and comments to the target
    commit: str  # the target's current commit
    open: str  # a condition on t: may still be reviewed
    readiness: str  # the schema function that tallies reviews, checks and conflicts
    link: str  # the notification column that points at the target


_KINDS: Final = {
    "landing": _Kind(
        "landing_queue", "landing_reviews", "landing_line_comments", "landing_id", "commit_id",
        "t.state IN ('queued', 'running')", "landing_readiness", "landing",
    ),
    "pull": _Kind(
        "pull_requests", "reviews", "review_comments", "pull_request_id", "head_commit_id",
        "t.state = 'open'", "pull_request_readiness", "pull_request",
    ),
}  # fmt: skip
_COMMENTS_ORDER: Final = Keyset(LineComment, "id")


def _review_columns(k: _Kind, r: str = "r", t: str = "t", u: str = "u") -> str:
    return f"""
        {r}.id, {r}.repository_id, '{"landing" if k.target == "landing_queue" else "pull"}'::text AS kind,
        {t}.number, {r}.reviewer_id, {u}.username AS reviewer, {r}.state, {r}.body, {r}.commit_id,
        ({r}.state = 'approved' AND {r}.commit_id IS DISTINCT FROM {t}.{k.commit}) AS stale,
        {r}.created_at, {r}.updated_at"""


def _comment_columns(k: _Kind, c: str = "c", t: str = "t", u: str = "u") -> str:
    return f"""
        {c}.id, {c}.repository_id, '{"landing" if k.target == "landing_queue" else "pull"}'::text AS kind,
        {t}.number, {c}.review_id, {c}.in_reply_to_id, {c}.author_id, {u}.username AS author,
        {c}.commit_id, {c}.path, {c}.line, {c}.side, {c}.body, {c}.resolved_at, {c}.created_at,
        {c}.updated_at"""


def _visible_comment(k: _Kind, c: str, viewer: str) -> str:
    """A condition: comment ``c`` is no part of someone else's draft review."""
    if k.target == "landing_queue":
        return "true"
    return f"""NOT EXISTS (SELECT 1 FROM reviews d
                       WHERE d.repository_id = {c}.repository_id AND d.id = {c}.review_id
                         AND d.state = 'pending' AND d.reviewer_id IS DISTINCT FROM {viewer})"""


def _notify(k: _Kind, subject: str, told: str) -> str:
    """The candidates and the fan-out of a review or comment: mentions, then the author."""
    return f"""candidates AS (
                SELECT u.id AS user_id, 'mention' AS reason, 1 AS priority
                FROM users u, {told} x
                WHERE lower(u.username) = ANY(%(mentions)s::text[])
                UNION ALL
                SELECT t.author_id, %(author_reason)s, 2 FROM {subject} t, {told} x
                WHERE t.author_id IS NOT NULL
            ), {fan_out(subject=subject, candidates="candidates", issue="NULL", **{k.link: "s.id"})}"""


@cache
def _review_sql(kind: str) -> str:
    k = _KINDS[kind]
    drafts = kind == "pull"
    submitted = ", submitted_at" if drafts else ""
    submitted_value = ", CASE WHEN %(state)s = 'pending' THEN NULL ELSE now() END" if drafts else ""
    return f"""
        WITH guard AS ({guard("read")}),
        t AS (
            SELECT t.* FROM {k.target} t, guard
            WHERE t.repository_id = guard.id AND t.number = %(number)s
        ), checked AS (
            SELECT t.id, t.repository_id, t.{k.commit} AS current_commit,
                   CASE WHEN NOT ({k.open})
                        THEN raise_error('FDC01', 'it is closed to reviews')
                        WHEN %(state)s IN ('approved', 'changes_requested')
                             AND NOT has_repository_role(t.repository_id, %(actor_id)s, 'write')
                        THEN raise_error('FDP01', 'approving or requesting changes needs the write role')
                        WHEN %(state)s = 'approved' AND t.author_id = %(actor_id)s
                        THEN raise_error('FDP01', 'an author cannot approve their own change')
                   END AS refused
            FROM t
        ), r AS (
            INSERT INTO {k.reviews} (repository_id, {k.key}, reviewer_id, state, body, commit_id{submitted})
            SELECT repository_id, id, %(actor_id)s, %(state)s, %(body)s,
                   coalesce(%(commit_id)s, current_commit){submitted_value}
            FROM checked
            RETURNING *
        ), told AS (SELECT 1 FROM r WHERE r.state <> 'pending'),
        {_notify(k, "t", "told")}
        SELECT {_review_columns(k)}
        FROM r JOIN t ON t.id = r.{k.key} LEFT JOIN users u ON u.id = r.reviewer_id
    """


@cache
def _request_sql(kind: str) -> str:
    k = _KINDS[kind]
    return f"""
        WITH guard AS ({guard("read")}),
        t AS (
            SELECT t.* FROM {k.target} t, guard
            WHERE t.repository_id = guard.id AND t.number = %(number)s
              AND {author_or_role("t", "request a review")}
        ), candidates AS (
            SELECT u.id AS user_id, 'review_requested' AS reason, 1 AS priority
            FROM users u, t WHERE u.id = ANY(%(reviewer_ids)s::bigint[])
        ), {fan_out(subject="t", candidates="candidates", issue="NULL", **{k.link: "s.id"})}
        SELECT (SELECT count(*) FROM notified)::integer FROM t
    """


@cache
def _list_reviews_sql(kind: str) -> str:
    k = _KINDS[kind]
    return f"""
        SELECT {_review_columns(k)}
        FROM {k.target} t
        JOIN {k.reviews} r ON r.repository_id = t.repository_id AND r.{k.key} = t.id
        LEFT JOIN users u ON u.id = r.reviewer_id
        WHERE t.repository_id = %(repository_id)s AND t.number = %(number)s
          AND (r.state <> 'pending' OR r.reviewer_id = %(viewer_id)s)
          AND {readable()}
        ORDER BY r.created_at, r.id
    """


@cache
def _dismiss_sql(kind: str) -> str:
    k = _KINDS[kind]
    return f"""
        WITH guard AS ({guard("write")}),
        r AS (
            UPDATE {k.reviews} r SET state = 'dismissed' FROM guard
            WHERE r.repository_id = guard.id AND r.id = %(review_id)s AND r.state <> 'pending'
            RETURNING r.*
        )
        SELECT {_review_columns(k)}
        FROM r JOIN {k.target} t ON t.repository_id = r.repository_id AND t.id = r.{k.key}
        LEFT JOIN users u ON u.id = r.reviewer_id
    """


@cache
def _comment_sql(kind: str, reply: bool) -> str:
    k = _KINDS[kind]
    anchor = (
        "p.commit_id, p.path, p.line, p.side, coalesce(p.in_reply_to_id, p.id)"
        if reply
        else "coalesce(%(commit_id)s, t.current_commit), %(path)s, %(line)s, %(side)s, NULL::bigint"
    )
    parent = (
        f"""JOIN {k.comments} p ON p.repository_id = t.repository_id AND p.{k.key} = t.id
                 AND p.id = %(in_reply_to)s AND {_visible_comment(k, "p", "%(actor_id)s")}"""
        if reply
        else ""
    )
    return f"""
        WITH guard AS ({guard("read")}),
        t AS (
            SELECT t.*, t.{k.commit} AS current_commit FROM {k.target} t, guard
            WHERE t.repository_id = guard.id AND t.number = %(number)s
        ), review AS (
            SELECT CASE WHEN %(review_id)s::bigint IS NULL THEN NULL
                        ELSE coalesce((SELECT r.id FROM {k.reviews} r, t
                                       WHERE r.repository_id = t.repository_id
                                         AND r.{k.key} = t.id AND r.id = %(review_id)s
                                         AND r.reviewer_id = %(actor_id)s),
                                      raise_error('FDN01', 'that review is not yours to add to'))
                   END AS id
        ), c AS (
            INSERT INTO {k.comments} (repository_id, {k.key}, review_id, author_id, commit_id, path,
                                      line, side, in_reply_to_id, body)
            SELECT t.repository_id, t.id, review.id, %(actor_id)s, {anchor}, %(body)s
            FROM t {parent} CROSS JOIN review
            RETURNING *
        ), told AS (
            SELECT 1 FROM c
            WHERE c.review_id IS NULL
               OR {_visible_comment(k, "c", "NULL")}
        ),
        {_notify(k, "t", "told")}
        SELECT {_comment_columns(k)}
        FROM c JOIN t ON t.id = c.{k.key} LEFT JOIN users u ON u.id = c.author_id
    """


@cache
def _resolve_sql(kind: str) -> str:
    k = _KINDS[kind]
    return f"""
        WITH guard AS ({guard("read")}),
        root AS (
            SELECT coalesce(x.in_reply_to_id, x.id) AS id FROM {k.comments} x, guard
            WHERE x.repository_id = guard.id AND x.id = %(comment_id)s
              AND {_visible_comment(k, "x", "%(actor_id)s")}
        ), c AS (
            UPDATE {k.comments} c SET
                resolved_at = CASE WHEN %(resolved)s THEN coalesce(c.resolved_at, now()) END
            FROM guard
            WHERE c.repository_id = guard.id AND c.id = (SELECT id FROM root)
              AND {author_or_role("c", "resolve a review thread")}
            RETURNING c.*
        )
        SELECT {_comment_columns(k)}
        FROM c JOIN {k.target} t ON t.repository_id = c.repository_id AND t.id = c.{k.key}
        LEFT JOIN users u ON u.id = c.author_id
    """


@cache
def _comments_sql(kind: str) -> str:
    k = _KINDS[kind]
    return f"""
        SELECT {_comment_columns(k)}
        FROM {k.target} t
        JOIN {k.comments} c ON c.repository_id = t.repository_id AND c.{k.key} = t.id
        LEFT JOIN users u ON u.id = c.author_id
        WHERE t.repository_id = %(repository_id)s AND t.number = %(number)s
          AND (%(after_id)s::bigint IS NULL OR c.id > %(after_id)s)
          AND {_visible_comment(k, "c", "%(viewer_id)s")}
          AND {readable()}
        ORDER BY c.id
        LIMIT %(limit)s
    """


@cache
def summary_sql(kind: str) -> str:
    """The statement of a review summary of ``kind`` (pull requests call it mergeability)."""
    k = _KINDS[kind]
    return f"""
        SELECT t.repository_id, '{kind}'::text AS kind, t.number, t.{k.commit} AS commit_id,
               s.protected, s.required_approvals, s.approvals, s.stale_approvals,
               s.changes_requested, s.required_contexts, s.passing_contexts,
               ARRAY(SELECT c FROM unnest(s.required_contexts) c
                     WHERE NOT c = ANY (s.passing_contexts) ORDER BY c) AS missing_contexts,
               s.unresolved_conflicts,
               (SELECT count(*) FROM {k.comments} c
                 WHERE c.repository_id = t.repository_id AND c.{k.key} = t.id
                   AND {_visible_comment(k, "c", "%(viewer_id)s")})::integer AS comments,
               (SELECT count(*) FROM {k.comments} c
                 WHERE c.repository_id = t.repository_id AND c.{k.key} = t.id
                   AND c.in_reply_to_id IS NULL AND c.resolved_at IS NULL
                   AND {_visible_comment(k, "c", "%(viewer_id)s")})::integer AS unresolved_threads,
               s.ready
        FROM {k.target} t, {k.readiness}(t.repository_id, t.id) s
        WHERE t.repository_id = %(repository_id)s AND t.number = %(number)s AND {readable()}
    """


def _what(kind: str, repository_id: int, number: int) -> str:
    noun = "landing request" if kind == "landing" else "pull request"
    return f"{noun} #{number} not found in repository {repository_id}"


class Reviews(Namespace[R]):
    """Reviews and line comments, of landing requests (``kind="landing"``) and pull requests."""

    @write
    def review(
        self,
        repository_id: Id,
        number: Id,
        *,
        actor_id: Id,
        state: ReviewState,
        body: Body = "",
        kind: ReviewKind = "landing",
        commit_id: CommitId | None = None,
    ) -> Query[Review]:
        """Review ``#number`` at its current commit (or ``commit_id``); its author is told.

        ``pending`` starts a draft (pull requests only) that only its author sees, until
        :meth:`submit`. ``@mentions`` in the body notify the users they name.
        """
        if state == "pending" and kind == "landing":
            raise InvalidInput("state: drafts are for pull request reviews", field="state")
        return Query(
            _review_sql(kind),
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "state": state,
                "body": body,
                "commit_id": commit_id,
                "mentions": extract_mentions(body),
                "author_reason": "author",
            },
            one(Review, _what(kind, repository_id, number)),
        )

    @write
    def request_review(
        self,
        repository_id: Id,
        number: Id,
        *,
        actor_id: Id,
        reviewer_ids: IdList,
        kind: ReviewKind = "landing",
    ) -> Query[int]:
        """Ask users to review ``#number`` (its author, or a writer); returns how many were told.

        Only users who can read the repository hear of it.
        """
        return Query(
            _request_sql(kind),
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "reviewer_ids": reviewer_ids,
            },
            scalar(int, _what(kind, repository_id, number)),
        )

    @write
    def submit(
        self,
        repository_id: Id,
        review_id: Id,
        *,
        actor_id: Id,
        state: SubmittedState,
        body: Body | None = None,
    ) -> Query[Review]:
        """Submit one's own pending pull request review as ``state``; the author is told."""
        k = _KINDS["pull"]
        return Query(
            f"""
            WITH guard AS ({guard("read")}),
            r AS (
                UPDATE reviews r SET
                    state = CASE WHEN %(state)s IN ('approved', 'changes_requested')
                                      AND NOT has_repository_role(r.repository_id, %(actor_id)s, 'write')
                                 THEN raise_error('FDP01', 'approving or requesting changes needs the write role')::text
                                 ELSE %(state)s END,
                    body = coalesce(%(body)s, r.body), submitted_at = now()
                FROM guard
                WHERE r.repository_id = guard.id AND r.id = %(review_id)s
                  AND r.state = 'pending' AND r.reviewer_id = %(actor_id)s
                RETURNING r.*
            ), t AS (
                SELECT t.* FROM pull_requests t, r
                WHERE t.repository_id = r.repository_id AND t.id = r.pull_request_id
            ), told AS (SELECT 1 FROM r),
            {_notify(k, "t", "told")}
            SELECT {_review_columns(k)}
            FROM r JOIN t ON t.id = r.pull_request_id LEFT JOIN users u ON u.id = r.reviewer_id
            """,
            {
                "repository_id": repository_id,
                "review_id": review_id,
                "actor_id": actor_id,
                "state": state,
                "body": body,
                "mentions": extract_mentions(body or ""),
                "author_reason": "author",
            },
            one(Review, f"no pending review {review_id} of yours in repository {repository_id}"),
        )

    @write
    def dismiss(
        self, repository_id: Id, review_id: Id, *, actor_id: Id, kind: ReviewKind = "landing"
    ) -> Query[Review]:
        """Dismiss a submitted review (write): it no longer counts."""
        return Query(
            _dismiss_sql(kind),
            {"repository_id": repository_id, "review_id": review_id, "actor_id": actor_id},
            one(Review, f"review {review_id} not found in repository {repository_id}"),
        )

    @read
    def list(
        self,
        repository_id: Id,
        number: Id,
        *,
        viewer_id: Id | None = None,
        kind: ReviewKind = "landing",
    ) -> Query[builtins.list[Review]]:
        """The reviews of ``#number``, oldest first; a draft only for its author."""
        return Query(
            _list_reviews_sql(kind),
            {"repository_id": repository_id, "number": number, "viewer_id": viewer_id},
            many(Review),
        )

    @write
    def comment_line(
        self,
        repository_id: Id,
        number: Id,
        *,
        actor_id: Id,
        body: CommentBody,
        kind: ReviewKind = "landing",
        path: FilePath | None = None,
        line: LineNumber | None = None,
        side: Side = "new",
        commit_id: CommitId | None = None,
        in_reply_to: Id | None = None,
        review_id: Id | None = None,
    ) -> Query[LineComment]:
        """Comment on (commit, path, line, side) of ``#number``, or reply in a thread.

        A reply (``in_reply_to``) takes its thread's anchor and joins the thread's first
        comment. ``review_id`` adds the comment to one's own review (a draft keeps it hidden
        until submitted). The author and ``@mentioned`` users are told.
        """
        reply = in_reply_to is not None
        if not reply and (path is None or line is None):
            field = "path" if path is None else "line"
            raise InvalidInput(
                f"{field}: a comment that is no reply needs a path and a line", field=field
            )
        return Query(
            _comment_sql(kind, reply),
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "body": body,
                "path": path,
                "line": line,
                "side": side,
                "commit_id": commit_id,
                "in_reply_to": in_reply_to,
                "review_id": review_id,
                "mentions": extract_mentions(body),
                "author_reason": "comment",
            },
            one(LineComment, _what(kind, repository_id, number)),
        )

    @write
    def resolve_thread(
        self,
        repository_id: Id,
        comment_id: Id,
        *,
        actor_id: Id,
        resolved: Flag = True,
        kind: ReviewKind = "landing",
    ) -> Query[LineComment]:
        """Resolve (or, with ``resolved=False``, reopen) the thread of a line comment.

        The thread's first comment carries the resolution; its author or a writer may set it.
        """
        return Query(
            _resolve_sql(kind),
            {
                "repository_id": repository_id,
                "comment_id": comment_id,
                "actor_id": actor_id,
                "resolved": resolved,
            },
            one(LineComment, f"comment {comment_id} not found in repository {repository_id}"),
        )

    @read
    def comments(
        self,
        repository_id: Id,
        number: Id,
        *,
        viewer_id: Id | None = None,
        kind: ReviewKind = "landing",
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[LineComment]]:
        """A keyset page of the line comments of ``#number``, oldest first (drafts: their
        author's only)."""
        size = page_size(limit)
        scope = ("landing.comments", kind, repository_id, number, viewer_id)
        (after_id,) = _COMMENTS_ORDER.after(cursor, scope)
        return Query(
            _comments_sql(kind),
            {
                "repository_id": repository_id,
                "number": number,
                "viewer_id": viewer_id,
                "after_id": after_id,
                "limit": size + 1,
            },
            _COMMENTS_ORDER.page(size, scope),
        )

    @read
    def summary(
        self,
        repository_id: Id,
        number: Id,
        *,
        viewer_id: Id | None = None,
        kind: ReviewKind = "landing",
    ) -> Query[ReviewSummary]:
        """Whether ``#number`` may land (or merge), and why: approvals (current and stale),
        changes requested, required and passing status contexts, conflicts, threads."""
        return Query(
            summary_sql(kind),
            {"repository_id": repository_id, "number": number, "viewer_id": viewer_id},
            one(ReviewSummary, _what(kind, repository_id, number)),
        )
