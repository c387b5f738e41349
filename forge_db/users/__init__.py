"""Users and authentication: accounts, email addresses, SIWE, sessions, access tokens."""

from .accounts import EmailAddress, User, Users
from .auth import (
    ACCESS_TOKEN_PREFIX,
    SCOPES,
    AccessToken,
    Auth,
    AuthenticatedSession,
    NewAccessToken,
    Session,
    SignIn,
    TokenIdentity,
)

__all__ = [
    "ACCESS_TOKEN_PREFIX",
    "SCOPES",
    "AccessToken",
    "Auth",
    "AuthenticatedSession",
    "EmailAddress",
    "NewAccessToken",
    "Session",
    "SignIn",
    "TokenIdentity",
    "User",
    "Users",
]
