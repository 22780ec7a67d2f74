"""Run in a subprocess by test_postgres_restart.py with DATABASE_URL pointing at its private PostgreSQL:
migrate that database, add a Jira Cloud connection to the sandbox mapping the dataset's projects and a
queued run, and print their ids as JSON.

    python -m tests.integrations.postgres_restart_setup '{"url": ..., "username": ..., "token": ...,
                                                         "projects": [...]}'
"""

import json
import sys

import django


def main(sandbox: dict) -> dict:
    django.setup()
    from django.core.management import call_command

    from integrations.models import Connection, SyncRun
    from tests.factories import ApplicationFactory, ApplicationMappingFactory, ConnectionFactory

    call_command("migrate", verbosity=0, interactive=False)
    connection = ConnectionFactory(
        kind=Connection.Kind.JIRA_CLOUD,
        base_url=sandbox["url"],
        credentials={"username": sandbox["username"], "token": sandbox["token"]},
        scope={"projects": sandbox["projects"]},
    )
    for project in sandbox["projects"]:
        ApplicationMappingFactory(
            connection=connection, application=ApplicationFactory(key=project), external_key=project
        )
    run = SyncRun.objects.create(connection=connection)
    return {"connection_id": connection.pk, "run_id": run.pk}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
