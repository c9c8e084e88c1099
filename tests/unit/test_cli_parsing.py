"""`profile-migrate`'s command line without a table: malformed arguments take the refusal
path (one JSON document with ``--json``, the message on stderr, exit 2), and Ctrl-C ends a
command with exit 130 and one document, never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import signal
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profile_migrations.cli import main
from profile_migrations.cli.main import build_parser
from profile_migrations.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path

MALFORMED = [
    pytest.param(["run"], "the following arguments are required: --table", id="no-table"),
    pytest.param(["run", "--table", "t", "--segments", "0"], "--segments", id="segments-0"),
    pytest.param(["run", "--table", "t", "--workers", "0"], "--workers", id="workers-0"),
    pytest.param(
        ["run", "--table", "t", "--target-version", "-1"], "--target-version", id="target--1"
    ),
    pytest.param(
        ["run", "--table", "t", "--target-version", "two"], "'two' is not an integer", id="two"
    ),
    pytest.param(
        ["run", "--table", "t", "--dry-run", "--verify-only"],
        "not allowed with argument",
        id="dry-run-and-verify-only",
    ),
    pytest.param(
        ["run", "--table", "t", "--unknown-flag"],
        "unrecognized arguments: --unknown-flag",
        id="unknown-option",
    ),
    pytest.param(
        ["run", "--table", "t", "--log-level", "NOPE"], "invalid choice: 'NOPE'", id="log-level"
    ),
    pytest.param(["history"], "the following arguments are required: --table", id="history"),
    pytest.param(
        ["run", "--table", "t", "--stop-after", "99999999h"],
        "ends after the year 9999",
        id="window-beyond-9999",
    ),
    pytest.param(
        ["run", "--table", "t", "--stop-after", "5x"], "is not a duration", id="bad-duration"
    ),
    pytest.param(
        ["run", "--table", "t", "--stop-at", "2026-12-01T06:00:00"], "has no offset", id="naive"
    ),
    pytest.param(
        ["throttle", "--table", "t", "--max-write-capacity", "-1"],
        "is not a number 0 or more",
        id="negative-cap",
    ),
    pytest.param(
        ["throttle", "--table", "t"],
        "one of the arguments --max-write-capacity --unlimited is required",
        id="throttle-without-cap",
    ),
    pytest.param(["explode"], "invalid choice: 'explode'", id="unknown-command"),
    pytest.param(["status"], "the following arguments are required: --table", id="status"),
    pytest.param(
        ["status", "--table", "t", "--segments", "0"], "0 is not a positive", id="status-0"
    ),
    pytest.param(["new"], "the following arguments are required: description", id="new"),
]


def one_document(text: str) -> dict[str, Any]:
    """The stdout of a ``--json`` command: exactly one JSON document, nothing else."""
    document, end = json.JSONDecoder().raw_decode(text)
    assert text[end:].strip() == "", f"more than one document: {text!r}"
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize(("arguments", "expected"), MALFORMED)
def test_malformed_arguments_with_json_print_one_error_document_and_exit_2(
    capsys: pytest.CaptureFixture[str], arguments: list[str], expected: str
) -> None:
    # When: the arguments argparse refuses, with --json among them
    status = main([*arguments, "--json"])

    # Then: the refusal path, as for any other bad input
    out, err = capsys.readouterr()
    document = one_document(out)
    assert status == 2
    assert document["success"] is False
    assert document["errorType"] == "UsageError"
    assert expected in document["error"]
    assert document["message"] == "Nothing was written: the request was refused."
    assert expected in err
    assert "usage: profile-migrate" in err


@pytest.mark.parametrize(("arguments", "expected"), MALFORMED)
def test_malformed_arguments_without_json_print_usage_and_the_message_on_stderr_only(
    capsys: pytest.CaptureFixture[str], arguments: list[str], expected: str
) -> None:
    status = main(arguments)

    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert "usage: profile-migrate" in err
    assert expected in err
    assert "Traceback" not in err


def test_json_anywhere_among_the_arguments_asks_for_a_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["run", "--json", "--segments", "0", "--table", "t"])

    assert status == 2
    assert one_document(capsys.readouterr().out)["errorType"] == "UsageError"


@pytest.mark.parametrize("arguments", [["--help"], ["run", "--help"], ["run", "--help", "--json"]])
def test_help_still_prints_help_and_exits_0(
    capsys: pytest.CaptureFixture[str], arguments: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)

    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: profile-migrate")


FLAGS = [
    *("run", "plan", "history", "unlock", "demo", "--table", "--segments", "--workers"),
    *("status", "new", "--deep", "--migrations"),
    *("--target-version", "--dry-run", "--verify-only", "--json", "--log-level", "--force"),
    *("--page-size", "--lease-seconds", "--from-version", "--profiles", "--", "-", "-x"),
    *("-h", "--help", "INFO", "0", "-1", "3", "1e3", ""),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=st.lists(st.one_of(st.sampled_from(FLAGS), st.text(max_size=8)), max_size=8))
def test_the_cli_parser_either_parses_or_refuses_with_a_usage_error(argv: list[str]) -> None:
    # Whatever the arguments: a namespace, a UsageError (exit 2 in main), or help (exit 0);
    # never argparse's own exit 2, never another exception.
    sink = io.StringIO()
    with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        try:
            build_parser().parse_args(argv)
        except UsageError as exc:
            assert exc.usage.startswith("usage: profile-migrate")
        except SystemExit as exc:
            assert exc.code == 0, (argv, exc.code)
            assert sink.getvalue().startswith("usage: profile-migrate")


def main_not_interrupted(argv: list[str]) -> int:
    """``main(argv)``, failing the test (not ending the session) if Ctrl-C escapes it."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped main(): a traceback, not an answer")


def interrupting_registry(tmp_path: Path, body: str) -> str:
    registry = tmp_path / "interrupting.py"
    registry.write_text(body)
    return str(registry)


@pytest.mark.parametrize(
    "command",
    [["plan"], ["run", "--table", "t"], ["run", "--table", "t", "--dry-run"]],
    ids=["plan", "run", "dry-run"],
)
def test_a_keyboard_interrupt_while_a_registry_imports_exits_130_with_one_document(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    # Given: a registry whose import is interrupted (Ctrl-C while it loads)
    registry = interrupting_registry(tmp_path, "raise KeyboardInterrupt\n")

    # When
    status = main_not_interrupted([*command, "--migrations", registry, "--json"])

    # Then: exit 130, one document saying Interrupted, no traceback
    out, err = capsys.readouterr()
    document = one_document(out)
    assert status == 130
    assert document["success"] is False
    assert document["errorType"] == "Interrupted"
    assert document["error"].startswith("Interrupted: ")
    assert "Traceback" not in err
    assert "interrupted" in err


def test_a_keyboard_interrupt_without_json_prints_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    registry = interrupting_registry(tmp_path, "raise KeyboardInterrupt\n")

    status = main_not_interrupted(["plan", "--migrations", registry])

    out, err = capsys.readouterr()
    assert (status, out) == (130, "")
    assert "Traceback" not in err


def test_during_a_run_the_first_sigint_asks_the_run_to_stop_and_the_handler_is_restored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given: a registry that presses Ctrl-C once while it loads (inside `run`), then turns
    # out to be unusable, so the run is refused before it reaches any table
    registry = interrupting_registry(
        tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\n"
    )
    before = signal.getsignal(signal.SIGINT)

    # When
    status = main_not_interrupted(["run", "--table", "t", "--migrations", registry, "--json"])

    # Then: the SIGINT asked for a stop (one line on stderr) instead of raising, the
    # refusal still ends the command, and the previous handler is back
    out, err = capsys.readouterr()
    assert status == 2
    assert one_document(out)["errorType"] == "RegistryLoadError"
    assert "stopping after the pages in hand" in err
    assert "Ctrl-C again to abort" in err
    assert signal.getsignal(signal.SIGINT) is before
