"""Tokopedia's encrypted buyer data (`encryption` = {"secret", "content"}), as its docs describe it.

* ``secret``: base64 of a 32-byte AES key encrypted with RSA-OAEP (SHA-256 for
  the digest and MGF1) under the seller's registered public key;
* ``content``: base64 of AES-256-GCM ciphertext || 16-byte tag || 12-byte nonce
  (the nonce is the last 12 bytes), decrypting to JSON with the buyer data.

`cryptography` is imported inside the functions: most invocations never
decrypt, and the import costs cold-start time.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
from collections.abc import Callable
from typing import Any

from oms.errors import NormalizationError

_NONCE = 12
_TAG = 16
_KEY_ALPHABET = string.ascii_letters + string.digits


def decryptor(private_key_pem: str) -> Callable[[dict], dict]:
    """A function that opens an `encryption` object with the seller's RSA private key (PEM)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError, AttributeError):
        raise NormalizationError("tokopedia private key is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise NormalizationError("tokopedia private key is not an RSA key")
    oaep = _oaep()

    def decrypt(encryption: dict) -> dict:
        if not isinstance(encryption, dict):
            raise NormalizationError("encryption must be an object")
        wrapped = _b64(encryption.get("secret"), "encryption.secret")
        sealed = _b64(encryption.get("content"), "encryption.content")
        try:
            aes_key = key.decrypt(wrapped, oaep)
        except ValueError:
            raise NormalizationError("encryption.secret does not open with this private key") from None
        if len(aes_key) not in (16, 24, 32):
            raise NormalizationError("encryption.secret is not an AES key")
        if len(sealed) < _NONCE + _TAG:
            raise NormalizationError("encryption.content is too short")
        nonce, body = sealed[-_NONCE:], sealed[:-_NONCE]  # body = ciphertext || tag, as AESGCM wants it
        try:
            plain = AESGCM(aes_key).decrypt(nonce, body, None)
        except InvalidTag:
            raise NormalizationError("encryption.content failed authentication") from None
        try:
            data = json.loads(plain)
        except (UnicodeDecodeError, ValueError):
            raise NormalizationError("encryption.content is not JSON") from None
        if not isinstance(data, dict):
            raise NormalizationError("encryption.content is not a JSON object")
        return data

    return decrypt


def encrypt_for(public_key_pem: str, data: dict[str, Any]) -> dict[str, str]:
    """The `encryption` object Tokopedia would send for ``data`` (the simulator's and the tests' side)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    # "Random generated 32 bytes of characters", per Tokopedia's guide.
    aes_key = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32)).encode()
    nonce = secrets.token_bytes(_NONCE)
    sealed = AESGCM(aes_key).encrypt(nonce, json.dumps(data, separators=(",", ":")).encode(), None)
    return {
        "secret": base64.b64encode(key.encrypt(aes_key, _oaep())).decode(),
        "content": base64.b64encode(sealed + nonce).decode(),
    }


def new_key_pair() -> tuple[str, str]:
    """(private PEM, public PEM): a seller key for Tokopedia's encryption (local runs and tests)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return private, public_key_of(private)


def public_key_of(private_key_pem: str) -> str:
    """The public PEM that goes with a private one (what the seller registers with Tokopedia)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return public.decode()


def _oaep():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _b64(value: object, field: str) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise NormalizationError(f"missing {field}")
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise NormalizationError(f"{field} is not base64") from None
