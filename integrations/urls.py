from django.urls import path

from integrations import views

app_name = "integrations"
urlpatterns = [
    path("", views.connection_list, name="index"),
    path("runs/<int:pk>/progress/", views.sync_run_detail, name="run-progress"),
    path("connections/<int:pk>/sync/", views.sync_run_queue, name="sync-now"),
    path("connections/<int:pk>/test/", views.connection_test, name="test-connection"),
    path("connections/<int:pk>/<slug:action>/", views.connection_admin, name="connection-admin"),
]
