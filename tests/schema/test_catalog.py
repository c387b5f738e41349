"""The properties every table of the schema must have, checked in the catalog.

The tables are those db/schema.sql creates (read at collection time, so each is its own test
case); one test also checks that the database holds exactly those tables, so a table added any
other way cannot escape these checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

SCHEMA = Path(__file__).resolve().parents[2] / "db" / "schema.sql"
TABLES = sorted(
    re.findall(r"^CREATE (?:UNLOGGED )?TABLE (\w+)", SCHEMA.read_text(), flags=re.MULTILINE)
)

# Text columns exempt from the length-limit rule, with the reason. Every text column of the
# schema is limited today; an entry here must say why a column cannot be.
UNLIMITED_TEXT: dict[str, str] = {}

TEXT_TYPES = {"text", "character varying", "text[]", "character varying[]"}


@dataclass
class Table:
    comment: str | None = None
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    constraints: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)


_GLOBAL_FACTS = {
    "timestamp_columns": """
        SELECT c.relname || '.' || a.attname
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
           AND a.atttypid IN ('timestamp'::regtype, 'timestamp[]'::regtype)
           AND c.relname NOT LIKE '\\_yoyo\\_%' AND c.relname <> 'yoyo_lock'
        """,
    "timestamp_functions": """
        SELECT p.oid::regprocedure::text
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public'
           AND ('timestamp'::regtype = ANY (coalesce(p.proallargtypes, p.proargtypes::oid[]))
                OR p.prorettype = 'timestamp'::regtype)
        """,
    "enum_types": """
        SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = 'public' AND t.typtype = 'e'
        """,
    "uncommented_functions": """
        SELECT p.oid::regprocedure::text
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public' AND coalesce(obj_description(p.oid, 'pg_proc'), '') = ''
        """,
}


@dataclass
class Catalog:
    tables: dict[str, Table]
    facts: dict[str, list[str]]


def _snapshot(conn: psycopg.Connection[Any]) -> Catalog:
    tables: dict[str, Table] = {}
    for name, comment in conn.execute(
        """
        SELECT c.relname, obj_description(c.oid, 'pg_class')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
           AND c.relname NOT LIKE '\\_yoyo\\_%' AND c.relname <> 'yoyo_lock'
        """
    ):
        tables[name] = Table(comment=comment)
    for table, column, ctype, notnull, default, generated, comment in conn.execute(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attgenerated <> '', col_description(c.oid, a.attnum)
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
        """
    ):
        if table in tables:
            tables[table].columns[column] = {
                "type": ctype,
                "notnull": notnull,
                "default": default,
                "generated": generated,
                "comment": comment,
            }
    for table, name, contype, columns, definition, on_delete in conn.execute(
        """
        SELECT c.relname, k.conname, k.contype::text,
               ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(attnum, i)
                       JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
                      ORDER BY u.i),
               pg_get_constraintdef(k.oid), k.confdeltype::text
          FROM pg_constraint k
          JOIN pg_class c ON c.oid = k.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public'
        """
    ):
        if table in tables:
            tables[table].constraints.append(
                {
                    "name": name,
                    "type": contype,
                    "columns": list(columns),
                    "definition": definition,
                    "on_delete": on_delete,
                }
            )
    for table, name, unique, columns, predicate in conn.execute(
        """
        SELECT c.relname, ic.relname, i.indisunique,
               ARRAY(SELECT coalesce(a.attname::text, '<expression>')
                       FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(attnum, o)
                       LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum
                      ORDER BY u.o),
               pg_get_expr(i.indpred, i.indrelid)
          FROM pg_index i
          JOIN pg_class c ON c.oid = i.indrelid
          JOIN pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public'
        """
    ):
        if table in tables:
            tables[table].indexes.append(
                {"name": name, "unique": unique, "columns": list(columns), "predicate": predicate}
            )
    for table, name, function, tgtype, columns in conn.execute(
        """
        SELECT c.relname, t.tgname, p.proname, t.tgtype, t.tgattr::int2[]
          FROM pg_trigger t
          JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_proc p ON p.oid = t.tgfoid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND NOT t.tgisinternal
        """
    ):
        if table in tables:
            tables[table].triggers.append(
                {"name": name, "function": function, "type": tgtype, "columns": list(columns)}
            )
    facts = {key: [row[0] for row in conn.execute(query)] for key, query in _GLOBAL_FACTS.items()}
    return Catalog(tables, facts)


_CACHE: dict[str, Catalog] = {}


@pytest.fixture
def schema_catalog(request: pytest.FixtureRequest) -> Catalog:
    """The schema's catalog, read once per process: every test database holds the same schema,
    so one snapshot serves every case (a database per case would cost a clone each)."""
    if "catalog" not in _CACHE:
        conn: psycopg.Connection[Any] = request.getfixturevalue("conn")
        _CACHE["catalog"] = _snapshot(conn)
    return _CACHE["catalog"]


@pytest.fixture
def catalog(schema_catalog: Catalog) -> dict[str, Table]:
    return schema_catalog.tables


def _is_before_update_row(trigger: dict[str, Any]) -> bool:
    row, before, update = 1, 2, 16
    kind = trigger["type"]
    return bool(kind & row and kind & before and kind & update) and not trigger["columns"]


# --- the set of tables -------------------------------------------------------------------------


def test_every_table_in_the_database_is_checked(catalog: dict[str, Table]) -> None:
    assert sorted(catalog) == TABLES


# --- per table ---------------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
def test_table_has_a_primary_key(catalog: dict[str, Table], table: str) -> None:
    assert [c["name"] for c in catalog[table].constraints if c["type"] == "p"]


@pytest.mark.parametrize("table", TABLES)
def test_table_has_created_at(catalog: dict[str, Table], table: str) -> None:
    column = catalog[table].columns.get("created_at")
    assert column is not None, f"{table} has no created_at"
    assert (column["type"], column["notnull"], column["default"], column["generated"]) == (
        "timestamp with time zone",
        True,
        "now()",
        False,
    )


@pytest.mark.parametrize("table", TABLES)
def test_rows_are_timestamped_on_update_or_immutable(catalog: dict[str, Table], table: str) -> None:
    info = catalog[table]
    column = info.columns.get("updated_at")
    if column is not None:
        assert (column["type"], column["notnull"], column["default"]) == (
            "timestamp with time zone",
            True,
            "now()",
        )
        maintained = [
            t
            for t in info.triggers
            if t["function"] == "set_updated_at" and _is_before_update_row(t)
        ]
        assert len(maintained) == 1, f"{table}.updated_at is not maintained by set_updated_at()"
    else:
        refused = [
            t
            for t in info.triggers
            if t["function"] == "refuse_update" and _is_before_update_row(t)
        ]
        assert refused, f"{table} has no updated_at, so it must refuse UPDATE (refuse_update())"
        assert "append-only" in (info.comment or "").lower(), (
            "the table comment must say it is append-only"
        )


@pytest.mark.parametrize("table", TABLES)
def test_foreign_keys_have_a_deliberate_on_delete(catalog: dict[str, Table], table: str) -> None:
    # NO ACTION is the implicit default, so it cannot be told apart from an omission: every
    # foreign key says CASCADE, SET NULL or RESTRICT.
    implicit = [
        c["name"] for c in catalog[table].constraints if c["type"] == "f" and c["on_delete"] == "a"
    ]
    assert implicit == []


@pytest.mark.parametrize("table", TABLES)
def test_append_only_tables_have_no_set_null_foreign_keys(
    catalog: dict[str, Table], table: str
) -> None:
    # ON DELETE SET NULL is an UPDATE of the child, which refuse_update() would reject, making
    # the parent impossible to delete.
    info = catalog[table]
    if "updated_at" in info.columns:
        return
    set_null = [c["name"] for c in info.constraints if c["type"] == "f" and c["on_delete"] == "n"]
    assert set_null == []


_NOT_NULL = re.compile(r"^\(?(\w+) IS NOT NULL\)?$")


def _covers(index: dict[str, Any], columns: list[str]) -> bool:
    leading = index["columns"][: len(columns)]
    if sorted(leading) != sorted(columns):
        return False
    if index["predicate"] is None:
        return True
    # A partial index on "fk IS NOT NULL" still serves the lookups a foreign key makes.
    terms = index["predicate"].strip("()").split(") AND (")
    return all((m := _NOT_NULL.match(t.strip("()") + "")) and m.group(1) in columns for t in terms)


@pytest.mark.parametrize("table", TABLES)
def test_foreign_keys_are_backed_by_an_index(catalog: dict[str, Table], table: str) -> None:
    info = catalog[table]
    unindexed = [
        f"{c['name']} {c['columns']}"
        for c in info.constraints
        if c["type"] == "f" and not any(_covers(i, c["columns"]) for i in info.indexes)
    ]
    assert unindexed == []


@pytest.mark.parametrize("table", TABLES)
def test_constraint_and_index_names_follow_the_convention(
    catalog: dict[str, Table], table: str
) -> None:
    # <table>_<what>_{pkey,fkey,check,key,excl} for constraints; unique indexes end in _key,
    # exclusion constraints' indexes in _excl, the others in _idx. The Python layer maps errors by these names, so they are part of the API.
    # (PostgreSQL 18 also lists NOT NULL constraints, named <table>_<column>_not_null.)
    suffixes = {
        "p": "_pkey",
        "f": "_fkey",
        "c": "_check",
        "u": "_key",
        "x": "_excl",
        "n": "_not_null",
    }
    info = catalog[table]
    wrong = [
        c["name"]
        for c in info.constraints
        if not (
            c["name"].startswith(f"{table}_") and c["name"].endswith(suffixes.get(c["type"], "?"))
        )
    ]
    wrong += [
        i["name"]
        for i in info.indexes
        if not (
            i["name"].startswith(f"{table}_")
            and i["name"].endswith(("_key", "_pkey") if i["unique"] else ("_idx", "_excl"))
        )
    ]
    assert wrong == []


@pytest.mark.parametrize("table", TABLES)
def test_table_is_commented(catalog: dict[str, Table], table: str) -> None:
    assert (catalog[table].comment or "").strip()


def _bounded_regex(pattern: str) -> bool:
    """An anchored regex without unbounded repetition (outside bracket expressions)."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return False
    outside = re.sub(r"\[(\^?\]?[^\]]*)\]", "", pattern.replace("\\\\", "").replace("\\[", ""))
    return not re.search(r"[+*]|\{\d+,\}", outside)


def _limits(column: str, definition: str, is_array: bool) -> bool:
    c = re.escape(column)
    if is_array:
        counted = re.search(rf"cardinality\({c}\) <= \d+", definition)
        elements = (
            re.search(rf"array_to_string\({c}, '[^']*'::text\) ~ '\^", definition)
            or re.search(rf"char_length\(array_to_string\({c},", definition)
            or re.search(rf"\({c} <@ ARRAY\[", definition)
        )
        return bool(counted and elements)
    if re.search(rf"(char_length|octet_length)\({c}\) (<=|=) \d+", definition):
        return True
    if re.search(rf"\({c} = ANY \(ARRAY\[", definition):
        return True
    if re.search(rf"is_valid_ref_name\((translate\()?{c}\b", definition):
        return True
    return any(
        _bounded_regex(m.group(1))
        for m in re.finditer(rf"\({c} ~ '((?:[^']|'')*)'::text\)", definition)
    )


@pytest.mark.parametrize("table", TABLES)
def test_text_columns_have_a_length_limit(catalog: dict[str, Table], table: str) -> None:
    info = catalog[table]
    checks = [c["definition"] for c in info.constraints if c["type"] == "c"]
    unlimited = [
        name
        for name, column in info.columns.items()
        if column["type"] in TEXT_TYPES
        and f"{table}.{name}" not in UNLIMITED_TEXT
        and not any(_limits(name, d, column["type"].endswith("[]")) for d in checks)
    ]
    assert unlimited == []


# --- the whole schema --------------------------------------------------------------------------


def test_no_timestamp_without_time_zone(schema_catalog: Catalog) -> None:
    facts = schema_catalog.facts
    assert (facts["timestamp_columns"], facts["timestamp_functions"]) == ([], [])


def test_no_enum_types(schema_catalog: Catalog) -> None:
    assert schema_catalog.facts["enum_types"] == []


def test_every_function_is_commented(schema_catalog: Catalog) -> None:
    assert schema_catalog.facts["uncommented_functions"] == []


def test_uuid_keys_default_to_uuid_generate_v7(catalog: dict[str, Table]) -> None:
    wrong = [
        f"{table}.{name}"
        for table, info in catalog.items()
        for constraint in info.constraints
        if constraint["type"] == "p" and len(constraint["columns"]) == 1
        for name in constraint["columns"]
        if info.columns[name]["type"] == "uuid"
        and info.columns[name]["default"] != "uuid_generate_v7()"
    ]
    assert wrong == []
