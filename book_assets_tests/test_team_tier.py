"""The team tier (deploy/team/dagster.yaml) on a real PostgreSQL that the tests start themselves:
runs, events and per-book check results land in the database; two machines share one book through
the database and the bucket; and the queue never runs two builds of one book at once."""
from __future__ import annotations

import io
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from book_assets import cli
from book_assets.defs.resources import LocalBucket
from book_assets_dev.gcs_emulator import free_port

from .conftest import TEAM_YAML, dagster_dev, new_team_home, submit_book_run, wait_for_run
from .support import published, run_steps_elsewhere, upload

pytestmark = pytest.mark.integration

FIVE = ["raw_images", "validated_images", "image_pairs", "page_layouts", "book"]


def _rows(url: str, query: str, **params) -> list[sa.Row]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query), params))
    finally:
        engine.dispose()


def _scalars(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _scalars(value)
    elif isinstance(node, list):
        for value in node:
            yield from _scalars(value)
    else:
        yield node


def test_the_team_file_reads_the_database_from_the_environment_and_allows_one_run_per_book():
    config = yaml.safe_load(TEAM_YAML.read_text())
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_POSTGRES_URL"}}}
    assert not [value for value in _scalars(config) if isinstance(value, str) and "://" in value]   # no URL, no secret
    assert "run_queue" not in config and "run_coordinator" not in config   # the 1.13 concurrency block only
    assert config["concurrency"]["runs"]["tag_concurrency_limits"] == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]


def test_a_book_built_on_the_team_instance_is_recorded_in_postgresql(team_home, bucket, small_book_files):
    upload(bucket, "team-book", small_book_files)
    out = io.StringIO()
    assert cli.build("team-book", bucket.root, out=out) == 0, out.getvalue()
    url = team_home.postgres_url

    [(run_id, status, job)] = _rows(url, "select run_id, status, pipeline_name from runs")
    assert (status, job) == ("SUCCESS", "build_book")
    assert _rows(url, "select value from run_tags where run_id = :r and key = 'dagster/partition'",
                 r=run_id) == [("team-book",)]
    materialized = _rows(url, "select asset_key, partition from event_logs where run_id = :r and "
                              "dagster_event_type = 'ASSET_MATERIALIZATION' order by id", r=run_id)
    assert [(key, partition) for key, partition in materialized] == [(f'["{a}"]', "team-book") for a in FIVE]
    checks = _rows(url, "select check_name, partition, execution_status from asset_check_executions "
                        "where run_id = :r", r=run_id)
    assert {"every_object_listed", "text_fits", "pdf_preflight"} <= {name for name, _, _ in checks}
    assert {(partition, state) for _, partition, state in checks} == {("team-book", "SUCCEEDED")}
    assert not list(team_home.home.rglob("*.db")), "nothing of the instance may be kept in SQLite"


def test_two_machines_with_one_database_and_bucket_run_different_steps_of_one_book(
        team_home, tmp_path, bucket, small_book_files):
    upload(bucket, "shared-book", small_book_files)
    machine_a = team_home.on_another_machine(tmp_path / "machine_a" / "home")
    machine_b = team_home.on_another_machine(tmp_path / "machine_b" / "home")

    first = run_steps_elsewhere(bucket.root, "shared-book", FIVE[:3], env=machine_a.env, cwd=machine_a.home.parent)
    second = run_steps_elsewhere(bucket.root, "shared-book", FIVE[3:], env=machine_b.env, cwd=machine_b.home.parent)
    assert "steps image_pairs raw_images validated_images\n" in first, first
    assert "steps book page_layouts\n" in second and "published True" in second, second
    assert bucket.exists(published(bucket, "shared-book", "book.pdf"))

    run_a, run_b = (out.split("run ", 1)[1].split()[0] for out in (first, second))
    with dg.DagsterInstance.get() as instance:       # a third machine sees both runs in the shared database
        latest = {name: instance.get_latest_materialization_event(dg.AssetKey(name)).run_id for name in FIVE}
        assert latest == {**dict.fromkeys(FIVE[:3], run_a), **dict.fromkeys(FIVE[3:], run_b)}
        records = instance.get_run_records(dg.RunsFilter(run_ids=[run_a, run_b]))
        assert [r.dagster_run.status for r in records] == [dg.DagsterRunStatus.SUCCESS] * 2


@pytest.fixture(scope="module")
def team_server(postgres, tmp_path_factory, small_book_files):
    """`dagster dev` (webserver and daemon) on the team instance: a fresh database, a local bucket."""
    base = tmp_path_factory.mktemp("team_server")
    team = new_team_home(postgres, base / "home")
    bucket = LocalBucket(root=str(base / "bucket"))
    for book_id in ("queue-a", "queue-b"):
        upload(bucket, book_id, small_book_files)
    with dagster_dev(team.home, {**team.env, "BOOK_BUCKET": bucket.root}) as url:
        yield url, team, bucket


def test_the_queue_runs_one_build_of_a_book_at_a_time_and_other_books_beside_it(team_server, monkeypatch):
    url, team, bucket = team_server
    first = submit_book_run(url, "queue-a", "build_book")
    again = submit_book_run(url, "queue-a", "build_book")       # the same book, while the first is in flight
    other = submit_book_run(url, "queue-b", "build_book")
    assert [wait_for_run(url, run_id, timeout=300) for run_id in (first, again, other)] == ["SUCCESS"] * 3

    for name, value in team.env.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.get() as instance:
        runs = {r.dagster_run.run_id: r for r in instance.get_run_records(dg.RunsFilter(run_ids=[first, again, other]))}
    # The second build of queue-a waited in the queue until the first had ended ...
    assert runs[again].start_time >= runs[first].end_time, (runs[first], runs[again])
    # ... while queue-b, submitted after it, did not wait for either: the limit is per book, not global.
    assert runs[other].start_time < runs[first].end_time
    assert runs[other].start_time < runs[again].start_time
    assert bucket.exists(published(bucket, "queue-a", "book.pdf")) and bucket.exists(published(bucket, "queue-b", "book.pdf"))


def _doctor(env: dict[str, str], monkeypatch, capsys) -> tuple[int, list[str], str]:
    """`book-assets doctor --deploy team` in this process with ``env``: exit code, failing items, output."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = cli.main(["doctor", "--deploy", "team"])
    out = capsys.readouterr().out
    summary = [line for line in out.splitlines() if " checks failed: " in line]
    failing = summary[0].split(" checks failed: ")[1].split(", ") if summary else []
    assert len(failing) == sum(line.startswith("FAIL  ") for line in out.splitlines()), out
    return code, failing, out


def _server_env(team_server) -> dict[str, str]:
    _, team, bucket = team_server
    return {**team.env, "BOOK_BUCKET": bucket.root}


def test_doctor_passes_on_a_healthy_team_deployment_and_leaves_no_probe(team_server, monkeypatch, capsys):
    code, failing, out = _doctor(_server_env(team_server), monkeypatch, capsys)
    assert (code, failing) == (0, []), out
    assert sum(line.startswith("ok  ") for line in out.splitlines()) == 6 and "All 6 checks passed." in out
    assert "postgresql+psycopg2://dagster:***@127.0.0.1" in out and team_server[1].postgres_url.split(":")[2] not in out
    assert not team_server[2].list_objects("_book_assets/doctor/")


def test_doctor_names_an_unreachable_database_and_a_missing_driver(team_server, postgres, monkeypatch, capsys):
    closed = postgres.url("nowhere").replace(f":{postgres.port}/", f":{free_port()}/")
    code, failing, out = _doctor({**_server_env(team_server), "DAGSTER_POSTGRES_URL": closed}, monkeypatch, capsys)
    assert code == 1 and failing == ["database reachable", "database migrated", "daemon heartbeats"], out
    assert "Connection refused" in out or "could not connect" in out, out

    bare = team_server[1].postgres_url.replace("postgresql+psycopg2://", "postgresql://")
    code, failing, out = _doctor({**_server_env(team_server), "DAGSTER_POSTGRES_URL": bare}, monkeypatch, capsys)
    assert code == 1 and failing[0] == "database reachable" and "must start with postgresql+psycopg2://" in out


def test_doctor_names_a_database_left_at_an_older_schema(team_server, monkeypatch, capsys):
    from book_assets.deploy_checks import _schema_head

    url = team_server[1].postgres_url
    [(head,)] = _rows(url, "select version_num from alembic_version")
    assert head == _schema_head()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("update alembic_version set version_num = 'f495c27d5019'"))
        code, failing, out = _doctor(_server_env(team_server), monkeypatch, capsys)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("update alembic_version set version_num = :head"), {"head": head})
        engine.dispose()
    assert code == 1 and failing == ["database migrated"], out
    assert "schema at f495c27d5019" in out and "dagster instance migrate" in out


def test_doctor_names_a_database_no_daemon_beats_for(team_home, bucket, monkeypatch, capsys):
    with dg.DagsterInstance.get():      # the webserver created the tables, but no daemon was ever started
        pass
    Path(bucket.root).mkdir()           # a bucket folder that does not exist is a failure of its own
    code, failing, out = _doctor({"BOOK_BUCKET": bucket.root}, monkeypatch, capsys)
    assert code == 1 and failing == ["daemon heartbeats"], out


def test_doctor_names_a_bucket_it_cannot_write(team_server, gcs_emulator, monkeypatch, capsys):
    code, failing, out = _doctor({**_server_env(team_server), "BOOK_BUCKET": "gs://no-such-books"}, monkeypatch, capsys)
    assert code == 1 and failing == ["bucket read/write"], out
    assert "there is no bucket gs://no-such-books" in out


def test_doctor_names_missing_fonts(team_server, tmp_path, monkeypatch, capsys):
    from book_assets.core import fonts

    monkeypatch.setattr(fonts, "FONT_DIRS", (tmp_path,))     # a machine without the Debian font packages
    code, failing, out = _doctor(_server_env(team_server), monkeypatch, capsys)
    assert code == 1 and failing == ["fonts"], out
    assert "11 of 11 font files missing" in out
    assert "apt-get install -y fonts-dejavu-core fonts-noto-core fonts-sil-andika fonts-wqy-zenhei" in out
