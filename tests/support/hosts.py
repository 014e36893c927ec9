"""More compute hosts beside a test stack's own: each a worker of its own over fake
drivers (its own hypervisor and network driver; the stack's block and object stores,
which every host shares as it shares Ceph)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from sqlalchemy import select, update
from temporalio.worker import Interceptor

from activities.hypervisor.fake import FakeHypervisor
from activities.network.fake import FakeNetworkDriver
from launcher.drivers import HostDrivers
from nimbus.db import Host, utcnow
from nimbus.scheduler import HOST_ALIVE_SECONDS
from tests.conftest import FAKE_CEPH
from tests.support.stack import Stack, WorkerThread


@dataclass
class Hosts:
    """The hosts by name: each one's fake hypervisor, and its worker while it runs."""

    stack: Stack
    hypervisors: dict[str, FakeHypervisor] = field(default_factory=dict)
    workers: dict[str, WorkerThread] = field(default_factory=dict)
    interceptors: Sequence[Interceptor] = ()

    def kill(self, name: str) -> None:
        """Stop the host's worker and make its last heartbeat old enough for the host
        to be down, as if it had failed a while ago (its domains stay, as a failed
        host's would until it is fenced)."""
        self.workers.pop(name).stop()
        old = utcnow() - dt.timedelta(seconds=HOST_ALIVE_SECONDS * 2)
        with self.stack.db.session() as s:
            s.execute(update(Host).where(Host.name == name).values(heartbeat_at=old))

    def start(self, name: str) -> None:
        """Start (or start again) the worker of one of the extra hosts."""
        drivers = HostDrivers(
            self.hypervisors[name],
            self.stack.drivers.store,
            FakeNetworkDriver(),
            self.stack.drivers.object_store,
        )
        settings = replace(self.stack.settings, host_name=name)
        self.workers[name] = WorkerThread(settings, drivers, self.interceptors).start()


@contextmanager
def more_hosts(
    stack: Stack,
    names: tuple[str, ...],
    per_host: int,
    interceptors: Sequence[Interceptor] = (),
) -> Iterator[Hosts]:
    """The stack's host and ``names`` besides, each placing ``per_host`` one-vCPU
    servers whatever this machine's CPU count; registered before it yields. Every
    worker (the stack's too) runs with ``interceptors``."""
    ratio = per_host / (os.cpu_count() or 1)
    stack.settings = replace(stack.settings, cpu_allocation_ratio=ratio)
    stack.restart_worker(interceptors)
    hosts = Hosts(stack, {stack.settings.host_name: stack.hypervisor}, {}, interceptors)
    for name in names:
        hosts.hypervisors[name] = FakeHypervisor(ceph=FAKE_CEPH)
        hosts.start(name)
    everyone = (stack.settings.host_name, *names)
    deadline = time.monotonic() + 30
    while not _registered(stack, everyone, ratio):
        assert time.monotonic() < deadline, "the hosts never registered"
        time.sleep(0.05)
    try:
        yield hosts
    finally:
        for worker in hosts.workers.values():
            worker.stop()


def _registered(stack: Stack, names: tuple[str, ...], ratio: float) -> bool:
    with stack.db.session() as s:
        rows = s.scalars(select(Host).where(Host.name.in_(names))).all()
        return len(rows) == len(names) and all(h.cpu_allocation_ratio == ratio for h in rows)
