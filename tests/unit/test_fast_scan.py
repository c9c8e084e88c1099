"""The scan switch (dal/fast_scan.py), with no network: which path a client gets, and that
both paths read the same wire answer the same way.

A botocore that renamed or reshaped the private attributes the fast path uses is played by
stand-ins: a real client's public API without them, or with one of another shape. Wire
answers come from a ``before-send`` hook, which both paths honour.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from profile_migrations.dal import fast_scan
from profile_migrations.dal.dynamodb import ProfileTable, StaticCredentials, make_dynamodb_client
from profile_migrations.dal.fast_scan import FAST_SCAN_ENV, ScanRetries, select_scan
from profile_migrations.errors import InvalidRequestError
from profile_migrations.store import ScanPage
from tests.fakes import json_answer, on_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from botocore.awsrequest import AWSPreparedRequest, AWSResponse
    from mypy_boto3_dynamodb.client import DynamoDBClient

# Nothing listens there: a call that reached the network would fail, not pass.
UNREACHABLE = "http://127.0.0.1:9"
NO_SLEEP = ScanRetries(
    max_retries=2, retryable_codes=frozenset({"ThrottlingException"}), backoff=lambda _: 0.0
)
REQUEST: dict[str, Any] = {"TableName": "profiles", "Segment": 0, "TotalSegments": 1}
# A page as DynamoDB writes it: binary values base64, numbers as strings, a map keyed "B".
WIRE_PAGE: dict[str, Any] = {
    "Items": [
        {
            "pk": {"S": "ü 🎉"},
            "blob": {"B": "AAH/"},
            "empty": {"B": ""},
            "blobs": {"BS": ["AA==", "/w=="]},
            "n": {"N": "12345678901234567890123456789012345678"},
            "odd": {"M": {"B": {"S": "not binary"}, "BS": {"L": [{"B": "AQ=="}]}}},
            "nothing": {"NULL": True},
        }
    ],
    "Count": 1,
    "ScannedCount": 1,
    "LastEvaluatedKey": {"pk": {"S": "ü 🎉"}},
}
DECODED_ITEM: dict[str, Any] = {
    "pk": {"S": "ü 🎉"},
    "blob": {"B": b"\x00\x01\xff"},
    "empty": {"B": b""},
    "blobs": {"BS": [b"\x00", b"\xff"]},
    "n": {"N": "12345678901234567890123456789012345678"},
    "odd": {"M": {"B": {"S": "not binary"}, "BS": {"L": [{"B": b"\x01"}]}}},
    "nothing": {"NULL": True},
}


class WireAnswers:
    """Answers each Scan attempt with the next ``(status, payload)``, at ``before-send``."""

    def __init__(self, client: DynamoDBClient, *answers: tuple[int, dict[str, Any]]) -> None:
        self._answers = list(answers)
        self.attempts = 0
        on_event(client, "before-send.dynamodb.Scan", self._answer)

    def _answer(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        status, payload = self._answers[min(self.attempts, len(self._answers) - 1)]
        self.attempts += 1
        return json_answer(request.url, status, payload)


class PublicOnly:
    """A real client's public API (``meta``, ``scan``) and only the private attributes
    given: what a botocore that renamed the others would hand the switch."""

    def __init__(self, client: DynamoDBClient, **private: Any) -> None:
        self._real = client
        self.meta = client.meta
        for name, value in private.items():
            setattr(self, name, value)

    def scan(self, **request: Any) -> Any:
        return self._real.scan(**request)


@pytest.fixture
def client() -> DynamoDBClient:
    return make_dynamodb_client(
        UNREACHABLE, "us-east-1", credentials=StaticCredentials("unit", "unit")
    )


@pytest.fixture
def scan_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.LogCaptureFixture]:
    """The switch's log records, each once, whatever logging setup the CLI left behind."""
    logger = fast_scan.logger
    caplog.set_level(logging.INFO, logger=logger.name)
    monkeypatch.setattr(logger, "propagate", False)
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def _signer(client: DynamoDBClient) -> Any:
    return client._request_signer  # type: ignore[attr-defined]


def _endpoint(client: DynamoDBClient) -> Any:
    return client._endpoint  # type: ignore[attr-defined]


# Clients the fast path cannot carry, each with the attribute its reason must name.
STAND_INS: dict[str, tuple[Callable[[DynamoDBClient], PublicOnly], str]] = {
    "no request signer": (
        lambda client: PublicOnly(client, _endpoint=_endpoint(client)),
        "_request_signer",
    ),
    "signer renamed its method": (
        lambda client: PublicOnly(
            client,
            _request_signer=SimpleNamespace(sign_request=_signer(client).sign),
            _endpoint=_endpoint(client),
        ),
        "_request_signer.sign",
    ),
    "signer takes other arguments": (
        lambda client: PublicOnly(
            client,
            _request_signer=SimpleNamespace(sign=lambda request: None),
            _endpoint=_endpoint(client),
        ),
        "_request_signer.sign",
    ),
    "no endpoint": (
        lambda client: PublicOnly(client, _request_signer=_signer(client)),
        "_endpoint.http_session",
    ),
    "endpoint without its session": (
        lambda client: PublicOnly(
            client, _request_signer=_signer(client), _endpoint=SimpleNamespace()
        ),
        "_endpoint.http_session",
    ),
}


def test_the_pinned_botocore_client_takes_the_fast_path(
    client: DynamoDBClient, scan_logs: pytest.LogCaptureFixture
) -> None:
    path = select_scan(client, NO_SLEEP, environ={})

    assert path.name == "fast"
    (record,) = scan_logs.records
    assert (record.levelno, record.getMessage()) == (logging.INFO, "scan path selected")
    assert record.__dict__["scan_path"] == "fast"


@pytest.mark.parametrize("case", STAND_INS)
def test_a_client_without_the_private_attributes_scans_through_botocore(
    client: DynamoDBClient, scan_logs: pytest.LogCaptureFixture, case: str
) -> None:
    # Given a client whose private attributes are missing or of another shape
    build, attribute = STAND_INS[case]
    stand_in = build(client)
    answers = WireAnswers(client, (200, WIRE_PAGE))

    # When a table is built on it and scans a page
    table = ProfileTable(stand_in, "profiles")  # type: ignore[arg-type]
    page = table.scan_page(0, 1)

    # Then it scans through client.scan, says so once in a warning, and reads the page
    assert table.scan_path == "botocore"
    (record,) = scan_logs.records
    assert (record.levelno, record.getMessage()) == (logging.WARNING, "scan path selected")
    assert record.__dict__["scan_path"] == "botocore"
    assert attribute in record.__dict__["reason"]
    assert page == ScanPage(items=[DECODED_ITEM], last_evaluated_key=WIRE_PAGE["LastEvaluatedKey"])
    assert answers.attempts == 1


def test_a_stand_in_with_no_client_api_at_all_still_builds_a_table() -> None:
    table = ProfileTable(SimpleNamespace(), "profiles")  # type: ignore[arg-type]

    assert table.scan_path == "botocore"


def test_the_caller_can_force_botocore(
    client: DynamoDBClient, scan_logs: pytest.LogCaptureFixture
) -> None:
    stubber = Stubber(client)
    stubber.add_response("scan", {"Items": [{"pk": {"B": b"\x00"}}], "Count": 1})

    table = ProfileTable(client, "profiles", fast_scan=False)
    with stubber:
        page = table.scan_page(0, 1)

    assert table.scan_path == "botocore"
    assert scan_logs.records[0].__dict__["reason"] == "disabled by the caller"
    assert page == ScanPage(items=[{"pk": {"B": b"\x00"}}], last_evaluated_key=None)
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", "botocore"),
        (" OFF ", "botocore"),
        ("false", "botocore"),
        ("no", "botocore"),
        ("", "fast"),
        ("1", "fast"),
        ("yes", "fast"),
    ],
)
def test_the_environment_variable_switches_the_fast_path(
    client: DynamoDBClient, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv(FAST_SCAN_ENV, value)

    assert ProfileTable(client, "profiles").scan_path == expected


def test_an_explicit_choice_overrides_the_environment(
    client: DynamoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAST_SCAN_ENV, "0")

    assert ProfileTable(client, "profiles", fast_scan=True).scan_path == "fast"


def test_an_unknown_environment_value_is_a_configuration_error(client: DynamoDBClient) -> None:
    with pytest.raises(InvalidRequestError, match=FAST_SCAN_ENV):
        select_scan(client, NO_SLEEP, environ={FAST_SCAN_ENV: "disable"})


def test_both_paths_read_one_wire_page_alike(client: DynamoDBClient) -> None:
    WireAnswers(client, (200, WIRE_PAGE))
    fast = ProfileTable(client, "profiles", fast_scan=True)
    fallback = ProfileTable(client, "profiles", fast_scan=False)

    page = fast.scan_page(0, 1, start_key={"pk": {"B": b"\xff"}})

    assert fast.scan_path == "fast"
    assert page == fallback.scan_page(0, 1, start_key={"pk": {"B": b"\xff"}})
    assert page.items == [DECODED_ITEM]


def test_the_fast_path_retries_a_throttle_then_answers(client: DynamoDBClient) -> None:
    throttle = {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException"}
    answers = WireAnswers(client, (400, throttle), (200, WIRE_PAGE))
    path = select_scan(client, NO_SLEEP, enabled=True)

    response = path.scan(**REQUEST)

    assert path.name == "fast"
    assert answers.attempts == 2
    assert response["Items"] == [DECODED_ITEM]


def test_both_paths_raise_the_same_client_error(client: DynamoDBClient) -> None:
    refusal = {
        "__type": "com.amazonaws.dynamodb.v20120810#ValidationException",
        "message": "Segment must be less than TotalSegments",
    }
    WireAnswers(client, (400, refusal))
    errors = []
    for enabled in (True, False):
        path = select_scan(client, NO_SLEEP, enabled=enabled)
        with pytest.raises(ClientError) as caught:
            path.scan(**REQUEST)
        errors.append((caught.value.operation_name, caught.value.response["Error"]))

    assert errors[0] == errors[1]
    assert errors[0][1]["Code"] == "ValidationException"
