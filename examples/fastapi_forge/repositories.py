"""Repositories: create one, read one, give it labels."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel

from forge_db.issues import Label
from forge_db.repositories import Repository

from .deps import DB, CurrentUser, VisibleRepository

router = APIRouter(tags=["repositories"])


class NewRepository(BaseModel):
    """A repository to create, owned by the signed-in user."""

    name: str
    private: bool = False
    description: str = ""


class NewLabel(BaseModel):
    """A label to create (needs the write role)."""

    name: str
    color: str = "#ededed"
    description: str = ""


@router.post("/repos", status_code=status.HTTP_201_CREATED)
async def create_repository(body: NewRepository, db: DB, user: CurrentUser) -> Repository:
    """Create a repository owned by the signed-in user; 409 if they already have that name."""
    return await db.repositories.create(
        owner_id=user.id, name=body.name, private=body.private, description=body.description
    )


@router.get("/repos/{owner}/{name}")
async def get_repository(repository: VisibleRepository) -> Repository:
    """A repository, with the viewer's role; a private one is 404 to strangers."""
    return repository


@router.post("/repos/{owner}/{name}/labels", status_code=status.HTTP_201_CREATED)
async def create_label(
    body: NewLabel, repository: VisibleRepository, db: DB, user: CurrentUser
) -> Label:
    """Create a label; 403 below the write role."""
    return await db.issues.labels.create(
        repository.id,
        actor_id=user.id,
        name=body.name,
        color=body.color,
        description=body.description,
    )
