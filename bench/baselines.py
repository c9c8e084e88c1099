"""The reference loops, each run in its own process: ``python -m bench.baselines``.

- ``naive``: the seed's design. One sequential scan; per profile, the migration chain and
  one conditional ``PutItem`` of the whole new item (it exists and its version is still the
  one read). No parallelism.
- ``loop``: the best one-call-per-profile loop. A parallel scan (one thread per segment)
  feeding a pool of writer threads that send one conditional ``UpdateItem`` per profile,
  the very update and condition the runner sends (looked up by key: no migration work).
- ``ceiling``: the engine's ceiling. A pool of writer threads putting the same new items
  (already in memory, no scan) with unconditional ``BatchWriteItem`` calls of 25.
- ``scan-ceiling``: the ceiling of any scan-then-write job. The loop's parallel scan
  feeding writer threads that put the new items with unconditional ``BatchWriteItem``.

Prints one JSON document on stdout: counts, and the wall and CPU seconds of the timed
part (from the first scan to the last write; loading the precomputed writes is outside).
Credentials and region come from the environment, as for the CLI.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bench.workload import chunked, item_key, load_plan, migration_job
from profile_migrations.clock import run_clock
from profile_migrations.codec import deserialize_item, serialize_item
from profile_migrations.dal.dynamodb import (
    make_dynamodb_client,
)
from profile_migrations.dal.seeding import MAX_ITEMS_PER_BATCH_WRITE, put_items
from profile_migrations.versions import VERSION_ATTRIBUTE, profile_version

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from bench.workload import ItemKey, PlannedWrite
    from profile_migrations.store import RawItem

CONDITION_FAILED = "ConditionalCheckFailedException"
VARIANTS = ("naive", "loop", "ceiling", "scan-ceiling")


@dataclass
class LoopResult:
    variant: str
    segments: int
    workers: int
    scanned: int
    written: int
    conflicts: int
    elapsed_s: float
    cpu_s: float


def _pages(
    client: DynamoDBClient, table: str, segment: int | None, total_segments: int | None
) -> Iterator[list[RawItem]]:
    request: dict[str, Any] = {"TableName": table}
    if segment is not None:
        request["Segment"] = segment
        request["TotalSegments"] = total_segments
    while True:
        response = client.scan(**request)
        items: list[RawItem] = response.get("Items", [])  # type: ignore[assignment]
        yield items
        last_key = response.get("LastEvaluatedKey")
        if last_key is None:
            return
        request["ExclusiveStartKey"] = last_key


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_naive(client: DynamoDBClient, table: str) -> tuple[int, int, int]:
    """Sequential scan; migrate and conditionally put each profile, one call at a time."""
    job = migration_job(dry_run=False)
    scanned = written = conflicts = 0
    with run_clock(job.started_at):
        for page in _pages(client, table, None, None):
            for raw in page:
                scanned += 1
                profile = deserialize_item(raw)
                version = profile_version(profile)
                migrated = job.chain.apply(profile, job.target_version)
                condition = "attribute_exists(#k0) AND attribute_exists(#k1) AND "
                names = {"#k0": "userId", "#k1": "profileId", "#v": VERSION_ATTRIBUTE}
                arguments: dict[str, Any] = {}
                if VERSION_ATTRIBUTE in raw:
                    condition += "#v = :v"
                    arguments["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
                else:
                    condition += "attribute_not_exists(#v)"
                try:
                    client.put_item(
                        TableName=table,
                        Item=serialize_item(migrated),
                        ConditionExpression=condition,
                        ExpressionAttributeNames=names,
                        **arguments,
                    )
                    written += 1
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                        raise
                    conflicts += 1
    return scanned, written, conflicts


def run_loop(
    client: DynamoDBClient,
    table: str,
    planned: dict[ItemKey, PlannedWrite],
    segments: int,
    workers: int,
) -> tuple[int, int, int]:
    """Parallel scan; one conditional UpdateItem per profile from a pool of writers."""

    def write_one(raw: RawItem) -> bool:
        try:
            client.update_item(TableName=table, **planned[item_key(raw)].update)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != CONDITION_FAILED:
                raise
            return False
        return True

    with ThreadPoolExecutor(max_workers=workers) as writers:

        def scan_segment(segment: int) -> tuple[int, int, int]:
            scanned = written = 0
            for page in _pages(client, table, segment, segments):
                scanned += len(page)
                written += sum(writers.map(write_one, page))
            return scanned, written, scanned - written

        return _sum_segments(scan_segment, segments)


def run_ceiling(
    client: DynamoDBClient, table: str, planned: dict[ItemKey, PlannedWrite], workers: int
) -> tuple[int, int, int]:
    """No scan; unconditional BatchWriteItem of the new items from a pool of writers."""
    batches = chunked((write.new_item for write in planned.values()), MAX_ITEMS_PER_BATCH_WRITE)
    with ThreadPoolExecutor(max_workers=workers) as writers:
        written = sum(writers.map(lambda batch: put_items(client, table, batch), batches))
    return len(planned), written, 0


def run_scan_ceiling(
    client: DynamoDBClient,
    table: str,
    planned: dict[ItemKey, PlannedWrite],
    segments: int,
    workers: int,
) -> tuple[int, int, int]:
    """Parallel scan; unconditional BatchWriteItem of the new items from a pool of writers."""

    def write_batch(batch: list[RawItem]) -> int:
        return put_items(client, table, batch)

    with ThreadPoolExecutor(max_workers=workers) as writers:

        def scan_segment(segment: int) -> tuple[int, int, int]:
            scanned = written = 0
            for page in _pages(client, table, segment, segments):
                scanned += len(page)
                new_items = [planned[item_key(raw)].new_item for raw in page]
                batches = chunked(new_items, MAX_ITEMS_PER_BATCH_WRITE)
                written += sum(writers.map(write_batch, batches))
            return scanned, written, 0

        return _sum_segments(scan_segment, segments)


def _sum_segments(
    scan_segment: Callable[[int], tuple[int, int, int]], segments: int
) -> tuple[int, int, int]:
    with ThreadPoolExecutor(max_workers=segments) as scanners:
        results: list[tuple[int, int, int]] = list(scanners.map(scan_segment, range(segments)))
    return (
        sum(result[0] for result in results),
        sum(result[1] for result in results),
        sum(result[2] for result in results),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.baselines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--table", required=True)
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--segments", type=int, default=1, help="scan segments (threads)")
    parser.add_argument("--workers", type=int, default=1, help="writer threads")
    parser.add_argument("--plan", type=Path, help="precomputed writes (loop and ceiling)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.variant != "naive" and args.plan is None:
        parser.error(f"{args.variant} needs --plan (the precomputed writes)")
    segments, workers = (1, 1) if args.variant == "naive" else (args.segments, args.workers)
    if args.variant == "ceiling":
        segments = 0
    planned = load_plan(args.plan) if args.variant != "naive" else {}
    client = make_dynamodb_client(args.endpoint_url, max_connections=segments + workers + 2)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    if args.variant == "naive":
        scanned, written, conflicts = run_naive(client, args.table)
    elif args.variant == "loop":
        scanned, written, conflicts = run_loop(client, args.table, planned, segments, workers)
    elif args.variant == "ceiling":
        scanned, written, conflicts = run_ceiling(client, args.table, planned, workers)
    else:
        scanned, written, conflicts = run_scan_ceiling(
            client, args.table, planned, segments, workers
        )
    result = LoopResult(
        variant=args.variant,
        segments=segments,
        workers=workers,
        scanned=scanned,
        written=written,
        conflicts=conflicts,
        elapsed_s=time.perf_counter() - started,
        cpu_s=_cpu_seconds() - cpu_before,
    )
    sys.stdout.write(json.dumps(asdict(result)) + "\n")
    return 0 if written == scanned else 1


if __name__ == "__main__":
    sys.exit(main())
