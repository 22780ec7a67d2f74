"""Schema-driven fuzzing of the REST API (issue 14): Schemathesis reads /api/schema/ from the app and
sends every operation generated requests, with a personal API token for each role. No answer may be a
5xx, and every answer must conform to the schema: its status code documented for the operation, its
content type and headers as documented, its body valid against the documented response schema.

The requests go to the WSGI app in this process (no server), inside the test's transaction, over a few
rows of every resource. Hypothesis is derandomized and bounded (FUZZ_EXAMPLES per operation, plus the
schema's own examples), so a run is reproducible: about 20 s per role on SQLite, 1.5 to 4 minutes of
wall time for the nine roles with -n 2 on two cores, depending on the machine's load.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal import roles
from portal.api_tokens import api_token_create
from tests.api.test_reads import _one_of_each

FUZZ_EXAMPLES = 4
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_app():
    """The app, served inside the test's transaction: as Django's test client does, a request's end
    must not close the database connection (on PostgreSQL that would end the transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.parametrize("role", roles.ROLES)
def test_the_api_answers_as_its_schema_says(wsgi_app, user_in_role, role):
    _, secret = api_token_create(user=user_in_role(role), name="fuzz")
    _one_of_each()
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", get_wsgi_application(), headers=headers
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    failures = []
    for operation in operations:
        try:
            _fuzz(operation, headers)
        except Exception as failure:
            failures.append(f"{operation.label}: {failure}")
    assert failures == [], "\n\n".join(failures)


def _fuzz(operation, headers: dict) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()
