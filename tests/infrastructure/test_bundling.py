"""The local bundler's own guarantees, without running pip."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.bundling import (
    LAMBDA_IMPLEMENTATION,
    LAMBDA_PLATFORM,
    LAMBDA_PYTHON_VERSION,
    PipLocalBundler,
    pip_install_arguments,
)
from infra.constructs.migration_functions import MigrationFunctions
from infra.nag import flatten_cfn_reference

if TYPE_CHECKING:
    from pathlib import Path


def make_package(root: Path) -> Path:
    package = root / "profile_migrations"
    for relative in (
        "__init__.py",
        "handlers/plan.py",
        "handlers/__pycache__/plan.cpython-311.pyc",
        "cli/main.py",
        "devtools/demo.py",
        "logic/cli/kept.py",
    ):
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text("")
    return package


def test_bundle_copies_the_package_without_caches_or_local_only_subpackages(
    tmp_path: Path,
) -> None:
    package = make_package(tmp_path / "src")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.17.0\n")
    bundler = PipLocalBundler(requirements, package, tmp_path / "cache")
    (tmp_path / "cache" / f"deps-{bundler.cache_key()}" / "six.py").parent.mkdir(parents=True)
    (tmp_path / "cache" / f"deps-{bundler.cache_key()}" / "six.py").write_text("")
    output = tmp_path / "out"
    output.mkdir()

    assert bundler.try_bundle(str(output), image=None) is True  # type: ignore[arg-type]

    bundled = sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file())
    assert bundled == [
        "profile_migrations/__init__.py",
        "profile_migrations/handlers/plan.py",
        "profile_migrations/logic/cli/kept.py",
        "six.py",
    ]


def test_cache_key_follows_the_requirements(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.17.0\n")
    bundler = PipLocalBundler(requirements, tmp_path, tmp_path / "cache")
    first = bundler.cache_key()

    requirements.write_text("six==1.16.0\n")

    assert bundler.cache_key() != first


def test_pip_targets_the_functions_runtime_and_architecture(tmp_path: Path) -> None:
    arguments = pip_install_arguments(tmp_path / "r.txt", tmp_path / "t")

    assert arguments[1:4] == ["-m", "pip", "install"]
    assert "--only-binary=:all:" in arguments
    for flag, value in (
        ("--platform", LAMBDA_PLATFORM),
        ("--python-version", LAMBDA_PYTHON_VERSION),
        ("--implementation", LAMBDA_IMPLEMENTATION),
        ("--target", str(tmp_path / "t")),
    ):
        assert arguments[arguments.index(flag) + 1] == value
    assert MigrationFunctions.RUNTIME.name == f"python{LAMBDA_PYTHON_VERSION}"
    assert MigrationFunctions.ARCHITECTURE.name == "arm64"
    assert LAMBDA_PLATFORM.endswith("_aarch64")


def test_nag_finding_ids_render_like_cdk_nag() -> None:
    reference = {
        "Fn::Join": [
            "",
            [
                {"Fn::GetAtt": ["Bucket1234", "Arn"]},
                "/runs/*:",
                {"Ref": "AWS::Region"},
                {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": "Machine"}]}]},
            ],
        ]
    }

    assert flatten_cfn_reference(reference) == (
        '<Bucket1234.Arn>/runs/*:<AWS::Region>{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"Machine"}]}]}'
    )
