"""``db.landing.pulls``: git-style pull requests: open, read, list, update, merge, close.

Anyone who can read a repository may open a pull request; its author or a writer may update,
close and reopen it; merging needs the write role and is final. Pull requests share the
repository's number sequence with issues and landing requests, and the reviews module.
"""

from __future__ import annotations

from typing import Final, Literal

from ..access import author_or_role, guard, readable
from ..errors import register_constraint_messages
from ..inputs import Body, CommitId, Cursor, Flag, Id, Limit, RefName, Title
from ..pagination import Keyset, Page, page_size
from ..query import Namespace, Query, R, one, read, write
from .models import PullRequest, ReviewSummary
from .reviews import summary_sql

__all__ = ["Pulls"]

register_constraint_messages(
    {
        "pull_requests_title_check": "title: 1-256 characters, not blank",
        "pull_requests_state_transition": "the pull request cannot change state that way",
    }
)

ListState = Literal["open", "closed", "merged", "all"]
_ORDER: Final = Keyset(PullRequest, "id")
_COLUMNS: Final = """
    p.id, p.repository_id, p.number, p.author_id, au.username AS author, p.title, p.body,
    p.state, p.draft, p.head_ref, p.base_ref, p.head_commit_id, p.merge_commit_id,
    mb.username AS merged_by, p.merged_at, p.closed_at, p.created_at, p.updated_at"""
_FROM: Final = """
    LEFT JOIN users au ON au.id = p.author_id
    LEFT JOIN users mb ON mb.id = p.merged_by_id"""


def _missing(repository_id: int, number: int) -> str:
    return f"pull request #{number} not found in repository {repository_id}"


def _update(changes: str, condition: str, action: str, role: str = "author") -> str:
    """An UPDATE of pull request #number by its author or a writer (or a ``role`` holder)."""
    check = f"AND {author_or_role('p', action)}" if role == "author" else ""
    return f"""
        WITH guard AS ({guard("read" if role == "author" else "write")}),
        p AS (
            UPDATE pull_requests p SET {changes}
            FROM guard
            WHERE p.repository_id = guard.id AND p.number = %(number)s {check}
              AND ({condition} OR raise_error('FDC01', 'cannot {action}: the pull request is '
                                                        || p.state) IS NULL)
            RETURNING p.*
        )
        SELECT {_COLUMNS} FROM p {_FROM}
    """


_MERGE: Final = _update(
    "state = 'merged', merge_commit_id = %(commit_id)s, merged_by_id = %(actor_id)s, "
    "merged_at = now(), closed_at = now()",
    "p.state = 'open' AND NOT p.draft",
    "merge",
    role="write",
)
_CLOSE: Final = _update("state = 'closed', closed_at = now()", "p.state = 'open'", "close")
_REOPEN: Final = _update("state = 'open', closed_at = NULL", "p.state = 'closed'", "reopen")
_SET_DRAFT: Final = _update("draft = %(draft)s", "p.state = 'open'", "change draft")
_UPDATE_HEAD: Final = f"""
    WITH guard AS ({guard("read")}),
    p AS (
        UPDATE pull_requests p SET head_commit_id = %(commit_id)s
        FROM guard
        WHERE p.repository_id = guard.id AND p.number = %(number)s
          AND {author_or_role("p", "update a pull request")}
          AND (p.state = 'open' OR raise_error('FDC01', 'only an open pull request can be updated') IS NULL)
        RETURNING p.*
    ),
    dismissed AS (
        UPDATE reviews r SET state = 'dismissed'
        FROM p
        WHERE r.repository_id = p.repository_id AND r.pull_request_id = p.id
          AND r.state = 'approved' AND r.commit_id <> p.head_commit_id
          AND EXISTS (SELECT 1 FROM protected_branches b
                      WHERE b.repository_id = p.repository_id
                        AND branch_pattern_matches(b.pattern, p.base_ref)
                        AND b.dismiss_stale_approvals)
    )
    SELECT {_COLUMNS} FROM p {_FROM}
"""


class Pulls(Namespace[R]):
    """Pull requests: a head branch proposed into a base branch."""

    @write
    def open(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        title: Title,
        head_ref: RefName,
        base_ref: RefName,
        head_commit_id: CommitId,
        body: Body = "",
        draft: Flag = False,
    ) -> Query[PullRequest]:
        """Open a pull request of ``head_ref`` into ``base_ref`` (read access suffices)."""
        return Query(
            f"""
            WITH guard AS ({guard("read")}),
            p AS (
                INSERT INTO pull_requests (repository_id, number, author_id, title, body, draft,
                                           head_ref, base_ref, head_commit_id)
                SELECT id, get_next_issue_number(id), %(actor_id)s, %(title)s, %(body)s,
                       %(draft)s, %(head_ref)s, %(base_ref)s, %(head_commit_id)s
                FROM guard
                RETURNING *
            )
            SELECT {_COLUMNS} FROM p {_FROM}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "title": title,
                "body": body,
                "draft": draft,
                "head_ref": head_ref,
                "base_ref": base_ref,
                "head_commit_id": head_commit_id,
            },
            one(PullRequest, "pull request not opened"),
        )

    @read
    def get(
        self, repository_id: Id, number: Id, *, viewer_id: Id | None = None
    ) -> Query[PullRequest]:
        """Pull request ``#number``, if visible."""
        return Query(
            f"""
            SELECT {_COLUMNS} FROM pull_requests p {_FROM}
            WHERE p.repository_id = %(repository_id)s AND p.number = %(number)s
              AND {readable()}
            """,
            {"repository_id": repository_id, "number": number, "viewer_id": viewer_id},
            one(PullRequest, _missing(repository_id, number)),
        )

    @read
    def list(
        self,
        repository_id: Id,
        *,
        viewer_id: Id | None = None,
        state: ListState = "open",
        base_ref: RefName | None = None,
        author_id: Id | None = None,
        draft: Flag | None = None,
        cursor: Cursor | None = None,
        limit: Limit | None = None,
    ) -> Query[Page[PullRequest]]:
        """A keyset page of pull requests, newest first, with filters (all combine)."""
        size = page_size(limit)
        scope = ("pulls", repository_id, state, base_ref, author_id, draft)
        (after_id,) = _ORDER.after(cursor, scope)
        return Query(
            f"""
            SELECT {_COLUMNS} FROM pull_requests p {_FROM}
            WHERE p.repository_id = %(repository_id)s
              AND (%(state)s = 'all' OR p.state = %(state)s)
              AND (%(base_ref)s::text IS NULL OR p.base_ref = %(base_ref)s)
              AND (%(author_id)s::bigint IS NULL OR p.author_id = %(author_id)s)
              AND (%(draft)s::boolean IS NULL OR p.draft = %(draft)s)
              AND (%(after_id)s::bigint IS NULL OR p.id < %(after_id)s)
              AND {readable()}
            ORDER BY p.id DESC
            LIMIT %(limit)s
            """,
            {
                "repository_id": repository_id,
                "viewer_id": viewer_id,
                "state": state,
                "base_ref": base_ref,
                "author_id": author_id,
                "draft": draft,
                "after_id": after_id,
                "limit": size + 1,
            },
            _ORDER.page(size, scope),
        )

    @write
    def update_head(
        self, repository_id: Id, number: Id, *, actor_id: Id, commit_id: CommitId
    ) -> Query[PullRequest]:
        """New commits were pushed: the head is now ``commit_id`` (author, or a writer).

        Approvals of older heads become stale, and are dismissed where a protection rule of
        the base branch says so.
        """
        return Query(
            _UPDATE_HEAD,
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "commit_id": commit_id,
            },
            one(PullRequest, _missing(repository_id, number)),
        )

    @write
    def set_draft(
        self, repository_id: Id, number: Id, *, actor_id: Id, draft: Flag
    ) -> Query[PullRequest]:
        """Mark an open pull request a draft, or ready for review (author, or a writer)."""
        return Query(
            _SET_DRAFT,
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "draft": draft,
            },
            one(PullRequest, _missing(repository_id, number)),
        )

    @write
    def merge(
        self, repository_id: Id, number: Id, *, actor_id: Id, merge_commit_id: CommitId
    ) -> Query[PullRequest]:
        """Record the merge (write): the merge commit and who merged. Final; not of a draft."""
        return Query(
            _MERGE,
            {
                "repository_id": repository_id,
                "number": number,
                "actor_id": actor_id,
                "commit_id": merge_commit_id,
            },
            one(PullRequest, _missing(repository_id, number)),
        )

    @write
    def close(self, repository_id: Id, number: Id, *, actor_id: Id) -> Query[PullRequest]:
        """Close an open pull request unmerged (author, or a writer)."""
        return Query(
            _CLOSE,
            {"repository_id": repository_id, "number": number, "actor_id": actor_id},
            one(PullRequest, _missing(repository_id, number)),
        )

    @write
    def reopen(self, repository_id: Id, number: Id, *, actor_id: Id) -> Query[PullRequest]:
        """Reopen a closed (never a merged) pull request (author, or a writer)."""
        return Query(
            _REOPEN,
            {"repository_id": repository_id, "number": number, "actor_id": actor_id},
            one(PullRequest, _missing(repository_id, number)),
        )

    @read
    def mergeability(
        self, repository_id: Id, number: Id, *, viewer_id: Id | None = None
    ) -> Query[ReviewSummary]:
        """Whether ``#number`` may merge, and why: approvals, required statuses, conflicts."""
        return Query(
            summary_sql("pull"),
            {"repository_id": repository_id, "number": number, "viewer_id": viewer_id},
            one(ReviewSummary, _missing(repository_id, number)),
        )
