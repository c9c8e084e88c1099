"""`profile-migrate`: maps its arguments onto the commands (profile_migrations/command.py),
prints what they answer, exits.

Exit status: 0 success; 1 the run finished with failed or invalid profiles, or stopped
early (resumable); 2 bad usage or bad input, in which case nothing was written.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from profile_migrations import command
from profile_migrations.cli.console import ProgressBars, print_history, print_plan, print_report
from profile_migrations.cli.demo import run_demo
from profile_migrations.cli.logs import configure_logging
from profile_migrations.errors import MigrationInputError
from profile_migrations.logic.lifecycle import DEFAULT_LEASE_SECONDS
from profile_migrations.logic.runner import LocalRunOptions
from profile_migrations.logic.summary import error_response
from profile_migrations.models.requests import RunRequest

if TYPE_CHECKING:
    from collections.abc import Sequence


logger = logging.getLogger(__name__)

EXIT_SUCCESS = 0
EXIT_FAILURES = 1
EXIT_BAD_INPUT = 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    _add_output_options(run)

    unlock = commands.add_parser("unlock", help="release a table's run lock left by a dead run")
    _add_table_options(unlock)
    _add_output_options(unlock)

    history = commands.add_parser("history", help="list a table's recorded runs, newest first")
    _add_table_options(history)
    _add_output_options(history)

    plan = commands.add_parser("plan", help="show the chain of steps a run would apply")
    _add_registry_options(plan)
    plan.add_argument(
        "--from-version", type=_positive_int, help="default: the chain's first version"
    )
    plan.add_argument("--json", action="store_true")

    demo = commands.add_parser("demo", help="the whole job on an embedded DynamoDB Local")
    demo.add_argument("--profiles", type=_positive_int, default=3_000)
    _add_output_options(demo)
    return parser


def _write_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def _refuse(exc: Exception, as_json: bool, stderr: Console) -> int:
    if as_json:
        _write_json(error_response(exc).to_wire())
    _say(stderr, str(exc))
    return EXIT_BAD_INPUT


def _say(stderr: Console, message: str) -> None:
    # A Text, not markup: messages quote data (`[...]`, names) that markup would misread.
    stderr.print(Text(f"profile-migrate: {message}", style="red"))


def _target(args: argparse.Namespace) -> command.TableTarget:
    return command.TableTarget(args.table, args.endpoint_url, args.region, args.control_table)


def command_run(args: argparse.Namespace, stderr: Console) -> int:
    config = command.RunConfig(
        target=_target(args),
        request=RunRequest(
            target_version=args.target_version,
            dry_run=args.dry_run,
            verify_only=args.verify_only,
            total_segments=args.segments,
        ),
        migrations=args.migrations,
        options=LocalRunOptions(workers=args.workers, page_limit=args.page_size),
        report=args.report,
        resume=args.resume,
        allow_changed=args.allow_changed,
        backup=not args.no_backup,
        lease_seconds=float(args.lease_seconds),
        listener=ProgressBars(stderr),
    )
    started = time.perf_counter()
    response = command.run(config)
    if args.json:
        _write_json(response.to_wire())
    else:
        print_report(Console(), response, time.perf_counter() - started)
    return EXIT_SUCCESS if response.success else EXIT_FAILURES


def command_plan(args: argparse.Namespace, stderr: Console) -> int:
    result = command.plan(
        command.PlanConfig(args.migrations, args.target_version, args.from_version)
    )
    if args.json:
        _write_json(result.to_wire())
    else:
        print_plan(Console(), result)
    return EXIT_SUCCESS


def command_demo(args: argparse.Namespace, stderr: Console) -> int:
    return run_demo(args.profiles, args.json, stderr)


def command_unlock(args: argparse.Namespace, stderr: Console) -> int:
    result = command.unlock(_target(args))
    released = result.released
    if args.json:
        _write_json(result.to_wire())
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


def command_history(args: argparse.Namespace, stderr: Console) -> int:
    result = command.history(_target(args))
    if args.json:
        _write_json(result.to_wire())
    else:
        print_history(Console(), result)
    return EXIT_SUCCESS


COMMANDS = {
    "run": command_run,
    "plan": command_plan,
    "demo": command_demo,
    "unlock": command_unlock,
    "history": command_history,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status. Bad input is refused here, in one place (exit 2,
    nothing written); whatever else a command raises ends here too, as one document (with
    ``--json``) and a one-line message, never a traceback (logged at DEBUG:
    ``--log-level DEBUG``)."""
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "log_level", "WARNING"))
    stderr = Console(stderr=True)
    as_json = getattr(args, "json", False)
    try:
        return COMMANDS[args.command](args, stderr)
    except (MigrationInputError, ValidationError) as exc:
        return _refuse(exc, as_json, stderr)
    except Exception as exc:  # the one place an unexpected error becomes an answer
        logger.error(
            "command failed", extra={"command": args.command, "error_type": type(exc).__name__}
        )
        logger.debug("command failed: traceback", exc_info=exc)
        if as_json:
            _write_json(error_response(exc).to_wire())
        _say(stderr, f"{type(exc).__name__}: {exc}")
        return EXIT_FAILURES


if __name__ == "__main__":
    sys.exit(main())
