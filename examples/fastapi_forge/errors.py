"""The one exception handler: forge_db's typed errors become HTTP statuses."""

from __future__ import annotations

from typing import Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse

from forge_db import (
    AlreadyExists,
    AuthenticationFailed,
    Conflict,
    ForgeDBError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unavailable,
)

from .settings import SESSION_COOKIE

# Most specific first; SchemaNotReady and Misconfigured are kinds of Unavailable.
STATUSES: Final[tuple[tuple[type[ForgeDBError], int, str], ...]] = (
    (NotFound, 404, "not_found"),
    (PermissionDenied, 403, "permission_denied"),
    (AuthenticationFailed, 401, "authentication_failed"),
    (InvalidInput, 422, "invalid_input"),
    (AlreadyExists, 409, "already_exists"),
    (Conflict, 409, "conflict"),
    (Unavailable, 503, "unavailable"),
)
RETRY_AFTER_SECONDS: Final = 5


def status_of(exc: ForgeDBError) -> tuple[int, str]:
    """The HTTP status and the error code of a forge_db error."""
    for kind, status, code in STATUSES:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal_error"  # a new kind of error: a bug here until it has a status


async def forge_db_error(request: Request, exc: Exception) -> JSONResponse:
    """``{"error": code, "detail": message}``, with ``field``, ``reason`` or ``constraint``."""
    assert isinstance(exc, ForgeDBError)  # registered for ForgeDBError only
    status, code = status_of(exc)
    body: dict[str, Any] = {"error": code, "detail": str(exc)}
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidInput):
        body["field"] = exc.field
    elif isinstance(exc, AuthenticationFailed):
        body["reason"] = exc.reason
    elif isinstance(exc, AlreadyExists):
        body["constraint"] = exc.constraint
    elif isinstance(exc, Unavailable):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response = JSONResponse(body, status_code=status, headers=headers)
    if isinstance(exc, AuthenticationFailed) and exc.reason == "session_invalid":
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
