"""Authentication: Sign-In with Ethereum and sessions (``db.auth``), access tokens
(``db.auth.tokens``)."""

from .auth import Auth
from .models import (
    AccessToken,
    AuthenticatedSession,
    NewAccessToken,
    Session,
    SignIn,
    TokenIdentity,
)
from .tokens import ACCESS_TOKEN_PREFIX, SCOPES, Tokens, scope_grants

__all__ = [
    "ACCESS_TOKEN_PREFIX",
    "SCOPES",
    "AccessToken",
    "Auth",
    "AuthenticatedSession",
    "NewAccessToken",
    "Session",
    "SignIn",
    "TokenIdentity",
    "Tokens",
    "scope_grants",
]
