"""Identities on real AWS: every role a provider or backend assumes exists before it is needed, each
cross-account assume is granted on both sides, and the deploy role can deploy its environment and no more."""
from __future__ import annotations

import json

import pytest

from tests.conftest import ENVIRONMENTS, resources

STATE_ACCOUNT = "000000000000"
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
REPOSITORY = "example-org/video-ingest-infra"


def created_roles(stacks) -> dict[str, str]:
    """ARN of every role some stack creates -> the stack that creates it."""
    created = {}
    for name, stack in stacks.items():
        [account] = {a for p in stack["provider"]["aws"] for a in p["allowed_account_ids"]}
        for role in resources(stack, "aws_iam_role").values():
            created[f"arn:aws:iam::{account}:role/{role['name']}"] = name
    return created


def role(stack: dict, id_: str) -> dict:
    """The role whose construct id is `id_` (a top-level id, or the last part of a nested one)."""
    [body] = [v for k, v in resources(stack, "aws_iam_role").items() if k == id_ or f"_{id_}_" in k]
    return body


def trust(body: dict) -> dict:
    [statement] = json.loads(body["assume_role_policy"])["Statement"]
    return statement


def test_every_assumed_role_is_created_by_a_stack_applied_before_it(stacks):
    created = created_roles(stacks)
    for env in ENVIRONMENTS:
        backend_role = stacks[env]["terraform"]["backend"]["s3"]["assume_role"]["role_arn"]
        assert created.get(backend_role) == "state-backend", (env, backend_role)
        for name, stack in stacks.items():
            for provider in stack["provider"]["aws"]:
                assert "assume_role" not in provider, name


def test_state_roles_trust_exactly_the_bootstrap_roles_of_the_environment_accounts(stacks):
    created = created_roles(stacks)
    state = stacks["state-backend"]
    for id_, purpose in (("state-role", "deploy"), ("state-read-role", "plan")):
        statement = trust(role(state, id_))
        expected = sorted(f"arn:aws:iam::{ACCOUNTS[env]}:role/video-ingest-{env}-{purpose}" for env in ENVIRONMENTS)
        assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": expected}}
        assert statement["Principal"] == {"AWS": sorted(f"arn:aws:iam::{a}:root" for a in ACCOUNTS.values())}
        # Each one exists before the first environment apply: the account bootstrap creates it.
        assert sorted(created[arn] for arn in expected) == sorted(f"bootstrap-{env}" for env in ENVIRONMENTS)


def test_state_read_role_cannot_write_state(stacks):
    state = stacks["state-backend"]
    [policy] = [v for k, v in resources(state, "aws_iam_role_policy").items() if k.startswith("state-read-role")]
    actions = {a for s in json.loads(policy["policy"])["Statement"] for a in s["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "dynamodb:DescribeTable", "dynamodb:GetItem", "kms:Decrypt"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_github_reaches_the_deploy_role_per_environment_and_the_plan_role_per_pull_request(stacks, env):
    bootstrap = stacks[f"bootstrap-{env}"]
    for id_, subject in (("deploy-role", f"repo:{REPOSITORY}:environment:{env}"),
                         ("plan-role", f"repo:{REPOSITORY}:pull_request")):
        statement = trust(role(bootstrap, id_))
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"]["Federated"] == \
            f"arn:aws:iam::{ACCOUNTS[env]}:oidc-provider/token.actions.githubusercontent.com"
        assert role(bootstrap, id_)["depends_on"] == [
            f"aws_iam_openid_connect_provider.{next(iter(resources(bootstrap, 'aws_iam_openid_connect_provider')))}"]
        assert statement["Condition"] == {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": subject}}
    [provider] = resources(bootstrap, "aws_iam_openid_connect_provider").values()
    assert provider["url"] == "https://token.actions.githubusercontent.com"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_session_outlasts_the_longest_apply(stacks, env):
    # Role chaining caps the backend's state-role session at one hour; the SDK renews it while this one lasts.
    assert role(stacks[f"bootstrap-{env}"], "deploy-role")["max_session_duration"] == 3 * 3600


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_role_of_an_environment_carries_its_account_boundary(stacks, env):
    [boundary] = resources(stacks[f"bootstrap-{env}"], "aws_iam_policy").values()
    arn = f"arn:aws:iam::{ACCOUNTS[env]}:policy/{boundary['name']}"
    roles = resources(stacks[env], "aws_iam_role")
    assert len(roles) >= 8 and {body.get("permissions_boundary") for body in roles.values()} == {arn}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_role_may_work_in_every_region_its_environment_uses(stacks, env):
    regions = {p["region"] for p in stacks[env]["provider"]["aws"]}
    [platform] = [v for k, v in resources(stacks[f"bootstrap-{env}"], "aws_iam_role_policy").items()
                  if k.startswith("identity_deploy-deploy-platform")]
    [statement] = json.loads(platform["policy"])["Statement"]
    assert regions <= set(statement["Condition"]["StringEquals"]["aws:RequestedRegion"])
    assert ("eu-central-1" in regions) == (env == "prod")  # only prod has DR-region resources


def deploy_documents(stacks, env: str) -> list[dict]:
    from tools.permissions import deploy_role_documents

    return deploy_role_documents(stacks[f"bootstrap-{env}"])


def decide(stacks, env, action, resource, region="eu-west-1", **context):
    from modules.policy import Request, evaluate

    return evaluate(Request(action, resource, region, account=ACCOUNTS[env], context=context),
                    identity=deploy_documents(stacks, env))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_role_cannot_make_itself_an_administrator(stacks, env):
    account, prefix = ACCOUNTS[env], f"video-ingest-{env}"
    own, boundary = f"arn:aws:iam::{account}:role/{prefix}-deploy", f"arn:aws:iam::{account}:policy/{prefix}-boundary"
    task_role = f"arn:aws:iam::{account}:role/{prefix}-api-task"
    # Its own role and the plan role: explicitly denied, whatever the boundary context says.
    for action in ("iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"):
        for role_arn in (own, f"arn:aws:iam::{account}:role/{prefix}-plan"):
            decision = decide(stacks, env, action, role_arn, "us-east-1", **{"iam:PermissionsBoundary": boundary})
            assert not decision and "explicit deny" in decision.reason, (action, role_arn)
    # A role without the boundary cannot be created; with it, it can (the positive control).
    assert not decide(stacks, env, "iam:CreateRole", task_role, "us-east-1")
    assert not decide(stacks, env, "iam:CreateRole", task_role, "us-east-1",
                      **{"iam:PermissionsBoundary": f"arn:aws:iam::{account}:policy/other"})
    assert decide(stacks, env, "iam:CreateRole", task_role, "us-east-1", **{"iam:PermissionsBoundary": boundary})
    # The boundary itself, and removing a boundary from any role.
    assert not decide(stacks, env, "iam:CreatePolicyVersion", boundary, "us-east-1")
    assert not decide(stacks, env, "iam:DeleteRolePermissionsBoundary", task_role, "us-east-1",
                      **{"iam:PermissionsBoundary": boundary})
    # Roles of another environment or project.
    assert not decide(stacks, env, "iam:CreateRole", f"arn:aws:iam::{account}:role/admin", "us-east-1",
                      **{"iam:PermissionsBoundary": boundary})


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_role_passes_roles_only_to_the_services_that_run_them(stacks, env):
    task_role = f"arn:aws:iam::{ACCOUNTS[env]}:role/video-ingest-{env}-api-task"
    assert decide(stacks, env, "iam:PassRole", task_role, "us-east-1", **{"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    for service in ("ec2.amazonaws.com", "lambda.amazonaws.com"):
        assert not decide(stacks, env, "iam:PassRole", task_role, "us-east-1", **{"iam:PassedToService": service})
    assert not decide(stacks, env, "iam:PassRole", task_role, "us-east-1")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_role_regions_and_service_linked_roles(stacks, env):
    assert decide(stacks, env, "kms:CreateKey", "*", "eu-central-1")  # DR region (prod's replicas, keys, vault)
    assert decide(stacks, env, "cloudfront:CreateDistribution", "*", "us-east-1")
    assert not decide(stacks, env, "ec2:CreateVpc", "*", "us-west-2")
    slr = f"arn:aws:iam::{ACCOUNTS[env]}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    assert decide(stacks, env, "iam:CreateServiceLinkedRole", slr, "us-east-1", **{"iam:AWSServiceName": "ecs.amazonaws.com"})
    assert not decide(stacks, env, "iam:CreateServiceLinkedRole", slr, "us-east-1",
                      **{"iam:AWSServiceName": "autoscaling.amazonaws.com"})
    # Cloud Map's private namespace needs Route 53 of the caller; AWS Backup's vault needs its storage.
    assert decide(stacks, env, "route53:CreateHostedZone", "*", "us-east-1")
    assert decide(stacks, env, "backup-storage:MountCapsule", "*", "eu-west-1")
    state = "arn:aws:iam::000000000000:role/video-ingest-terraform-state"
    assert decide(stacks, env, "sts:AssumeRole", state)
    assert not decide(stacks, env, "sts:AssumeRole", "arn:aws:iam::000000000000:role/video-ingest-terraform-state-read")
