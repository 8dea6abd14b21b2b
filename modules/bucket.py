"""A private S3 bucket with the controls every bucket here carries.

A building block like `naming`, not an area module: storage, the state backend,
the load balancer and the CDN each own their buckets through it, so every bucket
gets the same baseline (versioning, encryption, public access blocked, owner
enforced, TLS-only policy, abort of incomplete uploads, EventBridge
notifications) and differs only where its purpose requires.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
    S3BucketLifecycleConfigurationRuleTransition,
)
from cdktf_cdktf_provider_aws.s3_bucket_logging import S3BucketLoggingA
from cdktf_cdktf_provider_aws.s3_bucket_notification import S3BucketNotification
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_replication_configuration import (
    S3BucketReplicationConfigurationA,
    S3BucketReplicationConfigurationRule,
    S3BucketReplicationConfigurationRuleDeleteMarkerReplication,
    S3BucketReplicationConfigurationRuleDestination,
    S3BucketReplicationConfigurationRuleDestinationEncryptionConfiguration,
    S3BucketReplicationConfigurationRuleDestinationMetrics,
    S3BucketReplicationConfigurationRuleDestinationMetricsEventThreshold,
    S3BucketReplicationConfigurationRuleDestinationReplicationTime,
    S3BucketReplicationConfigurationRuleDestinationReplicationTimeTime,
    S3BucketReplicationConfigurationRuleFilter,
    S3BucketReplicationConfigurationRuleSourceSelectionCriteria,
    S3BucketReplicationConfigurationRuleSourceSelectionCriteriaSseKmsEncryptedObjects,
)
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import S3BucketVersioningA, S3BucketVersioningVersioningConfiguration
from constructs import Construct

from modules import checkov
from modules.aspects import rendered_at_synth
from modules.naming import Naming
from modules.policy import deny_insecure_transport, policy, service_trust, statement

ABORT_MULTIPART_DAYS = 7


@dataclass(frozen=True)
class Transition:
    days: int
    storage_class: str


@dataclass(frozen=True, kw_only=True)
class LifecycleRule:
    id: str
    prefix: str = ""  # empty: the whole bucket
    transitions: tuple[Transition, ...] = ()
    expire_days: int = 0  # 0: current versions never expire
    noncurrent_expire_days: int = 0  # 0: noncurrent versions kept
    abort_multipart_days: int = 0  # 0: not set on this rule


@dataclass(frozen=True, kw_only=True)
class BucketOptions:
    kms_key_arn: str | None  # None: SSE-S3 (only for log targets AWS services cannot KMS-write)
    log_bucket: SecureBucket | None  # access-log target; None only for a log bucket itself
    log_prefix: str = ""
    lifecycle: tuple[LifecycleRule, ...] = ()
    policy_statements: tuple[dict, ...] = ()  # added to the TLS-only statement
    object_ownership: str = "BucketOwnerEnforced"  # ACLs disabled
    force_destroy: bool = False
    protect: bool = False  # prevent_destroy
    notifications: bool = True  # EventBridge notifications (audit, automation)
    skips: dict[str, str] = field(default_factory=dict)  # checkov check id -> reason, on the bucket


class SecureBucket(Construct):
    """Exposes `bucket` (the aws_s3_bucket), `arn`, `name` and `versioning` (for replication's depends_on)."""

    def __init__(self, scope: Construct, id_: str, *, name: str, options: BucketOptions, provider=None) -> None:
        super().__init__(scope, id_)
        self.bucket = S3Bucket(
            self,
            "bucket",
            bucket=name,
            force_destroy=options.force_destroy,
            provider=provider,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=options.protect),
        )
        self.name, self.arn = self.bucket.bucket, self.bucket.arn
        for check_id, reason in options.skips.items():
            checkov.skip(self.bucket, check_id, reason)
        self._block_public_access(options, provider)
        self.versioning = S3BucketVersioningA(
            self,
            "versioning",
            bucket=self.bucket.id,
            provider=provider,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        self._encrypt(options, provider)
        self._statements = [deny_insecure_transport("s3", [self.arn, f"{self.arn}/*"]), *options.policy_statements]
        self.policy = S3BucketPolicy(
            self,
            "policy",
            bucket=self.bucket.id,
            provider=provider,
            policy=rendered_at_synth(lambda: policy(*self._statements)),
        )
        self._log_notify_and_expire(name, options, provider)

    def _block_public_access(self, options: BucketOptions, provider) -> None:
        """Public access blocked; object ownership from the options."""
        S3BucketPublicAccessBlock(
            self,
            "public-access-block",
            bucket=self.bucket.id,
            provider=provider,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        self.ownership = S3BucketOwnershipControls(
            self,
            "ownership",
            bucket=self.bucket.id,
            provider=provider,
            rule=S3BucketOwnershipControlsRule(object_ownership=options.object_ownership),
        )

    def _encrypt(self, options: BucketOptions, provider) -> None:
        """SSE-KMS with the options' key (and an S3 bucket key), else SSE-S3."""
        by_default = (
            S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                sse_algorithm="aws:kms", kms_master_key_id=options.kms_key_arn
            )
            if options.kms_key_arn
            else S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                sse_algorithm="AES256"
            )
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=self.bucket.id,
            provider=provider,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=by_default, bucket_key_enabled=bool(options.kms_key_arn)
                )
            ],
        )

    def _log_notify_and_expire(self, name: str, options: BucketOptions, provider) -> None:
        """Access logging, EventBridge notifications and the lifecycle rules, as the options say."""
        if options.log_bucket:
            # After the target's policy: S3 refuses a logging target that does not yet admit log delivery.
            S3BucketLoggingA(
                self,
                "logging",
                bucket=self.bucket.id,
                provider=provider,
                target_bucket=options.log_bucket.name,
                target_prefix=options.log_prefix or f"s3/{name}/",
                depends_on=[options.log_bucket.policy],
            )
        if options.notifications:
            S3BucketNotification(self, "notifications", bucket=self.bucket.id, eventbridge=True, provider=provider)
        rules = options.lifecycle or (
            LifecycleRule(id="abort-incomplete-uploads", abort_multipart_days=ABORT_MULTIPART_DAYS),
        )
        self.lifecycle = S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=self.bucket.id,
            provider=provider,
            rule=[_lifecycle_rule(rule) for rule in rules],
            depends_on=[self.versioning],
        )

    def add_policy_statements(self, *statements: dict) -> None:
        """For grants to resources created after the bucket (e.g. the CloudFront distribution)."""
        self._statements.extend(statements)


def _lifecycle_rule(rule: LifecycleRule) -> S3BucketLifecycleConfigurationRule:
    return S3BucketLifecycleConfigurationRule(
        id=rule.id,
        status="Enabled",
        filter=[S3BucketLifecycleConfigurationRuleFilter(prefix=rule.prefix)],
        transition=[
            S3BucketLifecycleConfigurationRuleTransition(days=t.days, storage_class=t.storage_class)
            for t in rule.transitions
        ]
        or None,
        expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=rule.expire_days)] if rule.expire_days else None,
        noncurrent_version_expiration=[
            S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(noncurrent_days=rule.noncurrent_expire_days)
        ]
        if rule.noncurrent_expire_days
        else None,
        abort_incomplete_multipart_upload=[
            S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                days_after_initiation=rule.abort_multipart_days
            )
        ]
        if rule.abort_multipart_days
        else None,
    )


def access_log_options(
    name: str,
    account_id: str,
    *,
    extra_statements: tuple[dict, ...] = (),
    retention_days: int = 365,
    force_destroy: bool = False,
    protect: bool = False,
) -> BucketOptions:
    """A bucket that receives S3 server access logs (and other AWS log deliveries via `extra_statements`)."""
    return BucketOptions(
        kms_key_arn=None,
        log_bucket=None,
        notifications=False,
        force_destroy=force_destroy,
        protect=protect,
        lifecycle=(
            LifecycleRule(
                id="expire-logs", expire_days=retention_days, noncurrent_expire_days=30, abort_multipart_days=1
            ),
        ),
        policy_statements=(
            statement(
                "S3ServerAccessLogs",
                ["s3:PutObject"],
                [f"arn:aws:s3:::{name}/*"],
                principal={"Service": "logging.s3.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceAccount": account_id}},
            ),
            *extra_statements,
        ),
        skips={
            "CKV_AWS_144": "Logs audit this region's buckets and stay in it; the replica region has its own.",
            "CKV_AWS_145": "S3 server access log and ALB log delivery support only SSE-S3 on the target, not SSE-KMS.",
            "CKV2_AWS_62": "Log objects are read by tools in batches; "
            "per-object event notifications would only add cost.",
        },
    )


class Replication(Construct):
    """Cross-region replication of every object (SSE-KMS re-encrypted with the replica key).

    `time_control` turns on S3 Replication Time Control: 99.99 % of objects within
    15 minutes, with metrics, which is what an RPO of one hour needs to be provable.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        source: SecureBucket,
        source_key_arn: str,
        replica: SecureBucket,
        replica_key_arn: str,
        time_control: bool,
    ) -> None:
        super().__init__(scope, id_)
        self.role = self._role(naming, id_, source, source_key_arn, replica, replica_key_arn)
        self.configuration = S3BucketReplicationConfigurationA(
            self,
            "configuration",
            bucket=source.bucket.id,
            role=self.role.arn,
            depends_on=[source.versioning, replica.versioning],
            rule=[
                S3BucketReplicationConfigurationRule(
                    id="everything",
                    status="Enabled",
                    priority=1,
                    filter=S3BucketReplicationConfigurationRuleFilter(prefix=""),
                    delete_marker_replication=S3BucketReplicationConfigurationRuleDeleteMarkerReplication(
                        status="Enabled"
                    ),
                    source_selection_criteria=S3BucketReplicationConfigurationRuleSourceSelectionCriteria(
                        sse_kms_encrypted_objects=S3BucketReplicationConfigurationRuleSourceSelectionCriteriaSseKmsEncryptedObjects(
                            status="Enabled"
                        )
                    ),
                    destination=_replica_destination(replica.arn, replica_key_arn, time_control),
                )
            ],
        )

    def _role(
        self,
        naming: Naming,
        id_: str,
        source: SecureBucket,
        source_key_arn: str,
        replica: SecureBucket,
        replica_key_arn: str,
    ) -> IamRole:
        """The role S3 replicates as: reads the source's versions, writes the replica, each key for its side."""
        role = IamRole(
            self,
            "role",
            name=naming.name(id_),
            description=f"S3 replication {source.node.id} -> {replica.node.id}",
            assume_role_policy=service_trust("s3.amazonaws.com", source_account=naming.account_id),
        )
        IamRolePolicy(
            self,
            "role-policy",
            name="replicate",
            role=role.id,
            policy=policy(
                statement("ReadSource", ["s3:GetReplicationConfiguration", "s3:ListBucket"], [source.arn]),
                statement(
                    "ReadSourceVersions",
                    ["s3:GetObjectVersionAcl", "s3:GetObjectVersionForReplication", "s3:GetObjectVersionTagging"],
                    [f"{source.arn}/*"],
                ),
                statement(
                    "WriteReplica",
                    ["s3:ReplicateDelete", "s3:ReplicateObject", "s3:ReplicateTags"],
                    [f"{replica.arn}/*"],
                ),
                statement("DecryptSource", ["kms:Decrypt"], [source_key_arn]),
                statement("EncryptReplica", ["kms:Encrypt", "kms:GenerateDataKey"], [replica_key_arn]),
            ),
        )
        return role


def _replica_destination(
    replica_arn: str, replica_key_arn: str, time_control: bool
) -> S3BucketReplicationConfigurationRuleDestination:
    """Re-encrypted with the replica key; with Replication Time Control and its metrics where asked for."""
    return S3BucketReplicationConfigurationRuleDestination(
        bucket=replica_arn,
        storage_class="STANDARD",
        encryption_configuration=S3BucketReplicationConfigurationRuleDestinationEncryptionConfiguration(
            replica_kms_key_id=replica_key_arn
        ),
        replication_time=S3BucketReplicationConfigurationRuleDestinationReplicationTime(
            status="Enabled", time=S3BucketReplicationConfigurationRuleDestinationReplicationTimeTime(minutes=15)
        )
        if time_control
        else None,
        metrics=S3BucketReplicationConfigurationRuleDestinationMetrics(
            status="Enabled",
            event_threshold=S3BucketReplicationConfigurationRuleDestinationMetricsEventThreshold(minutes=15),
        )
        if time_control
        else None,
    )
