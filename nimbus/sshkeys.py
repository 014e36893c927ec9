"""SSH key material for Nova's key pairs: generate, validate, fingerprint.

Nova generates a 2048-bit RSA key (the private key is returned once and never stored)
and fingerprints a public key as the MD5 of its decoded blob, colon-separated, as
``ssh-keygen -l -E md5`` prints it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from nimbus.errors import InvalidSpec

#: The key types OpenSSH's authorized_keys takes that a guest's SSH server may offer.
KEY_TYPES = (
    "ssh-rsa",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)


@dataclass(frozen=True)
class GeneratedKey:
    public_key: str
    private_key: str


def generate(comment: str) -> GeneratedKey:
    """A new RSA key pair in OpenSSH's public and PEM private formats."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return GeneratedKey(f"{public.decode()} {comment}", private.decode())


def fingerprint(public_key: str) -> str:
    """The MD5 fingerprint of an OpenSSH public key line; ``InvalidSpec`` if it is not
    one (unknown type, bad base64, or a blob whose type does not match the line's)."""
    parts = public_key.strip().split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        raise InvalidSpec("Keypair data is invalid: failed to generate fingerprint")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidSpec("Keypair data is invalid: failed to generate fingerprint") from exc
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
