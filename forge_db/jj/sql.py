"""SQL and shapes shared by the jj namespaces: column lists, prefix resolution, short ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from pydantic import BaseModel

from ..errors import AmbiguousPrefix, NotFound
from ..query import Result, Shape, many, model_columns

__all__ = [
    "CANDIDATES",
    "commit_columns",
    "neighbour_length",
    "operation_columns",
    "resolved",
    "wrapped",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

CANDIDATES: Final = 10
"""How many candidates an ambiguity lists (one more row is fetched to know there are more)."""


def operation_columns(o: str = "o") -> str:
    """The columns of :class:`~forge_db.jj.models.Operation` from ``jj_operations`` ``o``."""
    return (
        f"{o}.operation_id, {o}.parent_operation_ids, {o}.view_id, {o}.view, "
        f"coalesce({o}.metadata->>'description', '') AS description, "
        f"coalesce({o}.metadata->>'hostname', '') AS hostname, "
        f"coalesce({o}.metadata->>'username', '') AS username, "
        f"coalesce({o}.metadata->'tags', '{{}}'::jsonb) AS tags, "
        f"{o}.is_snapshot, {o}.started_at, {o}.ended_at, {o}.created_at"
    )


def commit_columns(c: str = "c") -> str:
    """The columns of :class:`~forge_db.jj.models.Commit` from ``changes`` ``c``."""
    return ", ".join(
        f"{c}.{name}"
        for name in (
            "change_id", "commit_id", "parent_commit_ids", "predecessor_commit_ids",
            "author_name", "author_email", "committer_name", "committer_email", "description",
            "authored_at", "committed_at", "empty", "conflict", "hidden",
        )
    )  # fmt: skip


def neighbour_length(table: str, column: str, scope: str, value: str) -> str:
    """The shortest unique prefix length of ``value`` among ``table.column`` within ``scope``.

    One more than the longest prefix ``value`` shares with its neighbours in the ``COLLATE
    "C"`` index: the greatest stored id below it and the least above it. Two index probes per
    id, whatever the table's size.
    """
    value = f'({value}) COLLATE "C"'
    below = (
        f"(SELECT n.{column} FROM {table} n WHERE {scope} AND n.{column} < {value} "
        f"ORDER BY n.{column} DESC LIMIT 1)"
    )
    above = (
        f"(SELECT n.{column} FROM {table} n WHERE {scope} AND n.{column} > {value} "
        f"ORDER BY n.{column} LIMIT 1)"
    )
    return (
        f"least(length({value}), 1 + greatest(jj_common_prefix_length({value}, {below}), "
        f"jj_common_prefix_length({value}, {above})))"
    )


def resolved(model: type[M], what: str, prefix: str, key: str, field: str) -> Shape[M]:
    """One row as ``model``; none is ``NotFound``; several are :class:`AmbiguousPrefix`.

    The statement returns up to ``CANDIDATES + 1`` matching rows in id order; ``key`` is the
    field that holds the id.
    """
    rows = many(model)

    def convert(result: Result) -> M:
        items = rows.convert(result)
        if not items:
            raise NotFound(f'no {what} id starts with "{prefix}"')
        if len(items) > 1:
            ids = [getattr(item, key) for item in items[:CANDIDATES]]
            more = " and more" if len(items) > CANDIDATES else ""
            shown = ", ".join(str(i)[: len(prefix) + 4] for i in ids)
            raise AmbiguousPrefix(
                f'{what} id prefix "{prefix}" is ambiguous: {shown}{more}',
                field=field,
                candidates=[str(i) for i in ids],
            )
        return items[0]

    return Shape(convert, model_columns(model))


def wrapped(model: type[M], build: Callable[[list[M]], T]) -> Shape[T]:
    """Every row as ``model``, handed to ``build`` (a summary of the rows, such as heads)."""
    rows = many(model)

    def convert(result: Result) -> T:
        return build(rows.convert(result))

    return Shape(convert, model_columns(model))
