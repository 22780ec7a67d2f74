"""The roles of DESIGN.md as Django groups, and the permissions each one holds.

A data migration applies this table (portal 0002); a later change to it needs a new migration that
calls `roles_sync` again.
"""

PROJECT_OFFICE = "Project office"
RELEASE_MANAGER = "Release manager"
SECURITY_REVIEWER = "Security reviewer"
ENVIRONMENT_ADMIN = "Environment admin"
AUDITOR = "Auditor"
ADMIN = "Admin"
CHANGE_MANAGER = "Change manager"
GOVERNANCE = "Governance officer"
PIPELINE = "Pipeline"

_READ_DOMAIN = [
    f"releases.view_{model}"
    for model in (
        "portfolio",
        "application",
        "releasetrain",
        "release",
        "releasedependency",
        "gatepolicy",
        "gaterequirement",
        "policychange",
        "gate",
        "signoff",
        "environment",
        "environmentcomponent",
        "booking",
        "freezewindow",
        "deployment",
        "workitem",
        "workitemlink",
        "build",
        "testrun",
    )
]

# Proposing a change to a gate policy; one that weakens the policy waits for a second person who
# holds releases.approve_policychange (see releases.gates.services.policy_changes).
_PROPOSE_POLICY = [
    "releases.add_gatepolicy",
    "releases.change_gatepolicy",
    "releases.add_gaterequirement",
    "releases.change_gaterequirement",
    "releases.delete_gaterequirement",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    PROJECT_OFFICE: [*_READ_DOMAIN],
    RELEASE_MANAGER: [
        *_READ_DOMAIN,
        "releases.add_release",
        "releases.change_release",
        "releases.change_release_dates",
        "releases.add_releasedependency",
        "releases.delete_releasedependency",
        "releases.add_releasetrain",
        "releases.change_releasetrain",
        *_PROPOSE_POLICY,
        "releases.add_booking",
        # No releases.add_testrun: a release's evidence never comes from the people who ship it;
        # their pipelines upload reports under a service account in the Pipeline role.
    ],
    SECURITY_REVIEWER: [*_READ_DOMAIN, "releases.sign_gate"],
    ENVIRONMENT_ADMIN: [
        *_READ_DOMAIN,
        "releases.add_environment",
        "releases.change_environment",
        "releases.add_booking",
        "releases.change_booking",
        "releases.decide_booking",
        "releases.add_freezewindow",
        "releases.change_freezewindow",
        "releases.delete_freezewindow",
    ],
    AUDITOR: [*_READ_DOMAIN, "releases.view_auditevent", "releases.verify_audit"],
    ADMIN: [
        *_READ_DOMAIN,
        "releases.view_auditevent",
        "releases.verify_audit",
        "releases.waive_gate",
        "releases.sign_gate",
        *_PROPOSE_POLICY,
        "releases.approve_policychange",  # the fallback when no governance officer is at hand
        "releases.add_portfolio",
        "releases.change_portfolio",
        "releases.add_application",
        "releases.change_application",
        "releases.add_environment",
        "releases.change_environment",
        "releases.decide_booking",
        "releases.add_freezewindow",
        "releases.change_freezewindow",
        "releases.delete_freezewindow",
        "integrations.view_connection",
        "integrations.add_connection",
        "integrations.change_connection",
        "integrations.delete_connection",
        "integrations.run_sync",
        "integrations.view_syncrun",
        "integrations.view_applicationmapping",
        "integrations.add_applicationmapping",
        "integrations.change_applicationmapping",
        "integrations.delete_applicationmapping",
        "portal.view_user",
        "portal.add_user",
        "portal.change_user",
    ],
    # Signs the change-advisory (CAB) and other operational gates.
    CHANGE_MANAGER: [*_READ_DOMAIN, "releases.sign_gate"],
    # Owns the gate policies: proposes changes and approves the weakening ones others propose.
    GOVERNANCE: [
        *_READ_DOMAIN,
        *_PROPOSE_POLICY,
        "releases.approve_policychange",
        "releases.view_auditevent",
    ],
    # For a pipeline's service account: reads gates (can-deploy) and uploads JUnit reports.
    PIPELINE: [*_READ_DOMAIN, "releases.add_testrun"],
}

ROLES = list(ROLE_PERMISSIONS)


def roles_sync(apps, schema_editor=None) -> None:
    """Create each role group and set exactly its permissions (usable from a migration)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # Migrations' app configs have no models module, which create_permissions needs to see.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    known = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        # An early migration runs before later models (and their permissions) exist: it sets what
        # exists then, and the latest roles migration sets the rest.
        group.permissions.set([known[perm] for perm in perms if perm in known])


def role_of(user) -> str:
    """The role to show next to a user's name: the first of their groups in ROLES order."""
    if user.is_superuser:
        return ADMIN
    names = {group.name for group in user.groups.all()}
    return next((role for role in ROLES if role in names), "No role")
