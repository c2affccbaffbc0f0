"""Lambda's execution environment: one fresh Python process per invocation, as a cold start is.

The function's zip is extracted once per code digest into a read-only task root; a runtime directory
holds links to just the packages AWS's Python runtime ships (boto3, botocore and their dependencies),
taken from the sandbox's own installation. Each invocation runs lambda_bootstrap.py in the sandbox's
interpreter (sys.executable: the Python version is the sandbox's, whatever the function's Runtime says)
with -I -S, so nothing of the sandbox's site-packages is importable, and with only the environment
Lambda gives a function, its AWS calls pointed back at this sandbox. The process is killed when the
function's Timeout passes on the wall clock, or when a test kills it (`kill`), and the outcome is read
as the Lambda service reports it: the payload, the runtime's error document, Sandbox.Timedout or
Runtime.ExitError. Nothing here holds the world lock: the function calls back into the sandbox.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import importlib.util
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

BOOTSTRAP = str(Path(__file__).with_name("lambda_bootstrap.py"))
# What the Lambda Python runtime offers besides the standard library: the SDK and its dependencies.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
KILL_AFTER_VARIABLE = "SANDBOX_KILL_AFTER_SECONDS"  # read by the sandbox only, never passed to the function
LOG_TAIL_BYTES = 4096  # X-Amz-Log-Result: the last 4 KB of the log
LOG_KEEP_BYTES = 1 << 20  # output kept per invocation for its CloudWatch log


@dataclass(frozen=True)
class FunctionSpec:
    """What an invocation needs of the function, copied from moto's under the world lock."""

    name: str
    region: str
    account_id: str
    version: str
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    variables: dict[str, str]
    code: bytes
    code_digest: str
    invoked_arn: str
    endpoint: str  # this sandbox's own address: where the function's AWS calls go

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"


@dataclass
class Outcome:
    payload: bytes
    function_error: str | None  # "Unhandled", or None when the function answered
    log: str  # START ... END, REPORT: what the function's log stream gets
    log_stream: str


@dataclass(eq=False)  # each invocation is itself (a member of the running set)
class Invocation:
    spec: FunctionSpec
    event: str  # the Invoke payload, JSON
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    killed: bool = False
    process: subprocess.Popen[bytes] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def kill(self) -> None:
        with self.lock:
            self.killed = True
            if self.process is not None:
                _kill_group(self.process)

    def attach(self, process: subprocess.Popen[bytes]) -> None:
        with self.lock:
            self.process = process
            if self.killed:  # killed before it was even started
                _kill_group(process)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and whatever it started (its own session), as a frozen environment ends."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class _Files:
    """The sandbox's Lambda directory: task roots by code digest, the runtime's packages, scratch."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="asgpatch-sandbox-lambda-"))
        self.runtime_dir = self.root / "runtime"
        self.runtime_dir.mkdir()
        for name in RUNTIME_PACKAGES:
            spec = importlib.util.find_spec(name)
            if spec is None:
                continue
            if spec.submodule_search_locations:
                source = Path(next(iter(spec.submodule_search_locations)))
                (self.runtime_dir / name).symlink_to(source, target_is_directory=True)
            elif spec.origin:
                (self.runtime_dir / Path(spec.origin).name).symlink_to(spec.origin)
        self.lock = threading.Lock()

    def task_root(self, spec: FunctionSpec) -> Path:
        """The zip extracted, read-only as /var/task is (raises zipfile.BadZipFile for a bad zip)."""
        target = self.root / "code" / spec.code_digest
        with self.lock:
            if target.is_dir():
                return target
            staging = Path(tempfile.mkdtemp(dir=self.root, prefix="extracting-"))
            with zipfile.ZipFile(io.BytesIO(spec.code)) as archive:
                archive.extractall(staging)
            for directory, _dirs, files in os.walk(staging):
                for name in files:
                    os.chmod(os.path.join(directory, name), 0o444)
                os.chmod(directory, 0o555)
            target.parent.mkdir(exist_ok=True)
            staging.rename(target)
            return target

    def remove(self) -> None:
        for directory, dirs, _files in os.walk(self.root):
            for name in dirs:
                path = os.path.join(directory, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o755)
        shutil.rmtree(self.root, ignore_errors=True)


_files: _Files | None = None
_files_lock = threading.Lock()
_running: set[Invocation] = set()
_running_lock = threading.Lock()


def _get_files() -> _Files:
    global _files
    with _files_lock:
        if _files is None:
            _files = _Files()
            atexit.register(_shutdown)
        return _files


def _shutdown() -> None:
    """At the sandbox's exit: no invocation outlives it, and its files go."""
    with _running_lock:
        running = list(_running)
    for invocation in running:
        invocation.kill()
    if _files is not None:
        _files.remove()


def kill(function: str, region: str | None = None) -> int:
    """SIGKILL the running invocations of a function (by name or ARN): they end in Runtime.ExitError."""
    name = function.split(":function:", 1)[-1].split(":", 1)[0]
    with _running_lock:
        chosen = [i for i in _running if i.spec.name == name and region in (None, i.spec.region)]
    for invocation in chosen:
        invocation.kill()
    return len(chosen)


def running() -> dict[str, int]:
    """How many invocations of each function are running now."""
    counts: dict[str, int] = {}
    with _running_lock:
        for invocation in _running:
            counts[invocation.spec.name] = counts.get(invocation.spec.name, 0) + 1
    return counts


def environment(spec: FunctionSpec, task_root: Path, runtime_dir: Path, log_stream: str) -> dict[str, str]:
    """The function's variables and what Lambda sets beside them (its "defined runtime environment
    variables"), plus AWS_ENDPOINT_URL to this sandbox; nothing of the sandbox's own environment."""
    variables = {key: str(value) for key, value in spec.variables.items() if key != KILL_AFTER_VARIABLE}
    scratch = str(_get_files().root / "no-aws-config")  # no shared config or credentials file is read
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        **variables,
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_ACCESS_KEY_ID": "ASIASANDBOXLAMBDA000",
        "AWS_SECRET_ACCESS_KEY": "sandbox-lambda-secret",
        "AWS_SESSION_TOKEN": "sandbox-lambda-session-token",
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "TZ": ":UTC",
        "AWS_ENDPOINT_URL": spec.endpoint,
        "AWS_CONFIG_FILE": scratch,
        "AWS_SHARED_CREDENTIALS_FILE": scratch,
    }


def _kill_after(spec: FunctionSpec) -> float | None:
    value = spec.variables.get(KILL_AFTER_VARIABLE)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def run(invocation: Invocation) -> Outcome:
    """Run the function once in a process of its own and read its outcome (blocks up to Timeout)."""
    spec, request_id = invocation.spec, invocation.request_id
    files = _get_files()
    task_root = files.task_root(spec)
    stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{spec.version}]{uuid.uuid4().hex}"
    directory = Path(tempfile.mkdtemp(dir=files.root, prefix="invocation-"))
    started = time.time()
    job = {
        "task_root": str(task_root),
        "runtime_dir": str(files.runtime_dir),
        "request_id": request_id,
        "directory": str(directory),
        "handler": spec.handler,
        "invoked_function_arn": spec.invoked_arn,
        "deadline_ms": int((started + spec.timeout) * 1000),
        "event": invocation.event or "{}",
    }
    (directory / "job.json").write_text(json.dumps(job), encoding="utf-8")
    command = [sys.executable, "-I", "-S", "-B", "-u", BOOTSTRAP, str(directory / "job.json")]
    kill_after = _kill_after(spec)
    limit = spec.timeout if kill_after is None else min(spec.timeout, kill_after)
    with _running_lock:
        _running.add(invocation)
    try:
        output, returncode, timed_out = _supervise(invocation, command, task_root, spec, stream, limit)
    finally:
        with _running_lock:
            _running.discard(invocation)
    timed_out = timed_out and (kill_after is None or kill_after >= spec.timeout)
    duration_ms = (time.time() - started) * 1000
    payload, function_error, note = _read_outcome(directory, request_id, spec, returncode, timed_out)
    shutil.rmtree(directory, ignore_errors=True)
    log = _log(spec, request_id, output, note, duration_ms)
    return Outcome(payload, function_error, log, stream)


def _supervise(
    invocation: Invocation, command: list[str], task_root: Path, spec: FunctionSpec, stream: str, limit: float
) -> tuple[str, int, bool]:
    """Start the process, collect its output, kill it at the limit: (output, return code, timed out)."""
    files = _get_files()
    process = subprocess.Popen(
        command,
        cwd=task_root,
        env=environment(spec, task_root, files.runtime_dir, stream),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    invocation.attach(process)
    chunks = bytearray()

    def read() -> None:
        pipe = process.stdout
        assert pipe is not None
        with contextlib.suppress(OSError):  # closed under it: a process escaped its session and kept it open
            for chunk in iter(lambda: os.read(pipe.fileno(), 65536), b""):
                chunks.extend(chunk)
                if len(chunks) > LOG_KEEP_BYTES:
                    del chunks[: len(chunks) - LOG_KEEP_BYTES]

    reader = threading.Thread(target=read, name=f"lambda-log-{invocation.request_id[:8]}", daemon=True)
    reader.start()
    timed_out = False
    try:
        process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = not invocation.killed
        _kill_group(process)
        process.wait()
    _kill_group(process)  # whatever the handler started goes with the environment
    reader.join(timeout=5)
    if process.stdout is not None:
        process.stdout.close()
    return chunks.decode("utf-8", "replace"), process.returncode, timed_out


def _read_outcome(
    directory: Path, request_id: str, spec: FunctionSpec, returncode: int, timed_out: bool
) -> tuple[bytes, str | None, str]:
    """(payload, X-Amz-Function-Error, a line for the log) as the Lambda service reports the run."""
    if timed_out:
        message = f"RequestId: {request_id} Error: Task timed out after {float(spec.timeout):.2f} seconds"
        document = {"errorMessage": message, "errorType": "Sandbox.Timedout"}
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        note = f"{stamp}Z {request_id} Task timed out after {float(spec.timeout):.2f} seconds"
        return json.dumps(document).encode(), "Unhandled", note
    error, response = directory / "error", directory / "response"
    if error.exists():
        return error.read_bytes(), "Unhandled", ""
    if response.exists():
        return response.read_bytes(), None, ""
    if returncode < 0:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
        reason = f"Runtime exited with error: signal: {name[:1].lower()}{name[1:]}"
    elif returncode > 0:
        reason = f"Runtime exited with error: exit status {returncode}"
    else:
        reason = "Runtime exited without providing a reason"
    message = f"RequestId: {request_id} Error: {reason}"
    document = {"errorMessage": message, "errorType": "Runtime.ExitError"}
    return json.dumps(document).encode(), "Unhandled", f"{message}\nRuntime.ExitError"


def _log(spec: FunctionSpec, request_id: str, output: str, note: str, duration_ms: float) -> str:
    lines = [f"START RequestId: {request_id} Version: {spec.version}"]
    if output:
        lines.append(output.rstrip("\n"))
    if note:
        lines.append(note)
    lines.append(f"END RequestId: {request_id}")
    lines.append(
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {spec.memory_size} MB\t"
    )
    return "\n".join(lines) + "\n"


def log_tail(log: str) -> str:
    """The last 4 KB of the log, base64: X-Amz-Log-Result."""
    return base64.b64encode(log.encode("utf-8")[-LOG_TAIL_BYTES:]).decode("ascii")
