"""One dynamic partition per book folder (``books/<book_id>/``) in the bucket."""
from __future__ import annotations

import re

import dagster as dg

books_partitions = dg.DynamicPartitionsDefinition(name="books")

BOOK_ID_PATTERN = re.compile(r"^[a-z0-9_-]{1,63}$")


def book_id_problem(book_id: str) -> str | None:
    """Why ``book_id`` is not a valid book folder name, or None when it is."""
    if BOOK_ID_PATTERN.fullmatch(book_id):
        return None
    return (
        f"The book folder name {book_id!r} is not allowed: use 1 to 63 lowercase letters, digits, "
        "'-' or '_' (for example 'max-and-friends')."
    )


def book_prefix(book_id: str) -> str:
    return f"books/{book_id}/"


def published_prefix(book_id: str) -> str:
    return f"published/{book_id}/"
