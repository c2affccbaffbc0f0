"""Auto Scaling's load-balancer registration as AWS documents it: InService instances registered,
leaving ones deregistered, and an instance launched while AddToLoadBalancer is suspended never added."""

from __future__ import annotations

from typing import Any

from asgpatch_sandbox.builders import base_image, describe_group, launch_template


def target_group(sandbox: Any, name: str) -> str:
    ec2, elbv2 = sandbox.client("ec2"), sandbox.client("elbv2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    answer = elbv2.create_target_group(Name=name[:32], Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")
    return str(answer["TargetGroups"][0]["TargetGroupArn"])


def registered(sandbox: Any, arn: str) -> set[str]:
    health = sandbox.client("elbv2").describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {h["Target"]["Id"] for h in health if h["TargetHealth"]["State"] not in ("unused", "draining")}


def serving_group(sandbox: Any, name: str, **extra: Any) -> str:
    ec2, autoscaling = sandbox.client("ec2"), sandbox.client("autoscaling")
    template = launch_template(ec2, name, base_image(ec2, f"{name}-base"))
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=1, AvailabilityZones=["us-east-1a"],
        LaunchTemplate={"LaunchTemplateId": template, "Version": "1"}, **extra,
    )  # fmt: skip
    return name


def in_service(sandbox: Any, name: str) -> set[str]:
    instances = describe_group(sandbox.client("autoscaling"), name)["Instances"]
    return {i["InstanceId"] for i in instances if i["LifecycleState"] == "InService"}


def test_a_group_with_a_target_group_registers_its_instances_once_they_are_in_service(sandbox, uid):
    arn = target_group(sandbox, f"tg-{uid}")
    name = serving_group(sandbox, f"lb-{uid}", TargetGroupARNs=[arn])
    assert registered(sandbox, arn) == set(), "a pending instance is not registered"
    sandbox.advance(31)
    (instance,) = in_service(sandbox, name)
    assert registered(sandbox, arn) == {instance}
    sandbox.client("autoscaling").set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=0)
    sandbox.advance(1)
    assert registered(sandbox, arn) == set(), "an instance that leaves is deregistered"


def test_an_instance_launched_while_add_to_load_balancer_is_suspended_is_never_added(sandbox, uid):
    autoscaling = sandbox.client("autoscaling")
    arn = target_group(sandbox, f"tgs-{uid}")
    name = serving_group(sandbox, f"lbs-{uid}", TargetGroupARNs=[arn])
    sandbox.advance(31)
    (first,) = in_service(sandbox, name)
    autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["AddToLoadBalancer"])
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
    sandbox.advance(31)
    (second,) = in_service(sandbox, name) - {first}
    assert registered(sandbox, arn) == {first}
    autoscaling.resume_processes(AutoScalingGroupName=name, ScalingProcesses=["AddToLoadBalancer"])
    sandbox.advance(31)
    assert registered(sandbox, arn) == {first}, "resuming does not add what was launched while suspended"
    sandbox.client("elbv2").register_targets(TargetGroupArn=arn, Targets=[{"Id": second}])
    assert registered(sandbox, arn) == {first, second}, "registered by hand, as AWS says to"


def test_a_classic_load_balancer_is_kept_the_same_way(sandbox, uid):
    elb = sandbox.client("elb")
    balancer = f"clb-{uid}"
    elb.create_load_balancer(
        LoadBalancerName=balancer, AvailabilityZones=["us-east-1a"],
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
    )  # fmt: skip
    name = serving_group(sandbox, f"lbc-{uid}", LoadBalancerNames=[balancer])

    def members() -> set[str]:
        found = elb.describe_load_balancers(LoadBalancerNames=[balancer])["LoadBalancerDescriptions"][0]
        return {i["InstanceId"] for i in found["Instances"]}

    assert members() == set()
    sandbox.advance(31)
    assert members() == in_service(sandbox, name) and len(members()) == 1
