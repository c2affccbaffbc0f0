"""Start the sandbox as a child process and talk to it: used by the tests, the demo and the benchmarks.

It speaks to the sandbox only over HTTP, exactly as a user's client would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.config import Config

DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"


class SandboxProcess:
    def __init__(self, *args: str, startup_timeout: float = 60.0) -> None:
        self.args: Sequence[str] = args
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self._lines: list[str] = []
        self.client_config: Config | None = None  # the default for client(), e.g. more retries in a fault storm

    def start(self) -> SandboxProcess:
        command = [sys.executable, "-m", "asgpatch_sandbox", "--port", "0", *self.args]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        found = threading.Event()

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self._lines.append(line)
                if not self.url and "http://" in line:
                    self.url = "http://" + line.split("http://", 1)[1].split()[0]
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(self.startup_timeout) or not self.url:
            self.stop()
            raise RuntimeError("the sandbox did not start:\n" + "".join(self._lines))
        return self

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def wait_for_output(self, text: str, timeout: float = 60.0) -> None:
        """Block until the sandbox has printed `text` (e.g. the demo seed's summary line)."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline or (self.proc is not None and self.proc.poll() is not None):
                raise RuntimeError(f"the sandbox never printed {text!r}:\n{self.output}")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # clients and control -------------------------------------------------------------------
    def client(self, service: str, config: Config | None = None, region: str = REGION) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            config=config or self.client_config or Config(retries={"mode": "standard", "max_attempts": 5}),
            **DUMMY_CREDENTIALS,
        )

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/_sandbox/{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def environment(self, **extra: str) -> dict[str, str]:
        """What a user's shell would set to point asgpatch (or the AWS CLI) at this sandbox: the
        endpoint, region and dummy credentials; no ASGPATCH_* settings leak in from the caller."""
        environment = {key: value for key, value in os.environ.items() if not key.startswith("ASGPATCH_")}
        environment.update(
            AWS_ENDPOINT_URL=self.url,
            AWS_DEFAULT_REGION=REGION,
            AWS_ACCESS_KEY_ID=DUMMY_CREDENTIALS["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=DUMMY_CREDENTIALS["aws_secret_access_key"],
        )
        environment.update(extra)
        return environment

    def now(self) -> float:
        """The sandbox clock, in epoch seconds."""
        return float(self.control("GET", "health")["now"])

    def advance(self, seconds: float) -> float:
        """Move the sandbox clock forward; every timed change due by then happens."""
        return float(self.control("POST", "clock", {"advance_seconds": seconds})["now"])

    def set_faults(self, seed: int = 0, lose_first_answer: Sequence[str] = (), **rates: float) -> None:
        """Change the weather: fault_rate, reset_rate, lost_answer_rate (omitted: 0); the next call of
        each operation in lose_first_answer takes effect and loses its answer."""
        self.control("POST", "faults", {**rates, "seed": seed, "lose_first_answer": list(lose_first_answer)})

    def publish_patches(self, count: int = 1) -> int:
        return int(self.control("POST", "patches", {"publish": count})["published"])
