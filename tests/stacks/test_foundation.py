"""State backend, providers and the per-environment backend wiring, asserted on the synthesized JSON."""

from __future__ import annotations

import json

import pytest
from cdktf import Testing

from tests.conftest import ENVIRONMENTS, find_one, resources

ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backend_is_s3_with_per_environment_key_locking_and_role(stacks, env):
    backend = stacks[env]["terraform"]["backend"]["s3"]
    assert backend["key"] == f"{env}/terraform.tfstate"
    assert backend["bucket"] == "video-ingest-terraform-state-000000000000"
    assert backend["dynamodb_table"] == "video-ingest-terraform-locks"
    assert backend["encrypt"] is True and backend["use_lockfile"] is True
    assert backend["assume_role"] == {
        "role_arn": f"arn:aws:iam::000000000000:role/video-ingest-terraform-state-{env}",
        "session_name": "video-ingest-state",
        "duration": "1h",
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_provider_is_pinned_to_the_environment_account_with_default_tags(stacks, env):
    for provider in stacks[env]["provider"]["aws"]:
        assert provider["allowed_account_ids"] == [ACCOUNTS[env]]
        assert provider["default_tags"] == [
            {"tags": {"Environment": env, "ManagedBy": "cdktf/video-ingest-infra", "Project": "video-ingest"}}
        ]


def test_no_provider_assumes_a_role(stacks):
    """CI reaches the deploy role by web identity; administrators run the bootstraps with their own credentials."""
    for name, stack in stacks.items():
        assert all("assume_role" not in p for p in stack["provider"]["aws"]), name


def test_provider_testing_helper_sees_the_account_guard(synth_dir):
    text = (synth_dir / "stacks" / "prod" / "cdk.tf.json").read_text()
    assert Testing.to_have_provider_with_properties(text, "aws", {"allowed_account_ids": ["333333333333"]})
    assert not Testing.to_have_provider_with_properties(text, "aws", {"allowed_account_ids": ["111111111111"]})


def test_state_bucket_is_versioned_kms_encrypted_private_and_tls_only(stacks):
    state = stacks["state-backend"]
    bucket_name = "video-ingest-terraform-state-000000000000"
    [(bucket_id, bucket)] = [(k, v) for k, v in resources(state, "aws_s3_bucket").items() if v["bucket"] == bucket_name]
    ref = f"${{aws_s3_bucket.{bucket_id}.id}}"
    by_bucket = lambda rtype: [v for v in resources(state, rtype).values() if v["bucket"] == ref]
    assert by_bucket("aws_s3_bucket_versioning")[0]["versioning_configuration"]["status"] == "Enabled"
    rule = by_bucket("aws_s3_bucket_server_side_encryption_configuration")[0]["rule"][0]
    assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    assert rule["apply_server_side_encryption_by_default"]["kms_master_key_id"].startswith("${aws_kms_key.key")
    block = by_bucket("aws_s3_bucket_public_access_block")[0]
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    policy = json.loads(by_bucket("aws_s3_bucket_policy")[0]["policy"])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert bucket["lifecycle"]["prevent_destroy"] is True


def test_lock_table_has_lockid_pitr_and_encryption(stacks):
    table = find_one(stacks["state-backend"], "aws_dynamodb_table")
    assert table["hash_key"] == "LockID" and table["attribute"] == [{"name": "LockID", "type": "S"}]
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["server_side_encryption"]["enabled"] is True
    assert table["lifecycle"]["prevent_destroy"] is True


def test_state_backend_keeps_local_state_outside_cdktf_out(stacks):
    assert stacks["state-backend"]["terraform"]["backend"] == {
        "local": {"path": "../../../terraform.state-backend.tfstate"}
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_kms_key_rotates(synth_dir, env):
    text = (synth_dir / "stacks" / env / "cdk.tf.json").read_text()
    assert Testing.to_have_resource_with_properties(text, "aws_kms_key", {"enable_key_rotation": True})
    assert Testing.to_have_resource_with_properties(text, "aws_kms_alias", {"name": f"alias/video-ingest-{env}"})
