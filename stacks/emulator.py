"""Emulator mode: the same stacks, aimed at a local AWS emulator (moto) for the deploy rehearsal.

Set `VIDEO_INGEST_EMULATOR_ENDPOINT=https://127.0.0.1:<port>` and synthesize (`python main.py` or
`cdktf deploy`, which runs it): main.py turns the variable into `EmulatorSettings` and hands them to
every stack (nothing here reads the process environment); every provider and backend talks to that endpoint with
path-style S3, TLS (so the TLS-only bucket policies hold as in AWS; the emulator's certificate
is self-signed, hence `insecure`), few retries (an unimplemented call would otherwise be retried
for minutes),
and each stack reaches its own account by assuming a role there, as in AWS.

What the emulator cannot serve is left out here and only here, each type with its reason
(`EXCLUDED`), and what the stacks expect to exist outside them gets a stand-in (`STAND_INS`); nothing
else changes. Destroy protections (`prevent_destroy`, deletion
protection) are lifted so the rehearsal can prove that every stack also tears down; that
they hold in the real stacks is asserted by the unit tests.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

ENDPOINT_VARIABLE = "VIDEO_INGEST_EMULATOR_ENDPOINT"
# moto's default account: nothing lives there; every stack assumes a role into its own account.
EMULATOR_ACCOUNT = "123456789012"
SERVICES = ("acm", "apigateway", "applicationautoscaling", "backup", "budgets", "ce", "cloudfront", "cloudtrail",
            "cloudwatch", "configservice", "dynamodb", "ec2", "ecr", "ecs", "elbv2", "events", "guardduty", "iam", "kms",
            "logs", "rds", "route53", "s3", "secretsmanager", "securityhub", "servicediscovery", "sns", "sqs", "sts",
            "wafv2", "xray")
# Resource types moto 5.2.5 cannot serve (probed: create or delete unimplemented, or a call that breaks
# the refresh of the whole state). Resources that reference them are left out too (printed by the rehearsal).
EXCLUDED = {
    "aws_xray_sampling_rule": "moto: CreateSamplingRule answers 404",
    "aws_budgets_budget": "moto: budgets ListTagsForResource answers 500, which breaks every later refresh",
    "aws_ce_anomaly_monitor": "moto: Cost Explorer anomaly monitors are not implemented",
    "aws_ce_anomaly_subscription": "moto: Cost Explorer anomaly subscriptions are not implemented",
    "aws_cloudfront_monitoring_subscription": "moto: CreateMonitoringSubscription is not implemented",
    "aws_sqs_queue_redrive_allow_policy": "moto: SetQueueAttributes drops RedriveAllowPolicy, so the provider "
                                          "waits for it until it times out",
    "aws_db_instance_automated_backups_replication": "moto: StartDBInstanceAutomatedBackupsReplication "
                                                     "is not implemented",
    "aws_backup_selection": "moto: CreateBackupSelection is not implemented (500); the plan and both vaults stay",
    "aws_securityhub_standards_subscription": "moto: BatchEnableStandards and GetEnabledStandards are not "
                                              "implemented; Security Hub itself is enabled",
    "aws_computeoptimizer_enrollment_status": "moto: Compute Optimizer is not implemented",
}
# Types moto cannot create either, but whose users must stay: references to them are replaced by
# an AWS-managed equivalent, or the referencing attribute is dropped (None).
SUBSTITUTED = {
    "aws_cloudfront_cache_policy": ("658327ea-f89d-4fab-a63d-7e88639e58f6",  # AWS managed CachingOptimized
                                    "moto: CreateCachePolicy answers 404"),
    "aws_cloudfront_response_headers_policy": ("67f7725c-6f97-4210-82d7-5512b31e9d03",  # managed SecurityHeadersPolicy
                                               "moto: CreateResponseHeadersPolicy answers 404"),
    "aws_api_gateway_client_certificate": (None, "moto: GenerateClientCertificate answers 404"),
}
# What the stacks expect to exist already, outside them, and the emulator (which starts empty) has not: emulator
# mode creates a stand-in and points the stack at it.
STAND_INS = {
    "aws_route53_zone": "the hosted zone of dns.hosted_zone_id lives in the account, outside the stacks; emulator "
                        "mode creates a zone of dns.zone_name and writes the validation and alias records there",
}
# The `//` note modules/dns.py puts on each Route 53 record: {"id": zone id from config, "name": zone name}.
ZONE_NOTE = "hosted_zone"
# Differences a second plan shows only because the emulator does not return what it was given:
# (resource type, attribute path) -> reason. Any other difference fails the rehearsal.
EMULATOR_DRIFT = {
    ("aws_s3_bucket_notification", "eventbridge"):
        "moto does not return EventBridgeConfiguration from GetBucketNotificationConfiguration",
    ("aws_s3_bucket_replication_configuration", "rule.delete_marker_replication.status"):
        "moto does not store DeleteMarkerReplication and answers Disabled",
    ("aws_s3_bucket_replication_configuration", "rule.source_selection_criteria"):
        "moto does not store SourceSelectionCriteria (replicate SSE-KMS objects)",
    **{("aws_db_instance", attribute): "moto does not store Performance Insights settings (CreateDBInstance "
                                       "ignores them; DescribeDBInstances returns none)"
       for attribute in ("performance_insights_enabled", "performance_insights_kms_key_id",
                         "performance_insights_retention_period")},
    ("aws_kms_key", "rotation_period_in_days"):
        "moto's EnableKeyRotation ignores RotationPeriodInDays and GetKeyRotationStatus does not return it",
    ("aws_cloudfront_public_key", "comment"): "moto's CreatePublicKey drops Comment",
}
PROTECTIONS = {"deletion_protection": False, "enable_deletion_protection": False,
               "deletion_protection_enabled": False}
REFERENCE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)[.}\[]")


ADMIN_ROLE = "video-ingest-emulator-admin"


def admin_role(account_id: str) -> str:
    """The bootstrap stacks run as an account's administrator. In the emulator that is a stand-in role
    in the account (moto issues credentials for the role's account; the emulator server lets only this
    name be assumed without existing). Environment stacks never use it: they run as the deploy role."""
    return f"arn:aws:iam::{account_id}:role/{ADMIN_ROLE}"


@dataclass(frozen=True)
class EmulatorSettings:
    """Emulator mode: built by main.py (from ENDPOINT_VARIABLE) and passed to every stack; None: real AWS."""
    url: str

    def provider_settings(self) -> dict:
        """Extra AwsProvider arguments (the provider's `endpoints` block as a plain dict)."""
        return {"endpoints": [{service: self.url for service in SERVICES}], "s3_use_path_style": True,
                "skip_credentials_validation": True, "skip_metadata_api_check": "true",
                "skip_region_validation": True, "max_retries": 2, "insecure": True}

    def backend_settings(self) -> dict:
        url = self.url
        return {"endpoints": {"s3": url, "dynamodb": url, "sts": url, "iam": url}, "use_path_style": True,
                "skip_credentials_validation": True, "skip_metadata_api_check": True,
                "skip_region_validation": True, "skip_requesting_account_id": True, "insecure": True}


def transform(config: dict) -> tuple[dict, list[str]]:
    """Leaves out the excluded types (and what references them), substitutes the substituted ones,
    and lifts destroy protections. Returns the new configuration and the addresses left out."""
    resources = config.get("resource", {})
    _stand_in_zones(resources)
    substituted = {(rtype, name) for rtype in SUBSTITUTED for name in resources.get(rtype, {})}
    for bodies in resources.values():
        for body in bodies.values():
            _substitute(body)
    removed = substituted | {(rtype, name) for rtype in EXCLUDED for name in resources.get(rtype, {})}
    while True:
        dependants = {(rtype, name) for rtype, bodies in resources.items() for name, body in bodies.items()
                      if (rtype, name) not in removed and _references(body) & removed}
        if not dependants:
            break
        removed |= dependants
    for rtype, name in removed:
        del resources[rtype][name]
        if not resources[rtype]:
            del resources[rtype]
    for rtype, bodies in resources.items():
        for body in bodies.values():
            if "lifecycle" in body and body["lifecycle"].get("prevent_destroy"):
                body["lifecycle"]["prevent_destroy"] = False
            for key, value in PROTECTIONS.items():
                if key in body:
                    body[key] = value
            if rtype == "aws_s3_bucket":
                body["force_destroy"] = True  # versioned buckets hold objects (state files, logs)
    outputs = config.get("output", {})
    for name in [n for n, body in outputs.items() if _references(body) & removed]:
        del outputs[name]
    return config, sorted(f"{rtype}.{name}" for rtype, name in removed)


def _stand_in_zones(resources: dict) -> None:
    """A zone per configured zone (STAND_INS), and the records that named it by id point at the stand-in."""
    records = resources.get("aws_route53_record", {})
    zones = {body["//"][ZONE_NOTE]["id"]: body["//"][ZONE_NOTE]["name"] for body in records.values()
             if ZONE_NOTE in body.get("//", {})}
    for number, (zone_id, zone_name) in enumerate(sorted(zones.items()), start=1):
        name = f"emulator-zone-{number}"
        resources.setdefault("aws_route53_zone", {})[name] = {
            "name": zone_name, "force_destroy": True, "comment": f"emulator stand-in for {zone_id}"}
        for body in records.values():
            if body.get("zone_id") == zone_id:
                body["zone_id"] = f"${{aws_route53_zone.{name}.zone_id}}"


def _substitute(body: dict) -> None:
    for key, value in list(body.items()):
        if isinstance(value, dict):
            _substitute(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _substitute(item)
        elif isinstance(value, str) and (reference := REFERENCE.match(value)) and reference.group(1) in SUBSTITUTED:
            replacement = SUBSTITUTED[reference.group(1)][0]
            if replacement is None:
                del body[key]
            else:
                body[key] = replacement


def _references(body: dict) -> set[tuple[str, str]]:
    return set(REFERENCE.findall(json.dumps(body)))
