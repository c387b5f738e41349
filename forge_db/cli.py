"""``forge-db``: run the embedded server, migrate, check drift, reset, and tour the forge."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from . import config, embedded, migrations
from .errors import ForgeDBError

__all__ = ["main"]


def _url(args: argparse.Namespace) -> str:
    """``--url``, else ``DATABASE_URL``, else the embedded server (started if needed)."""
    if args.url:
        config.parse_url(args.url)
        return str(args.url)
    from_env = config.env_url()
    if from_env:
        config.parse_url(from_env)
        return from_env
    return embedded.ensure_server(args.data_dir).url


def _print_ids(verb: str, ids: list[str], out: TextIO, *, idle: str) -> None:
    if not ids:
        print(idle, file=out)
    for migration_id in ids:
        print(f"{verb} {migration_id}", file=out)


def cmd_up(args: argparse.Namespace, out: TextIO) -> int:
    """Start (or find) the embedded server, migrate it, print its DATABASE_URL."""
    server = embedded.ensure_server(args.data_dir)
    migrations.migrate(server.url)
    print(f"# embedded PostgreSQL in {server.data_dir} (pid {server.pid})", file=sys.stderr)
    print(f"DATABASE_URL={server.url}", file=out)
    return 0


def cmd_down(args: argparse.Namespace, out: TextIO) -> int:
    """Stop the embedded server."""
    data_dir = args.data_dir or embedded.default_data_dir()
    stopped = embedded.stop_server(args.data_dir)
    print(f"stopped {data_dir}" if stopped else f"not running: {data_dir}", file=out)
    return 0


def cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    """Apply pending migrations (or list them with --dry-run)."""
    ids = migrations.migrate(_url(args), dry_run=args.dry_run)
    _print_ids("would apply" if args.dry_run else "applied", ids, out, idle="nothing to apply")
    return 0


def cmd_rollback(args: argparse.Namespace, out: TextIO) -> int:
    """Roll back the newest migration, or all with --all."""
    ids = migrations.rollback(_url(args), everything=args.all, dry_run=args.dry_run)
    verb = "would roll back" if args.dry_run else "rolled back"
    _print_ids(verb, ids, out, idle="nothing to roll back")
    return 0


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    """List migrations and whether each is applied."""
    url = _url(args)
    states = migrations.status(url)
    print(f"database {config.target_of(url)}", file=out)
    for state in states:
        when = f"  {state.applied_at:%Y-%m-%d %H:%M:%S} UTC" if state.applied_at else ""
        mark = "applied" if state.applied else "pending"
        print(f"{mark:8} {state.migration_id}{when}", file=out)
    pending = sum(not s.applied for s in states)
    print(f"{len(states) - pending} applied, {pending} pending", file=out)
    return 0


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Compare the live schema with db/schema.sql; exit 1 on drift."""
    url = _url(args)
    differences = migrations.check(url, schema=args.schema)
    if not differences:
        print(f"no drift: {config.target_of(url)} matches schema.sql", file=out)
        return 0
    print(f"drift: {len(differences)} difference(s) from schema.sql", file=out)
    for line in differences:
        print(f"  {line}", file=out)
    return 1


def _confirm(question: str) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_setup(args: argparse.Namespace, out: TextIO) -> int:
    """Create and migrate the database; with --reset drop it first (asks unless --yes)."""
    url = _url(args)
    target = config.target_of(url)
    if args.reset:
        if not args.yes and not _confirm(f"Drop every table and row of {target}?"):
            print("forge-db: not confirmed; pass --yes to reset without asking", file=sys.stderr)
            return 1
        migrations.reset_database(url)
        print(f"reset {target}", file=out)
        return 0
    _print_ids("applied", migrations.migrate(url), out, idle="nothing to apply")
    return 0


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """Build a small realistic forge in its own database and print a tour of it."""
    from .demo import run_demo

    run_demo(_url(args), out, database=args.database, issues=args.issues)
    return 0


def cmd_bench(args: argparse.Namespace, out: TextIO) -> int:
    """Run the benchmark suite of a source checkout (``python -m bench``)."""
    try:
        from bench.run import main as bench_main  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        print("forge-db: the benchmarks live in bench/ of a source checkout", file=sys.stderr)
        return 2
    forwarded = ["--url", args.url] if args.url else []
    result: int = bench_main([*forwarded, *args.bench_args])
    return result


Command = Callable[[argparse.Namespace, TextIO], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forge-db",
        description="The forge's PostgreSQL data layer: server, migrations and checks.",
    )
    parser.add_argument(
        "--url", help="database URL (default: DATABASE_URL, else the embedded server)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="embedded server data directory (default: FORGE_DB_DATA_DIR or the user data dir)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, command: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=command)
        return p

    add("up", cmd_up, "start the embedded server, migrate it, print DATABASE_URL")
    add("down", cmd_down, "stop the embedded server")
    p = add("migrate", cmd_migrate, "apply pending migrations")
    p.add_argument("--dry-run", action="store_true", help="list what would be applied")
    p = add("rollback", cmd_rollback, "roll back the newest migration")
    p.add_argument("--all", action="store_true", help="roll back every migration")
    p.add_argument("--dry-run", action="store_true", help="list what would be rolled back")
    add("status", cmd_status, "list migrations and whether each is applied")
    p = add("check", cmd_check, "report drift between the live database and schema.sql")
    p.add_argument("--schema", type=Path, default=None, help="compare with this file instead")
    p = add("demo", cmd_demo, "build a demo forge in its own database and tour it")
    p.add_argument("--database", default="forge_demo", help="demo database name (rebuilt)")
    p.add_argument("--issues", type=int, default=3000, help="how many issues to create")
    p = add("bench", cmd_bench, "run the benchmarks (from a source checkout)")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="passed to python -m bench")
    p = add("setup", cmd_setup, "create and migrate the database")
    p.add_argument("--reset", action="store_true", help="drop and recreate the database first")
    p.add_argument("--yes", action="store_true", help="do not ask before --reset")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``forge-db`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    stream = out or sys.stdout
    try:
        code: int = args.func(args, stream)
    except ForgeDBError as exc:
        print(f"forge-db: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
