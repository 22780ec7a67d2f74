"""Numbers that do not mislead (releases.numbers and its template filter): a share never rounds to 0%
or 100% when the truth is not, on the release page, the gate and in the QA evidence; a cancelled
upstream shows no forecast date."""

import html as markup
import re
from datetime import UTC, datetime

import pytest
from django.template import Context, Template

from portal import roles
from releases.gates.services.evidence import SuiteRun, qa_evidence
from releases.numbers import percent, share
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("part", "whole", "words"),
    [
        (3783, 3795, "99.7%"),  # 12 failures in 3,795: not "100%"
        (3794, 3795, "> 99.9%"),
        (1, 3795, "< 0.1%"),
        (0, 3795, "0%"),
        (3795, 3795, "100%"),
        (2, 14, "14%"),
        (1, 400, "0.2%"),
        (0, 0, "—"),
    ],
)
def test_a_share_never_rounds_to_0_or_100_when_the_truth_is_not(part, whole, words):
    assert share(part, whole) == words
    if whole:
        rendered = Template("{% load numbers %}{{ rate|share }}").render(Context({"rate": part / whole}))
        assert markup.unescape(rendered) == words


@pytest.mark.parametrize(
    ("part", "whole", "words"),
    [
        (100, 110, "90.9%"),
        (3783, 3795, "99.7%"),
        (3794, 3795, "> 99.9%"),
        (1, 3795, "< 0.1%"),
        (19, 20, "95%"),
        (18_997, 20_000, "95.0%"),
    ],
)
def test_pass_rates_have_one_decimal_throughout(part, whole, words):
    assert share(part, whole, decimals=1) == words
    rendered = Template("{% load numbers %}{{ rate|share:1 }}").render(Context({"rate": part / whole}))
    assert markup.unescape(rendered) == words


def test_no_rate_is_a_dash():
    assert percent(None) == "—"
    assert Template("{% load numbers %}{{ rate|share }}").render(Context({"rate": None})) == "—"


def test_the_release_page_badges_a_test_run_with_12_failures_as_99_7(client_for):
    release = f.ReleaseFactory()
    f.TestRunFactory(release=release, name="Regression", passed=3783, failed=12, skipped=0, errors=0)
    html = client_for(roles.PROJECT_OFFICE).get(f"/releases/{release.pk}/").content.decode()
    badge = re.search(r'<span class="badge badge-alert">([^<]+)</span>', html.split('id="tests-title"')[1])
    assert badge.group(1) == "99.7%"


def test_the_gate_shows_its_pass_rate_without_rounding_to_100(client_for):
    gate = f.GateFactory(
        evidence_pass_rate=0.9997,
        evidence_failed_tests=1,
        evidence_source="JUnit: all",
        evidence_at=datetime(2030, 1, 11, 8, 30, tzinfo=UTC),
    )
    html = client_for(roles.PROJECT_OFFICE).get(f"/releases/{gate.release.pk}/").content.decode()
    assert "Pass rate <strong>&gt; 99.9%</strong>" in html


def test_qa_evidence_says_one_failure_in_30000_as_it_is():
    run = SuiteRun(name="all", passed=29_999, failed=1, errors=0, executed_at=f.moment(1))
    evidence = qa_evidence({"min_pass_rate": 1.0, "max_failed": 5}, [run])
    assert evidence.pass_rate == 0.9999 and evidence.ok is False
    assert evidence.summary.startswith("29999 of 30000 tests passed (> 99.9%), 1 failed")
    assert "needs at least 100%" in evidence.summary
    typed = qa_evidence({"min_pass_rate": 0.975, "max_failed": 5}, [run])
    assert typed.ok is True
    fails = qa_evidence({"min_pass_rate": 0.975, "max_failed": 5}, [SuiteRun("s", 97, 3, 0, f.moment(1))])
    assert "needs at least 97.5%" in fails.summary and "(97%)" in fails.summary


def test_a_cancelled_upstream_shows_no_forecast_date(client_for):
    release = f.ReleaseFactory(target_date=f.day(10))
    cancelled = f.ReleaseFactory(
        application=f.ApplicationFactory(key="LED"),
        version="2.0",
        status="cancelled",
        forecast_date=f.day(20),
    )
    f.ReleaseDependencyFactory(downstream=release, upstream=cancelled)
    html = client_for(roles.PROJECT_OFFICE).get(f"/releases/{release.pk}/").content.decode()
    needs = html.split('id="dependencies-title"')[1].split("Needed by")[0]
    assert "cancelled, so no forecast" in needs
    assert f.day(20).strftime("%-d %b %Y") not in needs and "forecast 2" not in needs
