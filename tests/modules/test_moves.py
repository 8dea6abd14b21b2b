"""Moves: cdktf's logical ids reproduced (to name the old address of a renamed construct), moves in plans."""

from __future__ import annotations

import json

import pytest

from tools.review.plan_summary import summarize


def test_logical_id_is_cdktfs_for_every_resource_of_every_stack(stacks):
    from modules.moves import logical_id

    checked = 0
    for stack in stacks.values():
        for named in stack["resource"].values():
            for name, body in named.items():
                assert logical_id(body["//"]["metadata"]["path"].split("/")[1:]) == name
                checked += 1
    assert checked > 800


def test_plan_summary_lists_moved_resources():
    plan = {
        "resource_changes": [
            {
                "address": "aws_s3_bucket.new",
                "previous_address": "aws_s3_bucket.old",
                "mode": "managed",
                "type": "aws_s3_bucket",
                "change": {"actions": ["no-op"]},
            }
        ]
    }
    summary = summarize(plan, "qa")
    assert summary.moved == [("aws_s3_bucket.old", "aws_s3_bucket.new", "no-op")] and summary.exit_code == 0
    assert "No changes other than 1 moved." in summary.markdown
    assert "- `aws_s3_bucket.old` → `aws_s3_bucket.new` (no-op)" in summary.markdown


def test_moved_from_writes_one_moved_block_per_resource_under_the_construct():
    from cdktf import TerraformStack, Testing
    from cdktf_cdktf_provider_aws.provider import AwsProvider
    from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
    from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
        S3BucketVersioningA,
        S3BucketVersioningVersioningConfiguration,
    )
    from constructs import Construct

    from modules.moves import logical_id, moved_from

    stack = TerraformStack(Testing.app(), "qa")
    AwsProvider(stack, "aws", region="eu-west-1")
    area = Construct(stack, "storage")
    renamed = Construct(area, "video-store")
    bucket = S3Bucket(renamed, "bucket", bucket="qa-videos")
    S3BucketVersioningA(
        renamed,
        "versioning",
        bucket=bucket.id,
        versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
    )
    moves = moved_from(renamed, "storage/videos")
    synthesized = json.loads(Testing.synth(stack))
    assert synthesized["moved"] == [{"from": source, "to": target} for source, target in moves]
    assert moves[0] == (
        f"aws_s3_bucket.{logical_id('storage/videos/bucket')}",
        f"aws_s3_bucket.{logical_id('storage/video-store/bucket')}",
    )
    assert moves[1][0] == f"aws_s3_bucket_versioning.{logical_id('storage/videos/versioning')}"
    assert set(synthesized["resource"]["aws_s3_bucket"]) == {logical_id("storage/video-store/bucket")}
    with pytest.raises(ValueError, match="does not change"):
        moved_from(bucket, "storage/video-store/bucket")
