"""The design a competent engineer writes first, measured beside asgpatch by bench/window.py: a thread
pool of C workers, each patching one group end to end with boto3 and its waiters, then the next.

Per group: suspend the processes that could undo the patch instance, scale to one, wait for it
(InService, running, SSM Online), protect it, AWS-RunPatchBaseline and the CommandExecuted waiter,
CreateImage and the ImageAvailable waiter, a launch-template version with the new image, point the
group at it, then capacity, protection and processes back. Any error: the same restore, best effort.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

SUSPENDED = ["ScheduledActions", "AZRebalance", "ReplaceUnhealthy", "HealthCheck", "AlarmNotification"]
CONFIG = Config(retries={"mode": "standard", "max_attempts": 10})
_local = threading.local()


def _client(service: str, region: str, endpoint_url: str) -> Any:
    """A session per worker thread and a client per service and region, as a simple script keeps them."""
    if not hasattr(_local, "session"):
        _local.session, _local.clients = boto3.session.Session(), {}
    key = (service, region)
    if key not in _local.clients:
        _local.clients[key] = _local.session.client(service, region_name=region, endpoint_url=endpoint_url,
                                                    config=CONFIG)  # fmt: skip
    return _local.clients[key]


def _wait_in_service(autoscaling: Any, name: str, timeout: float = 900) -> str:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        ready = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
        if ready:
            return str(ready[0])
        time.sleep(2)
    raise TimeoutError(f"{name}: no instance InService")


def _wait_online(ssm: Any, instance: str, timeout: float = 900) -> None:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        found = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance]}])
        if any(i.get("PingStatus") == "Online" for i in found["InstanceInformationList"]):
            return
        time.sleep(2)
    raise TimeoutError(f"{instance}: SSM never Online")


def patch_group(endpoint_url: str, region: str, name: str, run_id: str) -> None:
    autoscaling = _client("autoscaling", region, endpoint_url)
    ec2, ssm = _client("ec2", region, endpoint_url), _client("ssm", region, endpoint_url)
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    sizes = {"MinSize": group["MinSize"], "MaxSize": group["MaxSize"], "DesiredCapacity": group["DesiredCapacity"]}
    spec = group["LaunchTemplate"]
    already = {p["ProcessName"] for p in group.get("SuspendedProcesses", [])}
    ours = [p for p in SUSPENDED if p not in already]
    instance = None
    try:
        autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=ours)
        autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=max(1, sizes["MinSize"]), MaxSize=max(1, sizes["MaxSize"]),
            DesiredCapacity=max(1, sizes["DesiredCapacity"]))  # fmt: skip
        instance = _wait_in_service(autoscaling, name)
        ec2.get_waiter("instance_running").wait(InstanceIds=[instance])
        _wait_online(ssm, instance)
        autoscaling.set_instance_protection(
            AutoScalingGroupName=name, InstanceIds=[instance], ProtectedFromScaleIn=True
        )
        parameters = {"Operation": ["Install"], "RebootOption": ["RebootIfNeeded"]}
        sent = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunPatchBaseline", Parameters=parameters)
        command = sent["Command"]["CommandId"]
        ssm.get_waiter("command_executed").wait(CommandId=command, InstanceId=instance,
                                                WaiterConfig={"Delay": 5, "MaxAttempts": 200})  # fmt: skip
        image = ec2.create_image(InstanceId=instance, Name=f"{name}-{run_id}", NoReboot=True, TagSpecifications=[
            {"ResourceType": t, "Tags": [{"Key": "patched-by", "Value": run_id}]} for t in ("image", "snapshot")
        ])["ImageId"]  # fmt: skip
        ec2.get_waiter("image_available").wait(ImageIds=[image])
        version = ec2.create_launch_template_version(
            LaunchTemplateId=spec["LaunchTemplateId"], SourceVersion=str(spec["Version"]),
            LaunchTemplateData={"ImageId": image})["LaunchTemplateVersion"]["VersionNumber"]  # fmt: skip
        pointed = {"LaunchTemplateId": spec["LaunchTemplateId"], "Version": str(version)}
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, LaunchTemplate=pointed)
    finally:
        _restore(autoscaling, name, sizes, instance, ours)


def _restore(autoscaling: Any, name: str, sizes: dict[str, int], instance: str | None, ours: list[str]) -> None:
    """Best effort: every step is tried whatever the one before did."""
    steps = [lambda: autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, **sizes),
             lambda: autoscaling.resume_processes(AutoScalingGroupName=name, ScalingProcesses=ours)]  # fmt: skip
    if instance is not None:
        steps.insert(0, lambda: autoscaling.set_instance_protection(
            AutoScalingGroupName=name, InstanceIds=[instance], ProtectedFromScaleIn=False))  # fmt: skip
    for step in steps:
        try:
            step()
        except Exception:  # best effort, as the simple design does
            continue


def run_baseline(endpoint_url: str, groups: Sequence[tuple[str, str]], concurrency: int, run_id: str) -> dict[str, Any]:
    """Patch (region, name) groups C at a time: wall seconds, failed names, this process's CPU and peak RSS."""
    failed: list[str] = []
    reasons: list[str] = []
    started, cpu = time.monotonic(), time.process_time()

    def one(where: tuple[str, str]) -> None:
        try:
            patch_group(endpoint_url, where[0], where[1], run_id)
        except Exception as error:  # a failed group is counted, not raised
            failed.append(where[1])
            reasons.append(f"{where[1]}: {type(error).__name__}: {error}")

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, groups))
    return {"wall_seconds": time.monotonic() - started, "failed_groups": failed, "reasons": reasons[:5],
            "patched_groups": len(groups) - len(failed), "cpu_seconds": time.process_time() - cpu,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip
