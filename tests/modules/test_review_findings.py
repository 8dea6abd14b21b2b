"""Findings of a fresh-eye review of the synthesized stacks (B1 VPC-internal auth bypass, A3 refresh's KMS
decrypt, A6 presigned POST uploads), each asserted over cdktf.out's JSON."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ENVIRONMENTS, find_one, resources


def _ref(rtype: str, name: str, attribute: str = "id") -> str:
    return f"${{{rtype}.{name}.{attribute}}}"


def _group(stack: dict, suffix: str) -> str:
    [name] = [k for k, v in resources(stack, "aws_security_group").items() if v["name"].endswith(f"-{suffix}")]
    return name


def _rules_of(stack: dict, rtype: str, group: str) -> list[dict]:
    return [v for v in resources(stack, rtype).values() if v["security_group_id"] == _ref("aws_security_group", group)]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_b1_nlb_has_its_own_group_that_admits_only_privatelink(stacks, env):
    stack = stacks[env]
    [nlb] = [v for v in resources(stack, "aws_lb").values() if v["load_balancer_type"] == "network"]
    nlb_sg = _group(stack, "nlb-sg")
    assert nlb["security_groups"] == [_ref("aws_security_group", nlb_sg)]
    # "off": PrivateLink (the VPC link) is not evaluated against the inbound rules, of which there are none.
    assert nlb["enforce_security_group_inbound_rules_on_private_link_traffic"] == "off"
    assert _rules_of(stack, "aws_vpc_security_group_ingress_rule", nlb_sg) == []
    [egress] = _rules_of(stack, "aws_vpc_security_group_egress_rule", nlb_sg)
    assert egress["referenced_security_group_id"] == _ref("aws_security_group", _group(stack, "alb-sg"))
    assert (egress["from_port"], egress["to_port"], egress["ip_protocol"]) == (443, 443, "tcp")
    assert "cidr_ipv4" not in egress and "cidr_ipv6" not in egress


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_b1_alb_admits_https_only_from_the_nlb_group_not_from_subnets(stacks, env):
    stack = stacks[env]
    ingress = _rules_of(stack, "aws_vpc_security_group_ingress_rule", _group(stack, "alb-sg"))
    assert [(r.get("referenced_security_group_id"), r["from_port"], r["to_port"]) for r in ingress] == [
        (_ref("aws_security_group", _group(stack, "nlb-sg")), 443, 443)
    ]
    assert not any("cidr_ipv4" in r or "cidr_ipv6" in r or "prefix_list_id" in r for r in ingress)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a3_refresh_may_decrypt_secrets_with_the_environment_key_via_secrets_manager_only(stacks, env):
    bootstrap = stacks[f"bootstrap-{env}"]
    document = json.loads(find_one(bootstrap, "aws_iam_role_policy", "refresh-policy")["policy"])
    decrypts = [s for s in document["Statement"] if s["Effect"] == "Allow" and "kms:Decrypt" in s["Action"]]
    [statement] = decrypts
    assert statement["Action"] == ["kms:Decrypt"]
    assert statement["Resource"].startswith("arn:aws:kms:") and statement["Resource"].endswith(":key/*")
    [region] = {p["region"] for p in stacks[env]["provider"]["aws"] if "alias" not in p}
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == f"secretsmanager.{region}.amazonaws.com"
    assert (
        statement["Resource"]
        == [s for s in document["Statement"] if s["Sid"] == "ReadEnvironmentSecretVersions"][0]["Resource"]
        .replace("secretsmanager", "kms")
        .split(":secret:")[0]
        + ":key/*"
    )
    # The alias the environment stack gives its key (modules/security.py), matched on the key's aliases.
    [alias] = [
        v["name"] for v in resources(stacks[env], "aws_kms_alias").values() if v["name"] == f"alias/video-ingest-{env}"
    ]
    assert statement["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"] == alias
    # Not denied elsewhere in the same policy.
    assert not [s for s in document["Statement"] if s["Effect"] == "Deny" and "kms:Decrypt" in s["Action"]]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a6_every_object_creation_under_uploads_reaches_the_queue(stacks, env):
    stack = stacks[env]
    [upload] = [k for k, v in resources(stack, "aws_s3_bucket").items() if "-uploads-" in v["bucket"]]
    [cors] = [v for v in resources(stack, "aws_s3_bucket_cors_configuration").values() if upload in v["bucket"]]
    methods = {m for rule in cors["cors_rule"] for m in rule["allowed_methods"]}
    [notification] = [v for v in resources(stack, "aws_s3_bucket_notification").values() if upload in v["bucket"]]
    [queue] = notification["queue"]
    # A presigned POST (which the CORS rule admits) emits s3:ObjectCreated:Post; chosen: every creation event.
    assert "POST" in methods and queue["events"] == ["s3:ObjectCreated:*"] and queue["filter_prefix"] == "uploads/"
