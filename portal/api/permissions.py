"""The pages' permissions, applied to the API: a view names the permission each method needs.

`permissions = {"GET": "releases.view_release", "POST": "releases.add_release"}`; a method it does not
name needs only a signed-in user (as the page that reads it: the sync runs). A refusal is recorded in
the audit trail, as the pipeline API records it (releases.gates.api.api_denied_record).
"""

from rest_framework.permissions import BasePermission

from releases.gates.api import api_denied_record


def required_permission(view, method: str) -> str | None:
    permissions = getattr(view, "permissions", {})
    return permissions.get("GET" if method == "HEAD" else method)


class ModelPermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        permission = required_permission(view, request.method)
        if permission is None or request.user.has_perm(permission):
            return True
        api_denied_record(request=request._request, permission=permission)
        self.message = f"Your account lacks the permission {permission}."
        return False
