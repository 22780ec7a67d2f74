from django.urls import reverse

from portal.roles import role_of

NAVIGATION = [
    ("Home", "home"),
    ("Calendar", "calendar:month"),
    ("Releases", "releases:list"),
    ("Gates", "gates:queue"),
    ("Environments", "environments:list"),
    ("Integrations", "integrations:index"),
    ("Metrics", "metrics"),
]


def navigation(request) -> dict:
    """The main navigation with the current section marked, and the signed-in user's role."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    path = request.path
    items = []
    for label, name in NAVIGATION:
        url = reverse(name)
        current = path == url if url == "/" else path.startswith(url)
        items.append({"label": label, "url": url, "current": current})
    if user.is_staff:
        items.append({"label": "Admin", "url": reverse("admin:index"), "current": path.startswith("/admin/")})
    return {"nav_items": items, "user_role": role_of(user)}
