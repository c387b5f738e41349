"""``forge-db``: run the embedded server, migrate, check drift, reset, and tour the forge.

Exit status: 0 done, 1 drift found by ``check``, 2 error (one line on standard error, or a
usage message), 130 interrupted, 141 output pipe closed by its reader (as ``| head`` does).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from . import __version__, config, embedded, migrations
from .errors import ForgeDBError, InvalidInput, Unavailable

__all__ = ["EXIT_DRIFT", "EXIT_ERROR", "EXIT_OK", "main"]

EXIT_OK: Final = 0
EXIT_DRIFT: Final = 1
EXIT_ERROR: Final = 2
EXIT_INTERRUPTED: Final = 130
EXIT_BROKEN_PIPE: Final = 141  # 128 + SIGPIPE, what a shell reports for a killed writer

MAX_CONNECT_TIMEOUT: Final = 3600.0
MAX_DEMO_ISSUES: Final = 1_000_000


class _Refused(ForgeDBError):
    """The user did not confirm a destructive command."""


# --- where the database is -------------------------------------------------------------------


def _url(args: argparse.Namespace, *, start: bool = True) -> str:
    """``--url``, else ``DATABASE_URL``, else the embedded server, with the connect timeout.

    Read-only commands pass ``start=False``: a stopped embedded server is reported, not started.
    """
    if args.url is not None:
        config.parse_url(args.url)  # an empty --url is an error, not the embedded default
        url = str(args.url)
    elif (from_env := config.env_url()) is not None:
        config.parse_url(from_env)
        url = from_env
    elif start:
        url = embedded.ensure_server(args.data_dir).url
    else:
        running = embedded.server_status(args.data_dir)
        if running is None:
            raise _not_running(args)
        url = running.url
    return migrations.with_connect_timeout(url, args.connect_timeout)


def _is_embedded_default(args: argparse.Namespace) -> bool:
    return args.url is None and config.env_url() is None


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir or embedded.default_data_dir()).resolve()


def _not_running(args: argparse.Namespace) -> Unavailable:
    return Unavailable(
        f"the embedded PostgreSQL in {_data_dir(args)} is not running (`forge-db up` starts it)"
    )


def _refuse_url(args: argparse.Namespace) -> None:
    if args.url is not None:
        raise InvalidInput(
            f"`forge-db {args.command}` manages the embedded server and takes no --url "
            "(give --data-dir to choose which embedded server)",
            field="url",
        )


# --- output ----------------------------------------------------------------------------------


def _print_ids(verb: str, ids: list[str], out: TextIO, *, idle: str) -> None:
    if not ids:
        print(idle, file=out)
    for migration_id in ids:
        print(f"{verb} {migration_id}", file=out)


def _print_json(value: Any, out: TextIO) -> None:
    json.dump(value, out, indent=2)
    out.write("\n")


def _confirm(question: str) -> None:
    """Ask on the terminal; raise ``_Refused`` unless answered yes (or when there is none)."""
    if not sys.stdin or not sys.stdin.isatty():
        raise _Refused("no terminal to confirm on; pass --yes to go ahead without asking")
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if answer.strip().lower() not in ("y", "yes"):
        raise _Refused("not confirmed; nothing was changed")


# --- commands --------------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace, out: TextIO) -> int:
    """Start (or find) the embedded server, migrate it, print its DATABASE_URL."""
    _refuse_url(args)
    server = embedded.ensure_server(args.data_dir)
    migrations.migrate(migrations.with_connect_timeout(server.url, args.connect_timeout))
    print(f"# embedded PostgreSQL in {server.data_dir} (pid {server.pid})", file=sys.stderr)
    print(f"DATABASE_URL={server.url}", file=out)
    return EXIT_OK


def cmd_down(args: argparse.Namespace, out: TextIO) -> int:
    """Stop the embedded server."""
    _refuse_url(args)
    stopped = embedded.stop_server(args.data_dir)
    data_dir = _data_dir(args)
    print(f"stopped {data_dir}" if stopped else f"not running: {data_dir}", file=out)
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    """Apply pending migrations (or list them with --dry-run)."""
    ids = migrations.migrate(_url(args, start=not args.dry_run), dry_run=args.dry_run)
    _print_ids("would apply" if args.dry_run else "applied", ids, out, idle="nothing to apply")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace, out: TextIO) -> int:
    """Roll back the newest migration, or all with --all; asks first unless --yes."""
    url = _url(args, start=not args.dry_run)
    chosen = migrations.rollback(url, everything=args.all, dry_run=True)
    if args.dry_run or not chosen:
        _print_ids("would roll back", chosen, out, idle="nothing to roll back")
        return EXIT_OK
    if not args.yes:
        listed = ", ".join(chosen)
        _confirm(
            f"Roll back {listed} on {config.target_of(url)}? "
            "This drops their tables and every row in them."
        )
    ids = migrations.rollback(url, everything=args.all)
    _print_ids("rolled back", ids, out, idle="nothing to roll back")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    """List migrations and whether each is applied; never starts the embedded server."""
    embedded_default = _is_embedded_default(args)
    try:
        url = _url(args, start=False)
    except Unavailable:
        if not embedded_default:
            raise
        data_dir = str(_data_dir(args))
        if args.json:
            _print_json(
                {"database": None, "embedded": {"data_dir": data_dir, "running": False}}, out
            )
        else:
            print(
                f"embedded PostgreSQL not running: {data_dir} (`forge-db up` starts it)", file=out
            )
        return EXIT_OK
    states = migrations.status(url)
    pending = sum(not s.applied for s in states)
    target = config.target_of(url)
    if args.json:
        report: dict[str, Any] = {
            "database": target,
            "migrations": [
                {
                    "id": s.migration_id,
                    "applied": s.applied,
                    "applied_at": s.applied_at.isoformat() if s.applied_at else None,
                }
                for s in states
            ],
            "applied": len(states) - pending,
            "pending": pending,
        }
        if embedded_default:
            report["embedded"] = {"data_dir": str(_data_dir(args)), "running": True}
        _print_json(report, out)
        return EXIT_OK
    print(f"database {target}", file=out)
    for state in states:
        when = f"  {state.applied_at:%Y-%m-%d %H:%M:%S} UTC" if state.applied_at else ""
        mark = "applied" if state.applied else "pending"
        print(f"{mark:8} {state.migration_id}{when}", file=out)
    print(f"{len(states) - pending} applied, {pending} pending", file=out)
    return EXIT_OK


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Compare the live schema with db/schema.sql; exit 1 on drift."""
    url = _url(args, start=False)
    target = config.target_of(url)
    found = migrations.drift(url, schema=args.schema)
    code = EXIT_DRIFT if found.drifted else EXIT_OK
    if args.json:
        _print_json(
            {
                "database": target,
                "migrated": found.migrated,
                "pending": found.pending,
                "drift": found.drifted,
                "differences": found.differences,
            },
            out,
        )
        return code
    if not found.migrated:
        print(f"not migrated: {target} holds none of the schema; run `forge-db migrate`", file=out)
    elif not found.differences:
        print(f"no drift: {target} matches schema.sql", file=out)
    else:
        waiting = f"; {len(found.pending)} migration(s) pending" if found.pending else ""
        print(f"drift: {len(found.differences)} difference(s) from schema.sql{waiting}", file=out)
        for line in found.differences:
            print(f"  {line}", file=out)
    return code


def cmd_setup(args: argparse.Namespace, out: TextIO) -> int:
    """Create the database if missing and migrate it; --reset starts it over (asks unless --yes)."""
    url = _url(args)
    target = config.target_of(url)
    if args.reset:
        migrations.ensure_resettable(url)  # refuse before asking, not after
        if not args.yes:
            _confirm(f"Drop every table and row of {target} and build it again?")
        migrations.reset_database(url)
        print(f"reset {target}", file=out)
        return EXIT_OK
    if migrations.create_database(url):
        print(f"created {config.parse_url(url)['dbname']}", file=out)
    _print_ids("applied", migrations.migrate(url), out, idle="nothing to apply")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    """Build a small realistic forge in its own database and print a tour of it."""
    from .demo import run_demo

    run_demo(_url(args), out, database=args.database, issues=args.issues)
    return EXIT_OK


# --- arguments -------------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, TextIO], int]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value <= MAX_CONNECT_TIMEOUT):
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds above 0 and at most {MAX_CONNECT_TIMEOUT:g}, not {text!r}"
        )
    return value


def _issue_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not (1 <= value <= MAX_DEMO_ISSUES):
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {MAX_DEMO_ISSUES}, not {text!r}"
        )
    return value


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except the empty ones that would only read "(default: None)"."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or action.help is None:
            return action.help
        if "(default:" in action.help:  # spelled out already
            return action.help
        return super()._get_help_string(action)


def _global_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """The options every command takes, before or after its name.

    After the command their defaults are suppressed, so that a value given before the command
    is not overwritten by the subcommand's default.
    """

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if after_command else value

    shown_timeout = f" (default: {migrations.DEFAULT_CONNECT_TIMEOUT:g})"
    parser.add_argument(
        "--url",
        default=default(None),
        help="database URL (default: DATABASE_URL, else the embedded server)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default(None),
        metavar="DIR",
        help="embedded server data directory (default: FORGE_DB_DATA_DIR, else the user data dir)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=_seconds,
        default=default(migrations.DEFAULT_CONNECT_TIMEOUT),
        metavar="SECONDS",
        help=f"give up connecting to the server after this long{shown_timeout}",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forge-db",
        description="The forge's PostgreSQL data layer: server, migrations and checks.",
        epilog="Exit status: 0 done, 1 drift found by check, 2 error.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(parser, after_command=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, command: Command, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=help_text, description=help_text, formatter_class=_HelpFormatter
        )
        _global_options(p, after_command=True)
        p.set_defaults(func=command)
        return p

    add("up", cmd_up, "start the embedded server, migrate it, print DATABASE_URL")
    add("down", cmd_down, "stop the embedded server")
    p = add("migrate", cmd_migrate, "apply pending migrations")
    p.add_argument("--dry-run", action="store_true", help="list what would be applied")
    p = add("rollback", cmd_rollback, "roll back the newest migration (asks first)")
    p.add_argument("--all", action="store_true", help="roll back every migration")
    p.add_argument("--dry-run", action="store_true", help="list what would be rolled back")
    p.add_argument("--yes", action="store_true", help="do not ask before rolling back")
    p = add("status", cmd_status, "list migrations and whether each is applied")
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p = add("check", cmd_check, "report drift between the live database and schema.sql")
    p.add_argument("--schema", type=Path, default=None, help="compare with this file instead")
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p = add("demo", cmd_demo, "build a demo forge in its own database and tour it")
    p.add_argument(
        "--database", default="forge_demo", help="demo database name (rebuilt if the demo made it)"
    )
    p.add_argument("--issues", type=_issue_count, default=3000, help="how many issues to create")
    p = add("setup", cmd_setup, "create the database if missing and migrate it")
    p.add_argument("--reset", action="store_true", help="drop and rebuild the database first")
    p.add_argument("--yes", action="store_true", help="do not ask before --reset")
    return parser


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``forge-db`` command; returns the exit status."""
    stream = out or sys.stdout
    try:
        try:
            args = _parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a usage error already printed
            return exc.code if isinstance(exc.code, int) else EXIT_ERROR
        code: int = args.func(args, stream)
        stream.flush()
    except _Refused as exc:
        print(f"forge-db: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ForgeDBError as exc:
        print(f"forge-db: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader left (`forge-db check | head`): say nothing, and keep the interpreter's
        # final flush of stdout from reporting the same broken pipe.
        if stream is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return EXIT_BROKEN_PIPE
    return code


if __name__ == "__main__":
    sys.exit(main())
