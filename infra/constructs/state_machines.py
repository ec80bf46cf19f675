"""A state machine from an ASL file, with the defaults every pipeline shares.

Encrypted execution log group (ALL events, with data), X-Ray tracing, and ``lambda:InvokeFunction`` on
exactly the functions the definition names. The machine's timeout is the ASL file's own ``TimeoutSeconds``
(CDK's ``timeout`` applies to chained definitions only); ``map_rounds`` declares, in the template's metadata
of the machine, how many rounds each Map whose items the definition cannot bound runs at most: what
``infra/asl_timeouts.py`` (and the test over every state machine) checks the timeout against.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.asl import render_asl
from infra.config import StageConfig
from infra.constructs.function_factory import log_retention
from infra.nag import acknowledge

# Template metadata key of a state machine: {Map state name: the most rounds it runs}.
MAP_ROUNDS_METADATA = "mlops:MapRounds"

_RESOURCE_STAR = (
    "X-Ray tracing and CloudWatch Logs delivery for Step Functions require Resource '*' "
    "(xray:PutTraceSegments and logs:*LogDelivery do not support resource-level permissions)"
)


def asl_state_machine(
    scope: Construct,
    *,
    config: StageConfig,
    key: kms.IKey | None,
    asl: str,
    values: Mapping[str, int | str],
    functions: Mapping[str, lambda_.IFunction],
    other_substitutions: Mapping[str, str] | None = None,
    name: str | None = None,
    resource_star_also: str = "",
    map_rounds: Mapping[str, int] | None = None,
) -> sfn.StateMachine:
    """``stepfunctions/<asl>.asl.json`` rendered with ``values``; ARN placeholders substituted at deploy.

    ``functions`` maps placeholders to the functions the definition invokes (each gets an exact
    invoke grant); ``other_substitutions`` are further ARNs the caller grants itself.
    ``resource_star_also`` extends the reason of the one Resource '*' acknowledgement.
    """
    others = dict(other_substitutions or {})
    definition = render_asl(asl, values=values, deferred=[*functions.keys(), *others.keys()])
    log_group = logs.LogGroup(
        scope,
        "ExecutionLogs",
        retention=log_retention(config.log_retention_days),
        removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        encryption_key=key,
    )
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        state_machine_name=name,
        definition_body=sfn.DefinitionBody.from_string(definition),
        definition_substitutions={**{p: fn.function_arn for p, fn in functions.items()}, **others},
        tracing_enabled=True,
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
    )
    if map_rounds:
        resource = machine.node.default_child
        assert isinstance(resource, sfn.CfnStateMachine)
        resource.add_metadata(MAP_ROUNDS_METADATA, dict(map_rounds))
    for fn in functions.values():
        # Exact function ARNs only: the ASL invokes the unqualified function.
        machine.add_to_role_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[fn.function_arn]))
    acknowledge(machine.role, "AwsSolutions-IAM5[Resource::*]", f"{_RESOURCE_STAR}{resource_star_also}.")
    return machine


def allow_distributed_map(machine: sfn.StateMachine, name: str) -> None:
    """A Distributed Map runs its items as child executions of the machine ``name`` itself.

    The machine must have a fixed name: a grant on its own ARN token would be a circular dependency.
    """
    stack = Stack.of(machine)
    machine_arn = stack.format_arn(
        service="states", resource="stateMachine", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    machine.add_to_role_policy(iam.PolicyStatement(actions=["states:StartExecution"], resources=[machine_arn]))
    executions = stack.format_arn(
        service="states", resource="execution", resource_name=f"{name}/*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    machine.add_to_role_policy(
        iam.PolicyStatement(actions=["states:DescribeExecution", "states:StopExecution"], resources=[executions])
    )
    acknowledge(
        machine.role,
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{name}/*]",
        "Distributed Map child execution ids are generated at run time; the grant is limited to this machine's.",
    )
