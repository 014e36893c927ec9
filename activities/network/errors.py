"""The one place where netlink, nftables, process and OS errors become ``nimbus.errors``.

    NetlinkError  EINVAL, ERANGE, EOPNOTSUPP, EADDRNOTAVAIL -> InvalidSpec
                  anything else                             -> BackendUnavailable
    NftError      a script nft could not parse or type-check -> InvalidSpec
                  anything else (the kernel refused it)      -> BackendUnavailable
    OSError, CalledProcessError, TimeoutExpired             -> BackendUnavailable

``NimbusError`` raised on purpose passes through unchanged.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2.netlink.exceptions import NetlinkError

from activities.network.nft import NftError
from nimbus.errors import BackendUnavailable, InvalidSpec, NimbusError

_INVALID_ERRNOS = {errno.EINVAL, errno.ERANGE, errno.EOPNOTSUPP, errno.EADDRNOTAVAIL}
_INVALID_NFT = ("syntax error", "datatype mismatch", "Could not resolve", "conflicting")


def translate(exc: BaseException, what: str) -> NimbusError:
    """The ``nimbus.errors`` exception standing for backend error ``exc`` during ``what``."""
    if isinstance(exc, NimbusError):
        return exc
    if isinstance(exc, NetlinkError):
        kind = InvalidSpec if exc.code in _INVALID_ERRNOS else BackendUnavailable
        return kind(f"{what}: netlink: {exc}")
    if isinstance(exc, NftError):
        text = str(exc)
        kind = InvalidSpec if any(m in text for m in _INVALID_NFT) else BackendUnavailable
        return kind(f"{what}: nftables: {text}")
    if isinstance(exc, subprocess.CalledProcessError):
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        return BackendUnavailable(f"{what}: {exc} {stderr}".strip())
    return BackendUnavailable(f"{what}: {exc}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise backend errors from the block as ``nimbus.errors`` (``raise ... from``)."""
    try:
        yield
    except (NimbusError, NetlinkError, NftError, OSError, subprocess.SubprocessError) as exc:
        if isinstance(exc, NimbusError):
            raise
        raise translate(exc, what) from exc
