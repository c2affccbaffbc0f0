"""The sandbox's images and launch templates behave like AWS, observed only through boto3 over HTTP.

The session sandbox images in 45 s and launches in 30 s; tests move its clock instead of waiting.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from asgpatch_sandbox import builders
from asgpatch_sandbox.process import SandboxProcess

IMAGE_SECONDS = 45
LAUNCH_SECONDS = 30


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def error_message(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Message"])


def running_instance(
    sandbox: SandboxProcess, ec2: Any, autoscaling: Any, uid: str, tags: dict[str, str] | None = None
) -> str:
    """One InService instance of a new group launched from a full launch template."""
    image_id = builders.base_image(ec2, f"base-{uid}")
    template_id = builders.launch_template(ec2, f"lt-{uid}", image_id)
    name = builders.group(autoscaling, f"asg-{uid}", template_id, tags=tags)
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, DesiredCapacity=1)
    sandbox.advance(LAUNCH_SECONDS + 1)
    instances = builders.describe_group(autoscaling, name)["Instances"]
    assert [i["LifecycleState"] for i in instances] == ["InService"]
    return str(instances[0]["InstanceId"])


def image(ec2: Any, image_id: str) -> dict[str, Any]:
    return dict(ec2.describe_images(ImageIds=[image_id])["Images"][0])


def snapshot_ids(described: dict[str, Any]) -> list[str]:
    return [m["Ebs"]["SnapshotId"] for m in described["BlockDeviceMappings"] if "SnapshotId" in m.get("Ebs", {})]


def existing_snapshots(ec2: Any, ids: list[str]) -> list[str]:
    every = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return [s["SnapshotId"] for s in every if s["SnapshotId"] in ids]


# --- CreateImage ---------------------------------------------------------------------------------


def test_image_is_pending_until_the_image_delay_has_passed(sandbox, ec2, autoscaling, uid):  # type: ignore[no-untyped-def]
    instance_id = running_instance(sandbox, ec2, autoscaling, uid)
    image_id = ec2.create_image(InstanceId=instance_id, Name=f"baked-{uid}", NoReboot=True)["ImageId"]

    pending = image(ec2, image_id)
    assert pending["State"] == "pending"
    assert pending["SourceInstanceId"] == instance_id
    assert pending["CreationDate"]
    assert "StateReason" not in pending
    states = ec2.describe_snapshots(SnapshotIds=snapshot_ids(pending))["Snapshots"]
    assert {s["State"] for s in states} == {"pending"}

    sandbox.advance(IMAGE_SECONDS - 15)
    assert image(ec2, image_id)["State"] == "pending"
    sandbox.advance(16)
    done = image(ec2, image_id)
    assert done["State"] == "available"
    states = ec2.describe_snapshots(SnapshotIds=snapshot_ids(done))["Snapshots"]
    assert {s["State"] for s in states} == {"completed"}


def test_image_fails_for_a_group_tagged_to_fail_images(sandbox, ec2, autoscaling, uid):  # type: ignore[no-untyped-def]
    instance_id = running_instance(sandbox, ec2, autoscaling, uid, tags={"sandbox:image": "fail"})
    image_id = ec2.create_image(InstanceId=instance_id, Name=f"doomed-{uid}")["ImageId"]
    assert image(ec2, image_id)["State"] == "pending"

    sandbox.advance(IMAGE_SECONDS + 1)
    failed = image(ec2, image_id)
    assert failed["State"] == "failed"
    assert failed["StateReason"]["Code"]
    assert failed["StateReason"]["Message"]


def test_image_mappings_are_the_instance_volumes_with_real_snapshots(sandbox, ec2, autoscaling, uid):  # type: ignore[no-untyped-def]
    instance_id = running_instance(sandbox, ec2, autoscaling, uid)
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    by_device = {v["Attachments"][0]["Device"]: v for v in volumes}
    assert sorted(by_device) == ["/dev/xvda", "/dev/xvdb"], "the instance has exactly its template's disks"

    image_id = ec2.create_image(InstanceId=instance_id, Name=f"baked-{uid}")["ImageId"]
    described = image(ec2, image_id)
    assert described["RootDeviceName"] == "/dev/xvda"
    assert described["RootDeviceType"] == "ebs"
    mappings = {m["DeviceName"]: m["Ebs"] for m in described["BlockDeviceMappings"]}
    assert sorted(mappings) == ["/dev/xvda", "/dev/xvdb"]
    assert (mappings["/dev/xvda"]["VolumeSize"], mappings["/dev/xvdb"]["VolumeSize"]) == (20, 50)
    assert {e["VolumeType"] for e in mappings.values()} == {"gp3"}
    assert mappings["/dev/xvda"]["Encrypted"] is True
    assert mappings["/dev/xvdb"]["Encrypted"] is False

    snapshots = {s["SnapshotId"]: s for s in ec2.describe_snapshots(SnapshotIds=snapshot_ids(described))["Snapshots"]}
    assert len(snapshots) == 2
    for device, ebs in mappings.items():
        snapshot = snapshots[ebs["SnapshotId"]]
        assert snapshot["VolumeId"] == by_device[device]["VolumeId"]
        assert snapshot["VolumeSize"] == ebs["VolumeSize"]
        assert snapshot["Description"] == f"Created by CreateImage({instance_id}) for {image_id}"
    assert not [s for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] if s["VolumeSize"] == 15]


def test_an_instance_of_a_baked_image_gets_the_image_disks(sandbox, ec2, autoscaling, uid):  # type: ignore[no-untyped-def]
    instance_id = running_instance(sandbox, ec2, autoscaling, uid)
    baked = ec2.create_image(InstanceId=instance_id, Name=f"baked-{uid}")["ImageId"]
    sandbox.advance(IMAGE_SECONDS + 1)
    root_snapshot = image(ec2, baked)["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]

    reservation = ec2.run_instances(ImageId=baked, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    new_id = reservation["Instances"][0]["InstanceId"]
    volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [new_id]}])["Volumes"]
    disks = {v["Attachments"][0]["Device"]: (v["Size"], v.get("SnapshotId")) for v in volumes}
    assert disks["/dev/xvda"] == (20, root_snapshot)
    assert disks["/dev/xvdb"][0] == 50
    ec2.terminate_instances(InstanceIds=[new_id])


def test_tag_specifications_tag_the_image_and_its_snapshots(sandbox, ec2, autoscaling, uid):  # type: ignore[no-untyped-def]
    instance_id = running_instance(sandbox, ec2, autoscaling, uid)
    image_id = ec2.create_image(
        InstanceId=instance_id,
        Name=f"tagged-{uid}",
        TagSpecifications=[
            {"ResourceType": "image", "Tags": [{"Key": "asgpatch:group", "Value": uid}]},
            {"ResourceType": "snapshot", "Tags": [{"Key": "asgpatch:snapshot-of", "Value": uid}]},
        ],
    )["ImageId"]
    described = image(ec2, image_id)
    assert described["Tags"] == [{"Key": "asgpatch:group", "Value": uid}]
    for snapshot in ec2.describe_snapshots(SnapshotIds=snapshot_ids(described))["Snapshots"]:
        assert snapshot["Tags"] == [{"Key": "asgpatch:snapshot-of", "Value": uid}]

    with pytest.raises(ClientError) as info:
        ec2.create_image(
            InstanceId=instance_id,
            Name=f"tagged-volume-{uid}",
            TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "k", "Value": "v"}]}],
        )
    assert error_code(info) == "InvalidParameterValue"


def test_an_image_name_is_unique_per_account_and_region(sandbox, ec2, autoscaling, uid):  # type: ignore[no-untyped-def]
    instance_id = running_instance(sandbox, ec2, autoscaling, uid)
    name = f"patched-{uid}"
    first = ec2.create_image(InstanceId=instance_id, Name=name)["ImageId"]

    with pytest.raises(ClientError) as info:
        ec2.create_image(InstanceId=instance_id, Name=name)
    assert error_code(info) == "InvalidAMIName.Duplicate"
    assert error_message(info) == f"AMI name {name} is already in use by AMI {first}"
    with pytest.raises(ClientError) as info:
        builders.base_image(ec2, name)
    assert error_code(info) == "InvalidAMIName.Duplicate"

    with pytest.raises(ClientError) as info:
        ec2.create_image(InstanceId=instance_id, Name=f"{name}:bad")
    assert error_code(info) == "InvalidAMIName.Malformed"

    ec2.deregister_image(ImageId=first)
    ec2.create_image(InstanceId=instance_id, Name=name)


@pytest.mark.parametrize("name", ["ab", "x" * 129, "star*name", "comma,name", "new\nline"])
def test_a_malformed_image_name_is_refused(sandbox, uid, name):  # type: ignore[no-untyped-def]
    unchecked = sandbox.client("ec2", Config(parameter_validation=False, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as info:
        builders.base_image(unchecked, name)
    assert error_code(info) == "InvalidAMIName.Malformed"
    assert error_message(info).startswith("AMI names must be between 3 and 128 characters long")


def test_every_allowed_character_is_accepted_in_a_name(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    name = f"Name ({uid}) [v1.2] /x-y_z 'q' @home"
    image_id = builders.base_image(ec2, name)
    assert image(ec2, image_id)["Name"] == name


def test_create_image_of_an_unknown_instance_fails(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        ec2.create_image(InstanceId="i-0123456789abcdef0", Name=f"ghost-{uid}")
    assert error_code(info) == "InvalidInstanceID.NotFound"


def test_create_image_of_a_launching_instance_fails(sandbox, ec2, autoscaling, uid):  # type: ignore[no-untyped-def]
    image_id = builders.base_image(ec2, f"base-{uid}")
    name = builders.group(autoscaling, f"asg-{uid}", builders.launch_template(ec2, f"lt-{uid}", image_id))
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, DesiredCapacity=1)
    instance_id = builders.describe_group(autoscaling, name)["Instances"][0]["InstanceId"]

    with pytest.raises(ClientError) as info:
        ec2.create_image(InstanceId=instance_id, Name=f"early-{uid}")
    assert error_code(info) == "IncorrectInstanceState"
    sandbox.advance(LAUNCH_SECONDS + 1)
    ec2.create_image(InstanceId=instance_id, Name=f"early-{uid}")


# --- RegisterImage, DeregisterImage, snapshots ---------------------------------------------------


def test_register_image_honours_its_parameters(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    data_snapshot = ec2.create_snapshot(VolumeId=ec2.create_volume(Size=30, AvailabilityZone="us-east-1a")["VolumeId"])
    image_id = ec2.register_image(
        Name=f"registered-{uid}",
        RootDeviceName="/dev/xvda",
        Architecture="arm64",
        VirtualizationType="hvm",
        BootMode="uefi",
        EnaSupport=True,
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 12, "VolumeType": "gp3"}},
            {
                "DeviceName": "/dev/xvdf",
                "Ebs": {"SnapshotId": data_snapshot["SnapshotId"], "VolumeType": "io1", "Iops": 300},
            },
        ],
    )["ImageId"]
    described = image(ec2, image_id)
    assert described["State"] == "available"
    assert (described["Architecture"], described["VirtualizationType"]) == ("arm64", "hvm")
    assert (described["BootMode"], described["EnaSupport"], described["RootDeviceName"]) == ("uefi", True, "/dev/xvda")
    mappings = {m["DeviceName"]: m["Ebs"] for m in described["BlockDeviceMappings"]}
    assert (mappings["/dev/xvda"]["VolumeSize"], mappings["/dev/xvda"]["VolumeType"]) == (12, "gp3")
    assert mappings["/dev/xvda"]["SnapshotId"].startswith("snap-")
    assert (mappings["/dev/xvdf"]["SnapshotId"], mappings["/dev/xvdf"]["VolumeSize"]) == (
        data_snapshot["SnapshotId"],
        30,
    )
    assert mappings["/dev/xvdf"]["VolumeType"] == "io1"


def test_deregister_with_delete_associated_snapshots_removes_them(sandbox, ec2, autoscaling, uid):  # type: ignore[no-untyped-def]
    instance_id = running_instance(sandbox, ec2, autoscaling, uid)
    keep = ec2.create_image(InstanceId=instance_id, Name=f"keep-{uid}")["ImageId"]
    drop = ec2.create_image(InstanceId=instance_id, Name=f"drop-{uid}")["ImageId"]
    sandbox.advance(IMAGE_SECONDS + 1)
    keep_snapshots, drop_snapshots = snapshot_ids(image(ec2, keep)), snapshot_ids(image(ec2, drop))

    with pytest.raises(ClientError) as info:
        ec2.delete_snapshot(SnapshotId=keep_snapshots[0])
    assert error_code(info) == "InvalidSnapshot.InUse"

    ec2.deregister_image(ImageId=keep)
    assert existing_snapshots(ec2, keep_snapshots) == keep_snapshots
    answer = ec2.deregister_image(ImageId=drop, DeleteAssociatedSnapshots=True)
    assert sorted(r["SnapshotId"] for r in answer["DeleteSnapshotResults"]) == sorted(drop_snapshots)
    assert {r["ReturnCode"] for r in answer["DeleteSnapshotResults"]} == {"success"}
    assert existing_snapshots(ec2, drop_snapshots) == []
    for snapshot_id in keep_snapshots:
        ec2.delete_snapshot(SnapshotId=snapshot_id)


def test_a_snapshot_another_image_uses_is_skipped(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    first = builders.base_image(ec2, f"first-{uid}")
    shared = snapshot_ids(image(ec2, first))[0]
    second = ec2.register_image(
        Name=f"second-{uid}",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": shared}}],
    )["ImageId"]

    answer = ec2.deregister_image(ImageId=first, DeleteAssociatedSnapshots=True)
    assert answer["DeleteSnapshotResults"] == [{"SnapshotId": shared, "ReturnCode": "skipped"}]
    with pytest.raises(ClientError) as info:
        ec2.delete_snapshot(SnapshotId=shared)
    assert error_code(info) == "InvalidSnapshot.InUse"
    ec2.deregister_image(ImageId=second, DeleteAssociatedSnapshots=True)
    assert existing_snapshots(ec2, [shared]) == []


def test_deregistering_an_unknown_image_fails(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as info:
        ec2.deregister_image(ImageId="ami-0123456789abcdef0")
    assert error_code(info) == "InvalidAMIID.NotFound"
    image_id = builders.base_image(ec2, f"gone-{uid}")
    ec2.deregister_image(ImageId=image_id)
    with pytest.raises(ClientError) as info:
        ec2.deregister_image(ImageId=image_id)
    assert error_code(info) in ("InvalidAMIID.Unavailable", "InvalidAMIID.NotFound")


def test_describe_images_filters_by_name_state_tag_and_owner(sandbox, ec2, autoscaling, uid):  # type: ignore[no-untyped-def]
    instance_id = running_instance(sandbox, ec2, autoscaling, uid)
    tag = [{"ResourceType": "image", "Tags": [{"Key": "run", "Value": uid}]}]
    ready = ec2.create_image(InstanceId=instance_id, Name=f"ready-{uid}", TagSpecifications=tag)["ImageId"]
    sandbox.advance(IMAGE_SECONDS + 1)
    waiting = ec2.create_image(InstanceId=instance_id, Name=f"waiting-{uid}", TagSpecifications=tag)["ImageId"]

    def ids(**kwargs: Any) -> set[str]:
        return {i["ImageId"] for i in ec2.describe_images(**kwargs)["Images"]}

    tagged = {"Name": "tag:run", "Values": [uid]}
    assert ids(Filters=[tagged]) == {ready, waiting}
    assert ids(Owners=["self"], Filters=[tagged, {"Name": "state", "Values": ["pending"]}]) == {waiting}
    assert ids(Filters=[{"Name": "name", "Values": [f"ready-{uid}"]}]) == {ready}
    assert ids(Filters=[{"Name": "name", "Values": [f"*-{uid}"]}, {"Name": "state", "Values": ["pending"]}]) == {
        waiting
    }
    assert ids(ImageIds=[ready, waiting], Filters=[{"Name": "state", "Values": ["available"]}]) == {ready}
    assert ids(Owners=["123456789012"], ImageIds=[waiting]) == {waiting}
    with pytest.raises(ClientError) as info:
        ec2.describe_images(ImageIds=["ami-0123456789abcdef0"])
    assert error_code(info) == "InvalidAMIID.NotFound"


# --- launch templates ----------------------------------------------------------------------------


def latest(ec2: Any, template_id: str, version: str = "$Latest") -> dict[str, Any]:
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[version])
    return dict(versions["LaunchTemplateVersions"][0])


def numbers(ec2: Any, template_id: str) -> list[int]:
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"]
    return [v["VersionNumber"] for v in versions]


def test_source_version_copies_every_field_and_changes_only_what_is_given(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    base = builders.base_image(ec2, f"base-{uid}")
    patched = builders.base_image(ec2, f"patched-{uid}")
    template_id = builders.launch_template(ec2, f"lt-{uid}", base)
    source = latest(ec2, template_id)["LaunchTemplateData"]

    answer = ec2.create_launch_template_version(
        LaunchTemplateId=template_id,
        SourceVersion="1",
        VersionDescription="patched image",
        LaunchTemplateData={"ImageId": patched},
    )["LaunchTemplateVersion"]
    assert (answer["VersionNumber"], answer["VersionDescription"]) == (2, "patched image")
    data = latest(ec2, template_id)["LaunchTemplateData"]
    assert data["ImageId"] == patched
    for key in (
        "InstanceType",
        "UserData",
        "IamInstanceProfile",
        "SecurityGroupIds",
        "BlockDeviceMappings",
        "TagSpecifications",
        "MetadataOptions",
    ):
        assert data[key] == source[key], key
    assert {k: v for k, v in data.items() if k != "ImageId"} == {k: v for k, v in source.items() if k != "ImageId"}
    assert base64.b64decode(data["UserData"]) == base64.b64decode(builders.USER_DATA)


@pytest.mark.parametrize("alias", ["$Latest", "$Default"])
def test_source_version_aliases_resolve(sandbox, ec2, uid, alias):  # type: ignore[no-untyped-def]
    base = builders.base_image(ec2, f"base-{uid}")
    template_id = builders.launch_template(ec2, f"lt-{uid}", base)
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion="1", LaunchTemplateData={"InstanceType": "m5.large"}
    )
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion=alias, LaunchTemplateData={"ImageId": base}
    )
    expected_type = "m5.large" if alias == "$Latest" else "t3.micro"
    data = latest(ec2, template_id)["LaunchTemplateData"]
    assert data["InstanceType"] == expected_type
    assert data["UserData"] and data["BlockDeviceMappings"]


def test_a_given_key_replaces_the_inherited_one_whole(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    template_id = builders.launch_template(ec2, f"lt-{uid}", builders.base_image(ec2, f"base-{uid}"))
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id,
        SourceVersion="1",
        LaunchTemplateData={"MetadataOptions": {"HttpTokens": "optional"}},
    )
    data = latest(ec2, template_id)["LaunchTemplateData"]
    assert data["MetadataOptions"] == {"HttpTokens": "optional"}
    assert data["InstanceType"] == "t3.micro"


def test_a_version_without_source_holds_only_what_was_given(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    base = builders.base_image(ec2, f"base-{uid}")
    template_id = builders.launch_template(ec2, f"lt-{uid}", base)
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id, LaunchTemplateData={"ImageId": base, "UserData": builders.USER_DATA}
    )
    data = latest(ec2, template_id)["LaunchTemplateData"]
    assert set(data) == {"ImageId", "UserData"}


def test_an_unknown_source_version_fails(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    base = builders.base_image(ec2, f"base-{uid}")
    template_id = builders.launch_template(ec2, f"lt-{uid}", base)
    with pytest.raises(ClientError) as info:
        ec2.create_launch_template_version(
            LaunchTemplateId=template_id, SourceVersion="7", LaunchTemplateData={"ImageId": base}
        )
    assert error_code(info) == "InvalidLaunchTemplateId.VersionNotFound"
    assert numbers(ec2, template_id) == [1]


def test_delete_launch_template_versions(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    base = builders.base_image(ec2, f"base-{uid}")
    template_id = builders.launch_template(ec2, f"lt-{uid}", base)
    for _ in range(3):
        ec2.create_launch_template_version(LaunchTemplateId=template_id, SourceVersion="$Latest", LaunchTemplateData={})

    answer = ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=["2", "3", "9"])
    assert [v["VersionNumber"] for v in answer["SuccessfullyDeletedLaunchTemplateVersions"]] == [2, 3]
    [failure] = answer["UnsuccessfullyDeletedLaunchTemplateVersions"]
    assert failure["VersionNumber"] == 9
    assert failure["ResponseError"]["Code"] == "launchTemplateVersionDoesNotExist"
    assert numbers(ec2, template_id) == [1, 4]

    with pytest.raises(ClientError) as info:
        ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=["1", "4"])
    assert error_code(info) == "InvalidParameterValue"
    assert "default version" in error_message(info)
    assert numbers(ec2, template_id) == [1, 4], "a refused request deletes nothing"

    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="4")
    ec2.delete_launch_template_versions(LaunchTemplateName=f"lt-{uid}", Versions=["1"])
    assert numbers(ec2, template_id) == [4]


def test_numbering_and_aliases_after_deletion(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    base = builders.base_image(ec2, f"base-{uid}")
    template_id = builders.launch_template(ec2, f"lt-{uid}", base)
    for instance_type in ("t3.small", "t3.medium"):
        ec2.create_launch_template_version(
            LaunchTemplateId=template_id, SourceVersion="$Latest", LaunchTemplateData={"InstanceType": instance_type}
        )
    ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=["3"])

    assert latest(ec2, template_id)["VersionNumber"] == 2
    assert latest(ec2, template_id)["LaunchTemplateData"]["InstanceType"] == "t3.small"
    described = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"][0]
    assert (described["DefaultVersionNumber"], described["LatestVersionNumber"]) == (1, 2)

    created = ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion="$Latest", LaunchTemplateData={}
    )["LaunchTemplateVersion"]
    assert created["VersionNumber"] == 4, "a deleted number is never reused"
    versions = ec2.describe_launch_template_versions(
        LaunchTemplateId=template_id, Versions=["$Latest", "$Default", "2"]
    )
    assert [v["VersionNumber"] for v in versions["LaunchTemplateVersions"]] == [4, 1, 2]
    ranged = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, MinVersion="2", MaxVersion="4")
    assert [v["VersionNumber"] for v in ranged["LaunchTemplateVersions"]] == [2, 4]

    with pytest.raises(ClientError) as info:
        ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["3"])
    assert error_code(info) == "InvalidLaunchTemplateId.VersionNotFound"
    with pytest.raises(ClientError) as info:
        ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="3")
    assert error_code(info) == "InvalidLaunchTemplateId.VersionNotFound"
    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="4")
    assert latest(ec2, template_id, "$Default")["VersionNumber"] == 4


def test_versions_page_instead_of_stopping_at_fifteen(sandbox, ec2, uid):  # type: ignore[no-untyped-def]
    template_id = builders.launch_template(ec2, f"lt-{uid}", builders.base_image(ec2, f"base-{uid}"))
    for _ in range(19):
        ec2.create_launch_template_version(LaunchTemplateId=template_id, SourceVersion="$Latest", LaunchTemplateData={})
    assert numbers(ec2, template_id) == list(range(1, 21))
    paginator = ec2.get_paginator("describe_launch_template_versions")
    pages = list(paginator.paginate(LaunchTemplateId=template_id, PaginationConfig={"PageSize": 6}))
    assert [len(p["LaunchTemplateVersions"]) for p in pages] == [6, 6, 6, 2]


def test_a_group_launches_from_a_version_made_from_a_source(sandbox, ec2, autoscaling, uid):  # type: ignore[no-untyped-def]
    instance_id = running_instance(sandbox, ec2, autoscaling, uid)
    baked = ec2.create_image(InstanceId=instance_id, Name=f"baked-{uid}")["ImageId"]
    sandbox.advance(IMAGE_SECONDS + 1)
    template_id = builders.describe_group(autoscaling, f"asg-{uid}")["LaunchTemplate"]["LaunchTemplateId"]
    version = ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion="1", LaunchTemplateData={"ImageId": baked}
    )["LaunchTemplateVersion"]["VersionNumber"]
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=f"asg-{uid}",
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": str(version)},
        MaxSize=2,
        DesiredCapacity=2,
    )
    sandbox.advance(LAUNCH_SECONDS + 1)
    instances = builders.describe_group(autoscaling, f"asg-{uid}")["Instances"]
    newest = next(i for i in instances if i["InstanceId"] != instance_id)
    described = ec2.describe_instances(InstanceIds=[newest["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert described["ImageId"] == baked
    assert newest["LaunchTemplate"]["Version"] == str(version)
    root = ec2.describe_volumes(
        Filters=[
            {"Name": "attachment.instance-id", "Values": [newest["InstanceId"]]},
            {"Name": "attachment.device", "Values": ["/dev/xvda"]},
        ]
    )["Volumes"][0]
    assert root["SnapshotId"] == snapshot_ids(image(ec2, baked))[0]
