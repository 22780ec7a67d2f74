from django.urls import path

from releases.gates import api
from releases.gates.views import audit, gates, policies

app_name = "gates"

urlpatterns = [
    path("", gates.gate_list, name="queue"),
    path("<int:pk>/", gates.gate_detail, name="detail"),
    path("<int:pk>/sign/", gates.gate_sign, name="sign"),
    path("<int:pk>/waive/", gates.gate_waive, name="waive"),
    path("policies/", policies.gate_policy_list, name="policies"),
    path("policies/global/", policies.gate_policy_detail, name="global-policy"),
    path("policies/global/add/", policies.gate_requirement_create, name="global-requirement-add"),
    path("policies/<int:pk>/", policies.gate_policy_detail, name="policy"),
    path("policies/<int:pk>/add/", policies.gate_requirement_create, name="requirement-add"),
    path("policies/requirements/<int:pk>/edit/", policies.gate_requirement_update, name="requirement-edit"),
    path(
        "policies/requirements/<int:pk>/delete/", policies.gate_requirement_delete, name="requirement-delete"
    ),
    path(
        "policies/changes/<int:pk>/<str:decision>/",
        policies.policy_change_decide,
        name="policy-change-decide",
    ),
]

# Under /api/, in the "api" namespace with the other areas' (portal/urls.py).
api_urlpatterns = [
    path("releases/<int:pk>/gates", api.release_gate_list, name="release-gates"),
    path("can-deploy", api.deploy_check, name="can-deploy"),
]

# Under /audit/, in the "audit" namespace (portal/urls.py): the audit trail for auditors.
audit_urlpatterns = [
    path("", audit.audit_event_list, name="list"),
    path("export.csv", audit.audit_event_export, name="export"),
]
