"""The demo's fixed lists: the accounts, the scales, the portfolios and applications, the words the
generated rows are made of, the gate policies, and the tool-sandbox connections the demo names.

Data only: nothing here touches the database or draws a random number (demo.generation does).
"""

import re
from dataclasses import dataclass

from portal.roles import (
    ADMIN,
    AUDITOR,
    CHANGE_MANAGER,
    ENVIRONMENT_ADMIN,
    GOVERNANCE,
    PIPELINE,
    PROJECT_OFFICE,
    RELEASE_MANAGER,
    ROLES,
    SECURITY_REVIEWER,
)


def _account(username: str, password: str, role: str, full_name: str) -> dict:
    return {"username": username, "password": password, "role": role, "full_name": full_name}


# The accounts people log in with. The passwords are public on purpose: these are demo accounts.
DEMO_USERS = [
    _account("admin", "flightdeck-admin", ADMIN, "Alex Morgan"),
    _account("po", "flightdeck-po", PROJECT_OFFICE, "Priya Shah"),
    _account("rm", "flightdeck-rm", RELEASE_MANAGER, "Tom Becker"),
    _account("sec", "flightdeck-sec", SECURITY_REVIEWER, "Sofia Martins"),
    # A second reviewer, so gates that need two approvals (quorum) can be shown end to end.
    _account("sec2", "flightdeck-sec2", SECURITY_REVIEWER, "Daniel Okafor"),
    _account("envadmin", "flightdeck-env", ENVIRONMENT_ADMIN, "Grace Liu"),
    _account("auditor", "flightdeck-auditor", AUDITOR, "Henrik Larsen"),
    _account("cm", "flightdeck-cm", CHANGE_MANAGER, "Nadia Rahman"),
    _account("gov", "flightdeck-gov", GOVERNANCE, "Oliver Grant"),
    # The pipelines' service account: it uploads JUnit reports (POST /api/junit) and asks can-deploy.
    _account("ci-bot", "flightdeck-ci", PIPELINE, "CI pipeline"),
]
# Colleagues who own releases, and change managers who sign CAB gates. They cannot log in (no password).
TEAM_USERS = [
    _account(username, None, role, full_name)
    for username, full_name, role in [
        ("jokoro", "Jasmine Okoro", RELEASE_MANAGER),
        ("mfischer", "Markus Fischer", RELEASE_MANAGER),
        ("aduval", "Amelie Duval", RELEASE_MANAGER),
        ("rpatel", "Rohan Patel", RELEASE_MANAGER),
        ("lnguyen", "Linh Nguyen", RELEASE_MANAGER),
        ("cobrien", "Ciaran O'Brien", RELEASE_MANAGER),
        ("ekowalski", "Ewa Kowalski", RELEASE_MANAGER),
        ("hsato", "Haruto Sato", CHANGE_MANAGER),
        ("bmensah", "Bea Mensah", CHANGE_MANAGER),
    ]
]


@dataclass(frozen=True)
class Scale:
    name: str
    tier: int  # catalogue entries (portfolios, applications, environments) up to this tier are used
    releases: int  # over the three years, the peak week included
    peak_week_releases: int
    sit_environments: int
    booking_days: tuple[int, int]  # bookings start between these days around the anchor


SCALES = {
    "small": Scale("small", 1, 150, 24, sit_environments=2, booking_days=(-45, 45)),
    "medium": Scale("medium", 2, 5_200, 170, sit_environments=6, booking_days=(-240, 90)),
    "enterprise": Scale("enterprise", 3, 52_000, 1_650, sit_environments=18, booking_days=(-600, 120)),
}


# (name, slug, code, parent slug, tier). Programmes are child portfolios.
PORTFOLIOS = [
    ("Payments", "payments", "PAY", None, 1),
    ("Core Platforms", "core-platforms", "CORE", None, 1),
    ("Digital Channels", "digital-channels", "DIG", None, 1),
    ("Retail Banking", "retail-banking", "RET", None, 2),
    ("Claims", "claims", "CLM", None, 2),
    ("Policy Administration", "policy-administration", "POL", None, 2),
    ("Data & Analytics", "data-analytics", "DATA", None, 2),
    ("Corporate Functions", "corporate-functions", "CORP", None, 2),
    ("Instant Payments Programme", "instant-payments", "IP", "payments", 2),
    ("Claims Transformation", "claims-transformation", "CT", "claims", 3),
    ("Mobile First", "mobile-first", "MF", "digital-channels", 3),
    ("Cloud Migration", "cloud-migration", "CM", "core-platforms", 3),
]
LEDGER_KEY = "LEDG"


@dataclass(frozen=True)
class AppSpec:
    key: str
    name: str
    portfolio: str
    criticality: str
    cadence: str
    scheme: str  # "semver" (4.12.0) or "calver" (2026.11.2)
    weight: int  # share of the release volume
    tier: int
    uses_ledger: bool
    needs: tuple[str, ...]  # provider applications whose releases this one's may wait for


# key, name, portfolio, criticality, cadence, versions, weight (share of releases), tier,
# whether its releases wait for the Core Ledger, the applications it needs; columns split on 2+ spaces.
_APPLICATION_TABLE = """
PAY    Payments Hub                payments               critical  weekly     semver  10  1  yes  IAM
CARD   Card Issuing                payments               high      biweekly   semver  6   1  yes  PAY
FRD    Fraud Screening             payments               high      weekly     semver  6   2  no   PAY
FXR    FX Rates Service            payments               medium    weekly     calver  4   3  no   -
SEPA   SEPA Gateway                instant-payments       high      weekly     semver  5   2  yes  PAY
IPG    Instant Payments Gateway    instant-payments       critical  weekly     semver  7   3  yes  PAY FRD
LEDG   Core Ledger                 core-platforms         critical  quarterly  calver  0   1  no   -
IAM    Identity & Access           core-platforms         critical  biweekly   semver  4   1  no   -
MQ     Integration Bus             core-platforms         high      monthly    semver  3   2  no   -
DOC    Document Store              core-platforms         medium    monthly    semver  3   3  no   -
BATCH  Batch Scheduler             core-platforms         medium    monthly    calver  2   3  no   -
K8S    Container Platform          cloud-migration        high      weekly     calver  5   3  no   -
APIG   API Gateway                 digital-channels       high      weekly     semver  6   1  no   IAM PAY
MOB    Mobile Banking App          digital-channels       high      biweekly   semver  8   1  no   APIG
WEB    Customer Web                digital-channels       high      weekly     calver  8   2  no   APIG
NOTIF  Notification Hub            digital-channels       medium    weekly     semver  4   3  no   -
CHAT   Digital Assistant           mobile-first           low       weekly     calver  4   3  no   APIG
ACCT   Current Accounts            retail-banking         critical  biweekly   semver  6   2  yes  PAY
SAV    Savings Engine              retail-banking         high      monthly    semver  4   3  yes  -
LOAN   Loan Origination            retail-banking         high      biweekly   semver  5   2  yes  ACCT
MORT   Mortgage Servicing          retail-banking         high      monthly    semver  4   3  yes  -
ONB    Customer Onboarding         retail-banking         high      weekly     calver  6   2  no   IAM
CLM    Claims Intake               claims                 high      weekly     semver  6   2  no   DOC
CLMS   Claims Settlement           claims                 critical  biweekly   semver  5   2  yes  CLM PAY
FNOL   First Notice of Loss        claims-transformation  high      weekly     calver  5   3  no   CLM
SUBR   Subrogation Tracker         claims                 low       monthly    semver  2   3  no   -
POL    Policy Core                 policy-administration  critical  biweekly   semver  6   2  no   -
QTE    Quote & Bind                policy-administration  high      weekly     semver  6   2  no   POL
RNW    Renewals Engine             policy-administration  high      monthly    semver  4   3  no   POL
UWR    Underwriting Workbench      policy-administration  medium    biweekly   calver  4   3  no   POL
BILL   Premium Billing             policy-administration  critical  biweekly   semver  5   2  yes  POL PAY
DWH    Enterprise Data Warehouse   data-analytics         high      weekly     calver  5   2  yes  -
RPT    Regulatory Reporting        data-analytics         critical  monthly    calver  4   2  yes  DWH
RISK   Risk Models                 data-analytics         high      monthly    semver  3   3  no   DWH
BI     Management Dashboards       data-analytics         low       weekly     calver  4   3  no   DWH
MDM    Customer Master Data        data-analytics         high      biweekly   semver  4   3  no   -
FIN    Finance Close               corporate-functions    critical  monthly    semver  3   2  yes  -
HR     HR Portal                   corporate-functions    low       biweekly   calver  3   2  no   -
PROC   Procurement                 corporate-functions    medium    monthly    semver  2   3  no   -
GRC    Risk & Compliance Register  corporate-functions    medium    monthly    semver  2   3  no   -
EXP    Expense Claims              corporate-functions    low       biweekly   calver  2   3  no   -
"""


def _app_spec(line: str) -> AppSpec:
    key, name, portfolio, criticality, cadence, scheme, weight, tier, ledger, needs = re.split(
        r"\s{2,}", line
    )
    needs_keys = () if needs == "-" else tuple(needs.split())
    return AppSpec(
        key,
        name,
        portfolio,
        criticality,
        cadence,
        scheme,
        int(weight),
        int(tier),
        ledger == "yes",
        needs_keys,
    )


APPLICATIONS = [_app_spec(line) for line in _APPLICATION_TABLE.strip().splitlines()]

# The company's priorities: each epic (a theme below) carries one as its Jira label, so the value
# stream answers "did the company's priority actually ship".
INITIATIVES = ["customer-experience", "regulatory-compliance", "cost-and-resilience"]

# What the releases of each (top-level) portfolio are about, and what their work items talk about.
THEMES = {
    "payments": [
        "ISO 20022 message migration",
        "Request to Pay for business customers",
        "Faster refunds for card disputes",
        "Confirmation of Payee checks",
        "Real-time liquidity dashboard",
        "Scheduled payments in the mobile app",
        "Cross-border fee transparency",
        "Strong customer authentication exemptions",
    ],
    "core-platforms": [
        "Java 21 runtime upgrade",
        "Zero-downtime database failover",
        "Quarterly interest posting rules",
        "Multi-currency sub-ledgers",
        "Audit log retention to seven years",
        "Service mesh mutual TLS",
        "Faster end-of-day batch",
        "Capacity for year-end volumes",
    ],
    "digital-channels": [
        "Redesigned account overview",
        "Biometric login on Android",
        "Accessibility (WCAG 2.2 AA) fixes",
        "In-app document upload",
        "Push notifications for card payments",
        "Dark mode",
        "Personalised savings goals",
        "New onboarding journey",
    ],
    "retail-banking": [
        "Overdraft limit self-service",
        "Fixed-rate savings bonds",
        "Mortgage offer in one day",
        "Joint account opening online",
        "Consumer Duty fair value reporting",
        "Interest rate change automation",
        "Arrears early warning",
        "Paperless statements",
    ],
    "claims": [
        "Photo upload at first notice of loss",
        "Straight-through motor glass claims",
        "Fraud triage scoring",
        "Supplier network payments",
        "Claims handler workload balancing",
        "Weather event bulk claims",
        "Subrogation recovery tracking",
        "Settlement letters in plain English",
    ],
    "policy-administration": [
        "Mid-term adjustments online",
        "Multi-car policies",
        "Renewal price walking checks",
        "Broker quote API v3",
        "Telematics discounts",
        "Policy documents as PDF/A",
        "Instalment plans for home insurance",
        "Underwriting referral rules",
    ],
    "data-analytics": [
        "Solvency II quarterly templates",
        "IFRS 17 reporting mart",
        "Customer 360 data products",
        "Data quality rules for claims",
        "Near-real-time payments feed",
        "Model risk validation pack",
        "Self-service management dashboards",
        "GDPR erasure propagation",
    ],
    "corporate-functions": [
        "Month-end close checklist automation",
        "Supplier onboarding workflow",
        "Expense receipts by photo",
        "Annual pay review cycle",
        "Purchase order approvals on mobile",
        "Risk register heat map",
        "Hybrid working desk booking",
        "Learning records integration",
    ],
}
FIXES = [
    "Bug fixes and dependency updates",
    "Security patch: library upgrades from the monthly scan",
    "Hotfix: timeouts under peak load",
    "Hotfix: wrong time zone on confirmation emails",
    "Performance fixes for large customers",
    "Fixes from the last release's hypercare",
    "Certificate rotation and configuration clean-up",
    "Hotfix: retry handling for the downstream API",
]
NOUNS = {
    "payments": ["payment", "mandate", "standing order", "refund", "card"],
    "core-platforms": ["posting", "account", "batch job", "ledger entry", "certificate"],
    "digital-channels": ["login", "notification", "statement", "profile", "message"],
    "retail-banking": ["account", "loan offer", "mortgage", "overdraft", "savings pot"],
    "claims": ["claim", "reserve", "loss report", "settlement", "supplier invoice"],
    "policy-administration": ["policy", "quote", "renewal", "endorsement", "premium"],
    "data-analytics": ["report", "data feed", "dashboard", "model run", "extract"],
    "corporate-functions": ["invoice", "purchase order", "expense", "timesheet", "supplier"],
}
STORY_TITLES = [
    "Show {noun} status on the customer overview",
    "Search {noun}s by customer reference",
    "Export {noun}s to CSV for the operations team",
    "Notify the customer when a {noun} changes",
    "Audit trail for {noun} changes",
    "Bulk update of {noun}s",
    "Validate {noun} data against the reference list",
    "Show {noun} history for the last 24 months",
]
BUG_TITLES = [
    "{Noun} list times out with more than 10,000 rows",
    "Duplicate {noun} created on double-click",
    "Wrong rounding in {noun} totals",
    "{Noun} date shown in UTC instead of local time",
    "Error 500 when a {noun} has no owner",
    "{Noun} form fields missing accessible labels",
]
TASK_TITLES = [
    "Upgrade Spring Boot to the current minor version",
    "Rotate service certificates",
    "Add monitoring for {noun} processing",
    "Remove feature flag for {noun} v2",
    "Update the runbook for {noun} failover",
    "Load test the {noun} API at twice peak volume",
]
STATUS_NAMES = {
    "todo": ["To Do", "Backlog", "Selected for Development"],
    "in_progress": ["In Progress", "In Review", "Ready for QA"],
    "done": ["Done", "Closed", "Resolved"],
}
# The Claims team's Jira speaks German: the status category, never the name, says what is done.
STATUS_NAMES_DE = {"todo": ["Zu erledigen"], "in_progress": ["In Arbeit"], "done": ["Erledigt"]}
REJECT_COMMENTS = [
    "Two high-severity findings from the penetration test are still open.",
    "Regression pass rate is below the 95% threshold; see the latest test run.",
    "Rollback plan is missing for the database migration.",
    "The change record does not list the customer-facing impact.",
    "Dependency scan reports a critical vulnerability in a transitive library.",
]
WAIVER_REASONS = [
    "Low-risk configuration change; evidence from the previous release accepted by the CAB.",
    "Emergency fix for a production incident; retrospective review scheduled.",
    "Test environment outage; compensating manual checks recorded in the change.",
]


def _requirement(kind, name, role, approvals, due, criteria=None) -> dict:
    group = ROLES.index(role) if role else None
    return {
        "kind": kind,
        "name": name,
        "group": group,
        "approvals": approvals,
        "due": due,
        "criteria": criteria or {},
    }


GLOBAL_REQUIREMENTS = [
    _requirement("security", "Security review", SECURITY_REVIEWER, 1, 5),
    _requirement("qa", "QA sign-off", None, 0, 3, {"min_pass_rate": 0.95, "max_failed": 0}),
    _requirement("cab", "CAB approval", CHANGE_MANAGER, 1, 2),
]
# A portfolio's policy adds requirements, or overrides the global one with the same (kind, name).
PORTFOLIO_REQUIREMENTS = {
    # PCI scope: two different reviewers must approve (quorum).
    "payments": [_requirement("compliance", "PCI DSS review", SECURITY_REVIEWER, 2, 7)],
    "retail-banking": [_requirement("compliance", "Consumer Duty review", SECURITY_REVIEWER, 1, 7)],
    "core-platforms": [
        _requirement("custom", "Performance sign-off", CHANGE_MANAGER, 1, 4, {"max_p95_ms": 300}),
        _requirement("build", "Green build", None, 0, 1, {"result": "success"}),
    ],
    "digital-channels": [
        _requirement("scope", "Scope complete", None, 0, 1, {"max_open_blockers": 0}),
        _requirement("qa", "QA sign-off", None, 0, 3, {"min_pass_rate": 0.98, "max_failed": 0}),
    ],
}


# End-to-end environments and the environments each books (made where this scale has them all).
COMPOSITES = [
    ("E2E-PAYMENTS", ["UAT-PAY", "UAT-CORE"]),
    ("E2E-DIGITAL", ["UAT-DIG", "UAT-PAY", "UAT-RET"]),
    ("E2E-RETAIL", ["UAT-RET", "UAT-PAY", "SIT-03"]),
    ("E2E-CLAIMS", ["UAT-CLM", "UAT-POL"]),
    ("E2E-FINANCE", ["UAT-CORP", "UAT-CORE"]),
]


# `dev.py run` starts the tool sandbox (integrations.sandbox) on these ports. Its Jira projects, Jenkins
# jobs and GitHub repositories map to two applications; the credentials are the sandbox's own.
SANDBOX_URL = "http://127.0.0.1:8765"
SANDBOX_JENKINS_URL = "http://127.0.0.1:8766"
SANDBOX_GITHUB_URL = "http://127.0.0.1:8767"
SANDBOX_GITLAB_URL = "http://127.0.0.1:8768"
SANDBOX_PROJECTS = {"MOBILE": "MOB", "PORTAL": "WEB"}
SANDBOX_JOBS = {"mob-ci": "MOB", "web-ci": "WEB"}
SANDBOX_REPOS = {"acme/mobile-banking": "MOB", "acme/customer-web": "WEB"}
# One application's code lives on GitLab: its merge requests, pipelines and deployments come from there.
SANDBOX_GITLAB_PROJECTS = {"acme/payments-hub": "PAY"}
# GitHub environment names → Flightdeck's (the GitHub connection's scope renames them).
SANDBOX_GITHUB_ENVIRONMENTS = {"integration": "INT-SHARED", "uat": "UAT-DIG", "staging": "STAGING-EU"}
SANDBOX_CREDENTIALS = {"username": "sync-bot@example.com", "token": "sandbox-token"}
SANDBOX_JENKINS_CREDENTIALS = {"username": "ci-bot", "token": "sandbox-jenkins-token"}
SANDBOX_GITHUB_CREDENTIALS = {"token": "sandbox-github-token"}
SANDBOX_GITLAB_CREDENTIALS = {"token": "sandbox-gitlab-token"}
