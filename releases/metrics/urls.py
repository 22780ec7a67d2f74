from django.urls import path

from releases.metrics import views

app_name = "metrics"

urlpatterns = [
    path("", views.metrics_dashboard, name="dashboard"),
    path("deployments.csv", views.metrics_deployments_export, name="deployments"),
    path("incidents.csv", views.metrics_incidents_export, name="incidents"),
    path("weekly.csv", views.metrics_weekly_export, name="weekly"),
    path("slips.csv", views.metrics_slips_export, name="slips"),
    path("epics.csv", views.metrics_epics_export, name="epics"),
    path("scope.csv", views.metrics_scope_export, name="scope"),
]
