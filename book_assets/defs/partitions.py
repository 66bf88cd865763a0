"""One dynamic partition per book folder (``books/<book_id>/``) in the bucket."""
from __future__ import annotations

import dagster as dg

books_partitions = dg.DynamicPartitionsDefinition(name="books")
