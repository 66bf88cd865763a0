"""`book-assets doctor` on the local tier: healthy, then each item broken in turn (exit 1 naming it)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from book_assets import cli
from book_assets.deploy_checks import DOCTOR_RETRY_DEADLINE_SECONDS, probe_bucket
from book_assets.defs.resources import GCSBucket, LocalBucket
from book_assets_dev.gcs_emulator import EMULATOR_ENV_VAR, free_port

ITEMS = ["DAGSTER_HOME writable", "instance storage", "bucket reachable", "bucket writable", "bucket readable", "fonts"]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    path = tmp_path / "bucket"
    path.mkdir()
    return path


def _doctor(capsys, bucket: str, *extra: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli.main(["doctor", "--json", "--bucket", bucket, *extra])
    return code, json.loads(capsys.readouterr().out)


def test_a_healthy_local_tier_passes_every_item_and_leaves_no_probe(home, folder, capsys):
    code, report = _doctor(capsys, str(folder))
    assert code == 0 and report["healthy"] is True and report["failed"] == []
    assert [c["item"] for c in report["checks"]] == ITEMS and all(c["ok"] for c in report["checks"])
    assert report["DAGSTER_HOME"] == str(home.resolve())
    assert not list(folder.rglob("probe-*"))                  # the probe object was removed
    assert not list(home.glob(".doctor-probe-*"))
    capsys.readouterr()
    assert cli.main(["doctor", "--bucket", str(folder)]) == 0     # the lines for people say the same
    assert "All 6 checks passed." in capsys.readouterr().out


def test_a_bucket_folder_that_does_not_exist_fails_reachable(home, tmp_path, capsys):
    code, report = _doctor(capsys, str(tmp_path / "no-such-bucket"))
    assert code == 1
    assert report["failed"] == ["bucket reachable", "bucket writable", "bucket readable"]
    reachable = report["checks"][2]
    assert "no-such-bucket is not a folder" in reachable["detail"]
    assert not (tmp_path / "no-such-bucket").exists()        # the doctor did not create it


def test_a_bucket_that_cannot_be_written_fails_writable(home, folder, capsys):
    (folder / "_book_assets").write_text("a file where the work folder should be")
    code, report = _doctor(capsys, str(folder))
    assert code == 1 and report["failed"] == ["bucket writable", "bucket readable"]
    assert "_book_assets/doctor/probe-" in report["checks"][3]["detail"]
    assert report["checks"][4]["detail"] == "not checked: the probe could not be written"


def test_a_bucket_that_cannot_be_read_fails_readable(folder):
    class Unreadable(LocalBucket):
        def read_bytes(self, key):
            raise PermissionError(f"reading {key} is not allowed")

    bucket = Unreadable(root=str(folder))
    findings = {f.item: f for f in probe_bucket(bucket)}
    assert findings["bucket reachable"].ok and findings["bucket writable"].ok
    assert not findings["bucket readable"].ok and "PermissionError" in findings["bucket readable"].detail
    assert not list(folder.rglob("probe-*"))


def test_a_gcs_bucket_that_does_not_exist_fails_reachable(home, gcs_emulator, capsys):
    code, report = _doctor(capsys, "gs://no-such-books")
    assert code == 1 and report["failed"] == ["bucket reachable", "bucket writable", "bucket readable"]
    assert "there is no bucket gs://no-such-books" in report["checks"][2]["detail"]
    capsys.readouterr()
    assert cli.main(["doctor", "--bucket", "gs://no-such-books"]) == 1
    assert "FAIL  bucket reachable" in capsys.readouterr().out


def test_an_unreachable_gcs_endpoint_fails_reachable_with_exit_1_after_the_doctors_deadline(home, monkeypatch,
                                                                                            capsys):
    """Nothing listens on the endpoint: refused connections are retried until the doctor's deadline
    (10 s, not a build's 40 s), then "bucket reachable" fails naming the bucket and the cause."""
    monkeypatch.setenv(EMULATOR_ENV_VAR, f"http://127.0.0.1:{free_port()}")      # a closed port
    code, report = _doctor(capsys, "gs://books-offline")
    assert code == 1 and report["healthy"] is False
    assert report["failed"] == ["bucket reachable", "bucket writable", "bucket readable"]
    detail = report["checks"][2]["detail"]
    assert detail.startswith("gs://books-offline: RetryError")
    assert f"Timeout of {DOCTOR_RETRY_DEADLINE_SECONDS}s exceeded" in detail and "Connection refused" in detail
    capsys.readouterr()
    assert cli.main(["doctor", "--bucket", "gs://books-offline"]) == 1        # the lines for people
    assert "3 of 6 checks failed: bucket reachable, bucket writable, bucket readable" in capsys.readouterr().out


def test_an_unreachable_endpoint_costs_retries_bounded_by_the_deadline_and_the_budget(monkeypatch):
    """Counted, not timed: the probe retries a refused connection (it is transient), the deadline ends
    it, and the retries spent stay within the resource's retry budget."""
    monkeypatch.setenv(EMULATOR_ENV_VAR, f"http://127.0.0.1:{free_port()}")
    bucket = GCSBucket(bucket="books-offline", retry_deadline_seconds=1.0, retry_budget=20)
    [reachable, *_] = probe_bucket(bucket)
    assert not reachable.ok and "Timeout of 1.0s exceeded" in reachable.detail
    assert 1 <= bucket.budget.spent <= 20 and bucket.budget.refused == 0


def test_missing_fonts_fail_fonts(home, folder, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("book_assets.core.fonts.FONT_DIRS", (tmp_path / "no-fonts",))
    code, report = _doctor(capsys, str(folder))
    assert code == 1 and report["failed"] == ["fonts"]
    assert "apt-get install -y" in report["checks"][5]["detail"]


def test_a_dagster_home_that_cannot_be_written_fails_it_and_the_instance(tmp_path, folder, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DAGSTER_HOME", str(blocker / "home"))
    code, report = _doctor(capsys, str(folder))
    assert code == 1 and report["failed"] == ["DAGSTER_HOME writable", "instance storage"]
    assert "NotADirectoryError" in report["checks"][0]["detail"] or "FileExistsError" in report["checks"][0]["detail"]


def test_instance_storage_that_cannot_be_opened_fails_instance_storage(home, folder, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    home.mkdir()
    (home / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {blocker / 'storage'}\n")
    code, report = _doctor(capsys, str(folder))
    assert code == 1 and report["failed"] == ["instance storage"], report
    assert str(home) in report["checks"][1]["detail"]
