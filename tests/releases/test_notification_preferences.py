"""Preferences and the daily digest: per person and per kind of notice, e-mailed at once (the
default), gathered in one daily e-mail, or not e-mailed; every notice is kept. The profile page sets
the choices (POST, CSRF, validated: 422 and nothing written on a bad value)."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from portal import roles
from portal.celery import app as celery_app
from releases.gates.services.notifications import gates_announce
from releases.models import AuditEvent, Notification, NotificationPreference
from releases.notifications.services.delivery import Kind, Notice, deliver, digest_send
from releases.notifications.services.preferences import notification_preferences_save
from tests import factories as f

pytestmark = pytest.mark.django_db


def notice(user, kind=Kind.SLIP, subject="PAY 4.2.0 slipped"):
    return Notice(user.pk, user.email, kind, subject, f"{subject}, in words.\n")


@pytest.fixture
def people():
    return {name: f.UserFactory(username=name, email=f"{name}@example.com") for name in ("ann", "bob", "cy")}


def test_each_person_gets_each_kind_as_they_chose(mailoutbox, people):
    notification_preferences_save(user=people["bob"], choices={Kind.SLIP: "digest"})
    notification_preferences_save(user=people["cy"], choices={Kind.SLIP: "off", Kind.BOOKING: "digest"})
    assert deliver([notice(p) for p in people.values()]) == 1
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]
    assert mailoutbox[0].subject == "[Flightdeck] PAY 4.2.0 slipped"
    kept = {n.user.username: (n.delivery, n.emailed_at is not None) for n in Notification.objects.all()}
    assert kept == {"ann": ("immediate", True), "bob": ("digest", False), "cy": ("off", False)}


def test_the_digest_is_one_e_mail_per_person_once(mailoutbox, people):
    for person in people.values():
        notification_preferences_save(user=person, choices={Kind.SLIP: "digest", Kind.GATE_WAITING: "digest"})
    people["cy"].is_active = False
    people["cy"].save()
    deliver([notice(people["ann"], subject=f"Slip {i}") for i in range(3)])
    deliver(
        [
            notice(people["ann"], Kind.GATE_WAITING, "A gate waits"),
            notice(people["bob"]),
            notice(people["cy"]),
        ]
    )
    assert mailoutbox == []

    assert digest_send() == 2
    by_person = {m.to[0]: m for m in mailoutbox}
    assert sorted(by_person) == ["ann@example.com", "bob@example.com"]
    ann = by_person["ann@example.com"]
    assert ann.subject == "[Flightdeck] Your daily digest: 4 notifications"
    assert all(f"Slip {i}, in words." in ann.body for i in range(3)) and "A gate waits" in ann.body
    assert "/profile/" in ann.body
    assert by_person["bob@example.com"].subject == "[Flightdeck] Your daily digest: 1 notification"

    assert digest_send() == 0  # claimed: a rerun sends nothing
    assert not Notification.objects.filter(delivery="digest", emailed_at__isnull=True).exists()


def test_a_gate_announcement_follows_the_signers_choice(mailoutbox, settings):
    settings.GATE_ANNOUNCE_LEAD_DAYS = 14
    group = f.GroupFactory(name="Security reviewers")
    group.permissions.add(Permission.objects.get(codename="sign_gate"))
    rita, sam = f.UserFactory(email="rita@example.com"), f.UserFactory(email="sam@example.com")
    for person in (rita, sam):
        person.groups.add(group)
    notification_preferences_save(user=sam, choices={Kind.GATE_WAITING: "digest"})
    release = f.ReleaseFactory(target_date=f.day(10))
    f.GateFactory(release=release, kind="security", signer_group=group, due_date=f.day(5))
    assert gates_announce(today=f.day(0)) == 1
    assert [m.to for m in mailoutbox] == [["rita@example.com"]]
    assert digest_send() == 1
    assert mailoutbox[1].to == ["sam@example.com"] and "waits for your sign-off" in mailoutbox[1].body


def test_the_digest_runs_daily_from_beat(settings):
    entry = celery_app.conf.beat_schedule["notifications-digest-daily"]
    assert entry["task"] == "releases.tasks.notifications_digest_task"
    assert entry["schedule"].hour == {settings.NOTIFICATION_DIGEST_HOUR}


def test_bad_choices_are_refused_and_nothing_is_written(people):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        notification_preferences_save(user=people["ann"], choices={Kind.SLIP: "hourly", "spam": "off"})
    assert set(refused.value.message_dict) == {"slip", "spam"}
    assert not NotificationPreference.objects.exists()


# --- the profile page --------------------------------------------------------------------------------


@pytest.fixture
def user(user_in_role):
    return user_in_role(roles.SECURITY_REVIEWER, email="rae@example.com")


@pytest.fixture
def client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _csrf(client) -> str:
    client.get("/profile/")
    return client.cookies["csrftoken"].value


def _choices(**overrides) -> dict:
    return dict.fromkeys(Kind.values, "immediate") | overrides


def test_the_profile_shows_each_kind_with_the_stored_choice(client, user):
    notification_preferences_save(user=user, choices={Kind.GATE_OVERDUE: "digest"})
    html = client.get("/profile/").content.decode()
    assert 'id="notification-preferences"' in html
    assert "A gate I sign is overdue" in html
    assert '<option value="digest" selected>In my daily digest</option>' in html
    assert html.count('<option value="immediate" selected>') == len(Kind.values) - 1


def test_saving_the_preferences_stores_them_and_records_it(client, user):
    token = _csrf(client)
    response = client.post(
        "/profile/notifications/", _choices(slip="off", gate_waiting="digest"), HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 302 and response["Location"] == "/profile/"
    stored = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "delivery"))
    assert stored == {"slip": "off", "gate_waiting": "digest"}  # the default is not stored
    event = AuditEvent.objects.get(action="notificationpreference.update")
    assert event.actor == user and event.after["slip"] == "off"


def test_htmx_gets_the_card_back(client, user):
    token = _csrf(client)
    response = client.post(
        "/profile/notifications/",
        _choices(slip="digest"),
        HTTP_X_CSRFTOKEN=token,
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="notification-preferences",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="notification-preferences"')
    assert "Notification preferences saved." in html


def test_a_bad_value_answers_422_and_writes_nothing(client, user):
    token = _csrf(client)
    response = client.post(
        "/profile/notifications/", _choices(slip="<script>hourly</script>"), HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Some choices were not valid" in html and "<script>hourly" not in html
    assert not NotificationPreference.objects.exists()


def test_the_form_needs_csrf_a_post_and_a_signed_in_user(client, user):
    assert client.post("/profile/notifications/", _choices(slip="off")).status_code == 403
    assert client.get("/profile/notifications/").status_code == 405
    assert Client().post("/profile/notifications/", _choices()).status_code == 302  # to the login page
    assert not NotificationPreference.objects.exists()


def test_the_profile_reads_a_fixed_number_of_queries(client, user, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/profile/").status_code == 200
        return len(queries)

    few = count()
    notification_preferences_save(user=user, choices=dict.fromkeys(Kind.values, "digest"))
    deliver([notice(user, subject=f"Slip {i}") for i in range(20)])
    assert count() == few
