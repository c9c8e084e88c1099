"""`profile-migrate new`: the next step appended to a registry file, as Alembic's
``revision`` does, by editing the file's source where :mod:`ast` locates it.

What it expects of the file (anything else is refused, and nothing is changed): one
module-level assignment of ``migrations`` to a list literal of ``ProfileMigration(...)``
calls holding the whole chain, nothing else binding or extending ``migrations`` at module
level, and, if ``CURRENT_PROFILE_VERSION`` is there, one assignment of a whole number.

What it writes: a step function marked ``@ProfileMigration.not_written`` (it refuses every
profile until written) just above ``migrations``, its entry at the end of the list,
``CURRENT_PROFILE_VERSION`` bumped, and a test file with a failing test. The edited file
is loaded before it replaces the original; the test file is created, never overwritten.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import keyword
import os
import re
import shutil
import sys
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from profile_migrations.errors import InvalidRequestError, RegistryEditError, RegistryLoadError
from profile_migrations.loader import DEFAULT_REGISTRY, load_registry, registry_from_module

if TYPE_CHECKING:
    from profile_migrations.loader import Registry

MIGRATIONS_NAME = "migrations"
CURRENT_NAME = "CURRENT_PROFILE_VERSION"
STEP_CLASS = "ProfileMigration"
PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")
MAX_FUNCTION_NAME = 48


@dataclass(frozen=True)
class NewStep:
    """What :func:`add_step` did: the step ``from_version`` -> ``to_version`` added to
    ``registry`` as ``function``, and the test file created for it."""

    registry: Path
    test_file: Path
    from_version: int
    to_version: int
    description: str
    function: str


def registry_file(reference: str | None) -> Path:
    """The file of a registry given as a ``.py`` path or a dotted module (default:
    CICADA's, ``profile_migrations/migrations.py``). Raises :class:`RegistryLoadError` when
    there is no such file."""
    reference = reference or DEFAULT_REGISTRY
    if reference.endswith(".py") or Path(reference).is_file():
        path = Path(reference)
    else:
        try:
            spec = importlib.util.find_spec(reference)
        except (ImportError, ValueError) as exc:
            raise RegistryLoadError(f"cannot find module {reference!r}: {exc}") from exc
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            raise RegistryLoadError(f"module {reference!r} is not a .py file this can edit")
        path = Path(spec.origin)
    if not path.is_file():
        raise RegistryLoadError(f"migrations file {str(path)!r} does not exist")
    return path


def step_test_file(registry: Path, from_version: int, to_version: int) -> Path:
    """Where the step's test goes: in the project holding the registry (the nearest
    directory up to the one with ``pyproject.toml``, ``setup.cfg``, ``setup.py`` or
    ``.git``), its ``tests/unit/`` if there is one, else its ``tests/``; without such a
    project, or a ``tests`` directory in it, next to the registry file. Named
    ``test_<registry>_<from>_to_<to>.py``."""
    name = f"test_{registry.stem}_{from_version}_to_{to_version}.py"
    folder = registry.resolve().parent
    chain = [folder, *folder.parents]
    root = next(
        (d for d in chain if any((d / marker).exists() for marker in PROJECT_MARKERS)), None
    )
    if root is not None:
        for directory in chain[: chain.index(root) + 1]:
            tests = directory / "tests"
            if tests.is_dir():
                unit = tests / "unit"
                return (unit if unit.is_dir() else tests) / name
    return registry.parent / name


def add_step(description: str, reference: str | None = None) -> NewStep:
    """Append the step from the registry's highest version to the next one, bump its
    ``CURRENT_PROFILE_VERSION`` and create the step's test file.

    Raises, with nothing changed: :class:`InvalidRequestError` for an empty description;
    :class:`RegistryLoadError` (or another :class:`InvalidRegistryError`) when the
    registry does not load; :class:`RegistryEditError` when its file is not the structure
    described in the module docstring, the edited file would not load as the new chain,
    or the test file exists."""
    text = " ".join(description.split())
    if not text:
        raise InvalidRequestError("the step's description is empty")
    path = registry_file(reference).resolve()
    if not os.access(path, os.W_OK):
        raise RegistryEditError(f"{str(path)!r} is not writable; nothing was changed")
    registry = load_registry(reference or DEFAULT_REGISTRY)
    source = _read(path)
    from_version = registry.chain.head
    to_version = from_version + 1
    test_file = step_test_file(path, from_version, to_version)
    if test_file.exists():
        raise RegistryEditError(
            f"the test file {str(test_file)!r} exists already; nothing was changed"
        )
    edit = _SourceEdit(source, path, registry)
    function = edit.function_name(text, from_version, to_version)
    edited = edit.apply(function, text, from_version, to_version, test_file.name)
    _check_edited(edited, path, registry, to_version)
    test_source = _test_source(path, reference, test_file, function, from_version, to_version)
    _replace(path, edited)
    try:
        with test_file.open("x", encoding="utf-8") as handle:
            handle.write(test_source)
    except OSError as exc:
        _replace(path, source)
        raise RegistryEditError(
            f"cannot create the test file {str(test_file)!r} ({exc}); the registry was "
            "restored, nothing was changed"
        ) from exc
    return NewStep(path, test_file, from_version, to_version, text, function)


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryEditError(f"cannot read {str(path)!r} as UTF-8 source: {exc}") from exc


class _SourceEdit:
    """The registry file's source and where :mod:`ast` says the new pieces go."""

    def __init__(self, source: str, path: Path, registry: Registry) -> None:
        self.source = source
        self.path = path
        self.newline = "\r\n" if "\r\n" in source else "\n"
        try:
            self.tree = ast.parse(source, filename=str(path))
        except SyntaxError as exc:
            raise RegistryEditError(f"{str(path)!r} does not parse: {exc}") from exc
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.assignment, self.entries = self._migrations_list(len(registry.chain.steps))
        self.current = self._current_version(registry.current_version)
        self.bound = _bound_names(self.tree)

    def refuse(self, reason: str) -> RegistryEditError:
        return RegistryEditError(
            f"cannot edit {str(self.path)!r} safely: {reason}; nothing was changed "
            "(add the step by hand, see README: Adding a migration)"
        )

    def offset(self, line: int, column: int) -> int:
        """The source offset of an :mod:`ast` position (its column counts UTF-8 bytes)."""
        text = self.lines[line - 1]
        return self.starts[line - 1] + len(text.encode()[:column].decode())

    def _migrations_list(self, steps: int) -> tuple[ast.stmt, ast.List]:
        bindings = _module_bindings(self.tree, MIGRATIONS_NAME)
        if len(bindings) != 1 or _stores_anywhere(self.tree, MIGRATIONS_NAME) != 1:
            raise self.refuse("`migrations` must be bound exactly once, at module level")
        statement = bindings[0]
        value = statement.value
        if not isinstance(value, ast.List):
            raise self.refuse("`migrations` is not a list literal")
        if _extended(self.tree, MIGRATIONS_NAME):
            raise self.refuse("`migrations` is changed after its assignment")
        for entry in value.elts:
            if not (isinstance(entry, ast.Call) and _callee(entry.func) == STEP_CLASS):
                raise self.refuse(f"an entry of `migrations` is not a {STEP_CLASS}(...) call")
        if len(value.elts) != steps:
            raise self.refuse(
                f"the `migrations` list holds {len(value.elts)} entries and the chain {steps} steps"
            )
        return statement, value

    def _current_version(self, current: int) -> ast.Constant | None:
        if _stores_anywhere(self.tree, CURRENT_NAME) == 0:
            return None
        bindings = _module_bindings(self.tree, CURRENT_NAME)
        if len(bindings) != 1 or _stores_anywhere(self.tree, CURRENT_NAME) != 1:
            raise self.refuse(f"`{CURRENT_NAME}` must be bound exactly once, at module level")
        value = bindings[0].value
        if not (
            isinstance(value, ast.Constant) and type(value.value) is int and value.value == current
        ):
            raise self.refuse(f"`{CURRENT_NAME}` is not a whole number written as one")
        return value

    def function_name(self, description: str, from_version: int, to_version: int) -> str:
        """A snake_case name from the description, as CICADA's steps are named (else
        ``migrate_<from>_to_<to>``), not taken in the module."""
        words = re.sub(r"[^0-9a-zA-Z]+", " ", description).lower().split()
        name = ""
        for word in words:
            if len(name) + len(word) + 1 > MAX_FUNCTION_NAME:
                break
            name = f"{name}_{word}" if name else word
        fallback = f"migrate_{from_version}_to_{to_version}"
        if not name or not name.isidentifier() or keyword.iskeyword(name) or name[0].isdigit():
            name = fallback
        for candidate in (name, f"{name}_{from_version}_to_{to_version}", fallback):
            if candidate not in self.bound:
                return candidate
        raise self.refuse(f"the names {name} and {fallback} are both taken")

    def apply(
        self, function: str, description: str, from_version: int, to_version: int, test: str
    ) -> str:
        """The source with the step function, its entry and the bumped version."""
        first = self.entries.elts[0]
        assert isinstance(first, ast.Call)
        callee = ast.get_source_segment(self.source, first.func) or STEP_CLASS
        edits = [
            self._function_edit(callee, function, to_version, test),
            *self._entry_edits(callee, first, function, description, from_version, to_version),
        ]
        if self.current is not None:
            start = self.offset(self.current.lineno, self.current.col_offset)
            end = self.offset(self.current.end_lineno or 0, self.current.end_col_offset or 0)
            edits.append((start, end, str(to_version)))
        edited = self.source
        for start, end, text in sorted(edits, key=lambda edit: edit[0], reverse=True):
            edited = edited[:start] + text.replace("\n", self.newline) + edited[end:]
        return edited

    def _annotation(self) -> str:
        if "Profile" in self.bound:
            return "Profile"
        return "dict[str, Any]" if "Any" in self.bound else "dict[str, object]"

    def _function_edit(
        self, callee: str, function: str, to_version: int, test: str
    ) -> tuple[int, int, str]:
        """The step function, just above ``migrations`` (and the comments right above it),
        with two blank lines on each side."""
        line = self.assignment.lineno
        while line > 1 and self.lines[line - 2].lstrip().startswith("#"):
            line -= 1
        blank_above = 0
        while line - blank_above > 1 and not self.lines[line - blank_above - 2].strip():
            blank_above += 1
        annotation = self._annotation()
        text = (
            "\n" * max(0, 2 - blank_above)
            + f"@{callee}.not_written\n"
            + f"def {function}(profile: {annotation}) -> {annotation}:\n"
            + f'    """{to_version - 1}->{to_version}: return the profile at version '
            + f"{to_version}.\n\n"
            + "    Keys left out of the returned profile are removed from the stored item; the\n"
            + "    framework sets ``version``. Write the step, then remove the decorator above\n"
            + f"    and complete the step's test:\n    {test}\n"
            + '    """\n'
            + "    return profile\n\n\n"
        )
        position = self.starts[line - 1]
        return position, position, text

    def _entry_edits(
        self,
        callee: str,
        first: ast.Call,
        function: str,
        description: str,
        from_version: int,
        to_version: int,
    ) -> list[tuple[int, int, str]]:
        """The new entry at the end of the list: on its own lines in a list written one
        entry a line (keywords when the first entry uses them), else inline."""
        listing, last = self.entries, self.entries.elts[-1]
        # Characters as they are: JSON's ASCII escape of one outside the BMP reads in Python
        # as two lone surrogates, which cannot be printed.
        quoted = json.dumps(description, ensure_ascii=False)
        after_last = self.offset(last.end_lineno or 0, last.end_col_offset or 0)
        closing = self.offset(listing.end_lineno or 0, (listing.end_col_offset or 1) - 1)
        between = self.source[after_last:closing]
        comma = "," in between.split("#", 1)[0]
        closing_line = self.lines[(listing.end_lineno or 1) - 1]
        closing_column = closing - self.starts[(listing.end_lineno or 1) - 1]
        own_line = (
            listing.lineno != listing.end_lineno and not closing_line[:closing_column].strip()
        )
        if not own_line:
            entry = f"{callee}({from_version}, {to_version}, {quoted}, {function})"
            position = after_last + (between.index(",") + 1 if comma else 0)
            return [(position, position, f" {entry}" if comma else f", {entry}")]
        indent = " " * (last.col_offset if self._ascii_indent(last) else 4)
        if first.keywords:
            entry = (
                f"{indent}{callee}(\n"
                f"{indent}    from_version={from_version},\n"
                f"{indent}    to_version={to_version},\n"
                f"{indent}    description={quoted},\n"
                f"{indent}    migrate={function},\n"
                f"{indent}),\n"
            )
        else:
            entry = f"{indent}{callee}({from_version}, {to_version}, {quoted}, {function}),\n"
        line_start = self.starts[(listing.end_lineno or 1) - 1]
        edits = [(line_start, line_start, entry)]
        if not comma:
            edits.append((after_last, after_last, ","))
        return edits

    def _ascii_indent(self, node: ast.expr) -> bool:
        prefix = self.lines[node.lineno - 1][: node.col_offset]
        return not prefix.strip()


def _module_bindings(tree: ast.Module, name: str) -> list[ast.Assign | ast.AnnAssign]:
    found: list[ast.Assign | ast.AnnAssign] = []
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and statement.targets[0].id == name
        ) or (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.target.id == name
            and statement.value is not None
        ):
            found.append(statement)
    return found


def _stores_anywhere(tree: ast.Module, name: str) -> int:
    """How many places bind ``name``: assignments, ``global`` rebinding included, and
    imports or definitions of that name."""
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load):
            count += 1
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            count += node.name == name
        elif isinstance(node, ast.Import | ast.ImportFrom):
            count += sum(1 for alias in node.names if (alias.asname or alias.name) == name)
    return count


def _extended(tree: ast.Module, name: str) -> bool:
    """Whether module-level code changes the list in place (``migrations.append(...)``,
    ``migrations[0] = ...``)."""
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for node in ast.walk(statement):
            target = node.value if isinstance(node, ast.Attribute | ast.Subscript) else None
            if isinstance(target, ast.Name) and target.id == name:
                return True
    return False


def _callee(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _bound_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def _check_edited(source: str, path: Path, registry: Registry, to_version: int) -> None:
    """Load the edited source as the registry module it will be; refuse unless it is the
    old chain plus one step, not written yet, to ``to_version``, and that version is
    current."""
    name = f"_profile_migrations_new_{abs(hash(path.resolve()))}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - the user's registry, as loading it does
        edited = registry_from_module(module, str(path))
    except (Exception, SystemExit) as exc:
        raise RegistryEditError(
            f"the edited {str(path)!r} would not load ({type(exc).__name__}: {exc}); "
            "nothing was changed"
        ) from exc
    finally:
        sys.modules.pop(name, None)
    steps = edited.chain.steps
    if (
        len(steps) != len(registry.chain.steps) + 1
        or edited.chain.head != to_version
        or steps[-1].written
        or edited.current_version != to_version
    ):
        raise RegistryEditError(
            f"the edited {str(path)!r} does not load as the chain plus step "
            f"{to_version - 1}->{to_version} at the current version; nothing was changed"
        )


def _replace(path: Path, source: str) -> None:
    """Write ``source`` over ``path`` at once (a temporary file renamed over it, with its
    permissions), so a crash leaves the old file or the new one, never half of one."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(source)
        shutil.copymode(path, temporary)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _test_source(
    registry: Path,
    reference: str | None,
    test_file: Path,
    function: str,
    from_version: int,
    to_version: int,
) -> str:
    """A test of the new step that fails until the step is written and the expected
    profile completed."""
    if reference is None or not (reference.endswith(".py") or Path(reference).is_file()):
        imports = ""
        where = json.dumps(reference or DEFAULT_REGISTRY)
    else:
        relative = Path(os.path.relpath(registry.resolve(), test_file.parent.resolve()))
        parts = ", ".join(json.dumps(part) for part in relative.parts)
        imports = "from pathlib import Path\n\n"
        where = f"str(Path(__file__).resolve().parent.joinpath({parts}))"
    return (
        f'"""Step {from_version}->{to_version} ({function}), generated by '
        "`profile-migrate new`: complete the\n"
        f"profile at version {from_version} with the fields the step reads, and the "
        f"expected profile at\nversion {to_version}. It fails until then (the step "
        'refuses every profile until written)."""\n\n'
        "from __future__ import annotations\n\n"
        f"{imports}"
        "from profile_migrations.loader import load_registry\n\n"
        f"REGISTRY = {where}\n\n\n"
        f"def test_step_{from_version}_to_{to_version}_migrates_a_profile() -> None:\n"
        f"    # Given: a profile at version {from_version}\n"
        "    chain = load_registry(REGISTRY).chain\n"
        f'    profile = {{"userId": "user-1", "version": {from_version}}}\n\n'
        "    # When\n"
        f"    migrated = chain.apply(profile, {to_version})\n\n"
        f"    # Then: the profile at version {to_version}\n"
        f'    assert migrated == {{"userId": "user-1", "version": {to_version}}}\n'
    )
