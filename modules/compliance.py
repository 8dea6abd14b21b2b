"""SOC 2 / GDPR controls of one account, each adoptable: an audit trail (CloudTrail), a configuration history with
rules (AWS Config), threat detection (GuardDuty with S3 protection), a standard evaluated (Security Hub, AWS
Foundational Security Best Practices), and right-sizing (Compute Optimizer).

Account-wide, so the account bootstrap creates them (an administrator applies it; the deploy role cannot stop,
change or delete any of them: none of these services is in its policy). A control the organization already
provides is set to "organization" in `[compliance]`, with the id that shows where it lives; the stack then creates
nothing for it. docs/compliance.md: what each control covers, and how to check an organization's.
GuardDuty's findings reach the alarm topic through an EventBridge rule in the environment stack, where the topic
is (`guardduty_findings_rule`, modules/monitoring.py's topic).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudtrail import Cloudtrail
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.computeoptimizer_enrollment_status import ComputeoptimizerEnrollmentStatus
from cdktf_cdktf_provider_aws.config_config_rule import ConfigConfigRule, ConfigConfigRuleSource
from cdktf_cdktf_provider_aws.config_configuration_recorder import (
    ConfigConfigurationRecorder,
    ConfigConfigurationRecorderRecordingGroup,
)
from cdktf_cdktf_provider_aws.config_configuration_recorder_status import ConfigConfigurationRecorderStatus
from cdktf_cdktf_provider_aws.config_delivery_channel import (
    ConfigDeliveryChannel,
    ConfigDeliveryChannelSnapshotDeliveryProperties,
)
from cdktf_cdktf_provider_aws.guardduty_detector import GuarddutyDetector
from cdktf_cdktf_provider_aws.guardduty_detector_feature import GuarddutyDetectorFeature
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.securityhub_account import SecurityhubAccount
from cdktf_cdktf_provider_aws.securityhub_standards_subscription import SecurityhubStandardsSubscription
from constructs import Construct

from modules import checkov
from modules.bucket import BucketOptions, LifecycleRule, SecureBucket, access_log_options
from modules.limits import Doc, OneOf, Pattern, Range
from modules.naming import Naming
from modules.policy import policy, service_trust, statement

# The field defaults spell "account" out (the docs/configuration.md tables show them).
ACCOUNT, ORGANIZATION = "account", "organization"
MODE = OneOf(
    (ACCOUNT, ORGANIZATION),
    text="'account' (this stack creates it) or 'organization' (provided by the "
    "organization: this stack creates nothing)",
)
ACCOUNT_OR_EMPTY = Pattern(r"(\d{12})?", "a 12-digit AWS account id (or '' when the control is the account's)")
TRAIL_ARN_OR_EMPTY = Pattern(
    r"(arn:aws:cloudtrail:[a-z]{2}-[a-z]+-\d:\d{12}:trail/[\w.-]{3,128})?",
    "a trail ARN 'arn:aws:cloudtrail:<region>:<account>:trail/<name>' (or '')",
)
FSBP = "aws-foundational-security-best-practices/v/1.0.0"
# AWS Config managed rules (their SourceIdentifier) for the controls the platform claims, by control.
CONFIG_RULES = {
    "encryption at rest": (
        "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
        "RDS_STORAGE_ENCRYPTED",
        "CLOUDWATCH_LOG_GROUP_ENCRYPTED",
        "SNS_ENCRYPTED_KMS",
        "CMK_BACKING_KEY_ROTATION_ENABLED",
    ),
    "public access": (
        "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED",
        "RDS_INSTANCE_PUBLIC_ACCESS_CHECK",
        "RDS_SNAPSHOTS_PUBLIC_PROHIBITED",
        "VPC_DEFAULT_SECURITY_GROUP_CLOSED",
    ),
    "TLS": ("S3_BUCKET_SSL_REQUESTS_ONLY", "ALB_HTTP_TO_HTTPS_REDIRECTION_CHECK"),
    "backups": ("DB_INSTANCE_BACKUP_ENABLED", "S3_BUCKET_VERSIONING_ENABLED"),
    "logging": (
        "CLOUD_TRAIL_ENABLED",
        "MULTI_REGION_CLOUD_TRAIL_ENABLED",
        "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED",
        "CLOUD_TRAIL_ENCRYPTION_ENABLED",
        "VPC_FLOW_LOGS_ENABLED",
        "S3_BUCKET_LOGGING_ENABLED",
        "API_GW_EXECUTION_LOGGING_ENABLED",
        "ELB_LOGGING_ENABLED",
        "RDS_LOGGING_ENABLED",
    ),
}
# What adopting each control needs: the field that names where the organization runs it.
ADOPTION = {
    "cloudtrail": "organization_trail_arn",
    "aws_config": "config_aggregator_account_id",
    "guardduty": "guardduty_administrator_account_id",
    "security_hub": "security_hub_administrator_account_id",
    "compute_optimizer": "compute_optimizer_management_account_id",
}


@dataclass(frozen=True, kw_only=True)
class ComplianceConfig:
    """Inputs of the account's controls ([compliance], account bootstrap). 'organization' adopts one."""

    cloudtrail: Annotated[str, MODE, Doc("multi-region trail, validated, KMS-encrypted, its own bucket")] = "account"
    organization_trail_arn: Annotated[
        str,
        TRAIL_ARN_OR_EMPTY,
        Doc('required with cloudtrail = "organization": the organization trail that logs this account'),
    ] = ""
    trail_retention_days: Annotated[
        int, Range(1, 3650, "days"), Doc("trail objects expire after this (S3 lifecycle days; 2557: 7 years)")
    ] = 2557
    aws_config: Annotated[str, MODE, Doc("recorder, delivery channel, managed rules")] = "account"
    config_aggregator_account_id: Annotated[
        str,
        ACCOUNT_OR_EMPTY,
        Doc('required with aws_config = "organization": the account that aggregates the organization\'s Config'),
    ] = ""
    guardduty: Annotated[str, MODE, Doc("detector with S3 protection")] = "account"
    guardduty_administrator_account_id: Annotated[
        str, ACCOUNT_OR_EMPTY, Doc('required with guardduty = "organization": GuardDuty\'s delegated administrator')
    ] = ""
    security_hub: Annotated[str, MODE, Doc("Security Hub with AWS Foundational Security Best Practices")] = "account"
    security_hub_administrator_account_id: Annotated[
        str,
        ACCOUNT_OR_EMPTY,
        Doc('required with security_hub = "organization": Security Hub\'s delegated administrator'),
    ] = ""
    compute_optimizer: Annotated[str, MODE, Doc("right-sizing recommendations (enrollment)")] = "account"
    compute_optimizer_management_account_id: Annotated[
        str,
        ACCOUNT_OR_EMPTY,
        Doc('required with compute_optimizer = "organization": the management account that enrolled the organization'),
    ] = ""

    def __post_init__(self) -> None:
        for control, needed in ADOPTION.items():
            mode, value = getattr(self, control), getattr(self, needed)
            if mode == ORGANIZATION and not value:
                raise ValueError(f"{control} = {mode!r}: needs {needed} (where the organization provides it)")
            if mode == ACCOUNT and value:
                raise ValueError(
                    f"{needed} = {value!r}: only with {control} = 'organization' (this account creates its own)"
                )

    def created(self, control: str) -> bool:
        return getattr(self, control) == ACCOUNT


class Compliance(Construct):
    """Exposes `trail`, `trail_bucket`, `recorder`, `detector`, `security_hub`, `enrollment` (each None when
    the organization provides it); `rules` (Config rule names)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        config: ComplianceConfig,
        key_deletion_window_days: int,
        disposable: bool,
    ) -> None:
        super().__init__(scope, id_)
        self._naming, self._config = naming, config
        self.trail = self.trail_bucket = self.recorder = self.detector = None
        self.security_hub = self.enrollment = None
        self.rules: list[str] = []
        needs_key = config.created("cloudtrail") or config.created("aws_config")
        self.key = self._key(key_deletion_window_days, disposable) if needs_key else None
        if needs_key:
            self.trail_bucket = self._bucket(disposable)
        if config.created("cloudtrail"):
            self._trail()
        if config.created("aws_config"):
            self._config_recorder()
        if config.created("guardduty"):
            self.detector = GuarddutyDetector(
                self, "guardduty", enable=True, finding_publishing_frequency="FIFTEEN_MINUTES"
            )
            checkov.skip(
                self.detector,
                "CKV2_AWS_3",
                "Organization-wide auto-enable (aws_guardduty_organization_"
                "configuration) belongs to the delegated administrator's account; "
                "this account runs its own detector, or adopts the organization's "
                "(compliance.guardduty = 'organization').",
            )
            # Uploads arrive from the internet: S3 data events of every bucket are analysed.
            GuarddutyDetectorFeature(
                self, "guardduty-s3", detector_id=self.detector.id, name="S3_DATA_EVENTS", status="ENABLED"
            )
        if config.created("security_hub"):
            self.security_hub = SecurityhubAccount(
                self,
                "security-hub",
                enable_default_standards=False,
                auto_enable_controls=True,
                control_finding_generator="SECURITY_CONTROL",
            )
            SecurityhubStandardsSubscription(
                self,
                "security-hub-fsbp",
                standards_arn=f"arn:aws:securityhub:{naming.region}::standards/{FSBP}",
                depends_on=[self.security_hub],
            )
        if config.created("compute_optimizer"):
            self.enrollment = ComputeoptimizerEnrollmentStatus(
                self, "compute-optimizer", status="Active", include_member_accounts=False
            )

    @property
    def trail_name(self) -> str:
        return self._naming.name("audit-trail")

    @property
    def trail_arn(self) -> str:
        return self._naming.arn("cloudtrail", f"trail/{self.trail_name}")

    def _key(self, deletion_window_days: int, disposable: bool) -> KmsKey:
        n = self._naming
        key = KmsKey(
            self,
            "audit-key",
            description=f"{n.prefix}: audit trail and configuration history",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=deletion_window_days,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=not disposable),
            policy=policy(
                statement("AccountAdministersKey", ["kms:*"], "*", principal={"AWS": n.root_arn}),
                # CloudTrail encrypts the log files of this account's trail only (confused deputy).
                statement(
                    "CloudTrailEncryptsLogs",
                    ["kms:GenerateDataKey*"],
                    "*",
                    principal={"Service": "cloudtrail.amazonaws.com"},
                    condition={
                        "StringEquals": {"aws:SourceArn": self.trail_arn},
                        "StringLike": {
                            "kms:EncryptionContext:aws:cloudtrail:arn": n.arn("cloudtrail", "trail/*", region="*")
                        },
                    },
                ),
                statement(
                    "CloudTrailDescribesKey",
                    ["kms:DescribeKey"],
                    "*",
                    principal={"Service": "cloudtrail.amazonaws.com"},
                    condition={"StringEquals": {"aws:SourceArn": self.trail_arn}},
                ),
            ),
        )
        KmsAlias(self, "audit-key-alias", name=n.key_alias("audit"), target_key_id=key.key_id)
        return key

    def _bucket(self, disposable: bool) -> SecureBucket:
        n, config = self._naming, self._config
        name, logs_name = n.bucket("audit"), n.bucket("audit-access-logs")
        access_logs = SecureBucket(
            self,
            "audit-access-logs",
            name=logs_name,
            options=access_log_options(logs_name, n.account_id, force_destroy=disposable, protect=not disposable),
        )
        statements = self._bucket_statements(f"arn:aws:s3:::{name}", disposable)
        self.trail_bucket = SecureBucket(
            self,
            "audit",
            name=name,
            options=BucketOptions(
                kms_key_arn=self.key.arn,
                log_bucket=access_logs,
                force_destroy=disposable,
                protect=not disposable,
                notifications=False,
                policy_statements=tuple(statements),
                lifecycle=(
                    LifecycleRule(
                        id="expire-audit-logs",
                        expire_days=config.trail_retention_days,
                        noncurrent_expire_days=30,
                        abort_multipart_days=1,
                    ),
                ),
                skips={
                    "CKV_AWS_144": "Audit logs stay in the account's primary region; the trail is multi-region and "
                    "the organization's log archive (docs/compliance.md) is the second copy.",
                    "CKV2_AWS_62": "Trail and Config files are read in batches (Athena, auditors); per-object "
                    "notifications would only add cost.",
                },
            ),
        )
        return self.trail_bucket

    def _bucket_statements(self, bucket_arn: str, disposable: bool) -> list[dict]:
        """CloudTrail writes this account's trail only (confused deputy); in production nobody deletes a log file."""
        n = self._naming
        statements = [
            statement(
                "CloudTrailChecksAcl",
                ["s3:GetBucketAcl"],
                [bucket_arn],
                principal={"Service": "cloudtrail.amazonaws.com"},
                condition={"StringEquals": {"aws:SourceArn": self.trail_arn}},
            ),
            statement(
                "CloudTrailWritesLogs",
                ["s3:PutObject"],
                [f"{bucket_arn}/AWSLogs/{n.account_id}/*"],
                principal={"Service": "cloudtrail.amazonaws.com"},
                condition={
                    "StringEquals": {"aws:SourceArn": self.trail_arn, "s3:x-amz-acl": "bucket-owner-full-control"}
                },
            ),
        ]
        if not disposable:
            # Only the lifecycle rule removes a log file (S3 lifecycle is not subject to the bucket policy).
            statements.append(
                statement(
                    "NobodyDeletesLogs",
                    ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                    [f"{bucket_arn}/*"],
                    effect="Deny",
                    principal={"AWS": "*"},
                )
            )
        return statements

    def _trail(self) -> None:
        self.trail = Cloudtrail(
            self,
            "trail",
            name=self.trail_name,
            s3_bucket_name=self.trail_bucket.name,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=self.key.arn,
            depends_on=[self.trail_bucket.policy],
        )
        checkov.skip(
            self.trail,
            "CKV_AWS_252",
            "No SNS notice per delivered log file: GuardDuty analyses the "
            "management events and its findings reach the alarm topic.",
        )
        checkov.skip(
            self.trail,
            "CKV2_AWS_10",
            "Read from S3 (Athena, auditors) and analysed by GuardDuty; a "
            "CloudWatch Logs copy of every event would double the cost.",
        )

    def _config_recorder(self) -> None:
        n, bucket = self._naming, self.trail_bucket
        role = self._config_role()
        self.recorder = ConfigConfigurationRecorder(
            self,
            "config-recorder",
            name=n.name("config"),
            role_arn=role.arn,
            recording_group=ConfigConfigurationRecorderRecordingGroup(
                all_supported=True, include_global_resource_types=True
            ),
        )
        channel = ConfigDeliveryChannel(
            self,
            "config-delivery",
            name=n.name("config"),
            s3_bucket_name=bucket.name,
            s3_key_prefix="config",
            s3_kms_key_arn=self.key.arn,
            depends_on=[self.recorder],
            snapshot_delivery_properties=ConfigDeliveryChannelSnapshotDeliveryProperties(
                delivery_frequency="TwentyFour_Hours"
            ),
        )
        ConfigConfigurationRecorderStatus(
            self, "config-recording", name=self.recorder.name, is_enabled=True, depends_on=[channel]
        )
        self._config_rules()

    def _config_role(self) -> IamRole:
        """AWS Config's role: AWS's managed recording policy, and delivery to the audit bucket with the audit key."""
        n, bucket = self._naming, self.trail_bucket
        role = IamRole(
            self,
            "config-role",
            name=n.name("config-recorder"),
            description="AWS Config: record configuration, deliver it to the audit bucket",
            assume_role_policy=service_trust("config.amazonaws.com", source_account=n.account_id),
        )
        IamRolePolicyAttachment(
            self,
            "config-role-managed",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AWS_ConfigRole",
        )
        IamRolePolicy(
            self,
            "config-role-delivery",
            name="deliver",
            role=role.id,
            policy=policy(
                statement("CheckBucket", ["s3:GetBucketAcl", "s3:ListBucket"], [bucket.arn]),
                statement("DeliverHistory", ["s3:PutObject"], [f"{bucket.arn}/config/AWSLogs/{n.account_id}/*"]),
                statement("EncryptHistory", ["kms:Decrypt", "kms:GenerateDataKey"], [self.key.arn]),
            ),
        )
        return role

    def _config_rules(self) -> None:
        n = self._naming
        for control, identifiers in CONFIG_RULES.items():
            for identifier in identifiers:
                name = n.name(identifier.lower().replace("_", "-"))[:128]
                ConfigConfigRule(
                    self,
                    f"rule-{identifier.lower()}",
                    name=name,
                    description=f"{control}: AWS managed rule {identifier}",
                    source=ConfigConfigRuleSource(owner="AWS", source_identifier=identifier),
                    depends_on=[self.recorder],
                )
                self.rules.append(name)


def guardduty_findings_rule(scope: Construct, naming: Naming, topic_arn: str) -> CloudwatchEventRule:
    """GuardDuty findings of medium severity and above (4.0+) to the alarm topic. In the environment stack: the
    topic lives there, and the bootstrap is applied before it exists. Findings reach the account's default bus
    in the region of the detector (the primary region)."""
    rule = CloudwatchEventRule(
        scope,
        "guardduty-findings",
        name=naming.name("guardduty-findings"),
        description="GuardDuty findings (severity 4+) to the alarm topic",
        event_pattern=json.dumps(
            {
                "source": ["aws.guardduty"],
                "detail-type": ["GuardDuty Finding"],
                "detail": {"severity": [{"numeric": [">=", 4]}]},
            },
            sort_keys=True,
        ),
    )
    CloudwatchEventTarget(scope, "guardduty-findings-target", rule=rule.name, arn=topic_arn, target_id="alarms")
    return rule
