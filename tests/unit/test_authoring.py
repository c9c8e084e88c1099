"""`profile-migrate new` on copies of registry files: the next step appended as a stub that
refuses to run, CURRENT_PROFILE_VERSION bumped, a failing test created; refusals change
nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import profile_migrations.migrations as cicada
from profile_migrations.authoring import add_step, registry_file, step_test_file
from profile_migrations.command import NewConfig, PlanConfig, new, plan
from profile_migrations.errors import (
    InvalidRequestError,
    RegistryEditError,
    RegistryLoadError,
    StepNotWrittenError,
)
from profile_migrations.loader import load_registry

SMALL = textwrap.dedent(
    """
    from profile_migrations.registry import ProfileMigration


    def name_it(profile):
        return {**profile, "name": "x"}


    migrations = [ProfileMigration(1, 2, "name it", name_it)]
    """
).lstrip()


def copy_of_cicada(tmp_path: Path) -> Path:
    path = tmp_path / "registry.py"
    path.write_text(Path(cicada.__file__).read_text())
    return path


def test_new_twice_on_a_copy_of_cicada_gives_a_chain_that_loads_with_two_unwritten_steps(
    tmp_path: Path,
) -> None:
    path = copy_of_cicada(tmp_path)

    first = new(NewConfig("Add a nickname field", str(path)))
    second = new(NewConfig("Split name into first and last", str(path)))

    registry = load_registry(str(path))
    assert (registry.chain.head, registry.current_version) == (7, 7)
    assert [(s.label, s.written) for s in registry.chain.steps[-3:]] == [
        ("4->5", True),
        ("5->6", False),
        ("6->7", False),
    ]
    assert first.changed == [str(path), str(tmp_path / "test_registry_5_to_6.py")]
    assert second.to_wire()["step"] == {
        "fromVersion": 6,
        "toVersion": 7,
        "description": "Split name into first and last",
        "written": False,
    }
    assert (first.function, second.function) == (
        "add_a_nickname_field",
        "split_name_into_first_and_last",
    )
    steps = plan(PlanConfig(str(path))).to_wire()["steps"]
    assert [(s["fromVersion"], s["written"]) for s in steps] == [
        (1, True),
        (2, True),
        (3, True),
        (4, True),
        (5, False),
        (6, False),
    ]
    with pytest.raises(StepNotWrittenError, match="step 5->6 is not written yet"):
        registry.chain.apply({"version": 5, "profileData": {}}, 7)
    # The earlier steps and the schemas are untouched.
    assert sorted(registry.chain.schemas) == [1, 2, 3, 4, 5]


def test_the_generated_tests_fail_until_the_step_is_written(tmp_path: Path) -> None:
    path = copy_of_cicada(tmp_path)
    added = add_step("Add a nickname field", str(path))

    # Given: the generated test run as the author would run it
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(added.test_file)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )

    assert run.returncode == 1
    assert "StepNotWrittenError" in run.stdout

    # When the author writes the step (and removes the decorator), the test passes.
    source = path.read_text()
    source = source.replace("@ProfileMigration.not_written\n", "")
    path.write_text(source)
    rerun = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(added.test_file)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert rerun.returncode == 0, rerun.stdout


def test_an_inline_list_with_positional_steps_gets_an_inline_positional_entry(
    tmp_path: Path,
) -> None:
    path = tmp_path / "small.py"
    path.write_text(SMALL)

    add_step("Add an age", str(path))

    assert path.read_text() == SMALL.replace(
        '\n\nmigrations = [ProfileMigration(1, 2, "name it", name_it)]\n',
        "\n\n"
        + textwrap.dedent(
            '''


            @ProfileMigration.not_written
            def add_an_age(profile: dict[str, object]) -> dict[str, object]:
                """2->3: return the profile at version 3.

                Keys left out of the returned profile are removed from the stored item; the
                framework sets ``version``. Write the step, then remove the decorator above
                and complete the step's test:
                test_small_2_to_3.py
                """
                return profile


            '''
        ).lstrip("\n")
        + 'migrations = [ProfileMigration(1, 2, "name it", name_it), '
        + 'ProfileMigration(2, 3, "Add an age", add_an_age)]\n',
    )
    assert load_registry(str(path)).chain.head == 3


def test_line_endings_and_a_missing_trailing_comma_are_kept_right(tmp_path: Path) -> None:
    path = tmp_path / "crlf.py"
    source = SMALL.replace(
        'migrations = [ProfileMigration(1, 2, "name it", name_it)]',
        'migrations = [\n    ProfileMigration(1, 2, "name it", name_it)  # the first\n]',
    ).replace("\n", "\r\n")
    path.write_bytes(source.encode())

    add_step('Quote "this" \\ that', str(path))

    edited = path.read_bytes().decode()
    assert "\n" not in edited.replace("\r\n", "")
    assert (
        '    ProfileMigration(1, 2, "name it", name_it),  # the first\r\n'
        '    ProfileMigration(2, 3, "Quote \\"this\\" \\\\ that", quote_this_that),\r\n]'
    ) in edited
    assert load_registry(str(path)).chain.steps[-1].description == 'Quote "this" \\ that'


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (SMALL.replace("migrations = [", "STEPS = migrations = ["), "bound exactly once"),
        (SMALL + "migrations = migrations\n", "bound exactly once"),
        (
            SMALL.replace("migrations = [", "STEPS = [") + "migrations = list(STEPS)\n",
            "not a list literal",
        ),
        (
            SMALL.replace('migrations = [ProfileMigration(1, 2, "name it", name_it)]', "")
            + "migrations = []\n"
            + 'migrations.append(ProfileMigration(1, 2, "name it", name_it))\n',
            "changed after its assignment",
        ),
        (
            SMALL.replace(
                'migrations = [ProfileMigration(1, 2, "name it", name_it)]',
                'STEP = ProfileMigration(1, 2, "name it", name_it)\nmigrations = [STEP]',
            ),
            r"is not a ProfileMigration\(...\) call",
        ),
        (SMALL + "CURRENT_PROFILE_VERSION = 1 + 1\n", "not a whole number written as one"),
    ],
)
def test_a_file_not_of_the_expected_structure_is_refused_unchanged(
    tmp_path: Path, source: str, reason: str
) -> None:
    path = tmp_path / "odd.py"
    path.write_text(source)

    with pytest.raises(RegistryEditError, match=reason):
        add_step("Add an age", str(path))

    assert path.read_text() == source
    assert list(tmp_path.iterdir()) == [path]


def test_a_registry_that_does_not_load_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text(SMALL + "raise RuntimeError('boom')\n")

    with pytest.raises(RegistryLoadError, match="boom"):
        add_step("Add an age", str(path))

    assert path.read_text() == SMALL + "raise RuntimeError('boom')\n"
    assert list(tmp_path.iterdir()) == [path]


def test_an_existing_test_file_or_an_empty_description_is_refused_unchanged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "small.py"
    path.write_text(SMALL)
    (tmp_path / "test_small_2_to_3.py").write_text("# the author's\n")

    with pytest.raises(RegistryEditError, match="exists already"):
        add_step("Add an age", str(path))
    with pytest.raises(InvalidRequestError, match="empty"):
        add_step(" \n ", str(path))

    assert path.read_text() == SMALL
    assert (tmp_path / "test_small_2_to_3.py").read_text() == "# the author's\n"


def test_the_test_file_goes_to_the_projects_tests_directory(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "src" / "app").mkdir(parents=True)
    registry = tmp_path / "src" / "app" / "steps.py"
    (tmp_path / "tests").mkdir()

    assert step_test_file(registry, 2, 3) == tmp_path / "tests" / "test_steps_2_to_3.py"
    (tmp_path / "tests" / "unit").mkdir()
    assert step_test_file(registry, 2, 3) == tmp_path / "tests" / "unit" / "test_steps_2_to_3.py"


def test_without_a_project_the_test_file_goes_next_to_the_registry(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "lone").mkdir()
    registry = tmp_path / "lone" / "steps.py"

    assert step_test_file(registry, 2, 3) == tmp_path / "lone" / "test_steps_2_to_3.py"


def test_the_default_registry_is_cicadas_file_and_its_test_goes_to_tests_unit() -> None:
    path = registry_file(None)

    assert path == Path(cicada.__file__)
    assert step_test_file(path, 5, 6).parent == Path(__file__).parent


def test_a_description_beyond_the_bmp_is_written_as_itself(tmp_path: Path) -> None:
    path = tmp_path / "small.py"
    path.write_text(SMALL)

    add_step("Add a mood 🙂", str(path))

    assert 'ProfileMigration(2, 3, "Add a mood 🙂", add_a_mood)' in path.read_text("utf-8")
    (step,) = [s for s in load_registry(str(path)).chain.steps if s.to_version == 3]
    assert step.description == "Add a mood 🙂"
    step.description.encode("utf-8")


def test_a_symlinked_registry_is_edited_through_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.py"
    real.write_text(SMALL)
    link = tmp_path / "link.py"
    link.symlink_to(real)

    add_step("Add an age", str(link))

    assert link.is_symlink()
    assert "add_an_age" in real.read_text()


def test_a_registry_it_may_not_write_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "small.py"
    path.write_text(SMALL)
    path.chmod(0o444)
    if os.access(path, os.W_OK):
        pytest.skip("this user writes read-only files (root)")

    with pytest.raises(RegistryEditError, match="not writable"):
        add_step("Add an age", str(path))

    assert path.read_text() == SMALL
