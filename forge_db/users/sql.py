"""SQL shared by the users domain's namespaces."""

from __future__ import annotations

from typing import Final

__all__ = ["USER_COLUMNS", "user_columns"]

USER_COLUMNS: Final = "id, username, wallet_address, display_name, active, created_at, updated_at"


def user_columns(alias: str, prefix: str = "") -> str:
    """The User columns of table alias ``alias``, each renamed ``prefix + name``."""
    return ", ".join(f"{alias}.{c} AS {prefix}{c}" for c in USER_COLUMNS.split(", "))
