from django.urls import path

from integrations.tools import TOOLS
from integrations.webhooks import webhook_receive

app_name = "webhooks"

# Public but signed: /webhooks/github/<id>, /webhooks/jira/<id>, /webhooks/jenkins/<id>.
urlpatterns = [
    path(f"{tool.name}/<int:connection_id>", webhook_receive, {"tool": tool}, name=tool.name)
    for tool in dict.fromkeys(TOOLS.values())
]
