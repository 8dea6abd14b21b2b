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


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_reaches_only_its_own_state_through_roles_that_exist_before_it(stacks, env):
    created = created_roles(stacks)
    state = stacks["state-backend"]
    for purposes, suffix in ((("deploy",), ""), (("plan", "refresh"), "-read")):
        name = f"video-ingest-terraform-state{suffix}-{env}"
        statement = trust(resources(state, "aws_iam_role")[name])
        principals = [f"arn:aws:iam::{ACCOUNTS[env]}:role/video-ingest-{env}-{purpose}" for purpose in purposes]
        assert statement["Condition"] == {
            "ArnEquals": {"aws:PrincipalArn": principals[0] if len(principals) == 1 else principals}
        }
        assert statement["Principal"] == {"AWS": [f"arn:aws:iam::{ACCOUNTS[env]}:root"]}
        for principal in principals:
            assert created[principal] == f"bootstrap-{env}"  # exists before the environment's first apply


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_state_roles_touch_only_their_environments_state(stacks, env):
    from tools.rehearsal.iam_evaluator import Request, evaluate

    policies = resources(stacks["state-backend"], "aws_iam_role_policy")
    bucket, table = "${aws_s3_bucket.state_bucket_803B4E61.arn}", "${aws_dynamodb_table.lock-table.arn}"
    item = lambda key: {"dynamodb:LeadingKeys": [f"${{aws_s3_bucket.state_bucket_803B4E61.bucket}}/{key}"]}
    other = next(e for e in ENVIRONMENTS if e != env)
    for suffix, write in (("", True), ("-read", False)):
        document = policies[f"video-ingest-terraform-state{suffix}-{env}-policy"]["policy"]
        allows = lambda action, resource, document=document, **context: evaluate(
            Request(action, resource, "eu-west-1", context=context), identity=document
        ).allowed
        assert allows("s3:GetObject", f"{bucket}/{env}/terraform.tfstate")
        assert not allows("s3:GetObject", f"{bucket}/{other}/terraform.tfstate")
        assert allows("s3:PutObject", f"{bucket}/{env}/terraform.tfstate") == write
        assert allows("dynamodb:GetItem", table, **item(f"{env}/terraform.tfstate-md5"))
        assert not allows("dynamodb:GetItem", table, **item(f"{other}/terraform.tfstate-md5"))
        assert allows("dynamodb:PutItem", table, **item(f"{env}/terraform.tfstate")) == write


def test_state_is_encrypted_with_the_state_key(stacks):
    aliases = {body["name"]: body for body in resources(stacks["state-backend"], "aws_kms_alias").values()}
    assert aliases["alias/video-ingest-key"]["target_key_id"] == "${aws_kms_key.key.key_id}"
    for env in ENVIRONMENTS:
        assert (
            stacks[env]["terraform"]["backend"]["s3"]["kms_key_id"]
            == f"arn:aws:kms:eu-west-1:{STATE_ACCOUNT}:alias/video-ingest-key"
        )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_github_reaches_the_deploy_role_per_environment_and_the_plan_role_per_pull_request(stacks, env):
    bootstrap = stacks[f"bootstrap-{env}"]
    for id_, subject in (
        ("deploy-role", f"repo:{REPOSITORY}:environment:{env}"),
        ("refresh-role", f"repo:{REPOSITORY}:environment:{env}-plan"),
        ("plan-role", f"repo:{REPOSITORY}:pull_request"),
    ):
        statement = trust(role(bootstrap, id_))
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert (
            statement["Principal"]["Federated"]
            == f"arn:aws:iam::{ACCOUNTS[env]}:oidc-provider/token.actions.githubusercontent.com"
        )
        assert role(bootstrap, id_)["depends_on"] == [
            f"aws_iam_openid_connect_provider.{next(iter(resources(bootstrap, 'aws_iam_openid_connect_provider')))}"
        ]
        assert statement["Condition"] == {
            "StringEquals": {
                "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                "token.actions.githubusercontent.com:sub": subject,
            }
        }
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
    [platform] = [
        v
        for k, v in resources(stacks[f"bootstrap-{env}"], "aws_iam_role_policy").items()
        if k.startswith("identity_deploy-deploy-platform")
    ]
    [statement] = json.loads(platform["policy"])["Statement"]
    assert regions <= set(statement["Condition"]["StringEquals"]["aws:RequestedRegion"])
    assert ("eu-central-1" in regions) == (env == "prod")  # only prod has DR-region resources


def deploy_documents(stacks, env: str) -> list[dict]:
    from tools.rehearsal.permissions import deploy_role_documents

    return deploy_role_documents(stacks[f"bootstrap-{env}"])


def decide(stacks, env, action, resource, region="eu-west-1", **context):
    from tools.rehearsal.iam_evaluator import Request, evaluate

    return evaluate(
        Request(action, resource, region, account=ACCOUNTS[env], context=context),
        identity=deploy_documents(stacks, env),
    )


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
    assert not decide(
        stacks,
        env,
        "iam:CreateRole",
        task_role,
        "us-east-1",
        **{"iam:PermissionsBoundary": f"arn:aws:iam::{account}:policy/other"},
    )
    assert decide(stacks, env, "iam:CreateRole", task_role, "us-east-1", **{"iam:PermissionsBoundary": boundary})
    # The boundary itself, and removing a boundary from any role.
    assert not decide(stacks, env, "iam:CreatePolicyVersion", boundary, "us-east-1")
    assert not decide(
        stacks,
        env,
        "iam:DeleteRolePermissionsBoundary",
        task_role,
        "us-east-1",
        **{"iam:PermissionsBoundary": boundary},
    )
    # Roles of another environment or project.
    assert not decide(
        stacks,
        env,
        "iam:CreateRole",
        f"arn:aws:iam::{account}:role/admin",
        "us-east-1",
        **{"iam:PermissionsBoundary": boundary},
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_role_passes_roles_only_to_the_services_that_run_them(stacks, env):
    task_role = f"arn:aws:iam::{ACCOUNTS[env]}:role/video-ingest-{env}-api-task"
    assert decide(
        stacks, env, "iam:PassRole", task_role, "us-east-1", **{"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    )
    for service in ("ec2.amazonaws.com", "lambda.amazonaws.com"):
        assert not decide(stacks, env, "iam:PassRole", task_role, "us-east-1", **{"iam:PassedToService": service})
    assert not decide(stacks, env, "iam:PassRole", task_role, "us-east-1")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_role_regions_and_service_linked_roles(stacks, env):
    assert decide(stacks, env, "kms:CreateKey", "*", "eu-central-1")  # DR region (prod's replicas, keys, vault)
    assert decide(stacks, env, "cloudfront:CreateDistribution", "*", "us-east-1")
    assert not decide(stacks, env, "ec2:CreateVpc", "*", "us-west-2")
    slr = f"arn:aws:iam::{ACCOUNTS[env]}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    assert decide(
        stacks, env, "iam:CreateServiceLinkedRole", slr, "us-east-1", **{"iam:AWSServiceName": "ecs.amazonaws.com"}
    )
    assert not decide(
        stacks,
        env,
        "iam:CreateServiceLinkedRole",
        slr,
        "us-east-1",
        **{"iam:AWSServiceName": "autoscaling.amazonaws.com"},
    )
    # Cloud Map's private namespace needs Route 53 of the caller; AWS Backup's vault needs its storage.
    assert decide(stacks, env, "route53:CreateHostedZone", "*", "us-east-1")
    assert decide(stacks, env, "backup-storage:MountCapsule", "*", "eu-west-1")
    state = "arn:aws:iam::000000000000:role/video-ingest-terraform-state"
    assert decide(stacks, env, "sts:AssumeRole", f"{state}-{env}")
    for other in ("read-" + env, *(e for e in ENVIRONMENTS if e != env)):
        assert not decide(stacks, env, "sts:AssumeRole", f"{state}-{other}")
