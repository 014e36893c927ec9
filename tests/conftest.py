"""Shared fixtures: a real Temporal server, the guest image (built once a session), a
running libvirtd, a throw-away Ceph cluster, each test's database, and settings for a
control plane over the fake drivers.
"""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from argon2 import PasswordHasher

from activities.hypervisor.base import CephAccess
from activities.hypervisor.fake import FakeHypervisor
from activities.network.fake import FakeNetworkDriver
from activities.objectstore.fake import FakeObjectStoreAdmin
from activities.storage.fake_block import FakeBlockStore
from launcher.drivers import HostDrivers
from launcher.services.libvirtd import LibvirtdHandle, ensure_libvirtd, stop_libvirtd
from nimbus import passwords
from nimbus.config import Settings
from nimbus.exit import exit_now
from nimbus.guestimage import build_guest_image
from tests.support import routes, sqlcache
from tests.support.postgres import PostgresCluster, database_for, postgres_cluster
from tests.support.stack import Stack, make_stack
from tests.support.temporal_server import temporal_dev_server

if TYPE_CHECKING:
    from launcher.services.ceph import CephHandle
    from launcher.services.rgw import GatewayHandle


_exit_status = 0

#: The databases the tests run on: ``NIMBUS_TEST_DATABASE`` names one or both, comma
#: separated. ``postgresql`` gives every test that would use a SQLite file in its folder a
#: database of a throw-away PostgreSQL server instead. With both (``make test``), the
#: suites in ``BOTH_DATABASES`` run twice, a module at a time on each; the others on the
#: first named.
TEST_DATABASES = os.environ.get("NIMBUS_TEST_DATABASE", "sqlite").split(",")
if not TEST_DATABASES or set(TEST_DATABASES) - {"sqlite", "postgresql"}:
    raise pytest.UsageError(
        "NIMBUS_TEST_DATABASE is sqlite, postgresql or both (comma separated),"
        f" not {os.environ['NIMBUS_TEST_DATABASE']}"
    )
BOTH_DATABASES = ("tests/unit/", "tests/api/", "tests/workflows/")

#: Real argon2id at its lowest cost for the users every stack seeds and logs in: at the
#: cloud's cost, hashing and checking them took minutes of the suite. tests/unit/
#: test_passwords.py shows the cloud itself hashes at the strong cost.
passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

#: Each test's stack makes an app: its routes' URL builders are made once per process.
routes.install()
sqlcache.install()


#: Seconds of setup, call and teardown each pytest-xdist worker (or this process) spent,
#: and the tests of real components and over fakes spent.
_worker_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    node = getattr(report, "node", None)
    worker = node.gateway.id if node is not None else "main"
    kind = "real components" if report.nodeid.startswith(REAL_COMPONENT_TESTS) else "fakes"
    for key in (worker, kind):
        _worker_seconds[key] = _worker_seconds.get(key, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures campaigns recorded (``record_property("campaign", line)``): the
    crash matrix's cases, for one, in every run's output, CI's included. Then the time
    each worker spent in tests, and the tests of real components (one worker runs them
    all, one at a time) against those over fakes."""
    terminalreporter.section("time in tests per worker")
    for worker, seconds in sorted(_worker_seconds.items()):
        terminalreporter.write_line(f"{worker}: {seconds / 60:.1f} min")
    lines = [
        f"{report.nodeid}: {value}"
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "campaign"
    ]
    if lines:
        terminalreporter.section("campaign figures")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


#: The folders whose tests drive this host's real components (libvirtd, Ceph, namespaces,
#: bridges, nftables, the whole cloud): under pytest-xdist they all run in one worker, one
#: at a time, as they would without it, while the other workers take the tests over fakes.
REAL_COMPONENT_TESTS = ("tests/integration/", "tests/e2e/")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's scheduler by test file, except that every test of a real component
    is one unit of work: the largest, so it starts first, in a worker of its own."""
    from xdist.scheduler import LoadScopeScheduling

    class RealComponentsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(REAL_COMPONENT_TESTS):
                return "real-components"
            return nodeid.split("::", 1)[0]

    return RealComponentsTogether(config, log)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Once every test module is imported, what is alive now (modules, classes, the
    route builders) is left out of the garbage collector's scans (``gc.freeze``), and
    young objects are collected every 20,000 allocations rather than every 700, Python's
    default. Each test's stack allocates hundreds of thousands of objects; with
    the defaults the collector took a sixth of the API tests' time, a full collection
    (every live object scanned) costing over 100 ms."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``long`` run only with ``NIMBUS_LONG=1``: they repeat what CI's sample
    already shows on other paths, and keep ``make test`` within its time."""
    if os.environ.get("NIMBUS_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="long campaign: NIMBUS_LONG=1 runs it")
    for item in items:
        if item.get_closest_marker("long"):
            item.add_marker(skip)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End pytest without interpreter teardown: the tests used Temporal clients, whose
    native threads can abort CPython's finalization (see ``nimbus.exit``)."""
    exit_now(_exit_status)


#: The fake hypervisor accepts rbd disks only with Ceph access, as the real one does.
FAKE_CEPH = CephAccess(monitors=("127.0.0.1:6789",))


@pytest.fixture(scope="session")
def guest_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Downloaded and extracted packages, shared by every image a session builds."""
    return tmp_path_factory.mktemp("guest-work")


@pytest.fixture(scope="session")
def guest_image(tmp_path_factory: pytest.TempPathFactory, guest_work_dir: Path) -> Path:
    """The default guest image, built once for the session."""
    if shutil.which("syslinux") is None or shutil.which("mcopy") is None:
        pytest.fail("needs the syslinux, mtools and dosfstools packages: run `make test`")
    return build_guest_image(tmp_path_factory.mktemp("images") / "guest.raw", guest_work_dir)


@pytest.fixture(scope="session")
def runtime_image(tmp_path_factory: pytest.TempPathFactory, guest_work_dir: Path) -> Path:
    """The PaaS runtime image, built once a session with the guest image's downloads.
    Imported here, not above: building it needs root (it checks Python in a chroot)."""
    from paas.runtime import build_runtime_image

    if os.geteuid() != 0 or shutil.which("mkfs.ext4") is None:
        pytest.fail("needs root, e2fsprogs and fdisk: run `make test` as root")
    return build_runtime_image(tmp_path_factory.mktemp("runtime") / "runtime.raw", guest_work_dir)


@pytest.fixture(scope="session")
def postgresql_image(tmp_path_factory: pytest.TempPathFactory, guest_work_dir: Path) -> Path:
    """The PostgreSQL service's image, built once a session (root: it runs initdb in a
    chroot to check itself)."""
    from paas.postgresql import POSTGRESQL
    from paas.runtime import build_runtime_image

    if os.geteuid() != 0 or shutil.which("mkfs.ext4") is None:
        pytest.fail("needs root, e2fsprogs and fdisk: run `make test` as root")
    out = tmp_path_factory.mktemp("postgresql") / "postgresql.raw"
    return build_runtime_image(out, guest_work_dir, POSTGRESQL)


@pytest.fixture(scope="session")
def libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LibvirtdHandle]:
    """libvirtd answering on qemu:///system; stopped at the end only if we started it."""
    if os.geteuid() != 0 or shutil.which("libvirtd") is None:
        pytest.fail("needs root and libvirtd: run `make test` as root")
    base = tmp_path_factory.mktemp("libvirtd")
    handle = ensure_libvirtd(base / "log", base / "run")
    yield handle
    if handle.started:
        stop_libvirtd(handle.run_dir)


@pytest.fixture(scope="session")
def ceph_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephHandle]:
    """A single-node Ceph cluster of its own for the session, stopped at the end (its
    files stay in pytest's tmp). Imported here, not above: only these tests need rados."""
    if os.geteuid() != 0 or shutil.which("ceph-mon") is None:
        pytest.fail("needs root and ceph-mon/ceph-osd/ceph-mgr: run `make test` as root")
    from launcher.services.ceph import ensure_ceph, stop_ceph

    base = tmp_path_factory.mktemp("ceph")
    handle = ensure_ceph(base / "ceph", base / "log", base / "run", osd_size_gib=4)
    yield handle
    stop_ceph(handle.run_dir)


@pytest.fixture(scope="session")
def rgw_gateway(ceph_cluster: CephHandle) -> Iterator[GatewayHandle]:
    """The session cluster's RADOS Gateway (no Keystone: S3 keys only), stopped at the end."""
    from launcher.services.rgw import ensure_gateway, stop_gateway

    ceph_dir, run_dir = ceph_cluster.conf.parent, ceph_cluster.run_dir
    handle = ensure_gateway(ceph_dir, run_dir.parent / "log", run_dir)
    yield handle
    stop_gateway(run_dir)


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with temporal_dev_server(tmp_path_factory.mktemp("temporal") / "temporal.log") as address:
        yield address
        record_to = os.environ.get("NIMBUS_RECORD_HISTORIES")
        if record_to:  # scripts/record-histories: keep what the suite's workflows did
            import asyncio

            from tests.support.histories import record

            asyncio.run(record(address, Path(record_to)))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The suites of ``BOTH_DATABASES`` take each database named, module by module, but
    for the tests marked ``one_database``."""
    if (
        len(TEST_DATABASES) > 1
        and "database_backend" in metafunc.fixturenames
        and metafunc.definition.nodeid.startswith(BOTH_DATABASES)
        and metafunc.definition.get_closest_marker("one_database") is None
    ):
        metafunc.parametrize("database_backend", TEST_DATABASES, indirect=True, scope="module")


@pytest.fixture(scope="module")
def database_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: what this module's tests run on."""
    return str(getattr(request, "param", TEST_DATABASES[0]))


@pytest.fixture(scope="session", autouse=True)
def _schema_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Where this process's SQLite schema template is made (``tests.support.stack``)."""
    from tests.support import stack

    stack.schema_folder = tmp_path_factory.mktemp("schema")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL server, started when a test first needs it."""
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def database_cluster(
    database_backend: str, request: pytest.FixtureRequest
) -> PostgresCluster | None:
    """The PostgreSQL server this module's databases are made in; None for SQLite."""
    if database_backend != "postgresql":
        return None
    return cast(PostgresCluster, request.getfixturevalue("postgres"))


@pytest.fixture
def database_url(database_cluster: PostgresCluster | None, tmp_path: Path) -> Iterator[str]:
    """The test's own database, with the schema or not yet (``create_schema`` makes it)."""
    with database_for(database_cluster, tmp_path) as url:
        yield url


@pytest.fixture
def empty_database_url(database_cluster: PostgresCluster | None, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own without a single table: where to build old schemas."""
    with database_for(database_cluster, tmp_path, empty=True) as url:
        yield url


def stack_settings(folder: Path, temporal_address: str, database_url: str) -> Settings:
    """The settings of a stack over fakes whose data lives in ``folder``."""
    host, port = temporal_address.split(":")
    return Settings(
        data_dir=folder,
        database_url=database_url,
        temporal_host=host,
        temporal_port=int(port),
        host_name="testhost",
        power_sync_seconds=0.2,
        instance_prefix="nimbus-",
        # The stacks over fakes serve their API in-process, over plain HTTP where a client
        # needs a socket (werkzeug); HTTPS is tests/unit/test_tls.py's and the e2e cloud's.
        tls=False,
    )


@pytest.fixture
def settings(tmp_path: Path, temporal_address: str, database_url: str) -> Settings:
    return stack_settings(tmp_path, temporal_address, database_url)


def write_image_file(folder: Path) -> Path:
    path = folder / "guest.raw"
    path.write_bytes(b"\0" * 4096)
    return path


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    return write_image_file(tmp_path)


def fake_drivers() -> HostDrivers:
    return HostDrivers(
        FakeHypervisor(ceph=FAKE_CEPH),
        FakeBlockStore(),
        FakeNetworkDriver(),
        FakeObjectStoreAdmin(),
    )


@pytest.fixture
def stack(settings: Settings, image_file: Path) -> Iterator[Stack]:
    s = make_stack(settings, fake_drivers(), image_file)
    yield s
    s.close()


@pytest.fixture(scope="module")
def module_stack(
    tmp_path_factory: pytest.TempPathFactory,
    temporal_address: str,
    database_cluster: PostgresCluster | None,
) -> Iterator[Stack]:
    """One stack over fakes for a whole module, for tests that change nothing in it (each
    must check so) and would otherwise each build the same world again."""
    folder = tmp_path_factory.mktemp("stack")
    with database_for(database_cluster, folder) as url:
        settings = stack_settings(folder, temporal_address, url)
        s = make_stack(settings, fake_drivers(), write_image_file(folder))
        yield s
        s.close()
