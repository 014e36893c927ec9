"""The one policy table: which role each action needs.

Roles imply one another (admin > member > reader), as in Keystone's default roles. Every
route calls ``authorize`` with its action name; later services add rows here.
"""

from __future__ import annotations

from api.context import RequestContext
from api.errors import Forbidden

READER, MEMBER, ADMIN = "reader", "member", "admin"
#: Any valid token, an unscoped one included: what a user may always do about itself.
ANYONE = "anyone"

_IMPLIED = {ADMIN: {ADMIN, MEMBER, READER}, MEMBER: {MEMBER, READER}, READER: {READER}}

RULES: dict[str, str] = {
    "compute:flavors:list": READER,
    "compute:flavors:show": READER,
    "compute:flavors:private": ADMIN,
    "compute:flavors:create": ADMIN,
    "compute:flavors:update": ADMIN,
    "compute:flavors:delete": ADMIN,
    "compute:flavor_extra_specs:list": READER,
    "compute:flavor_extra_specs:write": ADMIN,
    "compute:flavor_access:list": ADMIN,
    "compute:flavor_access:update": ADMIN,
    "compute:server_groups:list": READER,
    "compute:server_groups:show": READER,
    "compute:server_groups:create": MEMBER,
    "compute:server_groups:delete": MEMBER,
    "compute:server_groups:all_projects": ADMIN,
    "compute:availability_zones:list": READER,
    "compute:availability_zones:detail": ADMIN,
    "compute:services:list": ADMIN,
    "compute:services:update": ADMIN,
    "compute:services:delete": ADMIN,
    "compute:aggregates:list": ADMIN,
    "compute:hypervisors:list": ADMIN,
    "compute:hypervisors:show": ADMIN,
    "compute:keypairs:list": READER,
    "compute:keypairs:show": READER,
    "compute:keypairs:create": MEMBER,
    "compute:keypairs:delete": MEMBER,
    "compute:keypairs:other_users": ADMIN,
    "compute:servers:reboot": MEMBER,
    "compute:servers:rebuild": MEMBER,
    "compute:servers:resize": MEMBER,
    "compute:servers:migrate": ADMIN,
    "compute:servers:evacuate": ADMIN,
    "compute:migrations:list": ADMIN,
    "compute:servers:lock": MEMBER,
    "compute:servers:unlock_any": ADMIN,
    "compute:servers:list": READER,
    "compute:servers:show": READER,
    "compute:servers:console": MEMBER,
    "compute:servers:create": MEMBER,
    "compute:servers:update": MEMBER,
    "compute:servers:delete": MEMBER,
    "compute:servers:power": MEMBER,
    "compute:servers:crash_dump": MEMBER,
    "compute:servers:create_image": MEMBER,
    "compute:servers:all_projects": ADMIN,
    "compute:servers:show_host": ADMIN,
    "compute:servers:create:requested_destination": ADMIN,
    "compute:servers:show_host_status": ADMIN,
    "compute:servers:attach_volume": MEMBER,
    "compute:servers:detach_volume": MEMBER,
    "compute:servers:interfaces": MEMBER,
    "volume:list": READER,
    "volume:show": READER,
    "volume:create": MEMBER,
    "volume:update": MEMBER,
    "volume:extend": MEMBER,
    "volume:delete": MEMBER,
    "volume:force_delete": ADMIN,
    "volume:message_delete": MEMBER,
    "volume:attach": MEMBER,
    "volume:revert": MEMBER,
    "volume:transfer": MEMBER,
    "volume:transfer_accept": MEMBER,
    "volume:snapshot": MEMBER,
    "volume:all_projects": ADMIN,
    "volume:types": READER,
    "image:images:list": READER,
    "image:images:show": READER,
    "image:images:download": READER,
    "image:images:create": MEMBER,
    "image:images:update": MEMBER,
    "image:images:upload": MEMBER,
    "image:images:delete": MEMBER,
    "image:images:publicize": ADMIN,
    "image:images:all_projects": ADMIN,
    "identity:ec2_credentials:create": MEMBER,
    "identity:ec2_credentials:all_users": ADMIN,
    "identity:application_credentials:all_users": ADMIN,
    **{
        f"network:{kind}:{action}": READER if action in ("list", "show") else MEMBER
        for kind in (
            "networks",
            "subnets",
            "ports",
            "routers",
            "floatingips",
            "security_groups",
            "security_group_rules",
        )
        for action in ("list", "show", "create", "update", "delete")
    },
    "network:all_projects": ADMIN,
    "network:networks:shared": ADMIN,
    "network:networks:external": ADMIN,
    "network:networks:provider": ADMIN,
    "network:ports:network_device": ADMIN,
    "network:routers:gateway_options": ADMIN,
    "network:floatingips:address": ADMIN,
    "audit:events:list": ADMIN,
    # Operations: the workflow runs of a project's resources and their steps.
    "operations:list": READER,
    "operations:show": READER,
    "operations:step_errors": ADMIN,
    "operations:all_projects": ADMIN,
    # The PaaS layer: a reader looks, a member pushes and runs apps.
    "paas:apps:list": READER,
    "paas:apps:show": READER,
    "paas:apps:create": MEMBER,
    "paas:apps:update": MEMBER,
    "paas:apps:delete": MEMBER,
    "paas:apps:push": MEMBER,
    "paas:apps:scale": MEMBER,
    "paas:services:list": READER,
    "paas:services:show": READER,
    "paas:services:create": MEMBER,
    "paas:services:delete": MEMBER,
    "paas:all_projects": ADMIN,
    # Identity: administration is for admins; a user may see itself, its projects and its
    # own tokens, change its own password, and show the project its token is scoped to.
    **{
        f"identity:{kind}:{action}": ADMIN
        for kind, actions in (
            ("domains", ("list", "show", "create", "update", "delete")),
            ("projects", ("list", "show", "create", "update", "delete")),
            ("users", ("list", "show", "create", "update", "delete", "projects")),
            ("roles", ("list", "show", "create", "delete")),
            ("assignments", ("list", "check", "grant", "revoke")),
            ("services", ("list",)),
            ("tokens", ("any",)),
        )
        for action in actions
    },
    "identity:projects:show_own": READER,
    "identity:domains:show_own": READER,
    "identity:users:show_own": ANYONE,
    "identity:users:projects_own": ANYONE,
    "identity:users:password_own": ANYONE,
    "identity:tokens:own": ANYONE,
    "identity:auth:catalog": READER,
    "identity:auth:projects": ANYONE,
    "identity:regions:list": READER,
    # Quotas and limits, the same for compute, volume and network.
    "quota:show": READER,
    "quota:show_other": ADMIN,
    "quota:list": ADMIN,
    "quota:update": ADMIN,
    "quota:delete": ADMIN,
}


def effective_roles(roles: list[str]) -> set[str]:
    """The roles a caller holds, with the ones its roles imply."""
    held: set[str] = set()
    for role in roles:
        held |= _IMPLIED.get(role, {role})
    return held


def allowed(ctx: RequestContext, action: str) -> bool:
    return RULES[action] == ANYONE or RULES[action] in effective_roles(ctx.roles)


def authorize(ctx: RequestContext, action: str) -> None:
    """Raise ``Forbidden`` unless the caller's roles allow ``action``."""
    if not allowed(ctx, action):
        raise Forbidden(f"Policy doesn't allow {action} to be performed.")
