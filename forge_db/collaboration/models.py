"""Models of the collaboration domain: notifications, starred repositories, messages."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from ..repositories.models import Repository

__all__ = ["EMOJI", "Emoji", "Message", "Notification", "StarredRepository", "WatchLevel"]

Emoji = Literal["+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"]
EMOJI: Final = ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")
WatchLevel = Literal["watching", "participating", "ignoring"]


class Notification(BaseModel):
    """Something that happened that a user should know about, and why they were told."""

    model_config = ConfigDict(frozen=True)

    id: int
    repository_id: int
    repository: str
    issue_number: int | None
    issue_title: str | None
    comment_id: int | None
    landing_number: int | None
    pull_request_number: int | None
    actor: str | None
    reason: str
    read_at: datetime | None
    created_at: datetime


class StarredRepository(Repository):
    """A starred repository and when it was starred."""

    starred_at: datetime


class Message(BaseModel):
    """A direct message."""

    model_config = ConfigDict(frozen=True)

    id: int
    sender_id: int
    recipient_id: int
    body: str
    read_at: datetime | None
    created_at: datetime
