"""Video storage: versioned, KMS-encrypted, never public, tiered by what is served, replicated to the DR region.

What CloudFront serves (`processed/`) must stay readable with a plain GET: it tiers to Standard-IA and then
Glacier Instant Retrieval (millisecond reads), never to Glacier Flexible Retrieval or Deep Archive, whose objects
answer GET with 403 InvalidObjectState until restored. The originals (`originals/`), never served, follow the
spec's path to Deep Archive. docs/storage-lifecycle.md has the why and the cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from cdktf_cdktf_provider_aws.cloudfront_origin_access_control import CloudfrontOriginAccessControl
from constructs import Construct

from modules.bucket import BucketOptions, LifecycleRule, Replication, SecureBucket, Transition, access_log_options
from modules.limits import Doc, Range
from modules.naming import Naming
from modules.policy import Grantee, statement

PROCESSED_PREFIX = "processed/"  # what the workers write into the video bucket and CloudFront serves
ORIGINALS_PREFIX = "originals/"  # the workers' copy of each original upload: kept, never served


@dataclass(frozen=True, kw_only=True)
class StorageConfig:
    """Inputs. Every default is the prod-safe choice."""

    ia_after_days: Annotated[
        int, Range(30, unit="days"), Doc("Standard -> Standard-IA (S3 requires 30 days first)")
    ] = 30
    glacier_after_days: Annotated[
        int, Doc("served videos -> Glacier Instant Retrieval; originals -> Glacier Flexible Retrieval")
    ] = 90
    deep_archive_after_days: Annotated[
        int, Doc("originals -> Glacier Deep Archive (served videos never leave Instant Retrieval)")
    ] = 365
    noncurrent_expire_days: Annotated[
        int, Range(1, unit="days"), Doc("overwritten/deleted versions kept this long")
    ] = 90
    abort_multipart_days: Annotated[
        int, Range(1, unit="days"), Doc("incomplete multipart uploads removed after this")
    ] = 7
    replication_enabled: Annotated[bool, Doc("cross-region replication to the DR region")] = True
    replication_time_control: Annotated[bool, Doc("S3 RTC: 15-minute replication SLA with metrics (RPO 1 h)")] = True
    access_log_retention_days: Annotated[int, Range(1, unit="days"), Doc("log bucket objects expire after this")] = 365

    def __post_init__(self) -> None:
        if not self.ia_after_days < self.glacier_after_days < self.deep_archive_after_days:
            raise ValueError(
                "ia_after_days/glacier_after_days/deep_archive_after_days = "
                f"{self.ia_after_days}/{self.glacier_after_days}/{self.deep_archive_after_days}: "
                "transitions must increase"
            )
        if self.deep_archive_after_days - self.glacier_after_days < 90:
            raise ValueError(
                f"deep_archive_after_days = {self.deep_archive_after_days}: must be at least 90 days "
                f"after glacier_after_days ({self.glacier_after_days}), Glacier's minimum storage"
            )
        if self.replication_time_control and not self.replication_enabled:
            raise ValueError("replication_time_control = true: needs replication_enabled = true")


def video_lifecycle(config: StorageConfig) -> tuple[LifecycleRule, ...]:
    """Served videos stay in tiers that answer GET; originals archive; the whole bucket drops old versions and
    incomplete uploads."""
    return (
        LifecycleRule(
            id="served-to-instant-retrieval",
            prefix=PROCESSED_PREFIX,
            transitions=(
                Transition(config.ia_after_days, "STANDARD_IA"),
                Transition(config.glacier_after_days, "GLACIER_IR"),
            ),
        ),
        LifecycleRule(
            id="originals-to-deep-archive",
            prefix=ORIGINALS_PREFIX,
            transitions=(
                Transition(config.ia_after_days, "STANDARD_IA"),
                Transition(config.glacier_after_days, "GLACIER"),
                Transition(config.deep_archive_after_days, "DEEP_ARCHIVE"),
            ),
        ),
        LifecycleRule(
            id="old-versions-and-uploads",
            noncurrent_expire_days=config.noncurrent_expire_days,
            abort_multipart_days=config.abort_multipart_days,
        ),
    )


class Storage(Construct):
    """Exposes `video_bucket`, `log_bucket` (SSE-S3, for S3/ALB/CloudFront logs), `origin_access_control`,
    `replica_bucket` and `replication` (None without replication). Grants: `grant_read_videos(role)`,
    `grant_write_processed(role)`, and `grant_read_to_distribution(arn)` once the CDN exists."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: StorageConfig,
        kms_key_arn: str,
        protect: bool,
        force_destroy: bool,
        dr_region: str,
        dr_provider=None,
        dr_kms_key_arn: str | None = None,
        log_delivery_statements=lambda bucket_name: (),
    ) -> None:
        super().__init__(scope, id_)
        self._naming, self._kms_key_arn = naming, kms_key_arn
        log_name = naming.bucket("logs")
        self.log_bucket = SecureBucket(
            self,
            "logs",
            name=log_name,
            options=access_log_options(
                log_name,
                naming.account_id,
                retention_days=config.access_log_retention_days,
                extra_statements=tuple(log_delivery_statements(log_name)),
                force_destroy=force_destroy,
                protect=protect,
            ),
        )
        self._force_destroy = force_destroy
        self.video_bucket = self._video_bucket(config, protect)
        self.origin_access_control = CloudfrontOriginAccessControl(
            self,
            "origin-access-control",
            name=naming.name("videos"),
            description="CloudFront -> video bucket",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
        )
        self.replica_bucket: SecureBucket | None = None
        self.replication: Replication | None = None
        if config.replication_enabled:
            self._replicate(config, protect, dr_region, dr_provider, dr_kms_key_arn)

    def _video_bucket(self, config: StorageConfig, protect: bool) -> SecureBucket:
        naming = self._naming
        return SecureBucket(
            self,
            "videos",
            name=naming.bucket("videos"),
            options=BucketOptions(
                kms_key_arn=self._kms_key_arn,
                log_bucket=self.log_bucket,
                lifecycle=video_lifecycle(config),
                force_destroy=self._force_destroy,
                protect=protect,
                skips={}
                if config.replication_enabled
                else {
                    "CKV_AWS_144": (
                        f"{naming.environment}: cross-region replication off by config; production config forbids it."
                    )
                },
            ),
        )

    def _replicate(
        self, config: StorageConfig, protect: bool, dr_region: str, dr_provider, dr_kms_key_arn: str | None
    ) -> None:
        """The replica bucket in the DR region (with its own access-log bucket) and the replication into it."""
        naming = self._naming
        dr_log_name = naming.bucket("logs", dr_region)
        dr_logs = SecureBucket(
            self,
            "dr-logs",
            name=dr_log_name,
            provider=dr_provider,
            options=access_log_options(
                dr_log_name,
                naming.account_id,
                retention_days=config.access_log_retention_days,
                force_destroy=self._force_destroy,
                protect=protect,
            ),
        )
        self.replica_bucket = SecureBucket(
            self,
            "videos-replica",
            name=naming.bucket("videos", dr_region),
            provider=dr_provider,
            options=BucketOptions(
                kms_key_arn=dr_kms_key_arn,
                log_bucket=dr_logs,
                lifecycle=video_lifecycle(config),
                force_destroy=self._force_destroy,
                protect=protect,
            ),
        )
        self.replication = Replication(
            self,
            "replication",
            naming=naming,
            source=self.video_bucket,
            source_key_arn=self._kms_key_arn,
            replica=self.replica_bucket,
            replica_key_arn=dr_kms_key_arn,
            time_control=config.replication_time_control,
        )

    def grant_read_videos(self, grantee: Grantee) -> None:
        """Read any video; SSE-KMS objects need the key too (as AWS CDK's `bucket.grantRead`)."""
        grantee.add_to_policy(
            statement("ReadVideos", ["s3:GetObject"], [f"{self.video_bucket.arn}/*"]),
            statement("DecryptVideos", ["kms:Decrypt", "kms:GenerateDataKey"], [self._kms_key_arn]),
        )

    def grant_write_processed(self, grantee: Grantee) -> None:
        """Write under `processed/` (served) and `originals/` (kept) of the video bucket, and nowhere else."""
        grantee.add_to_policy(
            statement(
                "WriteProcessed",
                ["s3:AbortMultipartUpload", "s3:PutObject"],
                [f"{self.video_bucket.arn}/{PROCESSED_PREFIX}*", f"{self.video_bucket.arn}/{ORIGINALS_PREFIX}*"],
            )
        )

    def grant_read_to_distribution(self, distribution_arn: str) -> None:
        """The bucket policies (video bucket and its replica) admit reads of the served videos (`processed/`,
        never the originals, which archive) from this one CloudFront distribution (OAC) and nobody else."""
        for bucket in filter(None, (self.video_bucket, self.replica_bucket)):
            bucket.add_policy_statements(
                statement(
                    "CloudFrontReadsVideos",
                    ["s3:GetObject"],
                    [f"{bucket.arn}/{PROCESSED_PREFIX}*"],
                    principal={"Service": "cloudfront.amazonaws.com"},
                    condition={"StringEquals": {"AWS:SourceArn": distribution_arn}},
                )
            )
