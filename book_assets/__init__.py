"""book_assets: a Dagster code location that turns a bucket of children's drawings and their
AI-generated variations into a print-ready picture book.

``code_location`` (the ``@dg.definitions`` function of ``book_assets.definitions``) is exported
here so that ``dagster … -m book_assets`` finds the code location, as ``-m book_assets.definitions``
does. It is not called ``defs`` here because ``book_assets.defs`` is the package holding the
definitions, and Python binds a loaded subpackage to that attribute name. Importing this package
imports Dagster only; the definitions are built when Dagster (or ``book_definitions()``) asks.
"""
from .definitions import defs as code_location

__all__ = ["code_location"]
