"""The sandbox's control API under /_sandbox/: what tests and the demo use to steer the fake account.

GET  /_sandbox/health                      liveness, the sandbox clock
POST /_sandbox/clock    {"advance_seconds": N}   move the sandbox clock forward
POST /_sandbox/patches  {"publish": N}     AWS publishes N new patches (default 1)
GET  /_sandbox/patches                     how many patches exist
POST /_sandbox/faults   {"fault_rate": F, "reset_rate": R, "lost_answer_rate": L, "seed": N,
                         "lose_first_answer": ["SendCommand", ...]}
                                           change the weather (omitted rates become 0); the next call of
                                           each operation named takes effect and loses its answer
GET  /_sandbox/faults                      the operations whose answer is still to be lost
POST /_sandbox/lambda/kill {"function": NAME, "region": R}  SIGKILL the function's running invocations
                                           (region optional): each Invoke answers Runtime.ExitError
GET  /_sandbox/lambda                      {"running": {NAME: count}}: the invocations running now
POST /_sandbox/throttle {"enabled": B}     turn AWS's token buckets on or off (GET: whether they are on)
GET  /_sandbox/calls                       {"calls": {"service:Operation": n}, "throttled": {...}, "total",
                                           "throttled_total"}: every signed AWS call received since start
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from asgpatch_sandbox.faults import Weather
from asgpatch_sandbox.ledger import CallLedger
from asgpatch_sandbox.services import lambda_runtime
from asgpatch_sandbox.services.os_patch_catalog import PatchCatalog
from asgpatch_sandbox.throttling import Throttler
from asgpatch_sandbox.world import World


class ControlApi:
    def __init__(self, world: World, weather: Weather, ledger: CallLedger | None = None,
                 throttler: Throttler | None = None) -> None:  # fmt: skip
        self.world = world
        self.weather = weather
        self.ledger = ledger or CallLedger()
        self.throttler = throttler or Throttler(enabled=False)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            status, answer = self._route(method, path, body)
        except (ValueError, TypeError) as error:
            status, answer = "400 Bad Request", {"error": str(error)}
        payload = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    def _route(self, method: str, path: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        world = self.world
        if path == "/_sandbox/health":
            return "200 OK", {"ok": True, "now": world.clock.now()}
        if path == "/_sandbox/clock" and method == "POST":
            seconds = float(body.get("advance_seconds", 0))
            with world.lock:
                world.clock.advance(seconds)
                world.advance()
            return "200 OK", {"now": world.clock.now()}
        if path == "/_sandbox/patches":
            catalog = world.part(PatchCatalog)
            if method == "POST":
                count = int(body.get("publish", 1))
                if count < 1:
                    raise ValueError("publish at least one patch")
                with world.lock:
                    catalog.publish(count)
            return "200 OK", {"published": catalog.level}
        if path == "/_sandbox/faults" and method == "GET":
            return "200 OK", {"lose_first_answer": self.weather.pending_losses()}
        if path == "/_sandbox/faults" and method == "POST":
            rates = {key: float(body.get(key, 0.0)) for key in ("fault_rate", "reset_rate", "lost_answer_rate")}
            if not all(0.0 <= rate <= 1.0 for rate in rates.values()):
                raise ValueError("rates are fractions between 0 and 1")
            seed = int(body.get("seed", 0))
            lose_first = body.get("lose_first_answer", [])
            if not isinstance(lose_first, list) or not all(isinstance(name, str) for name in lose_first):
                raise ValueError("lose_first_answer is a list of operation names")
            self.weather.set(**rates, seed=seed)
            self.weather.lose_first_answer(lose_first)
            return "200 OK", {**rates, "lose_first_answer": sorted(lose_first)}
        if path == "/_sandbox/lambda/kill" and method == "POST":
            function, region = body.get("function"), body.get("region")
            if not isinstance(function, str) or not function or not isinstance(region, str | None):
                raise ValueError('name the function whose invocations to kill: {"function": NAME}')
            return "200 OK", {"killed": lambda_runtime.kill(function, region)}
        if path == "/_sandbox/throttle":
            if method == "POST":
                enabled = body.get("enabled")
                if not isinstance(enabled, bool):
                    raise ValueError('say whether to throttle: {"enabled": true} or {"enabled": false}')
                self.throttler.enabled = enabled
            return "200 OK", {"enabled": self.throttler.enabled}
        if path == "/_sandbox/calls" and method == "GET":
            return "200 OK", self.ledger.view()
        if path == "/_sandbox/lambda" and method == "GET":
            return "200 OK", {"running": lambda_runtime.running()}
        return "404 Not Found", {"error": f"no control endpoint {method} {path}"}
