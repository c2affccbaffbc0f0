"""The boto3 the engine declares as its minimum knows every operation and parameter the engine sends.

Every request a representative set of runs makes (groups at zero, running behind load balancers,
$Default, $Latest, a mixed policy, an alias ImageId, a schedule, a failed image, a hung patch, plan
and recover) is captured in process, on the sandbox, and validated against the service models of the
declared minimum botocore (its wheel, fetched from the package registry)."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

from asgpatch import runner
from asgpatch.config import RunConfig
from asgpatch.model import Settings
from asgpatch_sandbox.builders import base_image, group, launch_template, security_group, template_data
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.inprocess import capturing_cloud

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def declared_minimum() -> str:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (boto3,) = [d for d in dependencies if d.startswith("boto3")]
    found = re.fullmatch(r"boto3>=(\d+)\.(\d+)(?:\.\d+)?", boto3.split(";")[0].strip())
    assert found, f"boto3 must be declared as boto3>=X.Y: {boto3}"
    return f"{found.group(1)}.{found.group(2)}.0"  # boto3 X.Y needs botocore X.Y


@pytest.fixture(scope="module")
def minimum_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ServiceModel]:
    version = declared_minimum()
    where = tmp_path_factory.mktemp("botocore")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", f"botocore=={version}", "-d", str(where)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = where.glob("botocore-*.whl")
    models: dict[str, ServiceModel] = {}
    with zipfile.ZipFile(wheel) as archive:
        for service in ("autoscaling", "ec2", "ssm", "sns", "elbv2", "elb"):
            paths = sorted(n for n in archive.namelist() if n.startswith(f"botocore/data/{service}/") and
                           n.endswith("/service-2.json.gz"))  # fmt: skip
            models[service] = ServiceModel(json.loads(gzip.decompress(archive.read(paths[-1]))), service)
    return models


@pytest.fixture(scope="module")
def requests(sandbox: SandboxProcess) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """Every request the engine made in the runs below: (service, operation, parameters)."""
    cloud, clock, seen = capturing_cloud(sandbox)
    build_estate(sandbox)
    settings = Settings(tag_key="boto3-minimum", launch_timeout=300, patch_timeout=120, image_timeout=300)
    config = RunConfig(poll_seconds=20, settings=settings, sns_topic_arn=None)
    cloud.check()
    runner.plan(cloud, config, "20261201T040000Z-0001", clock)
    report = runner.run(cloud, config, "20261201T040000Z-0002", clock)
    statuses = {entry["name"]: entry["status"] for entry in report["groups"]}
    assert statuses["min-zero"] == "patched" and statuses["min-image-fails"] == "failed", statuses
    runner.recover(cloud, config, "20261201T050000Z-0003", clock)
    yield seen


def build_estate(sandbox: SandboxProcess) -> None:
    ec2, autoscaling, elbv2 = sandbox.client("ec2"), sandbox.client("autoscaling"), sandbox.client("elbv2")
    image = base_image(ec2, "min-base")
    tag = {"boto3-minimum": "true"}
    group(autoscaling, "min-zero", launch_template(ec2, "min-zero", image), tags=tag)
    group(autoscaling, "min-default", launch_template(ec2, "min-default", image), version="$Default", tags=tag)
    group(autoscaling, "min-latest", launch_template(ec2, "min-latest", image), version="$Latest", tags=tag)
    group(autoscaling, "min-image-fails", launch_template(ec2, "min-image-fails", image),
          tags={**tag, "sandbox:image": "fail"})  # fmt: skip
    group(autoscaling, "min-hangs", launch_template(ec2, "min-hangs", image), tags={**tag, "sandbox:patch": "hang"})
    aliased = template_data("ami-unused", security_group=security_group(ec2, "min-alias"))
    aliased["ImageId"] = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    alias = ec2.create_launch_template(LaunchTemplateName="min-alias", LaunchTemplateData=aliased)
    group(autoscaling, "min-alias", alias["LaunchTemplate"]["LaunchTemplateId"], tags=tag)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    target_group = elbv2.create_target_group(Name="min-tg", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    running = launch_template(ec2, "min-running", image)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="min-running", MinSize=1, MaxSize=3, DesiredCapacity=1, AvailabilityZones=["us-east-1a"],
        LaunchTemplate={"LaunchTemplateId": running, "Version": "1"}, TargetGroupARNs=[target_group["TargetGroupArn"]],
        Tags=[{"Key": "boto3-minimum", "Value": "true", "PropagateAtLaunch": False}],
    )  # fmt: skip
    autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName="min-running", ScheduledActionName="nightly", Recurrence="0 2 * * *", DesiredCapacity=1
    )
    launch_template(ec2, "min-mixed", image)  # named by name in the policy below
    sibling = launch_template(ec2, "min-mixed-sibling", image)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="min-mixed", MinSize=0, MaxSize=2, DesiredCapacity=0, AvailabilityZones=["us-east-1a"],
        MixedInstancesPolicy={"LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateName": "min-mixed", "Version": "1"},
            "Overrides": [{"InstanceType": "t3.small"}, {"InstanceType": "t3a.small", "LaunchTemplateSpecification": {
                "LaunchTemplateId": sibling, "Version": "1"}}]}},
        Tags=[{"Key": "boto3-minimum", "Value": "true", "PropagateAtLaunch": False}],
    )  # fmt: skip
    hooked = launch_template(ec2, "min-hooked", image)  # a launch hook, and a warm pool
    group(autoscaling, "min-hooked", hooked, tags={**tag, "sandbox:lifecycle-action": "continue:60"})
    autoscaling.put_lifecycle_hook(LifecycleHookName="bootstrap", AutoScalingGroupName="min-hooked",
                                   LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING")  # fmt: skip
    autoscaling.put_warm_pool(AutoScalingGroupName="min-hooked", MinSize=1)
    sandbox.advance(60)  # the running group's instance is in service


def test_the_runs_exercised_every_kind_of_write(requests):
    operations = {operation for _, operation, _ in requests}
    needed = ("CreateImage", "DeregisterImage", "CreateLaunchTemplateVersion", "ModifyLaunchTemplate",
              "UpdateAutoScalingGroup", "SendCommand", "CancelCommand", "DescribeInstancePatchStates",
              "DescribeScheduledActions", "DescribeTargetHealth", "TerminateInstanceInAutoScalingGroup",
              "DescribeLifecycleHooks", "DescribeWarmPool")  # fmt: skip
    for needed_one in needed:
        assert needed_one in operations, f"{needed_one} was never called: the check would miss its parameters"


def test_the_declared_minimum_boto3_knows_every_operation_and_parameter_sent(requests, minimum_models):
    validator = ParamValidator()
    problems = set()
    for service, operation, params in requests:
        model = minimum_models[service]
        if operation not in model.operation_names:
            problems.add(f"{service}:{operation} does not exist")
            continue
        report = validator.validate(params, model.operation_model(operation).input_shape)
        if report.has_errors():
            problems.add(f"{service}:{operation}: {report.generate_report()}")
    assert not problems, f"botocore {declared_minimum()} is too old:\n" + "\n".join(sorted(problems))
