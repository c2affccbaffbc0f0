"""Everything the sandbox changes in moto, in one list: what it changes, and what AWS does there.

Read top to bottom, this is the sandbox's difference from moto 5.2.5 (the version pinned in
sandbox/pyproject.toml). Each entry replaces one attribute of one moto class; `adds=True` marks an
operation moto does not have at all. Replacements that add to moto's behaviour call moto's own
version through `override.original`. A test checks every entry against moto, so a moto upgrade that
renames or adds what the sandbox changes fails loudly instead of quietly running moto's code.
"""

from __future__ import annotations

from moto.autoscaling import models as asg_models
from moto.autoscaling.responses import AutoScalingResponse
from moto.awslambda.models import LambdaBackend
from moto.awslambda.responses import LambdaResponse
from moto.cloudformation import models as cfn_models
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.responses import CloudFormationResponse
from moto.ec2.models import EC2Backend
from moto.ec2.models import amis as ami_models
from moto.ec2.models import elastic_block_store as ebs_models
from moto.ec2.models import instances as instance_models
from moto.ec2.models import launch_templates as lt_models
from moto.ec2.responses.amis import AmisResponse
from moto.ec2.responses.launch_templates import LaunchTemplates
from moto.events.models import Rule as EventRule
from moto.events.responses import EventsHandler
from moto.s3.models import FakeBucket as S3Bucket
from moto.ssm.responses import SimpleSystemManagerResponse
from moto.stepfunctions.models import StepFunctionBackend
from moto.stepfunctions.responses import StepFunctionResponse

from asgpatch_sandbox.override import Change, apply
from asgpatch_sandbox.services import (
    autoscaling_activities,
    autoscaling_groups,
    autoscaling_health,
    autoscaling_instance_refresh,
    autoscaling_lifecycle_hooks,
    autoscaling_load_balancers,
    autoscaling_scheduled_actions,
    autoscaling_warm_pools,
    cloudformation_change_sets,
    cloudformation_resources,
    cloudformation_stacks,
    ec2_disks,
    ec2_image_lookup,
    ec2_image_registration,
    ec2_images,
    ec2_launch_templates,
    events_delivery,
    lambda_functions,
    s3_bucket_policies,
    ssm_command_api,
    ssm_nodes,
    ssm_patch_compliance,
    ssm_window_api,
    stepfunctions_api,
    stepfunctions_definitions,
    stepfunctions_executions,
)

Group, GroupInstance, AsgBackend = (
    asg_models.FakeAutoScalingGroup,
    asg_models.InstanceState,
    asg_models.AutoScalingBackend,
)
Ami, Snapshot, Instance = ami_models.Ami, ebs_models.Snapshot, instance_models.Instance
Template = lt_models.LaunchTemplate
AsgApi, ImageApi, TemplateApi, SsmApi = AutoScalingResponse, AmisResponse, LaunchTemplates, SimpleSystemManagerResponse

CHANGES: tuple[Change, ...] = (
    # --- Auto Scaling: groups and launches (services/autoscaling_groups.py) ---------------------------
    Change(Group, "replace_autoscaling_group_instances", autoscaling_groups.launch_instances,
           "instances launch Pending and go InService after the launch delay, from the template version the "
           "group really uses ($Default, $Latest, a number, its MixedInstancesPolicy); sandbox:launch=fail fails "
           "them; a suspended Launch launches nothing"),
    Change(Group, "active_instances", autoscaling_groups.active_instances,
           "Pending instances count toward desired capacity (moto counted only InService ones)"),
    Change(Group, "set_desired_capacity", autoscaling_groups.set_desired_capacity,
           "scale-in honours a suspended Terminate and scale-in protection, takes instances not on the current "
           "version first, and records its activities"),
    Change(GroupInstance, "launch_template", property(autoscaling_groups.instance_launch_template),
           "an instance reports the template version it was launched from (moto: the group's current one)"),
    Change(AsgBackend, "update_auto_scaling_group", autoscaling_groups.update_auto_scaling_group,
           "min <= desired <= max with AWS's messages; an update that does not name MixedInstancesPolicy keeps "
           "it, one that does merges it"),
    Change(AsgBackend, "create_auto_scaling_group", autoscaling_groups.create_auto_scaling_group,
           "the bounds are checked and a name in use is refused with AlreadyExists, as on AWS"),
    Change(AsgBackend, "terminate_instance", autoscaling_warm_pools.terminate_instance,
           "an instance no group has is a ValidationError (moto failed with a 500); a warm-pool instance is "
           "terminated and the pool replaces it"),
    Change(AsgApi, "set_desired_capacity", autoscaling_groups.respond_set_desired_capacity,
           "a desired capacity outside min..max is refused with AWS's message (moto accepted it)"),
    # --- Auto Scaling: launch lifecycle hooks (services/autoscaling_lifecycle_hooks.py) ---------------
    Change(AsgBackend, "create_lifecycle_hook", autoscaling_lifecycle_hooks.create_lifecycle_hook,
           "the group, transition, heartbeat timeout (30-7200 s) and default result are checked as AWS does"),
    Change(AsgApi, "complete_lifecycle_action", autoscaling_lifecycle_hooks.complete_lifecycle_action,
           "a launch held in Pending:Wait by the group's launch hooks goes on (CONTINUE) or fails (ABANDON)",
           adds=True),
    Change(AsgApi, "record_lifecycle_action_heartbeat", autoscaling_lifecycle_hooks.record_lifecycle_action_heartbeat,
           "restarts a lifecycle action's heartbeat timeout (moto applied no hooks at all)", adds=True),
    # --- Auto Scaling: warm pools (services/autoscaling_warm_pools.py) --------------------------------
    Change(AsgBackend, "put_warm_pool", autoscaling_warm_pools.put_warm_pool,
           "refused for a mixed instances policy; the pool is then filled and kept at its size (moto kept none)"),
    Change(AsgApi, "describe_warm_pool", autoscaling_warm_pools.describe_warm_pool,
           "lists the pool's instances, their lifecycle state and launch template version, paged"),
    Change(AsgApi, "delete_warm_pool", autoscaling_warm_pools.respond_delete_warm_pool,
           "the pool's instances are terminated with it"),
    # --- Auto Scaling: load balancers (services/autoscaling_load_balancers.py) ------------------------
    Change(AsgBackend, "update_attached_target_groups", autoscaling_load_balancers.update_attached_target_groups,
           "only InService, running instances launched while AddToLoadBalancer was active are registered (moto "
           "registered pending ones too, which elbv2 refuses), and those that leave service are deregistered"),
    Change(AsgBackend, "update_attached_elbs", autoscaling_load_balancers.update_attached_elbs,
           "the same for Classic Load Balancers"),
    # --- Auto Scaling: activities (services/autoscaling_activities.py) -------------------------------
    Change(AsgApi, "describe_scaling_activities", autoscaling_activities.respond_describe_scaling_activities,
           "each launch, failed launch, termination and scheduled action is recorded and paged, newest first "
           "(moto recorded none)"),
    # --- Auto Scaling: health checks (services/autoscaling_health.py) --------------------------------
    Change(AsgBackend, "notify_terminate_instances", autoscaling_health.notify_terminate_instances,
           "an instance terminated through EC2 is marked Unhealthy and replaced only while ReplaceUnhealthy "
           "runs (moto replaced it at once, whatever was suspended)"),
    Change(AsgBackend, "resume_processes", autoscaling_health.resume_processes,
           "resuming ReplaceUnhealthy replaces what became unhealthy meanwhile; resuming Launch launches up to "
           "desired capacity"),
    # --- Auto Scaling: scheduled actions (services/autoscaling_scheduled_actions.py) -----------------
    Change(AsgBackend, "put_scheduled_update_group_action",
           autoscaling_scheduled_actions.put_scheduled_update_group_action,
           "the group, sizes, recurrence, TimeZone, StartTime and EndTime are checked as AWS does, and the action "
           "fires on the sandbox clock (moto only stored it)"),
    Change(AsgBackend, "delete_scheduled_action", autoscaling_scheduled_actions.delete_scheduled_action,
           "an unknown action is a ValidationError, as on AWS"),
    Change(AsgBackend, "delete_auto_scaling_group", autoscaling_scheduled_actions.delete_auto_scaling_group,
           "a deleted group's scheduled actions go with it"),
    # --- Auto Scaling: instance refresh (services/autoscaling_instance_refresh.py) -------------------
    Change(AsgApi, "start_instance_refresh", autoscaling_instance_refresh.start_instance_refresh,
           "a refresh replaces instances in batches by MinHealthyPercentage, SkipMatching skips instances on the "
           "desired version", adds=True),
    Change(AsgApi, "describe_instance_refreshes", autoscaling_instance_refresh.describe_instance_refreshes,
           "refreshes report status, percentage and instances to update", adds=True),
    Change(AsgApi, "cancel_instance_refresh", autoscaling_instance_refresh.cancel_instance_refresh,
           "a refresh in progress can be cancelled; none in progress is ActiveInstanceRefreshNotFound", adds=True),
    # --- EC2: images (services/ec2_images.py, ec2_image_registration.py, ec2_image_lookup.py) ---------
    Change(ImageApi, "create_image", ec2_images.respond_create_image,
           "the instance must be running or stopped, the name valid and unused in the account; the image is "
           "pending until the image delay, with one new snapshot per instance volume and the instance's patch level"),
    Change(ImageApi, "register_image", ec2_image_registration.respond_register_image,
           "the root device, mappings, architecture, virtualization type, boot mode and ENA support are honoured"),
    Change(ImageApi, "deregister_image", ec2_images.respond_deregister_image,
           "DeleteAssociatedSnapshots deletes the image's snapshots that no other image uses"),
    Change(Ami, "block_device_mappings", property(ec2_images.block_device_mappings),
           "an image's mappings are its own disks (moto showed one unrelated 15 GiB snapshot)"),
    Change(Ami, "get_tags", ec2_image_lookup.own_tags,
           "reads the image's own tags (moto scanned every tag of the region per image)"),
    Change(ami_models.AmiBackend, "describe_images", ec2_image_lookup.describe_images,
           "ids are looked up directly and ImageIds combine with filters, owners and executable users"),
    # --- EC2: instance disks and snapshots (services/ec2_disks.py) -----------------------------------
    Change(Instance, "setup_defaults", ec2_disks.setup_defaults,
           "an instance gets its image's disks (moto gave every instance an extra 8 GiB /dev/sda1)"),
    Change(Instance, "add_block_device", ec2_disks.add_block_device,
           "a launch mapping for a device the image has replaces that disk, keeping what it leaves out"),
    Change(ebs_models.EBSBackend, "delete_snapshot", ec2_disks.delete_snapshot,
           "a snapshot an image uses cannot be deleted (InvalidSnapshot.InUse)"),
    Change(Snapshot, "get_tags", ec2_image_lookup.own_tags,
           "reads the snapshot's own tags (moto scanned every tag of the region per snapshot)"),
    Change(Snapshot, "progress", property(ec2_disks.snapshot_progress),
           "a snapshot is 0% until its image is done (moto: always 100%)"),
    # --- EC2: launch templates (services/ec2_launch_templates.py) ------------------------------------
    Change(Template, "__init__", ec2_launch_templates.template_init,
           "creation times come from the sandbox clock"),
    Change(Template, "create_version", ec2_launch_templates.create_version,
           "a new version is numbered after the highest number ever used (AWS never reuses one)"),
    Change(Template, "get_version", ec2_launch_templates.get_version,
           "versions are found by number, not list position, so they stay right after deletions"),
    Change(Template, "default_version", ec2_launch_templates.default_version,
           "$Default by number, after deletions too"),
    Change(Template, "latest_version", ec2_launch_templates.latest_version,
           "$Latest is the highest number, after deletions too"),
    Change(lt_models.LaunchTemplateBackend, "describe_launch_template_versions",
           ec2_launch_templates.describe_launch_template_versions,
           "MinVersion/MaxVersion select by number, and $Latest/$Default can be asked of every template at once"),
    Change(TemplateApi, "create_launch_template_version", ec2_launch_templates.respond_create_launch_template_version,
           "SourceVersion starts from every field of that version and replaces only the keys given (moto kept only "
           "what was given: a new ImageId lost user data, profile, disks, tags)"),
    Change(TemplateApi, "delete_launch_template_versions", ec2_launch_templates.respond_delete_launch_template_versions,
           "versions can be deleted, except the default one", adds=True),
    Change(TemplateApi, "describe_launch_template_versions",
           ec2_launch_templates.respond_describe_launch_template_versions,
           "pages with NextToken (moto silently stopped at 15 results)"),
    Change(TemplateApi, "describe_launch_templates", ec2_launch_templates.respond_describe_launch_templates,
           "pages with NextToken and reports Latest/DefaultVersionNumber by number"),
    # --- SSM: managed nodes (services/ssm_nodes.py) --------------------------------------------------
    Change(EC2Backend, "run_instances", ssm_nodes.run_instances,
           "remembers when each instance became running: its agent registers ssm_seconds later"),
    Change(Instance, "start", ssm_nodes.start_instance,
           "a started instance's agent registers again ssm_seconds after it runs"),
    Change(Instance, "stop", ssm_nodes.stop_instance,
           "a stopped instance's agent falls silent: it shows ConnectionLost with its last ping"),
    Change(SsmApi, "describe_instance_information", ssm_nodes.describe_instance_information,
           "lists the instances whose agent is registered (instance profile, ping status, filters, pages)",
           adds=True),
    # --- SSM: Run Command (services/ssm_command_api.py, ssm_run_command.py) --------------------------
    Change(SsmApi, "send_command", ssm_command_api.send_command,
           "checks the document, parameters, targets (Online nodes only) and limits; each invocation runs over "
           "patch_seconds within MaxConcurrency and MaxErrors (moto finished every command at once)"),
    Change(SsmApi, "list_commands", ssm_command_api.list_commands,
           "the status aggregates the invocations as Run Command does; filters and pages"),
    Change(SsmApi, "list_command_invocations", ssm_command_api.list_command_invocations,
           "one invocation per targeted node, with plugin details", adds=True),
    Change(SsmApi, "get_command_invocation", ssm_command_api.get_command_invocation,
           "Pending, InProgress, then the outcome, with output, times and the plugin that ran on Linux"),
    Change(SsmApi, "cancel_command", ssm_command_api.cancel_command,
           "pending and running invocations stop, Cancelled", adds=True),
    # --- SSM: Patch Manager (services/ssm_patch_compliance.py) ---------------------------------------
    Change(SsmApi, "describe_instance_patch_states", ssm_patch_compliance.describe_instance_patch_states,
           "nodes report the compliance of their last Scan or Install", adds=True),
    Change(SsmApi, "describe_instance_patches", ssm_patch_compliance.describe_instance_patches,
           "a node lists its patches: installed, pending reboot, failed, missing", adds=True),
    # --- Lambda: functions that run (services/lambda_functions.py, lambda_runtime.py) ----------------
    Change(LambdaBackend, "create_function", lambda_functions.create_function,
           "deprecated runtimes (python3.11 and older), reserved environment variables and code in an S3 bucket or "
           "key that does not exist are refused with AWS's InvalidParameterValueException messages, for "
           "CloudFormation's AWS::Lambda::Function too"),
    Change(LambdaBackend, "update_function_configuration", lambda_functions.update_function_configuration,
           "the same checks when the runtime or the environment variables change"),
    Change(LambdaResponse, "invoke", lambda_functions.respond_invoke,
           "the zip's handler runs in a fresh Python process per invocation, outside the world lock (moto without "
           "Docker echoed the payload); errors, timeouts and crashes answer as Lambda does; Event runs it in the "
           "background, DryRun only checks"),
    # --- Step Functions: executions that run (services/stepfunctions_*.py) ---------------------------
    Change(StepFunctionBackend, "create_state_machine", stepfunctions_definitions.create_state_machine,
           "a definition that is not JSON, names a missing state or has an unreachable one is InvalidDefinition, "
           "from CloudFormation too (moto stored any text)"),
    Change(StepFunctionBackend, "update_state_machine", stepfunctions_definitions.update_state_machine,
           "the same checks for a new definition"),
    Change(StepFunctionBackend, "start_execution", stepfunctions_executions.start_execution,
           "the execution runs its states on the sandbox clock — Task (Lambda), Choice, Wait, Pass, Succeed, Fail, "
           "Retry, Catch, timeouts — and puts its status changes to EventBridge (moto stored it RUNNING forever); "
           "the sandbox's own services start executions through it too"),
    Change(StepFunctionBackend, "stop_execution", stepfunctions_executions.stop_execution,
           "the running execution is ABORTED with the error and cause given, and says so to EventBridge"),
    Change(StepFunctionResponse, "describe_execution", stepfunctions_api.describe_execution,
           "status, stopDate (TIMED_OUT too), output, error and cause of the execution as it ran"),
    Change(StepFunctionResponse, "list_executions", stepfunctions_api.list_executions,
           "a TIMED_OUT execution has its stopDate (moto left it out); statusFilter and paging as moto"),
    Change(StepFunctionResponse, "get_execution_history", stepfunctions_api.get_execution_history,
           "the events the execution really went through, AWS's names, paged and reversible (moto made up four)"),
    Change(StepFunctionResponse, "stop_execution", stepfunctions_api.stop_execution,
           "StopExecution passes its error and cause on (moto dropped them)"),
    # --- EventBridge: delivery to SNS and Lambda (services/events_delivery.py) -----------------------
    Change(EventRule, "send_to_targets", events_delivery.send_to_targets,
           "a DISABLED rule delivers nothing; SNS topics and Lambda functions receive matching events, shaped by "
           "Input, InputPath or InputTransformer (moto failed PutEvents for an SNS target)"),
    Change(EventsHandler, "test_event_pattern", events_delivery.test_event_pattern,
           "answers whether the pattern matches the event, with the matcher rules use (moto answered nothing)"),
    # --- SSM: Maintenance Windows (services/ssm_window_api.py, ssm_maintenance_windows.py) -----------
    Change(SsmApi, "create_maintenance_window", ssm_window_api.create_maintenance_window,
           "Name, Duration, Cutoff (< Duration), Schedule, ScheduleTimezone and ScheduleOffset are checked as AWS "
           "does, AllowUnassociatedTargets is kept, and the window runs on the sandbox clock (moto never ran it)"),
    Change(SsmApi, "get_maintenance_window", ssm_window_api.get_maintenance_window,
           "every field: AllowUnassociatedTargets, Enabled, NextExecutionTime, CreatedDate, ModifiedDate"),
    Change(SsmApi, "update_maintenance_window", ssm_window_api.update_maintenance_window,
           "changes a window's schedule, duration, cutoff, dates or Enabled (with Replace too)", adds=True),
    Change(SsmApi, "describe_maintenance_windows", ssm_window_api.describe_maintenance_windows,
           "real Enabled and NextExecutionTime, Name and Enabled filters, MaxResults and NextToken"),
    Change(SsmApi, "register_task_with_maintenance_window", ssm_window_api.register_task_with_maintenance_window,
           "task type checked; a targetless task refuses MaxConcurrency and MaxErrors and reports 1 and 1, a task "
           "with targets needs both; Priority defaults to 1"),
    Change(SsmApi, "get_maintenance_window_task", ssm_window_api.get_maintenance_window_task,
           "the task with its invocation parameters, cutoff behaviour and TaskType", adds=True),
    Change(SsmApi, "describe_maintenance_window_tasks", ssm_window_api.describe_maintenance_window_tasks,
           "answers the task's type under `Type` as the API says (moto: `TaskType`), with filters and paging"),
    Change(SsmApi, "describe_maintenance_window_executions", ssm_window_api.describe_maintenance_window_executions,
           "the window's executions, newest first, with status, start and end (ExecutedBefore/After)", adds=True),
    Change(SsmApi, "get_maintenance_window_execution", ssm_window_api.get_maintenance_window_execution,
           "one window execution: status, task execution ids, start and end", adds=True),
    Change(SsmApi, "describe_maintenance_window_execution_tasks",
           ssm_window_api.describe_maintenance_window_execution_tasks,
           "the execution's task executions with their status and times", adds=True),
    Change(SsmApi, "get_maintenance_window_execution_task", ssm_window_api.get_maintenance_window_execution_task,
           "one task execution: its task's ARN, type, priority, role, status and times", adds=True),
    Change(SsmApi, "describe_maintenance_window_execution_task_invocations",
           ssm_window_api.describe_maintenance_window_execution_task_invocations,
           "a task execution's invocations; a Step Functions one names its execution ARN in ExecutionId", adds=True),
    Change(SsmApi, "get_maintenance_window_execution_task_invocation",
           ssm_window_api.get_maintenance_window_execution_task_invocation,
           "one invocation: its parameters, ExecutionId, status and times", adds=True),
    # --- CloudFormation: stacks and change sets (services/cloudformation_*.py) -----------------------
    Change(cfn_parsing.ResourceMap, "__getitem__", cloudformation_stacks.get_resource,
           "each resource created gets its CREATE_IN_PROGRESS / CREATE_COMPLETE events, a failing one CREATE_FAILED "
           "with the reason (moto recorded only the stack's events)"),
    Change(cfn_parsing.ResourceMap, "build_resource_diff", cloudformation_stacks.build_resource_diff,
           "a resource using a changed parameter through Fn::Sub is modified too (moto saw only Ref)"),
    Change(cfn_models.CloudFormationBackend, "create_stack", cloudformation_stacks.create_stack,
           "a resource that fails rolls the stack back to ROLLBACK_COMPLETE with the failure in its events (moto "
           "let the error escape CreateStack and left the stack half built)"),
    Change(cfn_models.Stack, "stack_resources", property(cloudformation_stacks.stack_resources),
           "DescribeStackResources lists the resources that exist (moto added an empty one for each resource whose "
           "Condition is false)"),
    Change(cfn_models.Stack, "update", cloudformation_stacks.update,
           "modified and removed resources get events; a failed update rolls back to UPDATE_ROLLBACK_COMPLETE"),
    Change(cfn_models.Stack, "delete", cloudformation_stacks.delete,
           "each resource deleted gets its DELETE_IN_PROGRESS / DELETE_COMPLETE events (DELETE_SKIPPED if retained)"),
    Change(CloudFormationResponse, "create_change_set", cloudformation_change_sets.create_change_set,
           "an identical resubmit gives a FAILED change set (\"The submitted information didn't contain changes...\") "
           "instead of moto's ValidationError, and a parameter-only change lists the resources it modifies"),
    Change(cfn_models.CloudFormationBackend, "execute_change_set", cloudformation_change_sets.execute_change_set,
           "only an AVAILABLE change set executes (InvalidChangeSetStatus otherwise); a CREATE one creates the stack "
           "as CreateStack does, with its Outputs (moto left it without any), an UPDATE one as UpdateStack does; "
           "once it succeeded every change set of the stack is removed, as AWS removes them"),
    Change(CloudFormationResponse, "list_change_sets", cloudformation_change_sets.list_change_sets,
           "ListChangeSets lists the named stack's change sets (moto listed every stack's)"),
    # --- S3: bucket policies (services/s3_bucket_policies.py) ----------------------------------------
    Change(S3Bucket, "get_permission", s3_bucket_policies.get_permission,
           "a bucket policy statement applies only when its conditions hold (moto ignored Bool and other operators "
           "and turned a failed condition into a Deny, so a TLS-only policy denied every request); the sandbox "
           "stands in for AWS's HTTPS endpoints: aws:SecureTransport is true"),
)  # fmt: skip


def apply_all() -> None:
    """Change moto as listed above (once per process; repeating it changes nothing)."""
    apply(CHANGES)
    cloudformation_resources.register()  # the CloudFormation resource types moto lacks (services/cloudformation_*.py)
