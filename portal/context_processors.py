from django.db.models import prefetch_related_objects
from django.urls import reverse

from portal.roles import ROLE_PERMISSIONS, role_of
from releases.notifications.selectors import unread_count

AUDIT_PERMISSION = "releases.view_auditevent"
PLAN_PERMISSION = "releases.add_release"  # new releases and clones (releases.planning.views.release_create)

NAVIGATION = [
    ("Home", "home"),
    ("Calendar", "calendar:month"),
    ("Releases", "releases:list"),
    ("Trains", "releases:trains"),
    ("Gates", "gates:queue"),
    ("Environments", "environments:list"),
    ("Integrations", "integrations:index"),
    ("Metrics", "metrics:dashboard"),
]


def navigation(request) -> dict:
    """The main navigation with the current section marked, and the signed-in user's role."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    path = request.path
    items = []
    urls = [(label, reverse(name)) for label, name in NAVIGATION]
    # The section is the longest URL the path starts with: /releases/trains/ is Trains, not Releases.
    matches = [url for _, url in urls if (path == url if url == "/" else path.startswith(url))]
    section = max(matches, key=len, default=None)
    for label, url in urls:
        items.append({"label": label, "url": url, "current": url == section})
    # The groups are read once for the audit link, the planning links and the role badge. What a
    # role may do is read from its definition (the groups' permissions are synced from it): a link
    # shown costs no permission query; the views check the permission itself.
    prefetch_related_objects([user], "groups")
    allowed = {
        permission for group in user.groups.all() for permission in ROLE_PERMISSIONS.get(group.name, ())
    }
    if user.is_superuser or AUDIT_PERMISSION in allowed:
        url = reverse("audit:list")
        items.append({"label": "Audit trail", "url": url, "current": path.startswith(url)})
    if user.is_staff:
        items.append({"label": "Admin", "url": reverse("admin:index"), "current": path.startswith("/admin/")})
    may_plan = user.is_superuser or PLAN_PERMISSION in allowed
    return {"nav_items": items, "user_role": role_of(user), "may_plan_releases": may_plan}


def notifications(request) -> dict:
    """The header's unread count: one COUNT, run only when a template shows it (a full page does, an
    HTMX partial does not), and once however often it is shown."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    cached = []

    def unread() -> int:
        if not cached:
            cached.append(unread_count(user=user))
        return cached[0]

    return {"unread_notifications": unread}
