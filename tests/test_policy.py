"""IAM policy documents: the builders write exactly what the stacks synthesize, the evaluator follows AWS's logic."""
from __future__ import annotations

import json

import pytest

from modules.policy import (account_trust, deny_insecure_transport, policy, service_trust, statement,
                            web_identity_trust)
from tests.conftest import ENVIRONMENTS, find_one, resources

ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}


def arn_of(reference: str) -> str:
    """`${aws_sqs_queue.x.url}` -> `${aws_sqs_queue.x.arn}`: the token the policies name the resource by."""
    return reference.rsplit(".", 1)[0] + ".arn}"


# ---- builders: the JSON every stack synthesizes today, to the byte

@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_service_trust_is_every_service_roles_trust_policy(stacks, env):
    trusts = [body["assume_role_policy"] for body in resources(stacks[env], "aws_iam_role").values()
              if "TrustService" in body["assume_role_policy"]]
    services = {json.loads(trust)["Statement"][0]["Principal"]["Service"] for trust in trusts}
    assert {"ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com", "monitoring.rds.amazonaws.com"} <= services
    assert set(trusts) == {service_trust(service, source_account=ACCOUNTS[env]) for service in services}


def test_service_trust_without_source_account_has_no_condition():
    assert json.loads(service_trust("ecs-tasks.amazonaws.com"))["Statement"] == [
        {"Sid": "TrustService", "Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_tls_only_deny_for_buckets_queues_and_topics(stacks, env):
    stack = stacks[env]
    for body in resources(stack, "aws_s3_bucket_policy").values():
        bucket = arn_of(body["bucket"])
        assert json.loads(body["policy"])["Statement"][0] == deny_insecure_transport("s3", [bucket, f"{bucket}/*"])
    queue_policy = find_one(stack, "aws_sqs_queue_policy")
    queue, uploads = arn_of(queue_policy["queue_url"]), next(
        arn_of(b["bucket"]) for k, b in resources(stack, "aws_s3_bucket_policy").items() if "uploads" in k)
    assert queue_policy["policy"] == policy(
        statement("UploadBucketEvents", ["sqs:SendMessage"], [queue], principal={"Service": "s3.amazonaws.com"},
                  condition={"ArnEquals": {"aws:SourceArn": uploads},
                             "StringEquals": {"aws:SourceAccount": ACCOUNTS[env]}}),
        deny_insecure_transport("sqs", [queue]))
    for body in resources(stack, "aws_sns_topic_policy").values():
        [_, deny] = json.loads(body["policy"])["Statement"]
        assert deny == deny_insecure_transport("sns", [body["arn"]], actions=["Publish"])


def test_deny_insecure_transport_json():
    assert policy(deny_insecure_transport("sqs", "arn:aws:sqs:eu-west-1:111111111111:q")) == (
        '{"Statement": [{"Action": ["sqs:*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}, '
        '"Effect": "Deny", "Principal": {"AWS": "*"}, "Resource": "arn:aws:sqs:eu-west-1:111111111111:q", '
        '"Sid": "DenyInsecureTransport"}], "Version": "2012-10-17"}')


def test_account_trust_is_the_operator_and_state_role_trust(stacks):
    operator = find_one(stacks["prod"], "aws_iam_role", "operator-role")["assume_role_policy"]
    assert operator == account_trust(["333333333333", "444444444444"], sid="TrustedAccountsWithMfa", condition={
        "Bool": {"aws:MultiFactorAuthPresent": "true"}, "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}})
    state = find_one(stacks["state-backend"], "aws_iam_role", "state-role")["assume_role_policy"]
    assert state == account_trust(ACCOUNTS.values(), sid="EnvironmentAccounts", condition={"ArnLike": {
        "aws:PrincipalArn": ["arn:aws:iam::*:role/video-ingest-*-deploy", "arn:aws:iam::*:role/video-ingest-*-operator"]}})
    with pytest.raises(ValueError, match="no account"):
        account_trust([])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_web_identity_trust_is_the_deploy_role_trust(stacks, env):
    deploy = find_one(stacks[env], "aws_iam_role", "deploy-role")["assume_role_policy"]
    provider = f"arn:aws:iam::{ACCOUNTS[env]}:oidc-provider/token.actions.githubusercontent.com"
    assert deploy == web_identity_trust(provider, audience="sts.amazonaws.com", sid="GitHubActionsOidc",
                                        subjects=[f"repo:example-org/video-ingest-infra:environment:{env}"])


def test_web_identity_trust_uses_string_like_only_for_wildcard_subjects():
    provider = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    exact = json.loads(web_identity_trust(provider, audience="sts.amazonaws.com", subjects=["repo:o/r:ref:main"]))
    wild = json.loads(web_identity_trust(provider, audience="sts.amazonaws.com",
                                         subjects=["repo:o/r:ref:main", "repo:o/r:environment:*"]))
    assert exact["Statement"][0]["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:o/r:ref:main"}}
    assert wild["Statement"][0]["Condition"] == {
        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
        "StringLike": {"token.actions.githubusercontent.com:sub": ["repo:o/r:ref:main", "repo:o/r:environment:*"]}}


def test_statement_writes_one_resource_as_a_string_and_sorts_actions():
    assert statement("S", ["s3:PutObject", "s3:GetObject"], ["arn:aws:s3:::b/*"]) == {
        "Sid": "S", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/*"}
    assert statement("S", ["s3:GetObject"], ["a", "b"])["Resource"] == ["a", "b"]
