"""What each object in a book folder is for, decided from its place in the folder.

``drawings/…`` are the children's drawings, ``generated/…`` their variations, ``book.toml`` the
book's settings and ``pairs.csv`` a reviewer's pairing overrides. Anything else is kept in the
inventory with a plain reason, so nothing in the bucket is ever silently dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What an object in a book folder is for; the value is the code shown in tables."""

    DRAWING = "drawing"          # drawings/…: a child's drawing, one spread each
    GENERATED = "generated"      # generated/…: an AI variation of one of the drawings
    CONFIG = "config"            # book.toml: the book's settings
    OVERRIDES = "overrides"      # pairs.csv: a reviewer's pairing corrections
    OTHER = "other"              # anything else: reported with a reason, never used


IMAGE_ROLES = (Role.DRAWING, Role.GENERATED)
CONFIG_FILES = {"book.toml": Role.CONFIG, "pairs.csv": Role.OVERRIDES}
SYSTEM_FILE_NAMES = {".ds_store", "thumbs.db", "desktop.ini", ".localized", "icon\r"}


@dataclass(frozen=True)
class Placement:
    role: Role
    reason: str = ""      # stable code for role OTHER
    message: str = ""     # plain sentence for role OTHER


def unreadable_object(relative_path: str, *, symlink: bool = False, unsafe_name: bool = False) -> Placement | None:
    """Objects the pipeline must not open, with the reason a person reads; None for ordinary files."""
    if symlink:
        return Placement(Role.OTHER, "symlink",
                         f"'{relative_path}' is a link to another file, not a file itself; links are never "
                         "followed. Copy the picture itself into the folder.")
    if unsafe_name:
        return Placement(Role.OTHER, "unsafe_name",
                         f"The name {relative_path!r} has characters the book cannot use safely (a backslash, "
                         "a control character, a '.'/'..' part, or bytes that are not UTF-8 text, shown as "
                         "\\xNN). Rename the file and upload it again.")
    return None


def classify(relative_path: str) -> Placement:
    """Role of an object from its path relative to ``books/<book_id>/``."""
    name = relative_path.rsplit("/", 1)[-1]
    if name.lower() in SYSTEM_FILE_NAMES or name.startswith("._"):
        return Placement(Role.OTHER, "system_file",
                         f"'{name}' is a file your computer made automatically; it is not part of the book.")
    if relative_path in CONFIG_FILES:
        return Placement(CONFIG_FILES[relative_path])
    top = relative_path.split("/", 1)[0]
    if top == "drawings" and "/" in relative_path:
        return Placement(Role.DRAWING)
    if top == "generated" and "/" in relative_path:
        return Placement(Role.GENERATED)
    return Placement(Role.OTHER, "unexpected_location",
                     f"'{relative_path}' is not inside drawings/ or generated/, so the book does not know "
                     "whether it is a drawing or a variation. Move it into one of those folders.")
