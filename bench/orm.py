"""The SQLAlchemy 2 ORM baseline, written the way its documentation teaches.

Declarative mapped classes over the forge's own tables, a ``Session`` per unit of work, eager
loading with ``selectinload``; the same semantics as the forge_db operations it is compared
with (visibility check, sliding session expiry, labels on create).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import (
    Column,
    ForeignKey,
    Table,
    and_,
    create_engine,
    func,
    select,
    tuple_,
)
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
)


class Base(DeclarativeBase):
    pass


issue_labels = Table(
    "issue_labels",
    Base.metadata,
    Column("repository_id", ForeignKey("repositories.id"), primary_key=True),
    Column("issue_id", ForeignKey("issues.id"), primary_key=True),
    Column("label_id", ForeignKey("labels.id"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str]
    wallet_address: Mapped[str | None]
    display_name: Mapped[str | None]
    active: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Repository(Base):
    __tablename__ = "repositories"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str]
    private: Mapped[bool]


class AuthSession(Base):
    __tablename__ = "auth_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_digest: Mapped[bytes]
    expires_at: Mapped[datetime]
    absolute_expires_at: Mapped[datetime]
    idle_timeout: Mapped[timedelta]
    last_seen_at: Mapped[datetime]
    user_agent: Mapped[str | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    user: Mapped[User] = relationship()


class Label(Base):
    __tablename__ = "labels"
    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"))
    name: Mapped[str]
    color: Mapped[str]


class IssueLabel(Base):
    __table__ = issue_labels


class Issue(Base):
    __tablename__ = "issues"
    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id"))
    number: Mapped[int]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str]
    body: Mapped[str]
    state: Mapped[str] = mapped_column(server_default="open")
    close_reason: Mapped[str | None]
    locked: Mapped[bool] = mapped_column(server_default="false")
    comment_count: Mapped[int] = mapped_column(server_default="0")
    milestone_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    closed_at: Mapped[datetime | None]
    author: Mapped[User | None] = relationship()
    labels: Mapped[list[Label]] = relationship(
        secondary=issue_labels, viewonly=True, order_by=Label.name
    )


class Reaction(Base):
    __tablename__ = "reactions"
    id: Mapped[int] = mapped_column(primary_key=True)
    repository_id: Mapped[int]
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id"))
    comment_id: Mapped[int | None]
    user_id: Mapped[int]
    emoji: Mapped[str]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def engine(url: str, pool_size: int = 8) -> Engine:
    """An engine on ``url`` (a libpq key=value string or URL), psycopg 3 driver."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    host = str(info.get("host") or "localhost")
    location = URL.create(
        "postgresql+psycopg",
        username=_text(info.get("user")),
        password=_text(info.get("password")),
        host=None if host.startswith("/") else host,
        port=int(str(info["port"])) if info.get("port") else None,
        database=_text(info.get("dbname")),
        query={"host": host} if host.startswith("/") else {},
    )
    return create_engine(location, pool_size=pool_size)


def session_lookup(engine: Engine, token: str) -> Any:
    """The live session for ``token`` with its user, sliding the expiry when due."""
    digest = hashlib.sha256(token.encode()).digest()
    with Session(engine) as session:
        found = session.scalars(
            select(AuthSession)
            .join(AuthSession.user)
            .options(selectinload(AuthSession.user))
            .where(
                AuthSession.token_digest == digest,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > func.now(),
                User.active,
            )
        ).one_or_none()
        if found is None:
            return None
        now = session.scalar(select(func.now()))
        assert now is not None
        if found.expires_at < now + found.idle_timeout / 2 or found.last_seen_at < now - timedelta(
            minutes=1
        ):
            found.expires_at = min(now + found.idle_timeout, found.absolute_expires_at)
            found.last_seen_at = now
            session.commit()
        return found, found.user


def get_issue(engine: Engine, repository_id: int, number: int, viewer: int | None) -> Any:
    """An issue with its labels and reaction counts, if the viewer may read its repository."""
    with Session(engine) as session:
        issue = session.scalars(
            select(Issue)
            .options(selectinload(Issue.labels), selectinload(Issue.author))
            .where(
                Issue.repository_id == repository_id,
                Issue.number == number,
                func.can_read_repository(repository_id, viewer),
            )
        ).one()
        counts = dict(
            session.execute(
                select(Reaction.emoji, func.count())
                .where(Reaction.repository_id == repository_id, Reaction.issue_id == issue.id)
                .group_by(Reaction.emoji)
            ).all()
        )
        return issue, counts


def create_issue(
    engine: Engine, repository_id: int, author_id: int, title: str, labels: list[str]
) -> Issue:
    """Open an issue with labels: the number from the same server function, in one transaction."""
    with Session(engine) as session, session.begin():
        chosen = session.scalars(
            select(Label).where(
                Label.repository_id == repository_id, func.lower(Label.name).in_(labels)
            )
        ).all()
        issue = Issue(
            repository_id=repository_id,
            number=select(func.get_next_issue_number(repository_id)).scalar_subquery(),
            author_id=author_id,
            title=title,
            body="",
        )
        session.add(issue)
        session.flush()
        session.add_all(
            IssueLabel(repository_id=repository_id, issue_id=issue.id, label_id=label.id)
            for label in chosen
        )
        return issue


def list_page(
    engine: Engine,
    repository_id: int,
    label: str,
    after: tuple[datetime, int] | None,
    viewer: int | None,
) -> list[Issue]:
    """50 open issues carrying ``label``, newest first, after a keyset position."""
    with Session(engine) as session:
        statement = (
            select(Issue)
            .options(selectinload(Issue.labels), selectinload(Issue.author))
            .where(
                Issue.repository_id == repository_id,
                Issue.state == "open",
                func.can_read_repository(repository_id, viewer),
                select(issue_labels)
                .join(Label, Label.id == issue_labels.c.label_id)
                .where(
                    and_(
                        issue_labels.c.repository_id == Issue.repository_id,
                        issue_labels.c.issue_id == Issue.id,
                        func.lower(Label.name) == label,
                    )
                )
                .exists(),
            )
            .order_by(Issue.created_at.desc(), Issue.id.desc())
            .limit(50)
        )
        if after is not None:
            statement = statement.where(tuple_(Issue.created_at, Issue.id) < tuple_(*after))
        return list(session.scalars(statement).all())
