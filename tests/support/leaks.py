"""Looking for secrets where they must never be: log files and workflow histories.

A history's JSON holds every payload (an activity's input and result, a workflow's
arguments) base64-encoded, so a plain search of the JSON misses a secret in one:
``readable`` appends each payload decoded. ``secret_fields`` finds, in the decoded
payloads, fields whose name says they hold a secret and whose value is not empty.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from nimbus.config import Settings
from nimbus.db import Database
from nimbus.db_credentials import Ec2Credential
from nimbus.db_paas import ServiceInstance
from nimbus.temporal import connect

#: Shorter strings would be found by chance.
SHORTEST_SECRET = 8
#: Field names that say a secret is in them ("public_keys" is a key pair's public half).
_SECRET_NAME = re.compile(r"pass(word)?|secret|token|private_key|credential", re.IGNORECASE)
_NOT_SECRET = re.compile(r"(^|_)(id|ids|name|hash|expires_at|type)$|^public_keys$")


def _payload_datas(node: Any) -> Iterator[str]:
    """The ``data`` of every payload (an object with ``metadata`` and ``data``)."""
    if isinstance(node, dict):
        if isinstance(node.get("data"), str) and "metadata" in node:
            yield node["data"]
        for value in node.values():
            yield from _payload_datas(value)
    elif isinstance(node, list):
        for value in node:
            yield from _payload_datas(value)


def decoded_payloads(history_json: str) -> list[str]:
    """Each payload of a history (``WorkflowHistory.to_json()``), decoded to text."""
    texts = []
    for data in _payload_datas(json.loads(history_json)):
        try:
            texts.append(base64.b64decode(data, validate=True).decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            texts.append(data)
    return texts


def readable(history_json: str) -> str:
    """A history's JSON followed by its payloads decoded: what a search must look through
    (the Temporal UI shows the payloads decoded)."""
    return "\n".join([history_json, *decoded_payloads(history_json)])


def _fields(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{path}.{key}" if path else str(key), value
            yield from _fields(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for value in node:
            yield from _fields(value, path)


def secret_fields(history_json: str) -> list[str]:
    """``field = value`` for each field of a decoded payload whose name says it holds a
    secret (a password, a token, a key's secret half) and whose value is not empty."""
    found = []
    for text in decoded_payloads(history_json):
        try:
            payload = json.loads(text)
        except ValueError:
            continue
        for path, value in _fields(payload):
            name = path.rsplit(".", 1)[-1]
            if _SECRET_NAME.search(name) and not _NOT_SECRET.search(name) and value:
                found.append(f"{path} = {str(value)[:40]}")
    return found


def leaks(secrets: Mapping[str, str], texts: Mapping[str, str]) -> list[str]:
    """``"<secret> in <where>"`` for each known secret found in one of the texts."""
    short = [name for name, value in secrets.items() if len(value) < SHORTEST_SECRET]
    assert not short, f"too short to look for without false alarms: {short}"
    return [
        f"{name} in {where}"
        for name, value in secrets.items()
        for where, text in texts.items()
        if value in text
    ]


def log_texts(log_dir: Path) -> dict[str, str]:
    """Every log file of a folder (rotated ones too), by name."""
    return {
        path.name: path.read_text(errors="replace")
        for path in sorted(log_dir.rglob("*"))
        if path.is_file() and (".log" in path.name or ".jsonl" in path.name)
    }


async def histories(client: Any, query: str | None = None) -> dict[str, str]:
    """Every workflow run the query finds (all of them by default), ``readable``, by
    ``<workflow id> <run id>``."""
    found = {}
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        found[f"{execution.id} {execution.run_id}"] = readable(history.to_json())
    return found


def cloud_secrets(settings: Settings) -> dict[str, str]:
    """The secrets a started cloud holds: the admin's password, the service users'
    passwords and the gateway's token, every EC2 secret and every service's secret."""
    data = settings.data_dir
    auth = yaml.safe_load((data / "clouds.yaml").read_text())["clouds"]["nimbus"]["auth"]
    found = {"the admin's password": str(auth["password"])}
    for name in ("rgw-keystone.secret", "paas-service.secret", "rgw-keystone.token"):
        if (data / name).exists():
            found[name] = (data / name).read_text().strip()
    db = Database(settings.db_url)
    with db.session() as s:
        for cred in s.scalars(select(Ec2Credential)):
            found[f"the EC2 secret of {cred.access}"] = cred.secret
        for service in s.scalars(select(ServiceInstance)):
            for key in ("secret_access_key", "password"):
                if (service.credentials or {}).get(key):
                    found[f"the {key} of service {service.name}"] = service.credentials[key]
    db.engine.dispose()
    return found


async def _cloud_histories(settings: Settings) -> dict[str, str]:
    return await histories(await connect(settings))


def cloud_leaks(settings: Settings, more: Mapping[str, str] | None = None) -> list[str]:
    """Which of the cloud's secrets (and ``more``) its log files or the histories of the
    workflows it ran hold."""
    logs, runs = log_texts(settings.log_dir), asyncio.run(_cloud_histories(settings))
    assert logs and runs, "no log file or no workflow history to look through"
    return leaks({**cloud_secrets(settings), **(more or {})}, logs | runs)
