from django.urls import path

from releases.views import gates

app_name = "gates"

urlpatterns: list = [
    path("", gates.gate_queue_view, name="queue"),
    path("<int:pk>/", gates.gate_detail, name="detail"),
    path("<int:pk>/sign/", gates.gate_sign_view, name="sign"),
    path("<int:pk>/waive/", gates.gate_waive_view, name="waive"),
]
