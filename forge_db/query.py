"""One definition of an operation, served to the sync and the async API.

A domain namespace writes each operation once, as a method that returns a :class:`Query`: the
SQL, its parameters and the shape of its result. The :func:`read` and :func:`write` decorators
check the arguments against their annotated types (``forge_db.inputs``) and turn the method into
a descriptor which, looked up on a namespace bound to a sync runner, runs the query and returns
the result; looked up on a namespace bound to an async runner, returns a coroutine of the same
result. There is no second copy of any operation to keep in step, and mypy sees both
signatures::

    class Meta(Namespace[R]):
        @read
        def server_version(self) -> Query[str]:
            return Query("SHOW server_version", (), scalar(str))

    db.meta.server_version()                  # -> str
    await adb.meta.server_version()           # -> str
    db.meta.server_version.query()            # -> Query[str], not run
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import (
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from functools import cache, lru_cache
from types import MappingProxyType
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
    get_origin,
    get_type_hints,
    overload,
)

import psycopg
from psycopg import pq
from psycopg import sql as pgsql
from pydantic import BaseModel, TypeAdapter

from .deadline import arm, disarm, exceeded
from .errors import InvalidInput, NotFound, schema_function_named, translate
from .inputs import Refused, compile_check

__all__ = [
    "AsyncBound",
    "AsyncRunner",
    "Bound",
    "Copy",
    "Direct",
    "Namespace",
    "Query",
    "Result",
    "Shape",
    "SyncRunner",
    "affected",
    "alias",
    "aliases",
    "children",
    "execute_async",
    "execute_sync",
    "many",
    "model_columns",
    "nothing",
    "one",
    "operation",
    "operations",
    "optional",
    "read",
    "rowcount",
    "scalar",
    "scalar_or_none",
    "scalars",
    "walk",
    "write",
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


_WHITESPACE: Final = re.compile(r"\s+")
# What folding must step over whole, leftmost first: a comment (whose text may hold a quote), a
# string literal, a quoted identifier, a dollar-quoted body.
_TOKEN: Final = re.compile(
    r"(?P<comment>--[^\n]*)"
    r"|'(?:[^']|'')*'"
    r'|"(?:[^"]|"")*"'
    r"|\$\$.*?\$\$"
    r"|\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*)\$.*?\$(?P=tag)\$",
    re.DOTALL,
)


@lru_cache(maxsize=2048)
def compact(sql: str) -> str:
    """``sql`` with comments dropped and whitespace runs folded, outside quoted literals.

    Operations keep their SQL indented for reading; folding keeps statements under psycopg's
    4096-character limit for caching a parsed query, and the cache here makes it a dictionary
    lookup after the first call.
    """
    out: list[str] = []
    text = ""  # SQL outside literals since the last literal, comments already made spaces
    end = 0
    for token in _TOKEN.finditer(sql):
        text += sql[end : token.start()]
        if token.group("comment") is not None:
            text += " "
        else:
            out += (_WHITESPACE.sub(" ", text), token.group())
            text = ""
        end = token.end()
    out.append(_WHITESPACE.sub(" ", text + sql[end:]))
    return "".join(out).strip()


class Direct:
    """The optimistic path of a :class:`Copy`: rows ``COPY``'d straight into the real table.

    ``statement`` is the ``COPY <table> ... FROM STDIN (FORMAT BINARY)`` of the same rows (and
    the same column types) into the table itself; ``follow`` is the statement run after it, with
    its own ``params``, and must return what the query's own statement returns (one shape reads
    either). The runner tries this path first, inside a savepoint: a unique violation from the
    ``COPY`` (a row already there, or put by a concurrent writer) rolls back to the savepoint,
    and the staged path runs as if the direct one had never been tried. An error of ``follow``
    is the operation's error.
    """

    __slots__ = ("follow", "params", "statement")

    def __init__(self, statement: LiteralString, follow: SQL, params: Params) -> None:
        self.statement = compact(statement)
        self.follow: SQL = compact(follow) if isinstance(follow, str) else follow
        self.params = params


class Copy:
    """Rows for a bulk statement: sent with ``COPY`` into a temporary table the statement reads.

    ``setup`` creates the table (``CREATE TEMP TABLE IF NOT EXISTS ... ON COMMIT DROP``),
    ``statement`` is the ``COPY ... FROM STDIN (FORMAT BINARY)`` that fills it with ``rows``,
    whose columns have the server types ``types``. The runner sends the three and the query's
    own statement in one transaction (a savepoint inside a caller's), so the operation stays
    atomic; the statement consumes the staged rows (``DELETE ... RETURNING``), so a second call
    in the same transaction starts from an empty table.

    ``direct``, when given, is tried first (:class:`Direct`); the rows may then be sent twice,
    so they are kept as a list.
    """

    __slots__ = ("direct", "rows", "setup", "statement", "types")

    def __init__(
        self,
        setup: LiteralString,
        statement: LiteralString,
        types: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        direct: Direct | None = None,
    ) -> None:
        self.setup = compact(setup)
        self.statement = compact(statement)
        self.types = tuple(types)
        self.rows = rows if direct is None or isinstance(rows, list) else list(rows)
        self.direct = direct


class Query(Generic[T]):
    """A statement ready to run: SQL, parameters, and how to turn its rows into ``T``.

    ``copy``, for a bulk operation, carries rows that reach the server by ``COPY`` first.
    """

    __slots__ = ("copy", "params", "shape", "sql")

    def __init__(
        self, sql: SQL, params: Params, shape: Shape[T], *, copy: Copy | None = None
    ) -> None:
        self.sql: SQL = compact(sql) if isinstance(sql, str) else sql
        self.params = params
        self.shape = shape
        self.copy = copy

    def __repr__(self) -> str:
        text = self.sql if isinstance(self.sql, str) else repr(self.sql)
        return f"Query({text!r})"


# --- shapes ----------------------------------------------------------------------------------


class Shape(Generic[T]):
    """How a statement's rows become ``T``, and which columns it expects to find.

    ``columns`` maps each expected result column to the Python type it must convert to (``None``
    for a shape that reads no columns, such as a row count); the statement check in
    ``tests/contracts`` compares it with what the server says the statement returns.
    """

    __slots__ = ("columns", "convert", "paging")

    def __init__(
        self,
        convert: Callable[[Result], T],
        columns: Mapping[str, Any] | None = None,
        *,
        paging: tuple[Any, tuple[Any, ...]] | None = None,
    ) -> None:
        self.convert = convert
        self.columns = columns
        self.paging = paging  # (keyset, scope) of a paged list, for tests that make cursors


@cache
def _list_adapter(model: type[M]) -> TypeAdapter[list[M]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


@cache
def model_columns(model: type[BaseModel], prefix: str = "") -> Mapping[str, Any]:
    """The columns a statement must return for ``model``: one per field, by name."""
    return MappingProxyType(
        {prefix + name: field.annotation for name, field in model.model_fields.items()}
    )


def one(model: type[M], missing: str) -> Shape[M]:
    """The first row as ``model``; no row raises ``NotFound(missing)``."""
    validate = model.model_validate

    def convert(result: Result) -> M:
        if not result.rows:
            raise NotFound(missing)
        return validate(dict(zip(result.columns, result.rows[0], strict=True)))

    return Shape(convert, model_columns(model))


def optional(model: type[M]) -> Shape[M | None]:
    """The first row as ``model``, or ``None`` when there is none."""
    validate = model.model_validate

    def convert(result: Result) -> M | None:
        if not result.rows:
            return None
        return validate(dict(zip(result.columns, result.rows[0], strict=True)))

    return Shape(convert, model_columns(model))


def many(model: type[M]) -> Shape[list[M]]:
    """Every row as ``model``, validated in one pass."""
    adapter = _list_adapter(model)

    def convert(result: Result) -> list[M]:
        columns = result.columns
        return adapter.validate_python(
            [dict(zip(columns, row, strict=True)) for row in result.rows]
        )

    return Shape(convert, model_columns(model))


def scalar(kind: type[T], missing: str = "no row") -> Shape[T]:
    """The first column of the first row; no row raises ``NotFound(missing)``."""

    def convert(result: Result) -> T:
        if not result.rows:
            raise NotFound(missing)
        value: T = result.rows[0][0]
        return value

    return Shape(convert, {"": kind})


def scalar_or_none(kind: type[T]) -> Shape[T | None]:
    """The first column of the first row, or ``None`` when there is no row."""

    def convert(result: Result) -> T | None:
        return result.rows[0][0] if result.rows else None

    return Shape(convert, {"": kind})


def scalars(kind: type[T]) -> Shape[list[T]]:
    """The first column of every row."""

    def convert(result: Result) -> list[T]:
        return [row[0] for row in result.rows]

    return Shape(convert, {"": kind})


def _rowcount(result: Result) -> int:
    return result.rowcount


def _nothing(result: Result) -> None:
    return None


def _affected(result: Result) -> bool:
    return result.rowcount > 0


rowcount: Final[Shape[int]] = Shape(_rowcount)
nothing: Final[Shape[None]] = Shape(_nothing)
affected: Final[Shape[bool]] = Shape(_affected)  # "did it change": the statement touched a row


# --- running ---------------------------------------------------------------------------------


# Column names by statement text: a statement's names are fixed by its text (the count is
# checked, should a ``SELECT *`` widen under a migration), and reading and decoding them from
# the result was a tenth of the layer's own work on a single-row call.
_NAMES: dict[str, tuple[str, ...]] = {}
_NAMES_KEPT: Final = 4096


def _columns(
    cursor: psycopg.Cursor[Any] | psycopg.AsyncCursor[Any], sql: object = None
) -> tuple[str, ...] | None:
    # The column names straight from libpq: ``cursor.description`` builds a Column object per
    # column on every access, which costs more than a small query's round trip.
    result = cursor.pgresult
    if result is None or result.status != _TUPLES_OK:
        return None
    count = result.nfields
    if isinstance(sql, str):
        known = _NAMES.get(sql)
        if known is not None and len(known) == count:
            return known
    # Column names are the identifiers of our own SQL: ASCII, so any client encoding agrees.
    names = tuple((result.fname(i) or b"").decode() for i in range(count))
    if isinstance(sql, str):
        if len(_NAMES) >= _NAMES_KEPT:
            _NAMES.clear()
        _NAMES[sql] = names
    return names


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


class _Run:
    """A step of a bulk operation: run ``sql`` with ``params``; the reply is its result."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: SQL, params: Params | None = None) -> None:
        self.sql = sql
        self.params = params


class _Send:
    """A step of a bulk operation: ``COPY`` ``rows`` by ``statement``; the reply, its count."""

    __slots__ = ("rows", "statement", "types")

    def __init__(
        self, statement: LiteralString, types: tuple[str, ...], rows: Iterable[Sequence[Any]]
    ) -> None:
        self.statement = statement
        self.types = types
        self.rows = rows


_Step: TypeAlias = _Run | _Send
_SAVEPOINT: Final = "SAVEPOINT forge_db_direct_copy"
_ROLLBACK_TO: Final = "ROLLBACK TO SAVEPOINT forge_db_direct_copy"
_RELEASE: Final = "RELEASE SAVEPOINT forge_db_direct_copy"


def _bulk_steps(query: Query[Any], copy: Copy) -> Generator[_Step, Result, Result]:
    """What a bulk operation sends, step by step, inside its transaction: the one definition.

    The sync and the async runner drive it alike: each step they are given they run, and they
    send back its result, or throw in the driver error it raised; what it returns is the
    operation's result. The direct path runs in a savepoint so that its unique violation (only
    the ``COPY``'s: the follow statement's errors are the operation's) costs nothing but the
    rows sent again: after the rollback to the savepoint the staged path starts from the state
    the direct one found. The savepoint is left in place after that rollback; the enclosing
    transaction (or the caller's savepoint) ends it.
    """
    direct = copy.direct
    if direct is not None:
        yield _Run(_SAVEPOINT)
        try:
            yield _Send(direct.statement, copy.types, copy.rows)
        except psycopg.errors.UniqueViolation:
            yield _Run(_ROLLBACK_TO)
        else:
            result = yield _Run(direct.follow, direct.params)
            yield _Run(_RELEASE)
            return result
    yield _Run(copy.setup)
    yield _Send(copy.statement, copy.types, copy.rows)
    return (yield _Run(query.sql, query.params))


def _resume(
    steps: Generator[_Step, Result, Result], outcome: Result | psycopg.Error
) -> _Step | Result:
    """The step after ``outcome`` (the last step's result, or its error), or the final result."""
    try:
        if isinstance(outcome, psycopg.Error):
            return steps.throw(outcome)
        return steps.send(outcome)
    except StopIteration as done:
        result: Result = done.value
        return result


def _copy_then_run_sync(conn: psycopg.Connection[Any], query: Query[Any], copy: Copy) -> Result:
    with conn.transaction():
        cursor = conn.cursor()
        steps = _bulk_steps(query, copy)
        step: _Step | Result = next(steps)
        while not isinstance(step, Result):
            outcome: Result | psycopg.Error
            try:
                if isinstance(step, _Send):
                    with cursor.copy(step.statement) as stream:
                        stream.set_types(step.types)
                        for row in step.rows:
                            stream.write_row(row)
                    outcome = Result([], (), cursor.rowcount)
                else:
                    cursor.execute(step.sql, step.params)
                    columns = _columns(cursor, step.sql)
                    rows = cursor.fetchall() if columns is not None else []
                    outcome = Result(rows, columns or (), cursor.rowcount)
            except psycopg.Error as exc:
                outcome = exc
            step = _resume(steps, outcome)
        return step


async def _copy_then_run_async(
    conn: psycopg.AsyncConnection[Any], query: Query[Any], copy: Copy
) -> Result:
    async with conn.transaction():
        cursor = conn.cursor()
        steps = _bulk_steps(query, copy)
        step: _Step | Result = next(steps)
        while not isinstance(step, Result):
            outcome: Result | psycopg.Error
            try:
                if isinstance(step, _Send):
                    async with cursor.copy(step.statement) as stream:
                        stream.set_types(step.types)
                        for row in step.rows:
                            await stream.write_row(row)
                    outcome = Result([], (), cursor.rowcount)
                else:
                    await cursor.execute(step.sql, step.params)
                    columns = _columns(cursor, step.sql)
                    rows = await cursor.fetchall() if columns is not None else []
                    outcome = Result(rows, columns or (), cursor.rowcount)
            except psycopg.Error as exc:
                outcome = exc
            step = _resume(steps, outcome)
        return step


def execute_sync(
    conn: psycopg.Connection[Any], query: Query[T], target: str = "", deadline: float | None = None
) -> T:
    """Run ``query`` on ``conn`` and shape its result, translating driver errors.

    ``deadline``: seconds after which the client cancels the statement, and then closes the
    connection, and raises ``Unavailable`` (:mod:`forge_db.deadline`).
    """
    if deadline is not None:
        arm(conn, deadline)
    try:
        if query.copy is not None:
            result = _copy_then_run_sync(conn, query, query.copy)
        else:
            cursor = conn.execute(query.sql, query.params)
            columns = _columns(cursor, query.sql)
            rows = cursor.fetchall() if columns is not None else []
            result = Result(rows, columns or (), cursor.rowcount)
    except psycopg.Error as exc:
        fired = disarm(conn) if deadline is not None else None
        if fired is not None:
            conn.close()
            raise exceeded(fired, target) from exc
        exists = _function_exists_sync(conn, exc)
        raise translate(exc, target=target, function_exists=exists) from exc
    except BaseException:
        if deadline is not None and disarm(conn) is not None:
            conn.close()
        raise
    if deadline is not None and disarm(conn) is not None:
        # It answered in the grace period; the late cancel request could still hit the
        # connection's next statement.
        conn.close()
    return query.shape.convert(result)


async def execute_async(
    conn: psycopg.AsyncConnection[Any],
    query: Query[T],
    target: str = "",
    deadline: float | None = None,
) -> T:
    """Run ``query`` on ``conn`` and shape its result, translating driver errors.

    ``deadline``: as for :func:`execute_sync`.
    """
    if deadline is not None:
        arm(conn, deadline)
    try:
        if query.copy is not None:
            result = await _copy_then_run_async(conn, query, query.copy)
        else:
            cursor = await conn.execute(query.sql, query.params)
            columns = _columns(cursor, query.sql)
            rows = await cursor.fetchall() if columns is not None else []
            result = Result(rows, columns or (), cursor.rowcount)
    except psycopg.Error as exc:
        fired = disarm(conn) if deadline is not None else None
        if fired is not None:
            await conn.close()
            raise exceeded(fired, target) from exc
        exists = await _function_exists_async(conn, exc)
        raise translate(exc, target=target, function_exists=exists) from exc
    except BaseException:
        # Cancelled (a task timeout): the watchdog must not act on a connection it no
        # longer guards.
        if deadline is not None and disarm(conn) is not None:
            await conn.close()
        raise
    if deadline is not None and disarm(conn) is not None:
        await conn.close()
    return query.shape.convert(result)


class SyncRunner(Protocol):
    """Runs a query and returns its result: a pool, or one connection in a transaction.

    A runner may also offer ``run_read(query)``, which ``@read`` operations then take (the
    replica router does: reads to a replica, writes to the primary).
    """

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
    """A group of operations bound to a runner (sync or async); may hold child namespaces.

    A child namespace is declared as a class annotation (``labels: Labels[R]``) and made with
    the parent, on the same runner, so ``db.issues.labels.create`` is the ``create`` operation
    of ``forge_db/issues/labels.py``.
    """

    def __init__(self, runner: R) -> None:
        self._runner = runner
        self._async = isinstance(runner, AsyncRunnerBase)
        for name, child in children(type(self)).items():
            setattr(self, name, child(runner))


_CHILDREN: dict[type[Any], dict[str, type[Namespace[Any]]]] = {}


def children(owner: type[Any]) -> dict[str, type[Namespace[Any]]]:
    """The child namespaces a class declares in its annotations, by attribute name."""
    found = _CHILDREN.get(owner)
    if found is None:
        found = {}
        for name, hint in get_type_hints(owner).items():
            kind = get_origin(hint) or hint
            if isinstance(kind, type) and issubclass(kind, Namespace):
                found[name] = kind
        _CHILDREN[owner] = found
    return found


def walk(owner: type[Any], prefix: str = "db") -> Iterator[tuple[str, operation[Any, Any, Any]]]:
    """Every operation reachable from ``owner`` (``Domains`` or a namespace), by dotted path."""
    if isinstance(owner, type) and issubclass(owner, Namespace):
        for name, op in operations(owner).items():
            yield f"{prefix}.{name}", op
    for name, child in children(owner).items():
        yield from walk(child, f"{prefix}.{name}")


N = TypeVar("N", bound=Namespace[Any])


def _checked(build: Callable[..., Query[T]]) -> Callable[..., Query[T]]:
    """``build`` with every argument checked against its annotation first.

    Each parameter's annotation (``forge_db.inputs``: ``Id``, ``Title``, ``Literal[...]``, ...)
    is compiled once into a check, and a wrapper with ``build``'s very signature is generated
    around them (as ``dataclasses`` generates ``__init__``), so Python binds the arguments and
    a call that does not fit the signature is the usual ``TypeError``. A refused value becomes
    ``InvalidInput`` naming the parameter. No value is coerced: a string is no list, ``"no"``
    is no bool, ``True`` no id.
    """
    signature = inspect.signature(build)
    hints = get_type_hints(build, include_extras=True)
    scope: dict[str, Any] = {"_build": build, "_Refused": Refused, "_refused": _refused}
    head, lines, call = ["_namespace"], [], ["_namespace"]
    keyword_only = False
    for name, parameter in list(signature.parameters.items())[1:]:
        scope[f"_check_{name}"] = compile_check(hints.get(name, Any))
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and not keyword_only:
            head.append("*")
            keyword_only = True
        if parameter.default is inspect.Parameter.empty:
            head.append(name)
        else:
            scope[f"_default_{name}"] = parameter.default
            head.append(f"{name}=_default_{name}")
        lines.append(f"        _field = {name!r}; {name} = _check_{name}({name})")
        call.append(f"{name}={name}" if keyword_only else name)
    source = "\n".join(
        [
            f"def {build.__name__}({', '.join(head)}):",
            "    try:",
            *(lines or ["        pass"]),
            "    except _Refused as _exc:",
            "        raise _refused(_field, _exc) from None",
            f"    return _build({', '.join(call)})",
        ]
    )
    exec(compile(source, f"<checked {build.__qualname__}>", "exec"), scope)  # noqa: S102 - text made here from a signature
    checked: Callable[..., Query[T]] = functools.wraps(build)(scope[build.__name__])
    return checked


def _refused(field: str, exc: Refused) -> InvalidInput:
    return InvalidInput(f"{field}{exc.where} {exc.message}", field=field)


class operation(Generic[N, P, T]):
    """An operation of both APIs: a namespace method returning the :class:`Query` to run.

    Made by :func:`read` or :func:`write`, which say once, where the operation is defined,
    whether it changes data. Looked up on a namespace bound to a sync runner it runs the query
    and returns the result; on an async one it returns a coroutine of the same result. The bound
    operation is made once per namespace and kept in its ``__dict__``, so later lookups cost a
    dictionary hit.
    """

    def __init__(self, build: Callable[Concatenate[N, P], Query[T]], *, writes: bool) -> None:
        self.build = _checked(build)
        self.writes = writes
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__
        self.__wrapped__ = build
        self.owner: type[Any] | None = None

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.__name__ = name
        self.owner = owner

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(self, obj: Namespace[SyncRunner], owner: type[Any]) -> Bound[P, T]: ...

    @overload
    def __get__(self, obj: Namespace[AsyncRunner], owner: type[Any]) -> AsyncBound[P, T]: ...

    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        return self._bind(obj, self.__name__)

    def _bind(self, obj: Namespace[Any], name: str) -> Any:
        bound = (AsyncBound if obj._async else Bound)(self, obj)
        obj.__dict__[name] = bound
        return bound

    def query(self, namespace: Namespace[Any], *args: P.args, **kwargs: P.kwargs) -> Query[T]:
        """The query this operation would run on ``namespace``, without running it."""
        build: Callable[..., Query[T]] = self.build
        return build(namespace, *args, **kwargs)


class alias(Generic[N, P, T]):
    """A second name for an operation of a child namespace, kept where an issue named it.

    ``create_workspace = alias(Workspaces.create)`` in the ``Jj`` class makes
    ``db.jj.create_workspace`` the very operation ``db.jj.workspaces.create`` (one definition,
    in ``forge_db/jj/workspaces.py``). Enumerations (:func:`walk`) list the operation once,
    under its own name.
    """

    def __init__(self, op: operation[N, P, T]) -> None:
        self.operation = op
        self.name = op.__name__
        self.__doc__ = op.__doc__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> operation[N, P, T]: ...

    @overload
    def __get__(self, obj: Namespace[SyncRunner], owner: type[Any]) -> Bound[P, T]: ...

    @overload
    def __get__(self, obj: Namespace[AsyncRunner], owner: type[Any]) -> AsyncBound[P, T]: ...

    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self.operation
        return self.operation._bind(obj, self.name)


def aliases(namespace: type[Namespace[Any]]) -> dict[str, operation[Any, Any, Any]]:
    """The second names a namespace class gives to operations of its children."""
    found: dict[str, operation[Any, Any, Any]] = {}
    for klass in reversed(namespace.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, alias):
                found[name] = value.operation
    return found


def _runner_for(op: operation[Any, Any, Any], runner: Any) -> Any:
    # Routing comes from the declaration: a runner that can send reads elsewhere (a replica)
    # offers ``run_read``; writes, and every call on a runner without it, take ``run``.
    run_read = None if op.writes else getattr(runner, "run_read", None)
    return run_read if run_read is not None else runner.run


class Bound(Generic[P, T]):
    """An operation bound to a sync namespace: calling it runs the statement."""

    def __init__(self, op: operation[Any, P, T], namespace: Namespace[Any]) -> None:
        self.operation = op
        self._build: Callable[..., Query[T]] = op.build
        self._namespace = namespace
        self._run: Callable[[Query[T]], T] = _runner_for(op, namespace._runner)
        self.__doc__ = op.__doc__

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(self._build(self._namespace, *args, **kwargs))

    def query(self, *args: P.args, **kwargs: P.kwargs) -> Query[T]:
        """The query a call with these arguments would run, without running it."""
        return self._build(self._namespace, *args, **kwargs)


class AsyncBound(Generic[P, T]):
    """An operation bound to an async namespace: calling it returns a coroutine of the result."""

    def __init__(self, op: operation[Any, P, T], namespace: Namespace[Any]) -> None:
        self.operation = op
        self._build: Callable[..., Query[T]] = op.build
        self._namespace = namespace
        self._run: Callable[[Query[T]], Awaitable[T]] = _runner_for(op, namespace._runner)
        self.__doc__ = op.__doc__

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(self._build(self._namespace, *args, **kwargs))

    def query(self, *args: P.args, **kwargs: P.kwargs) -> Query[T]:
        """The query a call with these arguments would run, without running it."""
        return self._build(self._namespace, *args, **kwargs)


def read(build: Callable[Concatenate[N, P], Query[T]]) -> operation[N, P, T]:
    """Decorator: an operation that only reads (safe to retry, and to send to a replica)."""
    return operation(build, writes=False)


def write(build: Callable[Concatenate[N, P], Query[T]]) -> operation[N, P, T]:
    """Decorator: an operation that changes data."""
    return operation(build, writes=True)


def operations(namespace: type[Namespace[Any]]) -> dict[str, operation[Any, Any, Any]]:
    """The operations a namespace class defines, by name (its own and inherited)."""
    found: dict[str, operation[Any, Any, Any]] = {}
    for klass in reversed(namespace.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, operation):
                found[name] = value
    return found


class AsyncRunnerBase:
    """Marker base of the async runners, so an operation knows to return a coroutine."""

    __slots__ = ()
