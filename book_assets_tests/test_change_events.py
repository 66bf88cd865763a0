"""core.change_events on its own: notifications folded into per-book state, settled books, the cursor."""
from __future__ import annotations

import pytest

from book_assets.core.change_events import (EventCursor, EventKind, NotificationError, ObjectEvent, absorb,
                                            parse_notification, plan_settled, settle)

ATTRIBUTES = {"eventType": "OBJECT_FINALIZE", "bucketId": "books-bucket", "objectId": "books/max/drawings/a.png",
              "objectGeneration": "17", "eventTime": "2026-12-01T10:00:00Z", "payloadFormat": "JSON_API_V1"}


def event(message_id: str, name: str, when: float, kind: EventKind = EventKind.FINALIZE,
          bucket: str = "books-bucket") -> ObjectEvent:
    return ObjectEvent(message_id, kind, bucket, name, "1", when)


def test_a_notification_is_read_from_its_attributes():
    parsed = parse_notification("m1", ATTRIBUTES, publish_time=5.0)
    assert parsed.kind is EventKind.FINALIZE and parsed.name == "books/max/drawings/a.png"
    assert parsed.event_time == 1796119200.0 and parsed.generation == "17"
    assert parse_notification("m2", {**ATTRIBUTES, "eventTime": "not a time"}, 5.0).event_time == 5.0


@pytest.mark.parametrize("attributes", [{}, {**ATTRIBUTES, "eventType": "OBJECT_EXPLODED"},
                                        {k: v for k, v in ATTRIBUTES.items() if k != "objectId"}])
def test_a_message_that_is_no_storage_notification_is_refused_by_name(attributes):
    with pytest.raises(NotificationError, match="m9 is not a Cloud Storage notification"):
        parse_notification("m9", attributes, 0.0)


def test_events_become_per_book_state_and_everything_is_held_for_acknowledgement():
    messages = [
        ("a1", event("1", "books/max/drawings/a.png", 100.0)),
        ("a2", event("2", "books/max/generated/b.png", 130.0)),
        ("a3", event("3", "books/zoe/drawings/z.png", 90.0, EventKind.DELETE)),
        ("a4", event("4", "published/max/book.pdf", 140.0)),                 # our own output
        ("a5", event("5", "books/max/drawings/a.png", 100.0, bucket="other")),
        ("a6", event("6", "books/Bad Name/x.png", 100.0)),
        ("a7", event("1", "books/max/drawings/a.png", 100.0)),                # redelivered
        ("a8", NotificationError("message 8 is not a Cloud Storage notification")),
    ]
    absorbed = absorb(EventCursor(), messages, "books-bucket")
    cursor = absorbed.cursor
    assert absorbed.books_changed == ["max", "zoe"]
    assert cursor.pending["max"].changed_at == 130.0 and cursor.pending["max"].events == 2
    assert cursor.pending["zoe"].deleted and not cursor.pending["max"].deleted
    assert absorbed.duplicates == 1 and absorbed.ignored == 2
    assert [p.code for p in absorbed.problems] == ["invalid_book_folder", "unreadable_notification"]
    assert cursor.to_ack == tuple(f"a{i}" for i in range(1, 9))
    assert EventCursor.decode(cursor.encode()) == cursor

    again = absorb(cursor, [("b1", event("2", "books/max/generated/b.png", 130.0))], "books-bucket")
    assert again.duplicates == 1 and again.cursor.pending == cursor.pending


def test_books_under_a_bucket_prefix_are_found_below_it():
    absorbed = absorb(EventCursor(), [("a", event("1", "team/books/max/a.png", 1.0)),
                                      ("b", event("2", "books/max/a.png", 1.0))], "books-bucket", root="team/")
    assert absorbed.books_changed == ["max"] and absorbed.ignored == 1


def test_settled_books_come_in_change_order_up_to_the_cap_and_leave_pending_once_listed():
    messages = [(f"a{i}", event(str(i), f"books/b{i}/x.png", float(i))) for i in range(5)]
    cursor = absorb(EventCursor(), messages, "books-bucket").cursor
    plan = plan_settled(cursor, now=13.5, quiet_period_seconds=10.0, max_books_per_tick=2)
    assert (plan.ready, plan.deferred, plan.quiet) == (["b0", "b1"], ["b2", "b3"], ["b4"])

    after = settle(cursor, {"b0": "f0", "b1": "f1"}, requested=["b0"], now=13.5)
    assert sorted(after.pending) == ["b2", "b3", "b4"] and after.requested == {"b0": ("f0", 13.5)}
