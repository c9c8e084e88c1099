"""The bundled Lambda code: Linux arm64 CPython 3.13 wheels plus the package, no CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.cdk_synth import HANDLERS

if TYPE_CHECKING:
    from pathlib import Path

    from tests.cdk_synth import Synthesized


@pytest.fixture(scope="module")
def asset(synthesized: Synthesized) -> Path:
    directories = {synthesized.asset_dir(name) for name in HANDLERS}
    assert len(directories) == 1, "the five functions should share one code asset"
    (directory,) = directories
    assert directory.is_dir(), f"asset not staged at {directory}"
    return directory


def test_pydantic_core_is_the_linux_arm64_cpython_313_build(asset: Path) -> None:
    compiled = sorted(path.name for path in (asset / "pydantic_core").glob("*.so"))

    assert compiled == ["_pydantic_core.cpython-313-aarch64-linux-gnu.so"]


def test_every_pinned_dependency_is_bundled(asset: Path) -> None:
    for package in ("aws_lambda_powertools", "pydantic", "boto3", "botocore", "jmespath"):
        assert (asset / package / "__init__.py").is_file(), package
    assert (asset / "aws_lambda_powertools-3.37.0.dist-info").is_dir()


def test_the_package_is_bundled_without_local_only_code(asset: Path) -> None:
    package = asset / "profile_migrations"

    assert (package / "__init__.py").is_file()
    assert (package / "environment.py").is_file()
    assert not (package / "cli").exists()
    assert not (package / "devtools").exists()
    assert list(asset.rglob("__pycache__")) == []
    assert list(asset.rglob("*.pyc")) == []


def test_nothing_for_the_local_cli_is_bundled(asset: Path) -> None:
    assert not (asset / "rich").exists()
    assert not (asset / "bin").exists()


def test_files_are_readable_by_the_lambda_user(asset: Path) -> None:
    paths = [asset, *asset.rglob("*")]

    assert [p for p in paths if p.stat().st_mode & 0o444 != 0o444] == []
    assert [p for p in paths if p.is_dir() and p.stat().st_mode & 0o111 != 0o111] == []


def test_every_handler_is_bundled_and_defined(asset: Path) -> None:
    for handler in HANDLERS.values():
        module, _, function = handler.rpartition(".")
        source = asset / (module.replace(".", "/") + ".py")
        assert source.is_file(), module
        assert f"\ndef {function}(" in source.read_text(), handler
