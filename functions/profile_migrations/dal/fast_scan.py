"""Scan pages without botocore's response parser, behind a switch that falls back to it.

``client.scan`` parses a page by walking botocore's output shape attribute by attribute;
for 1 MB pages that cost a third of the client's CPU per migrated profile (cProfile of a
5,000-profile segment), where ``json.loads`` does it in C. The fast path sends the same
``Scan`` request with the client's own endpoint, signer and HTTP session, which are
private attributes of botocore (``client._request_signer``,
``client._endpoint.http_session``), and parses the page with ``json.loads``.

:func:`select_scan` decides once per client which path scans take. The fast path, when
the client has those attributes in the shape it calls them, unless the caller disables it
(``enabled=False``) or the environment variable :data:`FAST_SCAN_ENV`
(``PROFILE_MIGRATIONS_FAST_SCAN``) is ``0``, ``false``, ``off`` or ``no``; otherwise the
public ``client.scan``. Both answer the same page (binary values as ``bytes``, numbers as
their wire strings): ``tests/integration/test_fast_scan.py`` compares them on DynamoDB
Local, so a botocore upgrade that renames the attributes or changes what they do fails a
test, and at run time can only cost speed, never correctness.
"""

from __future__ import annotations

import base64
import inspect
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ClientError
from botocore.hooks import first_non_none_response

from profile_migrations.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_dynamodb.client import DynamoDBClient

logger = logging.getLogger(__name__)

# Set to 0, false, off or no to make every scan go through botocore's client.scan.
FAST_SCAN_ENV = "PROFILE_MIGRATIONS_FAST_SCAN"
DISABLING_VALUES = frozenset({"0", "false", "off", "no"})
ENABLING_VALUES = frozenset({"", "1", "true", "on", "yes"})
OPERATION = "Scan"
# DynamoDB's JSON protocol: the X-Amz-Target prefix botocore's service model names.
TARGET_PREFIX = "DynamoDB_20120810"
CONTENT_TYPE = "application/x-amz-json-1.0"
# A binary attribute's type tag on the wire; string values cannot contain it unescaped.
BINARY_TAG = re.compile(rb'\{\s*"BS?"\s*:')


@dataclass(frozen=True)
class ScanRetries:
    """How the fast path retries a failed attempt, as the client's SDK retries would:
    transport errors, 5xx answers and ``retryable_codes``, at most ``max_retries`` times,
    sleeping ``backoff(attempt)`` seconds before each retry."""

    max_retries: int
    retryable_codes: frozenset[str]
    backoff: Callable[[int], float]


@dataclass(frozen=True)
class _Transport:
    """The client's pieces the fast path sends with, resolved once."""

    endpoint_url: str
    sign: Callable[..., Any]
    emit: Callable[..., Any]
    send: Callable[..., Any]


def _base64_text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _decode_binary(value: Any) -> Any:
    """Wire JSON to botocore's shape: B and BS values become bytes, everything else stays."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((tag, payload),) = value.items()
            if tag == "B" and isinstance(payload, str):
                return {"B": base64.b64decode(payload)}
            if tag == "BS" and isinstance(payload, list):
                return {"BS": [base64.b64decode(blob) for blob in payload]}
        return {name: _decode_binary(inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [_decode_binary(inner) for inner in value]
    return value


def _json_error(content: bytes, status: int) -> dict[str, str]:
    try:
        payload = json.loads(content)
    except ValueError:
        return {"Code": f"HTTP{status}", "Message": content[:200].decode(errors="replace")}
    code = str(payload.get("__type", f"HTTP{status}")).rpartition("#")[2]
    return {"Code": code, "Message": str(payload.get("message") or payload.get("Message") or "")}


class FastScan:
    """``client.scan`` with the client's endpoint, credentials, signer and HTTP session,
    parsed by ``json.loads``: binary values, base64 on the wire, are decoded to ``bytes``
    as botocore would. ``before-send`` is emitted as botocore does, so its hooks (moto's
    stubs, fault injection) still apply. Reads only; an answer that stays an error after
    the retries raises :class:`ClientError` (code and message as DynamoDB sent them), a
    transport failure the last :class:`BotoCoreError`, as ``client.scan`` would."""

    def __init__(self, transport: _Transport, retries: ScanRetries) -> None:
        self._transport = transport
        self._retries = retries

    def __call__(self, **request: Any) -> dict[str, Any]:
        body = json.dumps(request, separators=(",", ":"), default=_base64_text).encode()
        retries = self._retries
        for attempt in range(retries.max_retries + 1):
            last = attempt == retries.max_retries
            try:
                answer = self._send(body)
            except BotoCoreError:
                if last:
                    raise
                time.sleep(retries.backoff(attempt))
                continue
            if answer.status_code < 300:
                page: dict[str, Any] = json.loads(answer.content)
                return _decode_binary(page) if BINARY_TAG.search(answer.content) else page
            error = _json_error(answer.content, answer.status_code)
            retryable = answer.status_code >= 500 or error["Code"] in retries.retryable_codes
            if not retryable or last:
                response: Any = {
                    "Error": error,
                    "ResponseMetadata": {"HTTPStatusCode": answer.status_code},
                }
                raise ClientError(response, OPERATION)
            time.sleep(retries.backoff(attempt))
        raise AssertionError("the loop returns or raises on its last attempt")

    def _send(self, body: bytes) -> Any:
        transport = self._transport
        request = AWSRequest(
            method="POST",
            url=transport.endpoint_url,
            data=body,
            headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"{TARGET_PREFIX}.{OPERATION}"},
        )
        # The client's own signer and HTTP session: the same credentials chain, region,
        # connection pool and TLS settings as its public calls.
        transport.sign(OPERATION, request)
        prepared = request.prepare()
        responses = transport.emit(f"before-send.dynamodb.{OPERATION}", request=prepared)
        stubbed = first_non_none_response(responses)
        if stubbed is not None:
            return stubbed
        return transport.send(prepared)


def _accepts(function: object, *args: Any, **kwargs: Any) -> TypeGuard[Callable[..., Any]]:
    """Whether ``function`` is callable with these arguments, by its signature alone."""
    if not callable(function):
        return False
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return False
    return True


def _resolve_transport(client: Any) -> _Transport | str:
    """The client's endpoint, signer, event hooks and HTTP session; or, when one is missing
    or no longer has the shape the fast path calls, why it cannot be used."""
    meta = getattr(client, "meta", None)
    service_model = getattr(meta, "service_model", None)
    if getattr(service_model, "service_name", None) != "dynamodb":
        return "not a botocore DynamoDB client"
    if getattr(service_model, "metadata", {}).get("targetPrefix") != TARGET_PREFIX:
        return f"the service model's targetPrefix is not {TARGET_PREFIX}"
    endpoint_url = getattr(meta, "endpoint_url", None)
    if not isinstance(endpoint_url, str) or not endpoint_url:
        return "client.meta.endpoint_url is not a URL"
    sign = getattr(getattr(client, "_request_signer", None), "sign", None)
    if not _accepts(sign, OPERATION, None):
        return "client._request_signer.sign is missing or takes other arguments"
    emit = getattr(getattr(meta, "events", None), "emit", None)
    if not _accepts(emit, f"before-send.dynamodb.{OPERATION}", request=None):
        return "client.meta.events.emit is missing or takes other arguments"
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    send = getattr(session, "send", None)
    if not _accepts(send, None):
        return "client._endpoint.http_session.send is missing or takes other arguments"
    return _Transport(endpoint_url=endpoint_url, sign=sign, emit=emit, send=send)


def _enabled_by_environment(environ: Mapping[str, str]) -> bool:
    value = environ.get(FAST_SCAN_ENV, "").strip().lower()
    if value in DISABLING_VALUES:
        return False
    if value in ENABLING_VALUES:
        return True
    raise InvalidRequestError(
        f"{FAST_SCAN_ENV}={value!r}: expected one of "
        f"{', '.join(sorted((ENABLING_VALUES | DISABLING_VALUES) - {''}))}"
    )


def _botocore_scan(client: DynamoDBClient) -> Callable[..., Mapping[str, Any]]:
    def scan(**request: Any) -> Mapping[str, Any]:
        return client.scan(**request)

    return scan


@dataclass(frozen=True)
class ScanPath:
    """The scan a client's pages take: ``scan(**request)`` answers one page."""

    name: Literal["fast", "botocore"]
    reason: str
    scan: Callable[..., Mapping[str, Any]]


def select_scan(
    client: DynamoDBClient,
    retries: ScanRetries,
    enabled: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> ScanPath:
    """The fast path when ``client`` can carry it and nothing disables it, else
    ``client.scan``; decided here, once, and logged (``scan path selected``, keys
    ``scan_path`` and ``reason``; a warning when the client cannot carry the fast path).

    ``enabled``: False forces ``client.scan``; True ignores :data:`FAST_SCAN_ENV`; None
    reads it from ``environ`` (the process environment by default), where ``0``,
    ``false``, ``off`` or ``no`` disable the fast path. Any other value than those and
    ``1``, ``true``, ``on``, ``yes`` or empty raises :class:`InvalidRequestError`.
    """
    if enabled is None:
        enabled = _enabled_by_environment(os.environ if environ is None else environ)
        disabled_by = f"{FAST_SCAN_ENV} disables it"
    else:
        disabled_by = "disabled by the caller"
    if not enabled:
        path = ScanPath(name="botocore", reason=disabled_by, scan=_botocore_scan(client))
        logger.info("scan path selected", extra={"scan_path": path.name, "reason": path.reason})
        return path
    transport = _resolve_transport(client)
    if isinstance(transport, str):
        path = ScanPath(name="botocore", reason=transport, scan=_botocore_scan(client))
        logger.warning("scan path selected", extra={"scan_path": path.name, "reason": path.reason})
        return path
    path = ScanPath(name="fast", reason="the client carries it", scan=FastScan(transport, retries))
    logger.info("scan path selected", extra={"scan_path": path.name, "reason": path.reason})
    return path
