"""Measure what one picture costs to decode: the hostile decode-memory files and real photos at the
product's size limits, each decoded by ``analyse_image`` in a fresh process (issue 12).

    python -m book_assets_dev.decode_memory make DIR     # write the files
    python -m book_assets_dev.decode_memory measure FILE # print {"verdict", "growth_bytes", ...} as JSON

The growth is the process's peak resident memory (VmHWM) after decoding minus before it, counted
after the interpreter, the libraries and the file's bytes are loaded, so it is the decode's own.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

# Decoded in a fresh process, file name -> the verdict the bound must give it.
FILES = {
    "zlib_bomb.png": "accepted",                 # 0.14 MB inflating to 7000 x 7000 RGB: decoded within the bound
    "zlib_bomb_rgba.png": "over_memory_bound",   # 0.2 MB inflating to 7000 x 7000 RGBA: refused
    "many_chunks.png": "over_memory_bound",      # 36 MB of 3 million empty chunks
    "photo_60mp.jpg": "accepted",                # the pixel cap, decoded reduced
    "photo_4000x3000.jpg": "accepted",
    "photo_3000x3000.png": "accepted",
}


def _photo(width: int, height: int):
    """A photo-like picture: a drawn subject blown up, with sensor-like noise so it compresses honestly."""
    import numpy as np
    from PIL import Image

    from .samples import draw_subject

    base = draw_subject("monster", 600, seed=3).convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    noise = np.random.default_rng(7).integers(-6, 7, size=(height, width, 1), dtype=np.int16)
    return Image.fromarray(np.clip(np.asarray(base, dtype=np.int16) + noise, 0, 255).astype(np.uint8))


def make(folder: Path) -> None:
    from .hostile import png_of_many_chunks, png_zlib_bomb

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zlib_bomb.png").write_bytes(png_zlib_bomb(7000, 7000))
    (folder / "zlib_bomb_rgba.png").write_bytes(png_zlib_bomb(7000, 7000, alpha=True))
    (folder / "many_chunks.png").write_bytes(png_of_many_chunks(3_000_000))
    _photo(9000, 6666).save(folder / "photo_60mp.jpg", quality=85)
    _photo(4000, 3000).save(folder / "photo_4000x3000.jpg", quality=90)
    _photo(3000, 3000).save(folder / "photo_3000x3000.png", compress_level=1)


def _peak_resident() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(path: Path) -> dict:
    from book_assets.core.imaging import ImageRejected, analyse_image

    data = path.read_bytes()
    before = _peak_resident()
    try:
        analysed = analyse_image(data)
        verdict = "accepted"
        size = [analysed.features.width, analysed.features.height]
    except ImageRejected as rejected:
        verdict, size = rejected.code, None
    return {"file": path.name, "bytes": len(data), "verdict": verdict, "size": size,
            "growth_bytes": _peak_resident() - before}


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "make":
        make(Path(argv[1]))
        return 0
    if len(argv) == 2 and argv[0] == "measure":
        print(json.dumps(measure(Path(argv[1]))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
