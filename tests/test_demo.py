"""`forge-db demo` builds a forge in its own database and tours it, in a tour that reads well."""

from __future__ import annotations

import io
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from forge_db.config import parse_url
from forge_db.demo import (
    REASONS,
    SEARCH_QUERY,
    build_demo,
    count,
    next_step,
    run_demo,
    url_form,
)
from forge_db.testing import TestServer

ISSUES = 120


def _drop(server: TestServer, name: str) -> None:
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="module")
def tour(forge_db_server: TestServer) -> Iterator[tuple[str, str]]:
    """The demo's tour of a 120-issue forge (built once for this module), and its URL."""
    name = f"forge_demo_{secrets.token_hex(4)}"
    out = io.StringIO()
    try:
        run_demo(forge_db_server.url, out, database=name, issues=ISSUES)
        yield out.getvalue(), psycopg.conninfo.make_conninfo(forge_db_server.url, dbname=name)
    finally:
        _drop(forge_db_server, name)


def _section(text: str, heading: str) -> list[str]:
    """The lines after the line starting with ``heading``, up to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start + 1 : end]


def test_the_tour_shows_each_part(tour: tuple[str, str]) -> None:
    text, _ = tour
    assert f"{ISSUES} issues" in text
    assert f'search "{SEARCH_QUERY}"' in text
    assert "open issues labelled bug" in text
    assert "bob's unread notifications" in text
    assert "eve sees 2 of alice's repositories" in text


def test_the_demo_builds_consistent_data_and_reports_progress(
    forge_db_server: TestServer,
) -> None:
    name = f"forge_demo_{secrets.token_hex(4)}"
    progress = io.StringIO()
    try:
        summary = build_demo(forge_db_server.url, database=name, issues=50, progress=progress)
        assert "100%" in progress.getvalue()
        with psycopg.connect(summary.url) as conn:
            assert conn.execute("SELECT count(*) FROM issues").fetchone() == (50,)
            assert conn.execute("SELECT count(*) FROM check_issue_counts()").fetchone() == (0,)
            comments = conn.execute("SELECT count(*) FROM comments").fetchone()
        assert comments == (summary.comments,)
    finally:
        _drop(forge_db_server, name)


def test_every_issue_title_of_the_demo_is_distinct(tour: tuple[str, str]) -> None:
    with psycopg.connect(tour[1]) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT title) FROM issues").fetchone()
    assert row == (ISSUES, ISSUES)


def test_search_results_have_distinct_titles_and_ranks_best_first(
    tour: tuple[str, str],
) -> None:
    hits = [
        re.fullmatch(r"  #(\d+) +(.+)  \(rank (\d\.\d+)\)", line)
        for line in _section(tour[0], f'search "{SEARCH_QUERY}"')
    ]
    assert len(hits) >= 3
    assert all(hits)
    titles = [hit.group(2) for hit in hits if hit]
    ranks = [float(hit.group(3)) for hit in hits if hit]
    assert len(set(titles)) == len(titles)
    assert len(set(ranks)) == len(ranks)
    assert ranks == sorted(ranks, reverse=True)


@pytest.mark.parametrize(
    ("number", "noun", "text"),
    [
        (0, "comment", "0 comments"),
        (1, "comment", "1 comment"),
        (2, "comment", "2 comments"),
        (1, "repository", "1 repository"),
        (4, "repository", "4 repositories"),
        (1, "open issue", "1 open issue"),
        (3000, "open issue", "3,000 open issues"),
    ],
)
def test_counts_take_the_plural_unless_one(number: int, noun: str, text: str) -> None:
    assert count(number, noun) == text


def test_the_tour_never_says_one_of_a_plural(tour: tuple[str, str]) -> None:
    plurals = "comments|issues|reactions|repositories|users|notifications"
    assert not re.search(rf"(?<![\d,.])1 ({plurals})\b", tour[0])
    assert re.search(r"(?<![\d,.])1 comment\b", tour[0])  # the data has single comments


def test_notifications_are_one_line_per_issue_with_their_reasons_explained(
    tour: tuple[str, str],
) -> None:
    lines = _section(tour[0], "bob's unread notifications")
    subjects = [line.split(":")[0].strip() for line in lines if not line.startswith("      ")]
    details = [line.strip() for line in lines if line.startswith("      ")]
    assert len(subjects) == 5
    assert len(set(subjects)) == len(subjects)
    assert len(details) == len(subjects)
    explained = set(REASONS.values())
    for detail in details:
        assert re.match(r"\d+ notifications? (from .+)?; why: ", detail)
        reasons = detail.split("; why: ")[1].split("; ")
        assert set(reasons) <= explained, detail


def test_a_second_page_is_fetched_by_cursor_and_shown(tour: tuple[str, str]) -> None:
    lines = _section(tour[0], "open issues labelled bug")
    split = next(i for i, line in enumerate(lines) if "next_cursor" in line)
    first = [int(m.group(1)) for line in lines[:split] if (m := re.match(r" +#(\d+)", line))]
    second = [int(m.group(1)) for line in lines[split:] if (m := re.match(r" +#(\d+)", line))]
    assert len(first) == 5
    assert second
    assert max(second) < min(first)  # newest first: page 2 continues after page 1


def _next_step(text: str) -> tuple[str, str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("next: "))
    steps = [line.strip() for line in lines[start + 1 :]]
    export = next(step for step in steps if step.startswith("export DATABASE_URL="))
    return export, next(step for step in steps if step.startswith("psql "))


def test_it_ends_with_the_url_form_of_database_url_which_works_when_pasted(
    tour: tuple[str, str],
) -> None:
    export, _ = _next_step(tour[0])
    assert export.startswith("export DATABASE_URL=")
    assert "user=" not in export
    pasted = subprocess.run(
        ["bash", "-c", f'{export}\nprintf %s "$DATABASE_URL"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert pasted.startswith("postgresql://")
    assert "connect_timeout" not in pasted
    with psycopg.connect(pasted) as conn:
        assert conn.execute("SELECT count(*) FROM issues").fetchone() == (ISSUES,)


@pytest.mark.skipif(shutil.which("psql") is None, reason="no psql on this machine")
def test_its_psql_line_opens_the_demo_database(tour: tuple[str, str]) -> None:
    export, open_it = _next_step(tour[0])
    assert open_it == 'psql "$DATABASE_URL"'
    result = subprocess.run(
        ["bash", "-c", f"{export}\n{open_it} -X -tA -c 'SELECT count(*) FROM issues'"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(ISSUES)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "user=postgres connect_timeout=5 dbname=forge_demo host=127.0.0.1 port=5432",
            "postgresql://postgres@127.0.0.1:5432/forge_demo",
        ),
        (
            "postgresql://postgres@/forge_demo?host=/tmp/forge-db/socket&connect_timeout=5",
            "postgresql://postgres@/forge_demo?host=/tmp/forge-db/socket",
        ),
        ("host=::1 dbname=d", "postgresql://[::1]/d"),
        ("host=/run/pg port=5433 dbname=d", "postgresql:///d?host=/run/pg&port=5433"),
        (
            "user='a b' dbname='x/y' host=h sslmode=require",
            "postgresql://a%20b@h/x%2Fy?sslmode=require",
        ),
        ("host=a,b port=5432,5433 dbname=d", "postgresql:///d?host=a,b&port=5432,5433"),
    ],
)
def test_url_form_is_a_url_libpq_reads_back_to_the_same_target(url: str, expected: str) -> None:
    form, had_password = url_form(url)
    assert form == expected
    assert not had_password
    original = {k: v for k, v in parse_url(url).items() if v and k != "connect_timeout"}
    assert {k: v for k, v in parse_url(form).items() if v} == original


def test_url_form_leaves_out_a_password_and_says_so() -> None:
    form, had_password = url_form("postgresql://forge:s3cret@127.0.0.1:5433/forge")
    assert form == "postgresql://forge@127.0.0.1:5433/forge"
    assert had_password


def test_the_next_step_never_prints_a_password_but_says_where_it_goes() -> None:
    out = io.StringIO()
    next_step("postgresql://forge:s3cret@127.0.0.1:5433/forge", out)
    text = out.getvalue()
    assert "s3cret" not in text
    assert "export DATABASE_URL=postgresql://forge@127.0.0.1:5433/forge\n" in text
    assert "export PGPASSWORD=" in text
