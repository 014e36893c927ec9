"""What the metadata service tells a server about itself, in Nova's two dialects.

The OpenStack documents are the config drive's (``nimbus.configdrive``), so a guest reads
the same ``meta_data.json`` from either. The EC2-style tree (``latest/meta-data/...``) is
Nova's: a directory lists its entries one a line, sub-directories with a trailing ``/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.compute import decode_user_data
from activities.records import public_keys
from api import deps
from api.metadata.lookup import Asker, flavor_name, floating_ip, group_names, server_ports
from nimbus.configdrive import ConfigDrive, meta_data, network_data_json
from nimbus.db_paas import Instance, ServiceInstance
from paas.services import database_server_vendor_data, vcap_services, vendor_data
from workflows.server import hostname

#: The OpenStack metadata versions Nova lists; each serves the same documents here.
OPENSTACK_VERSIONS = (
    "2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
    "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14", "latest",
)  # fmt: skip
#: The EC2 metadata versions Nova lists.
EC2_VERSIONS = (
    "1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
    "2008-02-01", "2008-09-01", "2009-04-04", "latest",
)  # fmt: skip

#: An EC2 directory: names to leaves (text) or further directories.
Tree = dict[str, Any]


@dataclass(frozen=True)
class _Link:
    mac: str
    mtu: int


def user_data(asker: Asker) -> bytes | None:
    """The server's user data as it was given, or ``None``."""
    return decode_user_data(asker.server.user_data)


def drive(s: Session, asker: Asker) -> ConfigDrive:
    """The same facts the server's config drive holds, read from the database."""
    server = asker.server
    links = [_Link(port.mac_address, mtu) for port, mtu in server_ports(s, server.id)]
    return ConfigDrive(
        uuid=server.id,
        name=server.name,
        hostname=hostname(server.name),
        project_id=server.project_id,
        metadata=dict(server.metadata_ or {}),
        user_data=user_data(asker),
        network_data=network_data_json(links),
        public_keys=public_keys(server),
    )


def openstack_document(s: Session, asker: Asker, name: str) -> dict[str, Any] | None:
    """``meta_data.json``, ``network_data.json`` or a vendor document; ``None`` if unknown."""
    if name == "meta_data.json":
        return meta_data(drive(s, asker))
    if name == "network_data.json":
        return drive(s, asker).network_data
    if name == "vendor_data2.json":
        return paas_vendor_data(s, asker)
    if name == "vendor_data.json":
        return {}
    return None


def paas_vendor_data(s: Session, asker: Asker) -> dict[str, Any]:
    """An app instance's ``VCAP_SERVICES`` (its app's bound services and their
    credentials, read now), or a database service's server's password, under Nimbus's
    key; ``{}`` for any other server."""
    app_id = s.scalar(select(Instance.app_id).where(Instance.server_id == asker.server.id))
    if app_id is not None:
        return vendor_data(vcap_services(s, app_id, deps.settings().region))
    service = database_service(s, asker)
    return database_server_vendor_data(service) if service is not None else {}


def database_service(s: Session, asker: Asker) -> ServiceInstance | None:
    """The database service whose server is asking. The server's metadata names it, which
    its owner can edit: so the service must also name this server as its own."""
    service_id = (asker.server.metadata_ or {}).get("nimbus-service-id")
    service = s.get(ServiceInstance, service_id) if isinstance(service_id, str) else None
    if service is None or service.project_id != asker.server.project_id:
        return None
    return service if (service.resources or {}).get("server_id") == asker.server.id else None


def openstack_listing(asker: Asker) -> list[str]:
    names = ["meta_data.json", "password", "vendor_data.json", "network_data.json"]
    names.append("vendor_data2.json")
    if asker.server.user_data:
        names.append("user_data")
    return names


def ec2_tree(s: Session, asker: Asker) -> Tree:
    """The ``meta-data/`` tree, as Nova's EC2 metadata has it."""
    server = asker.server
    name = hostname(server.name)
    tree: Tree = {
        "ami-id": f"ami-{server.image_id[:8]}" if server.image_id else "",
        "ami-launch-index": "0",
        "block-device-mapping": {"ami": "vda", "root": "/dev/vda"},
        "hostname": name,
        "instance-action": "none",
        "instance-id": f"i-{server.id[:8]}",
        "instance-type": flavor_name(s, server),
        "local-hostname": name,
        "local-ipv4": asker.fixed_ip,
        "placement": {"availability-zone": "nova"},
        "public-hostname": name,
        "public-ipv4": floating_ip(s, asker.port.id, asker.fixed_ip),
        "reservation-id": server.reservation_id or "",
        "security-groups": "\n".join(group_names(s, asker.port)),
    }
    keys = public_keys(server)
    if keys:
        tree["public-keys"] = {
            str(index): {"openssh-key": key} for index, key in enumerate(keys.values())
        }
    return tree


def ec2_listing(folder: Tree, path: list[str], keys: dict[str, str]) -> str:
    """A directory's entries; ``public-keys/`` lists ``<index>=<key name>`` as Nova does."""
    if path == ["public-keys"]:
        return "\n".join(f"{index}={name}" for index, name in enumerate(keys))
    return "\n".join(f"{key}/" if isinstance(value, dict) else key for key, value in folder.items())


def json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()
