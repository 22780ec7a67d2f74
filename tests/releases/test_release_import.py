"""Importing releases from a spreadsheet: CSV and XLSX read with forgiving headers; a dry-run preview
that names every row's problem and writes nothing; an import of every row or none, each release and
dependency through its service and audited; the templates round-trip; only planners may import; a bad
file is a form error, never a 500; the preview reads a fixed number of queries."""

import io
import re
import zipfile
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from openpyxl import Workbook, load_workbook

from portal import roles
from releases import tasks
from releases.models import AuditEvent, Release, ReleaseDependency
from releases.planning import imports
from releases.planning.imports import COLUMNS, import_plan, read_sheet
from releases.planning.services import imports as import_services
from tests import factories as f

pytestmark = pytest.mark.django_db

URL, CONFIRM = "/releases/import/", "/releases/import/confirm/"


@pytest.fixture
def manager_user(user_in_role):
    return user_in_role(roles.RELEASE_MANAGER)


@pytest.fixture
def manager(manager_user):
    client = Client()
    client.force_login(manager_user)
    return client


@pytest.fixture
def pay():
    return f.ApplicationFactory(key="PAY")


@pytest.fixture
def clm(pay):
    return f.ApplicationFactory(key="CLM", portfolio=pay.portfolio)


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.forecast_refresh_task, "delay", lambda: calls.append(True))
    return calls


def csv_file(text: str, name: str = "releases.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def sheet_of(text: str, name: str = "releases.csv") -> imports.Sheet:
    data = text.encode("utf-8")
    return read_sheet(name=name, size=len(data), chunks=[data])


def plan_of(text: str) -> imports.ImportPlan:
    return import_plan(sheet_of(text))


def problems_by_row(plan) -> dict[int, list[str]]:
    return {row.number: row.problems for row in plan.rows if row.problems}


def payload_of(response) -> str:
    return re.search(r'name="payload" value="([^"]+)"', response.content.decode()).group(1)


def counts() -> tuple[int, int, int]:
    return Release.objects.count(), ReleaseDependency.objects.count(), AuditEvent.objects.count()


D1, D2, D3 = f.day(30).isoformat(), f.day(40).isoformat(), f.day(50).isoformat()


# --- reading the file ----------------------------------------------------------------------------


def test_a_csv_is_read_whatever_the_headers_case_spacing_and_delimiter(pay):
    text = (
        f"\ufeff  APPLICATION ;version;Target_Date; code  freeze ;SUMMARY\nPAY;4.3;{D2};{D1};Fees\n\n;;;;\n"
    )
    plan = plan_of(text)
    assert plan.clean, plan.problems
    (row,) = plan.rows
    assert (row.number, row.application, row.version, row.target, row.freeze, row.summary) == (
        2,
        pay,
        "4.3",
        f.day(40),
        f.day(30),
        "Fees",
    )


def test_an_xlsx_is_read_with_its_date_cells_and_its_row_numbers(pay):
    data = xlsx_bytes(
        [
            ["Application", "Version", "Target date", "Code freeze"],
            ["pay", "4.3", datetime(2030, 3, 1), None],
            [None, None, None, None],
            ["PAY", 5, "2030-04-01", datetime(2030, 3, 20)],
        ]
    )
    plan = import_plan(read_sheet(name="Plan.XLSX", size=len(data), chunks=[data]))
    assert plan.clean, plan.problems
    assert [(r.number, r.key, r.version, r.target, r.freeze) for r in plan.rows] == [
        (2, "PAY", "4.3", f.day(53), None),
        (4, "PAY", "5", f.day(84), f.day(72)),
    ]


def test_every_problem_is_named_on_its_row(pay, clm):
    f.ReleaseFactory(application=pay, version="4.0")
    existing = f.ReleaseFactory(application=clm, version="3.0")
    start = datetime.combine(f.day(60), time(), tzinfo=UTC)
    f.FreezeWindowFactory(reason="Year-end", starts_at=start, ends_at=start + timedelta(days=3))
    long_summary = "x" * 301
    rows = [
        "Application,Version,Target date,Code freeze,Summary,Train,Depends on,Colour",
        f"NOPE,1.0,{D1},,,,,",  # 2
        "PAY,1.1,2030-02-30,,,,,",  # 3
        "PAY,1.2,1999-12-31,,,,,",  # 4
        f"PAY,1.3,{D1},{D2},,,,",  # 5
        f"PAY,1.4,{D1},,,,,",  # 6
        f"pay,1.4,{D2},,,,,",  # 7
        f"PAY,4.0,{D1},,,,,",  # 8
        f"PAY,1.5,{D1},,,,CLM 9.9; PAY,",  # 9
        f"PAY,1.6,{D1},,,,CLM 2.0,",  # 10
        f"CLM,2.0,{D1},,,,PAY 1.6,",  # 11
        f"PAY,1.7,{f.day(61).isoformat()},,,,,",  # 12
        f"PAY,1.8\x00,{D1},,,,,",  # 13
        f"PAY,1.9,{D1},,{long_summary},,,",  # 14
        f"PAY,,{D1},,,,,",  # 15
        f"PAY,2.1,{D1},,,Nowhere,,",  # 16
        f"PAY,2.2,{D1},,,,PAY 2.2,",  # 17
        f"PAY,2.3,{D1},,,,clm 3.0,",  # 18: fine
    ]
    plan = plan_of("\n".join(rows) + "\n")
    assert not plan.clean
    assert plan.sheet.problems == [
        "Unknown column “Colour”: the columns are Application, Version, Target date, Code freeze, "
        "Summary, Train, Depends on."
    ]
    found = problems_by_row(plan)
    expected = {
        2: "No application has the key “NOPE”.",
        3: "Target date “2030-02-30” is not a date",
        4: "Pick a day between 2000 and 2199",
        5: "The code freeze (2030-02-16) is after the target date (2030-02-06).",
        7: "PAY 1.4 is also on row 6.",
        8: "PAY 4.0 is already in the portal.",
        9: "Depends on “CLM 9.9”, which is neither in the portal nor in this file.",
        10: "Its dependencies make a cycle: PAY 1.6 → CLM 2.0 → PAY 1.6.",
        11: "Its dependencies make a cycle: CLM 2.0 → PAY 1.6 → CLM 2.0.",
        12: "Its target date is inside a freeze: 2030-03-08 to 2030-03-10 is frozen (“Year-end”)",
        13: "Version holds a NUL character.",
        14: "Summary is longer than 300 characters.",
        15: "Version is empty.",
        16: "No train is named “Nowhere”.",
        17: "It depends on itself.",
    }
    for number, words in expected.items():
        assert any(words in problem for problem in found.get(number, [])), (number, found.get(number))
    assert any("write the application key and the version" in p for p in found[9])  # "PAY" alone
    assert set(found) == set(expected), "rows 6 and 18 are fine"
    assert 18 not in found and plan.rows[-1].upstream_ids == [existing.pk]


def test_a_longer_cycle_is_named_on_each_of_its_rows_and_only_on_them(pay):
    plan = plan_of(
        "Application,Version,Target date,Depends on\n"
        f"PAY,1,{D1},PAY 3\n"
        f"PAY,2,{D1},PAY 1\n"
        f"PAY,3,{D1},PAY 2\n"
        f"PAY,4,{D1},PAY 3\n"  # waits on the cycle, is not in it
    )
    assert problems_by_row(plan) == {
        2: ["Its dependencies make a cycle: PAY 1 → PAY 3 → PAY 2 → PAY 1."],
        3: ["Its dependencies make a cycle: PAY 2 → PAY 1 → PAY 3 → PAY 2."],
        4: ["Its dependencies make a cycle: PAY 3 → PAY 2 → PAY 1 → PAY 3."],
    }


def test_a_train_is_found_by_name_in_the_applications_portfolio_first(pay):
    f.ReleaseTrainFactory(name="Spring")  # another portfolio's
    mine = f.ReleaseTrainFactory(name="Spring", portfolio=pay.portfolio)
    plan = plan_of(f"Application,Version,Target date,Train\nPAY,1.0,{D1},spring\n")
    assert plan.clean and plan.rows[0].train == mine


# --- the preview writes nothing ------------------------------------------------------------------


def test_the_preview_shows_every_row_and_writes_nothing(manager, pay):
    f.ReleaseFactory(application=pay, version="0.9")
    before = counts()
    clean = manager.post(
        URL, {"file": csv_file(f"Application,Version,Target date\nPAY,1.0,{D1}\nPAY,1.1,{D2}\n")}
    )
    html = clean.content.decode()
    assert clean.status_code == 200 and "Import 2 releases" in html and "PAY" in html and "1.1" in html
    dirty = manager.post(
        URL, {"file": csv_file(f"Application,Version,Target date\nPAY,0.9,{D1}\nXX,1,{D1}\n")}
    )
    html = dirty.content.decode()
    assert dirty.status_code == 422 and "Import " not in html.split("Preview of")[1].split("<table")[0]
    assert "PAY 0.9 is already in the portal." in html and "No application has the key “XX”." in html
    assert 'name="payload"' not in html
    assert counts() == before


def test_the_preview_escapes_what_the_file_says(manager, pay):
    response = manager.post(
        URL, {"file": csv_file(f"Application,Version,Target date,Summary\nPAY,1.0,{D1},<script>x</script>\n")}
    )
    assert (
        "<script>x</script>" not in response.content.decode()
        and "&lt;script&gt;" in response.content.decode()
    )


# --- the import ----------------------------------------------------------------------------------


def test_the_import_creates_every_release_and_dependency_audited_with_one_forecast_refresh(
    manager, manager_user, pay, clm, enqueued, django_capture_on_commit_callbacks
):
    upstream = f.ReleaseFactory(application=clm, version="7.0")
    train = f.ReleaseTrainFactory(name="Spring", portfolio=pay.portfolio)
    text = (
        "Application,Version,Target date,Code freeze,Summary,Train,Depends on\n"
        f"PAY,4.3,{D2},{D1},Fees,Spring,CLM 7.0; CLM 2.0\n"
        f"CLM,2.0,{D1},,,,\n"
        f"PAY,4.4,{D3},,,,PAY 4.3\n"
    )
    preview = manager.post(URL, {"file": csv_file(text, "plan.csv")})
    assert preview.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(CONFIRM, {"payload": payload_of(preview)})
    assert response.status_code == 302 and response["Location"] == "/releases/"
    pay43 = Release.objects.get(application=pay, version="4.3")
    clm20 = Release.objects.get(application=clm, version="2.0")
    pay44 = Release.objects.get(application=pay, version="4.4")
    assert (pay43.summary, pay43.train, pay43.code_freeze_date, pay43.owner) == (
        "Fees",
        train,
        f.day(30),
        manager_user,
    )
    assert set(pay43.upstream_links.values_list("upstream_id", flat=True)) == {upstream.pk, clm20.pk}
    assert list(pay44.upstream_links.values_list("upstream_id", "kind")) == [(pay43.pk, "ships_before")]
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions.count("release.create") == 3 and actions.count("release.dependency_add") == 3
    assert actions[-1] == "release.import"
    event = AuditEvent.objects.get(action="release.import")
    assert event.after == {
        "file": "plan.csv",
        "rows": 3,
        "releases": [pay43.pk, clm20.pk, pay44.pk],
        "dependencies": 3,
    }
    assert enqueued == [True], "one forecast refresh for the whole import"
    assert "Imported 3 releases from plan.csv." in manager.get("/releases/").content.decode()


def test_a_refusal_in_the_last_row_rolls_back_the_first(manager_user, pay, monkeypatch):
    """The service plans again inside its transaction; here that second plan is made stale on purpose,
    so that release_create itself refuses the last row (a freeze set since): nothing stays."""
    plan = plan_of(f"Application,Version,Target date\nPAY,1.0,{D1}\nPAY,1.1,{D3}\n")
    assert plan.clean
    start = datetime.combine(f.day(50), time(), tzinfo=UTC)
    f.FreezeWindowFactory(reason="Cut-over", starts_at=start, ends_at=start + timedelta(days=1))
    monkeypatch.setattr(import_services, "import_plan", lambda sheet: plan)
    before = counts()
    with pytest.raises(import_services.ImportRefused) as refused:
        import_services.release_import(plan=plan, by=manager_user)
    assert counts() == before
    assert any("Cut-over" in p for p in refused.value.plan.rows[1].problems)


def test_what_changed_since_the_preview_refuses_the_import_with_the_rows_problem(manager, pay):
    preview = manager.post(
        URL, {"file": csv_file(f"Application,Version,Target date\nPAY,1.0,{D1}\nPAY,1.1,{D2}\n")}
    )
    f.ReleaseFactory(application=pay, version="1.1")  # someone else, meanwhile
    before = counts()
    response = manager.post(CONFIRM, {"payload": payload_of(preview)})
    assert response.status_code == 409 and "PAY 1.1 is already in the portal." in response.content.decode()
    assert counts() == before


def test_the_confirm_refuses_an_edited_expired_or_foreign_payload(manager, client_for, pay, monkeypatch):
    preview = manager.post(URL, {"file": csv_file(f"Application,Version,Target date\nPAY,1.0,{D1}\n")})
    payload = payload_of(preview)
    for bad in [payload[:-2] + "xx", "", "not a payload"]:
        response = manager.post(CONFIRM, {"payload": bad})
        assert response.status_code == 400 and "upload the file again" in response.content.decode()
    other = client_for(roles.RELEASE_MANAGER)
    assert other.post(CONFIRM, {"payload": payload}).status_code == 400  # salted with the user
    monkeypatch.setattr("releases.planning.views.release_import.PREVIEW_MAX_AGE", -1)
    assert manager.post(CONFIRM, {"payload": payload}).status_code == 400
    assert Release.objects.count() == 0


# --- the templates -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_downloaded_template_filled_in_imports_without_a_problem(manager, pay, clm, kind):
    response = manager.get(f"/releases/import/template.{kind}")
    assert response.status_code == 200
    assert f'filename="release-import-template.{kind}"' in response["Content-Disposition"]
    filled = [["PAY", "4.10", D2, D1, "Fees", "", "CLM 2.0"], ["CLM", "2.0", D1, "", "", "", ""]]
    if kind == "csv":
        data = response.content + "".join(",".join(row) + "\r\n" for row in filled).encode()
    else:
        workbook = load_workbook(io.BytesIO(response.content))
        assert [c.value for c in workbook.active[1]] == list(COLUMNS)
        for row in filled:
            workbook.active.append(row)
        out = io.BytesIO()
        workbook.save(out)
        data = out.getvalue()
    preview = manager.post(URL, {"file": SimpleUploadedFile(f"filled.{kind}", data)})
    assert preview.status_code == 200, preview.content.decode()
    assert manager.post(CONFIRM, {"payload": payload_of(preview)}).status_code == 302
    assert Release.objects.get(version="4.10").upstream_links.get().upstream.version == "2.0"


def test_an_unknown_template_kind_is_404(manager):
    assert manager.get("/releases/import/template.ods").status_code == 404


# --- who may import ------------------------------------------------------------------------------


def test_only_those_who_plan_may_import(client_for, superuser_client, pay):
    office = client_for(roles.PROJECT_OFFICE)
    file = csv_file(f"Application,Version,Target date\nPAY,1.0,{D1}\n")
    assert office.get(URL).status_code == 403
    assert office.post(URL, {"file": file}).status_code == 403
    assert office.post(CONFIRM, {"payload": "x"}).status_code == 403
    assert office.get("/releases/import/template.csv").status_code == 403
    anonymous = Client().get(URL)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert client_for(roles.ADMIN).get(URL).status_code == 403  # the Admin role does not plan releases
    assert superuser_client.get(URL).status_code == 200
    assert Release.objects.count() == 0


def test_the_release_list_links_to_the_import_for_planners_only(manager, client_for):
    assert 'href="/releases/import/"' in manager.get("/releases/").content.decode()
    assert (
        'href="/releases/import/"' not in client_for(roles.PROJECT_OFFICE).get("/releases/").content.decode()
    )


def test_no_csrf_token_gets_403(manager_user, pay):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager_user)
    response = client.post(URL, {"file": csv_file(f"Application,Version,Target date\nPAY,1.0,{D1}\n")})
    assert response.status_code == 403
    assert client.post(CONFIRM, {"payload": "x"}).status_code == 403


# --- bad files -----------------------------------------------------------------------------------


def _zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (imports.MAX_UNPACKED_BYTES + 1))
    return out.getvalue()


BAD_FILES = {
    "empty": ("a.csv", b"", "The submitted file is empty."),
    "blank": ("a.csv", b" \r\n\r\n", "The file is empty."),
    "header only": ("a.csv", b"Application,Version,Target date\r\n", "a header but no rows"),
    "no header of ours": ("a.csv", b"a,b\r\n1,2\r\n", "The column “Application” is missing."),
    "binary garbage": ("a.csv", bytes(range(128, 256)) * 40, "not UTF-8 text"),
    "garbage xlsx": ("a.xlsx", bytes(range(256)) * 40, "not an XLSX workbook"),
    "a csv named xlsx": ("a.xlsx", b"Application,Version,Target date\r\nPAY,1,2030-02-01\r\n", "not an XLSX"),
    "nul bytes": ("a.csv", f"Application,Version,Target date\nPAY,1\x00,{D1}\n".encode(), "holds a NUL"),
    "long cell": (
        "a.csv",
        f"Application,Version,Target date,Summary\nPAY,1,{D1},{'x' * 10_000}\n".encode(),
        "Summary is longer than 300 characters.",
    ),
    "megabyte cell": (
        "a.csv",
        f"Application,Version,Target date,Summary\nPAY,1,{D1},{'x' * 1_000_000}\n".encode(),
        "far longer than any column takes",
    ),
    "wrong extension": ("a.txt", b"Application,Version,Target date\r\n", "Upload a .csv or .xlsx file"),
    "too large": ("a.csv", b"x" * (imports.MAX_FILE_BYTES + 1), "larger than 2 MB"),
    "too many rows": (
        "a.csv",
        ("Application,Version,Target date\n" + f"PAY,1,{D1}\n" * (imports.MAX_ROWS + 1)).encode(),
        "more than 500 rows",
    ),
    "zip bomb": ("a.xlsx", _zip_bomb(), "unpacks to too much data"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_is_a_form_error_never_a_500(manager, pay, kind):
    name, data, words = BAD_FILES[kind]
    response = manager.post(URL, {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 422 and words in response.content.decode()
    assert 'name="payload"' not in response.content.decode() and Release.objects.count() == 0


def test_no_file_at_all_is_a_form_error(manager):
    response = manager.post(URL, {})
    assert response.status_code == 422 and "This field is required." in response.content.decode()


# --- queries -------------------------------------------------------------------------------------


def _preview_queries(client, rows: int) -> int:
    portfolio = f.PortfolioFactory(parent=f.PortfolioFactory())
    f.ReleaseTrainFactory(name="Spring", portfolio=portfolio)
    f.FreezeWindowFactory(
        for_portfolio=True,
        portfolio=portfolio.parent,
        starts_at=datetime(2031, 1, 1, tzinfo=UTC),
        ends_at=datetime(2031, 1, 2, tzinfo=UTC),
    )
    lines = ["Application,Version,Target date,Train,Depends on"]
    previous = ""
    for i in range(rows):
        app = f.ApplicationFactory(portfolio=portfolio)
        upstream = f.ReleaseFactory(application=app, version="0.1")
        lines.append(f"{app.key},1.{i},{f.day(i).isoformat()},Spring,{app.key} {upstream.version}{previous}")
        previous = f"; {app.key} 1.{i}"  # the row before, in the same file
    data = ("\n".join(lines) + "\n").encode()
    with CaptureQueriesContext(connection) as queries:
        response = client.post(URL, {"file": SimpleUploadedFile("q.csv", data)})
    assert response.status_code == 200 and f"Import {rows} releases" in response.content.decode()
    return len(queries)


def test_the_preview_reads_as_many_queries_for_50_rows_as_for_3(manager):
    assert _preview_queries(manager, 3) == _preview_queries(manager, 50)
