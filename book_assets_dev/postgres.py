"""A throwaway PostgreSQL cluster on 127.0.0.1 for the team tier's tests (``initdb``, ``pg_ctl``).

The server is real (the machine's PostgreSQL binaries: on PATH, or Debian's under
/usr/lib/postgresql/<version>/bin) and lives in a temporary folder that is removed when it stops.
PostgreSQL refuses to run as root, so under root (as in CI) the cluster belongs to the ``postgres``
account that Debian's package creates. It listens on loopback only, on a free port, with a
password (scram-sha-256), so the URL the tests use has the same shape a team's has.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .gcs_emulator import free_port

USER = "dagster"
DEBIAN_BIN = Path("/usr/lib/postgresql")
SERVICE_ACCOUNT = "postgres"     # Debian's postgresql package creates it


def postgres_bin_dir() -> Path:
    """The folder with initdb and pg_ctl: PATH's, else the newest Debian version's."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(DEBIAN_BIN.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if not versions:
        raise FileNotFoundError("PostgreSQL's initdb is not installed: apt-get install -y postgresql")
    return versions[-1].parent


@dataclass
class Postgres:
    """A running cluster: ``url(db)`` is a SQLAlchemy URL with the psycopg2 driver named."""

    port: int
    password: str
    data_dir: Path
    bin_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """``createdb NAME`` over TCP; returns the database's URL."""
        subprocess.run([str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name],
                       env={**os.environ, "PGPASSWORD": self.password}, check=True, capture_output=True, timeout=60)
        return self.url(name)


def _as_owner(command: list[str], owner: pwd.struct_passwd | None) -> list[str]:
    return ["runuser", "-u", owner.pw_name, "--", *command] if owner else command


@contextlib.contextmanager
def running_postgres(*, start_timeout: float = 60) -> Iterator[Postgres]:
    """Start a fresh cluster, yield it, then stop it (fast shutdown) and remove its folder."""
    bin_dir = postgres_bin_dir()
    owner = pwd.getpwnam(SERVICE_ACCOUNT) if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="book_assets-pg-"))
    data = base / "data"
    password = secrets.token_urlsafe(16)
    (base / "pwfile").write_text(password + "\n")
    if owner:
        os.chown(base, owner.pw_uid, owner.pw_gid)
        os.chown(base / "pwfile", owner.pw_uid, owner.pw_gid)
    started = False
    try:
        subprocess.run(_as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(base / "pwfile"),
                                  "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync"], owner),
                       check=True, capture_output=True, timeout=start_timeout)
        for attempt in range(3):        # a free port can be taken between the probe and the start
            port = free_port()
            options = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c full_page_writes=off"
            done = subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "start", "-D", str(data), "-w",
                                             "-t", str(int(start_timeout)), "-l", str(base / "server.log"),
                                             "-o", options], owner), capture_output=True, text=True)
            if done.returncode == 0:
                started = True
                break
            time.sleep(0.2)
        if not started:
            log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr}\n{log}")
        yield Postgres(port=port, password=password, data_dir=data, bin_dir=bin_dir)
    finally:
        if started:
            subprocess.run(_as_owner([str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"], owner),
                           capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
