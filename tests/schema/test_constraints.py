"""The invariants the database itself refuses to break, with the SQLSTATE and constraint name the
Python layer maps."""

from __future__ import annotations

import hashlib
import itertools
import secrets
from typing import Any

import psycopg
from schema_factories import comment, digest, issue, label, refused, repository, user

Conn = psycopg.Connection[Any]


# --- users and email -------------------------------------------------------------------------


def test_usernames_are_unique_case_insensitively(conn: Conn) -> None:
    user(conn, "Alice")
    with refused("23505", "users_username_lower_key"):
        user(conn, "aLICE")


def test_malformed_usernames_are_refused(conn: Conn) -> None:
    for username in ["", "-alice", "alice-", "al--ice", "al_ice", "al ice", "ålice", "a" * 40]:
        with refused("23514", "users_username_check"):
            user(conn, username)


def test_well_formed_usernames_are_accepted(conn: Conn) -> None:
    for username in ["a", "A-b-C", "x" * 39, "0-9"]:
        user(conn, username)


def test_wallet_addresses_are_stored_only_in_canonical_form(conn: Conn) -> None:
    for address in [
        "0xABCDEF0123456789abcdef0123456789ABCDEF01",  # EIP-55 mixed case: fold before storing
        "abcdef0123456789abcdef0123456789abcdef01",
        "0x" + "a" * 39,
        "0X" + "a" * 40,
    ]:
        with refused("23514", "users_wallet_address_check"):
            conn.execute(
                "INSERT INTO users (username, wallet_address) VALUES ('w', %s)", (address,)
            )
    conn.execute(
        "INSERT INTO users (username, wallet_address) VALUES ('w', %s)", ("0x" + "a" * 40,)
    )


def test_eth_usernames_are_reserved_for_their_wallet(conn: Conn) -> None:
    wallet = "0x" + "ab" * 20
    insert = "INSERT INTO users (username, wallet_address) VALUES (%s, %s)"
    with refused("23514", "users_username_reserved_check"):
        conn.execute(insert, ("eth-" + "ab" * 8, None))
    with refused("23514", "users_username_reserved_check"):
        conn.execute(insert, ("ETH-" + "cd" * 8, wallet))
    conn.execute(insert, ("eth-" + "ab" * 8, wallet))


def test_wallet_addresses_are_unique(conn: Conn) -> None:
    address = "0x" + secrets.token_hex(20)
    conn.execute("INSERT INTO users (username, wallet_address) VALUES ('a', %s)", (address,))
    with refused("23505", "users_wallet_address_key"):
        conn.execute("INSERT INTO users (username, wallet_address) VALUES ('b', %s)", (address,))


def test_email_addresses_are_unique_case_insensitively(conn: Conn) -> None:
    alice, bob = user(conn), user(conn)
    conn.execute(
        "INSERT INTO email_addresses (user_id, email) VALUES (%s, 'Alice@Example.org')", (alice,)
    )
    with refused("23505", "email_addresses_email_lower_key"):
        conn.execute(
            "INSERT INTO email_addresses (user_id, email) VALUES (%s, 'alice@EXAMPLE.ORG')", (bob,)
        )


def test_a_user_has_at_most_one_primary_email(conn: Conn) -> None:
    alice = user(conn)
    insert = "INSERT INTO email_addresses (user_id, email, is_primary) VALUES (%s, %s, %s)"
    conn.execute(insert, (alice, "a@example.org", True))
    conn.execute(insert, (alice, "b@example.org", False))
    with refused("23P01", "email_addresses_one_primary_excl"):
        conn.execute(insert, (alice, "c@example.org", True))


# --- auth ------------------------------------------------------------------------------------


def test_token_digests_are_sha256_sized(conn: Conn) -> None:
    alice = user(conn)
    statements = {
        "auth_sessions": "INSERT INTO auth_sessions (user_id, token_digest, expires_at, idle_timeout,"
        " absolute_expires_at) VALUES (%s, %s, now() + interval '1 day', interval '1 day',"
        " now() + interval '30 days')",
        "access_tokens": "INSERT INTO access_tokens (user_id, name, token_digest, token_hint, scopes)"
        " VALUES (%s, 'ci', %s, 'fdb_abcd', '{repo:read}')",
    }
    for table, statement in statements.items():
        for size in (0, 20, 31, 33, 64):
            with refused("23514", f"{table}_token_digest_check"):
                conn.execute(statement, (alice, secrets.token_bytes(size)))
        conn.execute(statement, (alice, digest()))


def test_session_token_digests_are_unique(conn: Conn) -> None:
    alice, token = user(conn), digest()
    insert = (
        "INSERT INTO auth_sessions (user_id, token_digest, expires_at, idle_timeout, absolute_expires_at)"
        " VALUES (%s, %s, now() + interval '1 day', interval '1 day', now() + interval '30 days')"
    )
    conn.execute(insert, (alice, token))
    with refused("23505", "auth_sessions_token_digest_key"):
        conn.execute(insert, (alice, token))


def test_access_token_scopes_come_from_the_vocabulary(conn: Conn) -> None:
    alice = user(conn)
    with refused("23514", "access_tokens_scopes_check"):
        conn.execute(
            "INSERT INTO access_tokens (user_id, name, token_digest, token_hint, scopes)"
            " VALUES (%s, 'ci', %s, 'fdb_abcd', '{repo:read,root}')",
            (alice, digest()),
        )


def test_siwe_nonces_need_sixteen_alphanumerics(conn: Conn) -> None:
    with refused("23514", "siwe_nonces_nonce_check"):
        conn.execute(
            "INSERT INTO siwe_nonces (nonce, expires_at) VALUES ('abc123', now() + interval '10 minutes')"
        )


# --- repositories ----------------------------------------------------------------------------


def test_repository_names_are_unique_per_owner_case_insensitively(conn: Conn) -> None:
    alice, bob = user(conn), user(conn)
    repository(conn, alice, "Forge")
    repository(conn, bob, "forge")  # another owner may use the name
    with refused("23505", "repositories_owner_id_name_lower_key"):
        repository(conn, alice, "FORGE")


def test_malformed_repository_names_are_refused(conn: Conn) -> None:
    owner = user(conn)
    for name in ["", ".", "..", "x.git", "X.GIT", "a b", "a/b", "ümlaut", "r" * 101]:
        with refused("23514", "repositories_name_check"):
            repository(conn, owner, name)


def test_well_formed_repository_names_are_accepted(conn: Conn) -> None:
    owner = user(conn)
    for name in ["a", ".github", "x.git.bak", "A_b-c.d", "r" * 100]:
        repository(conn, owner, name)


def test_collaborator_roles_come_from_the_vocabulary(conn: Conn) -> None:
    alice = user(conn)
    with refused("23514", "repository_collaborators_role_check"):
        conn.execute(
            "INSERT INTO repository_collaborators (repository_id, user_id, role) VALUES (%s, %s, 'owner')",
            (repository(conn, alice), user(conn)),
        )


def test_conflicted_bookmark_targets_are_commit_ids(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    commit = secrets.token_hex(20)
    row = conn.execute(
        "INSERT INTO bookmarks (repository_id, name, targets) VALUES (%s, 'main', %s) RETURNING conflicted",
        (repo, [commit, secrets.token_hex(20)]),
    ).fetchone()
    assert row == (True,)
    with refused("23514", "bookmarks_targets_check"):
        conn.execute(
            "INSERT INTO bookmarks (repository_id, name, targets) VALUES (%s, 'dev', %s)",
            (repo, [commit, "HEAD"]),
        )


# --- issues ----------------------------------------------------------------------------------


def test_issue_titles_are_one_to_256_characters_and_not_blank(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    insert = "INSERT INTO issues (repository_id, number, title) VALUES (%s, %s, %s)"
    for number, title in enumerate(["", "   ", "\n\t", "x" * 257], start=1):
        with refused("23514", "issues_title_check"):
            conn.execute(insert, (repo, number, title))
    conn.execute(insert, (repo, 1, "x" * 256))


def test_issue_bodies_are_at_most_65536_characters(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    conn.execute(
        "INSERT INTO issues (repository_id, number, title, body) VALUES (%s, 1, 't', %s)",
        (repo, "é" * 65536),
    )
    with refused("23514", "issues_body_check"):
        conn.execute(
            "INSERT INTO issues (repository_id, number, title, body) VALUES (%s, 2, 't', %s)",
            (repo, "é" * 65537),
        )


def test_an_oversized_body_is_refused_by_its_check_before_text_search_sees_it(conn: Conn) -> None:
    # A body of 150,000 distinct words would overflow tsvector (1 MB) while the generated
    # search column is computed, which happens before CHECK constraints run.
    repo = repository(conn, user(conn))
    with refused("23514", "issues_body_check"):
        conn.execute(
            "INSERT INTO issues (repository_id, number, title, body)"
            " SELECT %s, 1, 't', string_agg(left(md5(i::text), 8), ' ')"
            " FROM generate_series(1, 150000) AS i",
            (repo,),
        )


def test_a_close_reason_goes_with_the_closed_state(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    number = issue(conn, repo)
    with refused("23514", "issues_closed_check"):
        conn.execute("UPDATE issues SET state = 'closed' WHERE id = %s", (number,))
    with refused("23514", "issues_closed_check"):
        conn.execute("UPDATE issues SET close_reason = 'completed' WHERE id = %s", (number,))
    conn.execute(
        "UPDATE issues SET state = 'closed', close_reason = 'completed', closed_at = now() WHERE id = %s",
        (number,),
    )


def test_an_issue_can_only_duplicate_an_issue_of_its_repository(conn: Conn) -> None:
    alice = user(conn)
    here, there = repository(conn, alice), repository(conn, alice)
    original, duplicate = issue(conn, there), issue(conn, here)
    with refused("23503", "issues_duplicate_of_fkey"):
        conn.execute(
            "UPDATE issues SET state = 'closed', close_reason = 'duplicate', closed_at = now(),"
            " duplicate_of_id = %s WHERE id = %s",
            (original, duplicate),
        )


def test_labels_are_unique_per_repository_case_insensitively(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    label(conn, repo, "Bug")
    with refused("23505", "labels_repository_id_name_lower_key"):
        label(conn, repo, "BUG")


def test_a_label_of_another_repository_cannot_be_attached(conn: Conn) -> None:
    alice = user(conn)
    here, there = repository(conn, alice), repository(conn, alice)
    foreign = label(conn, there)
    with refused("23503", "issue_labels_label_fkey"):
        conn.execute(
            "INSERT INTO issue_labels (repository_id, issue_id, label_id) VALUES (%s, %s, %s)",
            (here, issue(conn, here), foreign),
        )
    # Claiming the label's repository does not help: then the issue is the foreign row.
    with refused("23503", "issue_labels_issue_fkey"):
        conn.execute(
            "INSERT INTO issue_labels (repository_id, issue_id, label_id) VALUES (%s, %s, %s)",
            (there, issue(conn, here), foreign),
        )


def test_an_issue_has_at_most_ten_assignees(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    target = issue(conn, repo)
    insert = "INSERT INTO issue_assignees (repository_id, issue_id, user_id) VALUES (%s, %s, %s)"
    for _ in range(10):
        conn.execute(insert, (repo, target, user(conn)))
    with refused("FDC01", "issue_assignees_limit"):
        conn.execute(insert, (repo, target, user(conn)))
    row = conn.execute("SELECT assignee_count FROM issues WHERE id = %s", (target,)).fetchone()
    assert row == (10,)


def test_an_assignee_must_be_able_to_see_the_repository(conn: Conn) -> None:
    owner, stranger = user(conn), user(conn)
    repo = repository(conn, owner, private=True)
    target = issue(conn, repo)
    insert = "INSERT INTO issue_assignees (repository_id, issue_id, user_id) VALUES (%s, %s, %s)"
    with refused("FDI01", "issue_assignees_can_read"):
        conn.execute(insert, (repo, target, stranger))
    conn.execute(
        "INSERT INTO repository_collaborators (repository_id, user_id, role) VALUES (%s, %s, 'read')",
        (repo, stranger),
    )
    conn.execute(insert, (repo, target, stranger))


def test_unassigning_frees_an_assignee_slot(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    target = issue(conn, repo)
    people = [user(conn) for _ in range(10)]
    conn.execute(
        "INSERT INTO issue_assignees (repository_id, issue_id, user_id)"
        " SELECT %s, %s, unnest(%s::bigint[])",
        (repo, target, people),
    )
    conn.execute("DELETE FROM issue_assignees WHERE user_id = %s", (people[0],))
    conn.execute(
        "INSERT INTO issue_assignees (repository_id, issue_id, user_id) VALUES (%s, %s, %s)",
        (repo, target, user(conn)),
    )


def test_a_duplicate_assignment_skipped_by_on_conflict_is_not_counted(conn: Conn) -> None:
    repo, person = repository(conn, user(conn)), user(conn)
    target = issue(conn, repo)
    for _ in range(2):
        conn.execute(
            "INSERT INTO issue_assignees (repository_id, issue_id, user_id) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (repo, target, person),
        )
    row = conn.execute("SELECT assignee_count FROM issues WHERE id = %s", (target,)).fetchone()
    assert row == (1,)


def test_an_issue_cannot_depend_on_itself(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    target = issue(conn, repo)
    for table, columns in [
        ("issue_dependencies", "blocking_issue_id, blocked_issue_id"),
        ("subtasks", "parent_issue_id, child_issue_id"),
    ]:
        with refused("23514", f"{table}_no_self_check"):
            conn.execute(
                f"INSERT INTO {table} (repository_id, {columns}) VALUES (%s, %s, %s)",
                (repo, target, target),
            )


def test_dependency_cycles_of_any_length_are_refused(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    insert = (
        "INSERT INTO issue_dependencies (repository_id, blocking_issue_id, blocked_issue_id)"
        " VALUES (%s, %s, %s)"
    )
    for length in (2, 3, 5):
        chain = [issue(conn, repo) for _ in range(length)]
        for blocking, blocked in itertools.pairwise(chain):
            conn.execute(insert, (repo, blocking, blocked))
        with refused("FDC01", "issue_dependencies_acyclic"):
            conn.execute(insert, (repo, chain[-1], chain[0]))


def test_a_cycle_within_one_statement_is_refused(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    a, b = issue(conn, repo), issue(conn, repo)
    with refused("FDC01", "issue_dependencies_acyclic"):
        conn.execute(
            "INSERT INTO issue_dependencies (repository_id, blocking_issue_id, blocked_issue_id)"
            " VALUES (%(r)s, %(a)s, %(b)s), (%(r)s, %(b)s, %(a)s)",
            {"r": repo, "a": a, "b": b},
        )


def test_dependency_diamonds_are_not_cycles(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    a, b, c, d = (issue(conn, repo) for _ in range(4))
    conn.execute(
        "INSERT INTO issue_dependencies (repository_id, blocking_issue_id, blocked_issue_id)"
        " VALUES (%(r)s, %(a)s, %(b)s), (%(r)s, %(a)s, %(c)s), (%(r)s, %(b)s, %(d)s), (%(r)s, %(c)s, %(d)s)",
        {"r": repo, "a": a, "b": b, "c": c, "d": d},
    )


def test_subtask_cycles_of_any_length_are_refused(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    insert = (
        "INSERT INTO subtasks (repository_id, parent_issue_id, child_issue_id) VALUES (%s, %s, %s)"
    )
    for length in (2, 3, 4):
        chain = [issue(conn, repo) for _ in range(length)]
        for parent, child in itertools.pairwise(chain):
            conn.execute(insert, (repo, parent, child))
        with refused("FDC01", "subtasks_acyclic"):
            conn.execute(insert, (repo, chain[-1], chain[0]))


def test_a_subtask_has_one_parent(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    first, second, child = (issue(conn, repo) for _ in range(3))
    insert = (
        "INSERT INTO subtasks (repository_id, parent_issue_id, child_issue_id) VALUES (%s, %s, %s)"
    )
    conn.execute(insert, (repo, first, child))
    with refused("23505", "subtasks_one_parent_key"):
        conn.execute(insert, (repo, second, child))


def test_dependencies_across_repositories_are_refused(conn: Conn) -> None:
    alice = user(conn)
    here, there = repository(conn, alice), repository(conn, alice)
    with refused("23503", "issue_dependencies_blocked_fkey"):
        conn.execute(
            "INSERT INTO issue_dependencies (repository_id, blocking_issue_id, blocked_issue_id)"
            " VALUES (%s, %s, %s)",
            (here, issue(conn, here), issue(conn, there)),
        )


def test_cycle_checks_refuse_repeatable_read(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    a, b = issue(conn, repo), issue(conn, repo)
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with refused("FDC01", None):
            conn.execute(
                "INSERT INTO issue_dependencies (repository_id, blocking_issue_id, blocked_issue_id)"
                " VALUES (%s, %s, %s)",
                (repo, a, b),
            )


def test_a_repository_has_at_most_three_pins(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    insert = "INSERT INTO pinned_issues (repository_id, issue_id, position) VALUES (%s, %s, %s)"
    for position in (1, 2, 3):
        conn.execute(insert, (repo, issue(conn, repo), position))
    with refused("23514", "pinned_issues_position_check"):
        conn.execute(insert, (repo, issue(conn, repo), 4))
    with refused("23505", "pinned_issues_repository_id_position_key"):
        conn.execute(insert, (repo, issue(conn, repo), 2))


def test_pins_reorder_in_one_statement(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    pins = [issue(conn, repo) for _ in range(3)]
    for position, pinned in enumerate(pins, start=1):
        conn.execute(
            "INSERT INTO pinned_issues (repository_id, issue_id, position) VALUES (%s, %s, %s)",
            (repo, pinned, position),
        )
    conn.execute(  # rotate: 1 -> 2 -> 3 -> 1
        "UPDATE pinned_issues SET position = position %% 3 + 1 WHERE repository_id = %s", (repo,)
    )
    rows = conn.execute(
        "SELECT issue_id FROM pinned_issues WHERE repository_id = %s ORDER BY position", (repo,)
    ).fetchall()
    assert [r[0] for r in rows] == [pins[2], pins[0], pins[1]]


def test_a_deleted_comment_is_an_empty_tombstone(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    note = comment(conn, repo, issue(conn, repo))
    with refused("23514", "comments_tombstone_check"):
        conn.execute("UPDATE comments SET deleted_at = now() WHERE id = %s", (note,))
    conn.execute("UPDATE comments SET deleted_at = now(), body = '' WHERE id = %s", (note,))


# --- collaboration ---------------------------------------------------------------------------


def test_reactions_are_unique_per_user_target_and_emoji(conn: Conn) -> None:
    alice = user(conn)
    repo = repository(conn, alice)
    target = issue(conn, repo)
    note = comment(conn, repo, target)
    on_issue = (
        "INSERT INTO reactions (repository_id, issue_id, user_id, emoji) VALUES (%s, %s, %s, %s)"
    )
    on_comment = (
        "INSERT INTO reactions (repository_id, comment_id, user_id, emoji) VALUES (%s, %s, %s, %s)"
    )
    conn.execute(on_issue, (repo, target, alice, "+1"))
    conn.execute(on_issue, (repo, target, alice, "heart"))  # another emoji
    conn.execute(on_comment, (repo, note, alice, "+1"))  # another target
    conn.execute(on_issue, (repo, target, user(conn), "+1"))  # another user
    with refused("23505", "reactions_issue_user_emoji_key"):
        conn.execute(on_issue, (repo, target, alice, "+1"))
    with refused("23505", "reactions_comment_user_emoji_key"):
        conn.execute(on_comment, (repo, note, alice, "+1"))


def test_reactions_use_the_fixed_emoji_set(conn: Conn) -> None:
    alice = user(conn)
    repo = repository(conn, alice)
    with refused("23514", "reactions_emoji_check"):
        conn.execute(
            "INSERT INTO reactions (repository_id, issue_id, user_id, emoji) VALUES (%s, %s, %s, 'thumbsup')",
            (repo, issue(conn, repo), alice),
        )


def test_a_reaction_has_exactly_one_target(conn: Conn) -> None:
    alice = user(conn)
    repo = repository(conn, alice)
    target = issue(conn, repo)
    with refused("23514", "reactions_one_target_check"):
        conn.execute(
            "INSERT INTO reactions (repository_id, issue_id, comment_id, user_id, emoji)"
            " VALUES (%s, %s, %s, %s, 'eyes')",
            (repo, target, comment(conn, repo, target), alice),
        )
    with refused("23514", "reactions_one_target_check"):
        conn.execute(
            "INSERT INTO reactions (repository_id, user_id, emoji) VALUES (%s, %s, 'eyes')",
            (repo, alice),
        )


def test_mentions_are_recorded_once_per_target_and_user(conn: Conn) -> None:
    alice = user(conn)
    repo = repository(conn, alice)
    target = issue(conn, repo)
    insert = "INSERT INTO mentions (repository_id, issue_id, mentioned_user_id) VALUES (%s, %s, %s)"
    conn.execute(insert, (repo, target, alice))
    with refused("23505", "mentions_target_user_key"):
        conn.execute(insert, (repo, target, alice))


# --- append-only tables, state machines, content addressing ---------------------------------


def test_workflow_logs_are_append_only(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    row = conn.execute(
        "WITH run AS (INSERT INTO workflow_runs (repository_id, trigger) VALUES (%s, 'manual') RETURNING id)"
        " INSERT INTO workflow_logs (repository_id, run_id, message) SELECT %s, id, 'hello' FROM run"
        " RETURNING id",
        (repo, repo),
    ).fetchone()
    assert row is not None
    with refused("FDC01", "workflow_logs_append_only"):
        conn.execute("UPDATE workflow_logs SET message = 'rewritten' WHERE id = %s", (row[0],))
    conn.execute("DELETE FROM workflow_logs WHERE id = %s", (row[0],))  # retention still works


def test_illegal_state_transitions_are_refused(conn: Conn) -> None:
    alice = user(conn)
    repo = repository(conn, alice)
    row = conn.execute(
        "INSERT INTO landing_queue (repository_id, number, change_id, target_bookmark, title)"
        " VALUES (%s, get_next_issue_number(%s), %s, 'main', 'land it') RETURNING id",
        (repo, repo, "k" * 32),
    ).fetchone()
    assert row is not None
    with refused("FDC01", "landing_queue_state_transition"):
        conn.execute(
            "UPDATE landing_queue SET state = 'landed', landed_commit_id = %s, finished_at = now()"
            " WHERE id = %s",
            (secrets.token_hex(20), row[0]),
        )


def test_a_blob_is_keyed_by_the_sha256_of_its_content(conn: Conn) -> None:
    content = b"fn main() {}\n"
    conn.execute(
        "INSERT INTO blobs (hash, content) VALUES (%s, %s)",
        (hashlib.sha256(content).digest(), content),
    )
    with refused("23514", "blobs_hash_check"):
        conn.execute("INSERT INTO blobs (hash, content) VALUES (%s, %s)", (digest(), b"other"))


def test_jj_ids_have_their_format(conn: Conn) -> None:
    repo = repository(conn, user(conn))
    insert = (
        "INSERT INTO changes (repository_id, change_id, commit_id, authored_at, committed_at)"
        " VALUES (%s, %s, %s, now(), now())"
    )
    for column, value in [
        ("change_id", "k" * 31),
        ("change_id", "a" * 32),  # hex is not jj's change-id alphabet
        ("commit_id", "A" * 40),
        ("commit_id", "0" * 39),
    ]:
        ids = {"change_id": "z" * 32, "commit_id": "0" * 40, column: value}
        with refused("23514", f"changes_{column}_check"):
            conn.execute(insert, (repo, ids["change_id"], ids["commit_id"]))
    conn.execute(insert, (repo, "zyxwvutsrqponmlk" * 2, "0123456789abcdef" * 2 + "01234567"))
