"""One definition of an operation, served to the sync and the async API.

A domain namespace writes each operation once, as a method that validates its input and
returns a :class:`Query`: the SQL, its parameters and the shape of its result. The
:func:`operation` decorator turns that method into a descriptor which, looked up on a
namespace bound to a sync runner, runs the query and returns the result; looked up on a
namespace bound to an async runner, returns a coroutine of the same result. There is no
second copy of any operation to keep in step, and mypy sees both signatures::

    class Meta(Namespace[R]):
        @operation
        def server_version(self) -> Query[str]:
            return Query("SHOW server_version", (), scalar(str))

    db.meta.server_version()          # -> str
    await adb.meta.server_version()   # -> str
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from functools import cache, lru_cache
from typing import (
    Any,
    Concatenate,
    Final,
    Generic,
    LiteralString,
    ParamSpec,
    Protocol,
    Self,
    TypeAlias,
    TypeVar,
    overload,
)

import psycopg
from psycopg import pq
from psycopg import sql as pgsql
from pydantic import BaseModel, TypeAdapter

from .errors import NotFound, schema_function_named, translate

__all__ = [
    "AsyncRunner",
    "Namespace",
    "Query",
    "Result",
    "SyncRunner",
    "affected",
    "execute_async",
    "execute_sync",
    "many",
    "nothing",
    "one",
    "operation",
    "optional",
    "rowcount",
    "scalar",
    "scalar_or_none",
    "scalars",
]

_TUPLES_OK: Final = pq.ExecStatus.TUPLES_OK
_IDLE: Final = pq.TransactionStatus.IDLE

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
P = ParamSpec("P")
R = TypeVar("R")

SQL: TypeAlias = LiteralString | pgsql.SQL | pgsql.Composed
Params: TypeAlias = Sequence[Any] | Mapping[str, Any]


class Result:
    """What a runner hands a shape: the rows as tuples, their column names, the row count."""

    __slots__ = ("columns", "rowcount", "rows")

    def __init__(self, rows: list[tuple[Any, ...]], columns: tuple[str, ...], rowcount: int):
        self.rows = rows
        self.columns = columns
        self.rowcount = rowcount


Shape: TypeAlias = Callable[[Result], T]


_WHITESPACE: Final = re.compile(r"\s+")
_COMMENT: Final = re.compile(r"--[^\n]*")


@lru_cache(maxsize=2048)
def compact(sql: str) -> str:
    """``sql`` with comments dropped and whitespace runs folded, outside quoted literals.

    Operations keep their SQL indented for reading; folding keeps statements under psycopg's
    4096-character limit for caching a parsed query, and the cache here makes it a dictionary
    lookup after the first call.
    """
    parts = re.split(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")", sql)
    return "".join(
        part if i % 2 else _WHITESPACE.sub(" ", _COMMENT.sub(" ", part))
        for i, part in enumerate(parts)
    ).strip()


class Query(Generic[T]):
    """A statement ready to run: SQL, parameters, and how to turn its rows into ``T``."""

    __slots__ = ("params", "shape", "sql")

    def __init__(self, sql: SQL, params: Params, shape: Shape[T]) -> None:
        self.sql: SQL = compact(sql) if isinstance(sql, str) else sql
        self.params = params
        self.shape = shape

    def __repr__(self) -> str:
        text = self.sql if isinstance(self.sql, str) else repr(self.sql)
        return f"Query({text!r})"


# --- shapes ----------------------------------------------------------------------------------


@cache
def _list_adapter(model: type[M]) -> TypeAdapter[list[M]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def one(model: type[M], missing: str) -> Shape[M]:
    """The first row as ``model``; no row raises ``NotFound(missing)``."""
    validate = model.model_validate

    def shape(result: Result) -> M:
        if not result.rows:
            raise NotFound(missing)
        return validate(dict(zip(result.columns, result.rows[0], strict=True)))

    return shape


def optional(model: type[M]) -> Shape[M | None]:
    """The first row as ``model``, or ``None`` when there is none."""
    validate = model.model_validate

    def shape(result: Result) -> M | None:
        if not result.rows:
            return None
        return validate(dict(zip(result.columns, result.rows[0], strict=True)))

    return shape


def many(model: type[M]) -> Shape[list[M]]:
    """Every row as ``model``, validated in one pass."""
    adapter = _list_adapter(model)

    def shape(result: Result) -> list[M]:
        columns = result.columns
        return adapter.validate_python(
            [dict(zip(columns, row, strict=True)) for row in result.rows]
        )

    return shape


def scalar(kind: type[T], missing: str = "no row") -> Shape[T]:
    """The first column of the first row; no row raises ``NotFound(missing)``."""

    def shape(result: Result) -> T:
        if not result.rows:
            raise NotFound(missing)
        value: T = result.rows[0][0]
        return value

    return shape


def scalar_or_none(kind: type[T]) -> Shape[T | None]:
    """The first column of the first row, or ``None`` when there is no row."""

    def shape(result: Result) -> T | None:
        return result.rows[0][0] if result.rows else None

    return shape


def scalars(kind: type[T]) -> Shape[list[T]]:
    """The first column of every row."""

    def shape(result: Result) -> list[T]:
        return [row[0] for row in result.rows]

    return shape


def _rowcount(result: Result) -> int:
    return result.rowcount


def _nothing(result: Result) -> None:
    return None


def _affected(result: Result) -> bool:
    return result.rowcount > 0


rowcount: Final[Shape[int]] = _rowcount
nothing: Final[Shape[None]] = _nothing
affected: Final[Shape[bool]] = _affected  # whether the statement touched any row


# --- running ---------------------------------------------------------------------------------


def _columns(cursor: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]) -> tuple[str, ...] | None:
    # The column names straight from libpq: ``cursor.description`` builds a Column object per
    # column on every access, which costs more than a small query's round trip.
    result = cursor.pgresult
    if result is None or result.status != _TUPLES_OK:
        return None
    # Column names are the identifiers of our own SQL: ASCII, so any client encoding agrees.
    return tuple((result.fname(i) or b"").decode() for i in range(result.nfields))


# Whether a function of this name exists where the session looks for functions: asked after
# an undefined-function error, to tell a missing schema function from one given other types.
_FUNCTION_EXISTS: Final = """
    SELECT EXISTS (
        SELECT FROM pg_catalog.pg_proc
        WHERE proname = %s
          AND pronamespace IN (SELECT oid FROM pg_catalog.pg_namespace
                               WHERE nspname = ANY (current_schemas(false))))
"""


def _function_exists_sync(conn: psycopg.Connection[Any], exc: psycopg.Error) -> bool | None:
    name = schema_function_named(exc)
    # Inside a failed transaction nothing more can be asked; translate then assumes "missing".
    if name is None or conn.info.transaction_status != _IDLE:
        return None
    try:
        row = conn.execute(_FUNCTION_EXISTS, (name,)).fetchone()
    except psycopg.Error:
        return None
    return bool(row and row[0])


async def _function_exists_async(
    conn: psycopg.AsyncConnection[Any], exc: psycopg.Error
) -> bool | None:
    name = schema_function_named(exc)
    if name is None or conn.info.transaction_status != _IDLE:
        return None
    try:
        row = await (await conn.execute(_FUNCTION_EXISTS, (name,))).fetchone()
    except psycopg.Error:
        return None
    return bool(row and row[0])


def execute_sync(conn: psycopg.Connection[Any], query: Query[T], target: str = "") -> T:
    """Run ``query`` on ``conn`` and shape its result, translating driver errors."""
    try:
        cursor = conn.execute(query.sql, query.params)
        columns = _columns(cursor)
        rows = cursor.fetchall() if columns is not None else []
        result = Result(rows, columns or (), cursor.rowcount)
    except psycopg.Error as exc:
        exists = _function_exists_sync(conn, exc)
        raise translate(exc, target=target, function_exists=exists) from exc
    return query.shape(result)


async def execute_async(conn: psycopg.AsyncConnection[Any], query: Query[T], target: str = "") -> T:
    """Run ``query`` on ``conn`` and shape its result, translating driver errors."""
    try:
        cursor = await conn.execute(query.sql, query.params)
        columns = _columns(cursor)
        rows = await cursor.fetchall() if columns is not None else []
        result = Result(rows, columns or (), cursor.rowcount)
    except psycopg.Error as exc:
        exists = await _function_exists_async(conn, exc)
        raise translate(exc, target=target, function_exists=exists) from exc
    return query.shape(result)


class SyncRunner(Protocol):
    """Runs a query and returns its result: a pool, or one connection in a transaction."""

    def run(self, query: Query[T]) -> T:
        """Run ``query`` and return its shaped result."""
        ...


class AsyncRunner(Protocol):
    """The async twin of :class:`SyncRunner`."""

    async def run(self, query: Query[T]) -> T:
        """Run ``query`` and return its shaped result."""
        ...


# --- namespaces and operations ---------------------------------------------------------------


class Namespace(Generic[R]):
    """A domain's operations, bound to a runner (sync or async)."""

    __slots__ = ("_runner",)

    def __init__(self, runner: R) -> None:
        self._runner = runner


N = TypeVar("N", bound=Namespace[Any])


class operation(Generic[N, P, T]):
    """Decorator: a method returning a :class:`Query` becomes an operation of both APIs."""

    def __init__(self, build: Callable[Concatenate[N, P], Query[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, obj: Namespace[SyncRunner], owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(
        self, obj: Namespace[AsyncRunner], owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        build = self.build
        runner: Any = obj._runner
        if _is_async(runner):

            async def run_async(*args: Any, **kwargs: Any) -> Any:
                return await runner.run(build(obj, *args, **kwargs))

            run_async.__doc__ = self.__doc__
            return run_async

        def run_sync(*args: Any, **kwargs: Any) -> Any:
            return runner.run(build(obj, *args, **kwargs))

        run_sync.__doc__ = self.__doc__
        return run_sync

    def query(self, namespace: N, *args: P.args, **kwargs: P.kwargs) -> Query[T]:
        """The query this operation would run, without running it (for inspection and tests)."""
        return self.build(namespace, *args, **kwargs)


def _is_async(runner: object) -> bool:
    return isinstance(runner, AsyncRunnerBase)


class AsyncRunnerBase:
    """Marker base of the async runners, so an operation knows to return a coroutine."""

    __slots__ = ()
