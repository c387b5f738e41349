"""db.issues: numbering, lists, search, comments, labels, milestones, links, pins."""

from __future__ import annotations

import pytest
from support import make_repository, make_user

from forge_db import AlreadyExists, Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied


@pytest.fixture
def world(fdb: ForgeDB):  # type: ignore[no-untyped-def]
    owner, writer, reader = (
        make_user(fdb, "owner"),
        make_user(fdb, "writer"),
        make_user(fdb, "reader"),
    )
    repo = make_repository(fdb, owner)
    fdb.repositories.set_collaborator(repo.id, actor_id=owner.id, user_id=writer.id, role="write")
    return owner, writer, reader, repo


def test_create_numbers_issues_from_one(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, reader, repo = world
    first = fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="  First  ")
    second = fdb.issues.create(
        repository_id=repo.id, author_id=reader.id, title="Second", body="text"
    )
    assert (first.number, second.number) == (1, 2)
    assert first.title == "First"
    assert second.author == reader.username
    assert fdb.issues.get(repo.id, 2) == second


def test_create_attaches_labels_assignees_and_milestone(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, writer, _, repo = world
    fdb.issues.create_label(repo.id, actor_id=owner.id, name="Bug", color="#FF0000")
    fdb.issues.create_label(repo.id, actor_id=owner.id, name="ui")
    milestone = fdb.issues.create_milestone(repo.id, actor_id=owner.id, title="v1")
    issue = fdb.issues.create(
        repository_id=repo.id,
        author_id=owner.id,
        title="t",
        labels=["bug", "UI"],
        assignees=[writer.id],
        milestone_id=milestone.id,
    )
    assert [label.name for label in issue.labels] == ["Bug", "ui"]
    assert issue.labels[0].color == "#ff0000"
    assert [a.username for a in issue.assignees] == [writer.username]
    assert issue.milestone_id == milestone.id
    assert fdb.issues.get(repo.id, issue.number) == issue
    [progress] = fdb.issues.list_milestones(repo.id)
    assert (progress.open_issues, progress.closed_issues) == (1, 0)


def test_unknown_label_refuses_the_whole_issue(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    with pytest.raises(InvalidInput, match="labels"):
        fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="t", labels=["nope"])
    assert fdb.issues.counts(repo.id).open == 0
    assert fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="t").number == 1


def test_labels_and_assignees_need_write_access(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    _owner, writer, reader, repo = world
    with pytest.raises(PermissionDenied):
        fdb.issues.create(
            repository_id=repo.id, author_id=reader.id, title="t", assignees=[writer.id]
        )


@pytest.mark.parametrize(
    ("title", "body"),
    [
        ("", ""),
        ("   ", ""),
        ("x" * 257, ""),
        ("ok", "b" * 65537),
        ("nul\x00", ""),
        ("ok", "nul\x00"),
        ("two\nlines", ""),
    ],
)
def test_bad_titles_and_bodies_are_invalid_input(
    fdb: ForgeDB, world, title: str, body: str
) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    with pytest.raises(InvalidInput):
        fdb.issues.create(repository_id=repo.id, author_id=owner.id, title=title, body=body)


def test_update_records_the_edit(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, reader, repo = world
    issue = fdb.issues.create(repository_id=repo.id, author_id=reader.id, title="t")
    assert issue.edited_at is None
    edited = fdb.issues.update(repo.id, issue.number, actor_id=reader.id, body="new body")
    assert (edited.title, edited.body) == ("t", "new body")
    assert edited.edited_at is not None
    other = make_user(fdb)
    with pytest.raises(PermissionDenied, match="author or a writer"):
        fdb.issues.update(repo.id, issue.number, actor_id=other.id, title="hijack")
    assert fdb.issues.update(repo.id, issue.number, actor_id=owner.id, title="T").title == "T"


def test_close_with_reasons_and_reopen(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    original = fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="original")
    copy = fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="copy")
    closed = fdb.issues.close(
        repo.id, copy.number, actor_id=owner.id, reason="duplicate", duplicate_of=original.number
    )
    assert (closed.state, closed.close_reason, closed.duplicate_of) == (
        "closed",
        "duplicate",
        original.number,
    )
    assert closed.closed_at is not None
    assert fdb.issues.counts(repo.id).model_dump() == {"open": 1, "closed": 1}
    reopened = fdb.issues.reopen(repo.id, copy.number, actor_id=owner.id)
    assert (reopened.state, reopened.close_reason, reopened.duplicate_of, reopened.closed_at) == (
        "open",
        None,
        None,
        None,
    )
    with pytest.raises(NotFound, match="duplicated issue"):
        fdb.issues.close(
            repo.id, copy.number, actor_id=owner.id, reason="duplicate", duplicate_of=99
        )
    with pytest.raises(InvalidInput):
        fdb.issues.close(
            repo.id, copy.number, actor_id=owner.id, reason="completed", duplicate_of=1
        )


def test_locked_issue_takes_comments_from_writers_only(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    _owner, writer, reader, repo = world
    issue = fdb.issues.create(repository_id=repo.id, author_id=reader.id, title="t")
    fdb.issues.set_locked(repo.id, issue.number, actor_id=writer.id, locked=True)
    with pytest.raises(PermissionDenied, match="locked"):
        fdb.issues.add_comment(repo.id, issue.number, author_id=reader.id, body="me too")
    assert (
        fdb.issues.add_comment(repo.id, issue.number, author_id=writer.id, body="ok").body == "ok"
    )
    with pytest.raises(PermissionDenied):
        fdb.issues.set_locked(repo.id, issue.number, actor_id=reader.id, locked=False)


def test_comments_edit_delete_and_counts(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, reader, repo = world
    issue = fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="t")
    first = fdb.issues.add_comment(repo.id, issue.number, author_id=reader.id, body="one")
    fdb.issues.add_comment(repo.id, issue.number, author_id=owner.id, body="two")
    assert fdb.issues.get(repo.id, issue.number).comment_count == 2
    edited = fdb.issues.edit_comment(repo.id, first.id, actor_id=reader.id, body="uno")
    assert (edited.body, edited.edited_at is not None) == ("uno", True)
    tomb = fdb.issues.delete_comment(repo.id, first.id, actor_id=owner.id)
    assert (tomb.body, tomb.deleted_at is not None) == ("", True)
    assert fdb.issues.get(repo.id, issue.number).comment_count == 1
    page = fdb.issues.list_comments(repo.id, issue.number)
    assert [c.body for c in page.items] == ["", "two"]
    with pytest.raises(NotFound):
        fdb.issues.edit_comment(repo.id, first.id, actor_id=reader.id, body="resurrect")
    other = make_user(fdb)
    second = page.items[1]
    with pytest.raises(PermissionDenied):
        fdb.issues.delete_comment(repo.id, second.id, actor_id=other.id)


def test_comment_pages_are_keyset(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    issue = fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="t")
    for n in range(5):
        fdb.issues.add_comment(repo.id, issue.number, author_id=owner.id, body=f"c{n}")
    seen, cursor = [], None
    while True:
        page = fdb.issues.list_comments(repo.id, issue.number, limit=2, cursor=cursor)
        seen += [c.body for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"c{n}" for n in range(5)]


def test_list_filters(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, writer, reader, repo = world
    for name in ("bug", "ui", "docs"):
        fdb.issues.create_label(repo.id, actor_id=owner.id, name=name)
    milestone = fdb.issues.create_milestone(repo.id, actor_id=owner.id, title="m")
    a = fdb.issues.create(
        repository_id=repo.id,
        author_id=owner.id,
        title="a",
        labels=["bug", "ui"],
        assignees=[writer.id],
    )
    b = fdb.issues.create(
        repository_id=repo.id,
        author_id=owner.id,
        title="b",
        labels=["bug"],
        milestone_id=milestone.id,
    )
    c = fdb.issues.create(
        repository_id=repo.id, author_id=reader.id, title="c", body=f"hey @{writer.username}"
    )
    d = fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="d", labels=["docs"])
    fdb.issues.close(repo.id, d.number, actor_id=owner.id)

    def numbers(**filters: object) -> list[int]:
        return [i.number for i in fdb.issues.list(repo.id, **filters).items]  # type: ignore[arg-type]

    assert numbers() == [c.number, b.number, a.number]
    assert numbers(state="closed") == [d.number]
    assert numbers(state="all", direction="asc") == [a.number, b.number, c.number, d.number]
    assert numbers(labels=["bug", "ui"]) == [a.number]
    assert numbers(labels=["BUG"]) == [b.number, a.number]
    assert numbers(any_labels=["ui", "docs"], state="all") == [d.number, a.number]
    assert numbers(no_labels=True) == [c.number]
    assert numbers(assignee_id=writer.id) == [a.number]
    assert numbers(no_assignee=True) == [c.number, b.number]
    assert numbers(author_id=reader.id) == [c.number]
    assert numbers(milestone_id=milestone.id) == [b.number]
    assert numbers(mentioned_id=writer.id) == [c.number]


def test_list_sorted_by_comments(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    quiet = fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="quiet")
    busy = fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="busy")
    for _ in range(3):
        fdb.issues.add_comment(repo.id, busy.number, author_id=owner.id, body="x")
    page = fdb.issues.list(repo.id, sort="comments", direction="desc")
    assert [i.number for i in page.items] == [busy.number, quiet.number]


def test_cursor_is_bound_to_its_list(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    other_repo = make_repository(fdb, owner)
    for r in (repo, other_repo):
        for n in range(3):
            fdb.issues.create(repository_id=r.id, author_id=owner.id, title=f"t{n}")
    cursor = fdb.issues.list(repo.id, limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput, match="cursor"):
        fdb.issues.list(other_repo.id, limit=1, cursor=cursor)
    with pytest.raises(InvalidInput, match="cursor"):
        fdb.issues.list(repo.id, limit=1, cursor=cursor, state="closed")


def test_search_ranks_words_and_finds_numbers(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    fdb.issues.create(
        repository_id=repo.id,
        author_id=owner.id,
        title="Parser crashes on empty input",
        body="stack trace",
    )
    fdb.issues.create(
        repository_id=repo.id,
        author_id=owner.id,
        title="Docs",
        body="the parser docs mention crashes",
    )
    fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="Unrelated", body="nothing")
    hits = fdb.issues.search(repo.id, "PARSER crash").items
    assert [h.title for h in hits] == ["Parser crashes on empty input", "Docs"]
    assert hits[0].rank >= hits[1].rank
    assert [h.number for h in fdb.issues.search(repo.id, "#3").items] == [3]
    assert fdb.issues.search(repo.id, "pars").items[0].number == 1
    assert fdb.issues.search(repo.id, "zebra").items == []
    with pytest.raises(InvalidInput):
        fdb.issues.search(repo.id, "!!!")
    assert fdb.issues.search(repo.id, "parser's & | ! (crash)").items


def test_labels_are_unique_case_insensitively_and_validated(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, reader, repo = world
    label = fdb.issues.create_label(repo.id, actor_id=owner.id, name="Bug", color="abcdef")
    assert label.color == "#abcdef"
    with pytest.raises(AlreadyExists):
        fdb.issues.create_label(repo.id, actor_id=owner.id, name="bug")
    with pytest.raises(InvalidInput, match="color"):
        fdb.issues.create_label(repo.id, actor_id=owner.id, name="x", color="red")
    with pytest.raises(PermissionDenied):
        fdb.issues.create_label(repo.id, actor_id=reader.id, name="mine")
    renamed = fdb.issues.update_label(repo.id, label.id, actor_id=owner.id, name="defect")
    assert renamed.name == "defect"
    assert [lb.name for lb in fdb.issues.list_labels(repo.id)] == ["defect"]
    assert fdb.issues.delete_label(repo.id, label.id, actor_id=owner.id) is True


def test_set_labels_adds_and_removes(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    for name in ("a", "b", "c"):
        fdb.issues.create_label(repo.id, actor_id=owner.id, name=name)
    issue = fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="t", labels=["a"])
    changed = fdb.issues.set_labels(
        repo.id, issue.number, actor_id=owner.id, add=["b", "c"], remove=["a"]
    )
    assert [lb.name for lb in changed.labels] == ["b", "c"]
    assert fdb.issues.get(repo.id, issue.number).labels == changed.labels


def test_assign_is_limited_to_ten_and_to_readers(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    private = make_repository(fdb, owner, private=True)
    issue = fdb.issues.create(repository_id=private.id, author_id=owner.id, title="t")
    stranger = make_user(fdb)
    with pytest.raises(InvalidInput, match="cannot see"):
        fdb.issues.assign(private.id, issue.number, actor_id=owner.id, user_ids=[stranger.id])
    public_issue = fdb.issues.create(repository_id=repo.id, author_id=owner.id, title="t")
    people = [make_user(fdb).id for _ in range(11)]
    assert (
        len(
            fdb.issues.assign(
                repo.id, public_issue.number, actor_id=owner.id, user_ids=people[:10]
            ).assignees
        )
        == 10
    )
    with pytest.raises(Conflict, match="10 assignees"):
        fdb.issues.assign(repo.id, public_issue.number, actor_id=owner.id, user_ids=people[10:])
    after = fdb.issues.unassign(
        repo.id, public_issue.number, actor_id=owner.id, user_ids=people[:2]
    )
    assert len(after.assignees) == 8


def test_dependencies_and_subtasks_refuse_cycles(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    for n in range(3):
        fdb.issues.create(repository_id=repo.id, author_id=owner.id, title=f"t{n}")
    assert fdb.issues.add_dependency(repo.id, actor_id=owner.id, blocking=1, blocked=2) is True
    assert fdb.issues.add_dependency(repo.id, actor_id=owner.id, blocking=2, blocked=3) is True
    with pytest.raises(Conflict, match="cycle"):
        fdb.issues.add_dependency(repo.id, actor_id=owner.id, blocking=3, blocked=1)
    with pytest.raises(InvalidInput):
        fdb.issues.add_dependency(repo.id, actor_id=owner.id, blocking=1, blocked=1)
    with pytest.raises(NotFound, match="#9"):
        fdb.issues.add_dependency(repo.id, actor_id=owner.id, blocking=1, blocked=9)
    assert fdb.issues.add_subtask(repo.id, actor_id=owner.id, parent=1, child=3) is True
    with pytest.raises(Conflict, match="cycle"):
        fdb.issues.add_subtask(repo.id, actor_id=owner.id, parent=3, child=1)
    links = fdb.issues.links(repo.id, 2)
    assert [r.number for r in links.blocked_by] == [1]
    assert [r.number for r in links.blocks] == [3]
    assert fdb.issues.links(repo.id, 3).parent is not None
    assert fdb.issues.remove_dependency(repo.id, actor_id=owner.id, blocking=1, blocked=2) is True
    assert fdb.issues.remove_subtask(repo.id, actor_id=owner.id, parent=1, child=3) is True


def test_at_most_three_pins_reorderable(fdb: ForgeDB, world) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    for n in range(4):
        fdb.issues.create(repository_id=repo.id, author_id=owner.id, title=f"t{n}")
    assert [fdb.issues.pin(repo.id, n, actor_id=owner.id) for n in (1, 2, 3)] == [1, 2, 3]
    with pytest.raises(Conflict, match="three"):
        fdb.issues.pin(repo.id, 4, actor_id=owner.id)
    assert [
        i.number for i in fdb.issues.reorder_pins(repo.id, actor_id=owner.id, numbers=[3, 1, 2])
    ] == [3, 1, 2]
    assert [i.number for i in fdb.issues.list_pinned(repo.id)] == [3, 1, 2]
    with pytest.raises(InvalidInput):
        fdb.issues.reorder_pins(repo.id, actor_id=owner.id, numbers=[3, 1])
    assert fdb.issues.unpin(repo.id, 1, actor_id=owner.id) is True
    assert fdb.issues.pin(repo.id, 4, actor_id=owner.id) == 2


def test_counts_and_drift_check(fdb: ForgeDB, world, conn) -> None:  # type: ignore[no-untyped-def]
    owner, _, _, repo = world
    for n in range(3):
        fdb.issues.create(repository_id=repo.id, author_id=owner.id, title=f"t{n}")
    fdb.issues.close(repo.id, 1, actor_id=owner.id)
    assert fdb.issues.counts(repo.id).model_dump() == {"open": 2, "closed": 1}
    assert fdb.issues.check_counts(repo.id) == []
    conn.execute(
        "UPDATE issue_counters SET open_issue_count = 7 WHERE repository_id = %s", (repo.id,)
    )
    [drift] = fdb.issues.check_counts()
    assert (drift.stored_open, drift.actual_open) == (7, 2)
