"""The state machine the window starts: Start → Tick → Done? → Wait → Tick …, every failure ends in a
restore of what the run holds.

Why this shape: one Lambda invocation lasts 15 minutes at most and an image alone can take longer, so
each invocation is one tick of the run (its state in S3) and Step Functions does the waiting. A tick is
safe to repeat (one tick holds the run at a time; a crashed tick is resumed by the next), so every
error of the Tick is retried first; only when retries are spent does the Catch restore the groups the
run holds and fail the execution (which the stack's EventBridge rule reports). Pure data: the Lambda's
ARN is the `${Function.Arn}` the template substitutes (the string form of Fn::Sub: its list form is where
moto's CloudFormation turns the context object's `$$` into `$`).
"""

from __future__ import annotations

from typing import Any

FUNCTION = "${Function.Arn}"
RUN_FAILED = "asgpatch.RunFailed"
# Standard executions stop at 25,000 history events; a round (Tick, Done?, Wait) writes 9. A 24-hour
# window at the stack's smallest PollSeconds (30) is 2,880 rounds, about 26,000 events: too close, so the
# stack's PollSeconds starts at 60 (1,440 rounds, about 13,000 events). The execution's own limit covers
# the longest window (24 h) and the restores after it.
TIMEOUT_SECONDS = 27 * 3600
LAMBDA_TRANSIENT = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def _invoke(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": FUNCTION, "Payload": {"action": action, **payload}},
    }


def definition() -> dict[str, Any]:
    tick = _invoke("tick", {"run.$": "$.run", "window.$": "$.window"})
    tick.update({
        "ResultSelector": {
            "done.$": "$.Payload.done",
            "wait_seconds.$": "$.Payload.wait_seconds",
            "run_id.$": "$.Payload.run_id",
            "report.$": "$.Payload.report",
            "counts.$": "$.Payload.counts",
        },
        "ResultPath": "$.tick",
        "Retry": [
            {"ErrorEquals": LAMBDA_TRANSIENT, "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2},
            # a tick killed mid-way (timeout, crash) holds the run until its hold expires: wait it out
            {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 60, "MaxAttempts": 3, "BackoffRate": 2},
        ],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Restore"}],
        "Next": "Done?",
    })  # fmt: skip
    restore = _invoke("restore", {"run.$": "$.run", "window.$": "$.window", "error.$": "$.error"})
    restore.update({
        "ResultPath": "$.restored",
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 60, "MaxAttempts": 3, "BackoffRate": 2}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.restore_error", "Next": "Failed"}],
        "Next": "Failed",
    })  # fmt: skip
    return {
        "Comment": "asgpatch: one tick of the patch run per invocation until it is done; failures restore",
        "StartAt": "Start",
        "TimeoutSeconds": TIMEOUT_SECONDS,
        "States": {
            "Start": {
                "Type": "Pass",
                "Comment": "The window's input, and the execution's name and start: the run's identity and clock",
                "Parameters": {
                    "window.$": "$",
                    "run": {"execution.$": "$$.Execution.Name", "started.$": "$$.Execution.StartTime"},
                },
                "Next": "Tick",
            },
            "Tick": tick,
            "Done?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.tick.done", "BooleanEquals": True, "Next": "Report"}],
                "Default": "Wait",
            },
            "Wait": {"Type": "Wait", "SecondsPath": "$.tick.wait_seconds", "Next": "Tick"},
            "Report": {
                "Type": "Pass",
                "Comment": "The execution's output: the run, where its report is, and its groups by status",
                "Parameters": {"run_id.$": "$.tick.run_id", "report.$": "$.tick.report", "counts.$": "$.tick.counts"},
                "End": True,
            },
            "Restore": restore,
            "Failed": {
                "Type": "Fail",
                "Error": RUN_FAILED,
                "Cause": "a tick failed after its retries; the groups the run held were restored (see SNS)",
            },
        },
    }
