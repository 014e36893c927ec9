"""First-run state: roles, the admin project and user, flavors, the default image, and
the ``clouds.yaml`` the OpenStack clients read. Safe to run again: it only adds what is
missing and never resets what an operator changed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from nimbus.config import Settings
from nimbus.db import Database, Flavor, Image, Project, Role, RoleAssignment, User
from nimbus.passwords import hash_password

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
        roles = _ensure_roles(s)
        project = _get_or_add_project(s, project_name)
        user = s.scalars(select(User).where(User.name == name)).first()
        new_password = None
        if user is None or password is not None:
            new_password = password or secrets.token_urlsafe(18)
        if user is None:
            user = User(name=name, password_hash="", default_project_id=project.id)
            s.add(user)
        if new_password is not None:
            user.password_hash = hash_password(new_password)
        s.flush()
        if s.get(RoleAssignment, (user.id, project.id, roles[role].id)) is None:
            s.add(RoleAssignment(user_id=user.id, project_id=project.id, role_id=roles[role].id))
        return user, project, new_password


def ensure_flavors(db: Database) -> None:
    with db.session() as s:
        for fid, name, vcpus, ram, disk in FLAVORS:
            if s.get(Flavor, fid) is None:
                s.add(Flavor(id=fid, name=name, vcpus=vcpus, ram=ram, disk=disk))


def _digests(path: Path) -> tuple[str, str]:
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def ensure_default_image(db: Database, settings: Settings, source: Path, owner: str) -> str:
    """Register the built guest image as the public default image; return its id."""
    with db.session() as s:
        image = s.scalars(select(Image).where(Image.name == DEFAULT_IMAGE)).first()
        if image is not None and image.location and Path(image.location).exists():
            return image.id
        image = image or Image(name=DEFAULT_IMAGE, owner=owner, visibility="public")
        s.add(image)
        s.flush()
        settings.images_dir.mkdir(parents=True, exist_ok=True)
        target = settings.images_dir / f"{image.id}.raw"
        if not target.exists():
            _copy(source, target)
        md5, sha = _digests(target)
        size = target.stat().st_size
        image.status, image.disk_format, image.container_format = "active", "raw", "bare"
        image.size = image.virtual_size = size
        image.checksum, image.os_hash_algo, image.os_hash_value = md5, "sha256", sha
        image.location = str(target)
        return image.id


def _copy(source: Path, target: Path) -> None:
    tmp = target.with_suffix(".part")
    with open(source, "rb") as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    tmp.rename(target)


def clouds_yaml_path(settings: Settings) -> Path:
    return settings.data_dir / "clouds.yaml"


def write_clouds_yaml(settings: Settings, creds: AdminCredentials) -> Path:
    """The admin's client configuration (cloud ``nimbus``), readable by root only."""
    config = {
        "clouds": {
            "nimbus": {
                "auth": {
                    "auth_url": settings.public_url + "/identity/v3",
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
        }
    }
    path = clouds_yaml_path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.chmod(0o600)
    tmp.rename(path)
    return path


def bootstrap(db: Database, settings: Settings, guest_image: Path) -> AdminCredentials | None:
    """Create what is missing; return new admin credentials if clouds.yaml must be written.

    Without a clouds.yaml the admin's password is unknown, so it is reset and written anew.
    """
    db.create_schema()
    ensure_flavors(db)
    reset = None if clouds_yaml_path(settings).exists() else secrets.token_urlsafe(18)
    user, project, password = ensure_user(db, "admin", "admin", "admin", reset)
    ensure_default_image(db, settings, guest_image, project.id)
    if password is None:
        return None
    return AdminCredentials(user.name, password, project.name, project.id)
