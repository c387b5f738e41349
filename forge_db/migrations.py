"""Migrations on yoyo, the drift check against ``db/schema.sql``, and database reset.

The SQL lives in ``db/`` of the source tree and ships inside the wheel as ``forge_db/_db``,
so an installed package migrates without a checkout. Migrating or rolling back holds a
PostgreSQL advisory lock for the whole run, so processes that start at once apply each
migration exactly once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql as pgsql

from .config import parse_url, target_of, with_dbname
from .errors import InvalidInput, Unavailable, translate

__all__ = [
    "MigrationState",
    "catalog",
    "check",
    "diff_catalogs",
    "load_schema",
    "migrate",
    "migrations_dir",
    "reset_database",
    "rollback",
    "schema_path",
    "sql_root",
    "status",
]

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
    try:
        conn = psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise translate(exc, target=target_of(url)) from exc
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
        backend = get_backend(yoyo_url(url))
    except psycopg.Error as exc:
        raise translate(exc, target=target_of(url)) from exc
    try:
        yield backend
    finally:
        backend.connection.close()


def _read() -> Any:
    from yoyo import read_migrations

    return read_migrations(str(migrations_dir()))


def migrate(url: str, *, dry_run: bool = False) -> list[str]:
    """Apply pending migrations; return their ids (only list them with ``dry_run``)."""
    with _advisory_lock(url), _backend(url) as backend, backend.lock():
        pending = backend.to_apply(_read())
        ids = [m.id for m in pending]
        if not dry_run and ids:
            _run(backend.apply_migrations, pending, url)
        return ids


def rollback(url: str, *, everything: bool = False, dry_run: bool = False) -> list[str]:
    """Roll back the newest applied migration (or all); return their ids, newest first."""
    with _advisory_lock(url), _backend(url) as backend, backend.lock():
        applied = backend.to_rollback(_read())
        chosen = applied if everything else applied[:1]
        ids = [m.id for m in chosen]
        if not dry_run and ids:
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
    """Every known migration, in order, with whether it is applied."""
    with _backend(url) as backend:
        migrations = _read()
        applied_hashes = set(backend.get_applied_migration_hashes())
        applied_at: dict[str, datetime] = {}
        if applied_hashes:
            cursor = backend.execute("SELECT migration_id, applied_at_utc FROM _yoyo_migration", {})
            applied_at = {row[0]: row[1].replace(tzinfo=UTC) for row in cursor.fetchall()}
        return [
            MigrationState(m.id, m.hash in applied_hashes, applied_at.get(m.id)) for m in migrations
        ]


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


@contextmanager
def scratch_database(url: str, prefix: str = "forge_db_scratch") -> Iterator[str]:
    """Create an empty database on ``url``'s server for the block's duration; yield its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise translate(exc, target=target_of(url)) from exc
    with admin:
        admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        try:
            yield with_dbname(url, name)
        finally:
            admin.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
            )


def schema_catalog(url: str, path: Path | None = None) -> Catalog:
    """The catalog that ``schema.sql`` produces, built in a scratch database on ``url``'s server."""
    with scratch_database(url, "forge_db_check") as scratch, psycopg.connect(scratch) as conn:
        load_schema(conn, path)
        return catalog(conn)


def check(url: str, *, schema: Path | None = None) -> list[str]:
    """Differences between the live database at ``url`` and ``schema.sql``; empty if none."""
    expected = schema_catalog(url, schema)
    try:
        with psycopg.connect(url) as conn:
            actual = catalog(conn)
    except psycopg.Error as exc:
        raise translate(exc, target=target_of(url)) from exc
    return diff_catalogs(expected, actual)


def reset_database(url: str) -> None:
    """Drop and recreate the database ``url`` names, then apply every migration."""
    info = parse_url(url)
    dbname = info.get("dbname")
    if not dbname:
        raise InvalidInput("the URL names no database to reset", field="url")
    if dbname in ("postgres", "template0", "template1"):
        raise InvalidInput(f"refusing to reset the system database {dbname!r}", field="url")
    maintenance = with_dbname(url, "postgres")
    try:
        with psycopg.connect(maintenance, autocommit=True) as admin:
            name = pgsql.Identifier(dbname)
            admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            admin.execute(pgsql.SQL("CREATE DATABASE {}").format(name))
    except psycopg.Error as exc:
        raise translate(exc, target=target_of(url)) from exc
    migrate(url)


def ensure_reachable(url: str) -> None:
    """Raise ``Unavailable`` naming the target when ``url`` cannot be reached."""
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        raise Unavailable(f"cannot connect to {target_of(url)}: {exc}") from exc
