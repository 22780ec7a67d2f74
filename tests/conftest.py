"""Shared fixtures: users in a role, logged-in clients, a superuser."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from tests.factories import UserFactory


@pytest.fixture
def user_in_role(db):
    """user_in_role("Security reviewer", first_name="Sam") -> a user in that role's group."""

    def make(role: str, **fields):
        user = UserFactory(**fields)
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def client_for(user_in_role):
    """client_for("Auditor") -> a test client logged in as a new user in that role."""

    def make(role: str, **fields) -> Client:
        client = Client()
        client.force_login(user_in_role(role, **fields))
        return client

    return make


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", first_name="Rita", last_name="Root", is_staff=True, is_superuser=True)


@pytest.fixture
def superuser_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client
