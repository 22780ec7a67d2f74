"""Run the Jira sandbox until interrupted (dev.py starts it this way):

.venv/bin/python -m integrations.sandbox --port 8765 --issues 5000 --projects PAY,WEB
"""

import argparse
import signal

from integrations.sandbox.dataset import JiraDataset
from integrations.sandbox.jira import JiraRoutes
from integrations.sandbox.server import SandboxServer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--issues", type=int, default=2000, help="generated issues (up to 100,000)")
    parser.add_argument("--projects", default="PAY", help="comma-separated Jira project keys")
    parser.add_argument("--time-zone", default="Europe/Berlin", help="the API user's time zone")
    options = parser.parse_args()
    dataset = JiraDataset(
        issues=options.issues, projects=tuple(options.projects.split(",")), time_zone=options.time_zone
    )
    server = SandboxServer(JiraRoutes(dataset), host=options.host, port=options.port).start()
    print(f"Jira sandbox (Cloud /rest/api/3, Data Center /rest/api/2) on {server.url}", flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    server.stop()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
