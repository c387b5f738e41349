"""Dependencies: the pool, the signed-in user, the repository a path names."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from forge_db import AsyncForgeDB, AuthenticationFailed
from forge_db.repositories import Repository
from forge_db.users import User

from .settings import SESSION_COOKIE, AppSettings


def get_db(request: Request) -> AsyncForgeDB:
    """The app's pool, opened by the lifespan."""
    return cast(AsyncForgeDB, request.app.state.db)


def get_settings(request: Request) -> AppSettings:
    """The app's settings."""
    return cast(AppSettings, request.app.state.settings)


DB = Annotated[AsyncForgeDB, Depends(get_db)]
Settings = Annotated[AppSettings, Depends(get_settings)]


async def session_user(request: Request, db: DB) -> User | None:
    """The user of the request's session cookie; ``None`` without one.

    A cookie that names no live session is refused (401) rather than taken as anonymous, so
    the client learns that it must sign in again; the error handler also clears the cookie.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if token is None:
        return None
    return (await db.auth.get_session(token)).user


Viewer = Annotated[User | None, Depends(session_user)]


async def require_user(user: Viewer) -> User:
    """The signed-in user; 401 without a session."""
    if user is None:
        raise AuthenticationFailed("session_missing", "sign in first: POST /auth/login")
    return user


CurrentUser = Annotated[User, Depends(require_user)]


async def visible_repository(owner: str, name: str, db: DB, viewer: Viewer) -> Repository:
    """The repository ``owner/name`` as the viewer sees it: 404 if they may not know it exists."""
    return await db.repositories.get(owner, name, viewer_id=viewer.id if viewer else None)


VisibleRepository = Annotated[Repository, Depends(visible_repository)]
