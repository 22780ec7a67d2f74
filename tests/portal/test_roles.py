"""The six roles of DESIGN.md exist as groups after migrating, each with exactly its permissions."""

import pytest
from django.contrib.auth.models import Group

from portal import roles
from portal.roles import role_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def perms_of(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list("content_type__app_label", "codename")
    }


def test_the_six_roles_exist_after_migrating():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "Project office",
        "Release manager",
        "Security reviewer",
        "Environment admin",
        "Auditor",
        "Admin",
    }


@pytest.mark.parametrize("role", roles.ROLES)
def test_each_group_holds_exactly_the_permissions_of_its_role(role):
    assert perms_of(role) == set(roles.ROLE_PERMISSIONS[role])


def test_project_office_only_reads():
    perms = perms_of(roles.PROJECT_OFFICE)
    assert "releases.view_release" in perms
    assert "releases.view_booking" in perms
    assert all(perm.split(".")[1].startswith("view_") for perm in perms)
    assert "releases.view_auditevent" not in perms


def test_security_reviewer_signs_but_does_not_waive():
    perms = perms_of(roles.SECURITY_REVIEWER)
    assert "releases.sign_gate" in perms
    assert "releases.waive_gate" not in perms
    assert "releases.change_release" not in perms


def test_admin_waives_and_manages_connections():
    perms = perms_of(roles.ADMIN)
    assert {"releases.waive_gate", "releases.sign_gate", "integrations.change_connection"} <= perms


def test_policies_are_proposed_by_managers_and_governance_and_approved_by_a_second_role():
    policy = {"releases.change_gatepolicy", "releases.add_gaterequirement", "releases.delete_gaterequirement"}
    for role in (roles.ADMIN, roles.RELEASE_MANAGER, roles.GOVERNANCE):
        assert policy <= perms_of(role)
    approvers = {role for role in roles.ROLES if "releases.approve_policychange" in perms_of(role)}
    assert approvers == {roles.ADMIN, roles.GOVERNANCE}


def test_only_the_pipeline_role_uploads_test_reports():
    """The README said no role uploads while release managers could: evidence now comes only from a
    pipeline's service account (or a sync), never from the people who ship the release."""
    uploaders = {role for role in roles.ROLES if "releases.add_testrun" in perms_of(role)}
    assert uploaders == {roles.PIPELINE}


def test_change_managers_sign_and_nothing_else():
    assert perms_of(roles.CHANGE_MANAGER) - perms_of(roles.PROJECT_OFFICE) == {"releases.sign_gate"}


def test_auditor_verifies_the_chain_and_changes_nothing():
    perms = perms_of(roles.AUDITOR)
    assert {"releases.verify_audit", "releases.view_auditevent"} <= perms
    assert not [perm for perm in perms if perm.split(".")[1].split("_")[0] in {"add", "change", "delete"}]


def test_release_manager_changes_dates_and_environment_admin_decides_bookings():
    assert "releases.change_release_dates" in perms_of(roles.RELEASE_MANAGER)
    assert "releases.decide_booking" not in perms_of(roles.RELEASE_MANAGER)
    assert "releases.decide_booking" in perms_of(roles.ENVIRONMENT_ADMIN)
    assert "releases.sign_gate" not in perms_of(roles.ENVIRONMENT_ADMIN)


def test_a_member_gets_the_permissions_of_the_group(user_in_role):
    reviewer = user_in_role(roles.SECURITY_REVIEWER)
    assert reviewer.has_perm("releases.sign_gate")
    assert not reviewer.has_perm("releases.waive_gate")
    assert user_in_role(roles.ADMIN).has_perm("releases.waive_gate")
    assert not UserFactory().has_perm("releases.view_release")


@pytest.mark.parametrize("role", roles.ROLES)
def test_role_of_names_the_users_group(user_in_role, role):
    assert role_of(user_in_role(role)) == role


def test_role_of_picks_the_first_role_in_order_for_several_groups(user_in_role):
    user = user_in_role(roles.AUDITOR)
    user.groups.add(Group.objects.get(name=roles.SECURITY_REVIEWER))
    assert role_of(user) == roles.SECURITY_REVIEWER


def test_role_of_a_superuser_is_admin_and_of_a_user_without_group_no_role():
    assert role_of(UserFactory(is_superuser=True, is_staff=True)) == "Admin"
    assert role_of(UserFactory()) == "No role"
