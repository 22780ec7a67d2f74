"""The tool sandbox: local HTTP servers that answer like the teams' tools, for development only.

Nothing in the product imports this package. Tests, benchmarks and `dev.py run` start it on loopback
so a sync really goes over HTTP against answers shaped as the tools' documented APIs, with a generated
dataset of any size and injected faults. It uses only the standard library (no Django), so it runs
as its own process too:

    .venv/bin/python -m integrations.sandbox --port 8765 --issues 5000

Layout: dataset.py (the generated Jira data and its mutations), jql.py (the strict JQL parser),
jira.py (the Jira Cloud and Data Center routes, evaluating the parsed JQL), jenkins.py (jobs,
builds and test reports), github.py (pull requests, releases and deployments), plan.py (the demo's
plan: the Jira versions and issues, Jenkins builds and GitHub deployments of the seeded releases,
read from `--plan FILE`), server.py (the HTTP server, fault injection and the request log),
proof.py (the per-run secret and the challenge that proves a server knows it), __main__.py (all
three tools in one process).
"""
