"""Every workflow a worker runs."""

from __future__ import annotations

from workflows.image import DeleteImage, ImportImage
from workflows.server import SERVER_WORKFLOWS
from workflows.volume import VOLUME_WORKFLOWS

WORKFLOWS = [*SERVER_WORKFLOWS, ImportImage, DeleteImage, *VOLUME_WORKFLOWS]
