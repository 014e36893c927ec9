from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from api.image.data import stage
from nimbus.errors import InvalidSpec


def test_staging_hashes_the_data_and_leaves_holes_for_zeros(tmp_path: Path) -> None:
    data = b"head" + b"\0" * (8 << 20) + b"tail"
    size, md5, sha = stage(io.BytesIO(data), tmp_path / "img", cap=1 << 30)
    staged = tmp_path / "img"
    assert (size, md5, sha) == (
        len(data),
        hashlib.md5(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
    )
    assert staged.read_bytes() == data
    assert staged.stat().st_blocks * 512 < len(data) // 2


def test_staging_refuses_empty_and_oversized_data(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec):
        stage(io.BytesIO(b""), tmp_path / "empty", cap=10)
    with pytest.raises(InvalidSpec):
        stage(io.BytesIO(b"x" * 11), tmp_path / "big", cap=10)
