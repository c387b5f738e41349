"""Migrations on yoyo, the drift check against ``db/schema.sql``, and database reset.

The SQL lives in ``db/`` of the source tree and ships inside the wheel as ``forge_db/_db``,
so an installed package migrates without a checkout. Migrating or rolling back holds a
PostgreSQL advisory lock for the whole run, so processes that start at once apply each
migration exactly once.

Reading never writes: ``status``, ``check`` and the dry runs read yoyo's bookkeeping table when
it exists and never create it. Every connection gives up after the URL's ``connect_timeout``,
else after the library's default (5 s).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql as pgsql

from .config import Settings, parse_url, target_of, with_dbname
from .errors import ForgeDBError, InvalidInput, PermissionDenied, translate

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "SYSTEM_DATABASES",
    "Drift",
    "MigrationState",
    "catalog",
    "check",
    "create_database",
    "diff_catalogs",
    "drift",
    "ensure_resettable",
    "load_schema",
    "migrate",
    "migrations_dir",
    "reset_database",
    "rollback",
    "schema_path",
    "sql_root",
    "status",
    "with_connect_timeout",
]

DEFAULT_CONNECT_TIMEOUT: Final[float] = Settings.model_fields["connect_timeout"].default
SYSTEM_DATABASES: Final = ("postgres", "template0", "template1")

# pg_advisory_lock key: "forge_db migrate" folded into a bigint; any fixed value would do.
MIGRATION_LOCK_KEY: Final = 0x666F7267655F6462
# yoyo's bookkeeping tables are not part of the forge schema.
YOYO_TABLES: Final = ("_yoyo_log", "_yoyo_migration", "_yoyo_version", "yoyo_lock")


def sql_root() -> Path:
    """The directory holding ``schema.sql`` and ``migrations/`` (packaged, else the checkout)."""
    packaged = Path(__file__).with_name("_db")
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "db"


def schema_path() -> Path:
    """Path of ``schema.sql``, the whole schema of a fresh database."""
    return sql_root() / "schema.sql"


def migrations_dir() -> Path:
    """Path of the yoyo migrations directory."""
    return sql_root() / "migrations"


def with_connect_timeout(url: str, seconds: float | None = None) -> str:
    """``url`` with libpq's ``connect_timeout`` set to ``seconds`` (whole, at least 2).

    With ``seconds=None`` a timeout already in the URL is kept, else the library default applies.
    A URL stays a URL, so that it can still be printed and pasted.
    """
    info = parse_url(url)
    if seconds is None:
        if str(info.get("connect_timeout") or "").strip():
            return url
        seconds = DEFAULT_CONNECT_TIMEOUT
    value = str(max(2, round(seconds)))
    if "://" not in url:
        return psycopg.conninfo.make_conninfo(url, connect_timeout=value)
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query = [(k, v) for k, v in query if k != "connect_timeout"] + [("connect_timeout", value)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def _connect(url: str, *, read_only: bool = False) -> psycopg.Connection[Any]:
    """A connection that gives up in time; ``read_only`` ones cannot write even by mistake."""
    url = with_connect_timeout(url)
    try:
        conn = psycopg.connect(url, autocommit=not read_only)
    except psycopg.Error as exc:
        raise translate(exc, target=target_of(url)) from exc
    if read_only:
        conn.read_only = True
    return conn


def yoyo_url(url: str) -> str:
    """The yoyo URI for a libpq URL: psycopg 3 scheme, socket host in the query string."""
    info = parse_url(url)
    user = quote(str(info.pop("user", "") or ""), safe="")
    password = info.pop("password", None)
    host = str(info.pop("host", "") or "")
    port = info.pop("port", None)
    dbname = quote(str(info.pop("dbname", "") or ""), safe="")
    query: dict[str, str] = {str(k): str(v) for k, v in info.items()}
    authority = user
    if password is not None:
        authority += ":" + quote(str(password), safe="")
    if authority:
        authority += "@"
    if host.startswith("/") or "," in host:
        query["host"] = host
        if port:
            query["port"] = str(port)
    else:
        authority += host
        if port:
            authority += f":{port}"
    suffix = f"?{urlencode(query)}" if query else ""
    return f"postgresql+psycopg://{authority}/{dbname}{suffix}"


@contextmanager
def _advisory_lock(url: str) -> Iterator[psycopg.Connection[Any]]:
    conn = _connect(url)
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            yield conn
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


@contextmanager
def _backend(url: str) -> Iterator[Any]:
    from yoyo import get_backend

    try:
        backend = get_backend(yoyo_url(with_connect_timeout(url)))
    except psycopg.Error as exc:
        raise translate(exc, target=target_of(url)) from exc
    try:
        yield backend
    finally:
        backend.connection.close()


def _read() -> Any:
    from yoyo import read_migrations

    return read_migrations(str(migrations_dir()))


def _applied(conn: psycopg.Connection[Any]) -> dict[str, datetime]:
    """Applied migrations (yoyo's hash of the id, when), read without creating any table."""
    found = conn.execute("SELECT to_regclass('_yoyo_migration') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return {}
    rows = conn.execute("SELECT migration_hash, applied_at_utc FROM _yoyo_migration").fetchall()
    return {row[0]: row[1].replace(tzinfo=UTC) for row in rows}


def _applied_at(url: str) -> dict[str, datetime]:
    with _connect(url, read_only=True) as conn:
        try:
            return _applied(conn)
        except psycopg.Error as exc:
            raise translate(exc, target=target_of(url)) from exc


def migrate(url: str, *, dry_run: bool = False) -> list[str]:
    """Apply pending migrations; return their ids (``dry_run`` lists them and writes nothing)."""
    if dry_run:
        applied = _applied_at(url)
        return [m.id for m in _read() if m.hash not in applied]
    with _advisory_lock(url), _backend(url) as backend, backend.lock():
        pending = backend.to_apply(_read())
        ids = [m.id for m in pending]
        if ids:
            _run(backend.apply_migrations, pending, url)
        return ids


def rollback(url: str, *, everything: bool = False, dry_run: bool = False) -> list[str]:
    """Roll back the newest applied migration (or all); return their ids, newest first.

    ``dry_run`` lists them and writes nothing.
    """
    if dry_run:
        applied = _applied_at(url)
        ids = [m.id for m in reversed(list(_read())) if m.hash in applied]
        return ids if everything else ids[:1]
    with _advisory_lock(url), _backend(url) as backend, backend.lock():
        applied_migrations = backend.to_rollback(_read())
        chosen = applied_migrations if everything else applied_migrations[:1]
        ids = [m.id for m in chosen]
        if ids:
            _run(backend.rollback_migrations, chosen, url)
        return ids


def _run(action: Any, migrations: Any, url: str) -> None:
    try:
        action(migrations)
    except psycopg.Error as exc:
        raise translate(exc, target=target_of(url)) from exc


@dataclass(frozen=True)
class MigrationState:
    """One migration and whether (and when) it was applied to a database."""

    migration_id: str
    applied: bool
    applied_at: datetime | None


def status(url: str) -> list[MigrationState]:
    """Every known migration, in order, with whether it is applied (writes nothing)."""
    applied = _applied_at(url)
    return [MigrationState(m.id, m.hash in applied, applied.get(m.hash)) for m in _read()]


# --- drift -----------------------------------------------------------------------------------

_CATALOG_QUERIES: Final[dict[str, str]] = {
    "table": """
        SELECT c.relname,
               format('%s kind=%s comment=%L', c.relname, c.relkind,
                      obj_description(c.oid, 'pg_class'))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    """,
    "column": """
        SELECT c.relname || '.' || a.attname,
               format('%s %s notnull=%s default=%s identity=%L generated=%L collation=%s '
                      'comment=%L',
                      a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                      pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
                      co.collname, col_description(c.oid, a.attnum))
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
             AND co.collname <> 'default'
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "constraint": """
        SELECT coalesce(c.relname, t.typname) || '.' || con.conname,
               format('%s deferrable=%s deferred=%s valid=%s comment=%L',
                      pg_get_constraintdef(con.oid), con.condeferrable, con.condeferred,
                      con.convalidated, obj_description(con.oid, 'pg_constraint'))
        FROM pg_constraint con
        JOIN pg_namespace n ON n.oid = con.connamespace
        LEFT JOIN pg_class c ON c.oid = con.conrelid
        LEFT JOIN pg_type t ON t.oid = con.contypid
        WHERE n.nspname = 'public' AND con.contype <> 'n'
    """,
    "index": """
        SELECT c.relname,
               format('%s comment=%L', pg_get_indexdef(c.oid),
                      obj_description(c.oid, 'pg_class'))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('i', 'I')
    """,
    "sequence": """
        SELECT c.relname, format('%s comment=%L', c.relname, obj_description(c.oid, 'pg_class'))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'S'
    """,
    "function": """
        SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
               format('%s comment=%L', pg_get_functiondef(p.oid),
                      obj_description(p.oid, 'pg_proc'))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p', 'w')
    """,
    "aggregate": """
        SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', p.proname
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.prokind = 'a'
    """,
    "trigger": """
        SELECT c.relname || '.' || t.tgname,
               format('%s enabled=%s comment=%L', pg_get_triggerdef(t.oid), t.tgenabled,
                      obj_description(t.oid, 'pg_trigger'))
        FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT t.tgisinternal
    """,
    "type": """
        SELECT t.typname,
               format('%s type=%s base=%s comment=%L', t.typname, t.typtype,
                      format_type(t.typbasetype, t.typtypmod),
                      obj_description(t.oid, 'pg_type'))
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('d', 'e', 'r', 'm')
           OR (n.nspname = 'public' AND t.typtype = 'c'
               AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
    """,
    "enum": """
        SELECT t.typname || '.' || e.enumlabel, e.enumlabel || ' ' || e.enumsortorder
        FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
        JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public'
    """,
    "policy": """
        SELECT c.relname || '.' || p.polname,
               format('%s %s %s', p.polcmd, pg_get_expr(p.polqual, p.polrelid),
                      pg_get_expr(p.polwithcheck, p.polrelid))
        FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
    """,
}

Catalog = dict[str, dict[str, str]]


def _is_yoyo(kind: str, name: str) -> bool:
    head = name.split(".", 1)[0]
    return head in YOYO_TABLES or any(head.startswith(t + "_") for t in YOYO_TABLES)


def catalog(conn: psycopg.Connection[Any]) -> Catalog:
    """Describe every object of the ``public`` schema, keyed by kind then name."""
    result: Catalog = {}
    for kind, query in _CATALOG_QUERIES.items():
        rows = conn.execute(query).fetchall()
        result[kind] = {name: desc for name, desc in rows if not _is_yoyo(kind, name)}
    return result


def diff_catalogs(expected: Catalog, actual: Catalog) -> list[str]:
    """Human-readable differences: ``missing``, ``unexpected`` and ``differs`` lines."""
    lines: list[str] = []
    for kind in expected.keys() | actual.keys():
        want = expected.get(kind, {})
        have = actual.get(kind, {})
        for name in sorted(want.keys() - have.keys()):
            lines.append(f"missing {kind} {name}: {want[name]}")
        for name in sorted(have.keys() - want.keys()):
            lines.append(f"unexpected {kind} {name}: {have[name]}")
        for name in sorted(want.keys() & have.keys()):
            if want[name] != have[name]:
                lines.append(
                    f"differs {kind} {name}:\n  schema.sql: {want[name]}\n  live: {have[name]}"
                )
    return sorted(lines)


def load_schema(conn: psycopg.Connection[Any], path: Path | None = None) -> None:
    """Execute ``schema.sql`` (or ``path``) on ``conn`` in one transaction."""
    text = (path or schema_path()).read_text(encoding="utf-8")
    with conn.transaction():
        conn.execute(text.encode())


def _may_create_databases(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    return bool(row and row[0])


def _no_createdb(conn: psycopg.Connection[Any], why: str) -> PermissionDenied:
    return PermissionDenied(
        f"role {conn.info.user!r} may not create databases (it needs CREATEDB), {why}"
    )


@contextmanager
def scratch_database(url: str, prefix: str = "forge_db_scratch") -> Iterator[str]:
    """Create an empty database on ``url``'s server for the block's duration; yield its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    target = target_of(url)
    with _connect(url) as admin:
        try:
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        except pgerrors.InsufficientPrivilege as exc:
            why = f"and a scratch database on the server of {target} is needed for this"
            raise _no_createdb(admin, why) from exc
        except psycopg.Error as exc:
            raise translate(exc, target=target) from exc
        try:
            yield with_dbname(url, name)
        finally:
            admin.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
            )


def schema_catalog(url: str, path: Path | None = None) -> Catalog:
    """The catalog that ``schema.sql`` produces, built in a scratch database on ``url``'s server."""
    with scratch_database(url, "forge_db_check") as scratch, _connect(scratch) as conn:
        try:
            load_schema(conn, path)
            return catalog(conn)
        except psycopg.Error as exc:
            raise translate(exc, target=target_of(scratch)) from exc


def live_catalog(url: str) -> Catalog:
    """The catalog of the database at ``url``, read in a read-only transaction."""
    with _connect(url, read_only=True) as conn:
        try:
            return catalog(conn)
        except psycopg.Error as exc:
            raise translate(exc, target=target_of(url)) from exc


def check(url: str, *, schema: Path | None = None) -> list[str]:
    """Differences between the live database at ``url`` and ``schema.sql``; empty if none."""
    expected = schema_catalog(url, schema)
    return diff_catalogs(expected, live_catalog(url))


@dataclass(frozen=True)
class Drift:
    """What ``forge-db check`` found: whether there is a schema at all, and how it differs."""

    migrated: bool  # the database holds some of the forge schema; if not, nothing was compared
    pending: list[str] | None  # migrations not applied yet; None if the role may not read that
    differences: list[str]  # from schema.sql, as check() gives them

    @property
    def drifted(self) -> bool:
        """Whether the live schema is not the one ``schema.sql`` describes."""
        return not self.migrated or bool(self.differences)


def drift(url: str, *, schema: Path | None = None) -> Drift:
    """Compare the database at ``url`` with ``schema.sql``; an empty database is not compared."""
    pending: list[str] | None = None
    with _connect(url, read_only=True) as conn:
        try:
            actual = catalog(conn)
        except psycopg.Error as exc:
            raise translate(exc, target=target_of(url)) from exc
        try:
            with conn.transaction():  # a savepoint: a role may read the catalog, not yoyo's table
                applied = _applied(conn)
            pending = [m.id for m in _read() if m.hash not in applied]
        except pgerrors.InsufficientPrivilege:
            pass
        except psycopg.Error as exc:
            raise translate(exc, target=target_of(url)) from exc
    if not any(actual.values()):
        return Drift(migrated=False, pending=pending, differences=[])
    return Drift(True, pending, diff_catalogs(schema_catalog(url, schema), actual))


# --- creating and resetting databases --------------------------------------------------------


@contextmanager
def _maintenance(url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the ``postgres`` database of ``url``'s server."""
    with _connect(with_dbname(url, "postgres")) as admin:
        yield admin


def _named_database(url: str) -> str:
    dbname = parse_url(url).get("dbname")
    if not dbname:
        raise InvalidInput("the URL names no database", field="url")
    return str(dbname)


def create_database(url: str) -> bool:
    """Create the database ``url`` names unless it exists; ``True`` if it was created."""
    dbname = _named_database(url)
    target = target_of(url)
    with _maintenance(url) as admin:
        try:
            if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
                return False
            if not _may_create_databases(admin):
                raise _no_createdb(admin, f"and {target} does not exist")
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(dbname)))
        except (pgerrors.DuplicateDatabase, pgerrors.UniqueViolation):
            return False  # created by someone else meanwhile
        except psycopg.Error as exc:
            raise translate(exc, target=target) from exc
    return True


def ensure_resettable(url: str) -> None:
    """Refuse, before anything changes, a reset that must not or could not be done."""
    dbname = _named_database(url)
    if dbname in SYSTEM_DATABASES:
        raise InvalidInput(f"refusing to reset the system database {dbname!r}", field="url")
    with _maintenance(url) as admin:
        if not _may_create_databases(admin):
            raise _no_createdb(admin, f"so it cannot reset {target_of(url)}; nothing was dropped")


def reset_database(url: str) -> None:
    """Replace the database ``url`` names with a new one, then apply every migration.

    The new database is created (with the old one's owner) before the old one is dropped, so a
    reset that cannot finish loses nothing.
    """
    ensure_resettable(url)
    dbname = _named_database(url)
    target = target_of(url)
    name = pgsql.Identifier(dbname)
    with _maintenance(url) as admin:
        try:
            row = admin.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (dbname,)
            ).fetchone()
            if row is None:
                admin.execute(pgsql.SQL("CREATE DATABASE {}").format(name))
            else:
                _replace_database(admin, dbname, owner=str(row[0]))
        except psycopg.Error as exc:
            raise translate(exc, target=target) from exc
    migrate(url)


def _replace_database(admin: psycopg.Connection[Any], dbname: str, owner: str) -> None:
    staging_name = f"forge_db_reset_{secrets.token_hex(6)}"
    staging, name = pgsql.Identifier(staging_name), pgsql.Identifier(dbname)
    admin.execute(pgsql.SQL("CREATE DATABASE {} OWNER {}").format(staging, pgsql.Identifier(owner)))
    try:
        admin.execute(pgsql.SQL("DROP DATABASE {} WITH (FORCE)").format(name))
    except psycopg.Error:
        admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {}").format(staging))
        raise
    try:
        admin.execute(pgsql.SQL("ALTER DATABASE {} RENAME TO {}").format(staging, name))
    except psycopg.Error as exc:
        raise ForgeDBError(
            f"dropped {dbname!r} but could not rename its replacement {staging_name!r} to it: "
            f"{str(exc).strip().splitlines()[0]}"
        ) from exc
