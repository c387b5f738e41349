"""The app's configuration: where the database is, and the origin sign-in messages must name."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SESSION_COOKIE = "forge_session"


class AppSettings(BaseSettings):
    """Settings from arguments, else ``DATABASE_URL`` and ``FORGE_APP_*`` variables, else defaults.

    Pool and timeout options are forge_db's own ``FORGE_DB_*`` variables (see the README's
    configuration table); they reach ``AsyncForgeDB.connect`` without passing through here.
    """

    model_config = SettingsConfigDict(env_prefix="FORGE_APP_", frozen=True)

    # None: forge_db's default, the embedded PostgreSQL, which migrates itself.
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("database_url", "DATABASE_URL")
    )
    # Where browsers reach the app: sign-in messages must name this domain, scheme and URI, so
    # a message signed for another site cannot be replayed here.
    origin: str = "http://localhost:8000"
    chain_id: int = Field(1, ge=0)
    # Secure cookies travel over https only; the default follows the origin's scheme.
    secure_cookie: bool | None = None

    @field_validator("origin")
    @classmethod
    def _an_origin(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError("must be scheme://host[:port], e.g. https://forge.example")
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def scheme(self) -> str:
        """``http`` or ``https``."""
        return urlsplit(self.origin).scheme

    @property
    def domain(self) -> str:
        """The host (and port) that sign-in messages name."""
        return urlsplit(self.origin).netloc

    @property
    def cookie_is_secure(self) -> bool:
        """Whether the session cookie is marked ``Secure``."""
        return self.secure_cookie if self.secure_cookie is not None else self.scheme == "https"
