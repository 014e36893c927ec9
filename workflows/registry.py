"""Every workflow a worker runs."""

from __future__ import annotations

from workflows.app_delete import DeleteApp
from workflows.app_stage import EnsureSpace, StageApp
from workflows.app_supervisor import AppSupervisor
from workflows.ec2_credential import EC2_CREDENTIAL_WORKFLOWS
from workflows.hostsync import SyncHostNetworks
from workflows.image import CreateServerImage, DeleteImage, ImportImage
from workflows.network import NETWORK_WORKFLOWS
from workflows.paas_service import SERVICE_WORKFLOWS
from workflows.reconcile import ReconcileCloud
from workflows.router import ROUTER_WORKFLOWS
from workflows.server import SERVER_WORKFLOWS
from workflows.server_interface import INTERFACE_WORKFLOWS
from workflows.server_lock import LockServer
from workflows.server_move import MOVE_WORKFLOWS
from workflows.server_reboot import RebootServer
from workflows.server_rebuild import RebuildServer
from workflows.server_resize import ConfirmResize, ResizeServer, RevertResize
from workflows.server_state import ChangeServerState
from workflows.server_volume import BootVolumeServer
from workflows.server_volume_actions import (
    RebuildVolumeServer,
    ResizeVolumeServer,
    RevertVolumeResize,
)
from workflows.volume import VOLUME_WORKFLOWS

WORKFLOWS = [
    *SERVER_WORKFLOWS,
    BootVolumeServer,
    *INTERFACE_WORKFLOWS,
    RebootServer,
    RebuildServer,
    ResizeServer,
    ConfirmResize,
    RevertResize,
    RebuildVolumeServer,
    ResizeVolumeServer,
    RevertVolumeResize,
    *MOVE_WORKFLOWS,
    LockServer,
    ChangeServerState,
    ImportImage,
    DeleteImage,
    CreateServerImage,
    *VOLUME_WORKFLOWS,
    *NETWORK_WORKFLOWS,
    *ROUTER_WORKFLOWS,
    SyncHostNetworks,
    ReconcileCloud,
    *EC2_CREDENTIAL_WORKFLOWS,
    StageApp,
    EnsureSpace,
    AppSupervisor,
    DeleteApp,
    *SERVICE_WORKFLOWS,
]
