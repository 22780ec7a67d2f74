"""The JUnit parser reads every dialect in tests/fixtures/payloads/junit and refuses hostile XML."""

import pytest

from integrations.parse import ParseError
from integrations.parse.junit import parse_junit
from tests.integrations.payloads import PAYLOADS, payload_files

JUNIT = PAYLOADS / "junit"

# file -> (passed, failed, skipped, errors, flaky, duration_ms, name)
EXPECTED = {
    # JUnit 3: errors with stack traces (CR LF as &#13;), no classname attribute.
    "junit3_errors_stacktraces.xml": (3, 0, 0, 2, 0, 7250, ""),
    # Three levels of suites; an <error> of a suite that has no test case; the root claims tests="120".
    "nested_testsuites.xml": (2, 0, 1, 1, 0, 2750, "Ledger Integration"),
    "pytest_failure.xml": (0, 1, 0, 0, 0, 52, "pytest"),
    # Surefire 3 says failures="3": two flaky failures of a test that then passed (flaky, passed),
    # and a test that failed its rerun too (failed).
    "surefire_flaky_reruns.xml": (1, 1, 0, 0, 1, 81, "com.example.payments.GatewayClientTest"),
    # Ant-style aggregate of two suites: the duration is the sum of both.
    "testsuites_two_suites.xml": (3, 0, 0, 0, 0, 128, ""),
}


def test_every_junit_payload_is_expected_here():
    assert {p.name for p in payload_files("junit")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dialect_counts(name):
    report = parse_junit((JUNIT / name).read_bytes())
    got = (report.passed, report.failed, report.skipped, report.errors, report.flaky, report.duration_ms)
    assert (*got, report.name) == EXPECTED[name]


def test_failure_error_skipped_and_rerun_failure():
    report = parse_junit(
        b"""<testsuite name="s" time="1.5">
          <testcase name="ok"/>
          <testcase name="bad"><failure message="x"/></testcase>
          <testcase name="boom"><error message="y"/></testcase>
          <testcase name="later"><skipped/></testcase>
          <testcase name="still bad"><failure/><rerunFailure/></testcase>
          <testcase name="no time" time="n/a"/>
        </testsuite>"""
    )
    assert (report.passed, report.failed, report.errors, report.skipped) == (2, 2, 1, 1)
    assert (report.total, report.duration_ms) == (6, 1500)


def test_a_suite_without_time_sums_its_cases():
    report = parse_junit(
        b'<testsuites><testsuite><testcase time="0.25"/><testcase time="0.5"/></testsuite></testsuites>'
    )
    assert report.duration_ms == 750


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<testsuite name="&lol3;"><testcase name="x"/></testsuite>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite name="&secret;"/>"""
DTD_ONLY = b'<?xml version="1.0"?><!DOCTYPE testsuite SYSTEM "http://example.com/x.dtd"><testsuite/>'


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, DTD_ONLY], ids=["laughs", "xxe", "dtd"])
def test_entities_and_dtds_are_refused_with_a_readable_error(body):
    with pytest.raises(ParseError, match="Refused: the XML declares a DTD or entities"):
        parse_junit(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "Not well-formed XML"),
        (b"<testsuite><testcase>", "Not well-formed XML: no element found: line 1"),
        (b"<html><body>502 Bad Gateway</body></html>", "the root element is <html>"),
    ],
)
def test_bad_xml_says_what_is_wrong(body, message):
    with pytest.raises(ParseError, match=message):
        parse_junit(body)
