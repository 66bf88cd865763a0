"""books_pubsub_sensor against real servers: fake-gcs-server publishing Cloud Storage notifications into
Google's Pub/Sub emulator (book_assets_dev.notification_stack), evaluated with build_sensor_context."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time

import dagster as dg
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import pubsub_v1, storage

from book_assets.core.bucket_layout import contents_fingerprint
from book_assets.core.change_events import EventCursor
from book_assets.defs.jobs import build_book_job
from book_assets.defs.pubsub_sensor import BookNotifications, build_pubsub_sensor
from book_assets.defs.resources import GCSBucket
from book_assets.defs.sensors import build_books_sensor
from book_assets_dev.notification_stack import NotificationStack, running_notification_stack

pytestmark = pytest.mark.integration

QUIET = 2.0
BOOK = {"drawings/max.png": b"max drawing", "generated/max-1.png": b"variation one", "generated/max-2.png": b"two"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> NotificationStack:
    """Both servers for this module (each test points the clients at them: `setup`)."""
    with running_notification_stack(log_dir=tmp_path_factory.mktemp("notify")) as running:
        yield running


_numbers = itertools.count(1)


@pytest.fixture
def setup(stack, monkeypatch):
    """A fresh bucket and its own subscription (the topic carries every bucket's events; the sensor ignores
    other buckets' — which the first tick of every test exercises). The environment points the clients at
    the servers for this test only, so other modules' emulators on the same worker are left alone."""
    for name, value in stack.environment().items():
        monkeypatch.setenv(name, value)
    n = next(_numbers)
    name = f"pubsub-books-{n}"
    storage.Client(project=stack.project, credentials=AnonymousCredentials()).create_bucket(name)
    subscription = f"projects/{stack.project}/subscriptions/books-{n}"
    with pubsub_v1.SubscriberClient() as subscriber:
        subscriber.create_subscription(name=subscription, topic=stack.topic, ack_deadline_seconds=600)
    bucket = GCSBucket(bucket=name, timeout_seconds=10.0, retry_deadline_seconds=20.0)
    return bucket, BookNotifications(subscription=subscription, timeout_seconds=1.0)


def sensor(**kwargs) -> dg.SensorDefinition:
    return build_pubsub_sensor(build_book_job, quiet_period_seconds=kwargs.pop("quiet", QUIET), **kwargs)


def tick(evaluate, instance, bucket, notifications, cursor):
    """One evaluation, then apply its partition requests to the instance as the sensor daemon does."""
    with dg.build_sensor_context(instance=instance, cursor=cursor,
                                 resources={"bucket": bucket, "notifications": notifications}) as context:
        result = evaluate(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def upload(bucket: GCSBucket, book_id: str, files: dict[str, bytes], notifications: BookNotifications) -> None:
    """Write the book's files and wait until their notifications are waiting in the subscription."""
    for key, data in files.items():
        bucket.write_bytes(f"books/{book_id}/{key}", data)
    until_delivered(notifications, len(files))


def until_delivered(notifications: BookNotifications, count: int, timeout: float = 30.0) -> None:
    """Wait until Pub/Sub holds ``count`` messages for the sensor: fake-gcs-server publishes a moment
    after a write returns, so a tick straight after an upload could otherwise find fewer."""
    deadline = time.monotonic() + timeout
    while (waiting := waiting_messages(notifications)) < count:
        assert time.monotonic() < deadline, f"{waiting} of {count} notifications arrived in {timeout:.0f} s"
        time.sleep(0.2)


def requested(result) -> list[str]:
    return [r.partition_key for r in result.run_requests or []]


def redeliver(notifications: BookNotifications, ack_ids) -> None:
    """Make Pub/Sub deliver these messages again now, as it does when an ack deadline passes."""
    if not ack_ids:
        return
    with pubsub_v1.SubscriberClient() as subscriber:
        subscriber.modify_ack_deadline(request={"subscription": notifications.subscription,
                                                "ack_ids": list(ack_ids), "ack_deadline_seconds": 0})


def waiting_messages(notifications: BookNotifications) -> int:
    """How many messages Pub/Sub would deliver now (they are put back at once)."""
    pulled = notifications.pull(1000)
    redeliver(notifications, [m.ack_id for m in pulled])
    return len(pulled)


def test_new_upload_registers_the_partition_and_requests_one_run_after_the_quiet_period(setup, instance):
    bucket, notifications = setup
    evaluate = sensor()
    upload(bucket, "max-pubsub", BOOK, notifications)

    first = tick(evaluate, instance, bucket, notifications, None)
    [added] = first.dynamic_partitions_requests
    assert list(added.partition_keys) == ["max-pubsub"]
    assert not first.run_requests and "still settling: max-pubsub" in first.skip_reason.skip_message
    assert EventCursor.decode(first.cursor).pending["max-pubsub"].events == len(BOOK)

    time.sleep(QUIET + 0.5)
    second = tick(evaluate, instance, bucket, notifications, first.cursor)
    [run] = second.run_requests
    objects = bucket.list_objects("books/max-pubsub/", with_hash=False)
    digest = contents_fingerprint(objects, "books/max-pubsub/")
    assert run.partition_key == "max-pubsub" and run.run_key.startswith(f"max-pubsub:{digest}:")
    assert not second.dynamic_partitions_requests         # registered once

    # The listing sensor makes the very same request for these contents: one run key, whichever sensor saw it.
    listed = build_books_sensor(build_book_job, quiet_period_seconds=0)
    with dg.build_sensor_context(instance=instance, resources={"bucket": bucket}) as context:
        [same] = listed(context).run_requests
    assert same.run_key == run.run_key and same.tags == run.tags

    third = tick(evaluate, instance, bucket, notifications, second.cursor)
    assert not third.run_requests and "0 notification(s)" in third.skip_reason.skip_message


def test_a_deletion_requests_a_rebuild(setup, instance):
    bucket, notifications = setup
    evaluate = sensor(quiet=0)
    upload(bucket, "del-book", BOOK, notifications)
    first = tick(evaluate, instance, bucket, notifications, None)
    [built] = first.run_requests
    cursor = first.cursor

    bucket.delete("books/del-book/generated/max-2.png")
    until_delivered(notifications, 1)
    result = tick(evaluate, instance, bucket, notifications, cursor)
    [rebuild] = result.run_requests
    assert rebuild.partition_key == "del-book" and rebuild.run_key != built.run_key
    assert rebuild.tags["book_assets/objects"] == str(len(BOOK) - 1)


def test_duplicate_and_redelivered_messages_never_request_twice(stack, setup, instance):
    bucket, notifications = setup
    evaluate = sensor(quiet=0)
    upload(bucket, "dup-book", BOOK, notifications)
    first = tick(evaluate, instance, bucket, notifications, None)
    assert requested(first) == ["dup-book"]

    # Pub/Sub redelivers every message of that tick (same message ids): absorbed as duplicates.
    redeliver(notifications, EventCursor.decode(first.cursor).to_ack)
    second = tick(evaluate, instance, bucket, notifications, first.cursor)
    assert not second.run_requests
    assert "0 notification(s)" not in second.skip_reason.skip_message     # it did pull them again

    # Cloud Storage sends the same notification twice (a new message id): listed again, same contents, no run.
    with pubsub_v1.PublisherClient() as publisher:
        publisher.publish(stack.topic, b"{}", eventType="OBJECT_FINALIZE", bucketId=bucket.bucket,
                          objectId="books/dup-book/drawings/max.png", objectGeneration="1",
                          eventTime="2026-01-01T00:00:00Z", payloadFormat="JSON_API_V1").result(timeout=10)
    third = tick(evaluate, instance, bucket, notifications, second.cursor)
    assert not third.run_requests and "already requested or built" in third.skip_reason.skip_message


def test_messages_are_acknowledged_only_after_a_cursor_holds_them(setup, instance):
    bucket, notifications = setup
    evaluate = sensor()
    upload(bucket, "ack-book", BOOK, notifications)

    lost = tick(evaluate, instance, bucket, notifications, None)     # as if Dagster never stored this cursor
    held = EventCursor.decode(lost.cursor).to_ack
    assert len(held) == len(BOOK)
    redeliver(notifications, held)                                     # the ack deadline passes
    assert waiting_messages(notifications) == len(BOOK)                # nothing was acknowledged: nothing lost

    stored = tick(evaluate, instance, bucket, notifications, None)    # the tick whose cursor Dagster stores
    assert EventCursor.decode(stored.cursor).pending["ack-book"].events == len(BOOK)
    following = tick(evaluate, instance, bucket, notifications, stored.cursor)    # acknowledges them
    assert EventCursor.decode(following.cursor).to_ack == ()
    redeliver(notifications, EventCursor.decode(stored.cursor).to_ack)
    assert waiting_messages(notifications) == 0                        # acknowledged: they never come back


@pytest.mark.parametrize("subscription, expected", [
    (None, "books_sensor:30"),
    ("projects/p/subscriptions/book-events", "books_pubsub_sensor:30 books_sensor:900"),
])
def test_the_sensor_is_picked_by_configuration(subscription, expected):
    """A subscription in BOOK_PUBSUB_SUBSCRIPTION adds the Pub/Sub sensor and turns the listing into a
    reconciliation every 15 min; without one only the listing sensor exists (a fresh process each: the
    setting is read when the code location loads)."""
    env = {k: v for k, v in os.environ.items() if k not in ("BOOK_PUBSUB_SUBSCRIPTION", "BOOK_SENSOR_RECONCILE_SECONDS")}
    if subscription:
        env["BOOK_PUBSUB_SUBSCRIPTION"] = subscription
    shown = subprocess.run(
        [sys.executable, "-W", "error", "-c", "from book_assets.definitions import defs; print(' '.join("
         "f'{s.name}:{s.minimum_interval_seconds}' for s in defs().sensors if s.name.startswith('books')))"],
        env=env, capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    assert shown == expected
