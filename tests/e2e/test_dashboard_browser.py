"""The dashboard in a real browser (Playwright driving Debian's Chromium) against the cloud
``nimbus up`` runs: a project member signs in, launches a server on a network, sees it
reach ACTIVE without reloading, reads its console log and its operation history, and
deletes it; a reader of the project sees no launch button; another project's server id
is a not-found page. Pictures of the main pages go to ``NIMBUS_SCREENSHOTS`` if set
(the README's come from there), else to the test's own folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cloud import Cloud, wait_for

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PROJECT = "dash-e2e"


def ok(result: Any) -> str:
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return str(result.stdout)


@pytest.fixture(scope="module")
def people(cloud: Cloud) -> Iterator[dict[str, str]]:
    """A project with a member and a reader, and a network of the project."""
    passwords = {"member": secrets.token_urlsafe(12), "reader": secrets.token_urlsafe(12)}
    ok(cloud.openstack("project", "create", PROJECT))
    for role, password in passwords.items():
        user = f"dash-{role}"
        # --password=: a password may begin with a dash, which argparse takes for an option.
        ok(cloud.openstack("user", "create", f"--password={password}", user))
        ok(cloud.openstack("role", "add", "--project", PROJECT, "--user", user, role))
    as_member = (
        "--os-username", "dash-member", "--os-password", passwords["member"],
        "--os-project-name", PROJECT,
    )  # fmt: skip
    ok(cloud.openstack(*as_member, "network", "create", "dash-net"))
    ok(cloud.openstack(*as_member, "subnet", "create", "--network", "dash-net",
                       "--subnet-range", "10.77.0.0/24", "dash-subnet"))  # fmt: skip
    ok(cloud.openstack(*as_member, "router", "create", "dash-router"))
    ok(cloud.openstack(*as_member, "router", "set", "--external-gateway", "public", "dash-router"))
    ok(cloud.openstack(*as_member, "router", "add", "subnet", "dash-router", "dash-subnet"))
    try:
        yield passwords
    finally:
        for server in cloud.openstack_json("server", "list", "--all-projects"):
            if server["Name"].startswith("dash-"):
                cloud.openstack("server", "delete", "--wait", server["ID"])
        for fip in cloud.openstack_json(*as_member, "floating", "ip", "list"):
            cloud.openstack(*as_member, "floating", "ip", "delete", fip["ID"])
        for volume in cloud.openstack_json(*as_member, "volume", "list"):
            cloud.openstack(*as_member, "volume", "delete", volume["ID"])
        cloud.openstack(*as_member, "router", "remove", "subnet", "dash-router", "dash-subnet")
        cloud.openstack(*as_member, "router", "delete", "dash-router")
        cloud.openstack(*as_member, "subnet", "delete", "dash-subnet")
        cloud.openstack(*as_member, "network", "delete", "dash-net")
        for role in passwords:
            cloud.openstack("user", "delete", f"dash-{role}")
        cloud.openstack("project", "delete", PROJECT)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def pictures(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("NIMBUS_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(browser: Any, cloud: Cloud, user: str, password: str) -> Any:
    # The dashboard's certificate is from the cloud's own CA, which this browser does not
    # know: it goes on past it (the openstack CLI and the dashboard itself check it).
    page = browser.new_page(viewport={"width": 1280, "height": 900}, ignore_https_errors=True)
    page.goto(f"{cloud.settings.dashboard_url}/servers")
    assert "/login" in page.url
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url == f"{cloud.settings.dashboard_url}/servers", page.content()
    return page


def test_a_member_launches_watches_reads_and_deletes_a_server(
    cloud: Cloud, people: dict[str, str], browser: Any, tmp_path: Path
) -> None:
    shots = pictures(tmp_path)
    page = sign_in(browser, cloud, "dash-member", people["member"])
    page.click("text=Launch a server")
    page.fill("input[name=name]", "dash-web")
    page.select_option("select[name=image]", label="nimbus-guest")
    page.select_option("select[name=flavor]", value="1")
    page.select_option("select[name=network]", label="dash-net")
    page.screenshot(path=str(shots / "web-launch.png"), full_page=True)
    page.click("button:has-text('Launch')")
    page.wait_for_url("**/servers/*")
    server_url = page.url
    # htmx swaps the status in place: the page is never reloaded while it boots.
    page.evaluate("window.__sameDocument = true")
    page.wait_for_selector("#server-status .status-active", timeout=240_000)
    assert page.evaluate("window.__sameDocument") is True and page.url == server_url
    assert "10.77.0." in page.inner_text("dl.facts")

    page.click("text=Show the console log")

    def console_says_ready() -> bool:
        if "NIMBUS READY" in page.inner_text("#console"):
            return True
        page.click("#console button")  # Refresh
        return False

    wait_for(console_says_ready, 180, "the guest's console log", interval=3)

    page.goto(f"{cloud.settings.dashboard_url}/volumes")
    page.fill("input[name=name]", "dash-data")
    page.click("button:has-text('Create a volume')")
    page.wait_for_selector("#volume-rows .status-available", timeout=120_000)
    page.goto(server_url)
    page.select_option("select[name=volume_id]", label="dash-data (1 GiB)")
    page.click("button:has-text('Attach a volume')")
    page.wait_for_selector("text=Volume attached.")
    assert "on /dev/vd" in page.inner_text("#volumes")
    page.click("button:has-text('Associate a floating IP')")
    page.wait_for_selector("text=Floating IP associated.")
    assert re.search(r"\d+\.\d+\.\d+\.\d+", page.inner_text("#floating-ips"))
    page.reload()
    operations = page.inner_text("table.operations")
    assert "create" in operations and " s" in operations
    assert page.get_attribute("table.operations a", "href").startswith(
        cloud.settings.temporal_ui_url
    )
    page.screenshot(path=str(shots / "web-server.png"), full_page=True)
    page.goto(f"{cloud.settings.dashboard_url}/")
    assert "Instances" in page.inner_text("main")
    page.screenshot(path=str(shots / "web-overview.png"), full_page=True)

    page.goto(server_url)
    page.click("button.danger")
    page.wait_for_url(f"{cloud.settings.dashboard_url}/servers")
    # The list polls while the server is being deleted, until its row is gone.
    wait_for(lambda: "dash-web" not in page.inner_text("#server-rows"), 180, "the row gone")
    page.screenshot(path=str(shots / "web-servers.png"), full_page=True)
    page.close()


def test_a_reader_sees_no_launch_button_and_another_projects_server_is_not_found(
    cloud: Cloud, people: dict[str, str], browser: Any
) -> None:
    elsewhere = cloud.openstack_json(
        "server", "create", "--flavor", "m1.tiny", "--image", "nimbus-guest", "--nic", "none",
        "dash-admins",
    )  # fmt: skip
    try:
        page = sign_in(browser, cloud, "dash-reader", people["reader"])
        assert page.locator("text=Launch a server").count() == 0
        response = page.goto(f"{cloud.settings.dashboard_url}/servers/{elsewhere['id']}")
        assert response is not None and response.status == 404
        assert "Not found" in page.inner_text("main")
        page.close()
    finally:
        cloud.openstack("server", "delete", "--wait", elsewhere["id"])


def test_a_member_keeps_files_in_a_container_and_a_reader_is_told_why_not(
    cloud: Cloud, people: dict[str, str], browser: Any, tmp_path: Path
) -> None:
    """Through the RADOS Gateway's Swift: a container made, a file uploaded with its
    progress shown, listed under its pseudo-folder, downloaded byte for byte, seen by the
    openstack CLI, then everything deleted."""
    as_member = (
        "--os-username", "dash-member", "--os-password", people["member"],
        "--os-project-name", PROJECT,
    )  # fmt: skip
    data = secrets.token_bytes(3 * 1024 * 1024 + 17)
    (tmp_path / "report.bin").write_bytes(data)
    page = sign_in(browser, cloud, "dash-member", people["member"])
    page.goto(f"{cloud.settings.dashboard_url}/containers")
    page.fill("input[name=name]", "dash-files")
    page.click("button:has-text('Create a container')")
    page.wait_for_url("**/containers/dash-files")
    page.set_input_files("input[type=file]", str(tmp_path / "report.bin"))
    page.fill("input[name=name]", "reports/report.bin")
    page.click("button:has-text('Upload')")
    page.wait_for_selector("text=reports/report.bin uploaded.")
    page.click("table a:has-text('reports/')")
    page.wait_for_selector("a:has-text('report.bin')")
    page.screenshot(path=str(pictures(tmp_path) / "web-containers.png"), full_page=True)
    with page.expect_download() as download:
        page.click("a:has-text('report.bin')")
    assert Path(download.value.path()).read_bytes() == data
    listed = cloud.openstack_json(*as_member, "object", "list", "dash-files")
    assert [o["Name"] for o in listed] == ["reports/report.bin"]

    page.goto(f"{cloud.settings.dashboard_url}/containers")
    assert "3.0 MiB" in page.inner_text("table")  # the container's size
    page.click("table a:has-text('dash-files')")
    page.goto(f"{cloud.settings.dashboard_url}/containers/dash-files?prefix=reports/")
    page.click("button.danger")
    page.wait_for_selector("text=No objects under reports/.")
    page.goto(f"{cloud.settings.dashboard_url}/containers")
    page.click("button.danger")
    page.wait_for_selector("text=No containers.")
    assert cloud.openstack_json(*as_member, "container", "list") == []
    page.close()

    reader = sign_in(browser, cloud, "dash-reader", people["reader"])
    reader.goto(f"{cloud.settings.dashboard_url}/containers")
    assert "open to the project's members only" in reader.inner_text("main")
    reader.close()


def test_an_image_uploaded_with_its_progress_and_the_network_and_admin_pages(
    cloud: Cloud, people: dict[str, str], browser: Any, tmp_path: Path
) -> None:
    """An image sent from the browser lands in Ceph through Glance (the progress bar fed
    by the upload's own events), is seen by the openstack CLI and deleted from its row;
    the topology shows the project's router between its network and the external one;
    an admin reads the hypervisor page."""
    as_member = (
        "--os-username", "dash-member", "--os-password", people["member"],
        "--os-project-name", PROJECT,
    )  # fmt: skip
    data = secrets.token_bytes(4 * 1024 * 1024)
    (tmp_path / "disk.raw").write_bytes(data)
    shots = pictures(tmp_path)
    page = sign_in(browser, cloud, "dash-member", people["member"])
    page.goto(f"{cloud.settings.dashboard_url}/images")
    page.fill("#image-upload input[name=name]", "dash-image")
    page.select_option("select[name=disk_format]", value="raw")
    page.set_input_files("#image-upload input[type=file]", str(tmp_path / "disk.raw"))
    page.click("button:has-text('Upload an image')")
    page.wait_for_selector("text=Image dash-image uploaded: it is active.", timeout=120_000)
    shown = cloud.openstack_json(*as_member, "image", "show", "dash-image")
    assert shown["status"] == "active" and shown["size"] == len(data)
    page.screenshot(path=str(shots / "web-images.png"), full_page=True)
    page.click("tr:has-text('dash-image') button.danger")
    page.wait_for_selector("text=Image deleted.")
    gone = cloud.openstack(*as_member, "image", "show", "dash-image")
    assert gone.returncode != 0

    page.goto(f"{cloud.settings.dashboard_url}/operations")
    assert "completed" in page.inner_text("#operation-rows")
    page.screenshot(path=str(shots / "web-operations.png"), full_page=True)
    page.click("#operation-rows a >> nth=0")
    page.wait_for_selector("table.steps")
    assert "Success" in page.inner_text("table.steps")

    page.goto(f"{cloud.settings.dashboard_url}/topology")
    picture = page.text_content("svg") or ""
    assert "dash-net" in picture and "dash-router" in picture and "public" in picture
    page.screenshot(path=str(shots / "web-topology.png"), full_page=True)
    page.goto(f"{cloud.settings.dashboard_url}/routers")
    page.click("a:has-text('dash-router')")
    assert "10.77.0.1" in page.inner_text("main")
    page.close()

    import yaml

    auth = yaml.safe_load((cloud.settings.data_dir / "clouds.yaml").read_text())
    admin = sign_in(browser, cloud, "admin", auth["clouds"]["nimbus"]["auth"]["password"])
    admin.goto(f"{cloud.settings.dashboard_url}/admin/projects")
    assert PROJECT in admin.inner_text("main")
    admin.close()


def test_an_app_is_scaled_and_its_log_followed_in_the_browser(
    cloud: Cloud, browser: Any, tmp_path: Path
) -> None:
    import http.client

    import yaml

    from nimbus.config import CHECKOUT

    auth = yaml.safe_load((cloud.settings.data_dir / "clouds.yaml").read_text())
    password = auth["clouds"]["nimbus"]["auth"]["password"]
    site = tmp_path / "dash-site"
    shutil.copytree(CHECKOUT / "paas" / "samples" / "flask-app", site)
    manifest = (site / "manifest.yml").read_text()
    (site / "manifest.yml").write_text(manifest.replace("flask-sample", "dash-site"))
    ok(cloud.nimbus("app", "push", str(site), timeout=900))
    try:
        app_id = json.loads(ok(cloud.nimbus("app", "show", "dash-site", "--json")))["id"]
        page = sign_in(browser, cloud, "admin", password)
        page.goto(f"{cloud.settings.dashboard_url}/apps")
        page.click("text=dash-site")
        page.wait_for_url(f"**/apps/{app_id}")
        assert "1 of 1 running" in page.inner_text("#app-state")
        page.fill("input[name=instances]", "2")
        page.click("button:has-text('Scale')")
        page.wait_for_selector("text=Scaling to 2 instance(s).")
        page.evaluate("window.__sameDocument = true")
        # The state and the log move in place, with no reload.
        wait_for(lambda: "2 of 2 running" in page.inner_text("#app-state"), 300, "2 running")
        port = cloud.settings.router_port
        for n in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", f"/?dash={n}", headers={"Host": f"dash-site.apps.localhost:{port}"})
            assert conn.getresponse().status == 200
            conn.close()
        wait_for(lambda: "/?dash=2" in page.inner_text("#log"), 120, "the request in the log")
        assert page.evaluate("window.__sameDocument") is True
        page.screenshot(path=str(pictures(tmp_path) / "web-app.png"), full_page=True)
        # The host with the app's two instances, as the openstack CLI and the admin see it.
        [host] = cloud.openstack_json("hypervisor", "list", "--long")
        assert host["State"] == "up" and host["vCPUs Used"] >= 2
        page.goto(f"{cloud.settings.dashboard_url}/admin/hypervisors")
        row = page.inner_text("#hypervisors tbody tr")
        assert host["Hypervisor Hostname"] in row and "up" in row
        page.screenshot(path=str(pictures(tmp_path) / "web-admin.png"), full_page=True)
        page.close()
    finally:
        cloud.nimbus("app", "delete", "dash-site")
