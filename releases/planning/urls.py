from django.urls import path

from releases.gates.views import evidence
from releases.planning.views import (
    calendar,
    dependencies,
    freeze_override,
    release_bulk,
    release_create,
    release_detail,
    release_import,
    release_list,
    release_notes,
    saved_views,
    structure,
    train,
)

# /releases/... under the "releases" namespace, and the calendar under "calendar" (portal/urls.py).
app_name = "releases"

urlpatterns = [
    path("", release_list.release_list, name="list"),
    path("export.csv", release_list.release_export, name="export"),
    path("new/", release_create.release_new, name="new"),
    path("bulk/", release_bulk.release_bulk, name="bulk"),
    path("import/", release_import.release_import_preview, name="import"),
    path("import/confirm/", release_import.release_import, name="import-confirm"),
    path("import/template.<slug:fmt>", release_import.import_template_download, name="import-template"),
    path("<int:pk>/", release_detail.release_detail, name="detail"),
    path("<int:pk>/clone/", release_create.release_clone, name="clone"),
    path("<int:pk>/edit/", release_detail.release_update, name="edit"),
    path("<int:pk>/what-if/", release_detail.release_what_if, name="what-if"),
    path("<int:pk>/notes/", release_notes.release_notes, name="notes"),
    path("<int:pk>/notes.md", release_notes.release_notes_markdown, name="notes-markdown"),
    path("<int:pk>/freeze-override/", freeze_override.release_freeze_override, name="freeze-override"),
    path("<int:pk>/evidence.zip", evidence.evidence_export, name="evidence-package"),
    path("<int:pk>/dependencies/add/", dependencies.dependency_add, name="dependency-add"),
    path(
        "<int:pk>/dependencies/<int:dependency_pk>/remove/",
        dependencies.dependency_remove,
        name="dependency-remove",
    ),
    path("views/", saved_views.saved_view_list, name="saved-views"),
    path("views/new/", saved_views.saved_view_create, name="saved-view-create"),
    path("views/<int:pk>/", saved_views.saved_view_open, name="saved-view"),
    path("views/<int:pk>/edit/", saved_views.saved_view_update, name="saved-view-update"),
    path("views/<int:pk>/delete/", saved_views.saved_view_delete, name="saved-view-delete"),
    path("views/<int:pk>/feed/rotate/", saved_views.saved_view_feed_rotate, name="saved-view-feed-rotate"),
    path("views/<int:pk>/feed/revoke/", saved_views.saved_view_feed_revoke, name="saved-view-feed-revoke"),
    path("trains/", train.train_list, name="trains"),
    path("trains/new/", structure.train_new, name="train-new"),
    path("trains/<int:pk>/edit/", structure.train_edit, name="train-edit"),
    path("portfolios/", structure.portfolio_list, name="portfolios"),
    path("portfolios/new/", structure.portfolio_new, name="portfolio-new"),
    path("portfolios/<int:pk>/edit/", structure.portfolio_edit, name="portfolio-edit"),
    path("applications/new/", structure.application_new, name="application-new"),
    path("applications/<int:pk>/edit/", structure.application_edit, name="application-edit"),
    path("trains/<int:pk>/", train.train_detail, name="train"),
]

calendar_urlpatterns = [
    path("calendar/", calendar.calendar_month, name="month"),
    path("calendar/day/<str:day>/", calendar.calendar_day, name="day"),
    path("calendar.ics", calendar.calendar_feed, name="ics"),
    # A saved view's own feed: the token in the address stands in for its owner (calendar apps cannot log in).
    path("calendar/views/<str:token>.ics", saved_views.saved_view_feed, name="saved-view-ics"),
]
