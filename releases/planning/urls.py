from django.urls import path

from releases.gates.views import evidence
from releases.planning.views import (
    calendar,
    dependencies,
    freeze_override,
    release_create,
    release_detail,
    release_import,
    release_list,
    train,
)

# /releases/... under the "releases" namespace, and the calendar under "calendar" (portal/urls.py).
app_name = "releases"

urlpatterns = [
    path("", release_list.release_list, name="list"),
    path("export.csv", release_list.release_export, name="export"),
    path("new/", release_create.release_new, name="new"),
    path("import/", release_import.release_import_preview, name="import"),
    path("import/confirm/", release_import.release_import, name="import-confirm"),
    path("import/template.<slug:fmt>", release_import.import_template_download, name="import-template"),
    path("<int:pk>/", release_detail.release_detail, name="detail"),
    path("<int:pk>/clone/", release_create.release_clone, name="clone"),
    path("<int:pk>/edit/", release_detail.release_update, name="edit"),
    path("<int:pk>/what-if/", release_detail.release_what_if, name="what-if"),
    path("<int:pk>/freeze-override/", freeze_override.release_freeze_override, name="freeze-override"),
    path("<int:pk>/evidence.zip", evidence.evidence_export, name="evidence-package"),
    path("<int:pk>/dependencies/add/", dependencies.dependency_add, name="dependency-add"),
    path(
        "<int:pk>/dependencies/<int:dependency_pk>/remove/",
        dependencies.dependency_remove,
        name="dependency-remove",
    ),
    path("trains/", train.train_list, name="trains"),
    path("trains/<int:pk>/", train.train_detail, name="train"),
]

calendar_urlpatterns = [
    path("calendar/", calendar.calendar_month, name="month"),
    path("calendar/day/<str:day>/", calendar.calendar_day, name="day"),
    path("calendar.ics", calendar.calendar_feed, name="ics"),
]
