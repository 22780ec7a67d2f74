"""A PostgreSQL server of bench/load.py's own, in its temporary folder: stopping it is the database
outage (the machine's shared server is never touched).

It is made with the machine's initdb and pg_ctl (Debian's postgresql package; as the postgres user when
the bench runs as root, since PostgreSQL refuses to run as root), listens on 127.0.0.1 only, with trust
authentication for the local user, and keeps the server's defaults otherwise: fsync and full writes on,
as in production.
"""

import os
import shutil
import subprocess
from pathlib import Path


def bin_dir() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps them off the PATH)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise SystemExit("bench/load.py needs PostgreSQL's initdb and pg_ctl (Debian's postgresql package)")
    return versions[-1].parent


class PostgresServer:
    """initdb on first start(); stop() is a fast shutdown (every session is ended, as in a restart)."""

    def __init__(self, folder: Path, port: int, nice: int = 0):
        self.data = folder / "postgres"
        self.log = folder / "postgres.log"
        self.port = port
        self.bin = bin_dir()
        self.prefix = ["nice", "-n", str(nice)] if nice else []
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.user = "postgres" if self.as_postgres else os.environ.get("USER", "postgres")

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/flightdeck_load"

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories=''"
        self._pg_ctl("start", "--wait", "--timeout", "60", "--log", str(self.log), "--options", options)

    def stop(self) -> None:
        self._pg_ctl("stop", "--wait", "--mode", "fast", "--timeout", "60")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def _initdb(self) -> None:
        self.data.mkdir(mode=0o700)
        self.log.touch()
        if self.as_postgres:  # the server's own files are the postgres user's; the folder lets it through
            self.data.parent.chmod(0o711)
            for path in (self.data, self.log):
                shutil.chown(path, user="postgres")
        self._run(self.bin / "initdb", "--pgdata", str(self.data), "--auth", "trust", "--encoding", "UTF8")

    def _pg_ctl(self, *args: str) -> None:
        self._run(self.bin / "pg_ctl", "--pgdata", str(self.data), *args)

    def _run(self, *command) -> None:
        result = subprocess.run(
            [*self.prefix, *self.as_postgres, *map(str, command)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if result.returncode:
            raise RuntimeError(f"{Path(command[0]).name} failed: {(result.stderr or result.stdout)[-600:]}")
