"""forge_db: the PostgreSQL data layer of a code forge for people and agents on jj repositories.

>>> from forge_db import ForgeDB
>>> with ForgeDB.connect() as db:          # DATABASE_URL, else an embedded server
...     db.meta.server_version()
"""

from importlib import metadata as _metadata

try:
    __version__: str = _metadata.version("forge-db")
except _metadata.PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

from .config import Settings
from .database import AsyncForgeDB, AsyncTransaction, ForgeDB, Transaction
from .errors import (
    AlreadyExists,
    AmbiguousPrefix,
    AuthenticationFailed,
    Conflict,
    ForgeDBError,
    InvalidInput,
    Misconfigured,
    NotFound,
    PermissionDenied,
    SchemaNotReady,
    Unavailable,
)

__all__ = [
    "AlreadyExists",
    "AmbiguousPrefix",
    "AsyncForgeDB",
    "AsyncTransaction",
    "AuthenticationFailed",
    "Conflict",
    "ForgeDB",
    "ForgeDBError",
    "InvalidInput",
    "Misconfigured",
    "NotFound",
    "PermissionDenied",
    "SchemaNotReady",
    "Settings",
    "Transaction",
    "Unavailable",
    "__version__",
]
