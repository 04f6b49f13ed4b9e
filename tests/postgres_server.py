"""A throwaway PostgreSQL server for the tests (tests/test_postgres.py).

``DSE_TEST_POSTGRES_URL`` (set by ``.ci/postgres.sh``) names a running server; otherwise
:func:`start` makes one with the installed binaries (``initdb``, ``pg_ctl``: on the PATH or in
Debian's ``/usr/lib/postgresql/<version>/bin``) in a temporary folder, listening on 127.0.0.1 on
a free port, with password authentication (so the tests see a URL with a password, as a user's
is). PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENV_URL = "DSE_TEST_POSTGRES_URL"


class Unavailable(Exception):
    """No server can be had here; the message is the one-line skip reason."""


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    return versions[-1].parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A server started by :func:`start` (``url`` holds its password)."""

    url: str
    data: Path
    bin_dir: Path
    user: str | None

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "stop", "-D", str(self.data / "db"), "-m", "fast", "-w")
        shutil.rmtree(self.data, ignore_errors=True)


def start() -> Server:
    """Initialise and start a server; :class:`Unavailable` if it cannot be had here."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise Unavailable(f"no PostgreSQL server binaries (initdb, pg_ctl) and no {ENV_URL} "
                          "(Debian: apt-get install postgresql; or source .ci/postgres.sh)")
    user = None
    if os.geteuid() == 0:   # the server refuses to run as root
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no 'postgres' user to run the "
                              "PostgreSQL server as") from None
        if shutil.which("runuser") is None:
            raise Unavailable("running as root and runuser is missing (util-linux)")
        user = entry.pw_name
    data = Path(tempfile.mkdtemp(prefix="dse-pg-"))
    password = secrets.token_hex(8)
    (data / "pw").write_text(password + "\n")
    if user:
        for p in (data, data / "pw"):
            os.chown(p, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    server = Server("", data, bin_dir, user)
    try:
        init = server._run("initdb", "-D", str(data / "db"), "-U", "dse", "--pwfile",
                           str(data / "pw"), "-A", "scram-sha-256", "-E", "UTF8", "--no-sync",
                           "--locale", "C")
        if init.returncode:
            raise Unavailable(f"initdb failed: {_last_line(init)}")
        # test-only settings: no fsync (the tests kill workers, never the server)
        opts = (f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=50")
        up = server._run("pg_ctl", "start", "-D", str(data / "db"), "-w", "-t", "60",
                         "-l", str(data / "server.log"), "-o", opts)
        if up.returncode:
            log = (data / "server.log").read_text() if (data / "server.log").exists() else ""
            raise Unavailable(f"the PostgreSQL server did not start: {_last_line(up)} "
                              f"{log.strip().splitlines()[-1:] or ''}")
        server.url = f"postgresql://dse:{password}@127.0.0.1:{port}/postgres"
        create_database(server.url, "dse_test")
        server.url = server.url.rsplit("/", 1)[0] + "/dse_test"
        return server
    except BaseException:
        server.stop()
        raise


def create_database(url: str, name: str) -> None:
    """``CREATE DATABASE name`` on the server of ``url`` (psycopg 3)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _last_line(proc: subprocess.CompletedProcess) -> str:
    lines = (proc.stderr or proc.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit {proc.returncode}"
