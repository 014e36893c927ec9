"""Key material for key pairs: generated keys, fingerprints, malformed keys refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nimbus.errors import InvalidSpec
from nimbus.sshkeys import fingerprint, generate


def test_a_generated_key_fingerprints_as_ssh_keygen_does(tmp_path: Path) -> None:
    made = generate("Generated-by-Nimbus k1")
    assert made.public_key.startswith("ssh-rsa ") and made.public_key.endswith(" k1")
    assert "PRIVATE KEY" in made.private_key
    path = tmp_path / "k.pub"
    path.write_text(made.public_key + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "md5", "-f", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert f"MD5:{fingerprint(made.public_key)}" in out.stdout


@pytest.mark.parametrize(
    "text",
    ["", "ssh-rsa", "ssh-rsa not-base64!", "ssh-foo AAAA", "ssh-ed25519 AAAAC3NzaC1yc2E="],
)
def test_malformed_key_material_is_refused(text: str) -> None:
    with pytest.raises(InvalidSpec, match="Keypair data is invalid"):
        fingerprint(text)
