"""One DynamoDB Local for the whole benchmark, and freshly seeded tables on it.

Uses the project's own launcher and seeding (``DynamoDBLocal``, ``ProfileTable``,
``sample_profiles``). Each measurement gets a new table with the same profiles and the
table is deleted afterwards, so the engine's heap does not grow with the run.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TYPE_CHECKING

from bench.workload import chunked
from profile_migrations.dal.dynamodb import StaticCredentials, make_dynamodb_client
from profile_migrations.dal.seeding import create_table, put_items
from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA, sample_profiles

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.store import RawItem

logger = logging.getLogger(__name__)

BENCH_REGION = "us-east-1"
# DynamoDB Local accepts any credentials; these are handed to every child process.
BENCH_CREDENTIALS = StaticCredentials(access_key_id="bench", secret_access_key="bench")
SEED_THREADS = 4
SEED_CHUNK_ITEMS = 500


class BenchEngine:
    """A running DynamoDB Local plus the environment children need to reach it."""

    def __init__(self, local: DynamoDBLocal) -> None:
        self.local = local
        self.client: DynamoDBClient = make_dynamodb_client(
            local.endpoint_url,
            BENCH_REGION,
            max_connections=SEED_THREADS * 2,
            credentials=BENCH_CREDENTIALS,
        )
        self._names = itertools.count(1)
        self._cache: dict[int, list[RawItem]] = {}

    @property
    def endpoint_url(self) -> str:
        return self.local.endpoint_url

    @property
    def java_pid(self) -> int:
        return self.local.process.pid

    def child_env(self) -> dict[str, str]:
        """The harness's environment with the engine's credentials and region only."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("AWS_") or name == "AWS_EC2_METADATA_DISABLED"
        }
        env.update(
            AWS_ACCESS_KEY_ID=BENCH_CREDENTIALS.access_key_id,
            AWS_SECRET_ACCESS_KEY=BENCH_CREDENTIALS.secret_access_key,
            AWS_DEFAULT_REGION=BENCH_REGION,
            AWS_EC2_METADATA_DISABLED="true",
        )
        return env

    def profiles(self, count: int, keep: bool) -> Iterator[RawItem]:
        """The first ``count`` sample profiles (seed 7); kept in memory when ``keep``."""
        if count in self._cache:
            return iter(self._cache[count])
        if not keep:
            return sample_profiles(count)
        self._cache[count] = list(sample_profiles(count))
        return iter(self._cache[count])

    @contextmanager
    def seeded_table(self, count: int, label: str, keep_profiles: bool = True) -> Iterator[str]:
        """A new table holding ``count`` version-1 profiles; deleted on exit."""
        name = f"Bench-{label}-{next(self._names)}"
        create_table(self.client, name, PROFILE_KEY_SCHEMA)
        started = time.perf_counter()
        seeded = self._seed(self.client, name, self.profiles(count, keep_profiles))
        if seeded != count:
            raise RuntimeError(f"seeded {seeded} profiles into {name}, expected {count}")
        logger.debug("seeded %s: %d profiles in %.1f s", name, count, time.perf_counter() - started)
        try:
            yield name
        finally:
            self._delete_with_companions(name)

    def _delete_with_companions(self, name: str) -> None:
        """Delete the table and any the runner made beside it (its ``-migrations`` control
        table), so the engine holds nothing from finished measurements."""
        for table in self.client.list_tables()["TableNames"]:
            if table == name or table.startswith(f"{name}-"):
                self.client.delete_table(TableName=table)

    def table_size(self, name: str) -> tuple[int, int]:
        """DescribeTable's ItemCount and TableSizeBytes."""
        table = self.client.describe_table(TableName=name)["Table"]
        return int(table.get("ItemCount", 0)), int(table.get("TableSizeBytes", 0))

    @staticmethod
    def _seed(client: DynamoDBClient, name: str, items: Iterator[RawItem]) -> int:
        written = 0
        with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
            pending: set[Future[int]] = set()
            for chunk in chunked(items, SEED_CHUNK_ITEMS):
                if len(pending) >= SEED_THREADS * 2:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    written += sum(future.result() for future in done)
                pending.add(pool.submit(put_items, client, name, chunk))
            written += sum(future.result() for future in pending)
        return written


@contextmanager
def running_engine() -> Iterator[BenchEngine]:
    """Start DynamoDB Local (in memory) for the benchmark; stopped on exit."""
    with DynamoDBLocal.start() as local:
        logger.info("DynamoDB Local is running at %s", local.endpoint_url)
        yield BenchEngine(local)
