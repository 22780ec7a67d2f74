"""The CSV exports say what the pages say: status labels, not codes ("Code freeze", not code_freeze),
people by name (the username only when there is no name), flags as yes/no; in constant queries."""

import csv
import io

import pytest

from portal import roles
from releases.audit import audit_record
from releases.csv_export import csv_cell
from tests import factories as f

pytestmark = pytest.mark.django_db


def _rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_release_export_writes_status_labels_and_owner_names(client_for):
    named = f.UserFactory(username="rmanager", first_name="Rita", last_name="Manager")
    unnamed = f.UserFactory(username="svc-deploy", first_name="", last_name="")
    f.ReleaseFactory(application=f.ApplicationFactory(key="PAY"), status="code_freeze", owner=named)
    f.ReleaseFactory(application=f.ApplicationFactory(key="CLM"), status="in_progress", owner=unnamed)
    f.ReleaseFactory(application=f.ApplicationFactory(key="WEB"), status="planned", owner=None)
    rows = {
        row["Application"]: row
        for row in _rows(client_for(roles.PROJECT_OFFICE).get("/releases/export.csv?when="))
    }
    assert (rows["PAY"]["Status"], rows["PAY"]["Owner"]) == ("Code freeze", "Rita Manager")
    assert (rows["CLM"]["Status"], rows["CLM"]["Owner"]) == ("In progress", "svc-deploy")
    assert (rows["WEB"]["Status"], rows["WEB"]["Owner"]) == ("Planned", "")


def test_the_audit_export_names_the_actor_or_their_username(client_for):
    unnamed = f.UserFactory(username="svc-deploy", first_name="", last_name="")
    named = f.UserFactory(username="rmanager", first_name="Rita", last_name="Manager")
    audit_record(actor=unnamed, action="other.event", object_type="x", object_id="1")
    audit_record(actor=named, action="other.event", object_type="x", object_id="2")
    audit_record(actor=None, action="other.event", object_type="x", object_id="3")
    rows = {row["Object id"]: row for row in _rows(client_for(roles.AUDITOR).get("/audit/export.csv"))}
    assert [rows[n]["Actor name"] for n in ("1", "2", "3")] == ["svc-deploy", "Rita Manager", ""]


def test_a_flag_is_yes_or_no():
    assert (csv_cell(True), csv_cell(False), csv_cell(None), csv_cell(0)) == ("yes", "no", "", 0)


def test_labelled_replaces_a_code_by_its_label_and_keeps_an_unknown_one():
    from releases.csv_export import labelled
    from releases.models import WorkItem

    rows = [("PAY-1", "in_progress"), ("PAY-2", "done"), ("PAY-3", "weird")]
    assert list(labelled(rows, 1, WorkItem.StatusCategory.choices)) == [
        ["PAY-1", "In progress"],
        ["PAY-2", "Done"],
        ["PAY-3", "weird"],
    ]
