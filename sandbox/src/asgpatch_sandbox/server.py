"""The sandbox HTTP endpoint: moto's dispatcher behind a WSGI layer that adds time, limits and faults.

Order for each signed AWS call: injected fault → throttle → unemulated-operation check → a region AWS
does not have is refused as AWS refuses its signature → (under the world lock) advance the world to
now, let moto (as moto_changes.py changes it) answer → make any HTML error page a well-formed AWS
error. Paths under /_sandbox/ are the control API.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from asgpatch_sandbox.clock import VirtualClock
from asgpatch_sandbox.control import ControlApi
from asgpatch_sandbox.faults import Weather, drop_connection
from asgpatch_sandbox.ledger import CallLedger
from asgpatch_sandbox.operations import is_emulated
from asgpatch_sandbox.protocol import (
    AwsCall,
    ErrorReply,
    error_reply,
    identify,
    throttle_reply,
    transient_reply,
    unemulated_reply,
    unknown_region_reply,
)
from asgpatch_sandbox.throttling import Throttler
from asgpatch_sandbox.world import Timings, World

StartResponse = Callable[..., Any]
log = logging.getLogger("asgpatch_sandbox")
# Work a request must do after the world lock is released, because it waits on requests of its own
# (Lambda Invoke: the function runs and calls back into the sandbox, which would deadlock under the
# lock). A moto-level handler leaves `finish(status, headers, payload) -> (status, headers, payload)`
# under this key of the request's environ; the server calls it once the lock is free.
AFTER_LOCK = "asgpatch_sandbox.after_lock"


@dataclass(frozen=True)
class SandboxOptions:
    host: str = "127.0.0.1"
    port: int = 4566
    timings: Timings = field(default_factory=Timings)
    throttle: bool = False
    fault_rate: float = 0.0
    fault_seed: int = 0
    reset_rate: float = 0.0  # calls whose connection is closed before they take effect (a connection reset)
    lost_answer_rate: float = 0.0  # calls that take effect, then lose their answer the same way
    latency_ms: float = 0.0  # every AWS call waits this long first, outside the world lock: a real round trip


def _prepare_moto_environment() -> None:
    """Settings moto reads at import time: no built-in AMI catalogue (1,300 images slow every
    DescribeImages; the sandbox registers the base images an account needs)."""
    here = os.path.dirname(__file__)
    os.environ.setdefault("MOTO_AMIS_PATH", os.path.join(here, "data", "no_amis.json"))
    os.environ.setdefault("MOTO_CALL_RESET_API", "true")


class SandboxApp:
    def __init__(self, options: SandboxOptions, clock: VirtualClock | None = None) -> None:
        _prepare_moto_environment()
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        from asgpatch_sandbox import moto_changes, services

        self.options = options
        self.clock = clock or VirtualClock()
        self.world = World(self.clock, options.timings)
        moto_changes.apply_all()
        services.start(self.world)
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.throttler = Throttler(enabled=options.throttle)
        self.weather = Weather(options.fault_rate, options.reset_rate, options.lost_answer_rate, options.fault_seed)
        self.ledger = CallLedger()
        self.control = ControlApi(self.world, self.weather, self.ledger, self.throttler)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/_sandbox/"):
            return self.control(environ, start_response)
        if self.options.latency_ms > 0:  # wall time, in this request's own thread: calls still overlap
            time.sleep(self.options.latency_ms / 1000.0)
        body = _read_body(environ)
        call = identify(environ, body)
        if call is not None:
            self.ledger.received(call)
        if call is not None and self.weather.resets_connection():
            return drop_connection(environ, start_response)
        lose = call is not None and self.weather.loses_answer(call.operation)
        if call is not None:
            early = self._refuse(call)
            if early is not None:
                return _send(early, start_response)
            if call.region not in self.world.regions:
                if not self.world.knows_region(call.region):
                    return _send(unknown_region_reply(call), start_response)
                self.world.regions.add(call.region)
        try:
            with self.world.lock:
                self.world.advance()
                status, headers, payload = _capture(self.moto, environ)
            finish = environ.pop(AFTER_LOCK, None)
            if finish is not None:  # the server is threaded: the lock is free for the calls this makes
                status, headers, payload = finish(status, headers, payload)
        except NotImplementedError:
            if call is None:
                raise
            return _send(unemulated_reply(call), start_response)
        except Exception as error:
            if call is None:
                raise
            log.exception("the sandbox failed on %s:%s", call.service, call.operation)
            reply = error_reply(
                call.protocol, 500, "InternalFailure", f"sandbox error: {type(error).__name__}: {error}"
            )
            return _send(reply, start_response)
        if lose:  # it took effect; only the answer is lost
            return drop_connection(environ, start_response)
        if status.startswith("5") and call is not None and _looks_like_html(headers, payload):
            reply = error_reply(call.protocol, 500, "InternalFailure", _first_line(payload))
            return _send(reply, start_response)
        start_response(status, headers)
        return [payload]

    def _refuse(self, call: AwsCall) -> ErrorReply | None:
        fault = self.weather.transient_fault()
        if fault is not None:
            return transient_reply(call, unavailable=fault == "unavailable")
        if self.throttler.enabled and not self.throttler.allow(call, _account_of(call)):
            self.ledger.throttled(call)
            return throttle_reply(call)
        if not is_emulated(call):
            return unemulated_reply(call)
        return None


def _account_of(call: AwsCall) -> str:
    """The account a call is made in, as moto tells it from the access key (buckets are per account)."""
    from moto.iam.models import get_account_id_from

    return get_account_id_from(call.access_key)


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    body = stream.read(length) if stream is not None and length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _capture(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"], captured["headers"] = status, headers

    chunks = app(environ, start_response)
    try:
        payload = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], payload


def _looks_like_html(headers: list[tuple[str, str]], payload: bytes) -> bool:
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    return "html" in content_type or payload.lstrip().startswith(b"<!doctype") or not payload.strip()


def _first_line(payload: bytes) -> str:
    text = payload.decode("utf-8", "replace").strip()
    return (text.splitlines() or ["internal error in the sandbox"])[0][:200]


def _send(reply: ErrorReply, start_response: StartResponse) -> list[bytes]:
    start_response(f"{reply.status} {'Error'}", reply.headers)
    return [reply.body]


def serve(options: SandboxOptions, ready: Callable[[str], None] | None = None) -> None:
    """Run in the foreground until SIGINT/SIGTERM; print the endpoint URL once requests are accepted."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log: the endpoint URL is the output

    listener = socket.create_server((options.host, options.port))  # OSError here: the caller's message
    app = SandboxApp(options)
    server = make_server(
        options.host, options.port, app, threaded=True, request_handler=MotoRequestHandler, fd=listener.fileno()
    )
    url = f"http://{options.host}:{listener.getsockname()[1]}"
    app.world.url = url
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    thread = threading.Thread(target=server.serve_forever, name="sandbox-http", daemon=True)
    thread.start()
    print(f"asgpatch sandbox listening on {url} (region us-east-1; any credentials)", flush=True)
    try:
        if ready is not None:
            ready(url)
    except BaseException:
        server.shutdown()
        server.server_close()
        raise
    stop.wait()
    thread.join(timeout=10)
    server.server_close()
    print("asgpatch sandbox stopped", file=sys.stderr, flush=True)
