from django.urls import path

from portal.views import soon_page

app_name = "releases"

urlpatterns = [
    path(
        "",
        soon_page(
            "Releases",
            "A sortable, filterable list of every release with its forecast and slip, exportable to CSV.",
        ),
        name="list",
    ),
]
