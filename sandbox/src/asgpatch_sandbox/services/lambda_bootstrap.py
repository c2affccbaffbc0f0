"""The child process of one Lambda invocation: what AWS's Python runtime does in a fresh environment.

lambda_runtime.py runs it as `python -I -S -B -u lambda_bootstrap.py JOB.json`. It uses the standard
library only and imports nothing of the sandbox: with -S the interpreter's site-packages (and the .pth
files installing the engine editable) are never read, so the function sees its own zip first on
sys.path, then the runtime's boto3 — and a dependency the zip forgot is missing, as on AWS. It imports
the handler (init), calls it once with the event and a context, and leaves the outcome as a file in
the job's directory: `response` (the payload) or `error` (AWS's error document). No file means the
runtime died. Handler loading, error documents and JSON marshalling follow awslambdaric, AWS's
Python runtime interface client.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import math
import os
import sys
import time
import traceback
from typing import Any

_LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"


class Fault(Exception):
    """A failure the runtime reports with its own error type (Runtime.ImportModuleError, ...)."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type, self.message, self.trace = error_type, message, trace or []


def load_handler(handler: str) -> Any:
    """`package.module.function` to the function, failing as awslambdaric's _get_handler does."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as error:
        raise Fault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {error}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        message = f"Cannot use built-in module {module_name} as a handler module"
        raise Fault("Runtime.BuiltInModuleConflict", message)
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        raise Fault("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}") from None
    except SyntaxError as error:
        trace = [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}']
        raise Fault("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {error}", trace) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise Fault("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'") from None


def error_document(error_type: str, message: str, trace: list[str], request_id: str) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}


def exception_document(exc: BaseException, request_id: str) -> dict[str, Any]:
    """An exception of the function's own: its type and message, and the frames below the runtime."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [frame for frame in frames if frame.filename != __file__] or list(frames)
    return error_document(type(exc).__name__, str(exc), traceback.format_list(own), request_id)


class _Encoder(json.JSONEncoder):
    """awslambdaric's: Decimal as a number; non-ASCII kept as is on python3.12 only, as AWS does."""

    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            if o.is_nan():
                return math.nan
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def marshal(response: Any) -> bytes:
    if isinstance(response, bytes):
        return response
    ascii_only = os.environ.get("AWS_EXECUTION_ENV") != "AWS_Lambda_python3.12"
    try:
        return _Encoder(ensure_ascii=ascii_only).encode(response).encode("utf-8")
    except Exception as error:
        raise Fault("Runtime.MarshalError", f"Unable to marshal response: {error}") from None


class CognitoIdentity:
    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


class LambdaContext:
    """The context object: the same attributes as awslambdaric's, read from the same variables."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = None
        self.identity = CognitoIdentity()
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, message: str) -> None:
        sys.stdout.write(str(message))


def _setup_logging(request_id: str) -> None:
    """The root logger as the runtime sets it up: one handler, AWS's format, UTC, the request id."""

    class RequestId(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.aws_request_id = request_id
            return True

    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.terminator = ""
    handler.setFormatter(logging.Formatter(_LOG_FORMAT, "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(RequestId())
    logging.getLogger().addHandler(handler)


def _log_error(document: dict[str, Any]) -> None:
    """`[ERROR] Type: message` and the trace, to the function's log, as the runtime prints it."""
    lines = [f"[ERROR] {document['errorType']}: {document['errorMessage']}"]
    if document["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(line for element in document["stackTrace"] for line in element.splitlines())
    sys.stdout.write("\r".join(lines) + "\n")


def _leave(directory: str, name: str, data: bytes) -> None:
    """Write the outcome whole or not at all: the sandbox may kill the process at any moment."""
    path = os.path.join(directory, name)
    with open(path + ".part", "wb") as file:
        file.write(data)
    os.replace(path + ".part", path)


def main(job_path: str) -> None:
    with open(job_path, encoding="utf-8") as file:
        job = json.load(file)
    sys.path[:0] = [job["task_root"], job["runtime_dir"]]
    request_id, directory = job["request_id"], job["directory"]
    _setup_logging(request_id)
    try:
        handler = load_handler(job["handler"])
        context = LambdaContext(request_id, job["invoked_function_arn"], int(job["deadline_ms"]))
        payload = marshal(handler(json.loads(job["event"]), context))
    except Fault as fault:
        document = error_document(fault.error_type, fault.message, fault.trace, request_id)
    except Exception as error:
        document = exception_document(error, request_id)
    else:
        _leave(directory, "response", payload)
        _exit()
    _log_error(document)
    _leave(directory, "error", json.dumps(document).encode("utf-8"))
    _exit()


def _exit() -> None:
    """The answer is given: AWS freezes the environment here, so threads the handler left running
    must not keep the invocation open."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
