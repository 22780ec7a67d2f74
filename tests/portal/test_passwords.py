"""Passwords are stored with Argon2id at OWASP's parameters; older PBKDF2 hashes still sign in and are
re-hashed then."""

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, identify_hasher
from django.test import Client

from portal.hashers import Argon2idHasher
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_new_password_is_stored_as_argon2id_with_19_mib_2_passes_1_lane():
    user = UserFactory(password="correct horse battery")
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert isinstance(identify_hasher(user.password), Argon2idHasher)
    assert user.check_password("correct horse battery") and not user.check_password("wrong")


def test_a_pbkdf2_hash_signs_in_and_is_rehashed_as_argon2id():
    hasher = PBKDF2PasswordHasher()
    user = UserFactory()
    user.password = hasher.encode("correct horse battery", hasher.salt(), iterations=10_000)
    user.save(update_fields=["password"])
    response = Client().post("/login/", {"username": user.username, "password": "correct horse battery"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")


def test_the_login_page_pauses_a_username_after_too_many_wrong_passwords(settings):
    user = UserFactory(password="correct horse battery")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post("/login/", {"username": user.username, "password": "guess"})
        assert response.status_code == 200 and "Please enter a correct username" in response.content.decode()
    locked = client.post("/login/", {"username": user.username, "password": "guess"})
    assert locked.status_code == 429
    assert "Too many wrong passwords" in locked.content.decode()
    right = client.post("/login/", {"username": user.username, "password": "correct horse battery"})
    assert right.status_code == 429, "the right password is not even tried while paused"
    other = UserFactory(password="correct horse battery")
    assert (
        client.post("/login/", {"username": other.username, "password": "correct horse battery"}).status_code
        == 302
    )
