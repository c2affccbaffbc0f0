"""Read which AWS operation an HTTP request asks for, and answer errors the way that service does.

Clients decide how to parse an error by the service's protocol (query XML, EC2 XML, JSON), so a
throttle, an injected fault or an unemulated operation must be shaped like the real service's
error, or botocore's retry logic and error codes would not see it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs

import botocore.session

# SigV4 signing names that differ from botocore's service model names.
_SIGNING_TO_MODEL = {"states": "stepfunctions", "events": "events", "execute-api": "apigateway"}


@dataclass(frozen=True)
class AwsCall:
    service: str  # botocore model name, e.g. "autoscaling", "ec2", "ssm"
    operation: str  # e.g. "DescribeAutoScalingGroups"
    protocol: str  # "query", "ec2", "json", "rest-json", "rest-xml"
    region: str
    params: dict[str, list[str]]  # form parameters (query protocols) — empty for JSON
    access_key: str = ""  # the signature's access key id: which account the call is made in

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None


@cache
def _protocol(service: str) -> str:
    try:
        model = botocore.session.get_session().get_service_model(service)
    except Exception:
        return "query"
    return str(model.metadata.get("protocol", "query"))


def _credential_scope(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" not in auth:
        return None
    try:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0]
        key, _date, region, service, _term = scope.split("/")
    except ValueError:
        return None
    return region, _SIGNING_TO_MODEL.get(service, service), key


def identify(environ: dict[str, Any], body: bytes) -> AwsCall | None:
    """The AWS operation a request asks for, or None when it is not a signed AWS API call."""
    scope = _credential_scope(environ)
    if scope is None:
        return None
    region, service, key = scope
    protocol = _protocol(service)
    target = environ.get("HTTP_X_AMZ_TARGET")
    params: dict[str, list[str]] = {}
    if target:
        operation = target.rsplit(".", 1)[-1]
    else:
        params = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        for key, values in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items():
            params.setdefault(key, values)
        operation = params.get("Action", [""])[0]
        if not operation:
            operation = f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}"
    return AwsCall(service=service, operation=operation, protocol=protocol, region=region, params=params,
                   access_key=key)  # fmt: skip


@dataclass(frozen=True)
class ErrorReply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_reply(protocol: str, status: int, code: str, message: str) -> ErrorReply:
    """An error answer in the wire format of the service's protocol."""
    request_id = str(uuid.uuid4())
    sender = "Sender" if status < 500 else "Receiver"
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", request_id),
        ]
        return ErrorReply(status, headers, body)
    if protocol == "ec2":
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{_xml_escape(code)}</Code><Message>{_xml_escape(message)}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:
        xml = (
            f"<ErrorResponse><Error><Type>{sender}</Type><Code>{_xml_escape(code)}</Code>"
            f"<Message>{_xml_escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return ErrorReply(status, headers, xml.encode())


# Error codes each protocol family uses for the answers the sandbox makes up itself.
THROTTLE_CODES = {"ec2": "RequestLimitExceeded", "json": "ThrottlingException", "query": "Throttling"}
THROTTLE_MESSAGES = {"ec2": "Request limit exceeded.", "json": "Rate exceeded", "query": "Rate exceeded"}


def throttle_reply(call: AwsCall) -> ErrorReply:
    family = call.protocol if call.protocol in THROTTLE_CODES else "json"
    if call.protocol == "rest-json":
        family = "json"
    status = 503 if family == "ec2" else 400
    return error_reply(call.protocol, status, THROTTLE_CODES[family], THROTTLE_MESSAGES[family])


def transient_reply(call: AwsCall, unavailable: bool) -> ErrorReply:
    if unavailable:
        code = "Unavailable" if call.protocol == "ec2" else "ServiceUnavailable"
        return error_reply(call.protocol, 503, code, "The service is unavailable. Please try again shortly.")
    code = {"ec2": "InternalError", "json": "InternalServerError"}.get(call.protocol, "InternalFailure")
    return error_reply(call.protocol, 500, code, "An internal error has occurred. Please try again.")


def unemulated_reply(call: AwsCall) -> ErrorReply:
    code = "UnknownOperationException" if call.protocol in ("json", "rest-json") else "InvalidAction"
    message = f"The operation {call.service}:{call.operation} is not emulated by the asgpatch sandbox."
    return error_reply(call.protocol, 400, code, message)


# What AWS answers a request signed for a region it does not have (the endpoint checks the scope).
UNKNOWN_REGION_CODES = {"ec2": "AuthFailure", "json": "InvalidSignatureException", "query": "SignatureDoesNotMatch"}


def unknown_region_reply(call: AwsCall) -> ErrorReply:
    family = "json" if call.protocol in ("json", "rest-json") else call.protocol
    code = UNKNOWN_REGION_CODES.get(family, "InvalidSignatureException")
    message = f"Credential should be scoped to a valid region, not '{call.region}'."
    return error_reply(call.protocol, 403, code, message)
