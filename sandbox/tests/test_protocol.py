"""Requests are recognised, and made-up errors parse exactly as botocore parses AWS's."""

from __future__ import annotations

import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.session import get_session

from asgpatch_sandbox.protocol import AwsCall, error_reply, identify, throttle_reply, unemulated_reply

AUTH = "AWS4-HMAC-SHA256 Credential=AKID/20261127/eu-west-1/{service}/aws4_request, SignedHeaders=host, Signature=x"


def test_identify_reads_query_and_json_calls():
    query = identify({"HTTP_AUTHORIZATION": AUTH.format(service="autoscaling")}, b"Action=DescribeTags&Version=x")
    assert query is not None
    assert (query.service, query.operation, query.protocol, query.region) == (
        "autoscaling", "DescribeTags", "query", "eu-west-1"
    )  # fmt: skip
    json_call = identify(
        {"HTTP_AUTHORIZATION": AUTH.format(service="ssm"), "HTTP_X_AMZ_TARGET": "AmazonSSM.SendCommand"}, b"{}"
    )
    assert json_call is not None
    assert (json_call.service, json_call.operation, json_call.protocol) == ("ssm", "SendCommand", "json")


def test_unsigned_requests_are_not_aws_calls():
    assert identify({}, b"Action=DescribeTags") is None
    assert identify({"HTTP_AUTHORIZATION": "Basic abc"}, b"") is None


def _parse(service: str, status: int, headers: list[tuple[str, str]], body: bytes) -> dict:
    model: ServiceModel = get_session().get_service_model(service)
    parser = create_parser(model.metadata["protocol"])
    operation = model.operation_model(model.operation_names[0])
    return parser.parse({"status_code": status, "headers": dict(headers), "body": body}, operation.output_shape)


@pytest.mark.parametrize(
    ("service", "protocol", "code", "status"),
    [("autoscaling", "query", "Throttling", 400), ("ec2", "ec2", "RequestLimitExceeded", 503),
     ("ssm", "json", "ThrottlingException", 400)],
)  # fmt: skip
def test_throttle_errors_parse_as_the_services_own(service, protocol, code, status):
    reply = throttle_reply(AwsCall(service, "X", protocol, "us-east-1", {}))
    assert reply.status == status
    parsed = _parse(service, reply.status, reply.headers, reply.body)
    assert parsed["Error"]["Code"] == code


def test_error_messages_are_escaped_in_xml():
    reply = error_reply("query", 400, "ValidationError", "a <b> & c")
    parsed = _parse("autoscaling", reply.status, reply.headers, reply.body)
    assert parsed["Error"]["Message"] == "a <b> & c"


def test_unemulated_reply_names_the_operation():
    reply = unemulated_reply(AwsCall("ssm", "DescribeSessions", "json", "us-east-1", {}))
    parsed = _parse("ssm", reply.status, reply.headers, reply.body)
    assert parsed["Error"]["Code"] == "UnknownOperationException"
    assert "ssm:DescribeSessions" in parsed["Error"]["Message"]
