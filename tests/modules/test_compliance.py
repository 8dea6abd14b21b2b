"""SOC 2 / GDPR controls per account (issue #25), on the synthesized bootstrap stacks: a validated, encrypted,
multi-region trail in a protected bucket of its own; Config, GuardDuty (S3 protection), Security Hub (FSBP) and
Compute Optimizer on unless the organization provides them, and adopting one creates none of it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from modules.compliance import CONFIG_RULES
from tests.conftest import ENVIRONMENTS, ROOT, find_one, resources
from tools.rehearsal.iam_evaluator import Request, evaluate

ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
CONTROL_TYPES = (
    "aws_cloudtrail",
    "aws_config_configuration_recorder",
    "aws_config_delivery_channel",
    "aws_config_configuration_recorder_status",
    "aws_config_config_rule",
    "aws_guardduty_detector",
    "aws_guardduty_detector_feature",
    "aws_securityhub_account",
    "aws_securityhub_standards_subscription",
    "aws_computeoptimizer_enrollment_status",
)
ORGANIZATION = """
cloudtrail = "organization"
organization_trail_arn = "arn:aws:cloudtrail:eu-west-1:999999999999:trail/org-trail"
aws_config = "organization"
config_aggregator_account_id = "999999999999"
guardduty = "organization"
guardduty_administrator_account_id = "999999999999"
security_hub = "organization"
security_hub_administrator_account_id = "999999999999"
compute_optimizer = "organization"
compute_optimizer_management_account_id = "999999999999"
"""


def bucket_of(stack: dict, reference: str) -> tuple[str, dict]:
    name = reference.split(".")[1]
    return name, resources(stack, "aws_s3_bucket")[name]


def attached(stack: dict, rtype: str, bucket_name: str) -> dict:
    [body] = [b for b in resources(stack, rtype).values() if f"aws_s3_bucket.{bucket_name}." in b["bucket"]]
    return body


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_trail_is_multi_region_validated_and_kms_encrypted(stacks, env):
    stack = stacks[f"bootstrap-{env}"]
    trail = find_one(stack, "aws_cloudtrail")
    assert trail["is_multi_region_trail"] is True and trail["enable_log_file_validation"] is True
    assert trail["include_global_service_events"] is True and trail["enable_logging"] is True
    key_name = trail["kms_key_id"].split(".")[1]
    key = resources(stack, "aws_kms_key")[key_name]
    assert key["enable_key_rotation"] is True
    statements = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
    encrypt = statements["CloudTrailEncryptsLogs"]
    assert encrypt["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert (
        encrypt["Condition"]["StringEquals"]["aws:SourceArn"]
        == f"arn:aws:cloudtrail:eu-west-1:{ACCOUNTS[env]}:trail/video-ingest-{env}-audit-trail"
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_trail_bucket_is_its_own_versioned_tls_only_and_expires_on_the_retention(stacks, env):
    stack = stacks[f"bootstrap-{env}"]
    trail = find_one(stack, "aws_cloudtrail")
    name, bucket = bucket_of(stack, trail["s3_bucket_name"])
    assert bucket["bucket"] == f"video-ingest-{env}-audit-{ACCOUNTS[env]}-eu-west-1"
    assert attached(stack, "aws_s3_bucket_versioning", name)["versioning_configuration"]["status"] == "Enabled"
    block = attached(stack, "aws_s3_bucket_public_access_block", name)
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    encryption = attached(stack, "aws_s3_bucket_server_side_encryption_configuration", name)
    assert encryption["rule"][0]["apply_server_side_encryption_by_default"]["kms_master_key_id"] == trail["kms_key_id"]
    [rule] = attached(stack, "aws_s3_bucket_lifecycle_configuration", name)["rule"]
    assert rule["expiration"][0]["days"] == 2557
    document = json.loads(attached(stack, "aws_s3_bucket_policy", name)["policy"])
    sids = {s["Sid"] for s in document["Statement"]}
    assert {"DenyInsecureTransport", "CloudTrailChecksAcl", "CloudTrailWritesLogs"} <= sids
    assert attached(stack, "aws_s3_bucket_logging", name)["target_bucket"].startswith("${aws_s3_bucket.compliance_")
    tls = next(s for s in document["Statement"] if s["Sid"] == "DenyInsecureTransport")
    assert (tls["Effect"], tls["Action"], tls["Condition"]) == (
        "Deny",
        ["s3:*"],
        {"Bool": {"aws:SecureTransport": "false"}},
    )
    assert sorted(tls["Resource"]) == [f"${{aws_s3_bucket.{name}.arn}}", f"${{aws_s3_bucket.{name}.arn}}/*"]
    protected = env == "prod"
    assert bucket.get("lifecycle", {}).get("prevent_destroy", False) is protected
    assert bucket["force_destroy"] is (not protected)
    assert ("NobodyDeletesLogs" in sids) is protected


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_config_guardduty_security_hub_and_compute_optimizer_are_on(stacks, env):
    stack = stacks[f"bootstrap-{env}"]
    recorder = find_one(stack, "aws_config_configuration_recorder")
    assert recorder["recording_group"]["all_supported"] is True
    assert recorder["recording_group"]["include_global_resource_types"] is True
    channel = find_one(stack, "aws_config_delivery_channel")
    assert channel["s3_bucket_name"] == find_one(stack, "aws_cloudtrail")["s3_bucket_name"]
    assert find_one(stack, "aws_config_configuration_recorder_status")["is_enabled"] is True
    identifiers = {r["source"]["source_identifier"] for r in resources(stack, "aws_config_config_rule").values()}
    assert identifiers == {i for group in CONFIG_RULES.values() for i in group}
    assert set(CONFIG_RULES) == {"encryption at rest", "public access", "TLS", "backups", "logging"}
    assert find_one(stack, "aws_guardduty_detector")["enable"] is True
    feature = find_one(stack, "aws_guardduty_detector_feature")
    assert (feature["name"], feature["status"]) == ("S3_DATA_EVENTS", "ENABLED")
    standard = find_one(stack, "aws_securityhub_standards_subscription")
    assert (
        standard["standards_arn"]
        == "arn:aws:securityhub:eu-west-1::standards/aws-foundational-security-best-practices/v/1.0.0"
    )
    assert find_one(stack, "aws_computeoptimizer_enrollment_status")["status"] == "Active"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_guardduty_findings_reach_the_alarm_topic(stacks, env):
    stack = stacks[env]
    rule = find_one(stack, "aws_cloudwatch_event_rule", "guardduty")
    assert json.loads(rule["event_pattern"])["source"] == ["aws.guardduty"]
    target = find_one(stack, "aws_cloudwatch_event_target", "guardduty")
    assert target["arn"].startswith("${aws_sns_topic.monitoring_alarms_")
    topic_policy = json.loads(find_one(stack, "aws_sns_topic_policy", "monitoring_alarms")["policy"])
    publish = next(s for s in topic_policy["Statement"] if s["Sid"] == "ServicesPublishAlarms")
    assert "events.amazonaws.com" in publish["Principal"]["Service"]
    key = json.loads(find_one(stack, "aws_kms_key", "security_key")["policy"])
    publishers = next(s for s in key["Statement"] if s["Sid"] == "AlarmPublishers")
    assert "events.amazonaws.com" in publishers["Principal"]["Service"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_deploy_role_cannot_stop_or_delete_a_control(stacks, env):
    from tools.rehearsal.permissions import deploy_role_documents

    documents = deploy_role_documents(stacks[f"bootstrap-{env}"])
    for action in (
        "cloudtrail:StopLogging",
        "cloudtrail:DeleteTrail",
        "config:StopConfigurationRecorder",
        "config:DeleteDeliveryChannel",
        "guardduty:DeleteDetector",
        "securityhub:DisableSecurityHub",
        "compute-optimizer:UpdateEnrollmentStatus",
    ):
        assert not evaluate(Request(action, "*", "eu-west-1", account=ACCOUNTS[env]), identity=documents), action


def test_adopting_every_control_creates_none_of_them(tmp_path):
    import shutil

    import main
    from environments.config import ENVIRONMENTS_DIR

    config_dir = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, config_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    dev = config_dir / "dev.toml"
    dev.write_text(dev.read_text() + "\n[compliance]" + ORGANIZATION)
    main.synth_atomically(tmp_path / "out", ["dev"], config_dir)
    stack = json.loads((tmp_path / "out" / "stacks" / "bootstrap-dev" / "cdk.tf.json").read_text())
    assert not [rtype for rtype in CONTROL_TYPES if resources(stack, rtype)]
    assert not [b for b in resources(stack, "aws_s3_bucket").values() if "-audit" in b["bucket"]]
    assert not resources(stack, "aws_kms_key")
    assert set(resources(stack, "aws_iam_role")) == {n for n in resources(stack, "aws_iam_role") if "identity_" in n}


@pytest.mark.parametrize(
    "lines, message",
    [
        (
            'cloudtrail = "org"',
            "compliance.cloudtrail = 'org': must be 'account' (this stack creates it) or 'organization'",
        ),
        (
            'guardduty = "organization"',
            "compliance.guardduty = 'organization': needs "
            "guardduty_administrator_account_id (where the organization provides it)",
        ),
        (
            'security_hub_administrator_account_id = "999999999999"',
            "compliance.security_hub_administrator_account_id = '999999999999': "
            "only with security_hub = 'organization'",
        ),
        ("trail_retention_days = 0", "compliance.trail_retention_days = 0: must be 1-3650 days"),
        (
            'organization_trail_arn = "org-trail"\ncloudtrail = "organization"',
            "compliance.organization_trail_arn = 'org-trail': must be a trail ARN",
        ),
        ("shield = true", "compliance.shield = True: unknown key"),
    ],
)
def test_bad_compliance_input_names_file_field_and_value(lines, message):
    from environments.config import ConfigError
    from tests.config.test_config import load

    with pytest.raises(ConfigError) as raised:
        load(f"\n[compliance]\n{lines}\n")
    assert str(raised.value).startswith(f"environments/qa.toml: {message}"), str(raised.value)


def test_production_keeps_a_year_of_trail():
    from environments.config import ConfigError, load_environment_text

    text = (ROOT / "environments" / "prod.toml").read_text() + "\n[compliance]\ntrail_retention_days = 90\n"
    with pytest.raises(
        ConfigError,
        match=r"compliance.trail_retention_days = 90: a production environment requires "
        r"at least 365 days",
    ):
        load_environment_text(text, "environments/prod.toml")


@pytest.mark.slow  # a fresh `python main.py`
def test_bad_compliance_option_exits_2_and_keeps_the_previous_output(tmp_path):
    import shutil

    from environments.config import ENVIRONMENTS_DIR

    config_dir = tmp_path / "environments"
    shutil.copytree(ENVIRONMENTS_DIR, config_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    dev = config_dir / "dev.toml"
    dev.write_text(dev.read_text() + '\n[compliance]\naws_config = "organization"\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("previous")
    result = subprocess.run(
        [sys.executable, "main.py", "dev", "--config-dir", str(config_dir), "--outdir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"error: {dev}: compliance.aws_config = 'organization': needs "
        "config_aggregator_account_id (where the organization provides it)"
    )
    assert (out / "keep").read_text() == "previous"
