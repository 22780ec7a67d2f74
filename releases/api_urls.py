from django.urls import path

from releases import api

app_name = "api"

urlpatterns = [
    path("releases/<int:pk>/gates", api.release_gates, name="release-gates"),
    path("can-deploy", api.can_deploy_view, name="can-deploy"),
]
