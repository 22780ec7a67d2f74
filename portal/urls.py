from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import follows, profile, sso, views
from portal.api import legacy
from portal.api import urls as rest_urls
from releases.environments import urls as environments_urls
from releases.gates import urls as gates_urls
from releases.notifications import urls as notifications_urls
from releases.planning import urls as planning_urls

handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.page_not_found"
handler500 = "portal.errors.server_error"

urlpatterns = [
    path("", views.dashboard_detail, name="home"),
    path("healthz", views.health_check, name="healthz"),
    path("login/", sso.session_create, name="login"),
    path("login/break-glass/", sso.session_create_break_glass, name="login-break-glass"),
    path("login/sso/", sso.sso_login, name="sso-login"),
    path("login/sso/callback/", sso.sso_callback, name="sso-callback"),
    path("login/sso/reauth/<int:pk>/", sso.sso_reauth, name="sso-reauth"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("follows/<str:kind>/", follows.follow_create, name="follow-create"),
    path("follows/<str:kind>/<int:pk>/delete/", follows.follow_delete, name="follow-delete"),
    path("profile/", profile.profile_detail, name="profile"),
    path("profile/tokens/", profile.api_token_create, name="api-token-create"),
    path(
        "profile/notifications/",
        profile.notification_preferences_update,
        name="notification-preferences-update",
    ),
    path("profile/tokens/<int:pk>/revoke/", profile.api_token_revoke, name="api-token-revoke"),
    path("releases/", include(planning_urls)),
    path("", include((planning_urls.calendar_urlpatterns, "calendar"))),
    path("gates/", include(gates_urls)),
    path("audit/", include((gates_urls.audit_urlpatterns, "audit"))),
    path("api/", include((rest_urls.urlpatterns, "rest"))),
    # The pipeline API's kept paths, answered by their own views and described in the schema.
    path("api/junit", legacy.junit_upload, name="api-junit"),
    path("api/", include((legacy.api_urlpatterns, "api"))),
    path("webhooks/", include("integrations.webhook_urls")),
    path("environments/", include(environments_urls)),
    path("notifications/", include(notifications_urls)),
    path("integrations/", include("integrations.urls")),
    path("metrics/", include("releases.metrics.urls")),
    path("admin/", admin.site.urls),
]
