"""Read replicas against a real streaming standby (``forge_db_replication``: ``pg_basebackup -R``).

Reads declared ``@read`` go to the standby when it is fresh; after a write, the writer's reads
stay on the primary until the standby has replayed past the write (read-your-writes); a stopped
standby sends everything to the primary with no error, and a restarted one gets reads back.
Health checks are driven with ``check_replicas()`` (the background interval is set to an hour),
so no test waits on a timer.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import secrets
import signal
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from support import make_repository, make_user

from forge_db import AsyncForgeDB, ForgeDB, InvalidInput, NotFound
from forge_db.config import Settings
from forge_db.meta import Meta
from forge_db.query import Query, R, read, scalar
from forge_db.replicas import Replicas, ReplicaStatus, format_lsn, parse_lsn
from forge_db.replication import ReplicaPair

QUIET: dict[str, Any] = {"replica_check_interval": 3600.0, "replica_max_lag": 600.0}


class Where(Meta[R]):
    """Which server answered a read."""

    @read
    def in_recovery(self) -> Query[bool]:
        """Whether the server answering is a standby."""
        return Query("SELECT pg_is_in_recovery()", (), scalar(bool))

    @read
    def dies_on_a_standby(self) -> Query[bool]:
        """On a standby, end this very session mid-statement; elsewhere, true."""
        return Query(
            "SELECT CASE WHEN pg_is_in_recovery() THEN pg_terminate_backend(pg_backend_pid()) "
            "END IS NULL",
            (),
            scalar(bool),
        )


def where(db: ForgeDB | AsyncForgeDB) -> Any:
    """``db``'s meta namespace with the ``in_recovery`` read, on the same router."""
    return Where(db.meta._runner)


def fresh(function: Any, *args: Any) -> Any:
    """Call ``function`` in an empty context: no write of this test's is remembered there."""
    return contextvars.Context().run(function, *args)


async def afresh(function: Any, *args: Any) -> Any:
    """Await ``function(*args)`` in a task of an empty context (the async ``fresh``)."""
    return await asyncio.get_running_loop().create_task(
        function(*args), context=contextvars.Context()
    )


@pytest.fixture
def pair(forge_db_replication: ReplicaPair) -> Iterator[ReplicaPair]:
    """The run's replica pair, left running, undelayed and caught up after the test."""
    try:
        yield forge_db_replication
    finally:
        forge_db_replication.start_standby()
        forge_db_replication.set_apply_delay(0)
        forge_db_replication.wait_for_replay()


def _in_rotation(statuses: list[ReplicaStatus]) -> list[bool]:
    return [s.in_rotation for s in statuses]


def test_write_then_read_returns_the_write_1000_times_while_replay_is_delayed(
    pair: ReplicaPair,
) -> None:
    pair.set_apply_delay(3000)
    with ForgeDB.connect(pair.primary_url, replicas=[pair.standby_url], **QUIET) as db:
        owner = make_user(db)
        repo = make_repository(db, owner)
        for i in range(1000):
            issue = db.issues.create(repo.id, actor_id=owner.id, title=f"delayed {i}")
            assert db.issues.get(repo.id, issue.number).title == f"delayed {i}"
        # The standby was in rotation all along, and behind: a reader with no writes of its
        # own reads there, and does not find the last issue yet.
        assert _in_rotation(db.check_replicas()) == [True]
        assert fresh(where(db).in_recovery) is True
        with pytest.raises(NotFound):
            fresh(db.issues.get, repo.id, issue.number)


@pytest.mark.anyio
async def test_async_write_then_read_returns_the_write_1000_times_while_replay_is_delayed(
    pair: ReplicaPair,
) -> None:
    pair.set_apply_delay(3000)
    adb = await AsyncForgeDB.connect(pair.primary_url, replicas=[pair.standby_url], **QUIET)
    try:
        owner = await adb.users.create(username=f"owner{secrets.token_hex(4)}")
        repo = await adb.repositories.create(owner_id=owner.id, name="delayed")
        for i in range(1000):
            issue = await adb.issues.create(repo.id, actor_id=owner.id, title=f"delayed {i}")
            assert (await adb.issues.get(repo.id, issue.number)).title == f"delayed {i}"
        assert _in_rotation(await adb.check_replicas()) == [True]
        assert await afresh(where(adb).in_recovery) is True
        with pytest.raises(NotFound):
            await afresh(adb.issues.get, repo.id, issue.number)
    finally:
        await adb.close()


def test_reads_spread_over_fresh_replicas(pair: ReplicaPair) -> None:
    standbys = [pair.standby_url, pair.standby_url]
    with ForgeDB.connect(pair.primary_url, replicas=standbys, **QUIET) as db:
        assert _in_rotation(db.replica_status()) == [True, True]
        assert all(where(db).in_recovery() for _ in range(20))
        served = [r.pool.get_stats().get("requests_num", 0) for r in db._replicas.replicas]  # type: ignore[union-attr]
        assert all(count >= 10 for count in served), served
        # Writes, transactions and borrowed connections are the primary's.
        with db.transaction(read_only=True) as tx:
            assert Where(tx.meta._runner).in_recovery() is False
        with db.connection() as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            assert row == (False,)


def test_reads_after_a_write_stay_on_the_primary_until_the_replica_has_replayed_it(
    pair: ReplicaPair,
) -> None:
    with ForgeDB.connect(pair.primary_url, replicas=[pair.standby_url], **QUIET) as db:
        assert where(db).in_recovery() is True
        make_user(db)
        assert db.write_position() is not None
        assert where(db).in_recovery() is False
        pair.wait_for_replay()
        db.check_replicas()
        assert where(db).in_recovery() is True


def test_a_write_position_carried_to_another_context_keeps_its_reads_on_the_primary(
    pair: ReplicaPair,
) -> None:
    pair.set_apply_delay(3000)
    with ForgeDB.connect(pair.primary_url, replicas=[pair.standby_url], **QUIET) as db:
        user = make_user(db)
        token = db.write_position()
        assert token is not None
        db.check_replicas()

        def next_request() -> tuple[bool, str]:
            with db.reads_after(token):
                return where(db).in_recovery(), db.users.get(user.id).username

        assert fresh(next_request) == (False, user.username)
        assert fresh(where(db).in_recovery) is True
        with pytest.raises(InvalidInput) as info:
            db.reads_after("0/zz")
        assert info.value.field == "token"


def test_a_transaction_that_wrote_keeps_the_callers_reads_on_the_primary(
    pair: ReplicaPair,
) -> None:
    pair.set_apply_delay(3000)
    with ForgeDB.connect(pair.primary_url, replicas=[pair.standby_url], **QUIET) as db:
        assert where(db).in_recovery() is True
        with db.transaction() as tx:
            user = make_user(tx)  # type: ignore[arg-type]
        assert where(db).in_recovery() is False
        assert db.users.get(user.id).id == user.id


def test_stopping_the_replica_sends_reads_to_the_primary_and_restarting_brings_them_back(
    pair: ReplicaPair,
) -> None:
    with ForgeDB.connect(
        pair.primary_url, replicas=[pair.standby_url], min_size=2, max_size=4, **QUIET
    ) as db:
        user = make_user(db)
        pair.wait_for_replay()
        db.check_replicas()
        assert all(fresh(where(db).in_recovery) for _ in range(5))
        pair.stop_standby()
        # No check has run: the reads find the standby gone on their own, with no error.
        assert not any(fresh(where(db).in_recovery) for _ in range(50))
        assert fresh(db.users.get, user.id).id == user.id
        (status,) = db.check_replicas()
        assert not status.in_rotation
        assert "unreachable" in (status.reason or "")
        assert not any(fresh(where(db).in_recovery) for _ in range(5))
        pair.start_standby()
        assert _in_rotation(db.check_replicas()) == [True]
        assert all(fresh(where(db).in_recovery) for _ in range(5))


@pytest.mark.anyio
async def test_async_stopping_the_replica_sends_reads_to_the_primary_and_restarting_brings_them_back(
    pair: ReplicaPair,
) -> None:
    adb = await AsyncForgeDB.connect(
        pair.primary_url, replicas=[pair.standby_url], min_size=2, max_size=4, **QUIET
    )
    try:
        reads = where(adb)
        assert all([await reads.in_recovery() for _ in range(5)])
        pair.stop_standby()
        assert not any([await reads.in_recovery() for _ in range(50)])
        (status,) = await adb.check_replicas()
        assert not status.in_rotation
        pair.start_standby()
        assert _in_rotation(await adb.check_replicas()) == [True]
        assert all([await reads.in_recovery() for _ in range(5)])
    finally:
        await adb.close()


def test_a_read_whose_replica_connection_dies_mid_statement_runs_on_the_primary(
    pair: ReplicaPair,
) -> None:
    with ForgeDB.connect(pair.primary_url, replicas=[pair.standby_url], **QUIET) as db:
        assert where(db).in_recovery() is True
        assert where(db).dies_on_a_standby() is True
        (status,) = db.replica_status()
        assert not status.in_rotation
        assert status.reason == "its connection was lost"
        assert _in_rotation(db.check_replicas()) == [True]


def test_a_replica_down_at_connect_is_left_out_until_it_answers(pair: ReplicaPair) -> None:
    pair.stop_standby()
    with ForgeDB.connect(pair.primary_url, replicas=[pair.standby_url], **QUIET) as db:
        (status,) = db.replica_status()
        assert not status.in_rotation
        assert "unreachable" in (status.reason or "")
        assert where(db).in_recovery() is False
        pair.start_standby()
        assert _in_rotation(db.check_replicas()) == [True]
        assert where(db).in_recovery() is True


def test_a_server_that_is_no_standby_is_never_read_from(database_url: str) -> None:
    with ForgeDB.connect(database_url, replicas=[database_url], **QUIET) as db:
        (status,) = db.replica_status()
        assert not status.in_rotation
        assert status.reason == "not a standby (not in recovery)"
        assert db.meta.database_name()


def test_replicas_must_be_a_list_of_urls(database_url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        ForgeDB.connect(database_url, replicas=database_url)
    assert info.value.field == "replicas"
    with pytest.raises(InvalidInput) as info:
        ForgeDB.connect(database_url, replicas=["postgresql://h:notaport/x"])
    assert info.value.field == "replicas"


def test_a_replica_lagging_past_the_bound_leaves_the_rotation() -> None:
    settings = Settings(replica_max_lag=5.0, replica_check_interval=1.0)
    replicas = Replicas(["postgresql://standby/forge"], settings)
    (standby,) = replicas.replicas
    standby.pool = object()
    replicas.observe_primary("0/100", at=0.0)
    assert replicas.observe(standby, (True, "0/100"), at=0.5)
    assert replicas.pick() is standby
    replicas.observe_primary("0/200", at=1.0)
    assert replicas.observe(standby, (True, "0/100"), at=4.0)  # 3 s behind: within the bound
    replicas.observe_primary("0/300", at=7.0)
    assert not replicas.observe(standby, (True, "0/150"), at=7.5)  # 6.5 s behind
    assert replicas.pick() is None
    assert "lags 6.5 s" in (replicas.status()[0].reason or "")
    assert replicas.observe(standby, (True, "0/300"), at=8.0)
    assert replicas.pick() is standby


def test_reads_need_a_replica_past_this_contexts_writes() -> None:
    replicas = Replicas(["postgresql://standby/forge"], Settings())
    (standby,) = replicas.replicas
    standby.pool = object()
    replicas.observe_primary("1/0", at=0.0)
    assert replicas.observe(standby, (True, "1/0"), at=0.0)
    replicas.wrote("1/10")
    assert replicas.pick() is None
    assert fresh(replicas.pick) is standby
    assert replicas.observe(standby, (True, "1/10"), at=0.1)
    assert replicas.pick() is standby
    with replicas.after("2/0"):
        assert replicas.pick() is None
    assert replicas.pick() is standby


def test_write_positions_read_as_postgresql_spells_them() -> None:
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    for wrong in ("", "16", "16/", "/1", "1/2/3", "G/0", "123456789/0", 5, None):
        with pytest.raises(InvalidInput):
            parse_lsn(wrong)


def test_a_read_on_a_frozen_replica_runs_on_the_primary_after_its_deadline(
    pair: ReplicaPair,
) -> None:
    name = "forge_db_frozen_replica"
    options = {**QUIET, "min_size": 1, "max_size": 1, "deadline": 1.0, "application_name": name}
    with ForgeDB.connect(pair.primary_url, replicas=[pair.standby_url], **options) as db:
        assert where(db).in_recovery() is True
        with psycopg.connect(pair.standby_url, autocommit=True) as standby:
            rows = standby.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,)
            ).fetchall()
        pids = [pid for (pid,) in rows]
        assert pids  # the pool's connection and the health check's
        try:
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
        except PermissionError:
            pytest.skip("the standby's backends belong to another user: they cannot be stopped")
        try:
            assert where(db).in_recovery() is False  # answered by the primary, no error
            (status,) = db.replica_status()
            assert not status.in_rotation
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
        assert _in_rotation(db.check_replicas()) == [True]
        assert where(db).in_recovery() is True
