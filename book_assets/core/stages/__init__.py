"""The five stages, one pure function each, from a bucket listing to a published book.

Each takes the typed results of the stages before it (``core.contracts``) and an ``ObjectStore``
for the bytes it must read or write, and returns its own typed result. The Dagster assets in
``book_assets.defs.assets`` only call these and report what they return.
"""
