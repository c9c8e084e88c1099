"""The report bucket's page reports (dal/s3.py), against moto's S3 (no network)."""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from profile_migrations.dal.s3 import RunRecords
from profile_migrations.logic.outcomes import FAILED, SUCCESS, ProfileOutcome
from profile_migrations.logic.report import render_lines

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3.client import S3Client

BUCKET = "reports"
GZIP_MAGIC = b"\x1f\x8b"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Client]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def _page(*user_ids: str) -> bytes:
    return render_lines(
        [
            ProfileOutcome({"userId": user_id, "profileId": "p"}, 1, 5, SUCCESS)
            for user_id in user_ids
        ]
        + [ProfileOutcome({"userId": "bad", "profileId": "p"}, 1, 5, FAILED, "boom")]
    )


def _report_keys(s3: S3Client, run_id: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"runs/{run_id}/report/")
    return [entry["Key"] for entry in listed.get("Contents", [])]


def test_a_page_report_is_stored_gzip_compressed_as_it_is(client: S3Client) -> None:
    # Given a page's JSON Lines
    records = RunRecords(client, BUCKET)
    body = _page("a", "b", "c")

    # When it is stored
    records.put_page_report("run-1", 2, 7, body)

    # Then one .jsonl.gz object under the run's report prefix holds it, gzip-compressed,
    # typed as gzip and with no Content-Encoding that would make a client decompress it
    key = "runs/run-1/report/segment-000002/page-00000007.jsonl.gz"
    assert _report_keys(client, "run-1") == [key]
    assert records.report_uri("run-1") == f"s3://{BUCKET}/runs/run-1/report/"
    stored = client.get_object(Bucket=BUCKET, Key=key)
    compressed = stored["Body"].read()
    assert compressed.startswith(GZIP_MAGIC)
    assert gzip.decompress(compressed) == body
    assert stored["ContentType"] == "application/gzip"
    assert "ContentEncoding" not in stored


def test_a_page_stored_again_replaces_its_object(client: S3Client) -> None:
    # Given a page a killed turn stored
    records = RunRecords(client, BUCKET)
    records.put_page_report("run-1", 0, 0, _page("a", "b"))
    first = client.get_object(Bucket=BUCKET, Key=_report_keys(client, "run-1")[0])["Body"].read()

    # When the next turn stores the same page again, and then with other outcomes
    records.put_page_report("run-1", 0, 0, _page("a", "b"))
    again = client.get_object(Bucket=BUCKET, Key=_report_keys(client, "run-1")[0])["Body"].read()
    records.put_page_report("run-1", 0, 0, _page("a", "b", "c"))

    # Then the page has one object, the same bytes for the same lines (no time in the
    # gzip header), and the last lines stored
    (key,) = _report_keys(client, "run-1")
    assert again == first
    last = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert gzip.decompress(last) == _page("a", "b", "c")
