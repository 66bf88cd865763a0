"""The five book assets, one module per stage: thin wrappers that read, call the core, and report."""
from .book import book
from .image_pairs import image_pairs
from .page_layouts import page_layouts
from .raw_images import raw_images
from .validated_images import validated_images

BOOK_ASSETS = [raw_images, validated_images, image_pairs, page_layouts, book]

__all__ = ["BOOK_ASSETS", "book", "image_pairs", "page_layouts", "raw_images", "validated_images"]
