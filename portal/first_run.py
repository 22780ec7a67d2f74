"""A new instance's first day: its first admin and its default gate policy, in one audited transaction.

`instance_init` (a management command) calls this when `python -m instances stamp` makes an
instance; the roles themselves come with the migrations (portal.roles).
"""

from django.contrib.auth.models import Group
from django.db import transaction

from portal.models import User
from portal.roles import ADMIN, CHANGE_MANAGER, SECURITY_REVIEWER
from releases.audit import audit_record
from releases.gates.services import policies as policy_services
from releases.models import GatePolicy

# The global policy a new instance starts with: every release is reviewed for security, passes its
# tests and is approved by change management. The customer's admins change it like any other policy.
DEFAULT_POLICY_NAME = "Release policy"
DEFAULT_REQUIREMENTS = (
    {"kind": "security", "name": "Security review", "group": SECURITY_REVIEWER, "approvals": 1, "due": 5},
    {
        "kind": "qa",
        "name": "QA sign-off",
        "group": None,
        "approvals": 0,
        "due": 3,
        "criteria": {"min_pass_rate": 0.95, "max_failed": 0},
    },
    {"kind": "cab", "name": "CAB approval", "group": CHANGE_MANAGER, "approvals": 1, "due": 2},
)


class AlreadyInitialised(Exception):
    """The instance has users or a global policy already: its first day is over."""


@transaction.atomic
def instance_initialise(*, username: str, email: str, password: str) -> User:
    """The first admin (a superuser in the Admin role) and the default global gate policy. Refused
    (nothing written) once the instance has a user or a global policy."""
    if User.objects.exists() or GatePolicy.objects.filter(portfolio=None).exists():
        raise AlreadyInitialised("This instance already has users or a global gate policy.")
    admin = User(username=username, email=email, is_staff=True, is_superuser=True)
    admin.set_password(password)
    admin.full_clean()
    admin.save()
    admin.groups.add(Group.objects.get(name=ADMIN))
    audit_record(actor=None, action="user.create", obj=admin, after={"username": username, "role": ADMIN})
    policy = policy_services.gate_policy_create(portfolio=None, by=admin, name=DEFAULT_POLICY_NAME)
    groups = {g.name: g for g in Group.objects.filter(name__in=[SECURITY_REVIEWER, CHANGE_MANAGER])}
    for row in DEFAULT_REQUIREMENTS:
        policy_services.gate_requirement_save(
            policy=policy,
            by=admin,
            kind=row["kind"],
            name=row["name"],
            signer_group=groups.get(row["group"]),
            approvals_required=row["approvals"],
            criteria=row.get("criteria", {}),
            due_days_before_target=row["due"],
        )
    return admin
