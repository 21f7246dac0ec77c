"""Encryption at rest for user secrets (delegated tokens, personal facility tokens)."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Box", "InvalidToken"]


class Box:
    """Encrypts and decrypts with a key given as text: a Fernet key, or any secret to derive one from."""

    def __init__(self, key_text: str):
        self._fernet = Fernet(_fernet_key(key_text))

    def seal(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def open(self, ciphertext: bytes) -> str:
        return self._fernet.decrypt(ciphertext).decode()


def _fernet_key(text: str) -> bytes:
    try:
        if len(base64.urlsafe_b64decode(text.encode())) == 32:
            return text.encode()
    except ValueError:
        pass
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"esap user secrets").derive(text.encode())
    return base64.urlsafe_b64encode(derived)
