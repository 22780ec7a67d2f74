"""Credentials at rest: Fernet (AES-128-CBC + HMAC) with a key from the environment.

FIELD_ENCRYPTION_KEY is a Fernet key (44 url-safe base64 characters). The embedded mode derives one
from SECRET_KEY so a demo needs nothing; production sets its own so rotating SECRET_KEY does not
lose the credentials.
"""

import base64
import hashlib
import json
import os

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class Undecryptable(ImproperlyConfigured):
    """Stored secrets this instance's key cannot read: the key changed since they were saved."""


def _fernet() -> Fernet:
    key = os.environ.get("FIELD_ENCRYPTION_KEY")
    if not key:
        if settings.PRODUCTION:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEY is not set: connections cannot store credentials."
            )
        key = base64.urlsafe_b64encode(hashlib.sha256(f"fields:{settings.SECRET_KEY}".encode()).digest())
    return Fernet(key)


def encrypt_json(data: dict) -> str:
    return _fernet().encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise Undecryptable(
            "The stored credentials cannot be decrypted with this instance's key (FIELD_ENCRYPTION_KEY "
            "changed since they were saved): enter them again in the connection's admin page."
        ) from exc
