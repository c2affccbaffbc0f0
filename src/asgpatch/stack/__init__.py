"""The deployed form: the CloudFormation stack that runs asgpatch by itself every month.

An SSM Maintenance Window starts a Step Functions execution, whose state machine calls the engine's
tick in Lambda (asgpatch.lambda_handler) and waits between ticks. template.py builds the template,
state_machine.py the execution's definition; neither calls AWS.
"""
