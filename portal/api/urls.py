"""/api/v1/ (the REST API), /api/schema/ (its OpenAPI 3 schema) and /api/docs/ (Swagger UI, served from
drf-spectacular-sidecar's vendored files). Included by portal/urls.py in the "rest" namespace.

The API authenticates for itself (a token, or the session with CSRF: portal.api.auth), so its views
are exempt from LoginRequiredMiddleware and answer 401 in JSON instead of a redirect to /login/.
"""

import re

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.renderers import JSONRenderer

from portal.api import schema, views


class SchemaDetail(SpectacularAPIView):
    """The schema in YAML (or JSON: ?format=json, or Accept: application/json); its errors in JSON.
    Every operation documents its problem answers (portal.api.schema)."""

    custom_settings = {"POSTPROCESSING_HOOKS": schema.POSTPROCESSING_HOOKS}

    def finalize_response(self, request, response, *args, **kwargs):
        if response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


class DocsDetail(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served apart (?script), not inline: the Content-Security-Policy
    allows no inline script (portal/security.py)."""

    url_name = "rest:schema"
    template_name = "portal/api_docs.html"


def view(view_class, **initkwargs):
    """The class's view, named <noun>_<verb> after it (ReleaseList -> release_list, docs/style.md)."""
    function = view_class.as_view(**initkwargs)
    function.__name__ = re.sub(r"(?<!^)(?=[A-Z])", "_", view_class.__name__).lower()
    function.login_required = False
    return function


urlpatterns = [
    path("schema/", view(SchemaDetail), name="schema"),
    path("docs/", view(DocsDetail), name="docs"),
    path("v1/portfolios/", view(views.PortfolioList), name="portfolio-list"),
    path("v1/portfolios/<int:pk>/", view(views.PortfolioDetail), name="portfolio-detail"),
    path("v1/applications/", view(views.ApplicationList), name="application-list"),
    path("v1/applications/<int:pk>/", view(views.ApplicationDetail), name="application-detail"),
    path("v1/trains/", view(views.TrainList), name="train-list"),
    path("v1/trains/<int:pk>/", view(views.TrainDetail), name="train-detail"),
    path("v1/releases/", view(views.ReleaseList), name="release-list"),
    path("v1/releases/<int:pk>/", view(views.ReleaseDetail), name="release-detail"),
    path("v1/dependencies/", view(views.DependencyList), name="dependency-list"),
    path("v1/dependencies/<int:pk>/", view(views.DependencyDetail), name="dependency-detail"),
    path("v1/gates/", view(views.GateList), name="gate-list"),
    path("v1/gates/<int:pk>/", view(views.GateDetail), name="gate-detail"),
    path("v1/gates/<int:pk>/sign-off/", view(views.GateSign), name="gate-sign"),
    path("v1/environments/", view(views.EnvironmentList), name="environment-list"),
    path("v1/environments/<int:pk>/", view(views.EnvironmentDetail), name="environment-detail"),
    path("v1/freeze-windows/", view(views.FreezeWindowList), name="freeze-window-list"),
    path("v1/freeze-windows/<int:pk>/", view(views.FreezeWindowDetail), name="freeze-window-detail"),
    path("v1/bookings/", view(views.BookingList), name="booking-list"),
    path("v1/bookings/<int:pk>/", view(views.BookingDetail), name="booking-detail"),
    path("v1/bookings/<int:pk>/approve/", view(views.BookingApprove), name="booking-approve"),
    path("v1/bookings/<int:pk>/reject/", view(views.BookingReject), name="booking-reject"),
    path("v1/bookings/<int:pk>/cancel/", view(views.BookingCancel), name="booking-cancel"),
    path("v1/deployments/", view(views.DeploymentList), name="deployment-list"),
    path("v1/work-items/", view(views.WorkItemList), name="work-item-list"),
    path("v1/builds/", view(views.BuildList), name="build-list"),
    path("v1/test-runs/", view(views.TestRunList), name="test-run-list"),
    path("v1/sync-runs/", view(views.SyncRunList), name="sync-run-list"),
    path("v1/audit-events/", view(views.AuditEventList), name="audit-event-list"),
]

# The list resources ("releases", "work-items", ...) in the order above: the docs test, the list tests
# and bench/api.py walk them all from this one definition.
LIST_RESOURCES = tuple(
    str(route.pattern).removeprefix("v1/").removesuffix("/")
    for route in urlpatterns
    if route.name and route.name.endswith("-list")
)
