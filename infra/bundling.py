"""The Lambda code asset, bundled on this machine without Docker.

Dependencies are installed with pip as binary wheels for the Lambda platform (CPython 3.13
on arm64), whatever Python or CPU runs ``cdk synth``. The install is cached under
``.bundle-cache/`` by a hash of the requirements file and pip's platform arguments, so only
the first synth after a change of requirements downloads anything.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk.aws_lambda import Code

from infra import FUNCTIONS_DIR, PROJECT_ROOT

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger(__name__)

PACKAGE_NAME = "profile_migrations"
REQUIREMENTS_FILE = FUNCTIONS_DIR / "requirements-lambda.txt"
CACHE_DIR = PROJECT_ROOT / ".bundle-cache"
# Subpackages of the local CLI (they import `rich`, which the Lambda bundle does not have).
LOCAL_ONLY_SUBPACKAGES = frozenset({"cli", "devtools"})
IGNORED_NAMES = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache"})
IGNORED_SUFFIXES = (".pyc", ".pyo")

# The Lambda platform the wheels are chosen for; must match the functions' runtime and
# architecture (MigrationFunctions.RUNTIME / ARCHITECTURE).
LAMBDA_PLATFORM = "manylinux2014_aarch64"
LAMBDA_PYTHON_VERSION = "3.13"
LAMBDA_IMPLEMENTATION = "cp"
# Never pulled: local bundling always succeeds or raises. CDK requires an image anyway.
BUNDLING_IMAGE = "public.ecr.aws/sam/build-python3.13"
# Bump to invalidate every cached install (e.g. after changing how pip is called).
CACHE_FORMAT = "1"


def pip_install_arguments(requirements: Path, target: Path) -> list[str]:
    """The pip command that installs the requirements for the Lambda platform into target.

    Binary wheels only (``--only-binary=:all:``), so nothing is compiled for the build
    machine; ``--no-compile`` because byte code compiled by the synth's Python would not be
    used by Lambda's Python 3.13.
    """
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--requirement",
        str(requirements),
        "--platform",
        LAMBDA_PLATFORM,
        "--only-binary=:all:",
        "--python-version",
        LAMBDA_PYTHON_VERSION,
        "--implementation",
        LAMBDA_IMPLEMENTATION,
        "--target",
        str(target),
        "--no-compile",
        "--disable-pip-version-check",
        "--quiet",
    ]


@jsii.implements(ILocalBundling)
class PipLocalBundler:
    """Bundles the Lambda package and its pinned dependencies into CDK's output directory.

    Deterministic: the same requirements and sources give the same files, so the asset's
    output hash (and the uploaded zip) only changes when the code or a pin changes. Raises
    instead of returning False when pip fails, because the Docker fallback is not
    configured.
    """

    def __init__(
        self,
        requirements: Path = REQUIREMENTS_FILE,
        package_dir: Path = FUNCTIONS_DIR / PACKAGE_NAME,
        cache_dir: Path = CACHE_DIR,
    ) -> None:
        self._requirements = requirements
        self._package_dir = package_dir
        self._cache_dir = cache_dir

    def try_bundle(self, output_dir: str, *, image: DockerImage, **options: Any) -> bool:
        """Fill output_dir with the dependencies and the package; True when done.

        The Docker options CDK passes along (image, command, ...) do not apply here.
        """
        output = Path(output_dir)
        shutil.copytree(self.dependencies_dir(), output, dirs_exist_ok=True)
        shutil.copytree(
            self._package_dir,
            output / self._package_dir.name,
            ignore=self._ignore_sources,
            dirs_exist_ok=True,
        )
        _make_world_readable(output)
        return True

    def cache_key(self) -> str:
        """Hash of everything that decides the installed files: the pins and pip's target."""
        digest = hashlib.sha256()
        digest.update(self._requirements.read_bytes())
        for part in (CACHE_FORMAT, LAMBDA_PLATFORM, LAMBDA_PYTHON_VERSION, LAMBDA_IMPLEMENTATION):
            digest.update(b"\0" + part.encode())
        return digest.hexdigest()[:32]

    def dependencies_dir(self) -> Path:
        """The cached install for the current requirements, installing it on a cache miss.

        The install goes to a temporary directory renamed into place when complete, so an
        interrupted pip never leaves a partial cache entry behind.
        """
        cached = self._cache_dir / f"deps-{self.cache_key()}"
        if cached.is_dir():
            return cached
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="installing-", dir=self._cache_dir))
        try:
            logger.info("installing Lambda dependencies", extra={"target": str(cached)})
            subprocess.run(pip_install_arguments(self._requirements, staging), check=True)
            # Console scripts point at the synth machine's interpreter; Lambda has no use
            # for them.
            shutil.rmtree(staging / "bin", ignore_errors=True)
            staging.replace(cached)
        except OSError:
            if not cached.is_dir():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return cached

    def _ignore_sources(self, directory: str, names: Sequence[str]) -> set[str]:
        ignored = {
            name for name in names if name in IGNORED_NAMES or name.endswith(IGNORED_SUFFIXES)
        }
        if Path(directory) == self._package_dir:
            ignored.update(LOCAL_ONLY_SUBPACKAGES.intersection(names))
        return ignored


def _make_world_readable(root: Path) -> None:
    """Directories 755, files 644 (755 if executable): the zip keeps these modes, and
    Lambda runs the code as a user that does not own the files, whatever the umask or
    temporary-directory modes on the synth machine were."""
    root.chmod(0o755)
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories:
            Path(directory, name).chmod(0o755)
        for name in files:
            path = Path(directory, name)
            if not path.is_symlink():
                path.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)


def lambda_code(bundler: PipLocalBundler | None = None) -> Code:
    """The one code asset every function of the pipeline runs from.

    Hashed by its output, so a change to the bundler itself also produces a new asset.
    """
    return Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            image=DockerImage.from_registry(BUNDLING_IMAGE),
            local=bundler or PipLocalBundler(),
        ),
    )
