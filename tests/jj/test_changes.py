"""db.jj.changes: recording commits, divergence, hidden commits, the evolution log."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from forge_db import AmbiguousPrefix, Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied

from .conftest import World, commit

Conn = psycopg.Connection[Any]


def test_recorded_commits_read_back_with_every_field(fdb: ForgeDB, world: World) -> None:
    parent = commit(at=1)
    child = commit(
        parents=[parent.commit_id], at=2, empty=True, conflict=True, description="fix: the thing"
    )
    assert fdb.jj.record_commits(world.repo.id, [parent, child], actor_id=world.writer.id) == 2
    got = fdb.jj.resolve_commit(world.repo.id, child.commit_id[:10])
    expected = child.model_dump()
    assert got.model_dump() == {**expected, "hidden": False}
    assert got.parent_commit_ids == [parent.commit_id]


def test_recording_commits_again_changes_nothing(fdb: ForgeDB, world: World, conn: Conn) -> None:
    batch = [commit(at=n) for n in range(10)]
    assert fdb.jj.record_commits(world.repo.id, batch, actor_id=world.writer.id) == 10
    before = conn.execute("SELECT md5(string_agg(c::text, '|' ORDER BY c.id)) FROM changes c")
    snapshot = before.fetchone()
    assert fdb.jj.record_commits(world.repo.id, batch, actor_id=world.writer.id) == 0
    after = conn.execute("SELECT md5(string_agg(c::text, '|' ORDER BY c.id)) FROM changes c")
    assert after.fetchone() == snapshot


def test_a_change_resolves_to_its_one_visible_commit(fdb: ForgeDB, world: World) -> None:
    first = commit(at=1)
    fdb.jj.record_commits(world.repo.id, [first], actor_id=world.writer.id)
    resolution = fdb.jj.resolve_change(world.repo.id, first.change_id[:6])
    assert resolution.change_id == first.change_id
    assert [c.commit_id for c in resolution.commits] == [first.commit_id]
    assert not resolution.divergent
    assert not resolution.hidden


def test_a_rewrite_hides_the_predecessor_and_the_evolog_follows_it(
    fdb: ForgeDB, world: World
) -> None:
    v1 = commit(at=1)
    v2 = commit(v1.change_id, at=2, predecessors=[v1.commit_id])
    v3 = commit(v1.change_id, at=3, predecessors=[v2.commit_id])
    fdb.jj.record_commits(world.repo.id, [v1, v2], actor_id=world.writer.id)
    fdb.jj.record_commits(world.repo.id, [v3], actor_id=world.writer.id)
    resolution = fdb.jj.resolve_change(world.repo.id, v1.change_id)
    assert [c.commit_id for c in resolution.commits] == [v3.commit_id]
    assert not resolution.divergent
    assert fdb.jj.resolve_commit(world.repo.id, v1.commit_id).hidden
    assert fdb.jj.resolve_commit(world.repo.id, v2.commit_id).hidden
    evolution = fdb.jj.evolog(world.repo.id, v3.commit_id)
    assert [c.commit_id for c in evolution] == [v3.commit_id, v2.commit_id, v1.commit_id]
    assert [c.commit_id for c in fdb.jj.evolog(world.repo.id, v2.commit_id)] == [
        v2.commit_id,
        v1.commit_id,
    ]


def test_a_squash_has_two_predecessors_and_the_evolog_reaches_both(
    fdb: ForgeDB, world: World
) -> None:
    a, b = commit(at=1), commit(at=2)
    squashed = commit(a.change_id, at=3, predecessors=[a.commit_id, b.commit_id])
    fdb.jj.record_commits(world.repo.id, [a, b, squashed], actor_id=world.writer.id)
    evolution = fdb.jj.evolog(world.repo.id, squashed.commit_id)
    assert evolution[0].commit_id == squashed.commit_id
    assert {c.commit_id for c in evolution[1:]} == {a.commit_id, b.commit_id}
    hidden = fdb.jj.resolve_change(world.repo.id, b.change_id)
    assert hidden.hidden
    assert [c.commit_id for c in hidden.commits] == [b.commit_id]


def test_a_change_rewritten_twice_concurrently_is_divergent(fdb: ForgeDB, world: World) -> None:
    base = commit(at=1)
    left = commit(base.change_id, at=2, predecessors=[base.commit_id])
    right = commit(base.change_id, at=3, predecessors=[base.commit_id])
    fdb.jj.record_commits(world.repo.id, [base, left, right], actor_id=world.writer.id)
    resolution = fdb.jj.resolve_change(world.repo.id, base.change_id[:4])
    assert resolution.divergent
    assert not resolution.hidden
    assert [c.commit_id for c in resolution.commits] == [right.commit_id, left.commit_id]
    fdb.jj.changes.abandon(world.repo.id, [right.commit_id], actor_id=world.writer.id)
    assert not fdb.jj.resolve_change(world.repo.id, base.change_id).divergent


def test_an_abandoned_change_is_hidden_not_unknown(fdb: ForgeDB, world: World) -> None:
    gone = commit(at=1)
    fdb.jj.record_commits(world.repo.id, [gone], actor_id=world.writer.id)
    assert fdb.jj.changes.abandon(world.repo.id, [gone.commit_id], actor_id=world.writer.id) == 1
    assert fdb.jj.changes.abandon(world.repo.id, [gone.commit_id], actor_id=world.writer.id) == 0
    resolution = fdb.jj.resolve_change(world.repo.id, gone.change_id)
    assert resolution.hidden
    assert [c.commit_id for c in resolution.commits] == [gone.commit_id]
    assert resolution.commits[0].hidden
    with pytest.raises(NotFound, match="no change id starts with"):
        fdb.jj.resolve_change(world.repo.id, "z" * 32 if gone.change_id[0] != "z" else "k" * 32)


def test_an_ambiguous_change_prefix_lists_the_candidates(fdb: ForgeDB, world: World) -> None:
    ids = ["kkkk" + "l" * 28, "kkkk" + "m" * 28, "kkkl" + "k" * 28]
    commits = [commit(i, at=n) for n, i in enumerate(ids)]
    fdb.jj.record_commits(world.repo.id, commits, actor_id=world.writer.id)
    with pytest.raises(AmbiguousPrefix, match='change id prefix "kkk" is ambiguous') as refused:
        fdb.jj.resolve_change(world.repo.id, "kkk")
    assert refused.value.candidates == ids
    assert fdb.jj.resolve_change(world.repo.id, "kkkl").change_id == ids[2]


def test_an_ambiguous_commit_prefix_lists_the_candidates(fdb: ForgeDB, world: World) -> None:
    a = commit(at=1).model_copy(update={"commit_id": "abc" + "0" * 37})
    b = commit(at=2).model_copy(update={"commit_id": "abc" + "1" * 37})
    fdb.jj.record_commits(world.repo.id, [a, b], actor_id=world.writer.id)
    with pytest.raises(AmbiguousPrefix) as refused:
        fdb.jj.resolve_commit(world.repo.id, "ab")
    assert refused.value.candidates == [a.commit_id, b.commit_id]
    with pytest.raises(NotFound):
        fdb.jj.resolve_commit(world.repo.id, "abd")


def test_the_evolog_of_an_unknown_commit_is_not_found(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(NotFound):
        fdb.jj.evolog(world.repo.id, "a" * 40)


def test_shortest_prefixes_of_change_and_commit_ids(fdb: ForgeDB, world: World) -> None:
    a = commit("kkkk" + "l" * 28, at=1).model_copy(update={"commit_id": "ab" + "0" * 38})
    b = commit("kkkl" + "l" * 28, at=2).model_copy(update={"commit_id": "ac" + "0" * 38})
    c = commit("zz" + "k" * 30, at=3).model_copy(update={"commit_id": "f" * 40})
    d = commit(c.change_id, at=4).model_copy(update={"commit_id": "e" * 40})  # divergent twin
    fdb.jj.record_commits(world.repo.id, [a, b, c, d], actor_id=world.writer.id)
    ids = [a.change_id, b.change_id, c.change_id, a.commit_id, b.commit_id, c.commit_id]
    got = fdb.jj.shortest_prefixes(world.repo.id, ids)
    assert [(p.id, p.length) for p in got] == list(zip(ids, [4, 4, 1, 2, 2, 1], strict=True))


def test_commits_of_a_private_repository_stay_private(fdb: ForgeDB, world: World) -> None:
    secret = commit(at=1)
    fdb.jj.record_commits(world.private.id, [secret], actor_id=world.owner.id)
    for viewer in (world.stranger.id, None):
        with pytest.raises(NotFound):
            fdb.jj.resolve_change(world.private.id, secret.change_id, viewer_id=viewer)
        with pytest.raises(NotFound):
            fdb.jj.resolve_commit(world.private.id, secret.commit_id, viewer_id=viewer)
        with pytest.raises(NotFound):
            fdb.jj.evolog(world.private.id, secret.commit_id, viewer_id=viewer)
        assert (
            fdb.jj.shortest_prefixes(world.private.id, [secret.commit_id], viewer_id=viewer) == []
        )
    with pytest.raises(NotFound):  # the public repository's id does not reach it either
        fdb.jj.resolve_commit(world.repo.id, secret.commit_id, viewer_id=world.stranger.id)
    got = fdb.jj.resolve_commit(world.private.id, secret.commit_id, viewer_id=world.reader.id)
    assert got.commit_id == secret.commit_id


def test_recording_and_abandoning_need_the_write_role(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    with pytest.raises(PermissionDenied):
        fdb.jj.record_commits(world.repo.id, [commit()], actor_id=world.reader.id)
    with pytest.raises(NotFound):
        fdb.jj.record_commits(world.private.id, [commit()], actor_id=world.stranger.id)
    with pytest.raises(NotFound):
        fdb.jj.changes.abandon(world.private.id, ["a" * 40], actor_id=world.stranger.id)
    row = conn.execute("SELECT count(*) FROM changes").fetchone()
    assert row is not None
    assert row[0] == 0


def test_an_archived_repository_refuses_new_commits(fdb: ForgeDB, world: World) -> None:
    fdb.repositories.update(world.repo.id, actor_id=world.owner.id, archived=True)
    with pytest.raises(Conflict):
        fdb.jj.record_commits(world.repo.id, [commit()], actor_id=world.owner.id)


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"change_id": "a" * 32}, "change_id"),
        ({"commit_id": "g" * 40}, "commit_id"),
        ({"parent_commit_ids": ["a" * 40] * 2}, "parent_commit_ids"),
        ({"description": "x" * 1_048_577}, "description"),
    ],
)
def test_a_malformed_commit_record_is_refused_naming_the_field(
    update: dict[str, object], field: str
) -> None:
    base = commit().model_dump()
    with pytest.raises(ValueError, match=field):
        type(commit()).model_validate({**base, **update})


def test_a_malformed_prefix_is_refused_naming_it(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.jj.resolve_change(world.repo.id, "abc")
    assert refused.value.field == "prefix"
    with pytest.raises(InvalidInput) as refused:
        fdb.jj.shortest_prefixes(world.repo.id, ["nope"])
    assert refused.value.field == "ids"
