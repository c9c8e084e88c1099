"""Run reports, per-page failures and the run's document in the report bucket: the
pipeline's only S3 access.

Layout under ``runs/<run id>/`` (the run whose checkpoints the segments use, so a resumed
run's pages land beside its first execution's):
- ``report/segment-S/page-P.jsonl.gz``: every profile's outcome on page P of segment S,
  JSON Lines compressed with gzip (read them with ``zcat``/``gunzip -c``);
- ``failures/segment-S/page-P.json``: that page's failed profiles (written when there are
  some, and for the first page of every turn, empty or not);
- ``invalid/segment-S/page-P.json``: what verification found away from the target there;
- ``journal/segment-S/page-P/T-R.jsonl.gz``: the write-ahead journal of page P's writes
  (logic/journal.py), one object per round of the page's writes, stored before the first
  of them is sent; ``T`` is the time in milliseconds and ``R`` random, so a page done again
  after a killed turn adds an object (the writes it recorded may have been applied) and
  the keys sort oldest first within the page;
- ``output.json``: the execution's whole document (under the execution's own id).
Keys follow the page's number in its segment, so a page processed again after a killed turn
replaces its objects instead of adding to them.
"""

from __future__ import annotations

import gzip
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from profile_migrations.dal.outages import outage_of, outages_stop
from profile_migrations.models.pipeline import PageFailures, PageInvalid
from profile_migrations.models.results import MigrationResponse

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3.client import S3Client
    from pydantic import BaseModel

    from profile_migrations.models.results import InvalidProfile, ProfileResult

RUNS_PREFIX = "runs"
READ_THREADS = 16
SDK_MAX_ATTEMPTS = 10
GZIP = "application/gzip"
# zlib's default. A page's report is compressed on the Lambda's billed time: on pages keyed
# by UUIDs, level 9 saves under 1 % more bytes for about twice the CPU, and level 1 leaves
# about 8 % more bytes to store for 90 days.
REPORT_GZIP_LEVEL = 6
JSON = "application/json"

BUCKET_STORE = "the report bucket"
_outages = outages_stop(BUCKET_STORE)


def make_s3_client() -> S3Client:
    config = Config(
        max_pool_connections=READ_THREADS,
        retries={"mode": "standard", "max_attempts": SDK_MAX_ATTEMPTS},
    )
    return boto3.client("s3", config=config)


def compress_report(body: bytes) -> bytes:
    """A page's JSON Lines as its report object holds them: gzip at
    :data:`REPORT_GZIP_LEVEL`, with no time in the header (``mtime=0``), so the bytes
    depend on the lines alone and a page stored again with the same lines is the same
    object."""
    return gzip.compress(body, compresslevel=REPORT_GZIP_LEVEL, mtime=0)


def _page_part(segment: int, page: int) -> str:
    return f"segment-{segment:06d}/page-{page:08d}"


class RunRecords:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def report_uri(self, run_id: str) -> str:
        return f"s3://{self.bucket}/{RUNS_PREFIX}/{run_id}/report/"

    @_outages
    def put_page_report(self, run_id: str, segment: int, page: int, body: bytes) -> None:
        """Store the page's JSON Lines ``body`` gzip-compressed, replacing what an earlier
        turn stored for the same page. The object holds the gzip bytes as they are: its
        ``Content-Type`` is ``application/gzip`` and it has no ``Content-Encoding``."""
        key = f"{RUNS_PREFIX}/{run_id}/report/{_page_part(segment, page)}.jsonl.gz"
        # No ContentEncoding: clients that honour Content-Encoding (browsers, some SDK
        # downloads) would decompress on the way and leave a file named .gz holding text.
        self._client.put_object(
            Bucket=self.bucket, Key=key, Body=compress_report(body), ContentType=GZIP
        )

    def journal_uri(self, run_id: str) -> str:
        return f"s3://{self.bucket}/{RUNS_PREFIX}/{run_id}/journal/"

    @_outages
    def put_journal(self, run_id: str, segment: int, page: int, body: bytes) -> None:
        """Store one round of a page's journal entries (JSON Lines ``body``), gzip-compressed,
        beside any earlier round's."""
        stamp = f"{time.time_ns() // 1_000_000:013d}-{secrets.token_hex(4)}"
        key = f"{RUNS_PREFIX}/{run_id}/journal/{_page_part(segment, page)}/{stamp}.jsonl.gz"
        self._client.put_object(
            Bucket=self.bucket, Key=key, Body=compress_report(body), ContentType=GZIP
        )

    @_outages
    def journal_keys(self, run_id: str, segment: int) -> list[str]:
        """The keys of segment ``segment``'s journal objects, oldest first (by page, then
        by the time each round was stored)."""
        prefix = f"{RUNS_PREFIX}/{run_id}/journal/segment-{segment:06d}/"
        paginator = self._client.get_paginator("list_objects_v2")
        keys = [
            entry["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for entry in page.get("Contents", [])
        ]
        return sorted(keys)

    @_outages
    def read_journal(self, key: str) -> bytes:
        """A journal object's JSON Lines."""
        return gzip.decompress(self._read(key))

    @_outages
    def put_page_failures(self, run_id: str, record: PageFailures) -> None:
        self._put(f"{RUNS_PREFIX}/{run_id}/failures", record.segment, record.page, record)

    @_outages
    def put_page_invalid(self, run_id: str, record: PageInvalid) -> None:
        self._put(f"{RUNS_PREFIX}/{run_id}/invalid", record.segment, record.page, record)

    @_outages
    def put_output(self, run_id: str, response: MigrationResponse) -> str:
        """Store the execution's whole document; returns its ``s3://`` URI."""
        key = f"{RUNS_PREFIX}/{run_id}/output.json"
        body = response.model_dump_json(by_alias=True, exclude_none=True).encode()
        self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=JSON)
        return f"s3://{self.bucket}/{key}"

    @_outages
    def output(self, run_id: str) -> MigrationResponse | None:
        """The document :meth:`put_output` stored, None when there is none."""
        try:
            body = self._read(f"{RUNS_PREFIX}/{run_id}/output.json")
        except self._client.exceptions.NoSuchKey:
            return None
        return MigrationResponse.model_validate_json(body)

    def _put(self, prefix: str, segment: int, page: int, record: BaseModel) -> None:
        self._client.put_object(
            Bucket=self.bucket,
            Key=f"{prefix}/{_page_part(segment, page)}.json",
            Body=record.model_dump_json(by_alias=True).encode(),
            ContentType=JSON,
        )

    def failures(self, run_id: str) -> Iterator[ProfileResult]:
        with outage_of(BUCKET_STORE):
            for body in self._read_all(f"{RUNS_PREFIX}/{run_id}/failures/"):
                yield from PageFailures.model_validate_json(body).failures

    def invalid(self, run_id: str) -> Iterator[InvalidProfile]:
        with outage_of(BUCKET_STORE):
            for body in self._read_all(f"{RUNS_PREFIX}/{run_id}/invalid/"):
                yield from PageInvalid.model_validate_json(body).invalid

    def _read_all(self, prefix: str) -> Iterator[bytes]:
        paginator = self._client.get_paginator("list_objects_v2")
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [entry["Key"] for entry in page.get("Contents", [])]
                yield from pool.map(self._read, keys)

    def _read(self, key: str) -> bytes:
        return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
