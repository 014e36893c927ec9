"""Compute tables beside the servers: the key pairs of each user (Nova's ``key_pairs``).

A key pair belongs to a user, not a project, and changes no infrastructure: the public
key is copied onto each server created with it (``servers.key_data``), so deleting the
key pair later leaves running servers as they are, as in Nova.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nimbus.db import Base, utcnow


class KeyPair(Base):
    __tablename__ = "key_pairs"
    #: An integer, as Nova's is (clients type it so).
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16), default="ssh")
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("user_id", "name"),)
