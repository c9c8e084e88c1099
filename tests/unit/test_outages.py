"""Outages of the control table and the report bucket become StoreUnavailableError (which
the state machine retries); everything else passes through unchanged. The names the state
machine matches are the exception classes' names."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from profile_migrations import environment, errors
from profile_migrations.dal.outages import outages_stop
from profile_migrations.errors import StoreUnavailableError
from tests.fakes import client_error


def failing(exc: Exception) -> Any:
    @outages_stop("the control table")
    def call() -> None:
        raise exc

    return call


@pytest.mark.parametrize(
    "exc",
    [
        client_error("ProvisionedThroughputExceededException"),
        client_error("ThrottlingException"),
        client_error("SlowDown", status=503),
        client_error("InternalError", status=500),
        client_error("AnythingElse", status=502),
        EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"),
    ],
    ids=["throughput", "throttling", "s3-slow-down", "s3-internal", "any-5xx", "unreachable"],
)
def test_an_outage_becomes_store_unavailable_naming_the_store(exc: Exception) -> None:
    with pytest.raises(StoreUnavailableError, match="the control table"):
        failing(exc)()


@pytest.mark.parametrize(
    "code", ["ConditionalCheckFailedException", "ValidationException", "AccessDeniedException"]
)
def test_anything_else_passes_through_unchanged(code: str) -> None:
    with pytest.raises(ClientError) as caught:
        failing(client_error(code))()

    assert caught.value.response["Error"]["Code"] == code


@pytest.mark.parametrize(
    "name",
    [
        environment.ERROR_STORE_UNAVAILABLE,
        environment.ERROR_SEGMENT_BUSY,
        environment.ERROR_REQUEST_REFUSED,
    ],
)
def test_each_error_name_the_state_machine_matches_is_an_exception_class(name: str) -> None:
    error_class = getattr(errors, name)

    assert issubclass(error_class, errors.MigrationError)
    assert error_class.__name__ == name
