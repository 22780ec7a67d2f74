from django.urls import path

from releases.gates import api
from releases.gates.views import gates
from releases.gates.views import policies as gate_policies

app_name = "gates"

urlpatterns = [
    path("", gates.gate_queue_view, name="queue"),
    path("<int:pk>/", gates.gate_detail, name="detail"),
    path("<int:pk>/sign/", gates.gate_sign_view, name="sign"),
    path("<int:pk>/waive/", gates.gate_waive_view, name="waive"),
    path("policies/", gate_policies.gate_policies, name="policies"),
    path("policies/global/", gate_policies.gate_policy, name="global-policy"),
    path("policies/global/add/", gate_policies.requirement_add, name="global-requirement-add"),
    path("policies/<int:pk>/", gate_policies.gate_policy, name="policy"),
    path("policies/<int:pk>/add/", gate_policies.requirement_add, name="requirement-add"),
    path("policies/requirements/<int:pk>/edit/", gate_policies.requirement_edit, name="requirement-edit"),
    path(
        "policies/requirements/<int:pk>/delete/", gate_policies.requirement_delete, name="requirement-delete"
    ),
]

# Under /api/, in the "api" namespace with the other areas' (portal/urls.py).
api_urlpatterns = [
    path("releases/<int:pk>/gates", api.release_gates, name="release-gates"),
    path("can-deploy", api.can_deploy_view, name="can-deploy"),
]
