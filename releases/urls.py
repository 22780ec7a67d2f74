from django.urls import path

from releases.views import dependencies, evidence, freeze_override, release_detail, release_list, train

app_name = "releases"

urlpatterns = [
    path("", release_list.release_list, name="list"),
    path("export.csv", release_list.release_export, name="export"),
    path("<int:pk>/", release_detail.release_detail, name="detail"),
    path("<int:pk>/edit/", release_detail.release_edit, name="edit"),
    path("<int:pk>/freeze-override/", freeze_override.release_freeze_override_view, name="freeze-override"),
    path("<int:pk>/evidence.zip", evidence.evidence_package, name="evidence-package"),
    path("<int:pk>/dependencies/add/", dependencies.dependency_add_view, name="dependency-add"),
    path(
        "<int:pk>/dependencies/<int:dependency_pk>/remove/",
        dependencies.dependency_remove_view,
        name="dependency-remove",
    ),
    path("trains/<int:pk>/", train.train_detail, name="train"),
]
