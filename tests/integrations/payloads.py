"""The tool payloads the parser tests read (tests/fixtures/payloads), and PyGithub's replay-file format.

The fixtures are written for Flightdeck in the tools' answer shapes, with made-up values; see
tests/fixtures/payloads/README.md.
"""

import ast
import json
from dataclasses import dataclass
from pathlib import Path

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"


def payload_files(tool: str, root: Path = PAYLOADS) -> list[Path]:
    return sorted(p for p in (root / tool).iterdir() if p.is_file())


def load_json(tool: str, name: str, root: Path = PAYLOADS):
    return json.loads((root / tool / name).read_text())


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    request_headers: dict
    status: int
    headers: dict  # names lower-cased
    body: str


def replay_exchanges(path: Path) -> list[Exchange]:
    """PyGithub's ReplayData: one HTTP exchange in 10 lines (protocol, method, host, port, path and
    query, request headers as a Python dict, request body, status, response headers as a Python
    list of pairs, response body), then a blank line before the next."""
    lines = path.read_text().split("\n")
    exchanges = []
    for start in range(0, len(lines) - 9, 11):
        _protocol, method, _host, _port, target, req_headers, _req_body, status, headers, body = lines[
            start : start + 10
        ]
        exchanges.append(
            Exchange(
                method=method,
                path=target,
                request_headers=ast.literal_eval(req_headers),
                status=int(status),
                headers={name.lower(): value for name, value in ast.literal_eval(headers)},
                body=body,
            )
        )
    return exchanges
