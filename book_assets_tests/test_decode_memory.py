"""The decoder's memory bound, counted: each hostile file and each photo at the product's limits is
decoded in a fresh process, whose peak resident memory may grow by at most DECODE_MEMORY_BOUND plus
an allowance for what the interpreter and the libraries allocate on their first use."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from book_assets.core.imaging import ImageRejected, analyse_image
from book_assets.core.imaging.decode import DECODE_MEMORY_BOUND, MAX_PNG_CHUNKS, decode_memory
from book_assets_dev.decode_memory import FILES
from book_assets_dev.hostile import png_of_many_chunks, png_zlib_bomb

# Pillow's and numpy's first-use buffers, the decoder's row and zlib buffers, the print JPEG's
# encoder: measured 26 MB for a 3000 x 3000 PNG beyond the raster the bound counts.
INTERPRETER_ALLOWANCE = 48 * 1024 * 1024

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "book_assets_dev.decode_memory", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def decode_files(tmp_path_factory) -> Path:
    """Written in their own process, so building a 60-megapixel photo does not swell the test's."""
    folder = tmp_path_factory.mktemp("decode_memory")
    _run("make", str(folder))
    return folder


@pytest.mark.parametrize("name", sorted(FILES))
def test_decoding_stays_under_the_memory_bound(decode_files, name):
    measured = json.loads(_run("measure", str(decode_files / name)))
    assert measured["verdict"] == FILES[name]
    assert measured["growth_bytes"] <= DECODE_MEMORY_BOUND + INTERPRETER_ALLOWANCE, measured
    print(f"\n{name}: {measured['bytes'] / 2**20:.2f} MB file, {measured['verdict']}, "
          f"peak RSS +{measured['growth_bytes'] / 2**20:.0f} MB")


def test_a_zlib_bomb_is_refused_from_its_header_with_a_plain_message():
    with pytest.raises(ImageRejected) as rejected:
        analyse_image(png_zlib_bomb(7000, 7000, alpha=True))
    assert rejected.value.code == "over_memory_bound"
    assert "7,000×7,000" in rejected.value.message and "400 MB" in rejected.value.message


def test_a_png_of_endless_chunks_is_refused_before_pillow_reads_them():
    with pytest.raises(ImageRejected) as rejected:
        analyse_image(png_of_many_chunks(MAX_PNG_CHUNKS + 1, side=100))
    assert rejected.value.code == "over_memory_bound" and "10,000" in rejected.value.message
    assert analyse_image(png_of_many_chunks(50, side=300)).features.width == 300   # a few extra chunks are fine


def test_the_estimate_counts_working_copies_and_the_print_resize():
    plain = decode_memory(4000, 3000, "RGB", {}, 3000)
    assert plain == 4000 * 3000 * 4 + 4 * (3000 * 4000 + 3000 * 2250)
    assert decode_memory(4000, 3000, "RGBA", {}, 3000) == plain + 4000 * 3000 * 9
    assert decode_memory(2000, 1500, "RGB", {}, 3000) == 2000 * 1500 * 4        # no resize below the print cap
    assert decode_memory(7000, 7000, "RGBA", {}, 3000) > DECODE_MEMORY_BOUND       # refused
    assert decode_memory(5472, 3648, "RGB", {}, 3000) + 5472 * 3648 * 4 < DECODE_MEMORY_BOUND   # 20 MP Adobe RGB
    assert decode_memory(4096, 4096, "RGBA", {}, 3000) < DECODE_MEMORY_BOUND      # a transparent 4k upscale
