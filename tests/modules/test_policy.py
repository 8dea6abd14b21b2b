"""IAM policy documents: the builders write exactly what the stacks synthesize, and the stacks' policies read back
by the evaluator allow what they should (tests/tools/rehearsal/test_iam_evaluator.py tests the evaluator itself)."""

from __future__ import annotations

import json

import pytest

from modules.policy import account_trust, deny_insecure_transport, policy, service_trust, statement, web_identity_trust
from tests.conftest import ENVIRONMENTS, find_one, resources
from tools.rehearsal.iam_evaluator import Request, evaluate

ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}


def arn_of(reference: str) -> str:
    """`${aws_sqs_queue.x.url}` -> `${aws_sqs_queue.x.arn}`: the token the policies name the resource by."""
    return reference.rsplit(".", 1)[0] + ".arn}"


# ---- builders: the JSON every stack synthesizes today, to the byte


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_service_trust_is_every_service_roles_trust_policy(stacks, env):
    trusts = [
        body["assume_role_policy"]
        for body in resources(stacks[env], "aws_iam_role").values()
        if "TrustService" in body["assume_role_policy"]
    ]
    services = {json.loads(trust)["Statement"][0]["Principal"]["Service"] for trust in trusts}
    assert {"ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com", "monitoring.rds.amazonaws.com"} <= services
    # API Gateway's account-wide logging role: the trust AWS documents, without aws:SourceAccount (modules/api.py).
    unconditioned = {"apigateway.amazonaws.com"}
    assert set(trusts) == {
        service_trust(service, source_account=None if service in unconditioned else ACCOUNTS[env])
        for service in services
    }


def test_service_trust_without_source_account_has_no_condition():
    assert json.loads(service_trust("ecs-tasks.amazonaws.com"))["Statement"] == [
        {
            "Sid": "TrustService",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        }
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_tls_only_deny_for_buckets_queues_and_topics(stacks, env):
    stack = stacks[env]
    for body in resources(stack, "aws_s3_bucket_policy").values():
        bucket = arn_of(body["bucket"])
        assert json.loads(body["policy"])["Statement"][0] == deny_insecure_transport("s3", [bucket, f"{bucket}/*"])
    queue_policy = find_one(stack, "aws_sqs_queue_policy")
    queue, uploads = (
        arn_of(queue_policy["queue_url"]),
        next(arn_of(b["bucket"]) for k, b in resources(stack, "aws_s3_bucket_policy").items() if "uploads" in k),
    )
    assert queue_policy["policy"] == policy(
        statement(
            "UploadBucketEvents",
            ["sqs:SendMessage"],
            [queue],
            principal={"Service": "s3.amazonaws.com"},
            condition={"ArnEquals": {"aws:SourceArn": uploads}, "StringEquals": {"aws:SourceAccount": ACCOUNTS[env]}},
        ),
        deny_insecure_transport("sqs", [queue]),
    )
    for body in resources(stack, "aws_sns_topic_policy").values():
        [_, deny] = json.loads(body["policy"])["Statement"]
        assert deny == deny_insecure_transport("sns", [body["arn"]], actions=["Publish"])


def test_deny_insecure_transport_json():
    assert policy(deny_insecure_transport("sqs", "arn:aws:sqs:eu-west-1:111111111111:q")) == (
        '{"Statement": [{"Action": ["sqs:*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}, '
        '"Effect": "Deny", "Principal": {"AWS": "*"}, "Resource": "arn:aws:sqs:eu-west-1:111111111111:q", '
        '"Sid": "DenyInsecureTransport"}], "Version": "2012-10-17"}'
    )


def test_account_trust_is_the_operator_and_state_role_trust(stacks):
    operator = find_one(stacks["prod"], "aws_iam_role", "operator-role")["assume_role_policy"]
    assert operator == account_trust(
        ["333333333333", "444444444444"],
        sid="TrustedAccountsWithMfa",
        condition={
            "Bool": {"aws:MultiFactorAuthPresent": "true"},
            "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
        },
    )
    state = stacks["state-backend"]["resource"]["aws_iam_role"]["video-ingest-terraform-state-prod"][
        "assume_role_policy"
    ]
    assert state == account_trust(
        ["333333333333"],
        sid="EnvironmentRole",
        condition={"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::333333333333:role/video-ingest-prod-deploy"}},
    )
    with pytest.raises(ValueError, match="no account"):
        account_trust([])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_web_identity_trust_is_the_deploy_role_trust(stacks, env):
    deploy = find_one(stacks[f"bootstrap-{env}"], "aws_iam_role", "deploy-role")["assume_role_policy"]
    provider = f"arn:aws:iam::{ACCOUNTS[env]}:oidc-provider/token.actions.githubusercontent.com"
    assert deploy == web_identity_trust(
        provider,
        audience="sts.amazonaws.com",
        sid="GitHubActionsOidc",
        subjects=[f"repo:example-org/video-ingest-infra:environment:{env}"],
    )


def test_web_identity_trust_uses_string_like_only_for_wildcard_subjects():
    provider = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    exact = json.loads(web_identity_trust(provider, audience="sts.amazonaws.com", subjects=["repo:o/r:ref:main"]))
    wild = json.loads(
        web_identity_trust(
            provider, audience="sts.amazonaws.com", subjects=["repo:o/r:ref:main", "repo:o/r:environment:*"]
        )
    )
    assert exact["Statement"][0]["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:o/r:ref:main",
        }
    }
    assert wild["Statement"][0]["Condition"] == {
        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
        "StringLike": {"token.actions.githubusercontent.com:sub": ["repo:o/r:ref:main", "repo:o/r:environment:*"]},
    }


def test_statement_writes_one_resource_as_a_string_and_sorts_actions():
    assert statement("S", ["s3:PutObject", "s3:GetObject"], ["arn:aws:s3:::b/*"]) == {
        "Sid": "S",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": "arn:aws:s3:::b/*",
    }
    assert statement("S", ["s3:GetObject"], ["a", "b"])["Resource"] == ["a", "b"]


# ---- evaluation: AWS's logic for a request within one account

REGION = "eu-west-1"
ROLE = "arn:aws:iam::111111111111:role/video-ingest-dev-api-task"


def document(*statements: dict) -> dict:
    """What `json.loads` gives for a synthesized policy."""
    return json.loads(policy(*statements))


def synthesized(stack: dict, rtype: str, name: str) -> dict:
    return json.loads(find_one(stack, rtype, name)["policy"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_deploy_role_manages_services_only_in_its_regions_and_its_account(stacks, env):
    """The synthesized deploy policy: StringEquals aws:RequestedRegion (a list) and StringEqualsIfExists
    aws:ResourceAccount."""
    deploy = synthesized(stacks[f"bootstrap-{env}"], "aws_iam_role_policy", "deploy-platform")
    run = lambda region, **kw: evaluate(Request("ec2:RunInstances", "*", region, **kw), identity=deploy)
    assert run("eu-west-1") and run("us-east-1")
    assert run("us-west-2").reason == "no statement allows it"
    # IfExists: no aws:ResourceAccount in the request passes; a present one must be this account.
    assert run("eu-west-1", account=ACCOUNTS[env])
    assert not run("eu-west-1", context={"aws:ResourceAccount": "999999999999"})
    assert not evaluate(Request("iam:CreateUser", "*", "eu-west-1"), identity=deploy)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cloudwatch_logs_may_use_the_key_only_for_log_groups_of_this_account_and_region(stacks, env):
    """ArnLike on the synthesized key policy, evaluated as the key's resource policy."""
    key_policy = synthesized(stacks[env], "aws_kms_key", "security_key_")

    def encrypt(log_group_arn: str, principal: str = f"logs.{REGION}.amazonaws.com"):
        return evaluate(
            Request(
                "kms:GenerateDataKey",
                "key",
                REGION,
                principal=principal,
                context={"kms:EncryptionContext:aws:logs:arn": log_group_arn},
            ),
            identity=[],
            resource_policy=key_policy,
        )

    own = f"arn:aws:logs:{REGION}:{ACCOUNTS[env]}:log-group:/ecs/video-ingest-{env}/api"
    assert encrypt(own).sids == ("CloudWatchLogsEncrypt",)
    assert not encrypt(own.replace(ACCOUNTS[env], "999999999999"))
    assert not encrypt(own.replace(REGION, "us-west-2"))
    assert not encrypt(own, principal="logs.us-west-2.amazonaws.com")
    # The account statement only delegates to the account's own IAM policies: alone it allows no role.
    assert not evaluate(Request("kms:Decrypt", "key", REGION, principal=ROLE), identity=[], resource_policy=key_policy)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_queue_refuses_requests_without_tls_and_admits_only_the_upload_bucket(stacks, env):
    """Bool aws:SecureTransport on the synthesized queue policy; ArnEquals AND StringEquals."""
    stack = stacks[env]
    queue_policy = json.loads(find_one(stack, "aws_sqs_queue_policy")["policy"])
    [allow] = [s for s in queue_policy["Statement"] if s["Effect"] == "Allow"]
    queue, uploads = allow["Resource"], allow["Condition"]["ArnEquals"]["aws:SourceArn"]

    def send(secure=True, source=uploads, account=ACCOUNTS[env]):
        context = {"aws:SourceArn": source, "aws:SourceAccount": account}
        if secure is not None:
            context["aws:SecureTransport"] = secure
        return evaluate(
            Request("sqs:SendMessage", queue, REGION, principal="s3.amazonaws.com", context=context),
            identity=[],
            resource_policy=queue_policy,
        )

    assert send() and send(secure=None)  # Bool on a missing key is false: the deny does not apply
    assert send(secure=False).reason == "explicit deny by statement 'DenyInsecureTransport' in resource policy"
    assert send(secure="false").sids == ("DenyInsecureTransport",)
    assert not send(source=uploads + "x") and not send(account="999999999999")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_video_bucket_policy_alone_lets_the_distribution_read(stacks, env):
    """A resource policy that allows where the identity policy is silent (same account)."""
    bucket_policy = synthesized(stacks[env], "aws_s3_bucket_policy", "storage_videos_policy")
    [allow] = [s for s in bucket_policy["Statement"] if s["Effect"] == "Allow"]
    distribution = allow["Condition"]["StringEquals"]["AWS:SourceArn"]

    def read(action="s3:GetObject", source=distribution, principal="cloudfront.amazonaws.com"):
        return evaluate(
            Request(
                action,
                allow["Resource"].replace("*", "videos/a.mp4"),
                REGION,
                principal=principal,
                context={"aws:sourcearn": source, "aws:SecureTransport": "true"},
            ),
            identity=[],
            resource_policy=bucket_policy,
        )

    decision = read()
    assert decision.allowed and decision.reason == "allowed by statement 'CloudFrontReadsVideos' in resource policy"
    assert not read(source=distribution + "-other") and not read(action="s3:PutObject")
    assert not read(principal="ec2.amazonaws.com")
