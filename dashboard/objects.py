"""Object storage: the project's containers and their objects (list, create, upload,
download, delete) through the Swift API at the object store the token's catalog names,
as ``openstack container`` and ``openstack object`` do.

Uploads and downloads stream: an upload goes from the form's spooled file to the gateway
in chunks, a download from the gateway to the browser, so neither is held in memory.
The gateway accepts a project's members and admins only (Ceph knows no reader role for
Keystone users), so a reader is told so instead of being sent a refusal.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import requests
from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.apiclient import Api, ApiError, refusal
from dashboard.pages import go

bp = Blueprint("objects", __name__)
#: How much of a download is passed on at a time.
CHUNK = 256 * 1024
#: The most objects one page of a container lists (Swift's own default is 10000).
PAGE = 500


def _swift() -> Api:
    """The object store, as the signed-in user; 404 where the cloud has none, 403 for a
    reader."""
    url = g.session.object_store
    if not url:
        raise ApiError(404, "This cloud has no object storage.")
    if not g.session.can_write:
        raise ApiError(403, "Object storage is open to the project's members only.")
    return Api(url, g.session.token)


def _call(method: str, path: str, **kw: Any) -> requests.Response:
    """One Swift request; a refusal as ``ApiError``. The gateway's 401 for a live session
    means the user may not use object storage, not that the session ended."""
    response = _swift().call(method, path, **kw)
    if response.status_code >= 400:
        status = 403 if response.status_code == 401 else response.status_code
        raise ApiError(status, _swift_message(response, path))
    return response


def _swift_message(response: requests.Response, path: str) -> str:
    """What Swift's refusal means to a person (its bodies are terse HTML or text)."""
    what = urllib.parse.unquote(path.lstrip("/")) or "the account"
    known = {
        404: f"{what} was not found.",
        409: f"{what} is not empty: delete its objects first.",
        413: "The object is larger than the object store accepts.",
    }
    if response.status_code in known:
        return known[response.status_code]
    text = response.text.strip()
    if text.startswith("<"):
        text = ""
    return text[:300] or f"The object store refused: HTTP {response.status_code}."


def _container_path(container: str) -> str:
    return "/" + urllib.parse.quote(container, safe="")


def _object_path(container: str, name: str) -> str:
    return f"{_container_path(container)}/{urllib.parse.quote(name, safe='/')}"


def _valid_container(name: str) -> str:
    """Swift's rule for a container name: 1 to 256 characters, no slash."""
    name = name.strip()
    if not name or len(name) > 256 or "/" in name:
        raise ApiError(400, "A container name has 1 to 256 characters and no '/'.")
    return name


@bp.get("/containers")
def containers() -> str:
    """The account's containers; where the user cannot have any (no object store, or a
    reader), the page says why instead."""
    try:
        found = _call("GET", "", params={"format": "json"}).json()
    except ApiError as exc:
        if exc.status not in (403, 404):
            raise
        return render_template("containers.html", containers=[], unavailable=exc.message)
    return render_template("containers.html", containers=found, error=request.args.get("error"))


def _back(endpoint: str, error: str | None = None, **values: Any) -> WerkzeugResponse:
    return go(endpoint, error=error, **values)


@bp.post("/containers")
def create_container() -> WerkzeugResponse:
    try:
        name = _valid_container(request.form.get("name", ""))
        if _swift().call("HEAD", _container_path(name)).status_code == 204:
            raise ApiError(409, f"There is a container {name} already.")
        _call("PUT", _container_path(name))
    except ApiError as exc:
        return _back("objects.containers", refusal(exc, (401, 403, 404)))
    return redirect(url_for("objects.container", container=name))


@bp.post("/containers/<container>/delete")
def delete_container(container: str) -> WerkzeugResponse:
    try:
        _call("DELETE", _container_path(container))
    except ApiError as exc:
        return _back("objects.containers", refusal(exc, (401, 403)))
    return _back("objects.containers")


@bp.get("/containers/<container>")
def container(container: str) -> str:
    """The container's objects under ``prefix``, with its pseudo-folders (``a/b/c``
    names, as Swift lists them with the ``/`` delimiter)."""
    prefix = request.args.get("prefix", "")
    params = {"format": "json", "delimiter": "/", "prefix": prefix, "limit": PAGE}
    if request.args.get("marker"):
        params["marker"] = request.args["marker"]
    response = _call("GET", _container_path(container), params=params)
    listed = response.json()
    folders = [e["subdir"] for e in listed if "subdir" in e]
    objects = [e for e in listed if "name" in e]
    last = listed[-1].get("name") or listed[-1].get("subdir") if len(listed) == PAGE else None
    return render_template(
        "container.html",
        container=container,
        prefix=prefix,
        parents=_parents(prefix),
        folders=folders,
        objects=objects,
        count=response.headers.get("X-Container-Object-Count"),
        size=response.headers.get("X-Container-Bytes-Used"),
        next_marker=last,
        error=request.args.get("error"),
        message=request.args.get("message"),
    )


def _parents(prefix: str) -> list[tuple[str, str]]:
    """The path to ``prefix`` as (label, prefix) links: ``a/b/`` -> a, a/b."""
    parts = [p for p in prefix.split("/") if p]
    return [(part, "/".join(parts[: i + 1]) + "/") for i, part in enumerate(parts)]


def _object_name(prefix: str, given: str, filename: str) -> str:
    """The uploaded object's name: the one given, else the file's own, under ``prefix``."""
    name = given.strip() or filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if not name:
        raise ApiError(400, "Give the object a name.")
    name = prefix + name if not name.startswith(prefix) else name
    if len(name.encode()) > 1024:
        raise ApiError(400, "An object name is at most 1024 bytes.")
    return name


@bp.post("/containers/<container>/objects")
def upload(container: str) -> WerkzeugResponse:
    prefix = request.form.get("prefix", "")
    sent = request.files.get("file")
    try:
        if sent is None or not sent.filename:
            raise ApiError(400, "Choose a file to upload.")
        name = _object_name(prefix, request.form.get("name", ""), sent.filename)
        headers = {"Content-Type": sent.mimetype or "application/octet-stream"}
        _call("PUT", _object_path(container, name), data=sent.stream, headers=headers)
    except ApiError as exc:
        return _back("objects.container", refusal(exc, (401, 403)), container=container)
    return go("objects.container", container=container, prefix=prefix, message=f"{name} uploaded.")


@bp.get("/containers/<container>/objects/<path:name>")
def download(container: str, name: str) -> Response:
    """The object, streamed from the gateway as an attachment."""
    upstream = _call("GET", _object_path(container, name), stream=True)

    def body() -> Iterator[bytes]:
        try:
            yield from upstream.iter_content(CHUNK)
        finally:
            upstream.close()

    filename = name.rsplit("/", 1)[-1]
    headers = {
        "Content-Type": upstream.headers.get("Content-Type", "application/octet-stream"),
        "Content-Disposition": "attachment; filename*=UTF-8''"
        + urllib.parse.quote(filename, safe=""),
    }
    if upstream.headers.get("Content-Length"):
        headers["Content-Length"] = upstream.headers["Content-Length"]
    if upstream.headers.get("ETag"):
        headers["ETag"] = upstream.headers["ETag"]
    return Response(body(), headers=headers)


@bp.post("/containers/<container>/objects/<path:name>/delete")
def delete_object(container: str, name: str) -> WerkzeugResponse:
    prefix = request.form.get("prefix", "")
    try:
        _call("DELETE", _object_path(container, name))
    except ApiError as exc:
        return _back("objects.container", refusal(exc, (401, 403)), container=container)
    return redirect(url_for("objects.container", container=container, prefix=prefix))
