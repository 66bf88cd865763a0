"""``book-assets doctor [--deploy team]``: is this machine's deployment healthy?

Each check names one thing an operator can fix — the instance file, the database (reachable, and its
schema at the version this Dagster expects), the daemon's heartbeats, the bucket (a probe object
written, read, listed and removed under the work prefix) and the book's fonts — so a failing doctor
says what to fix, not just that something is wrong. Secrets never appear in its output. The local
tier (``local_findings``) checks DAGSTER_HOME (writable), the instance storage, the bucket
(reachable, writable, readable) and the fonts.
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
# A bucket that does not answer fails "bucket reachable" after this many seconds of retries (a build
# waits up to GCSBucket.retry_deadline_seconds, 40 s, per call; a monitor wants its answer sooner).
DOCTOR_RETRY_DEADLINE_SECONDS = 10.0


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


def probe_bucket(bucket) -> list[Finding]:
    """Bucket reachable (it exists and answers), writable (a probe object under the work prefix, never
    under books/, written and deleted) and readable (the probe read back and listed)."""
    key = bucket.work_key("doctor", f"probe-{uuid.uuid4().hex}.txt")
    data = b"book-assets doctor probe\n"
    reachable, writable, readable = "bucket reachable", "bucket writable", "bucket readable"
    where = bucket.url("books").removesuffix("/books")      # the bucket itself, as a person finds it
    try:
        bucket.check_reachable()
    except Exception as problem:      # any failure is the finding, named with its type
        return [Finding(reachable, False, _one_line(where, problem)),
                Finding(writable, False, "not checked: the bucket is unreachable"),
                Finding(readable, False, "not checked: the bucket is unreachable")]
    found = [Finding(reachable, True, where)]
    try:
        bucket.write_bytes(key, data)
    except Exception as problem:
        return [*found, Finding(writable, False, _one_line(bucket.url(key), problem)),
                Finding(readable, False, "not checked: the probe could not be written")]
    try:
        if bucket.read_bytes(key) != data:
            read = Finding(readable, False, f"{bucket.url(key)} read back different bytes")
        elif key not in {o.key for o in bucket.list_objects(key, with_hash=False)}:
            read = Finding(readable, False, f"{bucket.url(key)} was written but is not listed")
        else:
            read = Finding(readable, True, f"read and listed {bucket.url(key)}")
    except Exception as problem:
        read = Finding(readable, False, _one_line(bucket.url(key), problem))
    try:
        bucket.delete(key)
        wrote = (Finding(writable, False, f"{bucket.url(key)} could not be deleted") if bucket.exists(key) else
                 Finding(writable, True, f"wrote and deleted {bucket.url(key)}"))
    except Exception as problem:
        wrote = Finding(writable, False, _one_line(bucket.url(key), problem))
    return [*found, wrote, read]


def check_bucket(bucket) -> Finding:
    """The probe of ``probe_bucket`` as one line (the team doctor's "bucket read/write")."""
    failed = [f for f in probe_bucket(bucket) if not f.ok]
    if failed:
        return Finding("bucket read/write", False, failed[0].detail)
    folder = bucket.url(bucket.work_key("doctor"))
    return Finding("bucket read/write", True, f"wrote, read, listed and deleted a probe under {folder}/")


def _one_line(where: str, problem: BaseException) -> str:
    return f"{where}: {type(problem).__name__}: {problem}".splitlines()[0]


def check_dagster_home(home: Path) -> Finding:
    """DAGSTER_HOME exists (or can be made) and takes a file: runs, logs and the instance live there."""
    item = "DAGSTER_HOME writable"
    probe = home / f".doctor-probe-{uuid.uuid4().hex}"
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"probe")
        probe.unlink()
    except OSError as problem:
        return Finding(item, False, _one_line(str(home), problem))
    return Finding(item, True, str(home))


def check_instance_storage() -> Finding:
    """The instance in $DAGSTER_HOME opens and its run storage answers a query."""
    import dagster as dg

    item = "instance storage"
    try:
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs_count()
            kind = type(instance.run_storage).__name__
    except Exception as problem:      # a bad dagster.yaml, an unreachable database, a broken file
        return Finding(item, False, _one_line(os.environ.get("DAGSTER_HOME", "$DAGSTER_HOME"), problem))
    return Finding(item, True, f"{kind}, {runs} runs")


def local_findings(bucket_setting: str | None, home: Path) -> list[Finding]:
    """Every check of the local tier, in the order an operator fixes them."""
    from .defs.resources import bucket_from_setting

    findings = [check_dagster_home(home)]
    findings.append(check_instance_storage() if findings[0].ok else
                    Finding("instance storage", False, "not checked: DAGSTER_HOME is not writable"))
    try:
        bucket = bucket_from_setting(bucket_setting, retry_deadline_seconds=DOCTOR_RETRY_DEADLINE_SECONDS)
    except ValueError as problem:
        findings += [Finding(item, False, str(problem)) for item in
                     ("bucket reachable", "bucket writable", "bucket readable")]
    else:
        findings += probe_bucket(bucket)
    findings.append(check_fonts())
    return findings


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
        bucket = bucket_from_setting(bucket_setting, retry_deadline_seconds=DOCTOR_RETRY_DEADLINE_SECONDS)
    except ValueError as problem:
        findings.append(Finding("bucket read/write", False, str(problem)))
    else:
        findings.append(check_bucket(bucket))
    findings.append(check_fonts())
    return findings
