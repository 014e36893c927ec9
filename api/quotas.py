"""Quotas for the APIs: the check every create makes, and what the compute, volume and
network quota routes share (who may see or change which project's quota, body checks,
reads and writes). Each service only shapes its own answers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from api import deps
from api.context import RequestContext
from api.policy import authorize
from api.validation import digits, json_body, require_dict
from nimbus import quota
from nimbus.db import MAX_INT, Project
from nimbus.errors import InvalidSpec


def charge(s: Session, project_id: str, amounts: Mapping[str, int]) -> None:
    """Lock the project's quota and refuse ``amounts`` past its limits (``QuotaExceeded``):
    the first statement of a transaction that then inserts the new rows."""
    quota.claim(s, quota.Claim(project_id, amounts), deps.settings().quota_defaults)


def lock(s: Session, project_id: str) -> None:
    """Only the lock of ``charge``, for a transaction that learns its amounts later."""
    quota.lock(s, project_id)


def check(s: Session, project_id: str, amounts: Mapping[str, int]) -> None:
    """The check of ``charge``, for a transaction that already took the lock."""
    quota.check(s, quota.Claim(project_id, amounts), deps.settings().quota_defaults)


def may_see(ctx: RequestContext, project_id: str) -> None:
    """A reader sees its own project's quota; only an admin sees another's (403)."""
    authorize(ctx, "quota:show" if project_id == ctx.project_id else "quota:show_other")


def defaults(names: Iterable[str]) -> dict[str, int]:
    configured = deps.settings().quota_defaults
    return {name: configured[name] for name in names}


def limits(project_id: str, names: Iterable[str]) -> dict[str, int]:
    """The project's limit of each named resource."""
    with deps.db().session() as s:
        return quota.limits(s, project_id, deps.settings().quota_defaults, names)


def usage(project_id: str, names: Iterable[str]) -> dict[str, int]:
    """What the project uses of each named resource, counted now."""
    with deps.db().session() as s:
        return quota.usage(s, project_id, names)


def _limit_value(name: str, value: Any) -> int:
    """An integer (or a string of one) from -1 to 2**31-1, as Nova's schema takes it."""
    if isinstance(value, str) and digits(value.removeprefix("-")):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not -1 <= value <= MAX_INT:
        raise InvalidSpec(
            f"Invalid input for field/attribute {name}: {value!r} must be an integer"
            f" from -1 (unlimited) to {MAX_INT}."
        )
    return value


def _parse_update(
    spec: Mapping[str, Any], names: Iterable[str], flags: Iterable[str] = ()
) -> tuple[dict[str, int], dict[str, Any]]:
    """The limits a quota update sets, and the service's ``flags`` it carries (Nova's
    ``force``, Neutron's ``check_limit``); 400 for any other key or a bad value."""
    settable, allowed_flags = set(names), set(flags)
    unknown = set(spec) - settable - allowed_flags
    if unknown:
        raise InvalidSpec(
            f"Unknown or read-only quota {', '.join(sorted(unknown))}: this cloud sets"
            f" only {', '.join(sorted(settable))} here."
        )
    values = {k: _limit_value(k, v) for k, v in spec.items() if k in settable}
    return values, {k: v for k, v in spec.items() if k in allowed_flags}


def update(
    ctx: RequestContext,
    project_id: str,
    key: str,
    names: Iterable[str],
    flags: Iterable[str],
    forced: Callable[[Mapping[str, Any]], bool],
) -> None:
    """Set a project's own limits from the request body ``{key: {...}}`` (admin); 400 for
    a bad body or a project that does not exist. The role is checked before the body is
    read, so a refused caller gets 403 whatever it sent. ``forced`` tells from the
    service's flags whether a limit below the usage is taken."""
    authorize(ctx, "quota:update")
    spec = require_dict(json_body(), key, key)
    values, given = _parse_update(spec, names, flags)
    force = forced(given)
    with deps.db().session() as s:
        if s.get(Project, project_id) is None:
            raise InvalidSpec(f"Project ID {project_id} is not a valid project.")
    with deps.db().session() as s:
        quota.update(s, project_id, values, force)


def revert(ctx: RequestContext, project_id: str, names: Iterable[str]) -> None:
    """Forget a project's own limits of ``names`` (admin): the defaults apply again."""
    authorize(ctx, "quota:delete")
    with deps.db().session() as s:
        quota.reset(s, project_id, names)


def projects_with_limits(names: Iterable[str]) -> list[str]:
    with deps.db().session() as s:
        return quota.projects_with_limits(s, names)
