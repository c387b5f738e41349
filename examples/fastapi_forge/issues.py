"""Issues and their comments: create, read, list by keyset pages, search."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel

from forge_db.issues import Comment, Issue, IssueSummary, SearchHit, Sort, State

from .deps import DB, CurrentUser, Viewer, VisibleRepository
from .pages import Listing, listing

router = APIRouter(tags=["issues"])

# Each route resolves the path's owner/name to a repository the viewer may see (one indexed
# statement, privacy checked there), then runs one forge_db operation on its id, which checks
# privacy and roles again in its own statement.


class NewIssue(BaseModel):
    """An issue to open; labels need the write role."""

    title: str
    body: str = ""
    labels: list[str] = []


class NewComment(BaseModel):
    """A comment to add."""

    body: str


def _id(viewer: Viewer) -> int | None:
    return viewer.id if viewer else None


@router.post("/repos/{owner}/{name}/issues", status_code=status.HTTP_201_CREATED)
async def create_issue(
    body: NewIssue, repository: VisibleRepository, db: DB, user: CurrentUser
) -> Issue:
    """Open an issue; it gets the repository's next number."""
    return await db.issues.create(
        repository.id, actor_id=user.id, title=body.title, body=body.body, labels=body.labels
    )


@router.get("/repos/{owner}/{name}/issues")
async def list_issues(
    repository: VisibleRepository,
    db: DB,
    viewer: Viewer,
    request: Request,
    response: Response,
    state: State = "open",
    labels: Annotated[list[str] | None, Query()] = None,
    sort: Sort = "created",
    direction: Literal["asc", "desc"] = "desc",
    cursor: str | None = None,
    limit: int | None = None,
) -> Listing[IssueSummary]:
    """A page of issues; follow ``next`` (or the ``Link`` header) for the following one.

    ``labels`` may repeat (``?labels=bug&labels=parser``: issues with both). A cursor from
    another list, or presented with other filters, is 422 naming ``cursor``.
    """
    page = await db.issues.list(
        repository.id,
        viewer_id=_id(viewer),
        state=state,
        labels=labels,
        sort=sort,
        direction=direction,
        cursor=cursor,
        limit=limit,
    )
    return listing(page, request, response)


# Declared before /issues/{number}, which would otherwise take "search" for a number.
@router.get("/repos/{owner}/{name}/issues/search")
async def search_issues(
    repository: VisibleRepository,
    db: DB,
    viewer: Viewer,
    request: Request,
    response: Response,
    q: str,
    state: State = "all",
    cursor: str | None = None,
    limit: int | None = None,
) -> Listing[SearchHit]:
    """Full-text search, best match first; ``#12`` finds issue 12."""
    page = await db.issues.search(
        repository.id,
        q,
        viewer_id=_id(viewer),
        state=state,
        cursor=cursor,
        limit=limit,
    )
    return listing(page, request, response)


@router.get("/repos/{owner}/{name}/issues/{number}")
async def get_issue(repository: VisibleRepository, db: DB, viewer: Viewer, number: int) -> Issue:
    """One issue, with its body and reactions."""
    return await db.issues.get(repository.id, number, viewer_id=_id(viewer))


@router.post("/repos/{owner}/{name}/issues/{number}/comments", status_code=status.HTTP_201_CREATED)
async def create_comment(
    body: NewComment, repository: VisibleRepository, db: DB, user: CurrentUser, number: int
) -> Comment:
    """Comment on an issue; participants, mentioned users and watchers are notified."""
    return await db.issues.comments.create(repository.id, number, actor_id=user.id, body=body.body)


@router.get("/repos/{owner}/{name}/issues/{number}/comments")
async def list_comments(
    repository: VisibleRepository,
    db: DB,
    viewer: Viewer,
    request: Request,
    response: Response,
    number: int,
    cursor: str | None = None,
    limit: int | None = None,
) -> Listing[Comment]:
    """The conversation of an issue, oldest first, a page at a time."""
    page = await db.issues.comments.list(
        repository.id, number, viewer_id=_id(viewer), cursor=cursor, limit=limit
    )
    return listing(page, request, response)
