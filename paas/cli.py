"""``nimbus app ...``: push, apps, show, scale, logs, env, set-env, unset-env, restart,
stop, start, delete, events, deployments, continue-deployment, cancel-deployment,
revisions, rollback, autoscale, bind, unbind, bindings; in the way of ``cf push``.
``nimbus service ...``: offerings, create, list, show, delete; as ``cf create-service``.

Every command talks to ``/paas/v1`` with the credentials of the openstack CLI
(``clouds.yaml`` and ``OS_CLOUD``). Long work shows its progress as it happens: staging
output, then each instance's state.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nimbus.errors import NimbusError
from paas.client import AppClient, ClientError, load_cloud

#: How often a waiting command asks again.
POLL_SECONDS = 1.0
#: How long ``push`` waits for instances beyond the app's own health timeout (boot time).
BOOT_GRACE_SECONDS = 600


def say(text: str = "") -> None:
    print(text, flush=True)


def _client(args: argparse.Namespace) -> AppClient:
    return AppClient(load_cloud(cloud=args.os_cloud))


# -- push ------------------------------------------------------------------------------


def _manifest_fields(args: argparse.Namespace, folder: Path) -> dict[str, Any] | None:
    """The app fields of the manifest (``-f``, else ``manifest.yml`` in the folder)."""
    from paas.manifest import manifest_from_file

    path = Path(args.manifest) if args.manifest else folder / "manifest.yml"
    if not path.is_file():
        if args.manifest:
            raise ClientError(f"no manifest at {path}")
        return None
    fields: dict[str, Any] = manifest_from_file(path).to_json()
    return fields


def _ensure_app(client: AppClient, fields: dict[str, Any] | None, name: str) -> dict[str, Any]:
    """Create the app, or update it from the manifest if it exists."""
    apps = client.json("GET", "/apps", params={"name": name})["apps"]
    body = {"app": fields or {"name": name}}
    if not apps:
        say(f"Creating app {name}")
        app: dict[str, Any] = client.json("POST", "/apps", json=body)["app"]
        return app
    if fields:
        say(f"Updating app {name} from its manifest")
        return dict(client.json("PATCH", f"/apps/{apps[0]['id']}", json=body)["app"])
    return dict(apps[0])


def _upload(client: AppClient, folder: Path) -> str:
    """Pack the folder and upload it unless the project already has that package."""
    from paas.package import pack

    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "app.tgz"
        info = pack(folder, archive)
        say(f"Packing {info.files} files, {_size(info.size)} (sha256 {info.sha256[:12]})")
        if client.call("GET", f"/packages/{info.sha256}").status_code == 200:
            say("Package unchanged: nothing to upload")
            return info.sha256
        say("Uploading package")
        with archive.open("rb") as f:
            client.json(
                "PUT",
                f"/packages/{info.sha256}",
                data=f,
                headers={"Content-Type": "application/octet-stream"},
            )
    return info.sha256


def _follow_build(client: AppClient, app_id: str, build_id: str) -> dict[str, Any]:
    """Print staging output until the build ends; return the build."""
    after = _last_seq(client, app_id)
    while True:
        build: dict[str, Any] = client.json("GET", f"/apps/{app_id}/builds/{build_id}")["build"]
        after = _print_logs(client, app_id, after, "STG")
        if build["state"] != "STAGING":
            return build
        time.sleep(POLL_SECONDS / 2)


def _last_seq(client: AppClient, app_id: str) -> int:
    return int(client.json("GET", f"/apps/{app_id}/logs", params={"limit": 1})["last"])


def _print_logs(client: AppClient, app_id: str, after: int, source: str | None = None) -> int:
    params: dict[str, Any] = {"after": after, "limit": 1000}
    if source:
        params["source"] = source
    body = client.json("GET", f"/apps/{app_id}/logs", params=params)
    for line in body["lines"]:
        say(f"   {line['source']:<6} {line['line']}" if not source else f"   {line['line']}")
    return int(body["last"])


#: Where a deployment stops for the user: it ended, or a canary step waits for a word.
SETTLED = ("DEPLOYED", "FAILED", "CANCELED", "PAUSED")


def _wait_deployed(client: AppClient, app: dict[str, Any]) -> dict[str, Any]:
    """Print each instance's state as it changes until the deployment ends or pauses."""
    deadline = time.monotonic() + app["health_check"]["timeout"] + BOOT_GRACE_SECONDS
    versions = {r["id"]: r["version"] for r in _releases(client, app["id"])}
    shown: dict[str, str] = {}
    while time.monotonic() < deadline:
        app = client.json("GET", f"/apps/{app['id']}")["app"]
        for inst in app["instance_states"]:
            if shown.get(inst["id"]) != inst["state"]:
                shown[inst["id"]] = inst["state"]
                if inst["release_id"] not in versions:
                    versions = {r["id"]: r["version"] for r in _releases(client, app["id"])}
                version = versions.get(inst["release_id"], "?")
                say(f"   instance {inst['index']} (v{version}): {inst['state']}")
        if app["deployment"]["state"] in SETTLED:
            return app
        time.sleep(POLL_SECONDS)
    raise ClientError("gave up waiting for the app's instances (the deployment goes on)")


def _releases(client: AppClient, app_id: str) -> list[dict[str, Any]]:
    return list(client.json("GET", f"/apps/{app_id}/releases")["releases"])


def _outcome(client: AppClient, app: dict[str, Any]) -> int:
    """Say how the deployment ended (or where it paused); 1 if it failed or was cancelled."""
    state, name = app["deployment"]["state"], app["name"]
    if state == "PAUSED":
        say(
            f"\nDeployment paused with part of the traffic on the new release: "
            f"`nimbus app continue-deployment {name}` goes on, "
            f"`nimbus app cancel-deployment {name}` goes back."
        )
        return 0
    if state in ("FAILED", "CANCELED"):
        error = app["deployment"]["error"]
        back = [r for r in _releases(client, app["id"]) if r["id"] == app["release_id"]]
        if app["state"] == "STARTED" and back:
            raise ClientError(
                f"the deployment {'failed' if state == 'FAILED' else 'was cancelled'}: "
                f"{error}\nrelease v{back[0]['version']} still serves"
            )
        raise ClientError(f"the app did not start: {error}")
    say(f"\nApp {name} is running: {', '.join(app['urls'])}")
    return 0


def _strategy(args: argparse.Namespace) -> dict[str, Any]:
    """The deployment fields of a release or rollback request."""
    body: dict[str, Any] = {"strategy": args.strategy, "max_in_flight": args.max_in_flight}
    if args.instance_steps:
        try:
            body["instance_steps"] = [int(p) for p in args.instance_steps.split(",")]
        except ValueError as exc:
            raise ClientError("--instance-steps takes percentages: 20,50 for instance") from exc
    return body


def push(args: argparse.Namespace) -> int:
    folder = Path(args.path).resolve()
    if not folder.is_dir():
        raise ClientError(f"{folder} is not a folder")
    fields = _manifest_fields(args, folder)
    name = args.name or (fields or {}).get("name") or folder.name
    if fields is not None:
        fields["name"] = name
    client = _client(args)
    say(f"Pushing app {name} from {folder}")
    app = _ensure_app(client, fields, name)
    sha = _upload(client, folder)
    say("Staging app")
    build = client.json("POST", f"/apps/{app['id']}/builds", json={"package": sha})["build"]
    build = _follow_build(client, app["id"], build["id"])
    if build["state"] != "STAGED":
        raise ClientError(f"staging failed in step {build['error_step']}: {build['error']}")
    say(f"Staged: {build['buildpack']} buildpack, start command: {build['command']}")
    body = {"build_id": build["id"], **_strategy(args)}
    done = client.json("POST", f"/apps/{app['id']}/releases", json=body)
    say(
        f"Release v{done['release']['version']}: {args.strategy} deployment on "
        f"{done['app']['instances']} instance(s)"
    )
    if args.no_wait:
        return 0
    return _outcome(client, _wait_deployed(client, done["app"]))


def deployments(args: argparse.Namespace) -> int:
    client = _client(args)
    app = client.app(args.name)
    rows = client.json("GET", f"/apps/{app['id']}/deployments")["deployments"]
    say(f"{'created':<21} {'revision':<9} {'strategy':<9} {'state':<9} reason")
    for d in rows:
        reason = (d["reason"] or "").splitlines()[0] if d["reason"] else ""
        say(
            f"{d['created_at']:<21} v{d['revision']:<8} {d['strategy']:<9} {d['state']:<9} {reason}"
        )
    return 0


def _deployment_action(action: str) -> Callable[[argparse.Namespace], int]:
    def act(args: argparse.Namespace) -> int:
        client = _client(args)
        app = client.app(args.name)
        done = client.json("POST", f"/apps/{app['id']}/actions/{action}", json={})
        say(f"Deployment of {args.name}: {action.split('-')[0]}ed")
        if args.no_wait:
            return 0
        return _outcome(client, _wait_deployed(client, done["app"]))

    return act


def revisions(args: argparse.Namespace) -> int:
    client = _client(args)
    app = client.app(args.name)
    say(f"{'revision':<9} {'created':<21} description")
    for r in _releases(client, app["id"]):
        mark = "  (current)" if r["id"] == app["release_id"] else ""
        say(f"v{r['version']:<8} {r['created_at']:<21} {r['description']}{mark}")
    return 0


def rollback(args: argparse.Namespace) -> int:
    client = _client(args)
    app = client.app(args.name)
    body = {"revision": args.revision, **_strategy(args)}
    done = client.json("POST", f"/apps/{app['id']}/actions/rollback", json=body)
    say(
        f"Rolling {args.name} back to revision {args.revision} as release "
        f"v{done['release']['version']} (no staging)"
    )
    if args.no_wait:
        return 0
    return _outcome(client, _wait_deployed(client, done["app"]))


# -- the other commands -----------------------------------------------------------------


def apps(args: argparse.Namespace) -> int:
    rows = _client(args).json("GET", "/apps")["apps"]
    say(f"{'name':<24} {'state':<9} {'instances':<10} urls")
    for a in rows:
        count = f"{a['running_instances']}/{a['instances']}"
        say(f"{a['name']:<24} {a['state']:<9} {count:<10} {', '.join(a['urls'])}")
    return 0


def show(args: argparse.Namespace) -> int:
    app = _client(args).app(args.name)
    if args.json:
        say(json.dumps(app, indent=2))
        return 0
    say(f"name:        {app['name']}\nstate:       {app['state']}")
    say(f"instances:   {app['running_instances']}/{app['instances']}  memory: {app['memory_mib']}M")
    say(f"urls:        {', '.join(app['urls'])}")
    dep = app["deployment"]
    say(f"deployment:  {dep['state'] or '-'}" + (f"  ({dep['error']})" if dep["error"] else ""))
    health = app["health_check"]
    say(f"health:      {health['type']} {health['endpoint'] if health['type'] == 'http' else ''}")
    metrics = app["metrics"]
    rate = metrics["request_rate"]
    say(
        f"requests:    {_classes(metrics['responses'])}"
        + (f"  ({rate:.1f}/s)" if rate is not None else "")
    )
    scaling = app["autoscaling"]
    if scaling:
        say(
            f"autoscaling: {scaling['min_instances']}-{scaling['max_instances']} instances at "
            f"{scaling['requests_per_second']:g} requests/s each, "
            f"cooldown {scaling['cooldown']:g} s"
        )
    for inst in app["instance_states"]:
        address = inst["address"] or "-"
        took = f"{inst['response_ms']} ms" if inst["response_ms"] else "-"
        say(
            f"  #{inst['index']}  {inst['state']:<9} {address:<15} since {inst['since']}  "
            f"restarts {inst['crashes']}  {_classes(inst['responses'])}  avg {took}"
        )
    return 0


def _classes(responses: dict[str, int]) -> str:
    """``12 (2xx 11, 5xx 1)``: requests, then each status class that has any."""
    total = sum(responses.values())
    parts = ", ".join(f"{c} {n}" for c, n in sorted(responses.items()) if n)
    return f"{total}" + (f" ({parts})" if parts else "")


def autoscale(args: argparse.Namespace) -> int:
    client = _client(args)
    app = client.app(args.name)
    path = f"/apps/{app['id']}/autoscaling"
    if args.off:
        client.json("DELETE", path)
        say(f"Autoscaling of {args.name} off: it keeps {app['instances']} instance(s)")
        return 0
    if args.min is None or args.max is None or args.rps is None:
        raise ClientError("autoscale takes --min, --max and --rps (or --off)")
    policy = {
        "min_instances": args.min,
        "max_instances": args.max,
        "requests_per_second": args.rps,
        "cooldown": args.cooldown,
    }
    client.json("PUT", path, json={"autoscaling": policy})
    say(
        f"Autoscaling {args.name}: {args.min} to {args.max} instance(s), {args.rps:g} requests/s "
        f"each, at most one change per {args.cooldown:g} s (`nimbus app events` says why)"
    )
    return 0


def scale(args: argparse.Namespace) -> int:
    client = _client(args)
    app = client.app(args.name)
    client.json("POST", f"/apps/{app['id']}/actions/scale", json={"instances": args.instances})
    say(f"Scaling {args.name} to {args.instances} instance(s)")
    if args.no_wait or app["release_id"] is None:
        return 0
    return _wait_count(client, app["id"], args.instances)


def _wait_count(client: AppClient, app_id: str, wanted: int) -> int:
    """Wait until exactly ``wanted`` instances run."""
    deadline = time.monotonic() + BOOT_GRACE_SECONDS
    while time.monotonic() < deadline:
        app = client.json("GET", f"/apps/{app_id}")["app"]
        states = app["instance_states"]
        if len(states) == wanted and all(i["state"] == "RUNNING" for i in states):
            say(f"{wanted} instance(s) running")
            return 0
        time.sleep(POLL_SECONDS)
    raise ClientError("gave up waiting for the instances")


def _action(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        client = _client(args)
        app = client.app(args.name)
        client.json("POST", f"/apps/{app['id']}/actions/{name}", json={})
        say(f"{name.capitalize()}ing {args.name}" if name != "stop" else f"Stopping {args.name}")
        return 0

    return run


def delete(args: argparse.Namespace) -> int:
    client = _client(args)
    app = client.app(args.name)
    client.json("DELETE", f"/apps/{app['id']}")
    say(f"Deleting {args.name}")
    if args.no_wait:
        return 0
    deadline = time.monotonic() + BOOT_GRACE_SECONDS
    while time.monotonic() < deadline:
        if client.call("GET", f"/apps/{app['id']}").status_code == 404:
            say("Deleted")
            return 0
        time.sleep(POLL_SECONDS)
    raise ClientError("gave up waiting for the delete (it goes on)")


def logs(args: argparse.Namespace) -> int:
    client = _client(args)
    app = client.app(args.name)
    body = client.json("GET", f"/apps/{app['id']}/logs", params={"limit": args.lines})
    if body["dropped"]:
        say(f"({body['dropped']} older lines were dropped to keep the log within its bound)")
    for line in body["lines"]:
        say(f"{line['at']} [{line['source']}] {line['line']}")
    after = int(body["last"])
    while args.follow:
        time.sleep(POLL_SECONDS)
        page = client.json("GET", f"/apps/{app['id']}/logs", params={"after": after, "limit": 1000})
        for line in page["lines"]:
            say(f"{line['at']} [{line['source']}] {line['line']}")
        after = int(page["last"])
    return 0


def env(args: argparse.Namespace) -> int:
    """The app's env, then (for those who may change the app) the system-provided
    ``VCAP_SERVICES``, as ``cf env`` prints them."""
    client = _client(args)
    app = client.app(args.name)
    body = client.json("GET", f"/apps/{app['id']}/env")
    for key, value in sorted(body["env"].items()):
        say(f"{key}={value}")
    system = body.get("system_env")
    if system is not None:
        say("\nSystem-provided:")
        say(f"VCAP_SERVICES: {json.dumps(system['VCAP_SERVICES'], indent=2, sort_keys=True)}")
    return 0


def set_env(args: argparse.Namespace) -> int:
    return _change_env(args, {args.key: args.value})


def unset_env(args: argparse.Namespace) -> int:
    return _change_env(args, {args.key: None})


def _change_env(args: argparse.Namespace, changes: dict[str, str | None]) -> int:
    client = _client(args)
    app = client.app(args.name)
    client.json("PATCH", f"/apps/{app['id']}/env", json={"env": changes})
    say(f"Env of {args.name} changed; `nimbus app restart {args.name}` applies it")
    return 0


def events(args: argparse.Namespace) -> int:
    client = _client(args)
    app = client.app(args.name)
    rows = client.json("GET", f"/apps/{app['id']}/events", params={"limit": args.limit})["events"]
    for e in reversed(rows):
        say(f"{e['at']}  {e['type']:<18} {e['message']}")
    return 0


# -- services and bindings ---------------------------------------------------------------

#: How long ``service create`` and ``delete`` wait for their workflow by default.
SERVICE_WAIT_SECONDS = 1200


def _service(client: AppClient, name: str) -> dict[str, Any] | None:
    """The service by name or id; ``None`` if there is none."""
    found = client.json("GET", f"/services/{name}", ok=(200, 404))
    return dict(found["service"]) if "service" in found else None


def _existing_service(client: AppClient, name: str) -> dict[str, Any]:
    found = _service(client, name)
    if found is None:
        raise ClientError(f"service {name} not found", 404)
    return found


def offerings(args: argparse.Namespace) -> int:
    rows = _client(args).json("GET", "/service_offerings")["service_offerings"]
    say(f"{'offering':<16} {'plans':<12} description")
    for o in rows:
        say(f"{o['name']:<16} {','.join(o['plans']):<12} {o['description']}")
    return 0


def services(args: argparse.Namespace) -> int:
    rows = _client(args).json("GET", "/services")["services"]
    if not rows:
        say("No services")
        return 0
    say(f"{'name':<20} {'offering':<16} {'plan':<10} {'status':<10} bound apps")
    for r in rows:
        apps = ", ".join(r["bound_apps"])
        say(f"{r['name']:<20} {r['offering']:<16} {r['plan']:<10} {r['status']:<10} {apps}")
    return 0


def show_service(args: argparse.Namespace) -> int:
    row = _existing_service(_client(args), args.name)
    if args.json:
        say(json.dumps(row, indent=2))
        return 0
    say(f"name:        {row['name']}")
    say(f"offering:    {row['offering']} ({row['plan']})")
    say(f"status:      {row['status']}")
    if row["status_reason"]:
        say(f"reason:      {row['status_reason']}")
    say(f"bound apps:  {', '.join(row['bound_apps']) or '-'}")
    for key, value in sorted(row["resources"].items()):
        say(f"{key + ':':<12} {value}")
    return 0


def _wait_service(client: AppClient, name: str, service_id: str, gone: bool) -> int:
    """Wait until the service is AVAILABLE (or gone, for a delete); FAILED is an error."""
    deadline = time.monotonic() + SERVICE_WAIT_SECONDS
    while time.monotonic() < deadline:
        row = _service(client, service_id)
        if row is None:
            if gone:
                say(f"Deleted service {name}")
                return 0
            raise ClientError(f"service {name} not found", 404)
        if row["status"] == "AVAILABLE" and not gone:
            say(f"Service {name} is available")
            return 0
        if row["status"] == "FAILED":
            raise ClientError(f"service {name} failed: {row['status_reason']}")
        time.sleep(POLL_SECONDS)
    raise ClientError(f"gave up waiting for service {name} (it goes on)")


def create_service(args: argparse.Namespace) -> int:
    client = _client(args)
    body: dict[str, Any] = {"name": args.name, "offering": args.offering}
    if args.plan:
        body["plan"] = args.plan
    row = client.json("POST", "/services", json={"service": body})["service"]
    say(f"Creating service {args.name} ({args.offering}, plan {row['plan']})")
    if args.no_wait:
        return 0
    return _wait_service(client, args.name, row["id"], gone=False)


def delete_service(args: argparse.Namespace) -> int:
    client = _client(args)
    row = _existing_service(client, args.name)
    client.json("DELETE", f"/services/{row['id']}")
    say(f"Deleting service {args.name}")
    if args.no_wait:
        return 0
    return _wait_service(client, args.name, row["id"], gone=True)


def bind(args: argparse.Namespace) -> int:
    client = _client(args)
    app = client.app(args.name)
    client.json("POST", f"/apps/{app['id']}/bindings", json={"binding": {"service": args.service}})
    say(f"Bound {args.name} to {args.service}")
    say(f"Restart the app (nimbus app restart {args.name}) to give its instances the binding")
    return 0


def unbind(args: argparse.Namespace) -> int:
    client = _client(args)
    app = client.app(args.name)
    service = _existing_service(client, args.service)
    client.json("DELETE", f"/apps/{app['id']}/bindings/{service['id']}", ok=(204,))
    say(f"Unbound {args.name} from {args.service}")
    say(f"Restart the app (nimbus app restart {args.name}) to take the binding from it")
    return 0


def bindings(args: argparse.Namespace) -> int:
    client = _client(args)
    app = client.app(args.name)
    rows = client.json("GET", f"/apps/{app['id']}/bindings")["bindings"]
    if not rows:
        say(f"{args.name} is bound to no service")
    for r in rows:
        say(f"{r['service_name']:<20} {r['offering']:<16} since {r['created_at']}")
    return 0


def add_service_commands(sub: Any) -> None:
    """Add ``service`` and its subcommands to the ``nimbus`` parser."""
    service = sub.add_parser("service", help="backing services apps bind to (PaaS)")
    service.set_defaults(fn=lambda _settings, args: run(args))
    service.add_argument("--os-cloud", help="the cloud of clouds.yaml (default: OS_CLOUD)")
    cmds = service.add_subparsers(dest="service_command", required=True)
    cmds.add_parser("offerings", help="what services can be created").set_defaults(app_fn=offerings)
    cmds.add_parser("list", help="the project's services").set_defaults(app_fn=services)
    c = cmds.add_parser("create", help="create a service: OFFERING NAME")
    c.add_argument("offering")
    c.add_argument("name")
    c.add_argument("--plan", help="the offering's plan (default: its first)")
    c.add_argument("--no-wait", action="store_true")
    c.set_defaults(app_fn=create_service)
    c = cmds.add_parser("show", help="show a service")
    c.add_argument("name")
    c.add_argument("--json", action="store_true")
    c.set_defaults(app_fn=show_service)
    c = cmds.add_parser("delete", help="delete a service and its data (unbind it first)")
    c.add_argument("name")
    c.add_argument("--no-wait", action="store_true")
    c.set_defaults(app_fn=delete_service)


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"


def add_commands(sub: Any) -> None:
    """Add ``app`` and its subcommands to the ``nimbus`` parser."""
    app = sub.add_parser("app", help="push and run apps (PaaS)")
    app.set_defaults(fn=lambda _settings, args: run(args))
    app.add_argument("--os-cloud", help="the cloud of clouds.yaml (default: OS_CLOUD)")
    cmds = app.add_subparsers(dest="app_command", required=True)
    p = cmds.add_parser("push", help="stage and run the app in PATH (default: .)")
    p.add_argument("path", nargs="?", default=".")
    p.add_argument("-f", "--manifest", help="manifest file (default: PATH/manifest.yml)")
    p.add_argument("--name", help="the app's name (default: the manifest's, else the folder's)")
    _strategy_options(p)
    p.set_defaults(app_fn=push)
    cmds.add_parser("apps", help="list the project's apps").set_defaults(app_fn=apps)
    for name, fn, text in (
        ("show", show, "show an app and its instances"),
        ("env", env, "show an app's environment"),
        ("restart", _action("restart"), "replace every instance (applies env changes)"),
        ("stop", _action("stop"), "stop every instance"),
        ("start", _action("start"), "start the instances again"),
    ):
        c = cmds.add_parser(name, help=text)
        c.add_argument("name")
        if name == "show":
            c.add_argument("--json", action="store_true")
        c.set_defaults(app_fn=fn)
    c = cmds.add_parser("scale", help="run N instances")
    c.add_argument("name")
    c.add_argument("-i", "--instances", type=int, required=True)
    c.add_argument("--no-wait", action="store_true")
    c.set_defaults(app_fn=scale)
    c = cmds.add_parser("logs", help="the app's log (staging, instances, events)")
    c.add_argument("name")
    c.add_argument("--recent", action="store_true", help="print the recent lines and exit")
    c.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    c.add_argument("-n", "--lines", type=int, default=200)
    c.set_defaults(app_fn=logs)
    c = cmds.add_parser("set-env", help="set an environment variable")
    c.add_argument("name")
    c.add_argument("key")
    c.add_argument("value")
    c.set_defaults(app_fn=set_env)
    c = cmds.add_parser("unset-env", help="remove an environment variable")
    c.add_argument("name")
    c.add_argument("key")
    c.set_defaults(app_fn=unset_env)
    c = cmds.add_parser("delete", help="delete the app and everything it runs")
    c.add_argument("name")
    c.add_argument("--no-wait", action="store_true")
    c.set_defaults(app_fn=delete)
    c = cmds.add_parser("events", help="what happened to the app")
    c.add_argument("name")
    c.add_argument("--limit", type=int, default=50)
    c.set_defaults(app_fn=events)
    c = cmds.add_parser("deployments", help="the app's deployments and how each ended")
    c.add_argument("name")
    c.set_defaults(app_fn=deployments)
    for action, text in (
        ("continue-deployment", "go on from a paused canary step"),
        ("cancel-deployment", "stop the deployment: back to the release before it"),
    ):
        c = cmds.add_parser(action, help=text)
        c.add_argument("name")
        c.add_argument("--no-wait", action="store_true")
        c.set_defaults(app_fn=_deployment_action(action))
    c = cmds.add_parser("autoscale", help="scale on the request rate the router measures")
    c.add_argument("name")
    c.add_argument("--min", type=int, help="fewest instances")
    c.add_argument("--max", type=int, help="most instances")
    c.add_argument("--rps", type=float, help="requests per second each instance should get")
    c.add_argument("--cooldown", type=float, default=60.0, help="seconds between changes (60)")
    c.add_argument("--off", action="store_true", help="stop autoscaling")
    c.set_defaults(app_fn=autoscale)
    for name, fn, text in (
        ("bind", bind, "bind the app to a service (its credentials in VCAP_SERVICES)"),
        ("unbind", unbind, "unbind the app from a service"),
    ):
        c = cmds.add_parser(name, help=text)
        c.add_argument("name")
        c.add_argument("service")
        c.set_defaults(app_fn=fn)
    c = cmds.add_parser("bindings", help="the services the app is bound to")
    c.add_argument("name")
    c.set_defaults(app_fn=bindings)
    c = cmds.add_parser("revisions", help="the app's releases, by revision")
    c.add_argument("name")
    c.set_defaults(app_fn=revisions)
    c = cmds.add_parser("rollback", help="deploy an earlier revision again (no staging)")
    c.add_argument("name")
    c.add_argument("--revision", type=int, required=True)
    _strategy_options(c)
    c.set_defaults(app_fn=rollback)


def _strategy_options(p: Any) -> None:
    p.add_argument(
        "--strategy",
        choices=("rolling", "canary", "recreate"),
        default="rolling",
        help="rolling (default): new instances replace old ones as they get healthy; "
        "canary: the same, pausing after each --instance-steps step; "
        "recreate: every instance at once",
    )
    p.add_argument(
        "--max-in-flight", type=int, default=1, help="new instances starting at a time (1)"
    )
    p.add_argument(
        "--instance-steps",
        help="canary: percent of the instances each step runs, e.g. 20,50 (default: one)",
    )
    p.add_argument("--no-wait", action="store_true", help="return once the deployment began")


def run(args: argparse.Namespace) -> int:
    """Run one ``nimbus app`` command; errors are printed, not raised."""
    try:
        return int(args.app_fn(args))
    except (ClientError, NimbusError) as exc:
        print(f"nimbus {getattr(args, 'command', 'app')}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
