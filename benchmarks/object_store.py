"""Object storage through the RADOS Gateway: Swift with a Nimbus token against S3 with a key
from ``openstack ec2 credentials create``, in one run on a throw-away cloud.

    small   PUT then GET of a 4 KiB object, one after another (median latency). Every
            Swift request has its token validated by Nimbus (the gateway keeps no token
            cache, so that a revoked token is refused at once); S3 signatures are checked
            by the gateway itself. The ratio is what that validation costs.
    large   PUT then GET of one object of ``--mib`` MiB (throughput).

    python benchmarks/object_store.py [--count N] [--mib N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import throwaway_cloud  # noqa: E402
from nimbus.client import NimbusClient  # noqa: E402
from nimbus.config import Settings  # noqa: E402
from nimbus.exit import exit_now  # noqa: E402

BUCKET = "bench"


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def s3_client(settings: Settings, client: NimbusClient) -> Any:
    import boto3
    from botocore.config import Config

    token = client.call(
        "GET", "/identity/v3/auth/tokens", headers={"X-Subject-Token": client.token}
    ).json()["token"]
    path = f"/identity/v3/users/{token['user']['id']}/credentials/OS-EC2"
    created = client.call("POST", path, json={"tenant_id": client.project_id})
    if created.status_code != 201:
        raise RuntimeError(f"EC2 credential: {created.status_code} {created.text}")
    cred = created.json()["credential"]
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{settings.rgw_port}",
        aws_access_key_id=cred["access"],
        aws_secret_access_key=cred["secret"],
        region_name="nimbus",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


class Swift:
    def __init__(self, settings: Settings, client: NimbusClient) -> None:
        self.base = f"{settings.object_store_endpoint}/AUTH_{client.project_id}/{BUCKET}"
        self.session = requests.Session()
        self.session.headers["X-Auth-Token"] = client.token

    def put(self, name: str, data: bytes) -> None:
        self.session.put(f"{self.base}/{name}", data=data, timeout=300).raise_for_status()

    def get(self, name: str) -> bytes:
        response = self.session.get(f"{self.base}/{name}", timeout=300, stream=True)
        response.raise_for_status()
        return bytes(response.raw.read())  # one read, as boto3 does


def small(
    count: int, put: Callable[[str, bytes], Any], get: Callable[[str], Any]
) -> tuple[float, float]:
    data = os.urandom(4096)
    puts = [timed(lambda i=i: put(f"small-{i}", data)) for i in range(count)]
    gets = [timed(lambda i=i: get(f"small-{i}")) for i in range(count)]
    return statistics.median(puts), statistics.median(gets)


def large(
    mib: int, put: Callable[[str, bytes], Any], get: Callable[[str], Any]
) -> tuple[float, float]:
    data = os.urandom(mib << 20)
    return mib / timed(lambda: put("large", data)), mib / timed(lambda: get("large"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--mib", type=int, default=100)
    args = parser.parse_args()
    with throwaway_cloud() as settings:
        client = NimbusClient(settings.data_dir / "clouds.yaml", timeout=120)
        swift = Swift(settings, client)
        swift.session.put(swift.base, timeout=30).raise_for_status()
        s3 = s3_client(settings, client)

        def s3_put(name: str, data: bytes) -> None:
            s3.put_object(Bucket=BUCKET, Key=name, Body=data)

        def s3_get(name: str) -> bytes:
            return bytes(s3.get_object(Bucket=BUCKET, Key=name)["Body"].read())

        swift_small, s3_small = (
            small(args.count, swift.put, swift.get),
            small(args.count, s3_put, s3_get),
        )
        swift_large, s3_large = (
            large(args.mib, swift.put, swift.get),
            large(args.mib, s3_put, s3_get),
        )
    print(
        f"object storage on the cloud's RADOS Gateway (median of {args.count}; one {args.mib} MiB)"
    )
    print(f"{'':<26}{'Swift (token)':>15}{'S3 (key)':>12}{'ratio':>8}")
    for label, a, b, unit, scale in (
        ("4 KiB PUT", swift_small[0], s3_small[0], "ms", 1000),
        ("4 KiB GET", swift_small[1], s3_small[1], "ms", 1000),
        (f"{args.mib} MiB PUT", swift_large[0], s3_large[0], "MiB/s", 1),
        (f"{args.mib} MiB GET", swift_large[1], s3_large[1], "MiB/s", 1),
    ):
        cells = f"{a * scale:>9.1f} {unit:<5}{b * scale:>7.1f} {unit:<5}"
        print(f"{label:<26}{cells}{a / b:>6.2f}")


if __name__ == "__main__":
    main()
    exit_now(0)
