"""db.coordination.leases: acquire, renew, release with fencing tokens; expiry and takeover;
wait-for edges and deadlock detection."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from forge_db import Conflict, ForgeDB, InvalidInput

Conn = psycopg.Connection[Any]


def _expire_lease(conn: Conn, name: str) -> None:
    """Let the lease's time run out (its row stays, as after a crash of its holder)."""
    conn.execute(
        "UPDATE leases SET acquired_at = now() - interval '2 hours', "
        "expires_at = now() - interval '1 second' WHERE name = %s",
        (name,),
    )


def test_acquire_grants_a_free_lease_and_refuses_a_held_one(fdb: ForgeDB) -> None:
    leases = fdb.coordination.leases
    grant = leases.acquire("job:gc", "a", ttl=60)
    assert (grant.name, grant.acquired, grant.holder) == ("job:gc", True, "a")
    refused = leases.acquire("job:gc", "b", ttl=60)
    assert (refused.acquired, refused.holder, refused.fencing_token) == (
        False,
        "a",
        grant.fencing_token,
    )
    found = leases.find("job:gc")
    assert found is not None
    assert (found.holder, found.fencing_token) == ("a", grant.fencing_token)


def test_tokens_grow_strictly_and_renewal_keeps_the_token(fdb: ForgeDB) -> None:
    leases = fdb.coordination.leases
    first = leases.acquire("r", "a", ttl=60)
    again = leases.acquire("r", "a", ttl=120)
    assert again.fencing_token == first.fencing_token
    assert again.expires_at > first.expires_at
    renewed = leases.renew("r", "a", token=first.fencing_token, ttl=600)
    assert renewed > again.expires_at
    assert leases.release("r", "a", token=first.fencing_token) is True
    assert leases.release("r", "a", token=first.fencing_token) is False
    after = leases.acquire("r", "b", ttl=60)
    assert after.fencing_token > first.fencing_token


def test_an_expired_lease_is_taken_over_and_the_old_token_is_stale(
    fdb: ForgeDB, conn: Conn
) -> None:
    leases = fdb.coordination.leases
    old = leases.acquire("r", "crashed", ttl=60)
    _expire_lease(conn, "r")
    assert leases.find("r") is None
    new = leases.acquire("r", "successor", ttl=60)
    assert (new.acquired, new.holder) == (True, "successor")
    assert new.fencing_token > old.fencing_token
    with pytest.raises(Conflict):
        leases.renew("r", "crashed", token=old.fencing_token, ttl=60)
    assert leases.release("r", "crashed", token=old.fencing_token) is False
    assert leases.find("r") is not None


def test_renewing_an_expired_lease_is_a_conflict(fdb: ForgeDB, conn: Conn) -> None:
    leases = fdb.coordination.leases
    grant = leases.acquire("r", "a", ttl=60)
    _expire_lease(conn, "r")
    with pytest.raises(Conflict):
        leases.renew("r", "a", token=grant.fencing_token, ttl=60)


def test_holders_lists_live_leases_by_prefix(fdb: ForgeDB, conn: Conn) -> None:
    leases = fdb.coordination.leases
    for name in ("repo:1:a", "repo:1:b", "repo:2:a"):
        leases.acquire(name, "w", ttl=60)
    _expire_lease(conn, "repo:1:b")
    assert [lease.name for lease in leases.holders("repo:1:")] == ["repo:1:a"]
    assert [lease.name for lease in leases.holders()] == ["repo:1:a", "repo:2:a"]


def test_bad_ttls_and_names_are_refused_by_name(fdb: ForgeDB) -> None:
    leases = fdb.coordination.leases
    with pytest.raises(InvalidInput) as ttl:
        leases.acquire("r", "a", ttl=0)
    assert ttl.value.field == "ttl"
    with pytest.raises(InvalidInput) as name:
        leases.acquire("r\n", "a", ttl=5)
    assert name.value.field == "name"


# --- waiting and deadlocks -------------------------------------------------------------------


def _hold_and_wait(db: ForgeDB, holds: dict[str, str], waits: list[tuple[str, str]]) -> None:
    """Each holder takes its lease; then each (waiter, lease) edge is recorded, in order."""
    for lease, holder in holds.items():
        assert db.coordination.leases.acquire(lease, holder, ttl=600).acquired
    for waiter, lease in waits:
        assert db.coordination.leases.wait_for(lease, waiter, ttl=600) is not None


def test_wait_for_records_an_edge_to_the_holder(fdb: ForgeDB) -> None:
    leases = fdb.coordination.leases
    leases.acquire("x", "a", ttl=60)
    edge = leases.wait_for("x", "b", ttl=60)
    assert edge is not None
    assert (edge.waiter, edge.lease_name, edge.holder) == ("b", "x", "a")
    assert [(w.waiter, w.holder) for w in leases.waits()] == [("b", "a")]
    assert leases.wait_for("free", "b", ttl=60) is None  # nothing to wait for
    assert leases.wait_for("x", "a", ttl=60) is None  # its own lease


def test_a_cycle_of_two_is_found_with_the_youngest_waiter_as_victim(fdb: ForgeDB) -> None:
    _hold_and_wait(fdb, {"x": "a", "y": "b"}, [("a", "y"), ("b", "x")])
    (deadlock,) = fdb.coordination.leases.find_deadlocks()
    assert deadlock.members == ["a", "b"]
    assert deadlock.resources == ["y", "x"]
    assert deadlock.victim == "b"  # its edge came last


def test_a_cycle_of_three_is_found_once(fdb: ForgeDB) -> None:
    _hold_and_wait(fdb, {"x": "a", "y": "b", "z": "c"}, [("c", "x"), ("a", "y"), ("b", "z")])
    (deadlock,) = fdb.coordination.leases.find_deadlocks()
    assert deadlock.members == ["a", "b", "c"]
    assert deadlock.resources == ["y", "z", "x"]
    assert deadlock.victim == "b"


def test_a_chain_that_is_not_a_cycle_is_not_reported(fdb: ForgeDB) -> None:
    _hold_and_wait(fdb, {"x": "a", "y": "b", "z": "c"}, [("a", "y"), ("b", "z"), ("d", "x")])
    assert fdb.coordination.leases.find_deadlocks() == []


def test_two_separate_cycles_are_both_found(fdb: ForgeDB) -> None:
    _hold_and_wait(
        fdb,
        {"x": "a", "y": "b", "p": "m", "q": "n", "r": "o"},
        [("a", "y"), ("b", "x"), ("m", "q"), ("n", "r"), ("o", "p")],
    )
    found = fdb.coordination.leases.find_deadlocks()
    assert [d.members for d in found] == [["a", "b"], ["m", "n", "o"]]


def test_edges_go_away_with_the_lease_or_the_wait(fdb: ForgeDB, conn: Conn) -> None:
    leases = fdb.coordination.leases
    _hold_and_wait(fdb, {"x": "a", "y": "b"}, [("a", "y"), ("b", "x")])
    assert len(leases.find_deadlocks()) == 1
    token = leases.find("x")
    assert token is not None
    assert leases.release("x", "a", token=token.fencing_token)  # the edge b -> x goes with it
    assert leases.find_deadlocks() == []
    assert [(w.waiter, w.lease_name) for w in leases.waits()] == [("a", "y")]
    assert leases.stop_waiting("y", "a") is True
    assert leases.waits() == []


def test_an_expired_lease_breaks_the_cycle_and_its_edges_are_purged(
    fdb: ForgeDB, conn: Conn
) -> None:
    leases = fdb.coordination.leases
    _hold_and_wait(fdb, {"x": "a", "y": "b"}, [("a", "y"), ("b", "x")])
    _expire_lease(conn, "y")
    assert leases.find_deadlocks() == []
    assert leases.purge_waits() == 1
    assert _edges(conn) == [("b", "x")]


def test_an_expired_wait_breaks_the_cycle(fdb: ForgeDB, conn: Conn) -> None:
    leases = fdb.coordination.leases
    _hold_and_wait(fdb, {"x": "a", "y": "b"}, [("a", "y"), ("b", "x")])
    conn.execute(
        "UPDATE lease_waits SET created_at = now() - interval '2 hours', "
        "expires_at = now() - interval '1 second' WHERE waiter = 'a'"
    )
    assert leases.find_deadlocks() == []
    assert [w.waiter for w in leases.waits()] == ["b"]


def _edges(conn: Conn) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT waiter, lease_name FROM lease_waits ORDER BY 1, 2").fetchall()
    return [(r[0], r[1]) for r in rows]


def test_taking_over_the_lease_removes_the_new_holders_edge(fdb: ForgeDB, conn: Conn) -> None:
    leases = fdb.coordination.leases
    leases.acquire("x", "a", ttl=60)
    leases.wait_for("x", "b", ttl=60)
    leases.wait_for("x", "c", ttl=60)
    _expire_lease(conn, "x")
    assert leases.acquire("x", "b", ttl=60).acquired
    assert _edges(conn) == [("c", "x")]
    assert [(w.waiter, w.holder) for w in leases.waits()] == [("c", "b")]
