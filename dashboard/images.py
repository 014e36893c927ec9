"""Images (list, detail, upload with progress, delete, a server's snapshot) through the
image API (Glance v2), and volume snapshots (list, create, delete, a volume from one)
through the block storage API (Cinder v3), each as the signed-in user."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import IO, Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response as WerkzeugResponse

from dashboard.apiclient import ApiError, refusal
from dashboard.pages import go
from dashboard.storage import volumes_list

bp = Blueprint("images", __name__)
IMAGE = "/image/v2"
COMPUTE = "/compute/v2.1"
#: Image statuses that change by themselves. ``queued`` is not one: it is the resting
#: state of a record without data, and a page polling for it would poll forever.
IMAGE_MOVING = frozenset({"saving", "importing", "uploading"})
SNAPSHOT_MOVING = frozenset({"creating", "deleting", "restoring"})
#: What the upload form offers: the formats the image API stores, and its visibilities
#: (``public`` only for an admin, as the API's policy has it).
DISK_FORMATS = ("raw", "qcow2")
VISIBILITIES = ("private", "shared", "community")
#: The piece of an uploaded file held in memory at a time on its way to the image API.
CHUNK = 1 << 20
#: How long the upload waits for the API's answer: the API answers once its import
#: workflow has stored the image, which it allows two hours; a little more here.
UPLOAD_WAIT_SECONDS = 2 * 3600 + 300
#: Fields of an image that are not its own properties (shown apart on its page).
IMAGE_FIELDS = frozenset(
    {
        "id",
        "name",
        "status",
        "visibility",
        "protected",
        "os_hidden",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "owner",
        "size",
        "virtual_size",
        "min_ram",
        "min_disk",
        "disk_format",
        "container_format",
        "tags",
        "created_at",
        "updated_at",
        "self",
        "file",
        "schema",
    }
)


def bytes_text(size: int | None) -> str:
    """A size in bytes as people read it (``1.5 MiB``); ``-`` while there is no data."""
    if size is None:
        return "-"
    value, unit = float(size), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"bytes_text": bytes_text}


# -- images -------------------------------------------------------------------------


def _images() -> list[dict[str, Any]]:
    found = g.api.get(f"{IMAGE}/images")["images"]
    return sorted(found, key=lambda i: (i.get("name") or "", i["id"]))


def _image_polling(images: list[dict[str, Any]]) -> bool:
    return any(i.get("status") in IMAGE_MOVING for i in images)


@bp.get("/images")
def images() -> str:
    found = _images()
    return render_template(
        "images.html",
        images=found,
        polling=_image_polling(found),
        disk_formats=DISK_FORMATS,
        visibilities=VISIBILITIES + (("public",) if g.session.is_admin else ()),
        message=request.args.get("message"),
        error=request.args.get("error"),
    )


@bp.get("/images/rows")
def image_rows() -> str:
    """The table's body alone, for htmx to swap in while an image is being saved."""
    found = _images()
    return render_template("_image_rows.html", images=found, polling=_image_polling(found))


@bp.get("/images/<image_id>")
def image(image_id: str) -> str:
    found = g.api.get(f"{IMAGE}/images/{image_id}")
    properties = {k: v for k, v in found.items() if k not in IMAGE_FIELDS}
    return render_template(
        "image.html", image=found, properties=properties, error=request.args.get("error")
    )


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    """The uploaded file piece by piece: ``requests`` sends a generator chunked, so the
    image is never whole in memory on its way to the API."""
    while chunk := stream.read(CHUNK):
        yield chunk


def _send_data(image_id: str, file: FileStorage) -> None:
    """Stream the file into the image; on a refusal, delete the record it was meant for
    (it would stay ``queued`` with no data) and raise the refusal."""
    patient = dataclasses.replace(g.api, timeout=UPLOAD_WAIT_SECONDS)
    try:
        patient.json(
            "PUT",
            f"{IMAGE}/images/{image_id}/file",
            data=_chunks(file.stream),
            headers={"Content-Type": "application/octet-stream"},
        )
    except ApiError as exc:
        try:
            g.api.json("DELETE", f"{IMAGE}/images/{image_id}")
        except ApiError as left:
            said = f"{exc.message} (its record {image_id} is left: {left.message})"
            raise ApiError(exc.status, said) from exc
        raise


def _new_image() -> dict[str, Any]:
    """The upload form's fields as the image API's create body."""
    return {
        "name": request.form.get("name", "").strip(),
        "disk_format": request.form.get("disk_format", ""),
        "container_format": "bare",
        "visibility": request.form.get("visibility", "private"),
    }


# The dashboard sets no MAX_CONTENT_LENGTH: the limit that counts is the image API's own
# (``image_size_cap``), which refuses a larger image as it streams in. Werkzeug spools a
# file part past 500 KiB to a temporary file, so a big image costs the dashboard disk,
# not memory. Nor does gunicorn's ``timeout`` cut a long upload: with gthread workers it
# is the worker's heartbeat, which the main loop beats every second whatever its
# threads are doing.
@bp.post("/images")
def upload() -> WerkzeugResponse:
    """Create the image record, then stream the form's file into it; the API answers
    once the image is stored. A refused upload leaves no record."""
    body, file = _new_image(), request.files.get("file")
    try:
        if not body["name"]:
            raise ApiError(400, "Give the image a name.")
        if file is None or not file.filename:
            raise ApiError(400, "Choose the image file to upload.")
        made = g.api.json("POST", f"{IMAGE}/images", json=body)
        _send_data(made["id"], file)
        status = g.api.get(f"{IMAGE}/images/{made['id']}")["status"]
    except ApiError as exc:
        return go("images.images", error=refusal(exc))
    return go("images.images", message=f"Image {body['name']} uploaded: it is {status}.")


@bp.post("/images/<image_id>/delete")
def delete_image(image_id: str) -> WerkzeugResponse:
    try:
        g.api.json("DELETE", f"{IMAGE}/images/{image_id}")
    except ApiError as exc:
        return go("images.images", error=refusal(exc, (401, 404)))
    return go("images.images", message="Image deleted.")


@bp.post("/servers/<server_id>/snapshot")
def snapshot_server(server_id: str) -> WerkzeugResponse:
    """Nova's ``createImage``: a new private image of the server's disk, ``saving`` on
    the images page until its workflow has copied the disk."""
    name = request.form.get("name", "").strip()
    try:
        if not name:
            raise ApiError(400, "Give the snapshot a name.")
        body = {"createImage": {"name": name}}
        g.api.json("POST", f"{COMPUTE}/servers/{server_id}/action", json=body)
    except ApiError as exc:
        error = refusal(exc, (401, 404))
        return redirect(url_for("compute.server", server_id=server_id, error=error))
    return go("images.images", message=f"Snapshot {name} of the server is being made.")


# -- volume snapshots ------------------------------------------------------------------


def _volume_base() -> str:
    return f"/volume/v3/{g.session.project_id}"


def _snapshots() -> list[dict[str, Any]]:
    found = g.api.get(f"{_volume_base()}/snapshots/detail")["snapshots"]
    return sorted(found, key=lambda s: (s.get("name") or "", s["id"]))


def _snapshot_polling(snapshots: list[dict[str, Any]]) -> bool:
    return any(s.get("status") in SNAPSHOT_MOVING for s in snapshots)


def _volume_names(volumes: list[dict[str, Any]]) -> dict[str, str]:
    return {v["id"]: v.get("name") or v["id"] for v in volumes}


@bp.get("/snapshots")
def snapshots() -> str:
    found, volumes = _snapshots(), volumes_list()
    return render_template(
        "snapshots.html",
        snapshots=found,
        polling=_snapshot_polling(found),
        names=_volume_names(volumes),
        volumes=[v for v in volumes if v["status"] in ("available", "in-use")],
        error=request.args.get("error"),
        message=request.args.get("message"),
    )


@bp.get("/snapshots/rows")
def snapshot_rows() -> str:
    """The table's body alone, for htmx to swap in while a snapshot is being made."""
    found = _snapshots()
    return render_template(
        "_snapshot_rows.html",
        snapshots=found,
        polling=_snapshot_polling(found),
        names=_volume_names(volumes_list()),
    )


@bp.get("/snapshots/<snapshot_id>")
def snapshot(snapshot_id: str) -> str:
    found = g.api.get(f"{_volume_base()}/snapshots/{snapshot_id}")["snapshot"]
    return render_template(
        "snapshot.html",
        snapshot=found,
        volume_name=_volume_names(volumes_list()).get(found["volume_id"], found["volume_id"]),
        error=request.args.get("error"),
    )


def _volume_status(volume_id: str) -> str:
    volume = g.api.get(f"{_volume_base()}/volumes/{volume_id}")["volume"]
    return str(volume["status"])


@bp.post("/snapshots")
def create_snapshot() -> WerkzeugResponse:
    """Snapshot one of the project's volumes. An attached volume is snapshotted with
    ``force``, as Cinder asks (and Horizon does): the copy is crash-consistent."""
    volume_id = request.form.get("volume_id", "")
    spec: dict[str, Any] = {
        "volume_id": volume_id,
        "name": request.form.get("name", "").strip() or None,
    }
    try:
        if not volume_id:
            raise ApiError(400, "Choose the volume to snapshot.")
        spec["force"] = _volume_status(volume_id) == "in-use"
        g.api.json("POST", f"{_volume_base()}/snapshots", json={"snapshot": spec})
    except ApiError as exc:
        return go("images.snapshots", error=refusal(exc))
    return go("images.snapshots")


@bp.post("/snapshots/<snapshot_id>/delete")
def delete_snapshot(snapshot_id: str) -> WerkzeugResponse:
    try:
        g.api.json("DELETE", f"{_volume_base()}/snapshots/{snapshot_id}")
    except ApiError as exc:
        return go("images.snapshots", error=refusal(exc, (401, 404)))
    return go("images.snapshots", message="Snapshot deleted.")


@bp.post("/snapshots/<snapshot_id>/volume")
def volume_from_snapshot(snapshot_id: str) -> WerkzeugResponse:
    """A new volume with the snapshot's data; it appears on the volumes page, creating
    until its workflow has cloned the snapshot."""
    volume: dict[str, Any] = {
        "snapshot_id": snapshot_id,
        "name": request.form.get("name", "").strip() or None,
    }
    try:
        if request.form.get("size", "").strip():
            volume["size"] = int(request.form["size"])
        g.api.json("POST", f"{_volume_base()}/volumes", json={"volume": volume})
    except ValueError:
        error = "The size must be a whole number of GiB."
        return redirect(url_for("images.snapshot", snapshot_id=snapshot_id, error=error))
    except ApiError as exc:
        error = refusal(exc, (401, 404))
        return redirect(url_for("images.snapshot", snapshot_id=snapshot_id, error=error))
    return redirect(url_for("storage.volumes"))
