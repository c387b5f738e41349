"""Access in one vocabulary: roles by name, the write guard, and the visibility filter.

Every statement that checks access says it with these helpers, which spell the schema's
functions (``guard_repository``, ``can_read_repository``, ``has_repository_role``,
``repository_role``, ``require_author_or_role``). No numeric level appears in the package's SQL:
``tests/contracts/test_access_vocabulary.py`` scans for one and fails.

Parameter names follow the operations' own: ``%(repository_id)s``, ``%(actor_id)s`` for the one
who writes, ``%(viewer_id)s`` for the one who reads (``NULL`` for anonymous).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["ROLES", "Role", "author_or_role", "gate", "guard", "has_role", "readable", "role_of"]

Role = Literal["read", "write", "admin"]
ROLES: Final[tuple[Role, ...]] = ("read", "write", "admin")


def _role(role: Role) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    return f"'{role}'"


def guard(
    role: Role,
    *,
    writes: bool = True,
    repository: str = "%(repository_id)s",
    actor: str = "%(actor_id)s",
) -> str:
    """A SELECT of the repository id as ``id``, or raising what the actor must see.

    ``NotFound`` when the actor cannot see the repository (a private one is never revealed),
    ``PermissionDenied`` below ``role``, ``Conflict`` when ``writes`` and it is archived. Put it
    in a CTE named ``guard`` at the head of the statement.
    """
    return (
        f"SELECT guard_repository({repository}, {actor}, {_role(role)}, "
        f"{'true' if writes else 'false'}) AS id"
    )


def gate(cte: str = "guard") -> str:
    """A condition that makes the statement run CTE ``cte`` (the guard) before anything else.

    A CTE joined to the rows a DELETE or UPDATE touches is only evaluated if the plan reaches
    it, and a plan for an empty table may not: then a stranger's delete reports "nothing
    deleted" instead of ``NotFound``. An uncorrelated ``EXISTS`` becomes a one-time filter,
    which the executor evaluates before it reads a single row, whatever the plan.
    """
    return f"EXISTS (SELECT FROM {cte})"


def readable(repository: str = "%(repository_id)s", viewer: str = "%(viewer_id)s") -> str:
    """A condition: the viewer may read the repository (anyone, for a public one)."""
    return f"can_read_repository({repository}, {viewer})"


def has_role(role: Role, repository: str, user: str) -> str:
    """A condition: ``user`` holds at least ``role`` on ``repository``."""
    return f"has_repository_role({repository}, {user}, {_role(role)})"


def role_of(repository: str, user: str = "%(viewer_id)s") -> str:
    """The user's role by name, ``NULL`` when they cannot see the repository."""
    return f"repository_role({repository}, {user})"


def author_or_role(
    alias: str,
    action: str,
    *,
    role: Role = "write",
    repository: str = "guard.id",
    actor: str = "%(actor_id)s",
) -> str:
    """A condition: the actor wrote row ``alias`` (its ``author_id``) or holds ``role``.

    Otherwise the statement fails with ``PermissionDenied`` naming ``action``.
    """
    if not action.replace(" ", "").isalpha():
        raise ValueError(f"action must be plain words, not {action!r}")
    return (
        f"require_author_or_role({repository}, {actor}, {alias}.author_id, "
        f"{_role(role)}, '{action}')"
    )
