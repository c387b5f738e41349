"""`forge-db demo` builds a forge in its own database and tours it."""

from __future__ import annotations

import io
import secrets

import psycopg
from psycopg import sql

from forge_db.demo import build_demo, run_demo
from forge_db.testing import TestServer


def _drop(server: TestServer, name: str) -> None:
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def test_demo_builds_consistent_data_and_a_tour(forge_db_server: TestServer) -> None:
    name = f"forge_demo_{secrets.token_hex(4)}"
    out, progress = io.StringIO(), io.StringIO()
    try:
        run_demo(forge_db_server.url, out, database=name, issues=120)
        text = out.getvalue()
        assert "120 issues" in text
        assert 'search "landing crash"' in text
        assert "open issues labelled bug" in text
        assert "bob's unread notifications" in text
        assert "eve sees 2 of alice's repositories" in text
        summary = build_demo(forge_db_server.url, database=name, issues=50, progress=progress)
        assert "100%" in progress.getvalue()
        with psycopg.connect(summary.url) as conn:
            assert conn.execute("SELECT count(*) FROM issues").fetchone() == (50,)
            assert conn.execute("SELECT count(*) FROM check_issue_counts()").fetchone() == (0,)
            comments = conn.execute("SELECT count(*) FROM comments").fetchone()
        assert comments == (summary.comments,)
    finally:
        _drop(forge_db_server, name)
