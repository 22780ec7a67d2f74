"""The audit trail page for auditors: who may read it, its filters (a release's gates and sign-offs
included), the events in words with their changes, the CSV export, and hostile filter values."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from releases.audit import audit_record, audit_record_many
from releases.gates.audit_words import event_changes, event_sentence
from releases.models import AuditEvent
from releases.planning.services.releases import release_update
from tests import factories as f

pytestmark = pytest.mark.django_db

URL = "/audit/"


def _signed(release, *, first="Sofia", last="Martins", gate_name="Security review", decision="approve"):
    gate = f.GateFactory(release=release, name=gate_name)
    signer = f.UserFactory(first_name=first, last_name=last)
    return f.SignOffFactory(
        gate=gate, signer=signer, decision=decision, comment="Not yet" if decision == "reject" else ""
    )


# --- sentences and changes (pure) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "before", "after", "expected"),
    [
        (
            "signoff.create",
            None,
            {"decision": "approve"},
            "Sofia Martins approved Security review of PAY 4.2.0",
        ),
        (
            "signoff.create",
            None,
            {"decision": "reject", "comment": "No pen test"},
            "Sofia Martins rejected Security review of PAY 4.2.0: “No pen test”",
        ),
        ("gate.decide", {"status": "pending"}, {"status": "passed"}, "Security review of PAY 4.2.0 passed"),
        (
            "gate.waive",
            {},
            {"waiver_reason": "Hotfix"},
            "Sofia Martins waived Security review of PAY 4.2.0: “Hotfix”",
        ),
        (
            "gate.evidence",
            {"status": "pending"},
            {"status": "passed", "evidence_summary": "42 of 42 tests passed"},
            "New evidence for Security review of PAY 4.2.0: 42 of 42 tests passed; the gate is now passed",
        ),
        (
            "gate.create",
            None,
            {"name": "Security review"},
            "Sofia Martins added the gate Security review of PAY 4.2.0",
        ),
        (
            "gate.delete",
            {"name": "Security review"},
            None,
            "Sofia Martins removed the gate Security review of PAY 4.2.0",
        ),
        (
            "release.update",
            {"target_date": "2030-01-01"},
            {"target_date": "2030-01-03"},
            "Sofia Martins changed release PAY 4.2.0: Target date 2030-01-01 → 2030-01-03",
        ),
        ("booking.approve", None, {}, "Sofia Martins approved the booking UAT 2030-01-01 for PAY 4.2.0"),
        (
            "gaterequirement.delete",
            {"repr": "Global: PCI review"},
            None,
            "Sofia Martins removed the gate requirement Global: PCI review",
        ),
        (
            "testrun.record",
            None,
            {"passed": 41, "failed": 1},
            "Sofia Martins recorded a test run for PAY 4.2.0: 41 passed, 1 failed",
        ),
        (
            "gate.sign.denied",
            None,
            {"reason": "You own this release."},
            "Sofia Martins tried to sign Security review of PAY 4.2.0 and was refused: You own this release.",
        ),
        ("apitoken.create", None, {}, "Sofia Martins: apitoken.create on UAT 2030-01-01"),
    ],
)
def test_an_event_reads_as_a_sentence(action, before, after, expected):
    _assert_sentence(action, before, after, expected, repr_="UAT 2030-01-01")


@pytest.mark.parametrize(
    ("action", "after", "expected"),
    [
        (
            "policychange.propose",
            {"needs_approval": True, "reason": "Slow"},
            "Sofia Martins proposed: Remove CAB approval (CAB), waiting for a second person's approval: "
            "“Slow”",
        ),
        (
            "policychange.propose",
            {"needs_approval": False},
            "Sofia Martins proposed: Remove CAB approval (CAB), in effect at once",
        ),
        (
            "policychange.approve",
            {"decision_comment": "Agreed"},
            "Sofia Martins approved the policy change Remove CAB approval (CAB): “Agreed”",
        ),
        ("policychange.reject", {}, "Sofia Martins rejected the policy change Remove CAB approval (CAB)"),
    ],
)
def test_a_policy_change_reads_as_a_sentence(action, after, expected):
    _assert_sentence(action, None, after, expected, repr_="Remove CAB approval (CAB)")


def _assert_sentence(action, before, after, expected, *, repr_):
    sentence = event_sentence(
        action=action,
        actor="Sofia Martins",
        before=before,
        after=after,
        object_repr=repr_,
        gate="Security review",
        release="PAY 4.2.0",
    )
    assert sentence == expected


def test_changes_list_old_and_new_in_words():
    changes = event_changes(
        {"status": "pending", "at_risk": False, "id": 3, "same": 1},
        {"status": "passed", "at_risk": True, "id": 3, "same": 1, "owner_id": None},
    )
    assert [(c.field, c.old, c.new) for c in changes] == [
        ("At risk", "no", "yes"),
        ("Owner", "—", "—"),
        ("Status", "pending", "passed"),
    ]


# --- the page -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Auditor", "Admin"])
def test_auditors_and_admins_read_the_trail(client_for, role):
    release = f.ReleaseFactory()
    _signed(release)
    response = client_for(role).get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert f"Sofia Martins approved Security review of {release}" in body
    assert 'href="/audit/"' in body  # the navigation links it
    assert 'id="audit-export"' in body


@pytest.mark.parametrize(
    "role", ["Release manager", "Security reviewer", "Project office", "Environment admin"]
)
def test_others_are_refused(client_for, role):
    client = client_for(role)
    assert client.get(URL).status_code == 403
    assert client.get(URL + "export.csv").status_code == 403
    assert 'href="/audit/"' not in client.get("/").content.decode()


def test_the_release_filter_finds_its_gates_and_sign_offs_events(client_for):
    release, other = f.ReleaseFactory(), f.ReleaseFactory()
    _signed(release, first="Ana", last="Lopes", gate_name="QA review")
    _signed(other, first="Bob", last="Stone", gate_name="CAB")
    release_update(
        release=release, by=f.UserFactory(first_name="Rui", last_name="Dias"), summary="Scope agreed"
    )
    body = client_for("Auditor").get(URL, {"release": release.pk}).content.decode()
    assert "Ana Lopes approved QA review" in body
    assert "Rui Dias changed release" in body
    assert "Bob Stone" not in body


def test_the_portfolio_filter_includes_its_programmes(client_for):
    parent = f.PortfolioFactory(name="Payments")
    child = f.PortfolioFactory(name="Cards", parent=parent)
    inside = f.ReleaseFactory(application=f.ApplicationFactory(portfolio=child))
    outside = f.ReleaseFactory()
    _signed(inside, first="Ana", last="Lopes")
    _signed(outside, first="Bob", last="Stone")
    body = client_for("Auditor").get(URL, {"portfolio": parent.pk}).content.decode()
    assert "Ana Lopes" in body and "Bob Stone" not in body


def test_filters_by_actor_action_object_and_time(client_for):
    sofia, rui = (
        f.UserFactory(first_name="Sofia", last_name="Martins"),
        f.UserFactory(first_name="Rui", last_name="Dias"),
    )
    old = timezone.now() - timedelta(days=40)
    with transaction.atomic():
        audit_record_many(
            actor=None,
            entries=[
                {
                    "action": "gate.waive",
                    "object_type": "releases.gate",
                    "object_id": "7",
                    "actor": sofia,
                    "at": old,
                    "after": {"name": "Old gate"},
                },
                {
                    "action": "gate.create",
                    "object_type": "releases.gate",
                    "object_id": "8",
                    "actor": rui,
                    "after": {"name": "New gate"},
                },
            ],
        )
    client = client_for("Auditor")
    assert "Old gate" not in client.get(URL, {"actor": rui.pk}).content.decode()
    assert "New gate" not in client.get(URL, {"action": "gate.waive"}).content.decode()
    both = client.get(URL, {"action": "gate."}).content.decode()
    assert "Old gate" in both and "New gate" in both
    assert (
        "New gate" not in client.get(URL, {"object_type": "releases.gate", "object_id": "7"}).content.decode()
    )
    recent = client.get(
        URL, {"since": (timezone.now() - timedelta(days=2)).date().isoformat()}
    ).content.decode()
    assert "New gate" in recent and "Old gate" not in recent
    older = client.get(URL, {"until": (old + timedelta(days=1)).date().isoformat()}).content.decode()
    assert "Old gate" in older and "New gate" not in older


def test_each_event_shows_its_changes(client_for):
    release = f.ReleaseFactory(summary="Draft")
    release_update(release=release, by=f.UserFactory(), summary="Scope agreed")
    body = client_for("Auditor").get(URL).content.decode()
    assert "<strong>Summary</strong>: Draft → Scope agreed" in body


@pytest.mark.parametrize(
    "query",
    [
        {"q": "a\x00b"},
        {"since": "0001-01-01"},
        {"until": "9999-12-31"},
        {"since": "2030-02-31"},
        {"q": "x" * 5000},
        {"action": "y" * 5000},
        {"release": "99999999999999999999999"},
        {"release": "abc"},
        {"actor": "-1"},
        {"portfolio": "1e9"},
        {"object_id": "\x00"},
        {"per_page": "0"},
    ],
)
def test_bad_filter_values_get_a_clear_message_never_a_500(client_for, query):
    record_one()
    client = client_for("Auditor")
    response = client.get(URL, query)
    assert response.status_code in (200, 400)
    text = response.content.decode()
    if response.status_code == 200:
        assert "Ignored filter values" in text
    assert client.get(URL + "export.csv", query).status_code in (200, 400)


def record_one():
    with transaction.atomic():
        audit_record(actor=None, action="test.event", object_type="test", object_id="1", after={"n": 1})


def test_the_export_streams_the_filtered_set_with_formulas_escaped(client_for):
    release = f.ReleaseFactory()
    with transaction.atomic():
        audit_record(
            actor=None,
            action="release.update",
            obj=release,
            before={"summary": "=cmd|' /C calc'!A0"},
            after={"summary": "+1"},
        )
        audit_record(actor=None, action="other.event", object_type="x", object_id="@SUM(1)")
    response = client_for("Auditor").get(URL + "export.csv", {"release": release.pk})
    assert response.streaming
    assert response["Content-Disposition"] == 'attachment; filename="audit-trail.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["Seq", "Time (UTC)", "Actor", "Actor name", "Action"]
    assert len(rows) == 2  # the header and the release's one event
    assert rows[1][4] == "release.update"
    assert "Summary: =cmd" in rows[1][10]
    everything = list(
        csv.reader(
            io.StringIO(b"".join(client_for("Auditor").get(URL + "export.csv").streaming_content).decode())
        )
    )
    assert everything[2][6] == "'@SUM(1)"


def test_an_export_is_itself_recorded_with_its_filters(client_for):
    client = client_for("Auditor", username="henrik")
    b"".join(client.get(URL + "export.csv", {"action": "policychange."}).streaming_content)
    event = AuditEvent.objects.get(action="audit.export")
    assert (event.actor_label, event.after) == ("henrik", {"filters": "action=policychange."})


def test_the_page_reads_a_constant_number_of_queries(client_for, django_assert_num_queries):
    client = client_for("Auditor")

    def grow(n):
        for _ in range(n):
            release = f.ReleaseFactory()
            _signed(release)
            release_update(release=release, by=f.UserFactory(), summary=f"Change {release.pk}")

    grow(2)
    client.get(URL)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(URL).status_code == 200
    grow(8)
    with django_assert_num_queries(len(small)):
        assert client.get(URL).status_code == 200
    with CaptureQueriesContext(connection) as filtered_small:
        client.get(URL, {"action": "signoff.create"})
    grow(3)
    with django_assert_num_queries(len(filtered_small)):
        client.get(URL, {"action": "signoff.create"})
