from django.urls import path  # noqa: F401 (routes are added as the gate pages are built)

app_name = "gates"

urlpatterns: list = []
