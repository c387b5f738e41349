"""db.issues: opening, reading, listing, searching, editing, closing, locking and counting."""

from __future__ import annotations

import base64
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
import pytest
from support import make_user

from forge_db import Conflict, ForgeDB, InvalidInput, NotFound, PermissionDenied
from forge_db.collaboration.models import Emoji
from forge_db.issues import CountDrift, Issue, Issues, IssueSummary, Sort
from forge_db.pagination import Page
from forge_db.users import User

from .conftest import World, every_page, numbers, open_issue, unchanged

Conn = psycopg.Connection[Any]
Direction = Literal["asc", "desc"]


# --- create ------------------------------------------------------------------------------------


def test_issues_are_numbered_from_one_in_each_repository(fdb: ForgeDB, world: World) -> None:
    first = open_issue(fdb, world.repo, world.owner)
    second = open_issue(fdb, world.repo, world.reader)
    elsewhere = open_issue(fdb, world.private, world.owner)
    assert (first.number, second.number, elsewhere.number) == (1, 2, 1)


def test_create_trims_the_title_and_records_the_author(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.reader, title="  First  ", body="text")
    assert (issue.title, issue.body, issue.state) == ("First", "text", "open")
    assert (issue.author_id, issue.author) == (world.reader.id, world.reader.username)
    assert (issue.close_reason, issue.closed_at, issue.edited_at) == (None, None, None)
    assert fdb.issues.get(world.repo.id, issue.number) == issue


def test_create_attaches_labels_assignees_and_milestone(fdb: ForgeDB, world: World) -> None:
    fdb.issues.labels.create(world.repo.id, actor_id=world.owner.id, name="Bug", color="#FF0000")
    fdb.issues.labels.create(world.repo.id, actor_id=world.owner.id, name="ui")
    milestone = fdb.issues.milestones.create(world.repo.id, actor_id=world.owner.id, title="v1")
    issue = open_issue(
        fdb,
        world.repo,
        world.writer,
        labels=["bug", "UI"],
        assignees=[world.reader.id],
        milestone_id=milestone.id,
    )
    assert [label.name for label in issue.labels] == ["Bug", "ui"]
    assert issue.labels[0].color == "#ff0000"
    assert [a.username for a in issue.assignees] == [world.reader.username]
    assert issue.milestone_id == milestone.id
    assert fdb.issues.get(world.repo.id, issue.number) == issue
    [progress] = fdb.issues.milestones.list(world.repo.id)
    assert (progress.open_issues, progress.closed_issues) == (1, 0)


def test_an_unknown_label_refuses_the_whole_issue(fdb: ForgeDB, world: World, conn: Conn) -> None:
    with unchanged(conn), pytest.raises(InvalidInput, match="labels"):
        open_issue(fdb, world.repo, world.owner, labels=["nope"])
    assert fdb.issues.counts(world.repo.id).open == 0
    assert open_issue(fdb, world.repo, world.owner).number == 1


def test_an_unknown_label_is_invalid_input_naming_labels(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        open_issue(fdb, world.repo, world.owner, labels=["nope"])
    assert refused.value.field == "labels"


def test_an_assignee_who_cannot_see_the_repository_refuses_the_whole_issue(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    with unchanged(conn), pytest.raises(InvalidInput, match="cannot see"):
        open_issue(fdb, world.private, world.owner, assignees=[world.stranger.id])


def test_an_assignee_who_cannot_see_the_repository_is_invalid_input_naming_assignees(
    fdb: ForgeDB, world: World
) -> None:
    with pytest.raises(InvalidInput) as refused:
        open_issue(fdb, world.private, world.owner, assignees=[world.stranger.id])
    assert refused.value.field == "assignees"


def test_more_than_ten_assignees_are_invalid_input(fdb: ForgeDB, world: World) -> None:
    people = [make_user(fdb).id for _ in range(11)]
    with pytest.raises(InvalidInput, match="at most 10") as refused:
        open_issue(fdb, world.repo, world.owner, assignees=people)
    assert refused.value.field == "assignees"


def test_a_milestone_of_another_repository_refuses_the_issue(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    foreign = fdb.issues.milestones.create(world.private.id, actor_id=world.owner.id, title="m")
    with unchanged(conn), pytest.raises(NotFound):
        open_issue(fdb, world.repo, world.owner, milestone_id=foreign.id)


@pytest.mark.parametrize(
    ("title", "body", "field"),
    [
        ("", "", "title"),
        ("   ", "", "title"),
        ("x" * 257, "", "title"),
        ("nul\x00", "", "title"),
        ("two\nlines", "", "title"),
        ("ok", "b" * 65537, "body"),
        ("ok", "nul\x00", "body"),
    ],
    ids=["empty", "blank", "too-long", "nul", "two-lines", "body-too-long", "body-nul"],
)
def test_bad_titles_and_bodies_are_invalid_input_naming_the_field(
    fdb: ForgeDB, world: World, conn: Conn, title: str, body: str, field: str
) -> None:
    with unchanged(conn), pytest.raises(InvalidInput) as refused:
        open_issue(fdb, world.repo, world.owner, title=title, body=body)
    assert refused.value.field == field


def test_create_records_the_mentions_of_the_body(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner, body=f"cc @{world.writer.username}")
    assert numbers(fdb.issues.list(world.repo.id, mentioned_id=world.writer.id).items) == [
        issue.number
    ]


def test_create_notifies_the_mentioned_and_the_assigned(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(
        fdb,
        world.repo,
        world.owner,
        body=f"cc @{world.reader.username}",
        assignees=[world.writer.id],
    )
    for person, reason in ((world.reader, "mention"), (world.writer, "assign")):
        [told] = fdb.collaboration.notifications.list(viewer_id=person.id).items
        assert (told.issue_number, told.reason) == (issue.number, reason)


def test_an_archived_repository_takes_no_new_issues(fdb: ForgeDB, world: World, conn: Conn) -> None:
    fdb.repositories.update(world.repo.id, actor_id=world.owner.id, archived=True)
    with unchanged(conn), pytest.raises(Conflict, match="archived"):
        open_issue(fdb, world.repo, world.owner)


# --- get ---------------------------------------------------------------------------------------


def test_get_counts_reactions_by_emoji(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    reactions: list[tuple[User, Emoji]] = [
        (world.reader, "heart"),
        (world.writer, "heart"),
        (world.reader, "+1"),
    ]
    for person, emoji in reactions:
        fdb.collaboration.reactions.toggle(
            world.repo.id, actor_id=person.id, emoji=emoji, issue_number=issue.number
        )
    assert fdb.issues.get(world.repo.id, issue.number).reactions == {"heart": 2, "+1": 1}


def test_get_of_an_unknown_number_is_not_found(fdb: ForgeDB, world: World) -> None:
    open_issue(fdb, world.repo, world.owner)
    with pytest.raises(NotFound, match="#2"):
        fdb.issues.get(world.repo.id, 2)


# --- reads of a private repository ---------------------------------------------------------------

# Each read of db.issues, given (fdb, repository id, viewer id), and what a viewer who cannot
# read the repository gets: NotFound, or an empty page.
_READS: dict[str, tuple[Callable[[ForgeDB, int, int | None], Any], str]] = {
    "get": (lambda fdb, r, v: fdb.issues.get(r, 1, viewer_id=v), "not found"),
    "list": (lambda fdb, r, v: fdb.issues.list(r, viewer_id=v, state="all"), "empty"),
    "search": (lambda fdb, r, v: fdb.issues.search(r, "secret", viewer_id=v), "empty"),
    "counts": (lambda fdb, r, v: fdb.issues.counts(r, viewer_id=v), "not found"),
}


@pytest.fixture
def private_issue(fdb: ForgeDB, world: World) -> Issue:
    issue = open_issue(fdb, world.private, world.owner, title="secret plan", body="secret")
    fdb.issues.close(world.private.id, issue.number, actor_id=world.owner.id)
    return open_issue(fdb, world.private, world.owner, title="another secret")


@pytest.mark.parametrize("viewer", ["stranger", "anonymous"])
@pytest.mark.parametrize("read", sorted(_READS))
def test_a_private_repositorys_issues_are_hidden_from_those_who_cannot_read_it(
    fdb: ForgeDB, world: World, private_issue: Issue, read: str, viewer: str
) -> None:
    run, hidden = _READS[read]
    viewer_id = world.stranger.id if viewer == "stranger" else None
    if hidden == "not found":
        with pytest.raises(NotFound):
            run(fdb, world.private.id, viewer_id)
    else:
        page = run(fdb, world.private.id, viewer_id)
        assert isinstance(page, Page)
        assert page.items == []


@pytest.mark.parametrize("read", sorted(_READS))
def test_a_read_collaborator_sees_what_the_owner_sees_of_a_private_repository(
    fdb: ForgeDB, world: World, private_issue: Issue, read: str
) -> None:
    run, _ = _READS[read]
    seen = run(fdb, world.private.id, world.reader.id)
    assert seen == run(fdb, world.private.id, world.owner.id)
    assert seen.items if isinstance(seen, Page) else seen


# --- list: filters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filtered:
    """Four issues: a (bug, ui; assigned to the writer), b (bug; in milestone m), c (by the
    reader, mentioning the writer), d (docs; closed)."""

    world: World
    milestone_id: int
    a: int
    b: int
    c: int
    d: int


@pytest.fixture
def filtered(fdb: ForgeDB, world: World) -> Filtered:
    owner, repo = world.owner, world.repo
    for name in ("bug", "ui", "docs"):
        fdb.issues.labels.create(repo.id, actor_id=owner.id, name=name)
    milestone = fdb.issues.milestones.create(repo.id, actor_id=owner.id, title="m")
    a = open_issue(fdb, repo, owner, "a", labels=["bug", "ui"], assignees=[world.writer.id])
    b = open_issue(fdb, repo, owner, "b", labels=["bug"], milestone_id=milestone.id)
    c = open_issue(fdb, repo, world.reader, "c", body=f"hey @{world.writer.username}")
    d = open_issue(fdb, repo, owner, "d", labels=["docs"])
    fdb.issues.close(repo.id, d.number, actor_id=owner.id)
    return Filtered(world, milestone.id, a.number, b.number, c.number, d.number)


def _letters(fdb: ForgeDB, f: Filtered, **filters: Any) -> list[str]:
    by_number = {f.a: "a", f.b: "b", f.c: "c", f.d: "d"}
    return [by_number[i.number] for i in fdb.issues.list(f.world.repo.id, **filters).items]


_FILTERS: list[tuple[str, Callable[[Filtered], dict[str, Any]], list[str]]] = [
    ("default-open-newest-first", lambda f: {}, ["c", "b", "a"]),
    ("closed", lambda f: {"state": "closed"}, ["d"]),
    ("all-oldest-first", lambda f: {"state": "all", "direction": "asc"}, ["a", "b", "c", "d"]),
    ("assignee", lambda f: {"assignee_id": f.world.writer.id}, ["a"]),
    ("no-assignee", lambda f: {"no_assignee": True}, ["c", "b"]),
    ("author", lambda f: {"author_id": f.world.reader.id}, ["c"]),
    ("milestone", lambda f: {"milestone_id": f.milestone_id}, ["b"]),
    ("mentioned", lambda f: {"mentioned_id": f.world.writer.id}, ["c"]),
    ("nobody-mentioned", lambda f: {"mentioned_id": f.world.owner.id}, []),
    ("author-and-label", lambda f: {"author_id": f.world.owner.id, "labels": ["ui"]}, ["a"]),
]


@pytest.mark.parametrize(
    ("filters", "expected"), [(f, e) for _, f, e in _FILTERS], ids=[n for n, _, _ in _FILTERS]
)
def test_list_keeps_only_the_issues_that_match_every_filter(
    fdb: ForgeDB,
    filtered: Filtered,
    filters: Callable[[Filtered], dict[str, Any]],
    expected: list[str],
) -> None:
    assert _letters(fdb, filtered, **filters(filtered)) == expected


@pytest.mark.parametrize("name", ["author_id", "assignee_id", "milestone_id", "mentioned_id"])
@pytest.mark.parametrize("value", [0, -1, False, True], ids=["zero", "minus-one", "false", "true"])
def test_an_id_filter_that_is_not_a_positive_id_is_invalid_input_naming_it(
    fdb: ForgeDB, filtered: Filtered, name: str, value: object
) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.list(filtered.world.repo.id, **{name: value})  # type: ignore[arg-type]
    assert refused.value.field == name


@pytest.mark.parametrize("name", ["no_labels", "no_assignee"])
@pytest.mark.parametrize("value", [0, 1, "yes"])
def test_a_flag_filter_takes_only_a_bool(
    fdb: ForgeDB, filtered: Filtered, name: str, value: object
) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.list(filtered.world.repo.id, **{name: value})  # type: ignore[arg-type]
    assert refused.value.field == name


# --- list: label filters ------------------------------------------------------------------------


@dataclass(frozen=True)
class Labelled:
    """Five issues opened in one transaction (so their creation times tie), by label:
    a (bug, ui), b (bug), c (none), d (docs; closed), e (bug, ui, docs)."""

    repo_id: int
    by_number: dict[int, str]


@pytest.fixture
def labelled(fdb: ForgeDB, world: World) -> Labelled:
    owner, repo = world.owner, world.repo
    for name in ("bug", "ui", "docs"):
        fdb.issues.labels.create(repo.id, actor_id=owner.id, name=name)
    labels = {"a": ["bug", "ui"], "b": ["bug"], "c": [], "d": ["docs"], "e": ["bug", "ui", "docs"]}
    with fdb.transaction() as tx:
        made = {
            letter: tx.issues.create(repo.id, actor_id=owner.id, title=letter, labels=names)
            for letter, names in labels.items()
        }
    assert len({issue.created_at for issue in made.values()}) == 1
    fdb.issues.close(repo.id, made["d"].number, actor_id=owner.id)
    return Labelled(repo.id, {issue.number: letter for letter, issue in made.items()})


def _labelled(fdb: ForgeDB, s: Labelled, **filters: Any) -> list[str]:
    return [s.by_number[i.number] for i in fdb.issues.list(s.repo_id, **filters).items]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["bug"], ["e", "b", "a"]),
        (["BUG"], ["e", "b", "a"]),
        (["bug", "ui"], ["e", "a"]),
        (["ui", "bug"], ["e", "a"]),
        (["bug", "ui", "docs"], ["e"]),
        (["bug", "nope"], []),
    ],
    ids=["one", "any-case", "two", "two-in-any-order", "three", "one-unknown"],
)
def test_labels_filter_keeps_the_issues_carrying_every_label_named(
    fdb: ForgeDB, labelled: Labelled, labels: list[str], expected: list[str]
) -> None:
    assert _labelled(fdb, labelled, labels=labels) == expected


@pytest.mark.parametrize(
    ("any_labels", "expected"),
    [
        (["ui"], ["e", "a"]),
        (["ui", "docs"], ["e", "d", "a"]),
        (["bug", "ui", "docs"], ["e", "d", "b", "a"]),
        (["nope"], []),
    ],
    ids=["one", "two", "three", "unknown"],
)
def test_any_labels_filter_keeps_each_issue_carrying_one_of_them_once(
    fdb: ForgeDB, labelled: Labelled, any_labels: list[str], expected: list[str]
) -> None:
    assert _labelled(fdb, labelled, any_labels=any_labels, state="all") == expected


def test_no_labels_filter_keeps_the_issues_without_labels(fdb: ForgeDB, labelled: Labelled) -> None:
    assert _labelled(fdb, labelled, no_labels=True, state="all") == ["c"]


def test_label_filters_combine_with_and(fdb: ForgeDB, labelled: Labelled) -> None:
    assert _labelled(fdb, labelled, labels=["bug"], any_labels=["docs", "ui"]) == ["e", "a"]
    assert _labelled(fdb, labelled, labels=["bug"], no_labels=True) == []
    assert _labelled(fdb, labelled, any_labels=["docs"], state="closed") == ["d"]


def test_a_label_filtered_list_pages_through_tied_issues_without_gaps(
    fdb: ForgeDB, labelled: Labelled
) -> None:
    pages = every_page(
        lambda cursor: fdb.issues.list(labelled.repo_id, labels=["bug"], limit=1, cursor=cursor)
    )
    assert [labelled.by_number[i.number] for i in pages] == ["e", "b", "a"]


# --- list: order and pages ----------------------------------------------------------------------

_SORT_FIELD = {"created": "created_at", "updated": "updated_at", "comments": "comment_count"}


@pytest.fixture
def nine_issues(fdb: ForgeDB, world: World) -> int:
    """Nine issues of one repository, with ties on every sort key: six opened in one
    transaction, three alone; comment counts 2, 2, 1 and six zeros; two closed."""
    owner, repo = world.owner, world.repo
    with fdb.transaction() as tx:
        for n in range(6):
            tx.issues.create(repo.id, actor_id=owner.id, title=f"batch {n}")
    for n in range(3):
        open_issue(fdb, repo, owner, f"alone {n}")
    for number, comments in ((2, 2), (7, 2), (8, 1)):
        for _ in range(comments):
            fdb.issues.comments.create(repo.id, number, actor_id=owner.id, body="c")
    for number in (3, 9):
        fdb.issues.close(repo.id, number, actor_id=owner.id)
    return repo.id


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("sort", ["created", "updated", "comments"])
def test_pages_of_every_order_join_up_to_the_whole_list(
    fdb: ForgeDB, nine_issues: int, sort: Sort, direction: Direction
) -> None:
    def page(cursor: str | None, limit: int) -> Page[IssueSummary]:
        return fdb.issues.list(
            nine_issues, state="all", sort=sort, direction=direction, limit=limit, cursor=cursor
        )

    whole = page(None, 100).items
    keys = [(getattr(i, _SORT_FIELD[sort]), i.id) for i in whole]
    assert keys == sorted(keys, reverse=direction == "desc")
    assert len({key for key, _ in keys}) < len(keys)  # ties on the sort key
    assert sorted(numbers(whole)) == list(range(1, 10))
    assert every_page(lambda cursor: page(cursor, 2)) == whole


def test_list_sorted_by_comments_puts_the_busiest_first(fdb: ForgeDB, world: World) -> None:
    quiet = open_issue(fdb, world.repo, world.owner, "quiet")
    busy = open_issue(fdb, world.repo, world.owner, "busy")
    for _ in range(3):
        fdb.issues.comments.create(world.repo.id, busy.number, actor_id=world.owner.id, body="x")
    page = fdb.issues.list(world.repo.id, sort="comments", direction="desc")
    assert numbers(page.items) == [busy.number, quiet.number]


def test_the_last_page_has_no_cursor(fdb: ForgeDB, world: World) -> None:
    for n in range(2):
        open_issue(fdb, world.repo, world.owner, f"t{n}")
    assert fdb.issues.list(world.repo.id, limit=1).next_cursor is not None
    assert fdb.issues.list(world.repo.id, limit=2).next_cursor is None


def test_a_cursor_is_refused_by_another_repository_and_other_filters(
    fdb: ForgeDB, world: World
) -> None:
    for repository in (world.repo, world.private):
        for n in range(3):
            open_issue(fdb, repository, world.owner, f"t{n}")
    cursor = fdb.issues.list(world.repo.id, limit=1).next_cursor
    assert cursor is not None
    others: list[dict[str, Any]] = [
        {"repository_id": world.private.id},
        {"repository_id": world.repo.id, "state": "closed"},
        {"repository_id": world.repo.id, "sort": "updated"},
        {"repository_id": world.repo.id, "direction": "asc"},
    ]
    for other in others:
        with pytest.raises(InvalidInput, match="cursor") as refused:
            fdb.issues.list(limit=1, cursor=cursor, viewer_id=world.owner.id, **other)
        assert refused.value.field == "cursor"


def test_a_forged_cursor_is_invalid_input(fdb: ForgeDB, world: World) -> None:
    for n in range(3):
        open_issue(fdb, world.repo, world.owner, f"t{n}")
    cursor = fdb.issues.list(world.repo.id, limit=1).next_cursor
    assert cursor is not None
    tag, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for forged_key in ([key[0], key[1] + 1], [True, key[1]], [{"t": "soon"}, key[1]], [key[0]]):
        forged = base64.urlsafe_b64encode(json.dumps([tag, forged_key]).encode()).decode()
        with pytest.raises(InvalidInput) as refused:
            fdb.issues.list(world.repo.id, limit=1, cursor=forged.rstrip("="))
        assert refused.value.field == "cursor"
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.list(world.repo.id, limit=1, cursor=cursor[:-3] + "!!!")
    assert refused.value.field == "cursor"


# --- search ------------------------------------------------------------------------------------


@pytest.fixture
def searchable(fdb: ForgeDB, world: World) -> int:
    repo, owner = world.repo, world.owner
    open_issue(fdb, repo, owner, "Parser crashes on empty input", body="stack trace")
    open_issue(fdb, repo, owner, "Docs", body="the parser docs mention crashes")
    open_issue(fdb, repo, owner, "Unrelated", body="nothing")
    return repo.id


def test_search_ranks_title_matches_above_body_matches(fdb: ForgeDB, searchable: int) -> None:
    hits = fdb.issues.search(searchable, "PARSER crash").items
    assert [h.title for h in hits] == ["Parser crashes on empty input", "Docs"]
    assert hits[0].rank > hits[1].rank


def test_search_finds_an_issue_by_its_number(fdb: ForgeDB, searchable: int) -> None:
    assert numbers(fdb.issues.search(searchable, "#3").items) == [3]


def test_search_matches_the_start_of_words(fdb: ForgeDB, searchable: int) -> None:
    assert numbers(fdb.issues.search(searchable, "pars").items) == [1, 2]


def test_search_without_a_match_is_empty(fdb: ForgeDB, searchable: int) -> None:
    assert fdb.issues.search(searchable, "zebra").items == []


def test_search_without_words_is_invalid_input(fdb: ForgeDB, searchable: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.search(searchable, "!!!")
    assert refused.value.field == "query"


def test_search_takes_query_operators_as_plain_text(fdb: ForgeDB, searchable: int) -> None:
    assert numbers(fdb.issues.search(searchable, "parser's & | ! (crash)").items)[0] == 1


def test_search_keeps_to_the_state_asked_for(fdb: ForgeDB, world: World, searchable: int) -> None:
    fdb.issues.close(searchable, 2, actor_id=world.owner.id)
    assert numbers(fdb.issues.search(searchable, "parser", state="open").items) == [1]
    assert numbers(fdb.issues.search(searchable, "parser", state="closed").items) == [2]
    assert numbers(fdb.issues.search(searchable, "parser").items) == [1, 2]


def test_search_pages_through_tied_ranks_without_gaps(fdb: ForgeDB, world: World) -> None:
    for _ in range(5):
        open_issue(fdb, world.repo, world.owner, "flaky test", body="again")
    for n in range(2):
        open_issue(fdb, world.repo, world.owner, f"other {n}", body="flaky")
    whole = fdb.issues.search(world.repo.id, "flaky", limit=100).items
    keys = [(hit.rank, hit.id) for hit in whole]
    assert keys == sorted(keys, reverse=True)
    assert len(whole) == 7
    assert len({hit.rank for hit in whole}) == 2
    assert (
        every_page(lambda cursor: fdb.issues.search(world.repo.id, "flaky", limit=2, cursor=cursor))
        == whole
    )


def test_a_search_cursor_is_refused_by_another_query(fdb: ForgeDB, searchable: int) -> None:
    cursor = fdb.issues.search(searchable, "parser", limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.search(searchable, "crash", limit=1, cursor=cursor)
    assert refused.value.field == "cursor"


# --- update ------------------------------------------------------------------------------------


def test_update_changes_the_body_and_records_the_edit(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.reader, "t")
    edited = fdb.issues.update(world.repo.id, issue.number, actor_id=world.reader.id, body="new")
    assert (edited.title, edited.body) == ("t", "new")
    assert edited.edited_at is not None
    assert fdb.issues.get(world.repo.id, issue.number) == edited


def test_update_of_the_title_alone_keeps_the_body(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner, "t", body="keep me")
    edited = fdb.issues.update(world.repo.id, issue.number, actor_id=world.owner.id, title=" T ")
    assert (edited.title, edited.body) == ("T", "keep me")


def test_update_with_nothing_to_change_is_invalid_input(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.update(world.repo.id, issue.number, actor_id=world.owner.id)
    assert refused.value.field == "title"


def test_update_of_an_unknown_issue_is_not_found(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(NotFound, match="#7"):
        fdb.issues.update(world.repo.id, 7, actor_id=world.owner.id, title="t")


def test_update_records_new_mentions_and_forgets_removed_ones(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner, body=f"cc @{world.writer.username}")
    fdb.issues.update(
        world.repo.id, issue.number, actor_id=world.owner.id, body=f"cc @{world.reader.username}"
    )

    def mentioning(user_id: int) -> list[int]:
        return numbers(fdb.issues.list(world.repo.id, mentioned_id=user_id).items)

    assert (mentioning(world.reader.id), mentioning(world.writer.id)) == ([issue.number], [])


def test_update_of_the_title_keeps_the_mentions(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner, body=f"cc @{world.writer.username}")
    fdb.issues.update(world.repo.id, issue.number, actor_id=world.owner.id, title="renamed")
    assert numbers(fdb.issues.list(world.repo.id, mentioned_id=world.writer.id).items) == [
        issue.number
    ]


def test_an_edit_tells_only_the_newly_mentioned(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner, body=f"cc @{world.writer.username}")
    fdb.issues.update(
        world.repo.id,
        issue.number,
        actor_id=world.owner.id,
        body=f"cc @{world.writer.username} @{world.reader.username}",
    )
    told = {
        person.id: [
            n.reason for n in fdb.collaboration.notifications.list(viewer_id=person.id).items
        ]
        for person in (world.writer, world.reader)
    }
    assert told == {world.writer.id: ["mention"], world.reader.id: ["mention"]}


# --- close and reopen ---------------------------------------------------------------------------


def test_close_records_the_reason_and_the_time(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    closed = fdb.issues.close(
        world.repo.id, issue.number, actor_id=world.owner.id, reason="not_planned"
    )
    assert (closed.state, closed.close_reason, closed.duplicate_of) == (
        "closed",
        "not_planned",
        None,
    )
    assert closed.closed_at is not None
    assert fdb.issues.get(world.repo.id, issue.number) == closed


def test_close_as_duplicate_names_the_original(fdb: ForgeDB, world: World) -> None:
    original = open_issue(fdb, world.repo, world.owner, "original")
    copy = open_issue(fdb, world.repo, world.owner, "copy")
    closed = fdb.issues.close(
        world.repo.id,
        copy.number,
        actor_id=world.owner.id,
        reason="duplicate",
        duplicate_of=original.number,
    )
    assert (closed.state, closed.close_reason, closed.duplicate_of) == (
        "closed",
        "duplicate",
        original.number,
    )


def test_closing_a_closed_issue_keeps_its_close_time(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    first = fdb.issues.close(world.repo.id, issue.number, actor_id=world.owner.id)
    again = fdb.issues.close(
        world.repo.id, issue.number, actor_id=world.owner.id, reason="not_planned"
    )
    assert (again.closed_at, again.close_reason) == (first.closed_at, "not_planned")
    assert fdb.issues.counts(world.repo.id).model_dump() == {"open": 0, "closed": 1}


def test_a_duplicate_of_a_missing_issue_is_not_found(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    with unchanged(conn), pytest.raises(NotFound, match="duplicated issue"):
        fdb.issues.close(
            world.repo.id,
            issue.number,
            actor_id=world.owner.id,
            reason="duplicate",
            duplicate_of=99,
        )


def test_a_duplicate_in_another_repository_is_not_found(
    fdb: ForgeDB, world: World, conn: Conn
) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    open_issue(fdb, world.private, world.owner)
    open_issue(fdb, world.private, world.owner)
    with unchanged(conn), pytest.raises(NotFound, match="duplicated issue"):
        fdb.issues.close(
            world.repo.id, issue.number, actor_id=world.owner.id, reason="duplicate", duplicate_of=2
        )


@pytest.mark.parametrize(
    ("reason", "duplicate_of"),
    [("completed", 1), ("not_planned", 1), ("duplicate", None)],
    ids=["completed-with-duplicate", "not-planned-with-duplicate", "duplicate-without"],
)
def test_duplicate_of_goes_with_reason_duplicate_and_only_with_it(
    fdb: ForgeDB, world: World, reason: Any, duplicate_of: int | None
) -> None:
    open_issue(fdb, world.repo, world.owner)
    issue = open_issue(fdb, world.repo, world.owner)
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.close(
            world.repo.id,
            issue.number,
            actor_id=world.owner.id,
            reason=reason,
            duplicate_of=duplicate_of,
        )
    assert refused.value.field == "duplicate_of"


def test_an_issue_cannot_duplicate_itself(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    with pytest.raises(InvalidInput, match="itself") as refused:
        fdb.issues.close(
            world.repo.id,
            issue.number,
            actor_id=world.owner.id,
            reason="duplicate",
            duplicate_of=issue.number,
        )
    assert refused.value.field == "duplicate_of"


def test_an_unknown_close_reason_is_invalid_input(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.close(
            world.repo.id,
            issue.number,
            actor_id=world.owner.id,
            reason="wontfix",  # type: ignore[arg-type]
        )
    assert refused.value.field == "reason"


def test_reopen_clears_the_reason_the_time_and_the_duplicate(fdb: ForgeDB, world: World) -> None:
    original = open_issue(fdb, world.repo, world.owner)
    copy = open_issue(fdb, world.repo, world.owner)
    fdb.issues.close(
        world.repo.id,
        copy.number,
        actor_id=world.owner.id,
        reason="duplicate",
        duplicate_of=original.number,
    )
    reopened = fdb.issues.reopen(world.repo.id, copy.number, actor_id=world.owner.id)
    assert (reopened.state, reopened.close_reason, reopened.duplicate_of, reopened.closed_at) == (
        "open",
        None,
        None,
        None,
    )
    assert fdb.issues.get(world.repo.id, copy.number) == reopened


def test_reopen_of_an_unknown_issue_is_not_found(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(NotFound):
        fdb.issues.reopen(world.repo.id, 5, actor_id=world.owner.id)


# --- set_locked --------------------------------------------------------------------------------


def test_lock_and_unlock_are_recorded(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.reader)
    locked = fdb.issues.set_locked(
        world.repo.id, issue.number, actor_id=world.writer.id, locked=True
    )
    assert locked.locked is True
    assert fdb.issues.get(world.repo.id, issue.number).locked is True
    unlocked = fdb.issues.set_locked(
        world.repo.id, issue.number, actor_id=world.writer.id, locked=False
    )
    assert unlocked.locked is False


def test_set_locked_takes_only_a_bool(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.owner)
    with pytest.raises(InvalidInput) as refused:
        fdb.issues.set_locked(
            world.repo.id,
            issue.number,
            actor_id=world.owner.id,
            locked=1,  # type: ignore[arg-type]
        )
    assert refused.value.field == "locked"


# --- who may write ------------------------------------------------------------------------------


def test_a_read_collaborator_may_open_an_issue(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.private, world.reader)
    assert issue.author_id == world.reader.id


@pytest.mark.parametrize("curated", ["labels", "assignees", "milestone_id"])
def test_opening_an_issue_with_labels_assignees_or_a_milestone_needs_the_write_role(
    fdb: ForgeDB, world: World, conn: Conn, curated: str
) -> None:
    fdb.issues.labels.create(world.private.id, actor_id=world.owner.id, name="bug")
    milestone = fdb.issues.milestones.create(world.private.id, actor_id=world.owner.id, title="m")
    choices: dict[str, dict[str, Any]] = {
        "labels": {"labels": ["bug"]},
        "assignees": {"assignees": [world.reader.id]},
        "milestone_id": {"milestone_id": milestone.id},
    }
    options = choices[curated]
    with unchanged(conn), pytest.raises(PermissionDenied):
        open_issue(fdb, world.private, world.reader, **options)
    assert open_issue(fdb, world.private, world.writer, **options).number == 1


# What the author of an issue may do to it, given (fdb, repository id, number, actor id).
_AUTHOR_WRITES: dict[str, Callable[[ForgeDB, int, int, int], Issue]] = {
    "update": lambda fdb, r, n, a: fdb.issues.update(r, n, actor_id=a, title="changed"),
    "close": lambda fdb, r, n, a: fdb.issues.close(r, n, actor_id=a),
    "reopen": lambda fdb, r, n, a: fdb.issues.reopen(r, n, actor_id=a),
}


@dataclass(frozen=True)
class Authored:
    """In the private repository: an issue by the reader and one by the writer."""

    repo_id: int
    readers: int
    writers: int


@pytest.fixture
def authored(fdb: ForgeDB, world: World) -> Authored:
    readers = open_issue(fdb, world.private, world.reader, "the reader's")
    writers = open_issue(fdb, world.private, world.writer, "the writer's")
    return Authored(world.private.id, readers.number, writers.number)


def _ready_for(fdb: ForgeDB, world: World, authored: Authored, write: str) -> None:
    """Close both issues when the write to try is ``reopen``."""
    if write == "reopen":
        for number in (authored.readers, authored.writers):
            fdb.issues.close(authored.repo_id, number, actor_id=world.owner.id)


@pytest.mark.parametrize("write", sorted(_AUTHOR_WRITES))
def test_the_author_may_edit_close_and_reopen_their_own_issue(
    fdb: ForgeDB, world: World, authored: Authored, write: str
) -> None:
    _ready_for(fdb, world, authored, write)
    changed = _AUTHOR_WRITES[write](fdb, authored.repo_id, authored.readers, world.reader.id)
    assert changed == fdb.issues.get(authored.repo_id, authored.readers, viewer_id=world.owner.id)
    assert (changed.title, changed.state) == {
        "update": ("changed", "open"),
        "close": ("the reader's", "closed"),
        "reopen": ("the reader's", "open"),
    }[write]


@pytest.mark.parametrize("write", sorted(_AUTHOR_WRITES))
def test_a_reader_may_not_edit_close_or_reopen_someone_elses_issue(
    fdb: ForgeDB, world: World, authored: Authored, conn: Conn, write: str
) -> None:
    _ready_for(fdb, world, authored, write)
    with unchanged(conn), pytest.raises(PermissionDenied):
        _AUTHOR_WRITES[write](fdb, authored.repo_id, authored.writers, world.reader.id)


@pytest.mark.parametrize("write", sorted(_AUTHOR_WRITES))
def test_a_writer_may_edit_close_and_reopen_anyones_issue(
    fdb: ForgeDB, world: World, authored: Authored, write: str
) -> None:
    _ready_for(fdb, world, authored, write)
    changed = _AUTHOR_WRITES[write](fdb, authored.repo_id, authored.readers, world.writer.id)
    assert changed == fdb.issues.get(authored.repo_id, authored.readers, viewer_id=world.owner.id)
    assert changed.author_id == world.reader.id


def test_the_refusal_says_only_the_author_or_a_writer_may_edit(fdb: ForgeDB, world: World) -> None:
    issue = open_issue(fdb, world.repo, world.writer)
    with pytest.raises(PermissionDenied, match="only the author or a writer may edit an issue"):
        fdb.issues.update(world.repo.id, issue.number, actor_id=world.stranger.id, title="hijack")


@pytest.mark.parametrize("author", ["reader", "writer"])
def test_a_reader_may_not_lock_an_issue_even_their_own(
    fdb: ForgeDB, world: World, conn: Conn, author: str
) -> None:
    issue = open_issue(fdb, world.private, getattr(world, author))
    with unchanged(conn), pytest.raises(PermissionDenied, match="write role"):
        fdb.issues.set_locked(world.private.id, issue.number, actor_id=world.reader.id, locked=True)


# Every write of db.issues, given (fdb, repository id, actor id), on a repository whose issue #1
# is open and #2 closed.
_WRITES: dict[str, Callable[[ForgeDB, int, int], object]] = {
    "create": lambda fdb, r, a: fdb.issues.create(r, actor_id=a, title="t"),
    "update": lambda fdb, r, a: fdb.issues.update(r, 1, actor_id=a, title="t"),
    "close": lambda fdb, r, a: fdb.issues.close(r, 1, actor_id=a),
    "reopen": lambda fdb, r, a: fdb.issues.reopen(r, 2, actor_id=a),
    "set_locked": lambda fdb, r, a: fdb.issues.set_locked(r, 1, actor_id=a, locked=True),
}


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_a_stranger_is_told_a_private_repository_does_not_exist(
    fdb: ForgeDB, world: World, conn: Conn, write: str
) -> None:
    open_issue(fdb, world.private, world.owner)
    closed = open_issue(fdb, world.private, world.owner)
    fdb.issues.close(world.private.id, closed.number, actor_id=world.owner.id)
    with unchanged(conn), pytest.raises(NotFound, match="not found"):
        _WRITES[write](fdb, world.private.id, world.stranger.id)
    _WRITES[write](fdb, world.private.id, world.writer.id)


# --- counts ------------------------------------------------------------------------------------


def test_counts_follow_opening_closing_and_reopening(fdb: ForgeDB, world: World) -> None:
    def counts() -> dict[str, int]:
        return fdb.issues.counts(world.repo.id).model_dump()

    for n in range(3):
        open_issue(fdb, world.repo, world.owner, f"t{n}")
    assert counts() == {"open": 3, "closed": 0}
    fdb.issues.close(world.repo.id, 1, actor_id=world.owner.id)
    fdb.issues.close(world.repo.id, 2, actor_id=world.owner.id)
    assert counts() == {"open": 1, "closed": 2}
    fdb.issues.reopen(world.repo.id, 1, actor_id=world.owner.id)
    assert counts() == {"open": 2, "closed": 1}


def test_counts_of_a_repository_without_issues_are_zero(fdb: ForgeDB, world: World) -> None:
    assert fdb.issues.counts(world.repo.id).model_dump() == {"open": 0, "closed": 0}


def test_counts_of_an_unknown_repository_are_not_found(fdb: ForgeDB, world: World) -> None:
    with pytest.raises(NotFound):
        fdb.issues.counts(world.private.id + 1000)


# --- admin_check_counts -------------------------------------------------------------------------


@pytest.fixture
def counted(fdb: ForgeDB, world: World) -> World:
    """Three issues in the public repository (one closed), two in the private one."""
    for repository, n in ((world.repo, 3), (world.private, 2)):
        for k in range(n):
            open_issue(fdb, repository, world.owner, f"t{k}")
    fdb.issues.close(world.repo.id, 1, actor_id=world.owner.id)
    return world


def test_admin_check_counts_finds_nothing_on_a_consistent_database(
    fdb: ForgeDB, counted: World
) -> None:
    assert fdb.issues.admin_check_counts() == []
    assert fdb.issues.admin_check_counts(counted.repo.id) == []
    assert fdb.issues.admin_check_counts(counted.private.id) == []


def test_admin_check_counts_reports_a_drifted_counter(
    fdb: ForgeDB, counted: World, conn: Conn
) -> None:
    conn.execute(
        "UPDATE issue_counters SET open_issue_count = 7, closed_issue_count = 0"
        " WHERE repository_id = %s",
        (counted.repo.id,),
    )
    drift = CountDrift(
        repository_id=counted.repo.id,
        stored_open=7,
        stored_closed=0,
        actual_open=2,
        actual_closed=1,
    )
    assert fdb.issues.admin_check_counts() == [drift]
    assert fdb.issues.admin_check_counts(counted.repo.id) == [drift]
    assert fdb.issues.admin_check_counts(counted.private.id) == []


def test_admin_check_counts_reports_private_repositories_without_a_viewer(
    fdb: ForgeDB, counted: World, conn: Conn
) -> None:
    conn.execute("DELETE FROM issue_counters WHERE repository_id = %s", (counted.private.id,))
    assert fdb.issues.admin_check_counts() == [
        CountDrift(
            repository_id=counted.private.id,
            stored_open=0,
            stored_closed=0,
            actual_open=2,
            actual_closed=0,
        )
    ]


def test_admin_check_counts_is_named_administrative_and_takes_no_viewer() -> None:
    recount = Issues.admin_check_counts
    assert list(inspect.signature(recount.__wrapped__).parameters) == ["self", "repository_id"]
    assert recount.writes is False
    assert not hasattr(Issues, "check_counts")
