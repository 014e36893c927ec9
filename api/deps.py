"""Access to the app's shared objects from inside a request."""

from __future__ import annotations

from flask import current_app

from activities.storage.block import BlockStore
from api.bridge import TemporalBridge
from nimbus.config import Settings
from nimbus.db import Database


def settings() -> Settings:
    value: Settings = current_app.extensions["nimbus"]["settings"]
    return value


def db() -> Database:
    value: Database = current_app.extensions["nimbus"]["db"]
    return value


def bridge() -> TemporalBridge:
    value: TemporalBridge = current_app.extensions["nimbus"]["bridge"]
    return value


def block_store() -> BlockStore:
    value: BlockStore = current_app.extensions["nimbus"]["block_store"]
    return value
