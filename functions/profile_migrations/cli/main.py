"""`profile-migrate`: maps its arguments onto the commands (profile_migrations/command.py),
prints what they answer, exits.

Exit status: 0 success; 1 the run finished with failed or invalid profiles, or stopped
early (resumable); 2 bad usage or bad input, in which case nothing was written; 3 the run
stopped at its window's end (``--stop-after``, ``--stop-at``; resumable with
``--resume``); 130 interrupted (Ctrl-C; a run stopped so is resumable). With ``--json``
every one of these prints exactly one document on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from profile_migrations import command
from profile_migrations.cli.console import (
    ProgressBars,
    print_history,
    print_new,
    print_plan,
    print_report,
    print_rollback,
    print_status,
    print_throttle,
)
from profile_migrations.cli.demo import run_demo
from profile_migrations.cli.logs import configure_logging
from profile_migrations.environment import RUN_ERROR_INTERRUPTED, STOPPED_BY_WINDOW
from profile_migrations.errors import MigrationInputError, UsageError
from profile_migrations.logic.lifecycle import DEFAULT_LEASE_SECONDS
from profile_migrations.logic.rollback_run import DEFAULT_ROLLBACK_WORKERS
from profile_migrations.logic.runner import LocalRunOptions
from profile_migrations.logic.summary import error_response
from profile_migrations.models.requests import RunRequest
from profile_migrations.models.results import MigrationResponse

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import FrameType


logger = logging.getLogger(__name__)

EXIT_SUCCESS = 0
EXIT_FAILURES = 1
EXIT_BAD_INPUT = 2
EXIT_WINDOW_CLOSED = 3  # stopped at the window's end; `run --resume` continues
EXIT_INTERRUPTED = 130  # 128 + SIGINT: what shells report for a command Ctrl-C ended
JSON_FLAG = "--json"


class RefusingParser(argparse.ArgumentParser):
    """argparse refusing through :class:`UsageError` instead of printing and exiting, so
    malformed arguments take the refusal path of any other bad input; its sub-parsers are
    of this class too (``add_subparsers`` makes them ``type(self)``)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)", self.format_usage())


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def _capacity(minimum: float, inclusive: bool) -> Callable[[str], float]:
    """A capacity argument: a finite number above ``minimum`` (or equal, if ``inclusive``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
            bound = f"{minimum:g} or more" if inclusive else f"above {minimum:g}"
            raise argparse.ArgumentTypeError(f"{text!r} is not a number {bound}")
        return value

    return parse


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and 0 <= value <= 100):
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage from 0 to 100")
    return value


DURATION = re.compile(r"(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")


def _duration(text: str) -> timedelta:
    """``90s``, ``45m``, ``3h`` or a combination (``1h30m``): a positive duration."""
    match = DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 45m or 3h")
    parts = {unit: int(value or 0) for unit, value in match.groupdict().items()}
    duration = timedelta(hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
    if duration <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration")
    if duration > datetime.max - datetime.now():
        raise argparse.ArgumentTypeError(f"{text!r} ends after the year 9999")
    return duration


def _moment(text: str) -> datetime:
    """An ISO-8601 date and time with its offset (``Z`` for UTC)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 time such as 2026-12-01T06:00:00+01:00"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset (add +01:00, or Z for UTC)")
    return moment


def _add_table_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", required=True)
    parser.add_argument("--endpoint-url", help="e.g. http://127.0.0.1:8000 for DynamoDB Local")
    parser.add_argument("--region")
    parser.add_argument(
        "--control-table",
        help="table for locks, checkpoints and history (default: <table>-migrations; "
        "created on first use)",
    )


def _add_registry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target-version",
        type=_positive_int,
        help="default: the registry's CURRENT_PROFILE_VERSION",
    )
    parser.add_argument(
        "--migrations",
        metavar="MODULE_OR_FILE",
        help="a dotted module path or a .py file exposing `migrations` (default: CICADA's chain)",
    )


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


def _add_status(commands: argparse._SubParsersAction[RefusingParser]) -> None:
    status = commands.add_parser(
        "status",
        help="count the table's profiles per version and show its runs (read-only; reads "
        "what a scan of the whole table costs)",
    )
    _add_table_options(status)
    _add_registry_options(status)
    status.add_argument(
        "--segments",
        type=_positive_int,
        help="parallel scan segments (default: from the table size)",
    )
    _add_output_options(status)


def _add_new(commands: argparse._SubParsersAction[RefusingParser]) -> None:
    new = commands.add_parser(
        "new",
        help="append the next step to the registry as a stub, bump CURRENT_PROFILE_VERSION "
        "and create a failing test for it",
        description="Append the next step (from the registry's highest version to the next) "
        "to the registry file as a stub marked @ProfileMigration.not_written (it refuses "
        "every profile, and `plan` shows it not written, until you write it), bump its "
        "CURRENT_PROFILE_VERSION, and create a failing test for the step: in the tests/unit/ "
        "(else tests/) directory of the project holding the registry (the nearest directory "
        "up to the one with pyproject.toml, setup.cfg, setup.py or .git), else next to the "
        "registry file, named test_<registry>_<from>_to_<to>.py. Prints the paths changed. "
        "Refuses, changing nothing, a registry that does not load or whose file is not one "
        "`migrations = [ProfileMigration(...), ...]` list it can edit safely.",
    )
    new.add_argument("description", help="what the step does, e.g. 'Add a nickname field'")
    new.add_argument(
        "--migrations",
        metavar="FILE_OR_MODULE",
        help="the registry's .py file or dotted module (default: CICADA's "
        "profile_migrations/migrations.py)",
    )
    _add_output_options(new)


def _add_rollback_parser(commands: argparse._SubParsersAction[RefusingParser]) -> None:
    rollback = commands.add_parser(
        "rollback",
        help="undo a run item by item from its journal, keeping every later application write",
    )
    _add_table_options(rollback)
    rollback.add_argument(
        "--run", required=True, metavar="RUN_ID", help="the run to undo (see `history`)"
    )
    rollback.add_argument(
        "--dry-run",
        action="store_true",
        help="read each item and report what the rollback would do; write nothing",
    )
    rollback.add_argument(
        "--resume", action="store_true", help="continue this run's unfinished rollback, if any"
    )
    rollback.add_argument(
        "--max-write-capacity",
        type=_capacity(0, inclusive=False),
        metavar="WCU_PER_SECOND",
        help="at most this many write capacity units per second (default: half the "
        "provisioned write capacity of a provisioned table; no cap on an on-demand table)",
    )
    rollback.add_argument(
        "--workers",
        type=_positive_int,
        default=DEFAULT_ROLLBACK_WORKERS,
        help="write batches in flight at once",
    )
    rollback.add_argument(
        "--report", type=Path, help="JSON Lines report path (default: profile-migrate-reports/...)"
    )
    rollback.add_argument(
        "--lease-seconds",
        type=_positive_int,
        default=int(DEFAULT_LEASE_SECONDS),
        help="the table lock's lease, renewed while the rollback lives (default 60)",
    )
    _add_output_options(rollback)


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser: a malformed command line raises :class:`UsageError`, so it
    is refused like any other bad input; ``--help`` prints help and exits 0."""
    parser = RefusingParser(
        prog="profile-migrate", description="Migrate versioned profiles in a DynamoDB table."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="migrate (or dry-run, or verify) every profile of a table"
    )
    _add_table_options(run)
    _add_registry_options(run)
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="migrate in memory, write nothing")
    mode.add_argument(
        "--verify-only", action="store_true", help="only check versions, write nothing"
    )
    run.add_argument(
        "--deep",
        action="store_true",
        help="verification also validates every profile at the target against the "
        "registry's schema for that version (reads whole items: the same bill); "
        "not with --dry-run",
    )
    run.add_argument(
        "--segments",
        type=_positive_int,
        help="parallel scan segments (default: from the table size)",
    )
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=LocalRunOptions.workers,
        help="segments processed at once",
    )
    run.add_argument(
        "--page-size",
        type=_positive_int,
        default=LocalRunOptions.page_limit,
        help="items per scan page, at most 1 MB of them (default: 500)",
    )
    run.add_argument(
        "--report", type=Path, help="JSON Lines report path (default: profile-migrate-reports/...)"
    )
    run.add_argument(
        "--resume", action="store_true", help="continue the table's unfinished run, if any"
    )
    run.add_argument(
        "--allow-changed",
        action="store_true",
        help="accept steps whose code changed since they were applied to this table",
    )
    run.add_argument(
        "--no-backup",
        action="store_true",
        help="skip the on-demand backup a real run takes when point-in-time recovery is off",
    )
    run.add_argument(
        "--lease-seconds",
        type=_positive_int,
        default=int(DEFAULT_LEASE_SECONDS),
        help="the run lock's lease, renewed while the run lives (default 60)",
    )
    run.add_argument(
        "--max-write-capacity",
        type=_capacity(0, inclusive=False),
        metavar="WCU_PER_SECOND",
        help="at most this many write capacity units per second, all workers together "
        "(default: half the provisioned write capacity of a provisioned table; no cap on "
        "an on-demand table)",
    )
    run.add_argument(
        "--max-read-capacity",
        type=_capacity(0, inclusive=False),
        metavar="RCU_PER_SECOND",
        help="at most this many read capacity units per second (default: no cap)",
    )
    window = run.add_mutually_exclusive_group()
    window.add_argument(
        "--stop-after",
        type=_duration,
        metavar="DURATION",
        help="stop, resumable, this long after the start (90s, 45m, 3h); exit status 3",
    )
    window.add_argument(
        "--stop-at",
        type=_moment,
        metavar="TIME",
        help="stop, resumable, at this ISO-8601 time with offset; exit status 3",
    )
    run.add_argument(
        "--rollback-on-failure",
        action="store_true",
        help="undo the run's own writes before exiting when more than --max-failure-percent "
        "of the profiles it tried failed, or verification finds profiles it should have "
        "migrated below the target",
    )
    run.add_argument(
        "--max-failure-percent",
        type=_percent,
        metavar="P",
        help="with --rollback-on-failure: the share of failed profiles (0 to 100) a run may "
        "end with and keep its writes (default 0)",
    )
    _add_output_options(run)

    _add_rollback_parser(commands)

    throttle = commands.add_parser(
        "throttle", help="change the caps of the table's running run (it follows within 10 s)"
    )
    _add_table_options(throttle)
    cap = throttle.add_mutually_exclusive_group(required=True)
    cap.add_argument(
        "--max-write-capacity",
        type=_capacity(0, inclusive=True),
        metavar="WCU_PER_SECOND",
        help="the new write cap for the whole run; 0 pauses the writes (the run keeps its "
        "lock and waits)",
    )
    cap.add_argument("--unlimited", action="store_true", help="remove the write cap")
    throttle.add_argument(
        "--max-read-capacity",
        type=_capacity(0, inclusive=False),
        metavar="RCU_PER_SECOND",
        help="the new read cap (default: unchanged)",
    )
    _add_output_options(throttle)

    unlock = commands.add_parser("unlock", help="release a table's run lock left by a dead run")
    _add_table_options(unlock)
    unlock.add_argument(
        "--force",
        action="store_true",
        help="release the lock even if its holder may still be running (a live process of "
        "this host, or a lease not yet expired)",
    )
    _add_output_options(unlock)

    _add_status(commands)

    history = commands.add_parser("history", help="list a table's recorded runs, newest first")
    _add_table_options(history)
    _add_output_options(history)

    plan = commands.add_parser("plan", help="show the chain of steps a run would apply")
    _add_registry_options(plan)
    plan.add_argument(
        "--from-version", type=_positive_int, help="default: the chain's first version"
    )
    plan.add_argument("--json", action="store_true")

    _add_new(commands)

    demo = commands.add_parser("demo", help="the whole job on an embedded DynamoDB Local")
    demo.add_argument("--profiles", type=_positive_int, default=3_000)
    _add_output_options(demo)
    return parser


class _Output:
    """Where a command answers: one JSON document on stdout with ``--json`` (never a second
    one, whatever happens after the first), messages on stderr.

    ``stdout`` is the stream at the start: a progress display redirects ``sys.stdout`` to
    stderr while it runs, and a document written then must still reach stdout."""

    def __init__(self, as_json: bool, stderr: Console) -> None:
        self.as_json = as_json
        self.stderr = stderr
        self.stdout: TextIO = sys.stdout
        self.answered = False

    def document(self, document: dict[str, Any]) -> None:
        if self.answered:
            return
        self.answered = True
        self.stdout.write(json.dumps(document, indent=2) + "\n")
        self.stdout.flush()

    def say(self, message: str) -> None:
        # A Text, not markup: messages quote data (`[...]`, names) that markup would misread;
        # soft-wrapped, so a message stays one line for whoever reads stderr.
        self.stderr.print(Text(f"profile-migrate: {message}", style="red"), soft_wrap=True)

    def refuse(self, exc: Exception) -> int:
        if self.as_json:
            self.document(error_response(exc).to_wire())
        self.say(str(exc))
        return EXIT_BAD_INPUT

    def interrupted(self, message: str) -> int:
        """Answer a command Ctrl-C ended: one ``Interrupted`` document with ``--json``."""
        if self.as_json:
            self.document(
                MigrationResponse(
                    success=False,
                    message=message,
                    error=f"{RUN_ERROR_INTERRUPTED}: {message}",
                    error_type=RUN_ERROR_INTERRUPTED,
                ).to_wire()
            )
        self.say(f"interrupted: {message}")
        return EXIT_INTERRUPTED


INTERRUPTED = (
    "interrupted (Ctrl-C) before the command finished; a run interrupted while it wrote "
    "keeps its checkpoints, and `profile-migrate run --resume` continues it"
)
ABORTED = (
    "aborted (Ctrl-C twice) without finishing the pages in hand; every write so far was "
    "conditional, and `profile-migrate run --resume` continues the run from its checkpoints"
)
ROLLBACK_ABORTED = (
    "aborted (Ctrl-C twice) without finishing the writes in hand; every write so far was "
    "conditional, and `profile-migrate rollback --run RUN_ID --resume` continues the rollback "
    "from its checkpoints"
)


class _CtrlC:
    """SIGINT during a run: the first asks the run to stop between pages (``stop``; it then
    answers its own ``Interrupted`` document); the second aborts at once, answering for it.

    Aborting cannot wait for the workers (they finish the pages in hand first), so it
    exits the process, as a kill would: the lock it leaves is a dead process's, which the
    next run on this host (or ``unlock``) releases, and ``--resume`` continues the run.
    Installed only in the main thread (Python delivers signals there); the previous
    handler is restored on exit."""

    def __init__(self, output: _Output, what: str = "pages", aborted: str = ABORTED) -> None:
        self.stop = threading.Event()
        self._output = output
        self._what = what
        self._aborted = aborted
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None
        self._installed = False

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            previous = signal.default_int_handler if self._previous is None else self._previous
            signal.signal(signal.SIGINT, previous)
            self._installed = False

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if not self.stop.is_set():
            self.stop.set()
            self._output.say(
                f"stopping after the {self._what} in hand (`--resume` continues it); "
                "press Ctrl-C again to abort at once"
            )
            return
        try:
            self._output.interrupted(self._aborted)
            self._output.stderr.show_cursor(True)
            sys.stderr.flush()
        finally:
            os._exit(EXIT_INTERRUPTED)


def _target(args: argparse.Namespace) -> command.TableTarget:
    return command.TableTarget(args.table, args.endpoint_url, args.region, args.control_table)


def command_run(args: argparse.Namespace, output: _Output) -> int:
    with _CtrlC(output) as ctrl_c:
        config = command.RunConfig(
            target=_target(args),
            request=RunRequest(
                target_version=args.target_version,
                dry_run=args.dry_run,
                verify_only=args.verify_only,
                total_segments=args.segments,
                deep_verify=args.deep,
            ),
            migrations=args.migrations,
            options=LocalRunOptions(workers=args.workers, page_limit=args.page_size),
            report=args.report,
            resume=args.resume,
            allow_changed=args.allow_changed,
            backup=not args.no_backup,
            lease_seconds=float(args.lease_seconds),
            listener=ProgressBars(output.stderr),
            stop=ctrl_c.stop,
            max_write_capacity=args.max_write_capacity,
            max_read_capacity=args.max_read_capacity,
            stop_at=_window_end(args.stop_after, args.stop_at),
            rollback_on_failure=args.rollback_on_failure,
            max_failure_percent=args.max_failure_percent,
        )
        started = time.perf_counter()
        response = command.run(config)
        if args.json:
            output.document(response.to_wire())
        else:
            print_report(Console(), response, time.perf_counter() - started)
    if response.error_type == RUN_ERROR_INTERRUPTED:
        return EXIT_INTERRUPTED
    if response.stopped_by == STOPPED_BY_WINDOW:
        return EXIT_WINDOW_CLOSED
    return EXIT_SUCCESS if response.success else EXIT_FAILURES


def _window_end(stop_after: timedelta | None, stop_at: datetime | None) -> datetime | None:
    if stop_after is not None:
        return datetime.now().astimezone() + stop_after
    return stop_at


def command_rollback(args: argparse.Namespace, output: _Output) -> int:
    with _CtrlC(output, "writes", ROLLBACK_ABORTED) as ctrl_c:
        response = command.rollback(
            command.RollbackConfig(
                target=_target(args),
                run_id=args.run,
                dry_run=args.dry_run,
                resume=args.resume,
                report=args.report,
                workers=args.workers,
                max_write_capacity=args.max_write_capacity,
                lease_seconds=float(args.lease_seconds),
                stop=ctrl_c.stop,
            )
        )
        if args.json:
            output.document(response.to_wire())
        else:
            print_rollback(Console(), response)
    if response.error_type == RUN_ERROR_INTERRUPTED:
        return EXIT_INTERRUPTED
    return EXIT_SUCCESS if response.success else EXIT_FAILURES


def command_throttle(args: argparse.Namespace, output: _Output) -> int:
    result = command.throttle(
        command.ThrottleConfig(
            _target(args), args.max_write_capacity, args.unlimited, args.max_read_capacity
        )
    )
    if args.json:
        output.document(result.to_wire())
    else:
        print_throttle(Console(), result)
    return EXIT_SUCCESS


def command_plan(args: argparse.Namespace, output: _Output) -> int:
    result = command.plan(
        command.PlanConfig(args.migrations, args.target_version, args.from_version)
    )
    if args.json:
        output.document(result.to_wire())
    else:
        print_plan(Console(), result)
    return EXIT_SUCCESS


def command_demo(args: argparse.Namespace, output: _Output) -> int:
    return run_demo(args.profiles, args.json, output.stderr)


def command_unlock(args: argparse.Namespace, output: _Output) -> int:
    result = command.unlock(_target(args), force=args.force)
    released = result.released
    if args.json:
        output.document(result.to_wire())
    elif released is None:
        Console().print(Text(f"Table {args.table!r} was not locked."))
    else:
        Console().print(
            Text(
                f"Released the lock of run {released.run_id} ({released.owner}, "
                f"since {released.acquired_at}). Resume it with `profile-migrate run --resume`."
            )
        )
    return EXIT_SUCCESS


def command_new(args: argparse.Namespace, output: _Output) -> int:
    result = command.new(command.NewConfig(args.description, args.migrations))
    if args.json:
        output.document(result.to_wire())
    else:
        print_new(Console(), result)
    return EXIT_SUCCESS


def command_status(args: argparse.Namespace, output: _Output) -> int:
    result = command.status(
        command.StatusConfig(
            _target(args),
            migrations=args.migrations,
            target_version=args.target_version,
            total_segments=args.segments,
        )
    )
    if args.json:
        output.document(result.to_wire())
    else:
        print_status(Console(), result)
    return EXIT_SUCCESS


def command_history(args: argparse.Namespace, output: _Output) -> int:
    result = command.history(_target(args))
    if args.json:
        output.document(result.to_wire())
    else:
        print_history(Console(), result)
    return EXIT_SUCCESS


COMMANDS = {
    "run": command_run,
    "plan": command_plan,
    "demo": command_demo,
    "unlock": command_unlock,
    "history": command_history,
    "status": command_status,
    "new": command_new,
    "throttle": command_throttle,
    "rollback": command_rollback,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status. Bad input, malformed arguments included, is
    refused here, in one place (exit 2, nothing written); Ctrl-C ends here too (exit 130);
    whatever else a command raises ends here as well. Each prints one document (with
    ``--json``, which counts when it appears among the arguments even if they are refused)
    and a one-line message, never a traceback (logged at DEBUG: ``--log-level DEBUG``).
    ``--help`` prints the help and raises ``SystemExit(0)``, as argparse does."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    output = _Output(as_json=JSON_FLAG in arguments, stderr=Console(stderr=True))
    name: str | None = None
    try:
        args = build_parser().parse_args(arguments)
        name = args.command
        configure_logging(getattr(args, "log_level", "WARNING"))
        output.as_json = getattr(args, "json", False)
        return COMMANDS[args.command](args, output)
    except UsageError as exc:
        output.stderr.print(Text(exc.usage.rstrip()), soft_wrap=True)
        return output.refuse(exc)
    except (MigrationInputError, ValidationError) as exc:
        return output.refuse(exc)
    except KeyboardInterrupt:
        logger.warning("command interrupted", extra={"command": name})
        return output.interrupted(INTERRUPTED)
    except Exception as exc:  # the one place an unexpected error becomes an answer
        logger.error("command failed", extra={"command": name, "error_type": type(exc).__name__})
        logger.debug("command failed: traceback", exc_info=exc)
        if output.as_json:
            output.document(error_response(exc).to_wire())
        output.say(f"{type(exc).__name__}: {exc}")
        return EXIT_FAILURES


if __name__ == "__main__":
    sys.exit(main())
