from django.urls import path

from integrations.webhooks import RECEIVERS, webhook_receive

app_name = "webhooks"

# Public but signed: /webhooks/github/<id>, /webhooks/jira/<id>, /webhooks/jenkins/<id>.
urlpatterns = [
    path(f"{tool}/<int:connection_id>", webhook_receive, {"tool": tool}, name=tool) for tool in RECEIVERS
]
