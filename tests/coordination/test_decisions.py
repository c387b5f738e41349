"""db.coordination.decisions: request, decide exactly once, expire to the default, pending."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from support import make_user

from forge_db import Conflict, ForgeDB, InvalidInput, NotFound

Conn = psycopg.Connection[Any]


def _overdue(conn: Conn) -> None:
    conn.execute(
        "UPDATE decisions SET created_at = created_at - interval '2 hours', "
        "expires_at = now() - interval '1 second'"
    )


def test_request_opens_a_pending_decision(fdb: ForgeDB) -> None:
    decision = fdb.coordination.decisions.request(
        "merge",
        "Land the migration?",
        options=["land", "wait", "drop"],
        default="wait",
        timeout=600,
        context={"landing": 7},
        requested_by="agent-3",
    )
    assert (decision.state, decision.choice, decision.options, decision.default_option) == (
        "pending",
        None,
        ["land", "wait", "drop"],
        "wait",
    )
    assert decision.context == {"landing": 7}
    assert (decision.expires_at - decision.created_at).total_seconds() == 600


def test_decide_succeeds_exactly_once(fdb: ForgeDB) -> None:
    judge = make_user(fdb)
    decisions = fdb.coordination.decisions
    asked = decisions.request("merge", "Land?", options=["yes", "no"], default="no", timeout=60)
    decided = decisions.decide(asked.id, choice="yes", actor_id=judge.id)
    assert (decided.state, decided.choice, decided.decided_by_id) == ("decided", "yes", judge.id)
    with pytest.raises(Conflict, match="already decided"):
        decisions.decide(asked.id, choice="no", actor_id=judge.id)
    assert decisions.get(asked.id).choice == "yes"


def test_a_choice_outside_the_options_is_refused(fdb: ForgeDB) -> None:
    judge = make_user(fdb)
    decisions = fdb.coordination.decisions
    asked = decisions.request("merge", "Land?", options=["yes", "no"], default="no", timeout=60)
    with pytest.raises(InvalidInput) as refused:
        decisions.decide(asked.id, choice="maybe", actor_id=judge.id)
    assert refused.value.field == "choice"
    assert decisions.get(asked.id).state == "pending"


def test_a_default_outside_the_options_is_refused(fdb: ForgeDB) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.coordination.decisions.request(
            "merge", "Land?", options=["yes", "no"], default="maybe", timeout=60
        )
    assert refused.value.field == "default"
    with pytest.raises(InvalidInput) as repeated:
        fdb.coordination.decisions.request(
            "merge", "Land?", options=["yes", "yes"], default="yes", timeout=60
        )
    assert repeated.value.field == "options"


def test_expire_due_resolves_overdue_decisions_to_their_default(fdb: ForgeDB, conn: Conn) -> None:
    decisions = fdb.coordination.decisions
    due = decisions.request("merge", "Old?", options=["yes", "no"], default="no", timeout=60)
    _overdue(conn)
    fresh = decisions.request("merge", "New?", options=["yes", "no"], default="no", timeout=60)
    (resolved,) = decisions.expire_due()
    assert (resolved.id, resolved.state, resolved.choice, resolved.decided_by_id) == (
        due.id,
        "auto_resolved",
        "no",
        None,
    )
    assert decisions.expire_due() == []
    assert [d.id for d in decisions.pending()] == [fresh.id]
    judge = make_user(fdb)
    with pytest.raises(Conflict, match="auto_resolved"):
        decisions.decide(due.id, choice="yes", actor_id=judge.id)


def test_a_human_may_still_answer_an_overdue_decision_before_the_sweep(
    fdb: ForgeDB, conn: Conn
) -> None:
    judge = make_user(fdb)
    decisions = fdb.coordination.decisions
    asked = decisions.request("merge", "Land?", options=["yes", "no"], default="no", timeout=60)
    _overdue(conn)
    assert decisions.decide(asked.id, choice="yes", actor_id=judge.id).state == "decided"
    assert decisions.expire_due() == []


def test_pending_lists_the_oldest_first(fdb: ForgeDB, conn: Conn) -> None:
    decisions = fdb.coordination.decisions
    ids = [
        decisions.request("merge", f"#{n}", options=["a"], default="a", timeout=60).id
        for n in range(3)
    ]
    assert [d.id for d in decisions.pending()] == ids
    assert [d.id for d in decisions.pending(limit=2)] == ids[:2]


def test_an_unknown_decision_is_not_found(fdb: ForgeDB) -> None:
    from uuid import UUID

    judge = make_user(fdb)
    with pytest.raises(NotFound):
        fdb.coordination.decisions.decide(UUID(int=1), choice="a", actor_id=judge.id)
    with pytest.raises(NotFound):
        fdb.coordination.decisions.get(UUID(int=1))
