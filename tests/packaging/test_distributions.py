"""What a user installs: the engine's wheel holds the engine alone, and the `sandbox` extra of a
checkout brings the sandbox distribution from sandbox/ (built here with pip, as a user would)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = ["--no-index", "--no-build-isolation", "--quiet"]  # the backend and dependencies are in this venv


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], cwd=ROOT, check=True, capture_output=True, timeout=300)


def test_the_engine_wheel_carries_no_sandbox_and_needs_no_moto(tmp_path: Path):
    _pip("wheel", "--no-deps", *OFFLINE, "--wheel-dir", str(tmp_path), ".")
    (wheel,) = tmp_path.glob("asgpatch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    packages = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert packages == {"asgpatch"}
    assert "asgpatch/cli.py" in names and "asgpatch/decide.py" in names
    assert not [name for name in names if "sandbox" in name.lower() or "moto" in name.lower()]
    always = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert sorted(r.split(">")[0].split("=")[0] for r in always) == [
        "boto3",
        "click",
        "croniter",
        "pyyaml",
        "rich",
        "tzdata",
    ]
    sandbox_extra = [r for r in metadata.get_all("Requires-Dist") or [] if "extra == 'sandbox'" in r]
    assert sandbox_extra == [f"asgpatch-sandbox @ {(ROOT / 'sandbox').as_uri()} ; extra == 'sandbox'"]


def test_the_sandbox_extra_installs_the_sandbox_distribution_from_the_checkout(tmp_path: Path):
    report = tmp_path / "report.json"
    _pip("install", "--dry-run", *OFFLINE, "--report", str(report), ".[sandbox]")
    planned = {item["metadata"]["name"]: item for item in json.loads(report.read_text())["install"]}
    assert planned["asgpatch-sandbox"]["download_info"]["url"] == (ROOT / "sandbox").as_uri()
    requires = planned["asgpatch-sandbox"]["metadata"]["requires_dist"]
    assert any(r.startswith("moto[server]==") for r in requires)
