"""Dagster-free domain logic: the stage contracts and stage functions, and everything they use.

Nothing in this package imports dagster. ``contracts`` holds the typed result of each stage,
``stages`` one function per stage; the asset modules in ``book_assets.defs.assets`` only call a
stage, store its result (the bucket IO manager) and report its metrics and checks.
"""
