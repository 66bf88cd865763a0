"""A flaky and a dead bucket: the GCS emulator behind the seeded fault proxy (book_assets_dev.fault_proxy)."""
from __future__ import annotations

import io

import pytest

from book_assets import cli
from book_assets.defs.resources import GCSBucket
from book_assets_dev.fault_proxy import Fault, FaultPlan, running_fault_proxy
from book_assets_dev.faults import fault_run
from book_assets_dev.gcs_emulator import EMULATOR_ENV_VAR

pytestmark = pytest.mark.integration


def test_a_dead_bucket_is_one_line_naming_the_bucket_and_the_cause(gcs_emulator, tmp_path, monkeypatch):
    """Every request answered 503: the build gives up within the bucket's retry deadline (2 s here,
    40 s by default) with one line, exit 3, having retried rather than failed on the first answer."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    plan = FaultPlan(dead=True)
    with running_fault_proxy(gcs_emulator.url, plan) as proxy:
        monkeypatch.setenv(EMULATOR_ENV_VAR, proxy)
        dead = GCSBucket(bucket="gone-books", retry_deadline_seconds=2.0)
        monkeypatch.setattr(cli, "bucket_from_setting", lambda setting=None: dead)
        out = io.StringIO()
        assert cli.build("max-and-friends", "gs://gone-books", out=out) == cli.EXIT_FAILED
    printed = out.getvalue().strip()
    assert "\n" not in printed, printed
    assert printed.startswith("The bucket gs://gone-books/books could not be listed:")
    assert "503" in printed, printed
    assert plan.requests > 1 and plan.injected[Fault.UNAVAILABLE] == plan.requests


def test_retries_stop_when_the_budget_is_spent(gcs_emulator, monkeypatch):
    """A bucket answering 503 forever: with a budget of 3 retries the call gives up after its fourth
    try, long before its 60 s deadline (the client may add one request of its own)."""
    from google.api_core.exceptions import ServiceUnavailable

    plan = FaultPlan(dead=True)
    with running_fault_proxy(gcs_emulator.url, plan) as proxy:
        monkeypatch.setenv(EMULATOR_ENV_VAR, proxy)
        bucket = GCSBucket(bucket="gone-books", retry_deadline_seconds=60.0, retry_budget=3,
                           retry_refill_per_second=0.001)
        with pytest.raises(ServiceUnavailable):
            bucket.exists("books/b/a.png")
    assert bucket.budget.spent == 3 and bucket.budget.refused == 1
    assert len([p for p in plan.paths if "/o/books%2Fb%2Fa.png" in p]) == 4, plan.paths


def test_a_stalled_read_is_answered_by_its_hedge_not_by_a_retry_after_the_timeout(gcs_emulator, monkeypatch):
    """The first request stalls far past its timeout; the hedge sent after 0.3 s answers. Counted,
    not timed: two requests, no retry spent (a retry would come only after the 3 s timeout)."""
    direct = GCSBucket(bucket="hedged-books")
    gcs_emulator.create_bucket("hedged-books")
    direct.write_bytes("books/b/a.txt", b"hello")
    plan = FaultPlan(script=[Fault.STALL], script_matching=OBJECT, stall_seconds=(8.0, 8.0))
    with running_fault_proxy(gcs_emulator.url, plan) as proxy:
        monkeypatch.setenv(EMULATOR_ENV_VAR, proxy)
        bucket = GCSBucket(bucket="hedged-books", hedge_transfer_seconds=0.3)
        assert bucket.read_bytes("books/b/a.txt") == b"hello"
    assert _object_requests(plan) == [Fault.STALL, None]
    assert bucket.budget.spent == 0


def test_an_answering_bucket_is_not_hedged(gcs_emulator, monkeypatch):
    """Errors are answers: a 503 is retried after its backoff, never hedged (which would double the
    load on a server that is already saying it is overloaded)."""
    gcs_emulator.create_bucket("busy-books")
    plan = FaultPlan(script=[None, *[Fault.UNAVAILABLE] * 5], script_matching=OBJECT)
    with running_fault_proxy(gcs_emulator.url, plan) as proxy:
        monkeypatch.setenv(EMULATOR_ENV_VAR, proxy)
        bucket = GCSBucket(bucket="busy-books", hedge_metadata_seconds=0.5)
        assert bucket.exists("books/b/warm-up.png") is False      # the client is made (a slow first call)
        assert bucket.exists("books/b/none.png") is False         # five 503s, backing off, then the answer
    assert _object_requests(plan) == [None, *[Fault.UNAVAILABLE] * 5, None] and bucket.budget.spent == 5


OBJECT = "/o/books%2Fb%2F"      # requests for the test's objects (the client also fetches bucket metadata itself)


def _object_requests(plan: FaultPlan) -> list[Fault | None]:
    return [fault for path, fault in zip(plan.paths, plan.drawn) if OBJECT in path]


# google-cloud-storage leaves the socket of a request it abandoned (a stall past its timeout, a reset)
# to the garbage collector; that is the client's doing under injected faults, not a leak of ours.
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
def test_a_seeded_fault_run_publishes_an_intact_set(gcs_emulator, small_book_files):
    """20 % of requests fail (429, 503, resets, short stalls, lost upload responses): the book is
    still published once, and every file of its edition is whole (md5, PDF pages, report)."""
    run = fault_run(gcs_emulator, small_book_files, 0.2, seed=3, stall_seconds=(0.2, 1.0))
    assert run.success, run
    assert run.problems == [] and run.editions == 1
    assert "book.pdf" in run.names and "report.json" in run.names
    assert sum(run.injected.values()) >= 10 and len(run.injected) >= 4, run.injected
