"""The rehearsal's emulator overrides: the synthesized stacks, aimed at a local AWS emulator (moto).

The stacks synthesize the same JSON in every mode and know nothing of this. `emulate(out, target, url)` writes,
per stack, a copy of the synthesized JSON and beside it an override file (`emulator_override.tf.json`, merged
by Terraform as tflocal's are for LocalStack): every provider and the S3 backend talk to the emulator's
endpoint with path-style S3, TLS (so the TLS-only bucket policies hold as in AWS; the emulator's certificate
is self-signed, hence `insecure`), few retries (an unimplemented call would otherwise be retried for minutes),
and each bootstrap stack reaches its account by assuming a stand-in administrator role there, as in AWS.

What the emulator cannot serve is left out of the copy, and only there, each type with its reason
(`EXCLUDED`); what the stacks expect to exist outside them gets a stand-in (`STAND_INS`); nothing else
changes. Destroy protections (`prevent_destroy`, deletion protection) are lifted by the override so the
rehearsal can prove that every stack also tears down; that they hold in the real stacks is asserted by the
unit tests. The differences a second plan shows only because of the emulator are listed (`EMULATOR_DRIFT`).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

ENDPOINT_VARIABLE = "VIDEO_INGEST_EMULATOR_ENDPOINT"
# moto's default account: nothing lives there; every stack assumes a role into its own account.
EMULATOR_ACCOUNT = "123456789012"
SERVICES = (
    "acm",
    "apigateway",
    "applicationautoscaling",
    "backup",
    "budgets",
    "ce",
    "cloudfront",
    "cloudtrail",
    "cloudwatch",
    "configservice",
    "dynamodb",
    "ec2",
    "ecr",
    "ecs",
    "elbv2",
    "events",
    "guardduty",
    "iam",
    "kms",
    "logs",
    "rds",
    "route53",
    "s3",
    "secretsmanager",
    "securityhub",
    "servicediscovery",
    "sns",
    "sqs",
    "sts",
    "wafv2",
    "xray",
)
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
    "aws_cloudfront_cache_policy": (
        "658327ea-f89d-4fab-a63d-7e88639e58f6",  # AWS managed CachingOptimized
        "moto: CreateCachePolicy answers 404",
    ),
    "aws_cloudfront_response_headers_policy": (
        "67f7725c-6f97-4210-82d7-5512b31e9d03",  # managed SecurityHeadersPolicy
        "moto: CreateResponseHeadersPolicy answers 404",
    ),
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
    (
        "aws_s3_bucket_notification",
        "eventbridge",
    ): "moto does not return EventBridgeConfiguration from GetBucketNotificationConfiguration",
    (
        "aws_s3_bucket_replication_configuration",
        "rule.delete_marker_replication.status",
    ): "moto does not store DeleteMarkerReplication and answers Disabled",
    (
        "aws_s3_bucket_replication_configuration",
        "rule.source_selection_criteria",
    ): "moto does not store SourceSelectionCriteria (replicate SSE-KMS objects)",
    **{
        ("aws_db_instance", attribute): "moto does not store Performance Insights settings (CreateDBInstance "
        "ignores them; DescribeDBInstances returns none)"
        for attribute in (
            "performance_insights_enabled",
            "performance_insights_kms_key_id",
            "performance_insights_retention_period",
        )
    },
    (
        "aws_kms_key",
        "rotation_period_in_days",
    ): "moto's EnableKeyRotation ignores RotationPeriodInDays and GetKeyRotationStatus does not return it",
    ("aws_cloudfront_public_key", "comment"): "moto's CreatePublicKey drops Comment",
    (
        "aws_lb",
        "enforce_security_group_inbound_rules_on_private_link_traffic",
    ): "moto 5.2.5's SetSecurityGroups ignores EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic and "
    "DescribeLoadBalancers does not return it",
}
PROTECTIONS = {"deletion_protection": False, "enable_deletion_protection": False, "deletion_protection_enabled": False}
REFERENCE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)[.}\[]")


ADMIN_ROLE = "video-ingest-emulator-admin"


def admin_role(account_id: str) -> str:
    """The bootstrap stacks run as an account's administrator. In the emulator that is a stand-in role
    in the account (moto issues credentials for the role's account; the emulator server lets only this
    name be assumed without existing). Environment stacks never use it: they run as the deploy role."""
    return f"arn:aws:iam::{account_id}:role/{ADMIN_ROLE}"


OVERRIDE = "emulator_override.tf.json"
EXCLUSIONS = "emulator-exclusions.json"


def provider_settings(url: str) -> dict:
    """What every AwsProvider gets in the override (the provider's `endpoints` block as a plain dict)."""
    return {
        "endpoints": [{service: url for service in SERVICES}],
        "s3_use_path_style": True,
        "skip_credentials_validation": True,
        "skip_metadata_api_check": "true",
        "skip_region_validation": True,
        "max_retries": 2,
        "insecure": True,
    }


def backend_settings(url: str) -> dict:
    return {
        "endpoints": {"s3": url, "dynamodb": url, "sts": url, "iam": url},
        "use_path_style": True,
        "skip_credentials_validation": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
        "skip_requesting_account_id": True,
        "insecure": True,
    }


def is_bootstrap(stack: str) -> bool:
    """The stacks an account's administrator applies (the state account's, each account's bootstrap)."""
    return stack == "state-backend" or stack.startswith("bootstrap-")


def _provider_override(provider: dict, url: str, bootstrap: bool) -> dict:
    entry = {"alias": provider["alias"]} if "alias" in provider else {}
    entry |= provider_settings(url)
    if bootstrap:
        account = provider["allowed_account_ids"][0]
        environment = provider["default_tags"][0]["tags"]["Environment"]
        entry["assume_role"] = [{"role_arn": admin_role(account), "session_name": f"video-ingest-{environment}"}]
    return entry


def _protections_override(resources: dict) -> dict:
    """Destroy protections lifted: prevent_destroy, deletion protection; buckets emptied on destroy."""
    found: dict[str, dict] = {}
    for rtype, bodies in resources.items():
        for name, body in bodies.items():
            lifted = {key: value for key, value in PROTECTIONS.items() if key in body}
            if body.get("lifecycle", {}).get("prevent_destroy"):
                lifted["lifecycle"] = {"prevent_destroy": False}
            if rtype == "aws_s3_bucket":
                lifted["force_destroy"] = True  # versioned buckets hold objects (state files, logs)
            if lifted:
                found.setdefault(rtype, {})[name] = lifted
    return found


def override(config: dict, stack: str, url: str) -> dict:
    """The override file of one stack (its configuration as `transform` left it): endpoints, the bootstraps'
    administrator role, the backend's endpoints, destroy protections lifted."""
    result: dict = {
        "provider": {
            "aws": [
                _provider_override(provider, url, is_bootstrap(stack))
                for provider in config.get("provider", {}).get("aws", [])
            ]
        }
    }
    backend = config.get("terraform", {}).get("backend", {})
    if "s3" in backend:  # an override's backend block replaces the whole block: all of it, with the endpoints
        result["terraform"] = {"backend": {"s3": {**backend["s3"], **backend_settings(url)}}}
    if protections := _protections_override(config.get("resource", {})):
        result["resource"] = protections
    return result


def drift_override(config: dict) -> tuple[dict, list[str]]:
    """`ignore_changes` on the attributes whose differences are the emulator's (nested paths by their top-level
    attribute; a resource's own ignore_changes kept: an override's argument replaces the original's), and the
    `type.attribute`s ignored."""
    by_type: dict[str, set[str]] = {}
    for rtype, path in EMULATOR_DRIFT:
        by_type.setdefault(rtype, set()).add(path.split(".")[0])
    resources: dict[str, dict] = {}
    for rtype, attributes in by_type.items():
        for name, body in config.get("resource", {}).get(rtype, {}).items():
            kept = set(body.get("lifecycle", {}).get("ignore_changes", []))
            resources.setdefault(rtype, {})[name] = {"lifecycle": {"ignore_changes": sorted(kept | attributes)}}
    ignored = sorted(f"{rtype}.{a}" for rtype in resources for a in by_type[rtype])
    return ({"resource": resources} if resources else {}), ignored


def emulate(out: Path, target: Path, url: str) -> dict[str, list[str]]:
    """Every stack of the synth in `out` (a cdktf.out folder) into `target` (the same folder, or a new one):
    its JSON with what the emulator cannot serve left out, and its override file beside it. Returns the
    addresses left out per stack (also written to <target>/emulator-exclusions.json)."""
    left_out = {}
    if target != out:
        shutil.copytree(out, target, dirs_exist_ok=True)
    for stack_file in sorted(target.glob("stacks/*/cdk.tf.json")):
        stack = stack_file.parent.name
        config, removed = transform(json.loads(stack_file.read_text()))
        stack_file.write_text(json.dumps(config, indent=2))
        (stack_file.parent / OVERRIDE).write_text(json.dumps(override(config, stack, url), indent=2))
        left_out[stack] = removed
    (target / EXCLUSIONS).write_text(json.dumps(left_out, indent=2, sort_keys=True))
    return left_out


def transform(config: dict) -> tuple[dict, list[str]]:
    """Leaves out the excluded types (and what references them), substitutes the substituted ones, stands in
    for what lives outside the stacks. Returns the new configuration and the addresses left out."""
    resources = config.get("resource", {})
    _stand_in_zones(resources)
    substituted = {(rtype, name) for rtype in SUBSTITUTED for name in resources.get(rtype, {})}
    for bodies in resources.values():
        for body in bodies.values():
            _substitute(body)
    removed = substituted | {(rtype, name) for rtype in EXCLUDED for name in resources.get(rtype, {})}
    while True:
        dependants = {
            (rtype, name)
            for rtype, bodies in resources.items()
            for name, body in bodies.items()
            if (rtype, name) not in removed and _references(body) & removed
        }
        if not dependants:
            break
        removed |= dependants
    for rtype, name in removed:
        del resources[rtype][name]
        if not resources[rtype]:
            del resources[rtype]
    outputs = config.get("output", {})
    for name in [n for n, body in outputs.items() if _references(body) & removed]:
        del outputs[name]
    return config, sorted(f"{rtype}.{name}" for rtype, name in removed)


def _stand_in_zones(resources: dict) -> None:
    """A zone per configured zone (STAND_INS), and the records that named it by id point at the stand-in."""
    records = resources.get("aws_route53_record", {})
    zones = {
        body["//"][ZONE_NOTE]["id"]: body["//"][ZONE_NOTE]["name"]
        for body in records.values()
        if ZONE_NOTE in body.get("//", {})
    }
    for number, (zone_id, zone_name) in enumerate(sorted(zones.items()), start=1):
        name = f"emulator-zone-{number}"
        resources.setdefault("aws_route53_zone", {})[name] = {
            "name": zone_name,
            "force_destroy": True,
            "comment": f"emulator stand-in for {zone_id}",
        }
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
