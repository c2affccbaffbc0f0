"""`asgpatch sandbox`: the engine's one way into the sandbox package, and `make demo`'s program.

The command hands every argument to the sandbox's own command line, so its options, exit codes and
messages are the sandbox's; without the sandbox installed it says in one line how to install it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from asgpatch_sandbox.process import SandboxProcess


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asgpatch", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_bad_options_exit_2_with_one_message_and_no_traceback():
    for args in (["sandbox", "--port", "70000"], ["sandbox", "--fault-rate", "2"], ["sandbox", "--seed", "nope"]):
        result = _run(*args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
        assert "Error:" in result.stderr


def test_a_busy_port_is_one_clear_error():
    with SandboxProcess() as first:
        port = first.url.rsplit(":", 1)[1]
        result = _run("sandbox", "--port", port)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_serves_the_sandbox_with_its_options():
    help_text = _run("sandbox", "--help")
    assert help_text.returncode == 0
    assert "Usage: asgpatch sandbox [OPTIONS]" in help_text.stdout
    for flag in ("--port", "--launch-seconds", "--throttle", "--fault-rate", "--lost-answer-rate", "--seed"):
        assert flag in help_text.stdout
    process = subprocess.Popen(
        [sys.executable, "-m", "asgpatch", "sandbox", "--port", "0", "--launch-seconds", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert first_line.startswith("asgpatch sandbox listening on http://127.0.0.1:"), first_line
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_without_the_sandbox_installed_it_says_how_to_install_it_and_exits_2():
    hide_the_sandbox = (
        "import sys; sys.modules['asgpatch_sandbox'] = None; sys.argv = ['asgpatch', 'sandbox', '--port', '0']; "
        "from asgpatch.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", hide_the_sandbox], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "pip install '.[sandbox]'" in lines[0] and "asgpatch_sandbox" in lines[0]


def test_make_demo_runs_the_real_patch_cycle_on_the_sandbox():
    result = subprocess.run(
        [sys.executable, "-m", "asgpatch_sandbox.demo"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 would patch" in result.stdout
    assert "4 patched" in result.stdout
    # the deployed path: the window's execution patched the same four groups
    assert "the window starts the run itself" in result.stdout and "execution SUCCEEDED" in result.stdout
    assert '"counts":{"patched":4}' in result.stdout and "the deployed run succeeded" in result.stdout
    assert "legacy-untagged" in result.stdout and "Traceback" not in result.stdout + result.stderr
