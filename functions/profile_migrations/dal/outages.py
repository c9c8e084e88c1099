"""Which AWS errors are an outage to wait out, and turning them into StoreUnavailableError.

The SDK's own retries (standard or adaptive mode) have already run when one of these
reaches us, so the store is unavailable for now: the caller stops cleanly and a later
attempt (the state machine's retry of a turn, ``--resume``) continues from a checkpoint.
Everything else (a refused condition, a validation error) is raised unchanged.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from profile_migrations.errors import StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

P = ParamSpec("P")
R = TypeVar("R")

# Throttling and server-side error codes of DynamoDB and S3 (AWS: "Error handling with
# DynamoDB", the 400 throttling codes and 5xx; S3 "Error responses": SlowDown,
# InternalError, ServiceUnavailable); any HTTP 5xx answer counts too.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "SlowDown",
        "InternalError",
        "RequestTimeout",
    }
)


def is_transient(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in TRANSIENT_CODES or status >= 500


@contextmanager
def outage_of(store: str) -> Iterator[None]:
    """Within the block, an outage of ``store`` raises :class:`StoreUnavailableError`
    naming it; other errors pass through unchanged."""
    try:
        yield
    except ClientError as exc:
        if not is_transient(exc):
            raise
        error = exc.response.get("Error", {})
        raise StoreUnavailableError(
            f"{store} kept answering {error.get('Code')}: {error.get('Message')}"
        ) from exc
    except BotoCoreError as exc:
        raise StoreUnavailableError(f"{store} could not be reached: {exc}") from exc


def outages_stop(store: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a data-access method (not a generator: see :func:`outage_of`) so that an
    outage of ``store`` raises :class:`StoreUnavailableError`."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            with outage_of(store):
                return method(*args, **kwargs)

        return call

    return decorate
