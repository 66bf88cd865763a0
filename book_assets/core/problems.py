"""``Problem``: something a person should know about a book, as a record rather than a sentence."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """A stable ``code`` (for tests, tables and tools), the sentence a person reads, and where it is
    — a page number, a drawing's key — when it is somewhere in particular. Nothing parses the
    sentence back: code that needs the page reads ``page``."""

    code: str
    message: str
    page: int | None = None
    drawing: str | None = None

    def __str__(self) -> str:
        return f"Page {self.page}: {self.message}" if self.page is not None else self.message


def by_page(problems: Iterable[Problem]) -> dict[int, list[str]]:
    """The messages of the problems that are on a page, keyed by page number."""
    pages: dict[int, list[str]] = {}
    for problem in problems:
        if problem.page is not None:
            pages.setdefault(problem.page, []).append(problem.message)
    return pages


PROBLEMS_SHOWN = 200     # of one kind, in a report, a preview or a log event; the rest are counted


def first_of(messages: Sequence[str], limit: int = PROBLEMS_SHOWN) -> list[str]:
    """At most ``limit`` messages, and a last one counting the rest — so a file with thousands of bad
    lines makes one readable list, not thousands of events."""
    messages = list(messages)
    if len(messages) <= limit:
        return messages
    return [*messages[:limit], f"… and {len(messages) - limit:,} more like these."]
