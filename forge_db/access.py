"""Role levels and the write guard that every actor-checked statement starts with."""

from __future__ import annotations

from typing import Final

__all__ = ["ADMIN", "READ", "WRITE", "guard"]

READ: Final = 1
WRITE: Final = 2
ADMIN: Final = 3


def guard(level: int, *, write: bool = True) -> str:
    """SQL selecting the repository id as ``id``, or raising what the actor should see.

    ``repository_guard()`` refuses in the statement itself: ``NotFound`` when the actor cannot
    see the repository, ``PermissionDenied`` below ``level``, ``Conflict`` when archived and the
    statement writes. Callers bind ``%(repository_id)s`` and ``%(actor)s``.
    """
    if level not in (READ, WRITE, ADMIN):
        raise ValueError(f"unknown role level {level}")
    return (
        f"SELECT repository_guard(%(repository_id)s, %(actor)s, {level}::smallint, "
        f"{'true' if write else 'false'}) AS id"
    )
