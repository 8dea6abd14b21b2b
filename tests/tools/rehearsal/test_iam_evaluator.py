"""The IAM evaluator (tools/rehearsal/iam_evaluator.py) follows AWS's logic, on documents the builders write."""

from __future__ import annotations

import json

import pytest

from modules.policy import policy, statement, web_identity_trust
from tools.rehearsal.iam_evaluator import Request, evaluate

REGION = "eu-west-1"
ROLE = "arn:aws:iam::111111111111:role/video-ingest-dev-api-task"


def document(*statements: dict) -> dict:
    """What `json.loads` gives for a synthesized policy."""
    return json.loads(policy(*statements))


def test_explicit_deny_beats_any_allow():
    identity = document(
        statement("ReadAll", ["s3:*"], "*"),
        statement("NoDeletes", ["s3:DeleteObject"], "arn:aws:s3:::b/*", effect="Deny"),
    )
    read = evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k", REGION), identity=identity)
    delete = evaluate(
        Request("s3:DeleteObject", "arn:aws:s3:::b/k", REGION),
        identity=identity,
        resource_policy=document(statement("Everyone", ["s3:*"], "*", principal={"AWS": "*"})),
    )
    assert read.allowed and read.sids == ("ReadAll",)
    assert not delete.allowed and delete.reason == "explicit deny by statement 'NoDeletes' in identity policy"


def test_a_permissions_boundary_cuts_what_the_identity_policy_allows():
    identity = document(statement("Everything", ["s3:*", "sqs:*"], "*"))
    boundary = document(
        statement("OnlyS3", ["s3:*"], "*"), statement("NeverDelete", ["s3:DeleteBucket"], "*", effect="Deny")
    )
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k", REGION), identity=identity, boundary=boundary)
    cut = evaluate(
        Request("sqs:SendMessage", "arn:aws:sqs:eu-west-1:111111111111:q", REGION), identity=identity, boundary=boundary
    )
    assert not cut.allowed and cut.reason == "permissions boundary does not allow it"
    denied = evaluate(Request("s3:DeleteBucket", "arn:aws:s3:::b", REGION), identity=identity, boundary=boundary)
    assert denied.reason == "explicit deny by statement 'NeverDelete' in boundary"
    # An empty boundary allows nothing; no boundary at all leaves the identity policy alone.
    assert not evaluate(Request("sqs:SendMessage", "q", REGION), identity=identity, boundary=[])
    assert evaluate(Request("sqs:SendMessage", "q", REGION), identity=identity)


def pass_role(service: str | None) -> Request:
    return Request("iam:PassRole", ROLE, REGION, context={"iam:PassedToService": service} if service else {})


def test_pass_role_only_to_the_named_service():
    identity = document(
        statement(
            "PassTaskRoles",
            ["iam:PassRole"],
            "arn:aws:iam::111111111111:role/video-ingest-*",
            condition={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        )
    )
    assert evaluate(pass_role("ecs-tasks.amazonaws.com"), identity=identity)
    assert evaluate(pass_role("lambda.amazonaws.com"), identity=identity).reason == "no statement allows it"
    assert not evaluate(pass_role(None), identity=identity)  # a missing key fails StringEquals
    other_role = Request(
        "iam:PassRole",
        "arn:aws:iam::111111111111:role/admin",
        REGION,
        context={"iam:PassedToService": "ecs-tasks.amazonaws.com"},
    )
    assert not evaluate(other_role, identity=identity)


def test_roles_may_be_created_only_with_the_permissions_boundary():
    boundary_arn = "arn:aws:iam::111111111111:policy/video-ingest-boundary"
    identity = document(
        statement(
            "CreateBoundedRoles",
            ["iam:CreateRole"],
            "*",
            condition={"StringEquals": {"iam:PermissionsBoundary": boundary_arn}},
        ),
        # Negated operator, key absent: true (AWS), so a role without any boundary is denied explicitly.
        statement(
            "DenyUnbounded",
            ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
            "*",
            effect="Deny",
            condition={"StringNotEquals": {"iam:PermissionsBoundary": boundary_arn}},
        ),
    )
    create = lambda **context: evaluate(Request("iam:CreateRole", ROLE, REGION, context=context), identity=identity)
    assert create(**{"iam:PermissionsBoundary": boundary_arn})
    assert create(**{"iam:PermissionsBoundary": boundary_arn + "-2"}).sids == ("DenyUnbounded",)
    assert create().reason == "explicit deny by statement 'DenyUnbounded' in identity policy"


def test_string_like_and_arn_like_wildcards():
    provider = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    trust = json.loads(web_identity_trust(provider, audience="sts.amazonaws.com", subjects=["repo:o/r:environment:*"]))
    assume = lambda sub, aud="sts.amazonaws.com": evaluate(
        Request(
            "sts:AssumeRoleWithWebIdentity",
            ROLE,
            REGION,
            principal=provider,
            context={"token.actions.githubusercontent.com:sub": sub, "token.actions.githubusercontent.com:aud": aud},
        ),
        identity=[],
        resource_policy=trust,
    )
    assert assume("repo:o/r:environment:prod")
    assert not assume("repo:o/r:ref:refs/heads/main") and not assume("repo:o/other:environment:prod")
    assert not assume("repo:o/r:environment:prod", aud="other")
    arn_like = document(
        statement(
            "Roles",
            ["sts:AssumeRole"],
            "*",
            condition={
                "ArnLike": {
                    "aws:PrincipalArn": ["arn:aws:iam::*:role/video-ingest-*-deploy", "arn:aws:iam::*:role/ops-?"]
                }
            },
        )
    )
    principal = lambda arn: evaluate(
        Request("sts:AssumeRole", ROLE, REGION, context={"aws:PrincipalArn": arn}), identity=arn_like
    )
    assert principal("arn:aws:iam::111111111111:role/video-ingest-dev-deploy")
    assert principal("arn:aws:iam::111111111111:role/ops-1") and not principal("arn:aws:iam::111111111111:role/ops-12")
    assert not principal("arn:aws:iam::111111111111:user/video-ingest-dev-deploy")
    # ArnLike matches part by part: an ARN with an extra colon-separated part does not match.
    assert not principal("arn:aws:iam::1:2:role/video-ingest-dev-deploy")


def test_not_action_and_not_resource():
    identity = document(
        {"Sid": "AllButIam", "Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"},
        {
            "Sid": "NotTheAuditBucket",
            "Effect": "Deny",
            "Action": "s3:PutObject",
            "NotResource": ["arn:aws:s3:::work/*"],
        },
    )
    assert evaluate(Request("sqs:SendMessage", "q", REGION), identity=identity)
    assert evaluate(Request("IAM:CreateUser", "*", REGION), identity=identity).reason == "no statement allows it"
    assert evaluate(Request("s3:PutObject", "arn:aws:s3:::work/k", REGION), identity=identity)
    assert not evaluate(Request("s3:PutObject", "arn:aws:s3:::audit/k", REGION), identity=identity)


def test_if_exists_with_the_key_absent_and_present():
    identity = document(
        statement("InVpcIfKnown", ["s3:GetObject"], "*", condition={"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}})
    )
    get = lambda **context: evaluate(
        Request("s3:GetObject", "arn:aws:s3:::b/k", REGION, context=context), identity=identity
    )
    assert get() and get(**{"aws:SourceVpc": "vpc-1"}) and not get(**{"aws:SourceVpc": "vpc-2"})
    without = document(
        statement("InVpc", ["s3:GetObject"], "*", condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}})
    )
    assert not evaluate(Request("s3:GetObject", "k", REGION), identity=without)


def test_numeric_null_and_set_operators():
    mfa = document(
        statement(
            "RecentMfa",
            ["ec2:StopInstances"],
            "*",
            condition={
                "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
                "Null": {"aws:MultiFactorAuthAge": "false"},
            },
        )
    )
    stop = lambda **context: evaluate(Request("ec2:StopInstances", "*", REGION, context=context), identity=mfa)
    assert stop(**{"aws:MultiFactorAuthAge": 120}) and not stop(**{"aws:MultiFactorAuthAge": "7200"})
    assert not stop()
    tags = document(
        statement(
            "OnlyTheseTagKeys",
            ["ec2:CreateTags"],
            "*",
            condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}},
        ),
        statement(
            "NoSecretTag",
            ["ec2:CreateTags"],
            "*",
            effect="Deny",
            condition={"ForAnyValue:StringLike": {"aws:TagKeys": "secret*"}},
        ),
    )
    tag = lambda keys: evaluate(Request("ec2:CreateTags", "*", REGION, context={"aws:TagKeys": keys}), identity=tags)
    assert tag(["team"]) and tag(["team", "env"]) and tag([])  # ForAllValues holds for no values
    assert tag(["team", "owner"]).reason == "no statement allows it"
    assert tag(["team", "secret-x"]).sids == ("NoSecretTag",)
    with pytest.raises(ValueError, match="several values"):
        evaluate(
            Request("ec2:CreateTags", "*", REGION, context={"aws:TagKeys": ["a"]}),
            identity=document(statement("S", ["ec2:*"], "*", condition={"StringEquals": {"aws:TagKeys": "a"}})),
        )


def test_unsupported_operators_are_refused_not_guessed():
    identity = document(statement("S", ["s3:*"], "*", condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    with pytest.raises(ValueError, match="IpAddress"):
        evaluate(Request("s3:GetObject", "k", REGION, context={"aws:SourceIp": "10.1.1.1"}), identity=identity)


def test_resource_wildcards_stay_in_their_arn_segment_unless_they_end_it():
    streams = "arn:aws:logs:eu-west-1:111111111111:log-group:/ecs/api:log-stream:task-1"

    def may_write(pattern: str, resource: str = streams) -> bool:
        identity = document(statement("Logs", ["logs:*"], [pattern]))
        return evaluate(Request("logs:PutLogEvents", resource, REGION), identity=identity).allowed

    # A `*` that ends a segment runs past colons (AWS: "it can expand to match beyond the colon boundaries").
    assert may_write("arn:aws:logs:eu-west-1:111111111111:log-group:/ecs/*")
    assert may_write("arn:aws:logs:eu-west-1:*:log-group:/ecs/api", "arn:aws:logs:eu-west-1:1:2:log-group:/ecs/api")
    # Inside a segment it does not; `?` is one character of the segment.
    assert not may_write("arn:aws:logs:eu-west-1:111111111111:log-group:/ecs/*-1")
    assert may_write("arn:aws:logs:eu-west-?:111111111111:log-group:/ecs/*")
    assert not may_write("arn:aws:logs:eu-west-1?111111111111:log-group:/ecs/*")
    assert not may_write("arn:aws:logs:eu-west-1:111111111111:log-group:/ECS/*")  # ARNs are case-sensitive


def test_for_all_values_holds_without_the_key_for_any_value_does_not():
    tagging = lambda operator: document(
        statement("S", ["ec2:CreateTags"], "*", condition={operator: {"aws:TagKeys": "a"}})
    )
    for_all, for_any = tagging("ForAllValues:StringEquals"), tagging("ForAnyValue:StringEquals")
    assert evaluate(Request("ec2:CreateTags", "*", REGION), identity=for_all)
    assert not evaluate(Request("ec2:CreateTags", "*", REGION), identity=for_any)
