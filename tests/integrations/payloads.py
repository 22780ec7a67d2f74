"""The recorded tool payloads in ../shared/payloads, and PyGithub's replay-file format."""

import ast
import json
from dataclasses import dataclass
from pathlib import Path

PAYLOADS = Path(__file__).resolve().parents[3] / "shared" / "payloads"


def payload_files(tool: str) -> list[Path]:
    return sorted(p for p in (PAYLOADS / tool).iterdir() if p.is_file())


def load_json(tool: str, name: str):
    return json.loads((PAYLOADS / tool / name).read_text())


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    request_headers: dict
    status: int
    headers: dict  # names lower-cased
    body: str


def replay_exchanges(path: Path) -> list[Exchange]:
    """PyGithub ReplayData: 11 lines per exchange (see ../shared/payloads/README.md)."""
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
