"""The emulated AWS services: one module per service and concern, named `<service>_<concern>.py`.

Each module holds the sandbox's state for its concern (a world part, caught up to the clock before
every request) and the functions that moto_changes.py puts in place of moto's. A new emulated
service is one more module here, its parts added in `start` and its changes listed in moto_changes.py.
"""

from __future__ import annotations

from asgpatch_sandbox.world import World, install


def start(world: World) -> None:
    """Give the world every service's state, in the order they catch up to the clock."""
    from asgpatch_sandbox.services.autoscaling_activities import ScalingActivities
    from asgpatch_sandbox.services.autoscaling_groups import AutoScalingWorld
    from asgpatch_sandbox.services.autoscaling_health import HealthWorld
    from asgpatch_sandbox.services.autoscaling_instance_refresh import RefreshWorld
    from asgpatch_sandbox.services.autoscaling_lifecycle_hooks import HookWorld
    from asgpatch_sandbox.services.autoscaling_load_balancers import LoadBalancerWorld
    from asgpatch_sandbox.services.autoscaling_scheduled_actions import ScheduledWorld
    from asgpatch_sandbox.services.autoscaling_warm_pools import WarmPoolWorld
    from asgpatch_sandbox.services.ec2_images import ImagesWorld
    from asgpatch_sandbox.services.os_patch_catalog import PatchCatalog
    from asgpatch_sandbox.services.ssm_maintenance_windows import WindowsWorld
    from asgpatch_sandbox.services.ssm_run_command import SsmWorld
    from asgpatch_sandbox.services.stepfunctions_executions import ExecutionsWorld

    install(world)
    world.add(PatchCatalog())
    world.add(ScalingActivities(world))
    world.add(AutoScalingWorld(world))  # launches finish before health checks look at them
    world.add(HookWorld(world))  # then the launch hooks holding them in Pending:Wait
    world.add(WarmPoolWorld(world))
    world.add(HealthWorld(world))
    world.add(LoadBalancerWorld(world))  # after launches and health checks: registers what serves now
    world.add(ScheduledWorld(world))
    world.add(RefreshWorld(world))
    world.add(ImagesWorld(world))
    world.add(SsmWorld(world))
    world.add(WindowsWorld(world))  # maintenance windows start Step Functions executions
    world.add(ExecutionsWorld(world))  # after whatever starts executions (SSM windows): they run at once
