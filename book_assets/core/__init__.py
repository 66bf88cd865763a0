"""Dagster-free domain logic: imaging, pairing, arranging, story, layout and rendering.

Nothing in this package imports dagster; each module is one stage of the book and is
unit-tested on its own. The asset modules in ``book_assets.assets`` are thin wrappers that
read inputs from the bucket, call into here and emit metadata.
"""
