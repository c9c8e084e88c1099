"""Run records and per-profile reports in the report bucket: the pipeline's only S3 access.

Layout under ``runs/<run id>/``: ``report/segment-S/invocation-I.jsonl`` (every profile's
outcome), ``migrate/segment-S/invocation-I.json`` and ``verify/segment-S/invocation-I.json``
(what each Lambda invocation did). Keys are derived from the segment and invocation only,
so a retried invocation overwrites its own objects instead of adding to them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import IO, TYPE_CHECKING

import boto3
from botocore.config import Config

from profile_migrations.models import MigrateRecord, VerifyRecord

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3.client import S3Client
    from pydantic import BaseModel

RUNS_PREFIX = "runs"
READ_THREADS = 16
JSON_LINES = "application/x-ndjson"


def make_s3_client() -> S3Client:
    return boto3.client("s3", config=Config(max_pool_connections=READ_THREADS))


def _segment_part(segment: int, invocation: int) -> str:
    return f"segment-{segment:06d}/invocation-{invocation:06d}"


class RunRecords:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def report_uri(self, run_id: str) -> str:
        return f"s3://{self.bucket}/{RUNS_PREFIX}/{run_id}/report/"

    def put_report(self, run_id: str, segment: int, invocation: int, body: IO[bytes]) -> None:
        key = f"{RUNS_PREFIX}/{run_id}/report/{_segment_part(segment, invocation)}.jsonl"
        self._client.upload_fileobj(body, self.bucket, key, ExtraArgs={"ContentType": JSON_LINES})

    def put_migrate_record(self, run_id: str, record: MigrateRecord) -> None:
        self._put(f"{RUNS_PREFIX}/{run_id}/migrate", record.segment, record.invocation, record)

    def put_verify_record(self, run_id: str, record: VerifyRecord) -> None:
        self._put(f"{RUNS_PREFIX}/{run_id}/verify", record.segment, record.invocation, record)

    def _put(self, prefix: str, segment: int, invocation: int, record: BaseModel) -> None:
        self._client.put_object(
            Bucket=self.bucket,
            Key=f"{prefix}/{_segment_part(segment, invocation)}.json",
            Body=record.model_dump_json(by_alias=True).encode(),
            ContentType="application/json",
        )

    def migrate_records(self, run_id: str) -> Iterator[MigrateRecord]:
        for body in self._read_all(f"{RUNS_PREFIX}/{run_id}/migrate/"):
            yield MigrateRecord.model_validate_json(body)

    def verify_records(self, run_id: str) -> Iterator[VerifyRecord]:
        for body in self._read_all(f"{RUNS_PREFIX}/{run_id}/verify/"):
            yield VerifyRecord.model_validate_json(body)

    def _read_all(self, prefix: str) -> Iterator[bytes]:
        paginator = self._client.get_paginator("list_objects_v2")
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [entry["Key"] for entry in page.get("Contents", [])]
                yield from pool.map(self._read, keys)

    def _read(self, key: str) -> bytes:
        return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
