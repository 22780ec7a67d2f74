"""Credentials at rest: Fernet (AES-128-CBC + HMAC) with keys from the environment.

FIELD_ENCRYPTION_KEY holds one Fernet key (44 url-safe base64 characters), or several separated by
commas, newest first: new secrets are encrypted with the first, and a stored secret is read with
whichever key encrypted it (MultiFernet). To rotate, put a new key in front, restart, run
`python manage.py credentials_rotate` (every stored secret re-encrypted with the newest key, audited),
then drop the old keys. The embedded mode derives one key from SECRET_KEY so a demo needs nothing;
production refuses to start without its own (portal/settings.py), so rotating SECRET_KEY does not lose
the credentials.
"""

import base64
import hashlib
import json
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class Undecryptable(ImproperlyConfigured):
    """Stored secrets this instance's key cannot read: the key changed since they were saved."""


def field_keys() -> list[str]:
    """The configured keys, newest first (FIELD_ENCRYPTION_KEY split at commas), read when used."""
    return [key.strip() for key in os.environ.get("FIELD_ENCRYPTION_KEY", "").split(",") if key.strip()]


def _fernet() -> MultiFernet:
    keys = field_keys()
    if not keys:
        if settings.PRODUCTION:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEY is not set: connections cannot store credentials."
            )
        keys = [base64.urlsafe_b64encode(hashlib.sha256(f"fields:{settings.SECRET_KEY}".encode()).digest())]
    return MultiFernet([Fernet(key) for key in keys])


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


def reencrypt(token: str) -> str:
    """The same secret encrypted with the newest key (unchanged when empty); Undecryptable when no
    configured key reads it."""
    if not token:
        return token
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise Undecryptable("no configured FIELD_ENCRYPTION_KEY decrypts it") from exc


def encrypted_with_newest(token: str) -> bool:
    """Whether the newest key alone reads this token."""
    if not token:
        return True
    keys = field_keys()
    newest = MultiFernet([Fernet(keys[0])]) if keys else _fernet()
    try:
        newest.decrypt(token.encode())
    except InvalidToken:
        return False
    return True
