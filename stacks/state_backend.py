"""Bootstrap: the bucket and lock table that hold every environment's Terraform state.

Applied once, with local state (it cannot keep its state in the bucket it creates);
`make bootstrap` runs it. Its state file is small and can be migrated into the
bucket afterwards with `terraform init -migrate-state`.
"""
from __future__ import annotations

from typing import Sequence

from cdktf import LocalBackend, TerraformOutput, TerraformResourceLifecycle, TerraformStack
from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable, DynamodbTableAttribute, DynamodbTablePointInTimeRecovery, DynamodbTableServerSideEncryption)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from environments.config import StateBackendConfig
from modules import checkov
from modules.bucket import BucketOptions, LifecycleRule, Replication, SecureBucket, access_log_options
from modules.naming import Naming
from modules.policy import policy, statement
from stacks.providers import aws_provider

STATE_VERSIONS_KEPT_DAYS = 90  # noncurrent state versions: recovery window for a bad apply


class StateBackendStack(TerraformStack):
    def __init__(self, scope: Construct, id_: str, *, config: StateBackendConfig,
                 environment_accounts: Sequence[str]) -> None:
        super().__init__(scope, id_)
        naming = Naming("state", config.account_id, config.region)
        # Relative to cdktf.out/stacks/state-backend: the project root, so a re-synth never deletes it
        # and the output does not depend on where the project is checked out.
        LocalBackend(self, path="../../../terraform.state-backend.tfstate")
        aws_provider(self, "aws", region=config.region, account_id=config.account_id, environment="state")
        dr = aws_provider(self, "aws-dr", region=config.dr_region, account_id=config.account_id,
                          environment="state", alias="dr")

        self.key = _state_key(self, "key", naming, protect=True)
        dr_key = _state_key(self, "dr-key", naming, protect=True, provider=dr)
        log_bucket = SecureBucket(self, "access-logs", name=naming.bucket("access-logs"),
                                  options=access_log_options(naming.bucket("access-logs"), naming.account_id))
        dr_log_bucket = SecureBucket(self, "dr-access-logs", name=naming.bucket("access-logs", config.dr_region),
                                     options=access_log_options(naming.bucket("access-logs", config.dr_region), naming.account_id),
                                     provider=dr)
        versions = LifecycleRule(id="expire-old-state-versions", noncurrent_expire_days=STATE_VERSIONS_KEPT_DAYS,
                                 abort_multipart_days=1)
        self.bucket = SecureBucket(self, "state", name=config.bucket, options=BucketOptions(
            kms_key_arn=self.key.arn, log_bucket=log_bucket, lifecycle=(versions,), protect=True))
        replica = SecureBucket(self, "state-replica", name=f"{config.bucket}-replica", provider=dr,
                               options=BucketOptions(
                                   kms_key_arn=dr_key.arn, log_bucket=dr_log_bucket, lifecycle=(versions,),
                                   protect=True))
        Replication(self, "state-replication", naming=naming, source=self.bucket, source_key_arn=self.key.arn,
                    replica=replica, replica_key_arn=dr_key.arn, time_control=False)

        self.lock_table = DynamodbTable(
            self, "lock-table", name=config.lock_table, billing_mode="PAY_PER_REQUEST", hash_key="LockID",
            attribute=[DynamodbTableAttribute(name="LockID", type="S")],
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=DynamodbTableServerSideEncryption(enabled=True, kms_key_arn=self.key.arn),
            deletion_protection_enabled=True,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True))

        if config.role_arn:
            self._state_role(config, environment_accounts)
        TerraformOutput(self, "state_bucket", value=self.bucket.name)
        TerraformOutput(self, "lock_table", value=self.lock_table.name)

    def _state_role(self, config: StateBackendConfig, environment_accounts: Sequence[str]) -> None:
        """The role environments assume to read and write their state (nothing else)."""
        role = IamRole(self, "state-role", name=config.role_arn.rsplit("/", 1)[1],
                       description="Terraform state access for the video-ingest environments",
                       max_session_duration=3600,
                       assume_role_policy=policy({
                           "Sid": "EnvironmentAccounts", "Effect": "Allow", "Action": "sts:AssumeRole",
                           "Principal": {"AWS": sorted({f"arn:aws:iam::{a}:root" for a in environment_accounts})},
                           # Only the environments' deploy and operator roles, not every principal of those accounts.
                           "Condition": {"ArnLike": {"aws:PrincipalArn": [
                               "arn:aws:iam::*:role/video-ingest-*-deploy",
                               "arn:aws:iam::*:role/video-ingest-*-operator"]}}}))
        checkov.skip(role, "CKV_AWS_61", "Trusts only the environment accounts, and within them only principals "
                                         "named video-ingest-*-deploy or -operator (aws:PrincipalArn condition).")
        IamRolePolicy(self, "state-role-policy", name="state", role=role.id, policy=policy(
            statement("ListStateBucket", ["s3:ListBucket"], [self.bucket.arn]),
            statement("ReadWriteState", ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], [f"{self.bucket.arn}/*"]),
            statement("Lock", ["dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem",
                               "dynamodb:PutItem"], [self.lock_table.arn]),
            statement("StateKey", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], [self.key.arn])))


def _state_key(scope: Construct, id_: str, naming: Naming, *, protect: bool, provider=None) -> KmsKey:
    key = KmsKey(scope, id_, description="Terraform state (bucket, replica and lock table)",
                 enable_key_rotation=True, deletion_window_in_days=30, provider=provider,
                 policy=policy(statement("AccountAdministersKey", ["kms:*"], "*", principal={"AWS": naming.root_arn})),
                 lifecycle=TerraformResourceLifecycle(prevent_destroy=protect))
    KmsAlias(scope, f"{id_}-alias", name=f"alias/{naming.project}-{id_}", target_key_id=key.key_id, provider=provider)
    return key
