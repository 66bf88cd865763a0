"""Default paths (``book_assets.paths``) and what the wheel ships: a source checkout keeps the bucket
and the instance in the project, an installed package in the per-user data directory, never inside
site-packages; the product package carries its data files and none of the dev tooling."""
from __future__ import annotations

import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from book_assets import cli, paths
from book_assets.defs.resources import bucket_setting

PROJECT = Path(__file__).resolve().parent.parent
DEV_MODULES = {p.stem for p in (PROJECT / "book_assets_dev").glob("*.py")} - {"__init__", "cli"}


def _package(root: Path, project_name: str | None = "book_assets") -> Path:
    """A fake ``book_assets`` package folder under ``root``, beside a pyproject.toml naming ``project_name``."""
    package = root / "book_assets"
    package.mkdir(parents=True)
    if project_name:
        (root / "pyproject.toml").write_text(f'[project]\nname = "{project_name}"\n')
    return package


@pytest.fixture
def xdg(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return tmp_path / "xdg-data" / "book_assets"


@pytest.fixture
def installed(monkeypatch, xdg) -> Path:
    """This process as an installed package sees itself: no source checkout around it."""
    monkeypatch.setattr(paths, "source_checkout", lambda package_dir=paths.PACKAGE_DIR: None)
    return xdg


def test_a_source_checkout_keeps_the_bucket_and_instance_in_the_project(tmp_path):
    defaults = paths.default_paths()
    assert (defaults.project_root, defaults.local_bucket, defaults.dagster_home) == (
        PROJECT, PROJECT / "local_bucket", PROJECT / ".dagster_home")
    clone = tmp_path / "clone"
    assert paths.default_paths(_package(clone)).local_bucket == clone / "local_bucket"


def test_an_installed_package_uses_the_user_data_directory(tmp_path, xdg):
    # under site-packages even beside a pyproject.toml that names the project: installed, not a checkout
    package = _package(tmp_path / "venv" / "lib" / "python3.11" / "site-packages")
    defaults = paths.default_paths(package)
    assert (defaults.project_root, defaults.local_bucket, defaults.dagster_home) == (
        None, xdg / "local_bucket", xdg / "dagster_home")
    assert defaults.describe().startswith(f"installed package: local_bucket/ and dagster_home/ in {xdg} ")
    assert paths.default_paths(_package(tmp_path / "usr" / "lib" / "python3" / "dist-packages")) == defaults


@pytest.mark.parametrize("project_name", [None, "another_project"])
def test_a_folder_without_this_projects_pyproject_is_no_checkout(tmp_path, xdg, project_name):
    assert paths.default_paths(_package(tmp_path / "opt" / "app", project_name)).local_bucket == xdg / "local_bucket"


@pytest.mark.parametrize("setting", [None, "", "relative/data"])
def test_without_a_usable_xdg_data_home_the_default_is_local_share(tmp_path, monkeypatch, setting):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if setting is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", setting)
    assert paths.user_data_dir() == tmp_path / "home" / ".local" / "share" / "book_assets"


def test_an_installed_package_keeps_bucket_and_instance_in_the_user_data_directory(installed, monkeypatch):
    monkeypatch.delenv("BOOK_BUCKET", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", "restored after the test")
    monkeypatch.delenv("DAGSTER_HOME")
    assert bucket_setting() == str(installed / "local_bucket")
    out = io.StringIO()
    assert cli.doctor(out=out) == 1                     # a fresh install: no bucket folder yet, and doctor says so
    assert "FAIL  bucket reachable" in out.getvalue() and f"{installed / 'local_bucket'} is not a folder" in out.getvalue()
    (installed / "local_bucket").mkdir()
    out = io.StringIO()
    assert cli.doctor(out=out) == 0
    home = (installed / "dagster_home").resolve()
    assert (home / "dagster.yaml").read_bytes() == paths.INSTANCE_DEFAULTS.read_bytes()
    assert f"DAGSTER_HOME  {home}\n" in out.getvalue()
    assert f"defaults      installed package: local_bucket/ and dagster_home/ in {installed} " in out.getvalue()


def test_refitting_the_look_model_refuses_to_write_into_an_installed_package(installed):
    from book_assets_dev.pairing_fit import run_fit

    out = io.StringIO()
    assert run_fit(write=True, out=out) == 2
    assert "run it from a clone" in out.getvalue()


def test_the_instance_defaults_are_the_repos_dagster_yaml():
    """One file, twice: the package data an installed package copies into DAGSTER_HOME is dagster.yaml."""
    assert paths.INSTANCE_DEFAULTS.read_bytes() == (PROJECT / "dagster.yaml").read_bytes()


def test_the_wheel_ships_the_product_with_its_data_and_keeps_the_dev_tooling_out_of_it(tmp_path):
    source = tmp_path / "source"        # a copy: the build's egg-info and build/ stay out of the work tree
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT / name, source / name)
    for package in ("book_assets", "book_assets_dev", "book_assets_tests"):
        shutil.copytree(PROJECT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    # With build isolation, as a real build: pyproject asks for setuptools>=69, and an older setuptools
    # in the venv cannot build a wheel by itself (65.x needs the `wheel` package). pip takes the build
    # backend from the configured index, as `make install` does; no dependency is fetched (--no-deps).
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"),
                            str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("book_assets-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert {"book_assets/core/look_model.json", "book_assets/instance_defaults.yaml", "book_assets/cli.py"} <= set(names)
    product = [n for n in names if n.startswith("book_assets/")]
    assert DEV_MODULES and not [n for n in product if "book_assets_dev" in n or Path(n).stem in DEV_MODULES]
    assert not [n for n in names if n.startswith("book_assets_tests/")]
