"""PgBouncer in transaction mode in front of a test server, for tests that go through one.

``running_pgbouncer(server_url)`` starts Debian's ``pgbouncer`` on a free 127.0.0.1 port (TCP
or unix socket to the server), in transaction mode, and stops it at the end. The test plugin
uses it for ``--pg-through-pgbouncer``; ``tests/test_pgbouncer.py`` for its own cases.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import pq

from .config import parse_url
from .errors import InvalidInput, Unavailable

__all__ = ["PGBOUNCER", "Bouncer", "running_pgbouncer"]


def _pgbouncer_binary() -> str | None:
    # Debian installs it in /usr/sbin, which a non-root PATH may lack.
    found = shutil.which("pgbouncer")
    candidates = [found] if found else []
    candidates += ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


PGBOUNCER = _pgbouncer_binary()


@dataclass(frozen=True)
class Bouncer:
    """A running PgBouncer: where clients connect, its admin user, and its log for diagnosis."""

    port: int
    log: Path
    admin: str = "postgres"

    def url(self, dbname: str, user: str = "postgres") -> str:
        """URL of ``dbname`` through this bouncer."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def close_connections(self, dbname: str) -> None:
        """Drop the bouncer's connections to ``dbname`` at once (its console's KILL, then RESUME).

        Call it before the server ends that database's sessions: a server connection the
        bouncer keeps idle would otherwise go, already ended, to the next client of that
        database, whose first statement then fails.
        """
        if not _CONSOLE_NAME.fullmatch(dbname):
            raise InvalidInput(f"dbname: {dbname!r} is not a plain database name", field="dbname")
        with psycopg.connect(
            self.url("pgbouncer", self.admin), autocommit=True, prepare_threshold=None
        ) as console:
            # The console speaks the simple query protocol only: libpq's PQexec, not execute().
            for command in (f"KILL {dbname}", f"RESUME {dbname}"):
                result = console.pgconn.exec_(command.encode())
                if result.status != pq.ExecStatus.COMMAND_OK:
                    message = (result.error_message or b"").decode(errors="replace").strip()
                    raise Unavailable(f"pgbouncer refused {command!r}: {message}")


_CONSOLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user(host: str) -> tuple[int, int] | None:
    """Who pgbouncer runs as: it refuses root, and must reach the server's socket."""
    if os.geteuid() != 0:
        return None
    if host.startswith("/"):
        # The owner of the socket directory is the server's own user, who can always reach it.
        info = os.stat(host)
        return info.st_uid, info.st_gid
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise Unavailable("pgbouncer refuses to run as root, and there is no postgres or nobody user")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running_pgbouncer(
    server_url: str, *, login: str | None = None, pool_size: int = 4, extra: str = ""
) -> Iterator[Bouncer]:
    """Run PgBouncer in transaction mode in front of ``server_url``'s server."""
    if PGBOUNCER is None:
        raise Unavailable("pgbouncer is not installed (apt-get install -y pgbouncer)")
    info = parse_url(server_url)
    host = str(info.get("host") or "/var/run/postgresql").split(",")[0]
    port = str(info.get("port") or "5432").split(",")[0]
    user = login or str(info.get("user") or "postgres")
    run_as = _server_user(host)
    workdir = Path(tempfile.mkdtemp(prefix="forge-db-pgbouncer-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        if run_as is not None:
            os.chown(workdir, *run_as)
        for _attempt in range(3):  # a free port can be taken before pgbouncer binds it
            listen = _free_port()
            config = workdir / "pgbouncer.ini"
            config.write_text(
                f"""
[databases]
* = host={host} port={port} user={user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = any
pool_mode = transaction
admin_users = {user}
default_pool_size = {pool_size}
max_client_conn = 100
server_login_retry = 1
logfile = {workdir}/pgbouncer.log
pidfile = {workdir}/pgbouncer.pid
{extra}
"""
            )
            log = workdir / "pgbouncer.log"
            owner: dict[str, Any] = {}
            if run_as is not None:
                os.chown(config, *run_as)
                owner = {"user": run_as[0], "group": run_as[1], "extra_groups": []}
            process = subprocess.Popen(  # noqa: S603 - the installed pgbouncer, our own config
                [PGBOUNCER, str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                **owner,
            )
            deadline = time.monotonic() + 20
            while process.poll() is None and not _listening(listen):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if process.poll() is None and _listening(listen):
                break
            process.kill()
            process.wait()
            process = None
        if process is None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise Unavailable(f"pgbouncer did not start; its log ends:\n{tail}")
        yield Bouncer(listen, log, user)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
