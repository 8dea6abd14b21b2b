"""The rehearsal's permission check (tools/rehearsal/permissions.py): calls read from the provider's log, turned into
what AWS authorizes, and evaluated against the deploy role's policies as synthesized."""

from __future__ import annotations

import copy
import json

import pytest

from tools.rehearsal.permissions import Account, Call, check, deploy_role_documents, model_evaluator, read_calls

ACCOUNT = "111111111111"
DEPLOY = f"arn:aws:iam::{ACCOUNT}:role/video-ingest-dev-deploy"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/video-ingest-dev-boundary"
LOG = """2026-11-29T00:54:06.442Z [DEBUG] provider.terraform-provider-aws_v5.100.0_x5: HTTP Request Sent: http.method=POST aws.region=eu-west-1 tf_resource_type=aws_iam_role tf_rpc=ApplyResourceChange
  http.request.body=
  | Action=CreateRole&AssumeRolePolicyDocument=%7B%7D&PermissionsBoundary=arn%3Aaws%3Aiam%3A%3A111111111111%3Apolicy%2Fvideo-ingest-dev-boundary&RoleName=video-ingest-dev-api-task&Tags.member.1.Key=Project&Version=2010-05-08
   net.peer.name=127.0.0.1 rpc.method=CreateRole rpc.service=IAM rpc.system=aws-api
2026-11-29T00:54:06.500Z [DEBUG] provider.terraform-provider-aws_v5.100.0_x5: HTTP Response Received: rpc.method=CreateRole rpc.service=IAM
2026-11-29T00:54:07.100Z [DEBUG] provider.terraform-provider-aws_v5.100.0_x5: HTTP Request Sent: rpc.service="Elastic Load Balancing v2" rpc.method=CreateLoadBalancer aws.region=eu-west-1 http.method=POST
"""


def run(stacks, *calls: Call, documents=None):
    documents = deploy_role_documents(stacks["bootstrap-dev"]) if documents is None else documents
    return check(list(calls), Account(ACCOUNT, DEPLOY), documents, model_evaluator)


def test_calls_are_read_from_the_provider_log_with_body_region_and_service(tmp_path):
    log = tmp_path / "provider.log"
    log.write_text(LOG)
    create_role, create_lb = read_calls(log)
    assert (create_role.service, create_role.operation, create_role.region) == ("IAM", "CreateRole", "eu-west-1")
    assert create_role.params["PermissionsBoundary"] == BOUNDARY
    assert (create_lb.service, create_lb.operation) == ("Elastic Load Balancing v2", "CreateLoadBalancer")


def test_the_recorded_calls_pass_and_a_role_without_the_boundary_is_denied(stacks, tmp_path):
    log = tmp_path / "provider.log"
    log.write_text(LOG)
    report = run(stacks, *read_calls(log))
    assert report.denied == [] and report.unknown == []
    # The load balancer's first use creates its service-linked role; the tagged role needs iam:TagRole too.
    assert {
        "iam:CreateRole",
        "iam:TagRole",
        "elasticloadbalancing:CreateLoadBalancer",
        "iam:CreateServiceLinkedRole",
    } <= report.actions
    unbounded = Call("IAM", "CreateRole", "eu-west-1", "POST", "", "Action=CreateRole&RoleName=video-ingest-dev-x")
    [denial] = run(stacks, unbounded).denied
    assert denial.startswith("IAM CreateRole in eu-west-1: iam:CreateRole on arn:aws:iam::111111111111:role/video-")


def test_a_role_passed_to_a_service_needs_pass_role_for_that_service(stacks):
    body = json.dumps(
        {"family": "video-ingest-dev-api", "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/video-ingest-dev-api-task"}
    )
    register = Call("ECS", "RegisterTaskDefinition", "eu-west-1", "POST", "", body)
    assert run(stacks, register).denied == []
    documents = deploy_role_documents(stacks["bootstrap-dev"])
    for document in documents:
        for statement in document["Statement"]:
            if statement["Sid"] == "PassRolesToPlatformServices":
                statement["Condition"]["StringEquals"]["iam:PassedToService"] = ["ec2.amazonaws.com"]
    [denial] = run(stacks, register, documents=documents).denied
    assert "iam:PassRole on arn:aws:iam::111111111111:role/video-ingest-dev-api-task" in denial


@pytest.mark.parametrize(
    "missing, call, needed",
    [
        # The findings, each caught by the check if the deploy role lacked it again:
        (
            "route53:*",
            Call("ServiceDiscovery", "CreatePrivateDnsNamespace", "eu-west-1", "POST"),
            "route53:CreateHostedZone",
        ),
        ("backup-storage:*", Call("Backup", "CreateBackupVault", "eu-west-1", "PUT"), "backup-storage:MountCapsule"),
        ("eu-central-1", Call("KMS", "CreateKey", "eu-central-1", "POST"), "kms:CreateKey"),
    ],
)
def test_what_the_first_deploy_review_found_missing_would_be_denied(stacks, missing, call, needed):
    assert run(stacks, call).denied == []
    documents = copy.deepcopy(deploy_role_documents(stacks["bootstrap-dev"]))
    for document in documents:
        for statement in document["Statement"]:
            if statement["Sid"] == "ManagePlatformServices":
                if missing in statement["Action"]:
                    statement["Action"].remove(missing)
                regions = statement["Condition"]["StringEquals"]["aws:RequestedRegion"]
                if missing in regions:
                    regions.remove(missing)
    denied = run(stacks, call, documents=documents).denied
    assert any(f": {needed} on " in line for line in denied), denied


def test_an_operation_without_a_known_iam_action_is_reported_not_passed(stacks):
    report = run(stacks, Call("S3", "GetBucketMadeUp", "eu-west-1", "GET"), Call("Unknown Service", "Do", "eu-west-1"))
    assert len(report.unknown) == 2 and report.denied == []
