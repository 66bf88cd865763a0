"""``page_layouts``: story text and page geometry for every page, and the cover sheet (no pixels yet)."""

import dagster as dg

from ...core.contracts import Inventory, Pairing, Validation
from ...core.problems import first_of
from ...core.stages.layout import lay_out_book
from .. import checks
from ..resources import Bucket
from .common import book_asset_args, book_id_of, fail_fast_unless_transient, fields


class PageLayoutsConfig(dg.Config):
    """Run config: an operator may build a book in another print profile than its book.toml asks for."""

    profile: str = ""      # empty: the profile in book.toml (default kdp-8.5x8.5)


@dg.asset(**book_asset_args("layout", kinds={"python"}), check_specs=checks.PAGE_LAYOUTS_CHECKS)
@fail_fast_unless_transient()
def page_layouts(context: dg.AssetExecutionContext, config: PageLayoutsConfig, bucket: Bucket, raw_images: Inventory,
                 validated_images: Validation, image_pairs: Pairing):
    """Title page, one spread per drawing (drawing + story | colour-arranged variations), end pages, cover."""
    book_id = book_id_of(context)
    layout = lay_out_book(raw_images, validated_images, image_pairs, bucket, profile_name=config.profile)
    if layout.config_problems:        # one event for all of them, however many there are
        context.log.warning(fields("book_toml_problems", book=book_id, count=len(layout.config_problems)) + "\n"
                            + "\n".join(first_of([p.message for p in layout.config_problems])))
    context.log.info(fields("laid_out", book=book_id, asset="page_layouts", **layout.metrics()))
    return dg.MaterializeResult(
        value=layout,
        metadata={**layout.metrics(), "page_kinds": dg.MetadataValue.json(layout.page_kinds()),
                  "config_problems": dg.MetadataValue.md("\n".join(
                      f"- {line}" for line in first_of([str(p) for p in layout.config_problems])) or "none")},
        check_results=[checks.check_text_fits(layout), checks.check_drawings_named_by_us(layout),
                       checks.check_images_ppi(layout, minimum=False),
                       checks.check_images_ppi(layout, minimum=True)],
    )
