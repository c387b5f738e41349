"""The application: a pool opened for its lifetime, the routers, one error handler.

uvicorn examples.fastapi_forge.app:app            # on the embedded PostgreSQL
DATABASE_URL=postgresql://… uvicorn examples.fastapi_forge.app:app
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel

from forge_db import AsyncForgeDB, ForgeDBError

from . import auth, issues, landing, repositories
from .deps import DB
from .errors import forge_db_error
from .settings import AppSettings


class Health(BaseModel):
    """The database answers."""

    status: str
    server_version: str


def create_app(settings: AppSettings | None = None) -> FastAPI:
    """The app on ``settings`` (default: from the environment)."""
    settings = settings or AppSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One pool for the process; requests borrow a connection per statement. An unreachable
        # server fails the start-up within connect_timeout instead of every request later.
        async with await AsyncForgeDB.connect(settings.database_url) as db:
            app.state.db = db
            yield

    app = FastAPI(title="forge_db example", lifespan=lifespan)
    app.state.settings = settings
    app.add_exception_handler(ForgeDBError, forge_db_error)
    app.include_router(auth.router)
    app.include_router(repositories.router)
    app.include_router(issues.router)
    app.include_router(landing.router)

    @app.get("/health", tags=["health"])
    async def health(db: DB) -> Health:
        """The database answers (503 when it does not)."""
        return Health(status="ok", server_version=await db.meta.server_version())

    return app


app = create_app()
