"""Lambda functions that really run: Invoke runs the handler in the function's zip (lambda_runtime.py).

moto stores functions — CreateFunction and UpdateFunctionCode with ZipFile or S3Bucket/S3Key, and
AWS::Lambda::Function from CloudFormation, all keep the zip's bytes in `code_bytes` — but without Docker
cannot run them. The sandbox refuses at creation what AWS refuses (deprecated runtimes, reserved
environment variables) and answers Invoke by running the handler. Every request is answered under the
world lock, and a handler calls back into the sandbox over HTTP: so the Invoke here only resolves the
function and checks the call (under the lock, as moto answers it), and leaves the run to the server,
which does it once the lock is released (server.AFTER_LOCK). The run's log goes to CloudWatch Logs.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import threading
import time
import zipfile
from functools import partial
from typing import Any
from urllib.parse import unquote

from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError
from moto.awslambda.models import LambdaBackend
from moto.awslambda.utils import make_function_arn

from asgpatch_sandbox.override import original
from asgpatch_sandbox.server import AFTER_LOCK
from asgpatch_sandbox.services.lambda_runtime import FunctionSpec, Invocation, Outcome, log_tail, run
from asgpatch_sandbox.world import current

log = logging.getLogger("asgpatch_sandbox")

# Python runtimes Lambda still lets you create functions on (python3.11: creation blocked since 2026-07-31).
SUPPORTED_PYTHON = ("python3.12", "python3.13", "python3.14")
_DEPRECATED_PYTHON = re.compile(r"python(2(\.\d+)?|3(\.([0-9]|1[01]))?)")
# Lambda's defined runtime environment variables: a function's configuration may not set them.
RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
    }
)  # fmt: skip
RESPONSE_LIMIT = 6291556  # bytes of a synchronous response payload


def _check_runtime(runtime: Any) -> None:
    if isinstance(runtime, str) and _DEPRECATED_PYTHON.fullmatch(runtime):
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions."
        )


def _check_variables(environment: Any) -> None:
    variables = environment.get("Variables") or {} if isinstance(environment, dict) else {}
    reserved = [key for key in variables if key in RESERVED_VARIABLES]
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. Reserved "
            f"keys used in this request: {', '.join(reserved)}"
        )


def _check_code(backend: LambdaBackend, code: Any) -> None:
    """Code from S3 must be there (moto's lookup answers a missing key with None and stored the function)."""
    if not isinstance(code, dict) or not code.get("S3Bucket") or not code.get("S3Key"):
        return
    from moto.s3.models import s3_backends

    s3 = s3_backends[backend.account_id][backend.partition]
    if code["S3Bucket"] not in s3.buckets:
        raise InvalidParameterValueException("Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error "
                                             "Message: The specified bucket does not exist")  # fmt: skip
    if s3.get_object(code["S3Bucket"], code["S3Key"], version_id=code.get("S3ObjectVersion")) is None:
        raise InvalidParameterValueException("Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error "
                                             "Message: The specified key does not exist.")  # fmt: skip


def create_function(self: LambdaBackend, spec: dict[str, Any]) -> Any:
    """CreateFunction (and AWS::Lambda::Function): AWS's checks first, then moto stores it."""
    _check_runtime(spec.get("Runtime"))
    _check_variables(spec.get("Environment"))
    _check_code(self, spec.get("Code"))
    return original(LambdaBackend, "create_function")(self, spec)


def update_function_configuration(self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]) -> Any:
    if "Runtime" in body:
        _check_runtime(body["Runtime"])
    if "Environment" in body:
        _check_variables(body["Environment"])
    return original(LambdaBackend, "update_function_configuration")(self, function_name, qualifier, body)


# Invoke ----------------------------------------------------------------------------------------
def respond_invoke(self: Any) -> tuple[int, dict[str, str], str]:
    """Invoke: resolve the function and check the call here, under the world lock; the server runs it
    after releasing the lock (`_finish`). DryRun only checks."""
    name = unquote(self.path.rsplit("/", 2)[-2])
    qualifier = (self.querystring.get("Qualifier") or [None])[0]
    fn = self.backend.get_function(name, qualifier)  # ResourceNotFoundException as moto answers it
    kind = _header(self.headers, "X-Amz-Invocation-Type") or "RequestResponse"
    if kind not in ("RequestResponse", "Event", "DryRun"):
        raise LambdaClientError("InvalidParameterValueException", f"Unsupported invocation type {kind}")
    body = self.body.decode("utf-8", "replace") if isinstance(self.body, bytes) else str(self.body or "")
    if body.strip():
        try:
            json.loads(body)
        except ValueError as error:
            message = f"Could not parse request body into json: Could not parse payload into json: {error}"
            raise LambdaClientError("InvalidRequestContentException", message) from None
    if kind == "DryRun":
        return 204, {"status": "204"}, ""  # moto takes the status from this header
    spec = _spec(fn, name, qualifier, _endpoint(self.normalized_request.environ))
    tail = _header(self.headers, "X-Amz-Log-Type") == "Tail"
    self.normalized_request.environ[AFTER_LOCK] = partial(_finish, Invocation(spec, body or "{}"), kind, tail)
    return 200, {"Content-Type": "application/json"}, ""


def _spec(fn: Any, name: str, qualifier: str | None, endpoint: str) -> FunctionSpec:
    runtime = str(fn.run_time or "")
    if getattr(fn, "package_type", "Zip") != "Zip" or not runtime.startswith("python"):
        message = f"The sandbox runs Python functions only, not {runtime or 'container images'}."
        raise _error(502, "InvalidRuntimeException", message)
    code = bytes(getattr(fn, "code_bytes", b"") or b"")
    if not zipfile.is_zipfile(io.BytesIO(code)):
        raise _error(502, "InvalidZipFileException", "Lambda was unable to unzip the deployment package.")
    return FunctionSpec(
        name=fn.function_name,
        region=fn.region,
        account_id=fn.account_id,
        version=str(fn.version),
        handler=str(fn.handler or ""),
        runtime=runtime,
        timeout=int(fn.timeout or 3),
        memory_size=int(fn.memory_size or 128),
        variables={str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
        code=code,
        code_digest=hashlib.sha256(code).hexdigest(),
        invoked_arn=_invoked_arn(fn, name, qualifier),
        endpoint=endpoint,
    )


def _error(status: int, code: str, message: str) -> LambdaClientError:
    error = LambdaClientError(code, message)
    error.code = status
    return error


def _invoked_arn(fn: Any, name: str, qualifier: str | None) -> str:
    """The ARN the caller invoked, with the version or alias it named (context.invoked_function_arn)."""
    if name.startswith("arn:"):
        arn = name
    else:
        base, _, named = name.partition(":")
        arn = make_function_arn(fn.region, fn.account_id, base) + (f":{named}" if named else "")
    if qualifier and arn.count(":") == 6:
        arn += f":{qualifier}"
    return arn


def _endpoint(environ: dict[str, Any]) -> str:
    """This sandbox's own address, as its server listens (the handler's AWS_ENDPOINT_URL)."""
    host = str(environ.get("SERVER_NAME") or "127.0.0.1")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{environ.get('SERVER_PORT', '80')}"


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def _finish(
    invocation: Invocation, kind: str, tail: bool, status: str, headers: list[tuple[str, str]], payload: bytes
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Outside the world lock: run the function (Event: in the background) and answer as Lambda does."""
    if kind == "Event":
        name = f"lambda-event-{invocation.request_id[:8]}"
        threading.Thread(target=_run_in_background, args=(invocation,), name=name, daemon=True).start()
        return "202 Accepted", _headers(headers, invocation, b"", {}), b""
    outcome = _run_and_record(invocation)
    extra = {"X-Amz-Executed-Version": invocation.spec.version}
    body, function_error = outcome.payload, outcome.function_error
    if len(body) > RESPONSE_LIMIT:
        document = {
            "errorMessage": f"Response payload size exceeded maximum allowed payload size ({RESPONSE_LIMIT} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
        body, function_error = json.dumps(document).encode(), "Unhandled"
    if function_error:
        extra["X-Amz-Function-Error"] = function_error
    if tail:
        extra["X-Amz-Log-Result"] = log_tail(outcome.log)
    return "200 OK", _headers(headers, invocation, body, extra), body


def _headers(
    headers: list[tuple[str, str]], invocation: Invocation, body: bytes, extra: dict[str, str]
) -> list[tuple[str, str]]:
    replaced = {"content-length", "content-type", "x-amzn-requestid", "x-amz-crc32", *(k.lower() for k in extra)}
    kept = [(k, v) for k, v in headers if k.lower() not in replaced]
    own = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    return [*kept, *own.items(), ("x-amzn-RequestId", invocation.request_id), *extra.items()]


def _run_and_record(invocation: Invocation) -> Outcome:
    outcome = run(invocation)
    try:
        _save_log(invocation.spec, outcome)
    except Exception:  # the log is a courtesy: never the invocation's failure
        log.exception("the sandbox could not write the log of %s", invocation.spec.name)
    return outcome


def _run_in_background(invocation: Invocation) -> None:
    try:
        _run_and_record(invocation)
    except Exception:
        log.exception("the sandbox failed running %s in the background", invocation.spec.name)


def _save_log(spec: FunctionSpec, outcome: Outcome) -> None:
    """The run's log stream in /aws/lambda/NAME, as Lambda writes it (group created if missing)."""
    from moto.logs.models import logs_backends

    now = int(time.time() * 1000)
    events = [{"timestamp": now, "message": line} for line in outcome.log.splitlines() if line.strip()]
    with current().lock:
        backend = logs_backends[spec.account_id][spec.region]
        backend.ensure_log_group(spec.log_group)
        backend.create_log_stream(spec.log_group, outcome.log_stream)
        backend.put_log_events(spec.log_group, outcome.log_stream, events)
