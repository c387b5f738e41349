"""Migrations on yoyo: apply, roll back, status, concurrency, drift and the shipped SQL."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from schema_factories import repository, user

from forge_db import cli, migrations
from forge_db.migrations import catalog, diff_catalogs, load_schema, yoyo_url

ROOT = Path(__file__).resolve().parent.parent


def _migration_ids() -> list[str]:
    return sorted(
        p.stem for p in migrations.migrations_dir().glob("*.sql") if ".rollback" not in p.name
    )


def _forge_catalog(url: str) -> dict[str, dict[str, str]]:
    with psycopg.connect(url) as conn:
        return catalog(conn)


def test_every_migration_has_a_rollback_file() -> None:
    for migration_id in _migration_ids():
        assert (migrations.migrations_dir() / f"{migration_id}.rollback.sql").is_file(), (
            migration_id
        )


def test_migration_files_are_numbered_in_sequence() -> None:
    ids = _migration_ids()
    assert ids, "db/migrations holds no migration"
    for number, migration_id in enumerate(ids, start=1):
        assert migration_id.startswith(f"{number:04d}_"), migration_id
        assert migration_id[5:].replace("_", "").isalnum(), migration_id


def test_schema_sql_and_migrations_build_the_same_catalog(
    empty_database_url: str, database_url: str
) -> None:
    with psycopg.connect(empty_database_url) as conn:
        load_schema(conn)
        from_schema = catalog(conn)
    from_migrations = _forge_catalog(database_url)
    assert diff_catalogs(from_schema, from_migrations) == []
    assert from_schema["table"], "schema.sql created no table"


def test_dry_run_applies_nothing(empty_database_url: str) -> None:
    assert migrations.migrate(empty_database_url, dry_run=True) == _migration_ids()
    assert all(not s.applied for s in migrations.status(empty_database_url))
    assert not any(_forge_catalog(empty_database_url)["table"])


def test_migrate_rollback_all_migrate_round_trip(empty_database_url: str) -> None:
    url = empty_database_url
    assert migrations.migrate(url) == _migration_ids()
    first = _forge_catalog(url)
    assert migrations.migrate(url) == []
    rolled_back = migrations.rollback(url, everything=True)
    assert rolled_back == list(reversed(_migration_ids()))
    leftovers = {kind: names for kind, names in _forge_catalog(url).items() if names}
    assert leftovers == {}, f"rollback left objects behind: {leftovers}"
    assert migrations.migrate(url) == _migration_ids()
    assert diff_catalogs(first, _forge_catalog(url)) == []


def test_rollback_without_all_undoes_only_the_newest(empty_database_url: str) -> None:
    migrations.migrate(empty_database_url)
    assert migrations.rollback(empty_database_url) == _migration_ids()[-1:]
    states = migrations.status(empty_database_url)
    assert [s.applied for s in states] == [True] * (len(states) - 1) + [False]


def test_0018_gives_every_open_run_with_a_deadline_its_row(empty_database_url: str) -> None:
    url = empty_database_url
    migrations.migrate(url)
    while any(s.applied for s in migrations.status(url) if s.migration_id >= "0018"):
        migrations.rollback(url)
    with psycopg.connect(url, autocommit=True) as conn:
        repo = repository(conn, user(conn))
        rows = conn.execute(
            "INSERT INTO workflow_runs (repository_id, trigger, deadline_at, state, started_at,"
            " finished_at) VALUES"
            " (%(r)s, 'api', now() + interval '1 hour', 'queued', NULL, NULL),"
            " (%(r)s, 'api', now() + interval '2 hours', 'running', now(), NULL),"
            " (%(r)s, 'api', NULL, 'queued', NULL, NULL),"
            " (%(r)s, 'api', now() + interval '3 hours', 'cancelled', NULL, now())"
            " RETURNING id, deadline_at",
            {"r": repo},
        ).fetchall()
    migrations.migrate(url)
    with psycopg.connect(url) as conn:
        kept = conn.execute(
            "SELECT run_id, deadline_at FROM workflow_run_deadlines ORDER BY deadline_at"
        ).fetchall()
    assert kept == [tuple(rows[0]), tuple(rows[1])]


def test_status_reports_applied_with_time(database_url: str) -> None:
    states = migrations.status(database_url)
    assert [s.migration_id for s in states] == _migration_ids()
    assert all(s.applied and s.applied_at is not None for s in states)


def test_concurrent_migrate_applies_each_migration_once(empty_database_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: migrations.migrate(empty_database_url), range(4)))
    applied = [i for result in results for i in result]
    assert sorted(applied) == _migration_ids()
    with psycopg.connect(empty_database_url) as conn:
        rows = conn.execute("SELECT migration_id FROM _yoyo_migration ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == _migration_ids()


def test_concurrent_migrate_processes_end_with_one_applied_set(empty_database_url: str) -> None:
    command = [sys.executable, "-m", "forge_db", "--url", empty_database_url, "migrate"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    applied_lines = [
        line for out in outputs for line in out.splitlines() if line.startswith("applied")
    ]
    assert sorted(line.split()[1] for line in applied_lines) == _migration_ids()
    assert [s.applied for s in migrations.status(empty_database_url)] == [True] * len(
        _migration_ids()
    )


def test_check_finds_no_drift_on_a_migrated_database(database_url: str) -> None:
    assert migrations.check(database_url) == []


def test_check_reports_a_drifted_database(database_url: str, conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE stray (id int PRIMARY KEY)")
    table = conn.execute(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE nspname = 'public' AND relkind = 'r' AND relname NOT LIKE '%yoyo%' "
        "AND relname <> 'stray' ORDER BY relname LIMIT 1"
    ).fetchone()
    assert table is not None
    conn.execute(f"COMMENT ON TABLE \"{table[0]}\" IS 'changed by hand'")
    differences = migrations.check(database_url)
    assert any(line.startswith("unexpected table stray") for line in differences)
    assert any(line.startswith(f"differs table {table[0]}") for line in differences)


def test_cli_check_exits_non_zero_and_prints_the_drift(
    database_url: str, conn: psycopg.Connection
) -> None:
    conn.execute("CREATE TABLE stray (id int PRIMARY KEY)")
    out = io.StringIO()
    assert cli.main(["--url", database_url, "check"], out=out) == 1
    assert "drift: " in out.getvalue()
    assert "unexpected table stray" in out.getvalue()
    clean = io.StringIO()
    conn.execute("DROP TABLE stray")
    assert cli.main(["--url", database_url, "check"], out=clean) == 0
    assert "no drift" in clean.getvalue()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p%40ss@db:6432/forge", "postgresql+psycopg://u:p%40ss@db:6432/forge"),
        (
            "postgresql://postgres@/postgres?host=/tmp/sock",
            "postgresql+psycopg://postgres@/postgres?host=%2Ftmp%2Fsock",
        ),
        (
            "host=localhost dbname=x user=me sslmode=require",
            "postgresql+psycopg://me@localhost/x?sslmode=require",
        ),
    ],
)
def test_yoyo_url_keeps_every_part(url: str, expected: str) -> None:
    assert yoyo_url(url) == expected


def test_wheel_ships_the_sql(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next(tmp_path.glob("forge_db-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "forge_db/_db/schema.sql" in names
    assert "forge_db/py.typed" in names
    for migration in migrations.migrations_dir().glob("*.sql"):
        assert f"forge_db/_db/migrations/{migration.name}" in names
