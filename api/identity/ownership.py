"""What a project owns, found in every table that records an owner, so that a table added
later is covered without a change here.

A project is deleted only when it owns no live resource: deleting it would otherwise leave
servers, volumes, images or networks that no one can reach, with their infrastructure
still running. Its ``default`` security group, made for it automatically, is the one
exception: it goes with the project unless another project's rule points at it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, delete, func, select, update
from sqlalchemy.orm import Session

from nimbus.db import Base, Project, RoleAssignment, Token, User
from nimbus.db_credentials import ApplicationCredential
from nimbus.db_network import SecurityGroup, SecurityGroupRule
from nimbus.errors import Conflict

#: Identity's own tables: what they hold about a project is removed with it.
_IDENTITY = {"domains", "projects", "users", "roles", "role_assignments", "tokens"}
_IDENTITY |= {"application_credentials"}
#: Settings of the project, removed with it too: its quota limits and quota lock.
_SETTINGS = {"quotas", "quota_locks"}
#: History, kept after the project is gone: the audit trail.
_HISTORY = {"audit_events"}
#: Columns naming a row's owning project (images call it ``owner``).
_OWNER_COLUMNS = ("project_id", "owner")


def _default_group(s: Session, project_id: str) -> str | None:
    query = select(SecurityGroup.id).where(SecurityGroup.default_for == project_id)
    return s.scalars(query).first()


def _owned(table: Table, project_id: str, default_group: str | None) -> ColumnElement[bool] | None:
    """Rows of ``table`` the project owns and that are live; None if it records no owner."""
    column = next((table.c[name] for name in _OWNER_COLUMNS if name in table.c), None)
    if column is None or table.name in _IDENTITY | _SETTINGS | _HISTORY:
        return None
    clauses = [column == project_id]
    if "deleted_at" in table.c:
        clauses.append(table.c.deleted_at.is_(None))
    if table.name == SecurityGroup.__tablename__:
        clauses.append(table.c.default_for.is_(None))
    if table.name == SecurityGroupRule.__tablename__ and default_group is not None:
        clauses.append(table.c.security_group_id != default_group)
    return and_(*clauses)


def owned_resources(s: Session, project_id: str) -> dict[str, int]:
    """Live rows per table that keep the project from being deleted (empty: none)."""
    default_group = _default_group(s, project_id)
    counts: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        owned = _owned(table, project_id, default_group)
        if owned is not None:
            count = s.scalar(select(func.count()).select_from(table).where(owned)) or 0
            if count:
                counts[table.name] = count
    if default_group is not None:
        pointing = select(func.count()).where(
            SecurityGroupRule.remote_group_id == default_group,
            SecurityGroupRule.project_id != project_id,
        )
        if count := s.scalar(pointing) or 0:
            counts["security_group_rules of other projects using its default group"] = count
    return counts


def delete_project_rows(s: Session, project_id: str) -> None:
    """Remove the project with its default security group, quotas, role assignments and tokens;
    users whose default project it was keep no reference to it."""
    default_group = _default_group(s, project_id)
    if default_group is not None:
        rules = SecurityGroupRule.security_group_id == default_group
        s.execute(delete(SecurityGroupRule).where(rules))
        s.execute(delete(SecurityGroup).where(SecurityGroup.id == default_group))
    for table in Base.metadata.sorted_tables:
        if table.name in _SETTINGS:
            s.execute(delete(table).where(table.c.project_id == project_id))
    s.execute(delete(RoleAssignment).where(RoleAssignment.project_id == project_id))
    s.execute(delete(Token).where(Token.project_id == project_id))
    s.execute(delete(ApplicationCredential).where(ApplicationCredential.project_id == project_id))
    orphaned = update(User).where(User.default_project_id == project_id)
    s.execute(orphaned.values(default_project_id=None))
    s.execute(delete(Project).where(Project.id == project_id))


def user_references(s: Session, user_id: str) -> dict[str, int]:
    """Rows of other services' tables that point at the user by foreign key; the database
    refuses to delete a user they still name, so the API answers 409 first."""
    counts: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in _IDENTITY:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == User.__tablename__:
                query = select(func.count()).select_from(table).where(fk.parent == user_id)
                if count := s.scalar(query) or 0:
                    counts[table.name] = count
    return counts


def refuse_while(held: dict[str, int], what: str) -> None:
    """409 naming each table's rows that keep something from being deleted, if any."""
    if held:
        listed = ", ".join(f"{table} ({count})" for table, count in sorted(held.items()))
        raise Conflict(f"{what}: {listed}.")
