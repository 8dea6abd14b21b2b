"""Bootstrap: the bucket and lock table that hold every environment's Terraform state.

Applied once, with local state (it cannot keep its state in the bucket it creates);
`make bootstrap` runs it. Its state file is small and can be migrated into the
bucket afterwards with `terraform init -migrate-state`.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktf import LocalBackend, TerraformOutput, TerraformResourceLifecycle, TerraformStack
from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from environments.config import STATE_KEY_ALIAS, StateBackendConfig
from modules import checkov
from modules.bucket import BucketOptions, LifecycleRule, Replication, SecureBucket, access_log_options
from modules.naming import Naming
from modules.policy import account_trust, policy, statement
from stacks.providers import aws_provider

STATE_VERSIONS_KEPT_DAYS = 90  # noncurrent state versions: recovery window for a bad apply


class StateBackendStack(TerraformStack):
    def __init__(
        self, scope: Construct, id_: str, *, config: StateBackendConfig, environments: Sequence[Naming]
    ) -> None:
        super().__init__(scope, id_)
        naming = Naming("state", config.account_id, config.region)
        # Relative to cdktf.out/stacks/state-backend: the project root, so a re-synth never deletes it
        # and the output does not depend on where the project is checked out.
        LocalBackend(self, path="../../../terraform.state-backend.tfstate")
        aws_provider(self, "aws", region=config.region, account_id=config.account_id, environment="state")
        dr = aws_provider(
            self, "aws-dr", region=config.dr_region, account_id=config.account_id, environment="state", alias="dr"
        )

        self.key = _state_key(self, "key", naming, alias=STATE_KEY_ALIAS, protect=True)
        self.bucket = self._state_bucket(config, naming, dr)
        self.lock_table = DynamodbTable(
            self,
            "lock-table",
            name=config.lock_table,
            billing_mode="PAY_PER_REQUEST",
            hash_key="LockID",
            attribute=[DynamodbTableAttribute(name="LockID", type="S")],
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=DynamodbTableServerSideEncryption(enabled=True, kms_key_arn=self.key.arn),
            deletion_protection_enabled=True,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True),
        )

        self._state_roles(config, environments)
        TerraformOutput(self, "state_bucket", value=self.bucket.name)
        TerraformOutput(self, "lock_table", value=self.lock_table.name)

    def _state_bucket(self, config: StateBackendConfig, naming: Naming, dr) -> SecureBucket:
        """The state bucket, replicated to the DR region (its own key there), each with an access-log bucket."""
        dr_key = _state_key(self, "dr-key", naming, alias=f"alias/{naming.project}-dr-key", protect=True, provider=dr)
        # Protected like the state they audit (CKV_VIDEO_7: protected or disposable, never neither): a log bucket
        # always holds objects, so without force_destroy its destroy would stop halfway.
        log_bucket = SecureBucket(
            self,
            "access-logs",
            name=naming.bucket("access-logs"),
            options=access_log_options(naming.bucket("access-logs"), naming.account_id, protect=True),
        )
        dr_log_name = naming.bucket("access-logs", config.dr_region)
        dr_log_bucket = SecureBucket(
            self,
            "dr-access-logs",
            name=dr_log_name,
            provider=dr,
            options=access_log_options(dr_log_name, naming.account_id, protect=True),
        )
        versions = LifecycleRule(
            id="expire-old-state-versions", noncurrent_expire_days=STATE_VERSIONS_KEPT_DAYS, abort_multipart_days=1
        )
        bucket = SecureBucket(
            self,
            "state",
            name=config.bucket,
            options=BucketOptions(kms_key_arn=self.key.arn, log_bucket=log_bucket, lifecycle=(versions,), protect=True),
        )
        replica = SecureBucket(
            self,
            "state-replica",
            name=f"{config.bucket}-replica",
            provider=dr,
            options=BucketOptions(
                kms_key_arn=dr_key.arn, log_bucket=dr_log_bucket, lifecycle=(versions,), protect=True
            ),
        )
        Replication(
            self,
            "state-replication",
            naming=naming,
            source=bucket,
            source_key_arn=self.key.arn,
            replica=replica,
            replica_key_arn=dr_key.arn,
            time_control=False,
        )
        return bucket

    def _state_roles(self, config: StateBackendConfig, environments: Sequence[Naming]) -> None:
        """Per environment, the roles it reaches its state through: read/write for its deploy role, read-only
        for its plan and refresh roles (the pull request's plan, the promotion's refreshing plan), each limited
        to the environment's own state (`<env>/` objects, lock items) so a
        compromised dev pipeline cannot touch prod's state. Both principals exist before any environment
        apply: the account bootstrap creates them."""
        for env in environments:
            self._state_role(env, config.role_arn_for(env.environment), env.deploy_role_arn, write=True)
            self._state_role(
                env, config.read_role_arn_for(env.environment), [env.plan_role_arn, env.refresh_role_arn], write=False
            )

    def _state_role(self, env: Naming, role_arn: str, principal: str | list[str], *, write: bool) -> None:
        bucket, table = self.bucket.arn, self.lock_table.arn
        objects = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"] if write else ["s3:GetObject"]
        # Lock items are `<bucket>/<env>/terraform.tfstate` (and its `-md5` digest, which a plan reads).
        own_items = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{self.bucket.name}/{env.environment}/*"]}}
        items = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"] if write else ["dynamodb:GetItem"]
        name = role_arn.rsplit("/", 1)[1]
        role = IamRole(
            self,
            name,
            name=name,
            max_session_duration=3600,
            description=f"Terraform state of {env.environment} ({'read/write' if write else 'read-only'})",
            # Exactly this role of the environment's account, not every principal there.
            assume_role_policy=account_trust(
                [env.account_id], sid="EnvironmentRole", condition={"ArnEquals": {"aws:PrincipalArn": principal}}
            ),
        )
        who = principal if isinstance(principal, str) else " and ".join(principal)
        checkov.skip(
            role,
            "CKV_AWS_61",
            f"Trusts {env.environment}'s account only for {who} "
            "(aws:PrincipalArn condition), whose own policy must also allow it.",
        )
        IamRolePolicy(
            self,
            f"{name}-policy",
            name="state",
            role=role.id,
            policy=policy(
                # Listing shows keys, not contents; `terraform init` lists the workspace prefix.
                statement("ListStateBucket", ["s3:ListBucket"], [bucket]),
                statement("OwnState", objects, [f"{bucket}/{env.environment}/*"]),
                statement("DescribeLockTable", ["dynamodb:DescribeTable"], [table]),
                statement("OwnLockItems", items, [table], condition=own_items),
                statement(
                    "StateKey",
                    ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"],
                    [self.key.arn],
                ),
            ),
        )


def _state_key(scope: Construct, id_: str, naming: Naming, *, alias: str, protect: bool, provider=None) -> KmsKey:
    key = KmsKey(
        scope,
        id_,
        description="Terraform state (bucket, replica and lock table)",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        provider=provider,
        policy=policy(statement("AccountAdministersKey", ["kms:*"], "*", principal={"AWS": naming.root_arn})),
        lifecycle=TerraformResourceLifecycle(prevent_destroy=protect),
    )
    KmsAlias(scope, f"{id_}-alias", name=alias, target_key_id=key.key_id, provider=provider)
    return key
