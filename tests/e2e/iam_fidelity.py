"""What IAM enforces and the harness did not: every function is held to its role.

The harness runs each handler in this process with the test's credentials, and neither
moto nor DynamoDB Local authorizes anything: a call the function's role does not allow
succeeds here and is ``AccessDenied`` on AWS. (A Migrate role without ``dynamodb:GetItem``
passed every test; on AWS its consistent re-read failed and the segment stopped.)
:class:`IamMonitor` holds each function to the role the synthesized template gives it.

Recording
    Every request a botocore client sends emits ``before-send.<service>.<Operation>``
    with the signed request, once per attempt: botocore's endpoint emits it for every
    public call, and the fast scan (``profile_migrations/dal/fast_scan.py``), which signs
    and sends its own ``Scan`` requests, emits it itself (it never emits ``before-call``).
    moto registers its ``BotocoreStubber`` for that event on every botocore session
    (``moto/core/models.py``: ``BUILTIN_HANDLERS.append(("before-send", botocore_stubber))``),
    so the monitor wraps that stubber for the fixture's lifetime and sees both paths, to
    moto's S3 and to DynamoDB Local alike. Each request is one :class:`ApiCall`: function,
    service, operation and resource (table name, ``bucket/key``, ``bucket?prefix=...``).

Attribution
    The harness runs a handler inside :meth:`IamMonitor.running`, which marks the calling
    thread with the function's name (and the execution whose task invoked it). Handlers
    share one process and run on several threads: a request is the function's whose
    handler runs on the thread that sends it. A thread that a handler starts (Aggregate's
    S3 read pool, say) carries its starter's mark: ``threading.Thread.start`` is wrapped
    for the fixture's lifetime. A test's own requests made on a handler's thread (the
    application writing while a turn runs) go inside :meth:`IamMonitor.unattributed`.

Mapping a request to what IAM evaluates (an action, a resource ARN, condition keys)
    * DynamoDB, from the table of API operations in "Actions, resources, and condition
      keys for Amazon DynamoDB" (:data:`DYNAMODB_ACTIONS`): an operation on one table (its
      request names ``TableName``) is the action of the same name on the table's ARN
      ``arn:aws:dynamodb:<region>:<account>:table/<name>``: ``Scan`` is ``dynamodb:Scan``,
      likewise ``GetItem``, ``PutItem``, ``UpdateItem``, ``DeleteItem``, ``Query``,
      ``DescribeTable``, ``CreateTable``, ``DescribeContinuousBackups``, ``CreateBackup``.
      ``BatchGetItem`` and ``BatchWriteItem``: their action on each table they name.
      ``BatchExecuteStatement``, ``ExecuteStatement`` and ``ExecuteTransaction``: each
      statement by its verb, ``UPDATE`` as ``dynamodb:PartiQLUpdate`` (``INSERT``,
      ``DELETE``, ``SELECT``: ``PartiQLInsert``, ``PartiQLDelete``, ``PartiQLSelect``) on
      the table it names (same table; "IAM security policies with PartiQL for DynamoDB",
      :data:`PARTIQL_ACTIONS`: "To update items using PartiQL for DynamoDB, you must have
      dynamodb:PartiQLUpdate permission on the table or index").
    * S3, from "Actions, resources, and condition keys for Amazon S3"
      (:data:`S3_ACTIONS`): ``PutObject`` is ``s3:PutObject``, ``GetObject`` and
      ``HeadObject`` ``s3:GetObject``, ``DeleteObject`` ``s3:DeleteObject``, on the
      object's ARN ``arn:aws:s3:::<bucket>/<key>``; ``ListObjectsV2`` (and
      ``ListObjects``, ``HeadBucket``) is ``s3:ListBucket`` on the bucket's ARN
      ``arn:aws:s3:::<bucket>`` (ListObjectsV2 API reference, :data:`LIST_OBJECTS_V2`:
      "You must have permission to perform the s3:ListBucket action"), with the condition
      key ``s3:prefix`` set to the request's ``prefix`` when it has one.
    * Anything else the harness cannot map: a function held to a role that makes such a
      call fails the test too, so a new kind of call gets a mapping (and its grant)
      before it first reaches AWS.

Evaluating
    As "Policy evaluation logic" (:data:`POLICY_EVALUATION`) says for identity-based
    policies: denied unless a statement allows, and an explicit ``Deny`` wins.
    ``Action`` and ``NotAction`` match case-insensitively, ``Resource`` and
    ``NotResource`` case-sensitively, both with the ``*`` and ``?`` wildcards;
    ``Condition`` supports the ``String*`` operators (with ``IfExists``) and ``Null``,
    with the rules of "Condition operators" (:data:`CONDITION_OPERATORS`): a key the
    request does not set fails a condition, except a negated one (``StringNotLike``...),
    which it passes. A role the harness cannot evaluate (a managed policy ARN, another
    operator, a ``Deny`` on a reference it cannot resolve) fails the fixture.

A denied call is answered as AWS answers it (DynamoDB ``AccessDeniedException``, status
400; S3 ``AccessDenied``, 403) without reaching the service, and recorded as an
:class:`AccessDenied`; the harness's ``wait()`` then fails the test naming the function,
its role, the action and the resource. A function without an assigned role (the quota
tests' tiny functions) is recorded, not held to anything.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple
from unittest import mock
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

DYNAMODB_ACTIONS = (
    "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html"
)
PARTIQL_ACTIONS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-iam.html"
S3_ACTIONS = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html"
LIST_OBJECTS_V2 = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html"
POLICY_EVALUATION = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"
)
CONDITION_OPERATORS = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/"
    "reference_policies_elements_condition_operators.html"
)

ACCESS_DENIED_ERROR = "E2E.AccessDenied"  # the HarnessError's type for a denied call

# DynamoDB operations whose request names its tables in RequestItems; the action has
# the operation's name.
_DYNAMODB_MULTI_TABLE = frozenset({"BatchGetItem", "BatchWriteItem"})
_DYNAMODB_STATEMENTS = frozenset(
    {"BatchExecuteStatement", "ExecuteStatement", "ExecuteTransaction"}
)
_PARTIQL_ACTIONS = {
    "UPDATE": "dynamodb:PartiQLUpdate",
    "INSERT": "dynamodb:PartiQLInsert",
    "DELETE": "dynamodb:PartiQLDelete",
    "SELECT": "dynamodb:PartiQLSelect",
}
# A PartiQL statement's verb and the table it names (quoted, "" escaping a quote, or bare).
_PARTIQL = re.compile(
    r"""^\s*(?:(?P<verb>UPDATE)|(?P<verb2>DELETE)\s+FROM|(?P<verb3>INSERT)\s+INTO
        |(?:EXISTS\s*\(\s*)?(?P<verb4>SELECT)\b.*?\bFROM)
        \s+(?P<table>"(?:[^"]|"")+"|[A-Za-z0-9_.-]+)""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_S3_OBJECT_ACTIONS = {
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "DeleteObject": "s3:DeleteObject",
}
_S3_BUCKET_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
}
# Condition operators: (wildcards allowed, case ignored, negated).
_STRING_OPERATORS = {
    "StringEquals": (False, False, False),
    "StringNotEquals": (False, False, True),
    "StringEqualsIgnoreCase": (False, True, False),
    "StringNotEqualsIgnoreCase": (False, True, True),
    "StringLike": (True, False, False),
    "StringNotLike": (True, False, True),
}


class UnsupportedPolicyError(AssertionError):
    """The role holds something the harness cannot evaluate faithfully."""


class ApiCall(NamedTuple):
    """One request a function sent (each attempt of a retried call is one)."""

    function: str
    service: str  # botocore's service id: "dynamodb", "s3"
    operation: str  # "GetItem", "PutObject"
    resource: str  # a table name, "bucket/key" or "bucket?prefix=..."


class IamRequest(NamedTuple):
    """What IAM evaluates for one call (a batch of statements may need several)."""

    action: str
    resource: str  # an ARN
    context: tuple[tuple[str, str], ...] = ()  # the condition keys the call sets
    source: str = DYNAMODB_ACTIONS  # the document that maps the call to this action


class AccessDenied(NamedTuple):
    """A call the function's role does not allow (or that the harness cannot map)."""

    call: ApiCall
    role: str
    request: IamRequest | None  # None: the harness cannot tell what IAM would evaluate

    def __str__(self) -> str:
        call = self.call
        made = f"its {call.service} {call.operation} call ({call.resource})"
        if self.request is None:
            return (
                f"IAM: function {call.function} made {made}, which the harness cannot map "
                "to IAM actions; map it in tests/e2e/iam_fidelity.py and grant it"
            )
        request = self.request
        conditions = "".join(f" with {key}={value!r}" for key, value in request.context)
        return (
            f"IAM: the role {self.role} of function {call.function} does not allow "
            f"{request.action} on {request.resource}{conditions} ({made}); on AWS the call "
            f"is AccessDenied ({request.source})"
        )


# -- the policies --------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters, ``?`` any one character."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


class Condition(NamedTuple):
    operator: str
    key: str  # lower case: condition key names are case-insensitive
    values: tuple[str, ...]

    def holds(self, context: Mapping[str, str]) -> bool:
        present = self.key in context
        if self.operator == "Null":  # "true": the key must be absent
            return any((value.lower() == "true") is not present for value in self.values)
        base = self.operator.removesuffix("IfExists")
        like, ignore_case, negated = _STRING_OPERATORS[base]
        if not present:
            return base != self.operator or negated
        actual = context[self.key]
        if like:
            matched = any(_wildcard(v, ignore_case).fullmatch(actual) for v in self.values)
        elif ignore_case:
            matched = any(v.lower() == actual.lower() for v in self.values)
        else:
            matched = actual in self.values
        return matched is not negated


@dataclass(frozen=True)
class Statement:
    """One statement of an identity-based policy, its references resolved."""

    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()
    not_action: bool = False
    not_resource: bool = False

    @classmethod
    def parse(
        cls, document: Mapping[str, Any], resolve: Callable[[Any], str], role: str
    ) -> Statement:
        unsupported = set(document) - {
            "Sid",
            "Effect",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        }
        if unsupported:
            raise UnsupportedPolicyError(f"role {role}: statement elements {sorted(unsupported)}")
        effect = document["Effect"]
        not_action = "NotAction" in document
        not_resource = "NotResource" in document
        actions = _as_tuple(document["NotAction" if not_action else "Action"])
        resources = tuple(
            resolve(value)
            for value in _as_tuple(document["NotResource" if not_resource else "Resource"])
        )
        if effect == "Deny" and any("<" in resource for resource in resources):
            raise UnsupportedPolicyError(
                f"role {role}: a Deny on a reference the harness cannot resolve: {resources}"
            )
        conditions: list[Condition] = []
        for operator, keys in document.get("Condition", {}).items():
            base = operator.removesuffix("IfExists")
            if operator != "Null" and base not in _STRING_OPERATORS:
                raise UnsupportedPolicyError(f"role {role}: condition operator {operator}")
            for key, values in keys.items():
                resolved = tuple(str(resolve(value)) for value in _as_tuple(values))
                conditions.append(Condition(operator, key.lower(), resolved))
        return cls(effect, actions, resources, tuple(conditions), not_action, not_resource)

    def applies(self, request: IamRequest) -> bool:
        action = any(_wildcard(a, True).fullmatch(request.action) for a in self.actions)
        if action is self.not_action:
            return False
        resource = any(_wildcard(r, False).fullmatch(request.resource) for r in self.resources)
        if resource is self.not_resource:
            return False
        context = dict(request.context)
        return all(condition.holds(context) for condition in self.conditions)


@dataclass(frozen=True)
class RolePolicy:
    """Every statement of every identity-based policy of one role."""

    role: str
    statements: tuple[Statement, ...]

    def allows(self, request: IamRequest) -> bool:
        """An explicit Deny wins; otherwise allowed only if a statement allows."""
        applicable = [s for s in self.statements if s.applies(request)]
        if any(statement.effect == "Deny" for statement in applicable):
            return False
        return any(statement.effect == "Allow" for statement in applicable)


def function_role(
    template: Mapping[str, Any], function: str, resolve: Callable[[Any], str]
) -> RolePolicy:
    """The role of the template's ``function`` (a logical id): the statements of the
    role's inline ``Policies`` and of every ``AWS::IAM::Policy`` or
    ``AWS::IAM::ManagedPolicy`` of the template attached to it by ``Roles``.

    ``resolve`` turns a template value (``Ref``, ``Fn::GetAtt``, ``Fn::Join``...) into a
    string; what it cannot resolve it should render as ``<LogicalId.Attribute>``, which
    matches no request. A role with ``ManagedPolicyArns`` cannot be evaluated here."""
    resources = template["Resources"]
    role_value = resources[function]["Properties"]["Role"]
    if not isinstance(role_value, dict) or "Fn::GetAtt" not in role_value:
        raise UnsupportedPolicyError(f"function {function}: a role outside the template")
    role_id = role_value["Fn::GetAtt"][0]
    role = resources[role_id]["Properties"]
    if role.get("ManagedPolicyArns"):
        raise UnsupportedPolicyError(
            f"role {role_id}: managed policies {role['ManagedPolicyArns']} are not in the "
            "template, so the harness cannot evaluate them"
        )
    documents = [policy["PolicyDocument"] for policy in role.get("Policies", [])]
    for resource in resources.values():
        attached = resource.get("Properties", {}).get("Roles", [])
        if (
            resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}
            and {"Ref": role_id} in attached
        ):
            documents.append(resource["Properties"]["PolicyDocument"])
    statements = tuple(
        Statement.parse(statement, resolve, role_id)
        for document in documents
        for statement in _as_tuple(document["Statement"])
    )
    return RolePolicy(role_id, statements)


# -- requests to what IAM evaluates ----------------------------------------------------------


def _table_arn(table: str, region: str, account: str) -> str:
    if table.startswith("arn:"):  # DynamoDB accepts a table's ARN as its TableName
        return table
    return f"arn:aws:dynamodb:{region}:{account}:table/{table}"


def _partiql(statement: str, region: str, account: str) -> IamRequest | None:
    match = _PARTIQL.match(statement)
    if match is None:
        return None
    verb = next(v for v in match.group("verb", "verb2", "verb3", "verb4") if v).upper()
    table = match.group("table")
    if table.startswith('"'):
        table = table[1:-1].replace('""', '"')
    return IamRequest(
        _PARTIQL_ACTIONS[verb], _table_arn(table, region, account), (), PARTIQL_ACTIONS
    )


def dynamodb_requests(
    operation: str, body: Any, region: str, account: str
) -> tuple[str, list[IamRequest] | None]:
    """(the tables named, what IAM evaluates: None when the harness cannot tell)."""
    payload = json.loads(body or b"{}")
    if operation in _DYNAMODB_STATEMENTS:
        statements = payload.get("Statements") or payload.get("TransactStatements") or [payload]
        requests = [_partiql(str(s.get("Statement", "")), region, account) for s in statements]
        tables = sorted({r.resource.rpartition("/")[2] for r in requests if r is not None})
        if any(request is None for request in requests):
            return ", ".join(tables) or "?", None
        return ", ".join(tables), [r for r in requests if r is not None]
    if operation in _DYNAMODB_MULTI_TABLE:
        tables = sorted(payload.get("RequestItems", {}))
        action = f"dynamodb:{operation}"
        return ", ".join(tables), [
            IamRequest(action, _table_arn(t, region, account)) for t in tables
        ]
    table = payload.get("TableName")
    if not isinstance(table, str):
        return "?", None
    return table, [IamRequest(f"dynamodb:{operation}", _table_arn(table, region, account))]


def s3_requests(operation: str, url: str) -> tuple[str, list[IamRequest] | None]:
    """(``bucket/key`` or ``bucket?prefix=...``, what IAM evaluates: None when unknown)."""
    parts = urlsplit(url)
    labels = (parts.hostname or "").split(".")
    # virtual-hosted style: <bucket>.s3[.<region>].amazonaws.com/<key>; else path style
    s3_label = max(
        (i for i, label in enumerate(labels) if label == "s3" or label.startswith("s3-")),
        default=0,
    )
    if s3_label > 0:
        bucket, key = ".".join(labels[:s3_label]), parts.path[1:]
    else:
        bucket, _, key = parts.path[1:].partition("/")
    key = unquote(key)
    if operation in _S3_OBJECT_ACTIONS:
        resource = f"{bucket}/{key}"
        action = _S3_OBJECT_ACTIONS[operation]
        return resource, [IamRequest(action, f"arn:aws:s3:::{resource}", (), S3_ACTIONS)]
    if operation in _S3_BUCKET_ACTIONS:
        query = parse_qs(parts.query, keep_blank_values=True)
        context = tuple(("s3:prefix", prefix) for prefix in query.get("prefix", [])[:1])
        label = bucket + "".join(f"?prefix={prefix}" for _, prefix in context)
        source = LIST_OBJECTS_V2 if operation == "ListObjectsV2" else S3_ACTIONS
        request = IamRequest(
            _S3_BUCKET_ACTIONS[operation], f"arn:aws:s3:::{bucket}", context, source
        )
        return label, [request]
    return f"{bucket}/{key}" if key else bucket, None


def iam_requests(
    service: str, operation: str, request: Any, region: str, account: str
) -> tuple[str, list[IamRequest] | None]:
    """What IAM evaluates for one prepared request (see the module's docstring)."""
    if service == "dynamodb":
        return dynamodb_requests(operation, request.body, region, account)
    if service == "s3":
        return s3_requests(operation, request.url)
    return "?", None


def _access_denied(service: str, url: str, principal: str, request: IamRequest | None) -> Any:
    """The answer AWS gives a call IAM denies (an identity-based policy allowed nothing)."""
    if request is None:
        message = f"User: {principal} made a call the e2e harness cannot authorize"
    else:
        message = (
            f"User: {principal} is not authorized to perform: {request.action} on resource: "
            f"{request.resource} because no identity-based policy allows the "
            f"{request.action} action"
        )
    request_id = str(uuid.uuid4())
    if service == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
            f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId>"
            "<HostId>e2e</HostId></Error>"
        )
        headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
        return AWSResponse(url, 403, HTTPHeaders.from_dict(headers), MockRawResponse(body))
    payload = {"__type": "com.amazon.coral.service#AccessDeniedException", "Message": message}
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id}
    return AWSResponse(
        url, 400, HTTPHeaders.from_dict(headers), MockRawResponse(json.dumps(payload))
    )


# -- recording, attributing, enforcing ------------------------------------------------------


class _Caller(threading.local):
    """The function whose handler this thread runs, and the execution that invoked it."""

    function: str | None = None
    root: str | None = None


@dataclass
class IamMonitor:
    """Records every AWS request a function sends and holds it to its assigned role."""

    region: str
    account: str
    roles: dict[str, RolePolicy] = field(default_factory=dict)
    calls: list[ApiCall] = field(default_factory=list)
    denials: list[tuple[str | None, AccessDenied]] = field(default_factory=list)  # (root, it)
    _caller: _Caller = field(default_factory=_Caller)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def assign(self, function: str, role: RolePolicy) -> None:
        """Hold ``function`` (its name in the harness) to ``role`` from now on."""
        with self._lock:
            self.roles[function] = role

    @contextmanager
    def running(self, function: str, root: str | None) -> Iterator[None]:
        """This thread runs ``function``'s handler, for the execution ``root`` (if any)."""
        caller = self._caller
        outer = caller.function, caller.root
        caller.function, caller.root = function, root
        try:
            yield
        finally:
            caller.function, caller.root = outer

    @contextmanager
    def unattributed(self) -> Iterator[None]:
        """The test's own requests on a handler's thread: no function's calls."""
        caller = self._caller
        outer = caller.function, caller.root
        caller.function = caller.root = None
        try:
            yield
        finally:
            caller.function, caller.root = outer

    def all_calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self.calls)

    def calls_of(self, function: str) -> list[ApiCall]:
        with self._lock:
            return [call for call in self.calls if call.function == function]

    def all_denials(self) -> list[AccessDenied]:
        with self._lock:
            return [denial for _, denial in self.denials]

    def denials_of(self, execution_arn: str) -> list[AccessDenied]:
        with self._lock:
            return [denial for root, denial in self.denials if root == execution_arn]

    def patches(self) -> Iterator[Any]:
        """The patches to enter for the fixture's lifetime (each restored on exit)."""
        monitor = self
        original_stub = BotocoreStubber.__call__

        def before_send(
            stubber: BotocoreStubber, event_name: str, request: Any, **kwargs: Any
        ) -> Any:
            denied = monitor._before_send(event_name, request)
            if denied is not None:
                return denied
            return original_stub(stubber, event_name=event_name, request=request, **kwargs)

        yield mock.patch.object(BotocoreStubber, "__call__", before_send)

        original_start = threading.Thread.start

        def start(thread: threading.Thread) -> None:
            function, root = monitor._caller.function, monitor._caller.root
            if function is not None:
                run = thread.run

                def attributed_run() -> None:
                    monitor._caller.function, monitor._caller.root = function, root
                    run()

                thread.run = attributed_run  # type: ignore[method-assign]
            original_start(thread)

        yield mock.patch.object(threading.Thread, "start", start)

    def _before_send(self, event_name: str, request: Any) -> Any:
        """Record the request of the function running on this thread; if its role does
        not allow it, AWS's AccessDenied answer (else None: the request goes on)."""
        function = self._caller.function
        if function is None:
            return None
        _, service, operation = event_name.split(".", 2)
        resource, requests = iam_requests(service, operation, request, self.region, self.account)
        call = ApiCall(function, service, operation, resource)
        with self._lock:
            self.calls.append(call)
            role = self.roles.get(function)
        if role is None:
            return None
        denied: IamRequest | None = None  # None: a call the harness cannot map
        if requests is not None:
            refused = [iam_request for iam_request in requests if not role.allows(iam_request)]
            if not refused:
                return None
            denied = refused[0]
        with self._lock:
            self.denials.append((self._caller.root, AccessDenied(call, role.role, denied)))
        principal = f"arn:aws:sts::{self.account}:assumed-role/{role.role}/{function}"
        return _access_denied(service, request.url, principal, denied)
