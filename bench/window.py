"""One maintenance window at scale: asgpatch beside the design a competent engineer writes first.

    python bench/window.py [--groups N] [--regions R] [--concurrency C] [--latency-ms L]

Starts the sandbox with --throttle (AWS's token buckets) and --latency-ms L, creates N tagged groups at
zero spread over R regions (its own launch template each; built with the throttle off, as an account
exists before the window opens), then in the same invocation on the same sandbox runs

  asgpatch   `asgpatch run --region … --concurrency C` in a process of its own, and
  baseline   bench/baseline.py: a thread pool of C workers, each patching one group with boto3 waiters,

each on a fresh set of groups. It prints what it sees, and one JSON line last (docs: README "Benchmark").

floor_seconds is computed, not measured: the least time the sandbox's delays, the concurrency and the
token buckets allow. Regions are independent (a bucket is per account and region), so the floor is the
worst region's; in a region with n groups:

  cycle    = launch + ssm + patch + image (sandbox seconds) + L x 7
             (7 calls a cycle makes one after another at the least: SuspendProcesses, the scale-up
             UpdateAutoScalingGroup, SendCommand, CreateImage, CreateLaunchTemplateVersion, the
             UpdateAutoScalingGroup that points at the new version and puts the capacity back,
             ResumeProcesses)
  waves    = ceil(n / C) x cycle                       C groups in flight at most
  autoscal = (4 n - 40) / 10                           the Auto Scaling bucket (40, refill 10/s) must
             serve the 4 Auto Scaling calls a cycle cannot avoid (SuspendProcesses, two
             UpdateAutoScalingGroup, ResumeProcesses); state tags are batched across groups (one
             CreateOrUpdateTags serves many) and reads are batched, so neither is counted
  image    = (n - 50) / 5                              CreateImage, EC2's mutating bucket (50, 5/s)
  version  = (n - 100) / 5                             CreateLaunchTemplateVersion (100, 5/s)
  command  = (n - 40) / 10                             SendCommand, the SSM bucket (40, 10/s)
  floor    = max(cycle, waves, autoscal, image, version, command)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from asgpatch_sandbox.builders import base_image, launch_template
from asgpatch_sandbox.process import SandboxProcess

REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2", "eu-central-1", "ca-central-1")
TIMINGS = {"launch": 2.0, "ssm": 2.0, "patch": 10.0, "image": 5.0}  # sandbox seconds (the issue's)
SEQUENTIAL_CALLS = 7
UNAVOIDABLE_AUTOSCALING = 4
BUCKETS = {"autoscaling": (40, 10), "image": (50, 5), "version": (100, 5), "command": (40, 10)}
FIELDS = ("wall_seconds", "api_calls", "api_calls_per_group", "api_calls_by_operation", "throttled_responses",
          "failed_groups", "cpu_seconds", "max_rss_mb")  # fmt: skip


def floor_seconds(groups_by_region: Sequence[int], concurrency: int, latency_ms: float) -> float:
    """The module docstring's formula."""
    cycle = sum(TIMINGS.values()) + latency_ms / 1000 * SEQUENTIAL_CALLS

    def bucket(calls: float, kind: str) -> float:
        capacity, refill = BUCKETS[kind]
        return max(0.0, (calls - capacity) / refill)

    worst = 0.0
    for n in groups_by_region:
        autoscaling = bucket(UNAVOIDABLE_AUTOSCALING * n, "autoscaling")
        waves = math.ceil(n / concurrency) * cycle
        worst = max(worst, cycle, waves, autoscaling, bucket(n, "image"), bucket(n, "version"), bucket(n, "command"))
    return worst


def spread(count: int, regions: Sequence[str]) -> list[tuple[str, int]]:
    """(region, index) for `count` groups dealt over the regions in turn."""
    return [(regions[index % len(regions)], index) for index in range(count)]


def build_estate(
    sandbox: SandboxProcess, prefix: str, tag: str, placed: Sequence[tuple[str, int]]
) -> list[tuple[str, str]]:
    """Tagged groups at zero, a launch template each (with an instance profile, as SSM needs)."""
    regions = dict.fromkeys(region for region, _ in placed)
    images = {region: base_image(sandbox.client("ec2", region=region), f"{prefix}-base") for region in regions}

    def make(where: tuple[str, int]) -> tuple[str, str]:
        region, index = where
        name = f"{prefix}-{index:05d}"
        template = launch_template(sandbox.client("ec2", region=region), name, images[region])
        sandbox.client("autoscaling", region=region).create_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=0, MaxSize=2, DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateId": template, "Version": "1"}, AvailabilityZones=[f"{region}a"],
            Tags=[{"Key": "ep:asg:patch", "Value": tag, "PropagateAtLaunch": False, "ResourceId": name,
                   "ResourceType": "auto-scaling-group"}],
        )  # fmt: skip
        return region, name

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(make, placed))


def run_asgpatch(sandbox: SandboxProcess, regions: Sequence[str], tag: str, concurrency: int) -> dict[str, Any]:
    """`asgpatch run` as a user runs it, timed; its own CPU and peak RSS from wait4."""
    command = [sys.executable, "-m", "asgpatch", "run", "--output", "json", "--tag-value", tag,
               "--concurrency", str(concurrency)]  # fmt: skip
    for region in regions:
        command += ["--region", region]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=sandbox.environment())
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"asgpatch run exited {process.returncode} without a report:\n{stderr[-2000:]}") from None
    failed = [g["name"] for g in report["groups"] if g["status"] != "patched"]
    return {"wall_seconds": wall, "failed_groups": failed, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "max_rss_mb": usage.ru_maxrss / 1024}  # fmt: skip


def counted(sandbox: SandboxProcess, before: dict[str, Any], groups: int) -> dict[str, Any]:
    """The calls the sandbox received since `before` (retries included: each reached it again)."""
    after = sandbox.control("GET", "calls")
    by_operation = {key: after["calls"][key] - before["calls"].get(key, 0) for key in sorted(after["calls"])}
    by_operation = {key: count for key, count in by_operation.items() if count}
    total = after["total"] - before["total"]
    return {"api_calls": total, "api_calls_per_group": round(total / max(groups, 1), 2),
            "api_calls_by_operation": by_operation,
            "throttled_responses": after["throttled_total"] - before["throttled_total"]}  # fmt: skip


def measure(sandbox: SandboxProcess, prefix: str, args: argparse.Namespace, design: str) -> dict[str, Any]:
    regions = REGIONS[: args.regions]
    sandbox.control("POST", "throttle", {"enabled": False})
    groups = build_estate(sandbox, prefix, prefix, spread(args.groups, regions))
    sandbox.control("POST", "throttle", {"enabled": True})
    time.sleep(5)  # the buckets the build drained refill, as they would before a window opens
    before = sandbox.control("GET", "calls")
    if design == "asgpatch":
        result = run_asgpatch(sandbox, regions, prefix, args.concurrency)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is scripts, not a package
        from baseline import run_baseline

        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the sandbox's dummy credentials
            os.environ[key] = sandbox.environment()[key]
        seen = run_baseline(sandbox.url, groups, args.concurrency, f"{prefix}-run")
        for reason in seen["reasons"]:
            print(f"baseline failed {reason}", flush=True)
        result = {key: seen[key] for key in ("wall_seconds", "failed_groups", "cpu_seconds", "max_rss_mb")}
    result.update(counted(sandbox, before, len(groups)))
    result["failed_groups"] = len(result["failed_groups"])
    print(f"{design}: {result['wall_seconds']:.1f} s, {result['api_calls_per_group']} calls a group, "
          f"{result['throttled_responses']} throttled, {result['failed_groups']} failed, "
          f"{result['cpu_seconds']:.1f} s CPU, {result['max_rss_mb']:.0f} MB", flush=True)  # fmt: skip
    return {key: round(result[key], 2) if isinstance(result[key], float) else result[key] for key in FIELDS}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--regions", type=int, default=2, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--no-baseline", action="store_true", help="Measure asgpatch only.")
    args = parser.parse_args()
    timings = ("--launch-seconds", str(TIMINGS["launch"]), "--ssm-seconds", str(TIMINGS["ssm"]),
               "--patch-seconds", str(TIMINGS["patch"]), "--image-seconds", str(TIMINGS["image"]))  # fmt: skip
    with SandboxProcess("--throttle", "--latency-ms", str(args.latency_ms), *timings) as sandbox:
        ours = measure(sandbox, "win", args, "asgpatch")
        baseline = None if args.no_baseline else measure(sandbox, "base", args, "baseline")
    per_region = [len([1 for region, _ in spread(args.groups, REGIONS[: args.regions]) if region == r])
                  for r in REGIONS[: args.regions]]  # fmt: skip
    floor = floor_seconds(per_region, args.concurrency, args.latency_ms)
    line: dict[str, Any] = {"groups": args.groups, "regions": args.regions, "concurrency": args.concurrency,
                            "latency_ms": args.latency_ms, **ours, "floor_seconds": round(floor, 2),
                            "ratio": round(ours["wall_seconds"] / floor, 3) if floor else None}  # fmt: skip
    if baseline is not None:
        line["baseline"] = {**baseline, "ratio": round(baseline["wall_seconds"] / floor, 3) if floor else None}
    print(json.dumps(line, separators=(",", ":")))


if __name__ == "__main__":
    main()
