"""``db.repositories.protection``: rules for landing on bookmarks that match a glob pattern."""

from __future__ import annotations

import builtins
from typing import Annotated, Final, Literal

from ..access import gate, guard
from ..errors import register_constraint_messages
from ..inputs import Bounded, Flag, Id, ListOf, RefName, RefPattern, Text
from ..query import Namespace, Query, R, affected, many, one, read, write
from .models import ProtectionRule
from .sql import of_visible_repository

__all__ = ["Protection"]

register_constraint_messages(
    {"protected_branches_repository_id_pattern_key": "a protection rule for this pattern"}
)

_COLUMNS: Final = (
    "id, repository_id, pattern, required_approvals, required_status_contexts, land_min_role, "
    "dismiss_stale_approvals, created_at, updated_at"
)
Approvals = Annotated[int, Bounded(0, 100)]
Pattern = RefPattern
Contexts = Annotated[list[str], ListOf(Text(255, min_length=1, single_line=True, sample="ci"), 50)]


class Protection(Namespace[R]):
    """Protection rules (admin): approvals and status checks needed to land, and who may land."""

    @write
    def set(
        self,
        repository_id: Id,
        *,
        actor_id: Id,
        pattern: Pattern,
        required_approvals: Approvals = 0,
        required_status_contexts: Contexts | None = None,
        land_min_role: Literal["write", "admin"] = "write",
        dismiss_stale_approvals: Flag = False,
    ) -> Query[ProtectionRule]:
        """Create or replace the rule for ``pattern`` (admin).

        ``dismiss_stale_approvals``: when a change is rewritten, approvals of its older commits
        are dismissed (they never count either way).
        """
        return Query(
            f"""
            WITH guard AS ({guard("admin")})
            INSERT INTO protected_branches (repository_id, pattern, required_approvals,
                                            required_status_contexts, land_min_role,
                                            dismiss_stale_approvals)
            SELECT id, %(pattern)s, %(approvals)s, %(contexts)s, %(role)s, %(dismiss)s FROM guard
            ON CONFLICT (repository_id, pattern) DO UPDATE SET
                required_approvals = EXCLUDED.required_approvals,
                required_status_contexts = EXCLUDED.required_status_contexts,
                land_min_role = EXCLUDED.land_min_role,
                dismiss_stale_approvals = EXCLUDED.dismiss_stale_approvals
            RETURNING {_COLUMNS}
            """,
            {
                "repository_id": repository_id,
                "actor_id": actor_id,
                "pattern": pattern,
                "approvals": required_approvals,
                "contexts": required_status_contexts or [],
                "role": land_min_role,
                "dismiss": dismiss_stale_approvals,
            },
            one(ProtectionRule, f"repository {repository_id} not found"),
        )

    @write
    def delete(self, repository_id: Id, *, actor_id: Id, pattern: Pattern) -> Query[bool]:
        """Remove the rule for ``pattern`` (admin); ``False`` if there was none."""
        return Query(
            f"""
            WITH guard AS ({guard("admin")})
            DELETE FROM protected_branches p USING guard
            WHERE p.repository_id = guard.id AND p.pattern = %(pattern)s AND {gate()}
            """,
            {"repository_id": repository_id, "actor_id": actor_id, "pattern": pattern},
            affected,
        )

    @read
    def list(
        self, repository_id: Id, *, viewer_id: Id | None = None
    ) -> Query[builtins.list[ProtectionRule]]:
        """Every protection rule of a visible repository, by pattern."""
        return Query(
            of_visible_repository("protected_branches", _COLUMNS, "pattern"),
            {"repository_id": repository_id, "viewer_id": viewer_id},
            many(ProtectionRule),
        )

    @read
    def for_bookmark(
        self, repository_id: Id, name: RefName, *, viewer_id: Id | None = None
    ) -> Query[builtins.list[ProtectionRule]]:
        """The protection rules whose pattern matches bookmark ``name``."""
        return Query(
            of_visible_repository(
                "protected_branches",
                _COLUMNS,
                "pattern",
                "branch_pattern_matches(pattern, %(name)s)",
            ),
            {"repository_id": repository_id, "name": name, "viewer_id": viewer_id},
            many(ProtectionRule),
        )
