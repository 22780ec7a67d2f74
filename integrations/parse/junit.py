"""JUnit XML reports in every common dialect, parsed defensively.

The body comes from a pipeline we do not control: defusedxml refuses DTDs, entity declarations
(billion laughs, quadratic blowup) and external entities before expanding anything.

Counts come from the <testcase> elements, not from the suites' attributes, which disagree between
tools (Surefire counts flaky reruns as failures; nested suites repeat their children's totals).
An <error> directly inside a <testsuite> (a suite that failed to set up) counts as one error.
"""

from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XmlSyntaxError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from integrations.parse import ParseError

SUITE, CASE = "testsuite", "testcase"
# Surefire marks a test that failed and then passed on a rerun; it counts as passed.
FLAKY = ("flakyFailure", "flakyError")
MAX_SECONDS = 30 * 24 * 3600  # a month: no suite runs longer; sums of these stay far inside an int


@dataclass(frozen=True)
class JUnitReport:
    name: str
    passed: int
    failed: int
    skipped: int
    errors: int
    flaky: int
    duration_ms: int

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped + self.errors


def _outcome(case: Element) -> str:
    tags = {child.tag for child in case}
    if "error" in tags:
        return "errors"
    if "failure" in tags:
        return "failed"
    if "skipped" in tags:
        return "skipped"
    return "passed"


def _seconds(element: Element) -> float | None:
    """The element's time="..." in seconds; None when absent or not a number. A number no run can
    take (negative, infinite, NaN, longer than MAX_SECONDS) makes the report unreadable."""
    raw = element.get("time", "")
    try:
        seconds = float(raw.replace(",", ""))
    except ValueError:
        return None
    if not 0 <= seconds <= MAX_SECONDS:  # NaN fails every comparison
        raise ParseError(
            f"<{element.tag} name={element.get('name', '')[:100]!r}> has time={raw[:40]!r}: "
            f"a duration is a number of seconds from 0 to {MAX_SECONDS:,}."
        )
    return seconds


def _duration_ms(root: Element) -> int:
    """The outermost suites' own times; where a suite has none, the sum of its test cases."""
    outermost = [root] if root.tag == SUITE else root.findall(SUITE)
    total = 0.0
    for suite in outermost:
        own = _seconds(suite)
        total += own if own is not None else sum(_seconds(c) or 0 for c in suite.iter(CASE))
    return round(total * 1000)


def _name(root: Element) -> str:
    """The report's own name, else its only suite's (pytest names the suite, not the report)."""
    suites = root.findall(SUITE)
    return root.get("name") or (suites[0].get("name", "") if len(suites) == 1 else "")


def _parse_xml(body: bytes) -> Element:
    try:
        return fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ParseError(
            f"Refused: the XML declares a DTD or entities ({exc}); JUnit reports need none."
        ) from exc
    except XmlSyntaxError as exc:
        raise ParseError(f"Not well-formed XML: {exc}.") from exc


def parse_junit(body: bytes) -> JUnitReport:
    root = _parse_xml(body)
    if root.tag not in (SUITE, "testsuites"):
        raise ParseError(
            f"Not a JUnit report: the root element is <{root.tag}>, not <testsuites> or <testsuite>."
        )
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    flaky = 0
    for case in root.iter(CASE):
        outcome = _outcome(case)
        counts[outcome] += 1
        if outcome == "passed" and any(child.tag in FLAKY for child in case):
            flaky += 1
    for suite in root.iter(SUITE):
        counts["errors"] += len(suite.findall("error"))
    return JUnitReport(
        name=_name(root),
        flaky=flaky,
        duration_ms=_duration_ms(root),
        **counts,
    )
