"""``book-assets doctor --deploy team``: is this machine's team deployment (deploy/team/dagster.yaml) healthy?

Each check names one thing an operator can fix — the instance file, the database (reachable, and its
schema at the version this Dagster expects), the daemon's heartbeats, the bucket (a probe object
written, read, listed and removed under the work prefix) and the book's fonts — so a failing doctor
says what to fix, not just that something is wrong. Secrets never appear in its output.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

POSTGRES_URL_ENV_VAR = "DAGSTER_POSTGRES_URL"
DRIVER = "postgresql+psycopg2"
# The daemon writes a heartbeat every 30 s; three missed ones mean it is not running (Dagster's own
# liveness check allows 30 minutes, too slow to catch a daemon that died this morning).
HEARTBEAT_TOLERANCE_SECONDS = 120


@dataclass(frozen=True)
class Finding:
    item: str
    ok: bool
    detail: str


def check_instance_file(home: str | None) -> Finding:
    """$DAGSTER_HOME/dagster.yaml is the team file: PostgreSQL storage read from the environment."""
    item = "instance file"
    if not home:
        return Finding(item, False, "DAGSTER_HOME is not set: copy deploy/team/dagster.yaml into it")
    path = Path(home) / "dagster.yaml"
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as problem:
        return Finding(item, False, f"{path}: {problem}")
    storage = (config.get("storage") or {}).get("postgres")
    if storage != {"postgres_url": {"env": POSTGRES_URL_ENV_VAR}}:
        return Finding(item, False, f"{path} does not read PostgreSQL from ${POSTGRES_URL_ENV_VAR}: "
                                    "copy deploy/team/dagster.yaml over it")
    return Finding(item, True, str(path))


def _schema_head() -> str:
    """The schema revision this Dagster expects: the head of the migrations dagster-postgres ships."""
    import dagster_postgres
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(str(Path(dagster_postgres.__file__).parent / "alembic" / "alembic.ini"))
    return ScriptDirectory.from_config(config).get_current_head()


def check_database(url: str | None) -> list[Finding]:
    """Reachable (the psycopg2 driver named, a connection, ``select 1``) and migrated (alembic head)."""
    import sqlalchemy as sa
    from alembic.runtime.migration import MigrationContext

    reachable, migrated = "database reachable", "database migrated"
    if not url:
        return [Finding(reachable, False, f"{POSTGRES_URL_ENV_VAR} is not set"),
                Finding(migrated, False, "not checked: no database")]
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return [Finding(reachable, False, f"{POSTGRES_URL_ENV_VAR} is not a database URL"),
                Finding(migrated, False, "not checked: no database")]
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername != DRIVER:
        return [Finding(reachable, False, f"{shown}: the URL must start with {DRIVER}:// (a bare postgresql:// "
                                          "selects psycopg 3, which dagster-postgres does not use)"),
                Finding(migrated, False, "not checked: no database")]
    engine = sa.create_engine(parsed, connect_args={"connect_timeout": 5}, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
            current = MigrationContext.configure(conn).get_current_revision()
    except sa.exc.SQLAlchemyError as problem:
        reason = str(getattr(problem, "orig", None) or problem).strip().splitlines()[0]
        return [Finding(reachable, False, f"{shown}: {reason}"), Finding(migrated, False, "not checked: no database")]
    finally:
        engine.dispose()
    head = _schema_head()
    if current is None:
        schema = Finding(migrated, False, "no Dagster tables yet: start the daemon once, or run `dagster instance migrate`")
    elif current != head:
        schema = Finding(migrated, False, f"schema at {current}, this Dagster needs {head}: "
                                          "run `dagster instance migrate`")
    else:
        schema = Finding(migrated, True, f"schema at {head}")
    return [Finding(reachable, True, shown), schema]


def check_daemon(tolerance_seconds: int = HEARTBEAT_TOLERANCE_SECONDS) -> Finding:
    """Every daemon the instance needs has a heartbeat younger than the tolerance (``dagster-daemon liveness-check``)."""
    item = "daemon heartbeats"
    command = Path(sys.executable).parent / "dagster-daemon"
    try:
        done = subprocess.run([str(command), "liveness-check"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "DAGSTER_DAEMON_HEARTBEAT_TOLERANCE": str(tolerance_seconds)})
    except (OSError, subprocess.TimeoutExpired) as problem:
        return Finding(item, False, f"dagster-daemon liveness-check did not answer: {problem}")
    if done.returncode != 0:
        return Finding(item, False, f"no heartbeat from a daemon in the last {tolerance_seconds} s: is "
                                    "`dagster-daemon run` running against this database?")
    return Finding(item, True, f"every daemon beat within {tolerance_seconds} s")


def check_bucket(bucket) -> Finding:
    """Write, read, list and delete a probe object under the work prefix (never under books/)."""
    item = "bucket read/write"
    key = bucket.work_key("doctor", f"probe-{uuid.uuid4().hex}.txt")
    data = b"book-assets doctor probe\n"
    try:
        bucket.write_bytes(key, data)
        try:
            if bucket.read_bytes(key) != data:
                return Finding(item, False, f"{bucket.url(key)} read back different bytes")
            if key not in {o.key for o in bucket.list_objects(key, with_hash=False)}:
                return Finding(item, False, f"{bucket.url(key)} was written but is not listed")
        finally:
            bucket.delete(key)
        if bucket.exists(key):
            return Finding(item, False, f"{bucket.url(key)} could not be deleted")
    except Exception as problem:      # any failure is the finding, named with its type
        return Finding(item, False, f"{bucket.url(key)}: {type(problem).__name__}: {problem}".splitlines()[0])
    return Finding(item, True, f"wrote, read, listed and deleted {bucket.url(key)}")


def check_fonts() -> Finding:
    """Every font file the PDF embeds is installed; the message names the Debian packages to install."""
    from .core.fonts import EMBEDDED_FONTS, FontMissing, font_path

    missing = []
    for name in EMBEDDED_FONTS:
        try:
            font_path(name)
        except FontMissing as problem:
            missing.append(str(problem))
    if missing:
        install = sorted({message.rsplit("apt-get install -y ", 1)[-1] for message in missing})
        return Finding("fonts", False, f"{len(missing)} of {len(EMBEDDED_FONTS)} font files missing "
                                       f"({missing[0]}): apt-get install -y {' '.join(install)}")
    return Finding("fonts", True, f"{len(EMBEDDED_FONTS)} font files")


def team_findings(bucket_setting: str | None = None) -> list[Finding]:
    """Every check of a team deployment, in the order an operator fixes them."""
    from .defs.resources import bucket_from_setting

    findings = [check_instance_file(os.environ.get("DAGSTER_HOME"))]
    findings += check_database(os.environ.get(POSTGRES_URL_ENV_VAR))
    if findings[1].ok:      # reachable: an older schema still holds the heartbeats
        findings.append(check_daemon())
    else:
        findings.append(Finding("daemon heartbeats", False, "not checked: the database is unreachable"))
    try:
        bucket = bucket_from_setting(bucket_setting)
    except ValueError as problem:
        findings.append(Finding("bucket read/write", False, str(problem)))
    else:
        findings.append(check_bucket(bucket))
    findings.append(check_fonts())
    return findings
