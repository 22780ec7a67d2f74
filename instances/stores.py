"""Where an instance keeps its state outside its folder: a PostgreSQL database and role, and Redis keys.

Each function does one thing to one server and says in words what went wrong. Nothing here knows
about instance folders; instances.core decides what to create and what to undo.
"""

import os
import sqlite3
import subprocess
import urllib.parse
from contextlib import closing
from pathlib import Path

import psycopg
from psycopg import sql


class StoreError(Exception):
    """A server refused or could not be reached; the message says which and why."""


# --- PostgreSQL -----------------------------------------------------------------------------------


def _conninfo(url: str) -> str:
    """psycopg and libpq read postgresql://; dj-database-url's postgres:// is the same thing."""
    return "postgresql://" + url.split("://", 1)[1] if url.startswith("postgres://") else url


def server_connect(server_url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(_conninfo(server_url), autocommit=True, connect_timeout=10)
    except psycopg.Error as error:
        raise StoreError(
            f"Cannot connect to the PostgreSQL server {without_password(server_url)}: {first_line(error)}"
        ) from None


def pg_exists(server_url: str, database: str, role: str) -> list[str]:
    """Which of the database and the role already exist on the server."""
    with server_connect(server_url) as db:
        found = []
        if db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            found.append(f"database {database}")
        if db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
            found.append(f"role {role}")
        return found


def pg_create(server_url: str, database: str, role: str, password: str) -> None:
    """A login role and a database it owns (and nothing else on the server)."""
    with server_connect(server_url) as db:
        try:
            db.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        except psycopg.Error as error:
            raise StoreError(f"Cannot create the role {role}: {first_line(error)}") from None
        try:
            db.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role))
            )
            db.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
        except psycopg.Error as error:
            raise StoreError(f"Cannot create the database {database}: {first_line(error)}") from None


def pg_drop_database(server_url: str, database: str) -> None:
    """Drop the database, disconnecting whoever is still connected (web nodes, workers)."""
    with server_connect(server_url) as db:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


def pg_drop_role(server_url: str, role: str) -> None:
    with server_connect(server_url) as db:
        db.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def pg_recreate_database(server_url: str, database: str, role: str) -> None:
    """An empty database of the same name and owner, in place of the one there."""
    pg_drop_database(server_url, database)
    with server_connect(server_url) as db:
        db.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role))
        )
        db.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))


def pg_dump(database_url: str, target: Path) -> None:
    """pg_dump's custom format (compressed, restorable into a database of any name and owner)."""
    _run(
        [
            "pg_dump",
            "--format=custom",
            "--no-owner",
            "--no-acl",
            "--file",
            str(target),
            "--dbname",
            _conninfo(database_url),
        ],
        "pg_dump",
    )


def pg_restore(database_url: str, dump: Path) -> None:
    """Load a custom-format dump into an empty database as the database URL's role (who owns all)."""
    _run(
        [
            "pg_restore",
            "--no-owner",
            "--no-acl",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            _conninfo(database_url),
            str(dump),
        ],
        "pg_restore",
    )


def _run(command: list[str], what: str) -> None:
    # The URL (with the role's password) is an argument: pass it by environment instead where ps sees it.
    url = command[command.index("--dbname") + 1] if "--dbname" in command else None
    env = dict(os.environ)
    if url:
        libpq = _libpq_env(url)
        command[command.index(url)] = libpq["PGDATABASE"]
        env |= libpq
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=3600)
    except FileNotFoundError:
        raise StoreError(f"{what} is not installed (the PostgreSQL client tools are needed).") from None
    if result.returncode != 0:
        raise StoreError(f"{what} failed: {result.stderr.strip()[-800:]}")


def _libpq_env(url: str) -> dict[str, str]:
    parts = urllib.parse.urlsplit(url)
    env = {
        "PGHOST": parts.hostname or "",
        "PGPORT": str(parts.port or 5432),
        "PGDATABASE": urllib.parse.unquote(parts.path.lstrip("/")),
    }
    if parts.username:
        env["PGUSER"] = urllib.parse.unquote(parts.username)
    if parts.password:
        env["PGPASSWORD"] = urllib.parse.unquote(parts.password)
    return {k: v for k, v in env.items() if v}


def database_url(server_url: str, database: str, role: str, password: str) -> str:
    """The instance's own URL: the server's host and port, its role and database."""
    parts = urllib.parse.urlsplit(server_url)
    host = parts.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{role}:{urllib.parse.quote(password, safe='')}@{host}:{parts.port or 5432}"
    return urllib.parse.urlunsplit(("postgres", netloc, f"/{database}", parts.query, ""))


def without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{netloc}" if user else netloc))


# --- SQLite ---------------------------------------------------------------------------------------


def sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API: WAL and all)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


# --- Redis ----------------------------------------------------------------------------------------


def redis_keys(redis_url: str, prefix: str) -> list[str]:
    """The keys under an instance's prefix (its queues, bindings, unacknowledged messages)."""
    client = _redis(redis_url)
    try:
        return sorted(k.decode() for k in client.scan_iter(match=_glob(prefix), count=1000))
    finally:
        client.close()


def redis_delete(redis_url: str, prefix: str) -> int:
    client = _redis(redis_url)
    try:
        keys = list(client.scan_iter(match=_glob(prefix), count=1000))
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


def _redis(url: str):
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=10)
        client.ping()
    except redis.RedisError as error:
        raise StoreError(f"Cannot reach Redis at {without_password(url)}: {first_line(error)}") from None
    return client


def _glob(prefix: str) -> str:
    """A SCAN pattern matching exactly the keys that start with `prefix` (glob characters escaped)."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix) + "*"


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
