"""A new instance's first day (portal.first_run, `manage.py instance_init`): the first admin and the
default gate policy, audited, and refused once the instance has users or a global policy."""

import pytest
from django.core.management import CommandError, call_command

from portal.first_run import DEFAULT_REQUIREMENTS, AlreadyInitialised, instance_initialise
from portal.models import User
from releases.audit import audit_verify
from releases.models import AuditEvent, GatePolicy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_first_admin_and_the_default_policy_are_made_and_audited():
    admin = instance_initialise(username="owner", email="owner@example.com", password="a long passphrase")
    assert admin.is_superuser and admin.check_password("a long passphrase")
    assert list(admin.groups.values_list("name", flat=True)) == ["Admin"]
    policy = GatePolicy.objects.get(portfolio=None)
    requirements = {r.name: r for r in policy.requirements.select_related("signer_group")}
    assert sorted(requirements) == sorted(row["name"] for row in DEFAULT_REQUIREMENTS)
    assert requirements["Security review"].signer_group.name == "Security reviewer"
    assert requirements["QA sign-off"].criteria == {"min_pass_rate": 0.95, "max_failed": 0}
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions == ["user.create", "gatepolicy.create", *["gaterequirement.create"] * 3]
    assert "password" not in str(AuditEvent.objects.get(action="user.create").after)
    assert audit_verify().ok


def test_an_instance_with_users_is_not_initialised_again():
    UserFactory(username="someone")
    with pytest.raises(AlreadyInitialised):
        instance_initialise(username="owner", email="", password="a long passphrase")
    assert not User.objects.filter(username="owner").exists()
    assert not GatePolicy.objects.exists()


def test_the_command_takes_the_password_from_the_environment_only(monkeypatch):
    monkeypatch.delenv("FLIGHTDECK_ADMIN_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="FLIGHTDECK_ADMIN_PASSWORD"):
        call_command("instance_init")
    monkeypatch.setenv("FLIGHTDECK_ADMIN_PASSWORD", "a long passphrase")
    call_command("instance_init", "--username", "owner")
    assert User.objects.get(username="owner").check_password("a long passphrase")
    with pytest.raises(CommandError, match="already has users"):
        call_command("instance_init", "--username", "other")
