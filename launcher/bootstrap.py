"""First-run state: roles, the admin project and user, flavors, the default image, and
the ``clouds.yaml`` the OpenStack clients read. Safe to run again: it only adds what is
missing and never resets what an operator changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from activities.storage.block import IMAGES, RbdRef
from nimbus import tokens
from nimbus.config import Settings
from nimbus.db import (
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    PAAS_USER,
    Database,
    Domain,
    Flavor,
    Image,
    Project,
    Role,
    RoleAssignment,
    Token,
    User,
)
from nimbus.passwords import hash_password
from nimbus.private import write_private

ROLES = ("admin", "member", "reader")

#: OpenStack's classic flavors: (id, name, vcpus, ram MiB, disk GiB).
FLAVORS = [
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
    ("5", "m1.xlarge", 8, 16384, 160),
]

DEFAULT_IMAGE = "nimbus-guest"

#: The service user the RADOS Gateway validates Swift tokens as. Keystone lets only
#: admins and services validate other users' tokens; Nimbus has no service role, so it
#: is an admin of its own ``service`` project.
RGW_USER, SERVICE_PROJECT = "rgw", "service"


@dataclass(frozen=True)
class AdminCredentials:
    username: str
    password: str
    project_name: str
    project_id: str


def _get_or_add_project(s: Session, name: str) -> Project:
    project = s.scalars(select(Project).where(Project.name == name)).first()
    if project is None:
        project = Project(name=name, description=f"{name} project")
        s.add(project)
        s.flush()
    return project


def _ensure_default_domain(s: Session) -> None:
    """Keystone's default domain, which every project and user made here belongs to."""
    if s.get(Domain, DEFAULT_DOMAIN_ID) is None:
        description = "The default domain"
        s.add(Domain(id=DEFAULT_DOMAIN_ID, name=DEFAULT_DOMAIN_NAME, description=description))
        s.flush()


def _ensure_roles(s: Session) -> dict[str, Role]:
    roles = {r.name: r for r in s.scalars(select(Role))}
    for name in ROLES:
        if name not in roles:
            roles[name] = Role(name=name)
            s.add(roles[name])
    s.flush()
    return roles


def ensure_user(
    db: Database, name: str, project_name: str, role: str, password: str | None = None
) -> tuple[User, Project, str | None]:
    """The user with ``role`` on the project; a new one (or a reset) returns its password."""
    with db.session() as s:
        _ensure_default_domain(s)
        roles = _ensure_roles(s)
        project = _get_or_add_project(s, project_name)
        user = s.scalars(select(User).where(User.name == name)).first()
        new_password = None
        if user is None or password is not None:
            new_password = password or tokens.cli_safe_secret(18)
        if user is None:
            user = User(name=name, password_hash="", default_project_id=project.id)
            s.add(user)
        if new_password is not None:
            user.password_hash = hash_password(new_password)
            # A new password ends a lockout (``api.identity.lockout.unlock``).
            user.failed_auth_count, user.failed_auth_at = 0, None
        s.flush()
        if s.get(RoleAssignment, (user.id, project.id, roles[role].id)) is None:
            s.add(RoleAssignment(user_id=user.id, project_id=project.id, role_id=roles[role].id))
        return user, project, new_password


def ensure_flavors(db: Database) -> None:
    """The classic flavors, on a first run only (no flavor yet): one an admin deleted
    stays deleted."""
    with db.session() as s:
        if s.scalars(select(Flavor.id)).first() is not None:
            return
        for fid, name, vcpus, ram, disk in FLAVORS:
            s.add(Flavor(id=fid, name=name, vcpus=vcpus, ram=ram, disk=disk))


def _stage(source: Path, staged: Path) -> tuple[int, str, str]:
    """Copy the image into the staging folder, hashing it on the way."""
    md5, sha, size = hashlib.md5(usedforsecurity=False), hashlib.sha256(), 0
    staged.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, open(staged, "wb") as dst:
        while chunk := src.read(1 << 20):
            md5.update(chunk)
            sha.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    return size, md5.hexdigest(), sha.hexdigest()


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def superseded_name(image: Image, name: str = DEFAULT_IMAGE) -> str:
    """The name an older built-in image keeps once a newer one takes its name."""
    return f"{name}-{image.created_at:%Y%m%d-%H%M%S}"


def _in_store(location: str | None) -> bool:
    """Whether the image's data is in the block store (older data directories kept it in a
    local file, which is imported again)."""
    try:
        return location is not None and RbdRef.parse(location).pool == IMAGES
    except ValueError:
        return False


def stage_default_image(
    db: Database, settings: Settings, source: Path, owner: str, name: str = DEFAULT_IMAGE
) -> str | None:
    """Register a public built-in image (the default guest; the PaaS runtime by ``name``)
    and stage its data for import.

    Returns the image id if it still needs importing (run ``ImportImage``), else ``None``.
    An import that failed earlier left the image queued: it is staged again; so is an image
    of an older data directory whose data is not in the block store. An active default
    image whose data differs from ``source`` (a newer guest was built) is renamed by
    ``superseded_name``, kept for the servers cloned from it, and ``source`` is registered
    under the default name.
    """
    with db.session() as s:
        image = s.scalars(
            select(Image).where(Image.name == name, Image.deleted_at.is_(None))
        ).first()
        if image is not None and image.status == "active" and _in_store(image.location):
            if image.os_hash_value == _sha256(source):
                return None
            image.name = superseded_name(image, name)
            image = None
        if image is None:
            image = Image(
                name=name,
                owner=owner,
                visibility="public",
                disk_format="raw",
                container_format="bare",
                tags=[],
                properties={},
            )
            s.add(image)
            s.flush()
        size, md5, sha = _stage(source, settings.staging_dir / image.id)
        image.status, image.size, image.checksum = "saving", size, md5
        image.os_hash_algo, image.os_hash_value = "sha256", sha
        return image.id


def clouds_yaml_path(settings: Settings) -> Path:
    return settings.data_dir / "clouds.yaml"


def _with_endpoint(settings: Settings, cloud: dict[str, Any]) -> dict[str, Any]:
    """A clouds.yaml cloud reaching this cloud's API: its URL, and with TLS the CA its
    certificate is checked against (``cacert``, which openstacksdk and the openstack CLI
    read)."""
    auth = {**cloud.get("auth", {}), "auth_url": settings.public_url + "/identity/v3"}
    cloud = {**cloud, "auth": auth}
    cloud.pop("cacert", None)
    return {**cloud, "cacert": str(settings.tls_ca_cert)} if settings.tls else cloud


def write_clouds_yaml(settings: Settings, creds: AdminCredentials) -> Path:
    """The admin's client configuration (cloud ``nimbus``), readable by root only."""
    cloud = {
        "auth": {
            "username": creds.username,
            "password": creds.password,
            "project_name": creds.project_name,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": settings.region,
        "identity_api_version": 3,
        "interface": "public",
    }
    config = {"clouds": {"nimbus": _with_endpoint(settings, cloud)}}
    return write_private(clouds_yaml_path(settings), yaml.safe_dump(config, sort_keys=False))


def refresh_clouds_yaml(settings: Settings) -> bool:
    """Point an existing clouds.yaml's cloud ``nimbus`` at the API as the settings have it
    now (TLS turned on or off, another port), keeping its credentials and the rest of the
    file; whether it changed."""
    path = clouds_yaml_path(settings)
    config = yaml.safe_load(path.read_text())
    cloud = config["clouds"]["nimbus"]
    wanted = _with_endpoint(settings, cloud)
    if wanted == cloud:
        return False
    config["clouds"]["nimbus"] = wanted
    write_private(path, yaml.safe_dump(config, sort_keys=False))
    return True


def rgw_password_path(settings: Settings) -> Path:
    """The gateway service user's password, readable by root only."""
    return settings.data_dir / "rgw-keystone.secret"


def _ensure_service_user(db: Database, name: str, role: str, path: Path) -> Path:
    """A service user of the service project; its password is made (or reset, if its
    file is gone) and written to ``path``, which is returned."""
    password = None if path.exists() else tokens.cli_safe_secret(24)
    ensure_user(db, name, SERVICE_PROJECT, role, password)
    if password is not None:
        write_private(path, password)
    return path


def ensure_rgw_user(db: Database, settings: Settings) -> Path:
    """The gateway's service user, its password in ``rgw_password_path``."""
    return _ensure_service_user(db, RGW_USER, "admin", rgw_password_path(settings))


def paas_password_path(settings: Settings) -> Path:
    """The PaaS service user's password, readable by root only."""
    return settings.data_dir / "paas-service.secret"


def ensure_paas_user(db: Database, settings: Settings) -> Path:
    """The PaaS layer's service user (apps' projects grant it ``member`` when their first
    app is made), its password in ``paas_password_path``."""
    return _ensure_service_user(db, PAAS_USER, "member", paas_password_path(settings))


#: How long the gateway's service token lives: it is replaced whenever the gateway starts.
SERVICE_TOKEN_DAYS = 3650


def rgw_token_path(settings: Settings) -> Path:
    """The gateway service user's token, readable by root only."""
    return settings.data_dir / "rgw-keystone.token"


def issue_rgw_token(db: Database, settings: Settings) -> Path:
    """A new token for the gateway's service user, written to ``rgw_token_path``; then the
    user's earlier tokens are revoked (the gateway reads the file on each use, so a running
    one moves to the new token).

    The gateway validates every Swift token with it (it keeps no token cache, so that a
    revoked token is refused at once): logging in instead would cost an argon2 check of
    the service password on every request."""
    with db.session() as s:
        user = s.scalars(select(User).where(User.name == RGW_USER)).one()
        project = s.scalars(select(Project).where(Project.name == SERVICE_PROJECT)).one()
        token, _ = tokens.issue(s, user.id, project.id, dt.timedelta(days=SERVICE_TOKEN_DAYS))
    write_private(rgw_token_path(settings), token)
    with db.session() as s:
        earlier = (Token.user_id == user.id) & (Token.token_hash != tokens.token_hash(token))
        s.execute(update(Token).where(earlier, Token.revoked.is_(False)).values(revoked=True))
    return rgw_token_path(settings)


def bootstrap(db: Database, settings: Settings) -> AdminCredentials | None:
    """Create what is missing; return new admin credentials if clouds.yaml must be written.

    Without a clouds.yaml the admin's password is unknown, so it is reset and written anew.
    """
    db.create_schema()
    ensure_flavors(db)
    reset = None if clouds_yaml_path(settings).exists() else tokens.cli_safe_secret(18)
    user, project, password = ensure_user(db, "admin", "admin", "admin", reset)
    if password is None:
        return None
    return AdminCredentials(user.name, password, project.name, project.id)


def admin_project_id(db: Database) -> str:
    with db.session() as s:
        return str(s.scalars(select(Project.id).where(Project.name == "admin")).one())
