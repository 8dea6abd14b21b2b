"""Single constructs, synthesized alone: what modules/aspects.py decides at synth.

cdktf's `Testing.synth_scope` takes a TypeScript callback (`IScopeCallback` has no method jsii can call back into
Python), so each construct is built in a stack of its own and synthesized with `Testing.synth`, the Python form."""

from __future__ import annotations

import json

from cdktf import Aspects, TerraformStack, Testing
from cdktf_cdktf_provider_aws.iam_role import IamRole
from constructs import Construct

from modules.aspects import PermissionsBoundary
from modules.bucket import BucketOptions, SecureBucket
from modules.policy import statement

BOUNDARY = "arn:aws:iam::111111111111:policy/video-ingest-dev-boundary"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})


def synth_scope(build) -> str:
    """`build(scope)` in a stack of its own; the stack's synthesized JSON."""
    stack = TerraformStack(Testing.app(), "unit")
    build(stack)
    return Testing.synth(stack)


def _resources(synthesized: str, rtype: str) -> dict:
    return json.loads(synthesized).get("resource", {}).get(rtype, {})


def test_the_boundary_aspect_reaches_every_role_in_scope_also_those_made_after_it():
    def build(scope: Construct) -> None:
        Aspects.of(scope).add(PermissionsBoundary(BOUNDARY))
        IamRole(scope, "first", name="first", assume_role_policy=TRUST)
        nested = Construct(scope, "nested")
        IamRole(nested, "second", name="second", assume_role_policy=TRUST)

    roles = _resources(synth_scope(build), "aws_iam_role")
    assert len(roles) == 2 and {body.get("permissions_boundary") for body in roles.values()} == {BOUNDARY}


def test_without_the_aspect_a_role_has_no_boundary():
    roles = _resources(
        synth_scope(lambda scope: IamRole(scope, "r", name="r", assume_role_policy=TRUST)), "aws_iam_role"
    )
    assert [body.get("permissions_boundary") for body in roles.values()] == [None]


def test_a_bucket_policy_renders_every_statement_granted_before_synth_once(monkeypatch):
    import modules.bucket

    rendered = []
    monkeypatch.setattr(
        modules.bucket,
        "policy",
        lambda *statements: rendered.append(statements)
        or json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
    )

    def build(scope: Construct) -> None:
        bucket = SecureBucket(scope, "videos", name="videos", options=BucketOptions(kms_key_arn=None, log_bucket=None))
        bucket.add_policy_statements(statement("ReadOne", ["s3:GetObject"], f"{bucket.arn}/one/*"))
        bucket.add_policy_statements(statement("ReadTwo", ["s3:GetObject"], f"{bucket.arn}/two/*"))
        assert rendered == []  # nothing rendered while grants still come

    policies = _resources(synth_scope(build), "aws_s3_bucket_policy")
    (body,) = policies.values()
    sids = [s["Sid"] for s in json.loads(body["policy"])["Statement"]]
    assert sids == ["DenyInsecureTransport", "ReadOne", "ReadTwo"] and len(rendered) == 1, (sids, len(rendered))
