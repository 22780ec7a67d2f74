"""Two instances stamped on one machine never see each other's data, users, API tokens, ICS feeds,
webhooks or Celery tasks. Each test makes something in A and shows that A sees it (the control) and B
does not, through B's own pages, API and broker."""

import json

import pytest

from instances import core, stores
from tests.instances.conftest import REDIS, retire_quietly, run_in, stamp


@pytest.fixture(scope="module")
def pair(root):
    a, b = stamp(root, "a"), stamp(root, "b")
    yield a, b
    for made in (a, b):
        retire_quietly(made.instance)


def ask(instance: core.Instance, method: str, path: str, *, body: str = "", **headers: str) -> int:
    """The status of one request to the instance, through Django's test client in its own process."""
    return run_in(
        instance,
        f"""
import json
from django.test import Client
response = Client().generic({method!r}, {path!r}, {body!r}, content_type="application/json", **{headers!r})
print(json.dumps({{"status": response.status_code}}))
""",
    )["status"]


def test_data_of_one_instance_is_not_in_the_other(pair):
    a, b = (made.instance for made in pair)
    run_in(
        a,
        """
from portal.models import User
from releases.planning.services.portfolios import portfolio_create
portfolio_create(name="Only in A", slug="only-in-a", by=User.objects.get(username="admin"))
print("{}")
""",
    )
    count = "import json; from releases.models import Portfolio; "
    count += "print(json.dumps({'n': Portfolio.objects.filter(slug='only-in-a').count()}))"
    assert run_in(a, count) == {"n": 1}
    assert run_in(b, count) == {"n": 0}
    assert ask(a, "GET", "/api/v1/portfolios/") == 401  # the API needs a token in either


def test_users_and_passwords_of_one_instance_do_not_sign_in_to_the_other(pair):
    """Both have an `admin`; each one's password signs in to its own instance only."""
    (a, a_password), (b, b_password) = ((m.instance, m.admin_password) for m in pair)
    assert a_password != b_password
    login = """
import json
from django.test import Client
client = Client()
response = client.post("/login/", {{"username": "admin", "password": {password!r}}})
print(json.dumps({{"signed_in": "_auth_user_id" in client.session, "status": response.status_code}}))
"""
    assert run_in(a, login.format(password=a_password))["signed_in"]
    assert not run_in(b, login.format(password=a_password))["signed_in"]
    assert run_in(b, login.format(password=b_password))["signed_in"]
    assert a.settings()["SECRET_KEY"] != b.settings()["SECRET_KEY"]  # nor does a session cookie


def test_an_api_token_of_one_instance_is_refused_by_the_other(pair):
    a, b = (made.instance for made in pair)
    secret = run_in(
        a,
        """
import json
from portal.api_tokens import api_token_create
from portal.models import User
token, secret = api_token_create(user=User.objects.get(username="admin"), name="ci")
print(json.dumps({"secret": secret}))
""",
    )["secret"]
    header = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert ask(a, "GET", "/api/v1/portfolios/", **header) == 200
    assert ask(b, "GET", "/api/v1/portfolios/", **header) == 401


def test_an_ics_feed_of_one_instance_is_not_served_by_the_other(pair):
    a, b = (made.instance for made in pair)
    token = run_in(
        a,
        "import json; from portal.models import User; "
        "print(json.dumps({'token': User.objects.get(username='admin').feed_token}))",
    )["token"]
    assert ask(a, "GET", f"/calendar.ics?token={token}") == 200
    assert ask(b, "GET", f"/calendar.ics?token={token}") == 404


def test_a_webhook_signed_for_one_instance_is_refused_by_the_other(pair):
    """Both have a Jira connection with the same id; A's signature does not open B's."""
    a, b = (made.instance for made in pair)
    make = """
import json
from integrations.models import Connection
connection = Connection.objects.create(name="Jira", kind="jira_cloud", base_url="https://jira.example.com")
connection.webhook_secret = {secret!r}
connection.save()
print(json.dumps({{"id": connection.pk}}))
"""
    a_id = run_in(a, make.format(secret="secret-of-a"))["id"]
    b_id = run_in(b, make.format(secret="secret-of-b"))["id"]
    assert a_id == b_id
    body = json.dumps({"webhookEvent": "jira:issue_updated"})
    signature = run_in(
        a,
        f"import json; from integrations.deliveries import _hmac_sha256; "
        f"print(json.dumps({{'s': _hmac_sha256('secret-of-a', {body.encode()!r})}}))",
    )["s"]
    path = f"/webhooks/jira/{a_id}"
    assert ask(a, "POST", path, body=body, HTTP_X_HUB_SIGNATURE=signature) == 202
    assert ask(b, "POST", path, body=body, HTTP_X_HUB_SIGNATURE=signature) == 401


QUEUE_SIZES = """
import json
from portal.celery import app
with app.connection_for_write() as connection:
    channel = connection.default_channel
    sizes = {q: channel.queue_declare(q).message_count for q in ("default", "sync")}
print(json.dumps(sizes))
"""


def test_a_task_queued_in_one_instance_never_reaches_the_other(pair):
    a, b = (made.instance for made in pair)
    a_before, b_before = run_in(a, QUEUE_SIZES), run_in(b, QUEUE_SIZES)
    run_in(a, "from portal.tasks import worker_heartbeat_task; worker_heartbeat_task.delay(); print('{}')")
    a_after, b_after = run_in(a, QUEUE_SIZES), run_in(b, QUEUE_SIZES)
    assert a_after["default"] == a_before["default"] + 1
    assert b_after == b_before
    # Where each instance's queues live: its own broker folder, or its own key prefix on a shared Redis.
    where = (
        "import json; from django.conf import settings; "
        "print(json.dumps({'url': settings.CELERY_BROKER_URL, "
        "'options': settings.CELERY_BROKER_TRANSPORT_OPTIONS}))"
    )
    a_broker, b_broker = run_in(a, where), run_in(b, where)
    if REDIS:
        assert a_broker["url"] == b_broker["url"] == REDIS
        assert a_broker["options"]["global_keyprefix"] == f"{a.name}:"
        assert b_broker["options"]["global_keyprefix"] == f"{b.name}:"
        assert f"{a.name}:default" in stores.redis_keys(REDIS, f"{a.name}:")
    else:
        assert a_broker["options"]["data_folder_in"].startswith(str(a.var_dir))
        assert b_broker["options"]["data_folder_in"].startswith(str(b.var_dir))
