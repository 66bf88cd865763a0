"""``books_pubsub_sensor``: build books as Cloud Storage tells us they changed, without listing the bucket.

Picked by configuration: it exists when ``BOOK_PUBSUB_SUBSCRIPTION`` names a Pub/Sub subscription that
receives the book bucket's notifications (``gcloud storage buckets notifications create gs://BUCKET
--topic=TOPIC --payload-format=json``; README, "Deploying for a team"). ``books_sensor`` then lists the
bucket only as a periodic reconciliation. Both make their requests with ``sensors.book_run_request``,
so a book's contents have one run key whichever sensor saw them first.

Each tick: acknowledge the messages the stored cursor holds (so a message is acked only once a cursor
that absorbed it is stored), pull up to ``max_messages``, fold them into per-book state
(``core.change_events``), register new book folders as partitions, and for each book quiet for the
quiet period list that one folder and request a run unless those contents were requested or built.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import dagster as dg

from ..core.bucket_layout import BOOKS_PREFIX, contents_fingerprint
from ..core.change_events import (EventCursor, NotificationError, absorb, already_requested, parse_notification,
                                  plan_settled, settle)
from . import jobs
from .assets.common import fields
from .partitions import books_partitions
from .resources import Bucket, GCSBucket
from .sensors import (DEFAULT_INTERVAL_SECONDS, DEFAULT_MAX_BOOKS_PER_TICK, book_is_current_event,
                      book_run_request, book_sensor, latest_book_fingerprint, quiet_period_setting, settling_reason,
                      run_for_contents, some_names, subscription_setting)

DEFAULT_MAX_MESSAGES_PER_TICK = 1000    # one pull; each message's ack id (~200 bytes) waits in the cursor a tick
PULL_TIMEOUT_SECONDS = 5.0     # a pull with nothing waiting blocks this long; a tick must end well inside 60 s


@dataclass(frozen=True)
class PulledMessage:
    ack_id: str
    message_id: str
    attributes: dict[str, str]
    publish_time: float


class BookNotifications(dg.ConfigurableResource):
    """The Pub/Sub subscription that receives the book bucket's Cloud Storage notifications.

    ``PUBSUB_EMULATOR_HOST`` points the client at the emulator (tests, the load test); otherwise it uses
    the pod's workload identity (Pub/Sub Subscriber on this subscription only).
    """

    subscription: str              # projects/<project>/subscriptions/<name>
    timeout_seconds: float = PULL_TIMEOUT_SECONDS

    def pull(self, max_messages: int) -> list[PulledMessage]:
        """Up to ``max_messages`` messages waiting now (fewer, or none, when fewer are waiting)."""
        from google.api_core.exceptions import DeadlineExceeded
        from google.cloud import pubsub_v1

        pulled: list[PulledMessage] = []
        with pubsub_v1.SubscriberClient() as client:
            while len(pulled) < max_messages:
                try:
                    response = client.pull(request={"subscription": self.subscription,
                                                    "max_messages": min(1000, max_messages - len(pulled))},
                                           timeout=self.timeout_seconds)
                except DeadlineExceeded:
                    break                   # nothing waiting
                batch = response.received_messages
                if not batch:
                    break
                # A pull returns what one server has at hand (the emulator: at most 100), so pull again
                # until nothing comes or the tick has its share.
                pulled.extend(PulledMessage(m.ack_id, m.message.message_id, dict(m.message.attributes),
                                            m.message.publish_time.timestamp()) for m in batch)

        return pulled

    def acknowledge(self, ack_ids: list[str]) -> None:
        from google.cloud import pubsub_v1

        with pubsub_v1.SubscriberClient() as client:
            for start in range(0, len(ack_ids), 1000):        # Pub/Sub's limit per request
                client.acknowledge(request={"subscription": self.subscription, "ack_ids": ack_ids[start:start + 1000]},
                                   timeout=self.timeout_seconds)


def build_pubsub_sensor(job, *, name: str = "books_pubsub_sensor", quiet_period_seconds: float | None = None,
                        max_books_per_tick: int = DEFAULT_MAX_BOOKS_PER_TICK,
                        max_messages_per_tick: int = DEFAULT_MAX_MESSAGES_PER_TICK,
                        minimum_interval_seconds: int = DEFAULT_INTERVAL_SECONDS,
                        default_status: dg.DefaultSensorStatus | None = None) -> dg.SensorDefinition:
    """The notification-driven sensor for ``job``; it needs the ``bucket`` and ``notifications`` resources."""
    quiet = quiet_period_setting(quiet_period_seconds)

    @book_sensor(job, name, minimum_interval_seconds, default_status,
                 f"Pulls the bucket's Cloud Storage notifications from Pub/Sub; registers new book folders as "
                 f"partitions and builds each changed book (deletions too) once it has been quiet for "
                 f"{quiet:g} s (at most {max_books_per_tick} books per tick).")
    def books_pubsub_sensor(context: dg.SensorEvaluationContext, bucket: Bucket, notifications: BookNotifications):
        if not isinstance(bucket, GCSBucket):
            return dg.SkipReason(f"Pub/Sub notifications come from Cloud Storage, but the book bucket is "
                                 f"{bucket.url('')}; books_sensor lists it instead.")
        try:
            cursor = EventCursor.decode(context.cursor)
        except (ValueError, KeyError, TypeError) as problem:
            context.log.warning(f"Unreadable cursor ({problem}); starting afresh. Unacknowledged messages come "
                                "again, and run keys keep books that were already built from building again.")
            cursor = EventCursor()
        if cursor.to_ack:               # the stored cursor holds these messages: now they may go
            from google.api_core.exceptions import GoogleAPICallError

            try:
                notifications.acknowledge(list(cursor.to_ack))
            except GoogleAPICallError as problem:  # expired ack ids: Pub/Sub redelivers, `seen` absorbs them
                context.log.warning(f"Acknowledging {len(cursor.to_ack)} messages failed ({problem}); "
                                    "they will be delivered again and ignored as duplicates.")
            cursor = replace(cursor, to_ack=())

        started = time.perf_counter()
        pulled = notifications.pull(max_messages_per_tick)
        pull_ms = (time.perf_counter() - started) * 1000.0
        messages = []
        for message in pulled:
            try:
                messages.append((message.ack_id, parse_notification(message.message_id, message.attributes,
                                                                    message.publish_time)))
            except NotificationError as problem:
                messages.append((message.ack_id, problem))
        absorbed = absorb(cursor, messages, bucket.bucket, bucket.object_root)
        for problem in absorbed.problems[:10]:
            context.log.warning(problem.message)

        known = set(context.instance.get_dynamic_partitions(books_partitions.name))
        new_books = [b for b in absorbed.books_changed if b not in known]
        partition_requests = [books_partitions.build_add_request(new_books)] if new_books else []

        now = time.time()
        plan = plan_settled(absorbed.cursor, now, quiet, max_books_per_tick)
        fingerprints, run_requests, behind, unchanged, emptied = {}, [], [], [], []
        for book_id in plan.ready:
            prefix = f"{BOOKS_PREFIX}{book_id}/"
            objects = bucket.list_objects(prefix, with_hash=False)
            fingerprints[book_id] = digest = contents_fingerprint(objects, prefix)
            built_from = latest_book_fingerprint(context.instance, book_id)
            if not objects:
                emptied.append(book_id)          # the whole folder was deleted: nothing left to build
            elif (already_requested(absorbed.cursor, book_id, digest) or built_from == digest
                  or run_for_contents(context.instance, book_id, digest)):
                unchanged.append(book_id)        # a redelivery, or built, queued or running for these contents
            else:
                run_requests.append(book_run_request(job, book_id, digest, objects))
                behind.append(book_is_current_event(book_id, built_from, digest, "a build is queued"))
        requested_books = [r.partition_key for r in run_requests]
        next_cursor = settle(absorbed.cursor, fingerprints, requested_books, now)

        context.log.info(fields(
            "tick", messages=len(pulled), pull_ms=round(pull_ms, 1), duplicates=absorbed.duplicates,
            ignored=absorbed.ignored, changed_books=len(absorbed.books_changed), new_partitions=len(new_books),
            requested=len(run_requests), settling=len(plan.quiet), deferred=len(plan.deferred),
            unchanged=len(unchanged), emptied=len(emptied), requested_books=",".join(requested_books) or "none"))
        skip_reason = None
        if not run_requests:
            reasons = [f"{len(pulled)} notification(s) this tick"]
            if plan.quiet:
                reasons.append(settling_reason(plan.quiet, quiet))
            if unchanged:
                reasons.append(f"already requested or built from their current contents: {some_names(unchanged)}")
            if emptied:
                reasons.append(f"book folders now empty (deleted), nothing to build: {some_names(emptied)}")
            skip_reason = "; ".join(reasons)
        return dg.SensorResult(run_requests=run_requests, dynamic_partitions_requests=partition_requests,
                               cursor=next_cursor.encode(), skip_reason=skip_reason, asset_events=behind)

    return books_pubsub_sensor


@dg.definitions
def pubsub_sensor() -> dg.Definitions:
    """The sensor and its subscription when ``BOOK_PUBSUB_SUBSCRIPTION`` is set; nothing otherwise."""
    subscription = subscription_setting()
    if subscription is None:
        return dg.Definitions()
    return dg.Definitions(sensors=[build_pubsub_sensor(jobs.build_book_job)],
                          resources={"notifications": BookNotifications(subscription=subscription)})
