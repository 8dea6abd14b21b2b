#!/usr/bin/env python3
"""The check AWS would make and the emulator does not: may the deploy role make every call Terraform made?

    python -m tools.rehearsal.permissions <bootstrap cdk.tf.json> <provider log> [...]    # exit 1 on any denial

The provider's debug log (TF_LOG_PROVIDER=DEBUG) names every AWS request: service, operation, region,
and its body. Each call becomes the IAM actions AWS authorizes for it:
- the action of the operation itself (`S3 HeadBucket` is `s3:ListBucket`; an API Gateway call is
  `apigateway:<HTTP method>`), checked against the Service Authorization Reference (policy_sentry's
  offline copy) so a wrong mapping fails instead of passing;
- the reference's dependent actions for it, plus what services document they require of the caller
  beyond that (`REQUIRED_ALONGSIDE`, each with its source);
- `iam:PassRole` for every role a call hands to a service (`iam:PassedToService`), and
  `iam:CreateServiceLinkedRole` for the service-linked roles AWS creates on first use in a fresh account.
Each is evaluated (tools/rehearsal/iam_evaluator.py) against the deploy role's policies as synthesized, with the context
AWS would give it (`aws:RequestedRegion`, `iam:PermissionsBoundary`, `iam:PolicyARN`, ...).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ENTRY = re.compile(r"\n(?=\d{4}-\d\d-\d\dT[\d:.]+Z \[)")
FIELD = re.compile(r'(?:^|\s)([\w.@]+)=("(?:[^"\\]|\\.)*"|\S*)')
# SDK service id (the log's rpc.service) -> IAM action prefix.
PREFIX = {
    "ACM": "acm",
    "API Gateway": "apigateway",
    "Application Auto Scaling": "application-autoscaling",
    "Backup": "backup",
    "Budgets": "budgets",
    "CloudFront": "cloudfront",
    "CloudWatch": "cloudwatch",
    "CloudWatch Logs": "logs",
    "Cost Explorer": "ce",
    "DynamoDB": "dynamodb",
    "EC2": "ec2",
    "ECR": "ecr",
    "ECS": "ecs",
    "Elastic Load Balancing v2": "elasticloadbalancing",
    "EventBridge": "events",
    "IAM": "iam",
    "KMS": "kms",
    "RDS": "rds",
    "Route 53": "route53",
    "S3": "s3",
    "Secrets Manager": "secretsmanager",
    "ServiceDiscovery": "servicediscovery",
    "SNS": "sns",
    "SQS": "sqs",
    "STS": "sts",
    "WAFV2": "wafv2",
    "XRay": "xray",
}
# Global services: AWS authorizes their calls in us-east-1 whatever endpoint region the SDK names.
GLOBAL = {"iam", "cloudfront", "route53", "budgets", "ce"}
# Operations whose IAM action has another name (Service Authorization Reference).
RENAMED = {
    "s3": {
        "HeadBucket": "ListBucket",
        "ListObjectsV2": "ListBucket",
        "ListObjects": "ListBucket",
        "ListObjectVersions": "ListBucketVersions",
        "HeadObject": "GetObject",
        "DeleteObjects": "DeleteObject",
        "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
        "PutBucketAccelerateConfiguration": "PutAccelerateConfiguration",
        "GetBucketCors": "GetBucketCORS",
        "PutBucketCors": "PutBucketCORS",
        "DeleteBucketCors": "PutBucketCORS",
        "GetBucketEncryption": "GetEncryptionConfiguration",
        "PutBucketEncryption": "PutEncryptionConfiguration",
        "DeleteBucketEncryption": "PutEncryptionConfiguration",
        "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
        "DeleteBucketLifecycle": "PutLifecycleConfiguration",
        "GetBucketNotificationConfiguration": "GetBucketNotification",
        "PutBucketNotificationConfiguration": "PutBucketNotification",
        "GetBucketReplication": "GetReplicationConfiguration",
        "PutBucketReplication": "PutReplicationConfiguration",
        "DeleteBucketReplication": "PutReplicationConfiguration",
        "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
        "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
        "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
        "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
        "DeleteBucketTagging": "PutBucketTagging",
    },
    "budgets": {
        "CreateBudget": "ModifyBudget",
        "UpdateBudget": "ModifyBudget",
        "DeleteBudget": "ModifyBudget",
        "CreateNotification": "ModifyBudget",
        "CreateSubscriber": "ModifyBudget",
        "DeleteNotification": "ModifyBudget",
        "DeleteSubscriber": "ModifyBudget",
        "UpdateNotification": "ModifyBudget",
        "UpdateSubscriber": "ModifyBudget",
        "DescribeBudget": "ViewBudget",
        "DescribeBudgets": "ViewBudget",
        "DescribeNotificationsForBudget": "ViewBudget",
        "DescribeSubscribersForNotification": "ViewBudget",
    },
    "cloudfront": {"CreateDistributionWithTags": "CreateDistribution"},
}
# What services document they require of the caller beyond the operation's own action.
REQUIRED_ALONGSIDE = {
    # Cloud Map developer guide, "AWS Cloud Map API permissions reference".
    "servicediscovery:CreatePrivateDnsNamespace": (
        "route53:CreateHostedZone",
        "route53:GetHostedZone",
        "route53:ListHostedZonesByName",
        "ec2:DescribeVpcs",
        "ec2:DescribeRegions",
    ),
    # AWS Backup developer guide, "Creating a backup vault": vault storage and its key.
    "backup:CreateBackupVault": (
        "backup-storage:MountCapsule",
        "kms:CreateGrant",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "kms:RetireGrant",
        "kms:DescribeKey",
    ),
    # AWS WAF developer guide, "Logging web ACL traffic": CloudWatch Logs destinations.
    "wafv2:PutLoggingConfiguration": (
        "logs:CreateLogDelivery",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    ),
    # CloudFront developer guide, "Standard logging": the caller must be able to set the log bucket's ACL.
    "cloudfront:CreateDistribution": ("s3:GetBucketAcl", "s3:PutBucketAcl"),
    "cloudfront:UpdateDistribution": ("s3:GetBucketAcl", "s3:PutBucketAcl"),
    # IAM user guide, "Permissions required to tag IAM entities": creating a role with tags.
    "iam:CreateRole": ("iam:TagRole",),
    # API Gateway developer guide, "Grant permissions for API Gateway to create a VPC link": the caller of
    # CreateVpcLink / DeleteVpcLink also manages the NLB's VPC endpoint service (keyed by operation: every API
    # Gateway write is apigateway:POST or DELETE).
    "apigateway:CreateVpcLink": (
        "elasticloadbalancing:DescribeLoadBalancers",
        "ec2:CreateVpcEndpointServiceConfiguration",
        "ec2:DeleteVpcEndpointServiceConfigurations",
        "ec2:DescribeVpcEndpointServiceConfigurations",
        "ec2:ModifyVpcEndpointServicePermissions",
    ),
    "apigateway:DeleteVpcLink": (
        "elasticloadbalancing:DescribeLoadBalancers",
        "ec2:DeleteVpcEndpointServiceConfigurations",
        "ec2:DescribeVpcEndpointServiceConfigurations",
    ),
    # RDS user guide, "AWS KMS key management": encrypting with a customer managed key.
    "rds:CreateDBInstance": ("kms:CreateGrant", "kms:DescribeKey"),
    "rds:CreateDBInstanceReadReplica": ("kms:CreateGrant", "kms:DescribeKey"),
}
# Calls that hand a role to a service: (action) -> the service it is passed to.
PASSES_ROLE = {
    "ecs:RegisterTaskDefinition": "ecs-tasks.amazonaws.com",
    "rds:CreateDBInstance": "monitoring.rds.amazonaws.com",
    "rds:ModifyDBInstance": "monitoring.rds.amazonaws.com",
    "rds:CreateDBInstanceReadReplica": "monitoring.rds.amazonaws.com",
    "rds:CreateDBProxy": "rds.amazonaws.com",
    "rds:ModifyDBProxy": "rds.amazonaws.com",
    "ec2:CreateFlowLogs": "vpc-flow-logs.amazonaws.com",
    "s3:PutReplicationConfiguration": "s3.amazonaws.com",
    "backup:CreateBackupSelection": "backup.amazonaws.com",
    "apigateway:PATCH": "apigateway.amazonaws.com",
}
# Service-linked roles AWS creates on the caller's behalf the first time an account uses the service.
CREATES_SERVICE_LINKED_ROLE = {
    "ecs:CreateCluster": "ecs.amazonaws.com",
    "elasticloadbalancing:CreateLoadBalancer": "elasticloadbalancing.amazonaws.com",
    "rds:CreateDBInstance": "rds.amazonaws.com",
    "application-autoscaling:RegisterScalableTarget": "ecs.application-autoscaling.amazonaws.com",
    # API Gateway's (X-Ray, CloudWatch): created with the first REST API.
    "apigateway:CreateRestApi": "ops.apigateway.amazonaws.com",
}
# Calls that need no permission or whose refusal the provider expects.
NOT_AUTHORIZED = {
    "sts:GetCallerIdentity": "AWS: no permissions are required to call GetCallerIdentity",
    "iam:GetUser": "the provider's account-id lookup when configuring: a role is refused and the "
    "provider falls back to sts:GetCallerIdentity",
}
ROLE_ARN = re.compile(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+")
HANDLED_BELOW = {"iam:PassRole", "iam:CreateServiceLinkedRole"}
BOUNDED = {
    "iam:AttachRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:DeleteRolePermissionsBoundary",
}


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    region: str
    method: str = ""
    url: str = ""
    body: str = ""
    rpc: str = ""

    @property
    def params(self) -> dict[str, str]:
        if "=" in self.body and not self.body.lstrip().startswith(("{", "<")):
            return dict(urllib.parse.parse_qsl(self.body))
        return {}


@dataclass(frozen=True)
class Required:
    action: str
    resource: str
    region: str
    context: tuple[tuple[str, str], ...]
    because: str  # the call that needs it


@dataclass
class Report:
    calls: int = 0
    actions: set[str] = field(default_factory=set)
    denied: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def read_calls(log: Path) -> list[Call]:
    """Every request the provider sent, in order, from its debug log."""
    calls = []
    for entry in ENTRY.split(log.read_text(errors="replace")):
        if "HTTP Request Sent" not in entry:
            continue
        body_lines = [line.split("| ", 1)[1] for line in entry.splitlines() if line.startswith("  | ")]
        flat = " ".join(line for line in entry.splitlines() if not line.startswith("  | "))
        fields = {key: value.strip('"') for key, value in FIELD.findall(flat)}
        if "rpc.service" in fields and "rpc.method" in fields:
            calls.append(
                Call(
                    fields["rpc.service"],
                    fields["rpc.method"],
                    fields.get("aws.region", ""),
                    fields.get("http.method", ""),
                    fields.get("http.url", ""),
                    "\n".join(body_lines),
                    fields.get("tf_rpc", ""),
                )
            )
    return calls


@functools.cache
def _reference(action: str) -> tuple[bool, tuple[str, ...]]:
    """(exists in the Service Authorization Reference, its dependent actions)."""
    from policy_sentry.querying.actions import get_action_data

    prefix, name = action.split(":")
    rows = (get_action_data(prefix, name) or {}).get(prefix) or []
    rows = [row for row in rows if row["action"].lower() == action.lower()]
    return bool(rows), tuple(sorted({dep for row in rows for dep in row.get("dependent_actions") or []}))


def dependent_actions(action: str, body: str) -> set[str]:
    """The reference's dependent actions of `action` that this call needs. Where they are a menu over
    several other services (wafv2:AssociateWebACL lists the action of every service a web ACL can protect),
    only those of services the call names an ARN of apply; the reference lists them per action, not per
    resource type."""
    prefix = action.split(":")[0]
    dependents = set(_reference(action)[1]) - HANDLED_BELOW
    others = {dep.split(":")[0] for dep in dependents} - {prefix}
    if len(others) <= 1:
        return dependents
    named = set(re.findall(r"arn:aws:([a-z0-9-]+):", urllib.parse.unquote(body)))
    return {dep for dep in dependents if dep.split(":")[0] in named | {prefix}}


def action_of(call: Call) -> str:
    prefix = PREFIX.get(call.service)
    if prefix is None:
        raise KeyError(f"no IAM prefix known for service {call.service!r} (add it to PREFIX)")
    if prefix == "apigateway":
        return f"apigateway:{call.method}"
    return f"{prefix}:{RENAMED.get(prefix, {}).get(call.operation, call.operation)}"


class Account:
    """What the calls of one environment account need, with the state they build up (role boundaries)."""

    def __init__(self, account_id: str, principal_arn: str) -> None:
        self.account_id, self.principal_arn = account_id, principal_arn
        self.boundaries: dict[str, str] = {}

    def role_arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{name}"

    def requirements(self, call: Call) -> list[Required]:
        action = action_of(call)
        prefix = action.split(":")[0]
        region = "us-east-1" if prefix in GLOBAL else call.region
        resource, context = self._resource_and_context(action, call.params)
        because = f"{call.service} {call.operation} in {call.region}"
        needed = [Required(action, resource, region, tuple(sorted(context.items())), because)]
        # PassRole and service-linked roles are added below with the role and service they concern.
        needed += self._alongside(action, call, resource, context, because)
        needed += self._passed_roles(action, call, context, because)
        needed += self._service_linked_role(action, call, context, because)
        return needed

    def _resource_and_context(self, action: str, params: dict) -> tuple[str, dict[str, str]]:
        """The resource the call acts on and its condition keys; keeps the boundary each role is given."""
        context = {"aws:ResourceAccount": self.account_id, "aws:PrincipalArn": self.principal_arn}
        resource = "*"
        if action.split(":")[0] == "iam" and "RoleName" in params:
            resource = self.role_arn(params["RoleName"])
            if action == "iam:CreateRole" and params.get("PermissionsBoundary"):
                self.boundaries[resource] = params["PermissionsBoundary"]
            if action == "iam:PutRolePermissionsBoundary":
                self.boundaries[resource] = params.get("PermissionsBoundary", "")
            boundary = (
                params.get("PermissionsBoundary") if action == "iam:CreateRole" else self.boundaries.get(resource)
            )
            if boundary and (action == "iam:CreateRole" or action in BOUNDED):
                context["iam:PermissionsBoundary"] = boundary
            if "PolicyArn" in params:
                context["iam:PolicyARN"] = params["PolicyArn"]
        if action == "sts:AssumeRole" and "RoleArn" in params:
            resource = params["RoleArn"]
        return resource, context

    @staticmethod
    def _alongside(action: str, call: Call, resource: str, context: dict, because: str) -> list[Required]:
        """The reference's dependent actions and what services document they require beyond the call's own action."""
        prefix = action.split(":")[0]
        alongside = (
            dependent_actions(action, call.body)
            | set(REQUIRED_ALONGSIDE.get(action, ()))
            | set(REQUIRED_ALONGSIDE.get(f"{prefix}:{call.operation}", ()))
        ) - HANDLED_BELOW
        needed = []
        for other in sorted(alongside):
            other_prefix = other.split(":")[0]
            # On the call's own resource when it is the same service's; otherwise not known from the call.
            needed.append(
                Required(
                    other,
                    resource if other_prefix == prefix else "*",
                    "us-east-1" if other_prefix in GLOBAL else call.region,
                    tuple(sorted(context.items())),
                    because + " (alongside)",
                )
            )
        return needed

    @staticmethod
    def _passed_roles(action: str, call: Call, context: dict, because: str) -> list[Required]:
        """iam:PassRole on each role the call's body names, when the action passes a role to a service."""
        if action not in PASSES_ROLE:
            return []
        pass_context = dict(context, **{"iam:PassedToService": PASSES_ROLE[action]})
        return [
            Required(
                "iam:PassRole", role, "us-east-1", tuple(sorted(pass_context.items())), because + " (passes a role)"
            )
            for role in sorted(set(ROLE_ARN.findall(urllib.parse.unquote(call.body))))
        ]

    def _service_linked_role(self, action: str, call: Call, context: dict, because: str) -> list[Required]:
        """iam:CreateServiceLinkedRole for the role AWS creates the first time an account uses the service."""
        prefix = action.split(":")[0]
        first_use = next(
            (
                CREATES_SERVICE_LINKED_ROLE[key]
                for key in (action, f"{prefix}:{call.operation}")
                if key in CREATES_SERVICE_LINKED_ROLE
            ),
            None,
        )
        if not first_use:
            return []
        slr_context = dict(context, **{"iam:AWSServiceName": first_use})
        return [
            Required(
                "iam:CreateServiceLinkedRole",
                self.role_arn(f"aws-service-role/{first_use}/*"),
                "us-east-1",
                tuple(sorted(slr_context.items())),
                because + " (first use)",
            )
        ]


def deploy_role_documents(bootstrap: dict) -> list[dict]:
    """The deploy role's inline policies, parsed, from the account bootstrap's synthesized JSON."""
    policies = bootstrap["resource"]["aws_iam_role_policy"]
    return [
        json.loads(body["policy"]) for name, body in sorted(policies.items()) if name.startswith("identity_deploy-")
    ]


def check(calls: list[Call], account: Account, documents: list[dict], evaluate) -> Report:
    """`evaluate(required, documents) -> (allowed, reason)`: the policy model's evaluator."""
    report = Report(calls=len(calls))
    for call in calls:
        try:
            needed = account.requirements(call)
        except KeyError as error:
            report.unknown.append(str(error))
            continue
        for required in needed:
            if required.action in NOT_AUTHORIZED:
                continue
            if not _reference(required.action)[0]:
                report.unknown.append(
                    f"{required.action} (for {required.because}): not an IAM action in the "
                    "Service Authorization Reference; map the operation in RENAMED"
                )
                continue
            report.actions.add(required.action)
            allowed, reason = evaluate(required, documents)
            if not allowed:
                report.denied.append(
                    f"{required.because}: {required.action} on {required.resource} in {required.region}: {reason}"
                )
    report.denied = sorted(set(report.denied))
    report.unknown = sorted(set(report.unknown))
    return report


def model_evaluator(required: Required, documents: list[dict]) -> tuple[bool, str]:
    from tools.rehearsal.iam_evaluator import Request, evaluate

    decision = evaluate(
        Request(
            action=required.action, resource=required.resource, region=required.region, context=dict(required.context)
        ),
        identity=documents,
    )
    return decision.allowed, decision.reason


def check_stack(bootstrap_json: Path, logs: list[Path]) -> Report:
    """The calls in `logs`, checked against the deploy role the account bootstrap (`bootstrap_json`) creates."""
    bootstrap = json.loads(bootstrap_json.read_text())
    [account_id] = {a for p in bootstrap["provider"]["aws"] for a in p["allowed_account_ids"]}
    [deploy_name] = [r["name"] for k, r in bootstrap["resource"]["aws_iam_role"].items() if "deploy-role" in k]
    account = Account(account_id, f"arn:aws:iam::{account_id}:role/{deploy_name}")
    calls = [call for log in logs for call in read_calls(log)]
    return check(calls, account, deploy_role_documents(bootstrap), model_evaluator)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bootstrap", type=Path, help="cdktf.out/stacks/bootstrap-<env>/cdk.tf.json")
    parser.add_argument("logs", type=Path, nargs="+", help="provider debug logs (TF_LOG_PROVIDER=DEBUG)")
    args = parser.parse_args(argv)
    report = check_stack(args.bootstrap, args.logs)
    print(summary(report))
    return 1 if report.denied or report.unknown else 0


def summary(report: Report) -> str:
    lines = [f"{report.calls} calls, {len(report.actions)} distinct API actions recorded, {len(report.denied)} denied"]
    lines += [f"  DENIED {line}" for line in report.denied]
    lines += [f"  UNKNOWN {line}" for line in report.unknown]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
