"""The landing queue, read side: a bookmark's queue, the requests, one request with its history,
reviews and review summary."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from forge_db.landing import LandingEvent, LandingRequest, QueueEntry, Review, ReviewSummary

from .deps import DB, Viewer, VisibleRepository
from .pages import Listing, listing

router = APIRouter(tags=["landing"])

# Writes (submit, review) and the workers' claims stay out of the example: a worker is trusted
# service code that runs beside the web backend, never behind a web request.


def _id(viewer: Viewer) -> int | None:
    return viewer.id if viewer else None


@router.get("/repos/{owner}/{name}/landing/queues/{bookmark}")
async def queue(
    bookmark: str,
    repository: VisibleRepository,
    db: DB,
    viewer: Viewer,
    request: Request,
    response: Response,
    cursor: str | None = None,
    limit: int | None = None,
) -> Listing[QueueEntry]:
    """The requests waiting to land on ``bookmark``, in landing order, with positions."""
    page = await db.landing.queue(
        repository.id, bookmark, viewer_id=_id(viewer), cursor=cursor, limit=limit
    )
    return listing(page, request, response)


@router.get("/repos/{owner}/{name}/landing")
async def list_requests(
    repository: VisibleRepository,
    db: DB,
    viewer: Viewer,
    request: Request,
    response: Response,
    bookmark: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Listing[LandingRequest]:
    """A page of the repository's active landing requests, newest first."""
    page = await db.landing.list(
        repository.id, viewer_id=_id(viewer), bookmark=bookmark, cursor=cursor, limit=limit
    )
    return listing(page, request, response)


@router.get("/repos/{owner}/{name}/landing/{number}")
async def get_request(
    number: int, repository: VisibleRepository, db: DB, viewer: Viewer
) -> LandingRequest:
    """One landing request (404 when it does not exist or cannot be seen)."""
    return await db.landing.get(repository.id, number, viewer_id=_id(viewer))


@router.get("/repos/{owner}/{name}/landing/{number}/history")
async def history(
    number: int, repository: VisibleRepository, db: DB, viewer: Viewer
) -> list[LandingEvent]:
    """Every transition of the request, oldest first, with who and why."""
    await db.landing.get(repository.id, number, viewer_id=_id(viewer))  # 404, not []
    return await db.landing.history(repository.id, number, viewer_id=_id(viewer))


@router.get("/repos/{owner}/{name}/landing/{number}/reviews")
async def reviews(
    number: int, repository: VisibleRepository, db: DB, viewer: Viewer
) -> list[Review]:
    """The request's reviews, oldest first (a draft only for its author)."""
    await db.landing.get(repository.id, number, viewer_id=_id(viewer))
    return await db.landing.reviews.list(repository.id, number, viewer_id=_id(viewer))


@router.get("/repos/{owner}/{name}/landing/{number}/summary")
async def summary(
    number: int, repository: VisibleRepository, db: DB, viewer: Viewer
) -> ReviewSummary:
    """Whether the request may land, and why: approvals, status contexts, conflicts."""
    return await db.landing.reviews.summary(repository.id, number, viewer_id=_id(viewer))
