"""Drift: what the reconciler found where the rows and the real objects disagree.

One row per finding (its kind and the object it is about), open while the reconciler
keeps finding it and closed (``resolved_at``) once it no longer does: an operator sees what
is wrong now and since when, and what was repaired. Kinds:

- ``orphan_domain``: a domain on a host that no server row there accounts for;
- ``orphan_disk``: a server disk in Ceph that no server row accounts for;
- ``orphan_volume``: a volume image in Ceph that no volume row accounts for;
- ``orphan_network``: a network's devices on a host that no network row accounts for;
- ``orphan_bridge``: a bridge named as a network's would be that no network row accounts
  for (made by hand, or left by a driver that lost its records);
- ``missing_disk`` (repaired): a server whose root disk vanished, put in ERROR;
- ``missing_volume`` (repaired): a volume whose image vanished, put in ``error``.

Orphans are reported, never deleted: something made behind Nimbus's back may be someone's.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nimbus.db import Base, utcnow

ORPHAN_DOMAIN, ORPHAN_DISK, ORPHAN_VOLUME = "orphan_domain", "orphan_disk", "orphan_volume"
ORPHAN_NETWORK, ORPHAN_BRIDGE = "orphan_network", "orphan_bridge"
MISSING_DISK, MISSING_VOLUME = "missing_disk", "missing_volume"
KINDS = (
    ORPHAN_DOMAIN,
    ORPHAN_DISK,
    ORPHAN_VOLUME,
    ORPHAN_NETWORK,
    ORPHAN_BRIDGE,
    MISSING_DISK,
    MISSING_VOLUME,
)


class Drift(Base):
    __tablename__ = "drift"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    #: What it is about: a domain's name, an image's ``pool/name``, a row's id.
    subject: Mapped[str] = mapped_column(String(255))
    #: The host it is on (domains and network devices), else empty.
    host: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    #: Whether the reconciler repaired the row (a finding that needs no operator).
    repaired: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    __table_args__ = (UniqueConstraint("kind", "subject", "host", "first_seen"),)
