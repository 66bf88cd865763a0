"""book_assets: a Dagster code location that turns a bucket of children's drawings and their
AI-generated variations into a print-ready picture book.

``defs`` (the code location's Definitions) is loaded lazily so that ``book_assets.core`` — the
Dagster-free domain logic — can be imported without importing Dagster.
"""

__all__ = ["defs"]


def __getattr__(name: str):
    if name == "defs":
        from .definitions import defs

        return defs
    raise AttributeError(name)
