"""Typed errors, and the one place where driver errors become them.

Every error a caller sees is a :class:`ForgeDBError`. Driver exceptions are translated by
:func:`translate` and kept as ``__cause__``, so nothing is lost for debugging while callers can
catch by meaning (``except NotFound``) instead of by SQLSTATE.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any, Final

import psycopg
import psycopg_pool
from psycopg import errors as pgerrors

__all__ = [
    "AlreadyExists",
    "AmbiguousPrefix",
    "AuthenticationFailed",
    "Conflict",
    "ForgeDBError",
    "InvalidInput",
    "Misconfigured",
    "NotFound",
    "PermissionDenied",
    "SchemaNotReady",
    "Unavailable",
    "register_constraint_messages",
    "schema_function_named",
    "translate",
]


class ForgeDBError(Exception):
    """Base of every error forge_db raises."""


class NotFound(ForgeDBError):
    """The row does not exist, or the viewer may not know that it exists."""


class AlreadyExists(ForgeDBError):
    """A uniqueness rule refused the write; ``constraint`` names the rule."""

    def __init__(self, message: str, *, constraint: str | None = None) -> None:
        super().__init__(message)
        self.constraint = constraint


class Conflict(ForgeDBError):
    """A state machine or a concurrent transaction refused the operation; retrying may help."""


class InvalidInput(ForgeDBError):
    """The input is malformed; ``field`` names the offending input when known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AmbiguousPrefix(InvalidInput):
    """An id prefix names several ids (jj: "prefix is ambiguous"); ``candidates`` lists some."""

    def __init__(
        self, message: str, *, field: str | None = None, candidates: list[str] | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.candidates = candidates or []


class PermissionDenied(ForgeDBError):
    """The viewer can see the target but may not do this to it."""


class AuthenticationFailed(ForgeDBError):
    """Credentials were refused; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or reason.replace("_", " "))
        self.reason = reason


class Unavailable(ForgeDBError):
    """The server cannot be reached, or no pooled connection came free in time."""


class SchemaNotReady(Unavailable):
    """The database lacks the objects forge_db needs: it has not been migrated."""


class Misconfigured(Unavailable):
    """The server, or a pooler in front of it, cannot work with a connection option.

    ``field`` names the option to change. Nothing is wrong with the caller's input: the
    deployment and the options disagree, and an operator has to reconcile them.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


# Messages for unique constraints whose generated text would be unclear. Domain modules add
# theirs at import time so the meaning sits beside the SQL that relies on it.
_CONSTRAINT_MESSAGES: dict[str, str] = {}


def register_constraint_messages(
    messages: Mapping[str, str], *, fields: Mapping[str, str] | None = None
) -> None:
    """Give constraints a human meaning for error messages, and the input each one checks.

    A CHECK refusal carries no column in PostgreSQL's report; ``fields`` names the parameter
    to report for constraints whose name does not already say it (``<table>_<column>_check``).
    """
    _CONSTRAINT_MESSAGES.update(messages)
    _CONSTRAINT_FIELDS.update(fields or {})


_CONSTRAINT_FIELDS: dict[str, str] = {}
_CHECK_NAME = re.compile(r"(?P<column>[a-z_]+)_check")


def _checked_field(constraint: str | None, table: str | None, column: str | None) -> str | None:
    """The input a failed CHECK is about: the reported column, the registered field, or the
    column its conventional name ``<table>_<column>_check`` spells."""
    if column:
        return column
    if not constraint:
        return None
    if constraint in _CONSTRAINT_FIELDS:
        return _CONSTRAINT_FIELDS[constraint]
    if table and constraint.startswith(table + "_"):
        match = _CHECK_NAME.fullmatch(constraint[len(table) + 1 :])
        if match:
            return match["column"]
    return None


# Custom SQLSTATEs raised by the schema's functions and triggers: class FD, third letter
# says which error. Keep in step with the codes used in db/schema.sql.
_CUSTOM_CLASS: Final = "FD"
_CUSTOM: Final[dict[str, type[ForgeDBError]]] = {
    "N": NotFound,
    "A": AlreadyExists,
    "C": Conflict,
    "I": InvalidInput,
    "P": PermissionDenied,
    "U": AuthenticationFailed,
}

_KEY_DETAIL = re.compile(r"Key \((?P<cols>.*)\)=\((?P<vals>.*)\) (?P<rest>.*)", re.DOTALL)
_URL_PASSWORD = re.compile(r"(?P<head>://[^:/@\s]*:)[^@\s]*@")


def redact(text: str) -> str:
    """Hide a password embedded in a connection URL inside ``text``."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + "***@", text)


def _constraint_meaning(name: str | None, table: str | None) -> str:
    if name and name in _CONSTRAINT_MESSAGES:
        return _CONSTRAINT_MESSAGES[name]
    if name:
        return f"{name.replace('_', ' ')}"
    return f"a rule on {table or 'the table'}"


def _unique_message(exc: psycopg.Error) -> str:
    diag = exc.diag
    meaning = _constraint_meaning(diag.constraint_name, diag.table_name)
    detail = diag.message_detail or ""
    match = _KEY_DETAIL.match(detail)
    if match:
        return f"{meaning}: ({match['cols']})=({match['vals']}) already exists"
    return f"{meaning}: already exists"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return redact(text.splitlines()[0] if text else type(exc).__name__)


# --- objects of the forge schema --------------------------------------------------------------

_CREATED = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:UNLOGGED\s+)?"
    r"(?P<kind>TABLE|VIEW|MATERIALIZED\s+VIEW|SEQUENCE|FUNCTION|PROCEDURE)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[\w.\"]+)",
    re.IGNORECASE | re.MULTILINE,
)
# yoyo's bookkeeping, which ``meta.applied_migrations`` and the CLI read.
_YOYO_TABLES: Final = frozenset({"_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock"})
# A name in a server message, in the quotes of any of the server's translations.
_QUOTES: Final = '"\u201c\u201d\u00ab\u00bb\u201e'
_QUOTED = re.compile(f"[{_QUOTES}]([^{_QUOTES}]+)[{_QUOTES}]")
_CALLED = re.compile(r"([\w$.\"]+)\(")
_PSYCOPG_STATEMENT = re.compile(r"\b_pg3_\d+\b")


def _unqualified(name: str) -> str:
    return name.replace('"', "").rsplit(".", 1)[-1].lower()


@cache
def _schema_objects() -> tuple[frozenset[str], frozenset[str]]:
    """Names of the relations and of the functions that ``db/schema.sql`` creates.

    Read once, on the first error that needs it, so that "the database is not migrated" is
    said only about objects of our own schema.
    """
    from .migrations import schema_path  # imported late: migrations imports this module

    try:
        text = schema_path().read_text(encoding="utf-8")
    except OSError:
        text = ""
    relations: set[str] = set(_YOYO_TABLES)
    functions: set[str] = set()
    for match in _CREATED.finditer(text):
        kind = match["kind"].upper()
        target = functions if kind in ("FUNCTION", "PROCEDURE") else relations
        target.add(_unqualified(match["name"]))
    return frozenset(relations), frozenset(functions)


def _missing_schema_relation(exc: psycopg.Error) -> bool:
    message = exc.diag.message_primary or ""
    # "missing FROM-clause entry for table" also has this SQLSTATE; it names an alias.
    if "FROM-clause" in message:
        return False
    match = _QUOTED.search(message)
    return match is not None and _unqualified(match[1]) in _schema_objects()[0]


def schema_function_named(exc: BaseException) -> str | None:
    """The forge schema function that an undefined-function error names, if any."""
    if not isinstance(exc, pgerrors.UndefinedFunction):
        return None
    match = _CALLED.search(exc.diag.message_primary or "")
    if match is None:  # "operator does not exist", "could not identify an operator", ...
        return None
    name = _unqualified(match[1])
    return name if name in _schema_objects()[1] else None


def _prepared_statement_mismatch(exc: psycopg.Error) -> bool:
    """Whether ``exc`` says the server's prepared statements are not this session's own.

    psycopg names the statements it prepares ``_pg3_<n>`` per connection. Behind a pooler in
    transaction mode (PgBouncer's default) consecutive statements run on different server
    connections, which know other clients' statements under the same names.
    """
    sqlstate = exc.sqlstate or ""
    message = exc.diag.message_primary or str(exc)
    if sqlstate in ("26000", "42P05"):  # invalid_sql_statement_name, duplicate_prepared_statement
        return _PSYCOPG_STATEMENT.search(message) is not None
    if sqlstate == "08P01":  # "bind message supplies 3 parameters, but prepared statement ..."
        return "prepared statement" in message and _PSYCOPG_STATEMENT.search(message) is not None
    return False


def translate(
    exc: BaseException,
    *,
    target: str | None = None,
    function_exists: bool | None = None,
) -> ForgeDBError:
    """Map a driver or pool exception to the forge_db error that means the same thing.

    ``function_exists`` tells, when known, whether the schema function that an
    undefined-function error names (see :func:`schema_function_named`) exists under other
    argument types; when unknown, the function is taken to be missing.
    """
    if isinstance(exc, ForgeDBError):
        return exc
    where = f" ({target})" if target else ""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return Unavailable(f"no database connection came free in time{where}: {_first_line(exc)}")
    if isinstance(exc, psycopg_pool.PoolClosed):
        return Unavailable(f"the connection pool is closed{where}")
    if not isinstance(exc, psycopg.Error):
        return ForgeDBError(_first_line(exc))
    if isinstance(exc, psycopg.DataError) and exc.sqlstate is None:
        # Refused by the driver before sending, e.g. a NUL byte in text.
        return InvalidInput(f"invalid value: {_first_line(exc)}")

    sqlstate = exc.sqlstate or ""
    diag = exc.diag
    if _prepared_statement_mismatch(exc):
        return Misconfigured(
            f"the server{where} does not know this session's prepared statements "
            f"({_first_line(exc)}): the connection goes through a transaction pooler such as "
            "PgBouncer, where a statement can even run another client's prepared statement; "
            "connect with prepared_statements=False",
            field="prepared_statements",
        )
    if sqlstate.startswith(_CUSTOM_CLASS) and len(sqlstate) == 5:
        kind = _CUSTOM.get(sqlstate[2], ForgeDBError)
        message = diag.message_primary or _first_line(exc)
        if kind is AlreadyExists:
            return AlreadyExists(message, constraint=diag.constraint_name)
        if kind is InvalidInput:
            return InvalidInput(message, field=diag.column_name)
        if kind is AuthenticationFailed:
            return AuthenticationFailed(diag.message_hint or "refused", message)
        return kind(message)
    if isinstance(exc, pgerrors.UniqueViolation | pgerrors.ExclusionViolation):
        return AlreadyExists(_unique_message(exc), constraint=diag.constraint_name)
    if isinstance(exc, pgerrors.ForeignKeyViolation):
        if "still referenced" in (diag.message_detail or ""):
            return Conflict(_foreign_key_message(exc))
        return NotFound(_foreign_key_message(exc))
    if isinstance(exc, pgerrors.CheckViolation):
        meaning = _constraint_meaning(diag.constraint_name, diag.table_name)
        field = _checked_field(diag.constraint_name, diag.table_name, diag.column_name)
        return InvalidInput(f"invalid value: {meaning}", field=field)
    if isinstance(exc, pgerrors.NotNullViolation):
        return InvalidInput(f"{diag.column_name or 'a value'} is required", field=diag.column_name)
    if sqlstate.startswith("22"):  # data exceptions: bad encoding, overflow, invalid text
        return InvalidInput(f"invalid value: {_first_line(exc)}")
    if isinstance(exc, pgerrors.SerializationFailure | pgerrors.DeadlockDetected):
        return Conflict(f"concurrent update, retry the transaction: {_first_line(exc)}")
    if isinstance(exc, pgerrors.LockNotAvailable):
        return Conflict(f"the row is locked by another transaction: {_first_line(exc)}")
    if isinstance(exc, pgerrors.QueryCanceled):
        return Unavailable(f"statement cancelled (statement_timeout?){where}: {_first_line(exc)}")
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return PermissionDenied(_first_line(exc))
    if isinstance(exc, pgerrors.UndefinedTable):
        if _missing_schema_relation(exc):
            return SchemaNotReady(f"{_first_line(exc)}{where}: run `forge-db migrate`")
        return ForgeDBError(_first_line(exc))
    if isinstance(exc, pgerrors.UndefinedFunction):
        if schema_function_named(exc) is not None and not function_exists:
            return SchemaNotReady(f"{_first_line(exc)}{where}: run `forge-db migrate`")
        # Our own function with other argument types, or an operator for these operand
        # types: the values given do not fit what the statement expects.
        return InvalidInput(f"invalid value: {_first_line(exc)}")
    if isinstance(exc, psycopg.OperationalError) or sqlstate.startswith(("08", "57P")):
        return Unavailable(f"cannot reach the database{where}: {_first_line(exc)}")
    return ForgeDBError(_first_line(exc))


def _foreign_key_message(exc: psycopg.Error) -> str:
    diag = exc.diag
    detail = diag.message_detail or ""
    match = _KEY_DETAIL.match(detail)
    if match and "is not present" in match["rest"]:
        table = match["rest"].split('"')[1] if '"' in match["rest"] else "the referenced table"
        return f"{table} ({match['cols']})=({match['vals']}) does not exist"
    if match:
        return f"({match['cols']})=({match['vals']}) is still referenced from {diag.table_name}"
    return f"a referenced row does not exist ({diag.constraint_name})"


def describe_target(conninfo: Mapping[str, Any]) -> str:
    """Name a server without its password: ``user@host:port/dbname``."""
    user = conninfo.get("user") or ""
    host = conninfo.get("host") or conninfo.get("hostaddr") or "localhost"
    port = conninfo.get("port") or "5432"
    dbname = conninfo.get("dbname") or user or ""
    who = f"{user}@" if user else ""
    return f"{who}{host}:{port}/{dbname}"
