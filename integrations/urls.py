from django.urls import path

from integrations import views

app_name = "integrations"
urlpatterns = [
    path("", views.integrations_page, name="index"),
    path("runs/<int:pk>/progress/", views.run_progress, name="run-progress"),
    path("connections/<int:pk>/sync/", views.sync_now, name="sync-now"),
    path("connections/<int:pk>/test/", views.test_connection, name="test-connection"),
]
