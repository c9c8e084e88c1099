"""Loading a registry: the module or ``.py`` file that declares ``migrations`` (and,
optionally, ``CURRENT_PROFILE_VERSION`` and ``schemas``), validated into a chain.

Importing user code can fail in any way, ``exit()`` included: every failure becomes
:class:`RegistryLoadError` (bad input, nothing written), never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from profile_migrations.errors import NoMigrationPathError, RegistryLoadError
from profile_migrations.registry import MigrationChain

if TYPE_CHECKING:
    from types import ModuleType

# CICADA's chain: what every command loads when given no registry.
DEFAULT_REGISTRY = "profile_migrations.migrations"


@dataclass(frozen=True)
class Registry:
    """A loaded registry: its chain and the version runs target by default."""

    chain: MigrationChain
    current_version: int
    source: str


def registry_from_module(module: ModuleType, source: str) -> Registry:
    steps = getattr(module, "migrations", None)
    if steps is None or isinstance(steps, (str, bytes)) or not isinstance(steps, Iterable):
        raise RegistryLoadError(f"{source} does not expose a `migrations` list")
    chain = MigrationChain(steps, getattr(module, "schemas", None))
    current = getattr(module, "CURRENT_PROFILE_VERSION", chain.head)
    if isinstance(current, bool) or not isinstance(current, (int, Decimal)):
        raise RegistryLoadError(f"{source}: CURRENT_PROFILE_VERSION must be an integer")
    current_version = int(current)
    try:
        chain.check_target(current_version)
    except NoMigrationPathError as exc:
        raise RegistryLoadError(f"{source}: CURRENT_PROFILE_VERSION {exc}") from exc
    return Registry(chain=chain, current_version=current_version, source=source)


def load_registry(reference: str | None = None) -> Registry:
    """Load a registry from a dotted module path or a ``.py`` file (default: CICADA's)."""
    if reference is None:
        reference = DEFAULT_REGISTRY
    try:
        if reference.endswith(".py") or Path(reference).is_file():
            module = _import_file(Path(reference))
        else:
            module = importlib.import_module(reference)
    except RegistryLoadError:
        raise
    except (Exception, SystemExit) as exc:
        # SystemExit too: a registry file calling exit() must not end the CLI with status 0.
        raise RegistryLoadError(
            f"cannot import migrations from {reference!r}: {type(exc).__name__}: {exc}"
        ) from exc
    return registry_from_module(module, reference)


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise RegistryLoadError(f"migrations file {str(path)!r} does not exist")
    module_name = f"_profile_migrations_user_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RegistryLoadError(f"cannot load {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit):
        sys.modules.pop(module_name, None)
        raise
    return module
