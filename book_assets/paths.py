"""Where ``book-assets`` keeps its local bucket and Dagster instance when nothing says otherwise.

A source checkout (a clone, installed editable) keeps them in the project, as the README's commands
expect: ``local_bucket/`` and ``.dagster_home/``. An installed package must never write beside its
own files in site-packages, so it uses the per-user data directory instead:
``$XDG_DATA_HOME/book_assets/`` (``~/.local/share/book_assets/`` when XDG_DATA_HOME is unset).
``BOOK_BUCKET`` and ``DAGSTER_HOME`` override both.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_NAME = "book_assets"
PACKAGE_DIR = Path(__file__).resolve().parent
# The repo's dagster.yaml, shipped as package data so an installed package has it too (a test keeps
# the two files identical).
INSTANCE_DEFAULTS = PACKAGE_DIR / "instance_defaults.yaml"
INSTALL_DIRS = frozenset({"site-packages", "dist-packages"})


@lru_cache
def source_checkout(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The project root when ``package_dir`` is the package of a source checkout — its parent holds a
    pyproject.toml naming this project and it is not under site-packages — else None (installed)."""
    if INSTALL_DIRS.intersection(package_dir.parts):
        return None
    root = package_dir.parent
    try:
        with open(root / "pyproject.toml", "rb") as handle:
            name = tomllib.load(handle).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return root if name == PROJECT_NAME else None


def user_data_dir() -> Path:
    """``$XDG_DATA_HOME/book_assets``; the XDG default ``~/.local/share`` when it is unset, empty or
    relative (the specification says to ignore a relative one)."""
    base = os.environ.get("XDG_DATA_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share") / PROJECT_NAME


@dataclass(frozen=True)
class DefaultPaths:
    local_bucket: Path
    dagster_home: Path
    project_root: Path | None       # None: an installed package

    def describe(self) -> str:
        """One line for ``book-assets doctor``: why the defaults are where they are."""
        if self.project_root is not None:
            return f"source checkout {self.project_root}: local_bucket/ and .dagster_home/ in the project"
        return (f"installed package: local_bucket/ and dagster_home/ in {self.local_bucket.parent} "
                "($XDG_DATA_HOME/book_assets), never inside site-packages")


def default_paths(package_dir: Path = PACKAGE_DIR) -> DefaultPaths:
    """The default bucket folder and DAGSTER_HOME for the package at ``package_dir`` (read at call time,
    so XDG_DATA_HOME and HOME are honoured as they are now)."""
    root = source_checkout(package_dir)
    if root is not None:
        return DefaultPaths(root / "local_bucket", root / ".dagster_home", root)
    data = user_data_dir()
    return DefaultPaths(data / "local_bucket", data / "dagster_home", None)
