"""The audit trail: one row per state-changing API request.

Who (user and project of the token, or none), what (method, route, path and the resource it
named or created), when, how it ended (status code) and the workflows it started, so an
operator can go from a request to its history in the Temporal UI. Request bodies are never
kept: they can hold passwords and user data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nimbus.db import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    user_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    method: Mapped[str] = mapped_column(String(8))
    route: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1024))
    resource_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[int] = mapped_column(Integer)
    workflow_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    remote_addr: Mapped[str | None] = mapped_column(String(64), nullable=True)
