"""``db.coordination.config``: typed settings, global or per repository, some of them secret.

A value has a type (``string``, ``integer``, ``number``, ``boolean``, ``duration`` in seconds,
``json``), checked here and by the table's CHECK. A repository's value overrides the global
one. A secret's value never leaves the database through :meth:`Config.get` or
:meth:`Config.list` (the SQL itself returns ``NULL`` for it), never enters an error message, and
comes back from :meth:`Config.get_secret` in a model whose ``repr`` and dumps leave it out.
"""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Annotated, Any, Final, Literal

from psycopg.types.json import Jsonb

from ..errors import InvalidInput, register_constraint_messages
from ..inputs import Description, Flag, Id, Refused, Rule, Text
from ..query import Namespace, Query, R, affected, many, one, optional, read, write
from .models import ConfigValue, SecretValue
from .rules import json_text

__all__ = ["Config", "ValueType"]

register_constraint_messages(
    {"configurations_value_check": "value: does not have the declared value type"},
    fields={"configurations_value_check": "value"},
)

ValueType = Literal["string", "integer", "number", "boolean", "duration", "json"]
Key = Annotated[
    str,
    Text(
        128,
        min_length=1,
        pattern=r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*",
        explain="must be dotted lowercase words, e.g. landing.max_attempts",
        sample="landing.max_attempts",
    ),
]
Prefix = Annotated[
    str, Text(128, pattern=r"[a-z0-9_.]*", explain="must be a key prefix", sample="")
]


class _Value(Rule):
    """A JSON value (or a ``timedelta``, for durations), at most 64 KiB as JSON; the value is
    never repeated in the refusal, since it may be a secret."""

    sample = 1

    def check(self, value: Any) -> Any:
        if isinstance(value, timedelta):
            return value
        try:
            json_text(value, 65_536)
        except Refused as exc:
            raise Refused(exc.message) from None
        return value


Value = Annotated[Any, _Value()]

_FITS: Final[dict[str, Any]] = {
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) in (int, float),
    "boolean": lambda v: type(v) is bool,
    "duration": lambda v: type(v) in (int, float) and v >= 0,
    "json": lambda v: True,
}


def _typed(value: Any, value_type: ValueType | None) -> tuple[str, Any]:
    """The value type and the JSON value to store, or ``InvalidInput`` naming ``value``."""
    if isinstance(value, timedelta):
        if value_type not in (None, "duration") or value < timedelta(0):
            raise InvalidInput("value: a timedelta is a non-negative duration", field="value")
        return "duration", value.total_seconds()
    if value_type is None:
        kind = {bool: "boolean", int: "integer", float: "number", str: "string"}
        value_type = kind.get(type(value), "json")  # type: ignore[assignment]
    assert value_type is not None
    if not _FITS[value_type](value):
        raise InvalidInput(f"value: does not have type {value_type}", field="value")
    return value_type, value


_COLUMNS: Final = (
    "key, repository_id, value_type, CASE WHEN secret THEN NULL ELSE value END AS value, secret, "
    "description, updated_at"
)
# The repository's row first, then the global one: DISTINCT ON keeps the one that applies.
_EFFECTIVE: Final = """
    FROM configurations
    WHERE (repository_id IS NULL OR repository_id = %(repository_id)s)
"""


class Config(Namespace[R]):
    """Set, get (secrets redacted), get a secret explicitly, list and delete settings."""

    @write
    def set(
        self,
        key: Key,
        value: Value,
        *,
        value_type: ValueType | None = None,
        secret: Flag = False,
        repository_id: Id | None = None,
        description: Description = "",
    ) -> Query[ConfigValue]:
        """Create or replace a setting; the type is ``value_type`` or inferred from the value."""
        kind, stored = _typed(value, value_type)
        return Query(
            f"""
            INSERT INTO configurations (repository_id, key, value_type, value, secret, description)
            VALUES (%(repository_id)s, %(key)s, %(value_type)s, %(value)s, %(secret)s,
                    %(description)s)
            ON CONFLICT (repository_id, key) DO UPDATE SET
                value_type = EXCLUDED.value_type, value = EXCLUDED.value,
                secret = EXCLUDED.secret, description = EXCLUDED.description
            RETURNING {_COLUMNS}
            """,
            {
                "repository_id": repository_id,
                "key": key,
                "value_type": kind,
                "value": Jsonb(stored),
                "secret": secret,
                "description": description,
            },
            one(ConfigValue, f"setting {key!r} not stored"),
        )

    @read
    def get(self, key: Key, *, repository_id: Id | None = None) -> Query[ConfigValue | None]:
        """The setting that applies (the repository's, else the global one), or ``None``.

        A secret comes back with ``value=None``; read it with :meth:`get_secret`.
        """
        return Query(
            f"""
            SELECT {_COLUMNS} {_EFFECTIVE} AND key = %(key)s
            ORDER BY repository_id NULLS LAST LIMIT 1
            """,
            {"key": key, "repository_id": repository_id},
            optional(ConfigValue),
        )

    @read
    def get_secret(self, key: Key, *, repository_id: Id | None = None) -> Query[SecretValue | None]:
        """The value of the secret setting that applies, wrapped so it is not shown by accident."""
        return Query(
            f"""
            SELECT key, repository_id, value_type, value {_EFFECTIVE} AND key = %(key)s AND secret
            ORDER BY repository_id NULLS LAST LIMIT 1
            """,
            {"key": key, "repository_id": repository_id},
            optional(SecretValue),
        )

    @read
    def list(
        self, *, repository_id: Id | None = None, prefix: Prefix = ""
    ) -> Query[builtins.list[ConfigValue]]:
        """The settings that apply (repository overrides global), by key; secrets redacted."""
        return Query(
            f"""
            SELECT DISTINCT ON (key) {_COLUMNS} {_EFFECTIVE} AND starts_with(key, %(prefix)s)
            ORDER BY key, repository_id NULLS LAST
            LIMIT 1000
            """,
            {"repository_id": repository_id, "prefix": prefix},
            many(ConfigValue),
        )

    @write
    def delete(self, key: Key, *, repository_id: Id | None = None) -> Query[bool]:
        """Remove the setting of this scope (global when ``repository_id`` is ``None``)."""
        return Query(
            """
            DELETE FROM configurations
            WHERE key = %(key)s AND repository_id IS NOT DISTINCT FROM %(repository_id)s
            """,
            {"key": key, "repository_id": repository_id},
            affected,
        )
