"""Dev tooling for book_assets, kept out of the product package: the generated sample book, the
benchmark, the labelled pairing corpora and the look model's fit, and the GCS emulator runner.

It imports the product (``book_assets``) by its public names; the product imports it only when a
dev command of ``book-assets`` (``demo``, ``bench``, ``eval-pairing``) is run.
"""
