"""Lambda on the sandbox: a function's zip really runs, in a fresh Python process per Invoke, seeing only
what the Lambda runtime offers, and calling the sandbox back; errors, timeouts and crashes answer as
Lambda does. Zips are built here, functions created and invoked with boto3 over HTTP, as a user would."""

from __future__ import annotations

import base64
import json
import textwrap
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ASSUME = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [ASSUME]})
APP = """
import json, os, sys, time
import boto3

def echo(event, context):
    return {"event": event}

def calls_back(event, context):
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name=event["parameter"], Value=event["value"], Type="String", Overwrite=True)
    account = boto3.client("sts").get_caller_identity()["Account"]
    return {"value": ssm.get_parameter(Name=event["parameter"])["Parameter"]["Value"], "account": account}

def describe(event, context):
    fields = ("function_name", "function_version", "invoked_function_arn", "memory_limit_in_mb",
              "aws_request_id", "log_group_name", "log_stream_name")
    return {"environ": dict(os.environ), "path": sys.path, "cwd": os.getcwd(),
            "context": {name: getattr(context, name) for name in fields},
            "remaining": context.get_remaining_time_in_millis()}

def fails(event, context):
    raise ValueError("the handler failed on purpose")

def sleeps(event, context):
    print("going to sleep", flush=True)
    time.sleep(event.get("seconds", 60))
    return "woke up"

def exits(event, context):
    os._exit(event.get("status", 3))

def prints(event, context):
    print("a line for the log")
    return "printed"
"""
FILES = {
    "app.py": APP,
    "pkg/__init__.py": "",
    "pkg/sub/__init__.py": "",
    "pkg/sub/mod.py": "def handler(event, context):\n    return {'module': __name__, 'event': event}\n",
    "engine.py": "import asgpatch  # installed in the sandbox's venv, not in this zip\ndef handler(e, c): pass\n",
    "mocking.py": "import moto  # the sandbox's own dependency, not in this zip\ndef handler(e, c): pass\n",
    "broken.py": "def handler(event, context)\n    return 1\n",
}


def build_zip(tmp_path: Path, files: dict[str, str], name: str = "function.zip") -> bytes:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, textwrap.dedent(text))
    return path.read_bytes()


@pytest.fixture
def lam(sandbox: Any) -> Any:
    """One attempt, and time for long invocations: the answers are what is tested."""
    return sandbox.client("lambda", config=Config(retries={"total_max_attempts": 1}, read_timeout=120))


@pytest.fixture
def role(sandbox: Any, uid: str) -> str:
    arn: str = sandbox.client("iam").create_role(RoleName=f"fn-{uid}", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    return arn


@pytest.fixture
def code(tmp_path: Path) -> bytes:
    return build_zip(tmp_path, FILES)


def create(lam: Any, role: str, name: str, code: bytes, handler: str = "app.echo", **options: Any) -> dict[str, Any]:
    options.setdefault("Timeout", 10)
    options.setdefault("Runtime", "python3.12")
    config: dict[str, Any] = lam.create_function(
        FunctionName=name, Role=role, Handler=handler, Code={"ZipFile": code}, **options
    )
    return config


def invoke(lam: Any, name: str, event: Any = None, **options: Any) -> tuple[dict[str, Any], Any]:
    payload = json.dumps(event if event is not None else {}).encode()
    answer: dict[str, Any] = lam.invoke(FunctionName=name, Payload=payload, **options)
    body = answer["Payload"].read()
    return answer, json.loads(body) if body else None


def test_a_handler_calls_the_sandbox_back_and_its_answer_is_the_payload(lam: Any, role: str, code: bytes, uid: str):
    create(lam, role, f"callback-{uid}", code, handler="app.calls_back")
    answer, payload = invoke(lam, f"callback-{uid}", {"parameter": f"/lambda/{uid}", "value": "from the function"})
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    assert payload == {"value": "from the function", "account": "123456789012"}
    create(lam, role, f"dotted-{uid}", code, handler="pkg.sub.mod.handler")
    assert invoke(lam, f"dotted-{uid}", {"n": 1})[1] == {"module": "pkg.sub.mod", "event": {"n": 1}}


def test_the_function_sees_only_what_the_runtime_offers(sandbox: Any, lam: Any, role: str, code: bytes, uid: str):
    name = f"describe-{uid}"
    variables = {"Variables": {"GREETING": "hello", "SANDBOX_KILL_AFTER_SECONDS": "600"}}
    create(lam, role, name, code, handler="app.describe", MemorySize=256, Timeout=20, Environment=variables)
    answer, seen = invoke(lam, name)
    env, context = seen["environ"], seen["context"]
    assert env["GREETING"] == "hello" and "SANDBOX_KILL_AFTER_SECONDS" not in env  # the sandbox's own switch
    assert {k: env[k] for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME")} == {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": name,
    }
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST" and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12" and env["_HANDLER"] == "app.describe"
    assert env["TZ"] == ":UTC" and env["AWS_ENDPOINT_URL"] == sandbox.url
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]
    assert "AWS_LAMBDA_FUNCTION_TIMEOUT" not in env  # AWS does not set it
    assert not {"VIRTUAL_ENV", "PYTHONUNBUFFERED", "PYTHONPATH"} & set(env)  # nothing of the sandbox's environment
    task_root = env["LAMBDA_TASK_ROOT"]
    assert seen["path"][0] == task_root and seen["cwd"] == task_root
    assert not any("site-packages" in entry for entry in seen["path"])
    assert context["function_name"] == name and context["function_version"] == "$LATEST"
    assert context["memory_limit_in_mb"] == "256"  # a string, as AWS's runtime gives it
    assert context["aws_request_id"] == answer["ResponseMetadata"]["RequestId"]
    assert context["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    assert context["log_group_name"] == f"/aws/lambda/{name}" and "[$LATEST]" in context["log_stream_name"]
    assert 10_000 < seen["remaining"] <= 20_000

    version = lam.publish_version(FunctionName=name)["Version"]
    answer, seen = invoke(lam, name, Qualifier=version)
    assert seen["context"]["function_version"] == version and answer["ExecutedVersion"] == version
    assert seen["context"]["invoked_function_arn"].endswith(f":function:{name}:{version}")


@pytest.mark.parametrize("module", ["engine", "mocking"])
def test_a_module_the_sandbox_has_but_the_zip_lacks_is_missing(lam: Any, role: str, code: bytes, uid: str, module):
    create(lam, role, f"{module}-{uid}", code, handler=f"{module}.handler")
    answer, error = invoke(lam, f"{module}-{uid}")
    missing = {"engine": "asgpatch", "mocking": "moto"}[module]
    assert answer["FunctionError"] == "Unhandled"
    assert error == {
        "errorMessage": f"Unable to import module '{module}': No module named '{missing}'",
        "errorType": "Runtime.ImportModuleError",
        "requestId": answer["ResponseMetadata"]["RequestId"],
        "stackTrace": [],
    }


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("app.fails", "ValueError", "the handler failed on purpose"),
        ("app.missing", "Runtime.HandlerNotFound", "Handler 'missing' missing on module 'app'"),
        ("nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot': not enough values to unpack (expected 2"),
        ("broken.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'broken': "),
    ],
)
def test_errors_answer_as_lambda_does(lam: Any, role: str, code: bytes, uid: str, handler, error_type, message):
    create(lam, role, f"error-{uid}", code, handler=handler)
    answer, error = invoke(lam, f"error-{uid}")
    assert answer["StatusCode"] == 200 and answer["FunctionError"] == "Unhandled"
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert error["errorType"] == error_type and error["errorMessage"].startswith(message)
    assert error["requestId"] == answer["ResponseMetadata"]["RequestId"]
    if handler == "app.fails":
        assert len(error["stackTrace"]) == 1 and '/app.py", line' in error["stackTrace"][0]
        assert "raise ValueError" in error["stackTrace"][0]


def test_a_function_past_its_timeout_is_killed(lam: Any, role: str, code: bytes, uid: str):
    create(lam, role, f"slow-{uid}", code, handler="app.sleeps", Timeout=1)
    started = time.monotonic()
    answer, error = invoke(lam, f"slow-{uid}", {"seconds": 30}, LogType="Tail")
    assert time.monotonic() - started < 10
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert answer["FunctionError"] == "Unhandled"
    assert error == {
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
        "errorType": "Sandbox.Timedout",
    }
    assert "Task timed out after 1.00 seconds" in base64.b64decode(answer["LogResult"]).decode()


def test_a_runtime_that_exits_or_is_killed_is_an_exit_error(sandbox: Any, lam: Any, role: str, code: bytes, uid: str):
    create(lam, role, f"exits-{uid}", code, handler="app.exits")
    answer, error = invoke(lam, f"exits-{uid}", {"status": 3})
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert answer["FunctionError"] == "Unhandled"
    assert error == {
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 3",
        "errorType": "Runtime.ExitError",
    }

    name = f"killed-{uid}"
    create(lam, role, name, code, handler="app.sleeps", Timeout=60)
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(zip(("answer", "error"), invoke(lam, name), strict=True)))
    thread.start()
    deadline = time.monotonic() + 30
    while sandbox.control("GET", "lambda")["running"].get(name) != 1:
        assert time.monotonic() < deadline, "the invocation never started"
        time.sleep(0.1)
    assert sandbox.control("POST", "lambda/kill", {"function": name}) == {"killed": 1}
    thread.join(30)
    request_id = outcome["answer"]["ResponseMetadata"]["RequestId"]
    assert outcome["error"] == {
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
        "errorType": "Runtime.ExitError",
    }
    assert sandbox.control("GET", "lambda")["running"].get(name) is None

    create(lam, role, f"dies-{uid}", code, "app.sleeps", Environment={"Variables": {"SANDBOX_KILL_AFTER_SECONDS": "1"}})
    started = time.monotonic()
    answer, error = invoke(lam, f"dies-{uid}")
    assert error["errorType"] == "Runtime.ExitError" and error["errorMessage"].endswith("signal: killed")
    assert time.monotonic() - started < 8


def test_the_sandbox_answers_other_calls_while_a_function_runs(sandbox: Any, lam: Any, role: str, code: bytes, uid):
    """Invoke waits outside the world lock: the sandbox stays responsive, not only to the function."""
    create(lam, role, f"busy-{uid}", code, handler="app.sleeps")
    ec2, ssm = sandbox.client("ec2"), sandbox.client("ssm")
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(payload=invoke(lam, f"busy-{uid}", {"seconds": 5})[1]))
    thread.start()
    while sandbox.control("GET", "lambda")["running"].get(f"busy-{uid}") != 1:
        time.sleep(0.05)
    ec2.describe_regions()
    ssm.put_parameter(Name=f"/busy/{uid}", Value="meanwhile", Type="String")
    answered_while_running = thread.is_alive()  # under the lock, these calls would have waited for the function
    thread.join(30)
    assert answered_while_running and outcome["payload"] == "woke up"


def test_event_runs_in_the_background_and_dry_run_only_checks(sandbox: Any, lam: Any, role: str, code: bytes, uid: str):
    ssm = sandbox.client("ssm")
    create(lam, role, f"async-{uid}", code, handler="app.calls_back")
    event = {"parameter": f"/event/{uid}", "value": "later"}
    answer = lam.invoke(FunctionName=f"async-{uid}", InvocationType="Event", Payload=json.dumps(event).encode())
    assert answer["StatusCode"] == 202 and answer["Payload"].read() == b""
    deadline = time.monotonic() + 30
    while True:
        try:
            assert ssm.get_parameter(Name=f"/event/{uid}")["Parameter"]["Value"] == "later"
            break
        except ClientError:
            assert time.monotonic() < deadline, "the Event invocation never ran"
            time.sleep(0.2)

    while sandbox.control("GET", "lambda")["running"].get(f"async-{uid}"):  # its side effect came before its end
        assert time.monotonic() < deadline, "the Event invocation never ended"
        time.sleep(0.1)
    dry = {"parameter": f"/dry/{uid}", "value": "never"}
    answer = lam.invoke(FunctionName=f"async-{uid}", InvocationType="DryRun", Payload=json.dumps(dry).encode())
    assert answer["StatusCode"] == 204
    assert sandbox.control("GET", "lambda")["running"].get(f"async-{uid}") is None
    with pytest.raises(ClientError, match="ParameterNotFound"):
        ssm.get_parameter(Name=f"/dry/{uid}")


def test_the_log_comes_with_tail_and_goes_to_cloudwatch(sandbox: Any, lam: Any, role: str, code: bytes, uid: str):
    name = f"logs-{uid}"
    create(lam, role, name, code, handler="app.prints")
    answer, payload = invoke(lam, name, LogType="Tail")
    assert payload == "printed"
    request_id = answer["ResponseMetadata"]["RequestId"]
    tail = base64.b64decode(answer["LogResult"]).decode().splitlines()
    assert tail[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert tail[1] == "a line for the log"
    assert tail[2] == f"END RequestId: {request_id}"
    assert tail[3].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert "LogResult" not in invoke(lam, name)[0]
    events = sandbox.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    assert sum(event["message"] == "a line for the log" for event in events) == 2


def test_bad_calls_are_refused_as_lambda_refuses_them(lam: Any, role: str, code: bytes, uid: str):
    with pytest.raises(ClientError) as unknown:
        lam.invoke(FunctionName=f"nothing-{uid}", Payload=b"{}")
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
    create(lam, role, f"strict-{uid}", code)
    with pytest.raises(ClientError) as bad:
        lam.invoke(FunctionName=f"strict-{uid}", Payload=b"not json")
    assert bad.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert bad.value.response["Error"]["Message"].startswith(
        "Could not parse request body into json: Could not parse payload into json: "
    )


def test_deprecated_runtimes_and_reserved_variables_are_refused(lam: Any, role: str, code: bytes, uid: str):
    for runtime in ("python3.11", "python3.9", "python2.7"):
        with pytest.raises(ClientError) as refused:
            create(lam, role, f"old-{uid}", code, Runtime=runtime)
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
        assert refused.value.response["Error"]["Message"] == (
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions."
        )
    for runtime in ("python3.12", "python3.13", "python3.14"):
        assert create(lam, role, f"{runtime.replace('.', '-')}-{uid}", code, Runtime=runtime)["Runtime"] == runtime
    with pytest.raises(ClientError, match=r"The runtime parameter of python3\.10 is no longer supported"):
        lam.update_function_configuration(FunctionName=f"python3-12-{uid}", Runtime="python3.10")
    with pytest.raises(ClientError) as reserved:
        create(lam, role, f"reserved-{uid}", code, Environment={"Variables": {"AWS_REGION": "x", "MINE": "y"}})
    assert reserved.value.response["Error"]["Message"] == (
        "Lambda was unable to configure your environment variables because the environment variables you have "
        "provided contains reserved keys that are currently not supported for modification. Reserved keys used in "
        "this request: AWS_REGION"
    )


def test_code_from_s3_and_code_updates_run_their_new_code(sandbox: Any, lam: Any, role: str, tmp_path: Path, uid: str):
    s3 = sandbox.client("s3")
    bucket = f"code-{uid}"
    s3.create_bucket(Bucket=bucket)
    versions = {n: build_zip(tmp_path, {"v.py": f"def handler(e, c): return {n}\n"}, f"{n}.zip") for n in (1, 2, 3)}
    s3.put_object(Bucket=bucket, Key="v1.zip", Body=versions[1])
    s3.put_object(Bucket=bucket, Key="v3.zip", Body=versions[3])
    name = f"s3code-{uid}"
    from_s3 = {"S3Bucket": bucket, "S3Key": "v1.zip"}
    lam.create_function(FunctionName=name, Role=role, Runtime="python3.13", Handler="v.handler", Code=from_s3)
    assert invoke(lam, name)[1] == 1
    lam.update_function_code(FunctionName=name, ZipFile=versions[2])
    assert invoke(lam, name)[1] == 2
    lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="v3.zip")
    assert invoke(lam, name)[1] == 3


def test_a_function_cloudformation_made_from_s3_runs(sandbox: Any, lam: Any, code: bytes, uid: str):
    s3, cloudformation = sandbox.client("s3"), sandbox.client("cloudformation")
    bucket = f"stack-code-{uid}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="function.zip", Body=code)
    template = {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": json.loads(TRUST)}},
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "app.calls_back",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"S3Bucket": bucket, "S3Key": "function.zip"},
                    "Timeout": 30,
                    "Environment": {"Variables": {"FROM": "stack"}},
                },
            },
        },
        "Outputs": {"Name": {"Value": {"Ref": "Function"}}},
    }
    stack = f"lambda-{uid}"
    cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    name = described["Outputs"][0]["OutputValue"]
    answer, payload = invoke(lam, name, {"parameter": f"/stack/{uid}", "value": "from the stack"})
    assert "FunctionError" not in answer and payload["value"] == "from the stack"
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 30


def test_the_control_api_refuses_a_kill_without_a_function(sandbox: Any):
    with pytest.raises(Exception, match="400"):
        sandbox.control("POST", "lambda/kill", {})
    assert sandbox.control("POST", "lambda/kill", {"function": f"idle-{uuid.uuid4().hex[:6]}"}) == {"killed": 0}


def test_code_in_s3_must_be_there_when_the_function_is_created(
    sandbox: Any, lam: Any, role: str, code: bytes, uid: str
):
    s3 = sandbox.client("s3")
    s3.create_bucket(Bucket=f"code-{uid}")
    s3.put_object(Bucket=f"code-{uid}", Key="present.zip", Body=code)
    made = lam.create_function(FunctionName=f"from-s3-{uid}", Runtime="python3.13", Role=role, Handler="app.echo",
                               Code={"S3Bucket": f"code-{uid}", "S3Key": "present.zip"})  # fmt: skip
    assert made["FunctionName"] == f"from-s3-{uid}"
    for where, message in (
        (("code-" + uid, "missing.zip"), "NoSuchKey"),
        ((f"nobucket-{uid}", "a.zip"), "NoSuchBucket"),
    ):
        with pytest.raises(ClientError) as refused:
            lam.create_function(FunctionName=f"missing-{uid}", Runtime="python3.13", Role=role, Handler="app.echo",
                                Code={"S3Bucket": where[0], "S3Key": where[1]})  # fmt: skip
        assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
        assert f"S3 Error Code: {message}" in refused.value.response["Error"]["Message"]
